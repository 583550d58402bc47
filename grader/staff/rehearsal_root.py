"""The first process inside a rehearsal's fresh mount and PID namespaces (started by
`unshare --mount --pid --fork`, see rehearse.py): it assembles the root filesystem, enters it,
loads Docker's refusals (grader/trusted/seccomp.py: built before the chroot, with this
machine's libseccomp, loaded after it) and becomes the command, as a container's entrypoint
would.

    python -m grader.staff.rehearsal_root SPEC_JSON

SPEC_JSON: {"root": mount point, "layers": [lower dirs, top first], "upper": dir, "work": dir,
"autograder": host dir mounted at /autograder, "binds": [read-only host paths, mounted at the
same path inside], "argv": [...], "env": {...}}
"""
import json
import os
import subprocess
import sys

from grader.trusted import seccomp

# A container's /dev: these nodes, bound from the host, and a private /dev/shm.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _mount_point(path: str, like: str) -> None:
    """A folder, or an empty file for a file, at `path` to mount `like` on."""
    if os.path.isdir(like):
        os.makedirs(path, exist_ok=True)
    elif not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()


def _bind(source: str, target: str, read_only: bool) -> None:
    _mount_point(target, source)
    _mount("--bind", source, target)
    if read_only:
        _mount("-o", "remount,bind,ro", target)


def assemble(spec: dict) -> str:
    root = spec["root"]
    _mount("--make-rprivate", "/")  # nothing mounted here reaches the host
    _mount("-t", "overlay", "overlay", "-o",
           f"lowerdir={':'.join(spec['layers'])},upperdir={spec['upper']},workdir={spec['work']}",
           root)
    _mount("-t", "proc", "proc", f"{root}/proc")  # this PID namespace's processes only
    _mount("-t", "sysfs", "-o", "ro", "sysfs", f"{root}/sys")
    _mount("-t", "tmpfs", "-o", "mode=755,nosuid", "tmpfs", f"{root}/dev")
    for name in DEVICES:
        _bind(f"/dev/{name}", f"{root}/dev/{name}", read_only=False)
    os.makedirs(f"{root}/dev/shm")
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", f"{root}/dev/shm")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    _bind("/etc/resolv.conf", f"{root}/etc/resolv.conf", read_only=True)
    _bind(spec["autograder"], f"{root}/autograder", read_only=False)
    for path in spec["binds"]:
        _bind(path, f"{root}{path}", read_only=True)
    return root


def main(argv) -> None:
    spec = json.loads(argv[1])
    refusals = seccomp.docker_refusals()
    root = assemble(spec)
    os.chroot(root)
    os.chdir("/autograder")
    refusals.load()
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main(sys.argv)
