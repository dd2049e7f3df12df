from __future__ import annotations

import pytest

from hubtune.registry import Registry


def test_register_get_and_names():
    reg: Registry[int] = Registry("widget")

    @reg.register("Alpha")
    def alpha() -> int:
        return 1

    reg.register("beta", 2)
    assert reg.get("alpha") is alpha
    assert reg.get("BETA") == 2
    assert reg.names() == ["alpha", "beta"]
    assert "alpha" in reg and "gamma" not in reg
    assert len(reg) == 2


def test_duplicate_name_raises():
    reg: Registry[int] = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="already has an entry named 'a'"):
        reg.register("A", 2)


def test_unknown_name_lists_known_and_suggests():
    reg: Registry[int] = Registry("widget")
    reg.register("classification", 1)
    reg.register("regression", 2)
    with pytest.raises(KeyError) as info:
        reg.get("clasification")
    msg = info.value.args[0]
    assert "Did you mean 'classification'" in msg
    assert "classification, regression" in msg


def test_entry_points_are_loaded(monkeypatch):
    class EP:
        name = "plugin"

        def load(self):
            return 42

    import hubtune.registry as mod

    monkeypatch.setattr(mod, "entry_points", lambda group: [EP()] if group == "hubtune.gadgets" else [])
    reg: Registry[int] = Registry("gadget")
    assert reg.get("plugin") == 42


def test_builtin_registries_are_populated():
    from hubtune.backbones import BACKBONES
    from hubtune.heads import HEADS
    from hubtune.metrics import METRICS
    from hubtune.strategies import STRATEGIES

    assert {"timm", "transformers", "custom"} <= set(BACKBONES.names())
    assert {"classification", "multilabel", "regression", "token_classification"} <= set(HEADS.names())
    assert {"full", "linear_probe"} <= set(STRATEGIES.names())
    assert {"accuracy", "f1"} <= set(METRICS.names())
