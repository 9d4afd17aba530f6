"""A name → factory registry filled by a decorator (the pattern of timm's and torchvision's model registries).

Every pluggable family (probes, encoder formats, trainers) owns one `Registry`. Names are explicit,
duplicates raise, and `list()` accepts shell-style patterns like timm's `list_models('resnet*')`.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of entries (factories or descriptors).

    Args:
        kind: what the entries are, used in error messages ("probe", "checkpoint format", ...).

    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that stores the decorated object under `name`.

        Raises:
            RegistryError: if `name` is already taken (rename one of the two entries).

        """

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Store `obj` under `name`; raises `RegistryError` on a duplicate name."""
        if name in self._entries:
            raise RegistryError(f"{self.kind} {name!r} is registered twice; names must be unique")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """Return the entry called `name`.

        Raises:
            RegistryError: naming the closest registered names when `name` is unknown.

        """
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=5, cutoff=0.4)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{hint} Registered: {', '.join(sorted(self._entries)) or '(none)'}"
            ) from None

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style `pattern`."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in name order."""
        return [(n, self._entries[n]) for n in sorted(self._entries)]
