"""One small generic registry, used for backbones, heads, strategies, metrics and more.

Third parties add entries through the Python entry-point group each registry names explicitly
(``hubtune.backbones``, ``hubtune.heads``, ``hubtune.strategies``, ``hubtune.metrics``,
``hubtune.adaptation_methods``); each entry point names the object to register.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object mapping with a ``register`` decorator.

    Duplicate names raise ``ValueError``; unknown names raise ``KeyError`` listing what exists.
    """

    def __init__(self, name: str, group: str | None = None) -> None:
        """``name`` is what messages call an entry; ``group`` the entry-point group plugins use (None: no plugins)."""
        self.name = name
        self.group = group
        self._entries: dict[str, T] = {}
        self._plugins_loaded = False

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; used bare as ``@registry.register("name")``."""

        def add(item: T) -> T:
            key = name.lower()
            if key in self._entries:
                raise ValueError(f"{self.name} registry already has an entry named {key!r}")
            self._entries[key] = item
            return item

        return add(obj) if obj is not None else add

    def get(self, name: str) -> T:
        """Return the entry called ``name`` (case-insensitive); plugins load on the first unknown name."""
        key = str(name).lower()
        if key not in self._entries:
            self._load_plugins()
        if key not in self._entries:
            raise KeyError(self.unknown_message(name))
        return self._entries[key]

    def unknown_message(self, name: str) -> str:
        """The message for an unknown name: what exists and the closest match."""
        self._load_plugins()
        known = ", ".join(sorted(self._entries)) or "(none)"
        close = difflib.get_close_matches(str(name).lower(), list(self._entries), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.name} {name!r}.{hint} Known {self.name}s: {known}"

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        key = str(name).lower()
        if key not in self._entries:
            self._load_plugins()
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._entries)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        if self.group is None:
            return
        for ep in entry_points(group=self.group):
            if ep.name.lower() not in self._entries:
                self.register(ep.name, ep.load())
