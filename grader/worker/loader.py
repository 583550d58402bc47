"""Import the student's modules from a directory, lazily, as one package.

``StudentModules(dir).made`` imports ``submission.made`` from ``dir``.  The package is
synthetic when ``dir`` has no ``__init__.py`` so that relative imports (``from .probability
import nll``) work, and bare imports (``import probability``) resolve to the SAME module
object through an alias finder, so classes are never duplicated.  Import failures become a
:class:`StudentImportError` with a one-line message naming the file (and line), plus a
traceback that keeps only frames from the student's files.

Used in-process (students running pytest) and inside the sandbox worker child.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import os
import sys
import traceback
import types

from grader import OPTIONAL_MODULES, STUDENT_MODULES as MODULES
GIVEN = ("data",)  # given code, importable when present


class StudentImportError(ImportError):
    """A student module failed to import; ``str()`` is one line naming the file."""

    def __init__(self, message: str, traceback_text: str = "", filename: str = "",
                 lineno: int | None = None):
        super().__init__(message)
        self.message, self.traceback = message, traceback_text
        self.filename, self.lineno = filename, lineno

    def __str__(self) -> str:
        return self.message


def _under(path: str | None, directory: str) -> bool:
    return bool(path) and os.path.realpath(path).startswith(directory + os.sep)


def filter_traceback(exc: BaseException, directory: str) -> str:
    """The traceback of ``exc`` keeping only frames from files under ``directory``."""
    directory = os.path.realpath(directory)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _under(f.filename, directory)]
    lines = ["Traceback (from your code only):\n"]
    if frames:
        lines += traceback.format_list(frames)
    elif not (isinstance(exc, SyntaxError) and _under(exc.filename, directory)):
        lines.append("  (no frames from your code)\n")  # a SyntaxError shows its own line
    try:
        lines += traceback.format_exception_only(type(exc), exc)
    except BaseException:  # a student exception whose __str__ misbehaves
        lines.append(f"{type(exc).__name__}: <unprintable>\n")
    return "".join(lines)


def describe_import_error(exc: BaseException, directory: str, module_file: str):
    """(one-line message, filename, lineno) for an exception raised while importing."""
    directory = os.path.realpath(directory)
    filename, lineno = module_file, None
    if isinstance(exc, SyntaxError) and _under(exc.filename, directory):
        filename, lineno = exc.filename, exc.lineno
    else:
        student = [f for f in traceback.extract_tb(exc.__traceback__) if _under(f.filename, directory)]
        if student:
            filename, lineno = student[-1].filename, student[-1].lineno
    try:
        detail = (exc.msg if isinstance(exc, SyntaxError) else str(exc)).splitlines()
    except BaseException:
        detail = ["<unprintable>"]
    where = os.path.relpath(filename, directory) if _under(filename, directory) else os.path.basename(filename)
    where += f" line {lineno}" if lineno else ""
    text = f"{where}: {type(exc).__name__}" + (f": {detail[0][:300]}" if detail else "")
    return text, filename, lineno


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import made`` return the already-(or newly-)imported ``<package>.made``."""

    def __init__(self, package: str, names: set[str]):
        self.package, self.names = package, names

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{self.package}.{spec.name}")

    def exec_module(self, module):
        pass  # already executed under its package name


@contextlib.contextmanager
def _global_state_kept():
    """Undo what a module changed at import in torch's, numpy's and random's global state
    (gradient mode, default dtype and device, threads, random states): a test then never
    depends on another module's import-time side effects (probability.py disabling gradients
    would otherwise break train's tests, which find the default loss there)."""
    import random

    import numpy as np
    import torch

    saved = (torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_default_device(),
             torch.get_num_threads(), torch.get_rng_state(), np.random.get_state(),
             random.getstate())
    try:
        yield
    finally:
        grad, dtype, device, threads, torch_rng, numpy_rng, python_rng = saved
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
        torch.set_default_device(device)
        torch.set_num_threads(threads)
        torch.set_rng_state(torch_rng)
        np.random.set_state(numpy_rng)
        random.setstate(python_rng)


class StudentModules:
    """Lazy attribute access to the student's modules in ``directory``."""

    def __init__(self, directory, package: str = "submission"):
        self.directory = os.path.realpath(os.fspath(directory))
        self.package = package
        self.allowed = set(MODULES) | {g for g in GIVEN
                                       if os.path.exists(os.path.join(self.directory, g + ".py"))}

    def __getattr__(self, name: str) -> types.ModuleType:
        if name.startswith("_") or name not in self.__dict__.get("allowed", ()):
            raise AttributeError(f"no student module named {name!r}")
        return self.load(name)

    def __dir__(self):
        return sorted(self.allowed)

    def load(self, name: str) -> types.ModuleType:
        """Import ``name`` (one of the allowed module names) or raise StudentImportError."""
        if name not in self.allowed:
            raise AttributeError(f"no student module named {name!r}")
        path = os.path.join(self.directory, name + ".py")
        if not os.path.isfile(path):
            why = ("was not submitted (extra credit, optional)" if name in OPTIONAL_MODULES
                   else "file not found in your submission")
            raise StudentImportError(f"{name}.py: {why}", filename=path)
        qualified = f"{self.package}.{name}"
        try:
            self._activate()
            if qualified in sys.modules:
                return sys.modules[qualified]
            with _global_state_kept():
                return importlib.import_module(qualified)
        except BaseException as exc:
            # A real Ctrl-C (not one raised by the student's module) must still stop pytest.
            if isinstance(exc, KeyboardInterrupt) and not _from_student(exc, self.directory):
                raise
            message, filename, lineno = describe_import_error(exc, self.directory, path)
            raise StudentImportError(message, filter_traceback(exc, self.directory),
                                     filename, lineno) from exc

    def _activate(self) -> None:
        """Install the package (and the bare-name aliases) for this directory in sys.modules."""
        pkg = sys.modules.get(self.package)
        if pkg is not None and list(getattr(pkg, "__path__", [])) == [self.directory]:
            return
        # Another directory (or nothing) was loaded under this package name: start clean.
        for mod in [m for m in sys.modules
                    if m == self.package or m.startswith(self.package + ".") or m in self.allowed]:
            del sys.modules[mod]
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AliasFinder)]
        init = os.path.join(self.directory, "__init__.py")
        if os.path.isfile(init):
            spec = importlib.util.spec_from_file_location(
                self.package, init, submodule_search_locations=[self.directory])
            pkg = importlib.util.module_from_spec(spec)
            sys.modules[self.package] = pkg
            try:
                spec.loader.exec_module(pkg)
            except BaseException:
                del sys.modules[self.package]
                raise
        else:
            pkg = types.ModuleType(self.package)
            pkg.__path__ = [self.directory]
            pkg.__package__ = self.package
            sys.modules[self.package] = pkg
        sys.meta_path.insert(0, _AliasFinder(self.package, self.allowed))
        importlib.invalidate_caches()
        if self.directory not in sys.path:  # helper modules the student may import by bare name
            sys.path.append(self.directory)


def _from_student(exc: BaseException, directory: str) -> bool:
    return any(_under(f.filename, directory) for f in traceback.extract_tb(exc.__traceback__))
