"""Keep secrets out of artifacts, cards, logs and saved recipes."""

from __future__ import annotations

import os
from typing import Any

SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUBTUNE_HUB_TOKEN")
SECRET_KEYS = ("token", "password", "secret", "api_key", "apikey")
MASK = "***"


def _secret_values() -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV]
    try:
        from huggingface_hub import get_token

        values.append(get_token() or "")
    except Exception:  # no login configured
        pass
    return [v for v in values if len(v) >= 6]


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``value`` with secret-looking keys masked and known token values removed."""
    secrets = _secret_values() if secrets is None else secrets
    if isinstance(value, dict):
        return {k: MASK if any(s in str(k).lower() for s in SECRET_KEYS) and v else redact(v, secrets)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for s in secrets:
            value = value.replace(s, MASK)
    return value
