"""Modules an SDK imports eagerly but most runs never use, loaded on first attribute access.

The docker SDK imports paramiko (and through it invoke, unittest.mock, argparse...) at import
time for its ssh:// transport: about 0.1 s of a 0.3 s no-op deploy. A unix-socket or tcp://
engine never touches it, and an ssh:// engine runs the system ssh client (use_ssh_client), so
paramiko only loads if something reads one of its attributes. Not importlib's LazyLoader:
on Python 3.11 the import statement itself reads the module's __spec__, which loads it.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_lock = threading.RLock()


class DeferredModule(types.ModuleType):
    """Stands in sys.modules for a module until one of its attributes is read."""

    def __getattr__(self, attr: str) -> Any:  # only called for attributes not set here
        return getattr(self.load(), attr)  # __version__, __path__ and the like load it too

    def load(self) -> types.ModuleType:
        """Runs the real import once; this object then carries the real module's names."""
        with _lock:
            name = self.__name__
            if sys.modules.get(name) is self:
                del sys.modules[name]
            real = importlib.import_module(name)
            self.__dict__.update(real.__dict__)
            return real


def defer(*names: str) -> None:
    """Registers each named top-level module as deferred unless already imported or absent."""
    with _lock:
        for name in names:
            if name in sys.modules:
                continue
            spec = importlib.util.find_spec(name)
            if spec is None:
                continue  # not installed: the SDK's own `try: import` handles that as before
            module = DeferredModule(name)
            module.__spec__ = spec
            sys.modules[name] = module
