"""hubtune: deep transfer learning recipes for the Hugging Face ecosystem.

The Python API (see :mod:`hubtune.api`): ``load_recipe``, ``validate``, ``train``, ``evaluate``,
``predict``, ``push``, ``pull``, ``rank``. They import their heavy dependencies on first use, so
``import hubtune`` stays fast.
"""

from __future__ import annotations

from typing import Any

from hubtune.version import __version__

_API = ("evaluate", "load_recipe", "predict", "predict_masks", "pull", "push", "rank", "train", "validate")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from hubtune import api

        return getattr(api, name)
    raise AttributeError(f"module 'hubtune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
