"""Strategies by name: each is one module of a package, registered with `@REGISTRY.register("name", "help")`.

    COLOURS = Registry("colour correction", "kaokae.composite.colours")

`names()` imports every module of the package once, so a new strategy is one new file; the CLI's choices, the
config file's accepted values and the checks all come from `names()`. A registry without a package
(`Registry("precision")`) holds what is registered in code.
"""

import importlib
import pkgutil
from collections.abc import Callable


class Registry:
    def __init__(self, kind: str, package: str | None = None):
        self.kind, self.package = kind, package
        self._items: dict[str, tuple[float, str, object]] = {}
        self._loaded = package is None

    def register(self, name: str, help: str, rank: float = 5) -> Callable:
        """Decorator for a strategy (a class, function or object); `rank` orders the names (lower first)."""

        def add(item):
            self._items[name] = (rank, help, item)
            return item

        return add

    def add(self, name: str, help: str, item: object = None, rank: float = 5) -> None:
        self._items[name] = (rank, help, item if item is not None else name)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{self.package}.{module.name}")

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(sorted(self._items, key=lambda n: (self._items[n][0], n)))

    def help(self, name: str) -> str:
        self._load()
        return self._items[name][1]

    def describe(self) -> str:
        """'a: what a does; b: what b does', for --help."""
        return "; ".join(f"{name}: {self.help(name)}" for name in self.names())

    def get(self, name: str):
        self._load()
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} method {name!r}; choose from {', '.join(self.names())}")
        return self._items[name][2]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items
