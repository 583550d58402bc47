"""`python -m grader rehearse AUTOGRADER_ZIP SUBMISSION... [--base debian-12|ubuntu-22.04]`:
Gradescope's build and grading, rehearsed in a root filesystem of the base image (root only).

1. base layer: the base's root filesystem, from its distribution archive (templates/image.sh
   base), built once per base and cached;
2. setup layer: the zip unpacked into /autograder/source and its setup.sh run as root, as
   Gradescope builds the image (image.sh build); cached, keyed by the zip's setup inputs;
3. per submission: a fresh overlay on both layers, the upload in /autograder/submission and
   /autograder/run_autograder run as root.

Steps 2 and 3 run in fresh mount and PID namespaces (rehearsal_root.py), under the system call
refusals of Docker's default seccomp profile (trusted/seccomp.py): the grader inside takes the
path it takes on Gradescope. The network is the host's (apt and pip need it; Gradescope's is
open too). pip reads this machine's wheels: its configuration and wheel folders are mounted
read-only inside. Sandbox users inside get uids of their own (SANDBOX_UIDS), so that no
per-user kill of a grading on the host reaches the rehearsal's workers, nor the reverse; its
locks are the root filesystem's own /run. The base layer is keyed by the base's name only:
remove the cache (CACHE/BASE) after changing image.sh's `base` or SANDBOX_UIDS.
"""
import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

from grader import ROOT

CACHE = Path(os.environ.get("PS1_REHEARSAL_CACHE", "/var/cache/ps1-rehearsal"))
IMAGE_SH = Path(__file__).resolve().parent / "templates" / "image.sh"
BASES = ("debian-12", "ubuntu-22.04")
SANDBOX_UIDS = (70000, 70999)  # system uids (and gids) inside; no host account may have them
# This machine's pip configuration (`pip config debug`), the wheels and indexes it points at, and
# the CA bundle it names (a proxy's CA among them), mounted read-only at the same paths inside.
PIP_PATHS = ("/opt/wheels", "/opt/pypi", "/opt/pypi-more", "/etc/pip.conf", "/etc/xdg/pip",
             "/root/.config/pip", "/etc/ssl/certs/ca-certificates.crt")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SETUP_INPUTS = ("setup.sh", "requirements-grader.txt")


class RehearsalError(RuntimeError):
    pass


def _say(line: str) -> None:
    print(line, flush=True)


def archive_url(base: str) -> str:
    return subprocess.run([str(IMAGE_SH), "archive", base], capture_output=True, text=True,
                          check=True).stdout.strip()


def check_archive(base: str, url: str) -> None:
    """One clear line, at once, when the base's distribution archive cannot be reached."""
    try:
        urllib.request.urlopen(url + "/", timeout=15).close()
    except OSError as exc:
        raise RehearsalError(f"cannot build the {base} base: its archive {url} cannot be "
                             f"reached from here ({getattr(exc, 'reason', exc)})") from None


def own_uid_range(root: Path) -> None:
    """Make useradd --system inside pick uids and gids in SANDBOX_UIDS (login.defs)."""
    low, high = SANDBOX_UIDS
    taken = [e.pw_name for e in pwd.getpwall() if low <= e.pw_uid <= high]
    taken += [e.gr_name for e in grp.getgrall() if low <= e.gr_gid <= high]
    if taken:
        raise RehearsalError(f"host accounts {taken} use ids in the rehearsal's range "
                             f"{low}-{high}: the two sides' sandbox users would collide")
    defs = root / "etc" / "login.defs"
    keys = {"SYS_UID_MIN": low, "SYS_UID_MAX": high, "SYS_GID_MIN": low, "SYS_GID_MAX": high}
    lines = [line for line in defs.read_text().splitlines()
             if (line.split() or [""])[0] not in keys]
    defs.write_text("\n".join(lines + [f"{k}\t{v}" for k, v in keys.items()]) + "\n")


def base_layer(base: str, cache: Path) -> Path:
    layer, done = cache / base / "base", cache / base / "base.done"
    if done.exists():
        return layer
    check_archive(base, archive_url(base))
    _say(f"building the {base} root filesystem from its archive (once; cached in {layer}) ...")
    shutil.rmtree(layer, ignore_errors=True)
    layer.parent.mkdir(parents=True, exist_ok=True)
    log = cache / base / "base.log"
    # Its own mount namespace: debootstrap mounts /proc inside the target, which must not
    # outlive it on the host (nor be walked by a later rmtree).
    command = ["unshare", "--mount", "--propagation", "private", str(IMAGE_SH), "base", base,
               str(layer)]
    with open(log, "w") as out:
        if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL).returncode:
            details = layer / "debootstrap" / "debootstrap.log"
            if details.exists():
                shutil.copy(details, log.with_name("debootstrap.log"))
            last = (log.read_text().strip().splitlines() or ["no output"])[-1]
            raise RehearsalError(f"the {base} base could not be built ({last}); see {log} "
                                 f"and debootstrap.log beside it")
    own_uid_range(layer)
    done.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
    return layer


@contextlib.contextmanager
def building(cache: Path, base: str):
    """One builder of a base's layers at a time (two rehearsals may start together)."""
    (cache / base).mkdir(parents=True, exist_ok=True)
    with open(cache / base / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def autograder_folder(autograder_zip: Path, work: Path) -> Path:
    """/autograder as Gradescope lays it out before its build: the zip in source/."""
    from grader.staff.gradescope import _unzip
    folder = work / "autograder"
    _unzip(autograder_zip, folder / "source")
    for path in (folder, folder / "source"):
        path.chmod(0o755)
    shutil.copy2(folder / "source" / "run_autograder", folder / "run_autograder")
    return folder


def run_in_root(layers, work: Path, autograder: Path, argv, env, log, timeout) -> int:
    """Run argv as root in the layers (top first) under a fresh overlay in `work`; returns its
    exit status (None on timeout). Writes go to work/upper."""
    for name in ("upper", "overlay-work", "root"):
        (work / name).mkdir(exist_ok=True)
    spec = {"root": str(work / "root"), "layers": [str(p) for p in layers],
            "upper": str(work / "upper"), "work": str(work / "overlay-work"),
            "autograder": str(autograder), "argv": argv, "env": env,
            "binds": [p for p in PIP_PATHS if os.path.exists(p)]}
    command = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation",
               "private", sys.executable, "-m", "grader.staff.rehearsal_root", json.dumps(spec)]
    try:
        return subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return None


def _environment(extra: dict) -> dict:
    """What a container's processes get (PATH, HOME), pip's variables, and `extra`."""
    env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    return env | extra


def setup_key(autograder_zip: Path, torch_index: str | None) -> str:
    digest = hashlib.sha256(str(torch_index).encode())
    with zipfile.ZipFile(autograder_zip) as zf:
        for name in SETUP_INPUTS:
            digest.update(name.encode() + b"\0" + zf.read(name) + b"\0")
    return digest.hexdigest()[:16]


def setup_layer(autograder_zip: Path, base: str, cache: Path, torch_index, timeout) -> list:
    """The layers (top first) of the image after Gradescope's build of this zip."""
    base_dir = base_layer(base, cache)
    key = setup_key(autograder_zip, torch_index)
    layer, done = cache / base / f"setup-{key}", cache / base / f"setup-{key}.done"
    if done.exists():
        return [layer / "upper", base_dir]
    _say(f"running the zip's setup.sh in {base} as Gradescope builds the image (cached by its "
         f"setup inputs: {layer}) ...")
    shutil.rmtree(layer, ignore_errors=True)
    layer.mkdir(parents=True)
    extra = {"PS1_TORCH_INDEX": torch_index} if torch_index else {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache) as scratch, \
            open(cache / base / f"setup-{key}.log", "w") as log:
        autograder = autograder_folder(autograder_zip, Path(scratch))
        argv = ["/bin/bash", "-c", IMAGE_SH.read_text(), "image.sh", "build"]
        status = run_in_root([base_dir], layer, autograder, argv, _environment(extra), log,
                             timeout)
    if status != 0:
        shutil.rmtree(layer, ignore_errors=True)  # its log stays
        tail = (cache / base / f"setup-{key}.log").read_text()[-3000:]
        raise RehearsalError(f"setup.sh failed on {base} (exit {status}):\n{tail}")
    done.write_text(f"{time.monotonic() - started:.0f} s\n")
    _say(f"setup.sh finished in {time.monotonic() - started:.0f} s")
    return [layer / "upper", base_dir]


def grade(autograder_zip: Path, submission: Path, layers: list, cache: Path,
          timeout: float) -> tuple[dict | None, str, float]:
    """(results.json or None, run_autograder's output, seconds) for one upload, in a fresh
    overlay of the image."""
    from grader.staff.gradescope import _metadata
    (cache / "runs").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache / "runs") as scratch:
        work = Path(scratch)
        autograder = autograder_folder(autograder_zip, work)
        upload = autograder / "submission"
        if submission.is_dir():
            shutil.copytree(submission, upload, symlinks=True)
        else:
            upload.mkdir()
            shutil.copy2(submission, upload / submission.name)
        (autograder / "submission_metadata.json").write_text(json.dumps(_metadata(), indent=1))
        (autograder / "results").mkdir()
        started = time.monotonic()
        with open(work / "output.log", "w+") as log:
            status = run_in_root(layers, work, autograder, ["/autograder/run_autograder"],
                                 _environment({}), log, timeout)
            log.seek(0)
            output = log.read()
        took = time.monotonic() - started
        if status is None:
            output += f"\nrun_autograder did not finish in {timeout:g} s"
        try:
            return json.loads((autograder / "results" / "results.json").read_text()), output, took
        except (OSError, ValueError) as exc:
            return None, output + f"\nno valid results.json: {exc}", took


ISOLATION_PROBE = ("import sys; sys.path.insert(0, '/autograder/source'); "
                   "from grader.trusted import isolation; "
                   "refused = isolation.available('/tmp'); "
                   "print(f'the sweep (namespaces refused: {refused})' if refused else "
                   "'namespaces: Docker refusals did NOT hold')")


def isolation_inside(autograder_zip: Path, layers: list, cache: Path) -> str:
    """The sandbox path the grader takes inside, by its own check: the sweep, as on Gradescope,
    or namespaces when Docker's refusals did not hold."""
    (cache / "runs").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache / "runs") as scratch, \
            open(Path(scratch) / "probe.log", "w+") as log:
        autograder = autograder_folder(autograder_zip, Path(scratch))
        run_in_root(layers, Path(scratch), autograder,
                    ["/opt/ps1-venv/bin/python", "-c", ISOLATION_PROBE], _environment({}), log,
                    timeout=120)
        log.seek(0)
        return log.read().strip()


def default_torch_index() -> str | None:
    """setup.sh's own index (download.pytorch.org) when it can be reached; else this
    machine's local index, where the same CPU wheel lies."""
    if os.environ.get("PS1_TORCH_INDEX"):
        return os.environ["PS1_TORCH_INDEX"]
    try:
        urllib.request.urlopen("https://download.pytorch.org/whl/cpu/", timeout=10).close()
        return None
    except OSError:
        return "file:///opt/pypi/simple" if os.path.isdir("/opt/pypi/simple") else None


def rehearse(autograder_zip: Path, submissions, base: str, cache: Path, timeout: float,
             results_dir: Path, show_json: bool = False) -> list:
    """Grades each submission; returns [(submission, results.json or None)]."""
    from grader.staff.gradescope import summary
    from grader.trusted.results import validate
    if os.geteuid() != 0:
        raise RehearsalError("the rehearsal builds root filesystems and namespaces: run it as root")
    torch_index = default_torch_index()
    if torch_index:
        _say(f"torch from {torch_index} (download.pytorch.org cannot be reached from here)")
    with building(cache, base):
        layers = setup_layer(autograder_zip, base, cache, torch_index, timeout)
    _say(f"the sandbox inside {base}: {isolation_inside(autograder_zip, layers, cache)}")
    results_dir.mkdir(parents=True, exist_ok=True)
    graded = []
    for submission in submissions:
        final, output, took = grade(autograder_zip, submission, layers, cache, timeout)
        _say(f"== {submission} on {base}: run_autograder took {took:.0f} s")
        if final is None:
            _say(output[-4000:] + "\nGradescope would show: 'The autograder failed to execute "
                                  "correctly'.")
        else:
            target = results_dir / f"{submission.name or 'submission'}.results.json"
            target.write_text(json.dumps(final, indent=1))
            _say(summary(final))
            for error in validate(final):
                _say(f"results.json does not follow the Gradescope specification: {error}")
            _say(json.dumps(final, indent=1) if show_json else f"results.json: {target}")
        graded.append((submission, final))
    return graded


def add_rehearse_arguments(parser):
    parser.add_argument("autograder_zip", help="the autograder zip (python -m grader build)")
    parser.add_argument("submissions", nargs="+", help="uploads: zips or folders")
    parser.add_argument("--base", choices=BASES, default="debian-12",
                        help="the Gradescope base image to rehearse on (default debian-12)")
    parser.add_argument("--cache", default=str(CACHE),
                        help=f"root filesystems and setup states (default {CACHE})")
    parser.add_argument("--results-dir", default="rehearsal-results",
                        help="where each submission's results.json is written")
    parser.add_argument("--timeout", type=float, default=40 * 60,
                        help="seconds for setup.sh and for each run_autograder")
    parser.add_argument("--show-json", action="store_true", help="print each results.json")


def run_rehearse(args) -> int:
    try:
        graded = rehearse(Path(args.autograder_zip).resolve(),
                          [Path(s).resolve() for s in args.submissions], args.base,
                          Path(args.cache), args.timeout, Path(args.results_dir), args.show_json)
    except RehearsalError as exc:
        print(f"rehearse: {exc}", file=sys.stderr)
        return 2
    return 0 if all(final is not None for _, final in graded) else 1
