"""The one redactor: keeps secrets out of artifacts, cards, logs, commit messages and saved recipes.

It masks *values*, never key substrings:

- a field whose name is a secret name (``token``, ``hf_token``, ``api_key``, ``password``, ...);
  fields like ``tokens``, ``tokenizer``, ``num_virtual_tokens``, ``pad_token`` are kept;
- any text equal to (or containing) the value of an environment variable whose name looks secret
  (``*TOKEN*``, ``*SECRET*``, ``*KEY*``, ``*PASSWORD*``) or the stored Hugging Face login;
- text shaped like a known access token (``hf_…``, ``hth_…`` from ``hubtune hub token add``, ``ghp_…``,
  ``github_pat_…``, ``sk-…``).
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "***"
MIN_SECRET_LEN = 8  # shorter env values ("1", "en") would mask ordinary text
_SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD", re.IGNORECASE)
_TOKEN_PATTERNS = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{20,}|hth_[A-Za-z0-9]{30,}|api_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}|sk-[A-Za-z0-9_-]{20,})\b"
)
_SECRET_FIELD = re.compile(
    r"^(?:.*_)?(?:(?:hf|hub|access|auth|api|bearer|refresh|session|write|read|github|wandb|bot)_)?token$"
    r"|^(?:.*_)?(?:password|passwd|passphrase|secret|api_?key|secret_?key|access_?key|private_?key|credentials?)$"
)
_SPECIAL_TOKENS = frozenset({"pad", "eos", "bos", "unk", "mask", "cls", "sep", "start", "end", "image", "audio"})


def is_secret_field(name: object) -> bool:
    """Whether a field called ``name`` holds a secret (``hf_token`` yes; ``tokens``, ``pad_token`` no)."""
    key = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    if not _SECRET_FIELD.match(key):
        return False
    words = key.split("_")
    return not (words[-1] == "token" and len(words) > 1 and words[-2] in _SPECIAL_TOKENS)


def secret_values() -> list[str]:
    """Values of secret-looking environment variables and the stored hub login, longest first."""
    values = {v for name, v in os.environ.items() if _SECRET_ENV_NAME.search(name) and len(v) >= MIN_SECRET_LEN}
    try:
        from huggingface_hub import get_token

        login = get_token() or ""
    except Exception:  # no login, or huggingface_hub cannot read its config
        login = ""
    if len(login) >= MIN_SECRET_LEN:
        values.add(login)
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every known secret value and token-shaped string replaced by ``***``."""
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, MASK)
    return _TOKEN_PATTERNS.sub(MASK, text)


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``value`` (dicts, lists, strings) with secret fields and secret values masked."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, dict):
        return {
            scrub(str(k), secrets) if isinstance(k, str) else k: MASK
            if is_secret_field(k) and v not in (None, "")
            else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v, secrets) for v in value)
    if isinstance(value, str):
        return scrub(value, secrets)
    return value
