"""Model-card front matter read safely: size and alias limits, any YAML type, JSON-safe output."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

import yaml

MAX_FRONT_MATTER = 64 * 1024  # bytes of YAML between the '---' lines
MAX_ALIASES = 64  # YAML aliases ('*name'): a few are normal, thousands are an expansion bomb
MAX_JSON = 256 * 1024  # the metadata as JSON, after aliases are expanded
_BLOCK = re.compile(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)", re.S)


class MetadataError(ValueError):
    """The front matter is not usable metadata (bad YAML, not a mapping, too large)."""


def _count_aliases(text: str) -> int:
    count = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            count += 1
            if count > MAX_ALIASES:
                break
    return count


def json_safe(value: Any) -> Any:
    """``value`` with dates as ISO strings, non-string keys as strings, bytes/sets/NaN made JSON-safe."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def front_matter(text: str) -> dict[str, Any]:
    """The YAML metadata block at the top of a model card as a JSON-safe dict (``{}`` when absent).

    Raises :class:`MetadataError` for invalid YAML, a non-mapping, or a block over the limits.
    """
    match = _BLOCK.match(text)
    if not match:
        return {}
    block = match.group(1)
    if len(block.encode()) > MAX_FRONT_MATTER:
        raise MetadataError(f"the metadata block is over {MAX_FRONT_MATTER // 1024} KiB")
    try:
        if _count_aliases(block) > MAX_ALIASES:
            raise MetadataError(f"the metadata block uses more than {MAX_ALIASES} YAML aliases")
        data = yaml.safe_load(block)
    except yaml.YAMLError as e:
        raise MetadataError(f"invalid YAML metadata: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MetadataError("the metadata block must be a YAML mapping (key: value lines)")
    data = json_safe(data)
    if len(json.dumps(data)) > MAX_JSON:
        raise MetadataError(f"the metadata expands to more than {MAX_JSON // 1024} KiB")
    return data


def string_list(value: Any) -> list[str]:
    """A metadata field as a list of strings (``tags: 5`` → ``["5"]``, a mapping → ``[]``)."""
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [str(value)]
    return []
