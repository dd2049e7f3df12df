"""Where the project's shared real data sets live (``../shared/data`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

from hubtune.errors import DataError

ENV = "HUBTUNE_DATA"


def shared_data(*parts: str) -> Path:
    """Path under the shared data folder; a clear error when it is missing.

    The folder is ``$HUBTUNE_DATA`` when set, else ``../shared/data`` relative to the
    current directory or to the source checkout.
    """
    candidates = [Path(os.environ[ENV])] if os.environ.get(ENV) else []
    candidates += [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    for root in candidates:
        target = root.joinpath(*parts)
        if target.exists():
            return target
    tried = ", ".join(str(c.joinpath(*parts)) for c in candidates)
    raise DataError(
        f"shared data {'/'.join(parts) or '(root)'} not found (looked in {tried}); "
        f"put the shared data sets at ../shared/data or set {ENV}=/path/to/shared/data"
    )
