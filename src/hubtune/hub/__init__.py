"""Hub: push and pull native artifacts; the embedded local hub and an HF-compatible hub server.

Heavy imports (``huggingface_hub``, ``dulwich``) happen on first use of a name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubtune.hub.client import PushResult, pull, push, resolve_checkpoint
    from hubtune.hub.server import serve
    from hubtune.hub.store import LocalHub

__all__ = ["LocalHub", "PushResult", "pull", "push", "resolve_checkpoint", "serve"]
_WHERE = {
    "LocalHub": "hubtune.hub.store",
    "PushResult": "hubtune.hub.client",
    "pull": "hubtune.hub.client",
    "push": "hubtune.hub.client",
    "resolve_checkpoint": "hubtune.hub.client",
    "serve": "hubtune.hub.server",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'hubtune.hub' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
