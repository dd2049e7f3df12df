from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from hubtune.registry import Registry
from tiny_recipes import TINY_MLP

# A real third-party package, found by importlib.metadata through its dist-info on sys.path:
# one entry per registry, in the groups the README documents.
PLUGIN_CODE = textwrap.dedent("""
    import dataclasses

    from hubtune.adaptation.methods import ADAPTATION_METHODS
    from hubtune.backbones import BACKBONES
    from hubtune.heads import HEADS
    from hubtune.metrics import MetricSpec
    from hubtune.strategies import STRATEGIES

    def backbone(cfg):
        return BACKBONES.get("custom")(cfg)

    head = dataclasses.replace(HEADS.get("classification"), name="demo_head")
    metric = MetricSpec("demo_metric", "classification", True, lambda p, r, **kw: 0.25 + 0.0 * len(p))

    class Strategy(STRATEGIES.get("linear_probe")):
        name = "demo_strategy"

    class Method(ADAPTATION_METHODS.get("coral")):
        pass
""")
ENTRY_POINTS = {
    "hubtune.backbones": "demo_backbone = hubtune_demo_plugin:backbone",
    "hubtune.heads": "demo_head = hubtune_demo_plugin:head",
    "hubtune.metrics": "demo_metric = hubtune_demo_plugin:metric",
    "hubtune.strategies": "demo_strategy = hubtune_demo_plugin:Strategy",
    "hubtune.adaptation_methods": "demo_method = hubtune_demo_plugin:Method",
}


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("site")
    (site / "hubtune_demo_plugin.py").write_text(PLUGIN_CODE)
    info = site / "hubtune_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hubtune-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("".join(f"[{g}]\n{line}\n\n" for g, line in ENTRY_POINTS.items()))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


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


def test_builtin_registries_are_populated():
    from hubtune.backbones import BACKBONES
    from hubtune.heads import HEADS
    from hubtune.metrics import METRICS
    from hubtune.strategies import STRATEGIES

    assert {"timm", "transformers", "custom"} <= set(BACKBONES.names())
    assert {"classification", "multilabel", "regression", "token_classification"} <= set(HEADS.names())
    assert {"full", "linear_probe"} <= set(STRATEGIES.names())
    assert {"accuracy", "f1"} <= set(METRICS.names())


def test_every_registry_loads_its_documented_entry_point_group(plugin_env: dict[str, str]) -> None:
    code = textwrap.dedent("""
        import hubtune_demo_plugin as plugin
        from hubtune.adaptation.methods import ADAPTATION_METHODS
        from hubtune.backbones import BACKBONES
        from hubtune.heads import HEADS
        from hubtune.metrics import METRICS
        from hubtune.strategies import STRATEGIES
        assert BACKBONES.get("demo_backbone") is plugin.backbone
        assert HEADS.get("demo_head") is plugin.head
        assert METRICS.get("demo_metric") is plugin.metric
        assert STRATEGIES.get("demo_strategy") is plugin.Strategy
        assert ADAPTATION_METHODS.get("demo_method") is plugin.Method
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], env=plugin_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_recipe_trains_with_plugin_backbone_head_strategy_and_metric(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    recipe = {**TINY_MLP, "output_dir": str(tmp_path / "out"),
              "backbone": {**TINY_MLP["backbone"], "source": "demo_backbone"},
              "head": {"type": "demo_head"}, "strategy": {"type": "demo_strategy"},
              "eval": {"metrics": ["accuracy", "demo_metric"]},
              "data": {**TINY_MLP["data"], "validation": "train"}}
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(recipe))
    hubtune = [sys.executable, "-m", "hubtune"]
    without = subprocess.run([*hubtune, "recipes", "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert without.returncode == 2 and "demo_backbone" in without.stdout  # unknown without the plugin installed
    run = subprocess.run([*hubtune, "train", str(path)], env=plugin_env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["strategy"]["name"] == "demo_strategy"
    assert metrics["strategy"]["trainable_params"] < metrics["total_params"]  # the probe froze the backbone
    assert metrics["metrics"]["validation"]["demo_metric"] == 0.25
