"""Package exports loaded on first use (PEP 562), so that importing a light module of a package (its options, say)
does not load the package's heavy parts (PyTorch, mediapipe, dlib): the CLI starts in a fraction of a second."""

import importlib


def exports(package: str, modules: dict[str, list[str]]):
    """(__getattr__, __all__) for `package`, whose names live in the given sub-modules: {module: [names]}."""
    module_of = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str):
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)

    return __getattr__, sorted(module_of)
