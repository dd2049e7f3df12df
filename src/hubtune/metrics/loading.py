"""``load_metric``: an ``evaluate`` module for any metric name, offline for hubtune's own.

Lookup order: a dedicated local module folder (``modules/<name>/<name>.py``: accuracy, f1,
precision, recall, mse, seqeval); any other registry name through the generic
``modules/hubtune_metric`` module (its config name picks the metric); otherwise
``evaluate.load(name)``, which needs the Hugging Face Hub (or evaluate's cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubtune.errors import RecipeError
from hubtune.metrics.core import METRICS

MODULES_DIR = Path(__file__).resolve().parent / "modules"
GENERIC = "hubtune_metric"


def module_dir(name: str) -> Path | None:
    """The local ``evaluate`` module folder for ``name``, or None when there is no dedicated one."""
    key = str(name).lower()
    path = MODULES_DIR / key
    return path if key != GENERIC and (path / f"{key}.py").is_file() else None


def local_module_names() -> list[str]:
    """Names with a dedicated local module folder."""
    return sorted(p.name for p in MODULES_DIR.iterdir() if p.name != GENERIC and (p / f"{p.name}.py").is_file())


def load_metric(name: str, **kwargs: Any) -> Any:
    """An ``evaluate.EvaluationModule`` for ``name`` (case-insensitive for hubtune's names).

    ``kwargs`` go to ``evaluate.load``; ``keep_in_memory`` defaults to True in a single
    process. Raises :class:`~hubtune.errors.RecipeError` (a ``ValueError``) when the name is
    neither local nor loadable from the hub (for example offline).
    """
    import evaluate

    kwargs.setdefault("keep_in_memory", kwargs.get("num_process", 1) == 1)
    local = module_dir(name)
    if local is not None:
        return evaluate.load(str(local), **kwargs)
    if name in METRICS:
        kwargs.setdefault("config_name", METRICS.get(name).name)
        return evaluate.load(str(MODULES_DIR / GENERIC), **kwargs)
    try:
        return evaluate.load(name, **kwargs)
    except Exception as e:  # evaluate raises FileNotFoundError, ConnectionError, hub and offline errors
        known = ", ".join(sorted({*METRICS.names(), *local_module_names()}))
        raise RecipeError(
            f"metric {name!r} is not one of hubtune's offline metrics and evaluate.load({name!r}) failed "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). The hub may be unreachable "
            f"(HF_HUB_OFFLINE / HF_EVALUATE_OFFLINE). Offline metrics: {known}"
        ) from e
