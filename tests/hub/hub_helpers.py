"""Helpers of the hub tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def online_client() -> Iterator[None]:
    """The root conftest sets HF_HUB_OFFLINE=1; the in-process stock client must reach 127.0.0.1."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_OFFLINE, constants.HF_HUB_DISABLE_XET = False, True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, constants.HF_HUB_DISABLE_XET = saved
