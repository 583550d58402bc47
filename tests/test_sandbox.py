"""The sandbox: misbehaving "student" code (tests/sandbox_probes.py) vs. the zygote and judge.

One zygote serves the whole module (it must survive every test); a second one without a
sandbox user covers the non-root code path and the CPU limit.
"""
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from grader.trusted.cleanup import live_pids_of
from grader.trusted.sandbox import Sandbox
from grader.trusted.seccomp import docker_like
from grader.wire import Tensor, Unsupported
from grader.worker.loader import StudentImportError, StudentModules

ROOT = Path(__file__).resolve().parent.parent
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (sandbox user)")
PROBES = {"student": "tests.sandbox_probes", "reference": "tests.sandbox_probes"}
# Not the grader's ps1sandbox: a sweep kills every process of its user, so a grading run on
# the same machine (another terminal, CI) and these tests must not share one.
TEST_USER = "ps1sbtest"

STUDENT = {
    "probability.py": "def f(x):\n    return x + 1\n\n"
                      "def bad():\n    return helper()\n\n"
                      "def helper():\n    raise ValueError('negative probability')\n\n"
                      "def quit():\n    import os\n    os._exit(0)\n",
    "made.py": "import torch\n\ndef f(:\n    pass\n",
    "sampling.py": "import foo\n",
}
REFERENCE = {"probability.py": "def f(x):\n    return x + 100\n"}


def _tree(files: dict, mode=0o755) -> str:
    path = tempfile.mkdtemp(prefix="ps1-test-")
    os.chmod(path, mode)
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(path, name), 0o644)
    return path


@pytest.fixture(scope="module")
def dirs():
    made = {"sub": _tree(STUDENT), "ref": _tree(REFERENCE),
            "secret": _tree({"answers.txt": "42"}), "drop": _tree({}, mode=0o1777)}
    yield made
    for path in made.values():
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def sb(dirs, record_isolation):
    with Sandbox(dirs["sub"], reference_dir=dirs["ref"], probe_modules=PROBES,
                 user=TEST_USER if os.geteuid() == 0 else None,
                 protected=[dirs["ref"], dirs["secret"]], memory_mb=500, cpu_seconds=30) as box:
        record_isolation("namespaces (mount, IPC, network, PID; the sweep is tested apart)"
                         if box.isolated else
                         f"sweep only ({box.zygote_info.get('namespaces')})")
        box.first_pid = box.proc.pid
        yield box
        assert box.proc.pid == box.first_pid and box.proc.poll() is None, "zygote was replaced"


@pytest.fixture(scope="module")
def swept(dirs):
    """As on Gradescope: the server under Docker's default-profile refusals, so namespaces are
    refused by the kernel (not by a flag) and the sweep of what the sandbox user owns runs."""
    with Sandbox(dirs["sub"], probe_modules=PROBES, user=TEST_USER + "2", launch=docker_like,
                 memory_mb=500, cpu_seconds=30) as box:
        assert "unshare" in box.zygote_info["namespaces"], box.zygote_info
        yield box


@pytest.fixture(scope="module")
def plain(dirs):
    """No sandbox user: children keep the judge's uid (the non-root path)."""
    with Sandbox(dirs["sub"], probe_modules=PROBES, user=None, cpu_seconds=1) as box:
        yield box


def test_values_round_trip_through_the_child(sb):
    out = sb.run("echo", {"value": {"a": np.arange(6.0).reshape(2, 3), "t": (1, "x")}}, timeout=10)
    assert out.ok, out
    assert type(out.value["a"]) is Tensor and out.value["a"].dtype == "float64"  # became torch
    np.testing.assert_array_equal(out.value["a"].array, np.arange(6.0).reshape(2, 3))
    assert out.value["t"] == (1, "x") and out.usage.cpu_seconds > 0


def test_student_and_trusted_reference_calls(sb):
    call = {"target": "probability.f", "args": [1]}
    assert sb.run("call_student", call, timeout=10).value == 2
    assert sb.run("call_student", call, timeout=10, role="reference").value == 101


def test_seed_fixes_the_torch_generator(sb):
    draw = [sb.run("whoami", {}, timeout=10, seed=s).value["seed_draw"] for s in (1, 1, 2)]
    assert draw[0] == draw[1] != draw[2]


@pytest.mark.parametrize("what,message", [("SystemExit", "SystemExit: 3"),
                                          ("KeyboardInterrupt", "KeyboardInterrupt"),
                                          ("custom", "Boom: boom")])
def test_base_exceptions_are_caught_and_the_next_run_works(sb, what, message):
    out = sb.run("raise", {"what": what}, timeout=10)
    assert (out.ok, out.kind, out.message) == (False, "exception", message)
    assert "(no frames from your code)" in out.traceback
    assert sb.run("echo", {"value": 1}, timeout=10).value == 1


def test_traceback_keeps_only_student_frames(sb):
    out = sb.run("call_student", {"target": "probability.bad"}, timeout=10)
    assert out.kind == "exception" and out.message == "ValueError: negative probability"
    assert "probability.py\", line 5, in bad" in out.traceback and "line 8, in helper" in out.traceback
    assert "sandbox_probes" not in out.traceback and "zygote" not in out.traceback


def test_probe_contract_error_is_sent_as_is(sb):
    out = sb.run("raise", {"what": "contract"}, timeout=10)
    assert (out.kind, out.message) == ("contract", "made_masks must return a list of tensors, got dict")


@pytest.mark.parametrize("module,message", [
    ("made", "made.py line 3: SyntaxError: invalid syntax"),
    ("sampling", "sampling.py line 1: ModuleNotFoundError: No module named 'foo'"),
    ("pixelcnn", "pixelcnn.py: file not found in your submission")])
def test_import_errors_name_the_file_and_line(sb, module, message):
    out = sb.run("call_student", {"target": f"{module}.f"}, timeout=10)
    assert (out.kind, out.message) == ("import", message)


def test_os_exit_gives_no_result(sb):
    out = sb.run("call_student", {"target": "probability.quit"}, timeout=10)
    assert out.kind == "no_result" and "os._exit(0)" in out.message
    assert sb.run("exit_now", {"code": 3}, timeout=10).message.startswith("your code called os._exit(3)")


def test_infinite_loop_times_out_and_the_next_run_works(sb):
    out = sb.run("busy_loop", {}, timeout=1.0)
    assert (out.kind, out.message) == ("timeout", "timed out after 1.0 s")
    assert 1.0 <= out.usage.wall_seconds < 5
    assert sb.run("echo", {"value": "alive"}, timeout=10).value == "alive"


@pytest.mark.parametrize("how", ["bytearray", "torch"])
def test_huge_allocation_is_a_memory_outcome(sb, how):
    out = sb.run("alloc", {"how": how, "gb": 50}, timeout=20)
    assert out.kind == "memory" and out.message.startswith("ran out of memory (limit 500 MB)")
    assert sb.run("alloc", {"how": how, "gb": 0.1}, timeout=20).value == int(0.1 * (1 << 30))


def test_cpu_limit(plain):
    out = plain.run("busy_loop", {}, timeout=20)
    assert (out.kind, out.message) == ("cpu", "used more than 1 s of CPU time")
    assert out.usage.wall_seconds < 5


def test_output_flood_is_capped_without_hanging(sb):
    out = sb.run("print_flood", {"mb": 1024}, timeout=60)
    assert out.ok and out.value == 1024, out
    assert len(out.output) < 70_000 and "bytes of output omitted" in out.output
    assert out.output.startswith("xxx") and out.output.rstrip().endswith("the end")


def test_oversized_result_and_unsupported_types(sb):
    out = sb.run("return_value", {"what": "huge"}, timeout=30)  # 100 MB > 64 MiB cap
    assert out.kind == "bad_output" and "too large" in out.message
    assert sb.run("return_value", {"what": "subclass"}, timeout=10).value == Unsupported("MyTensor")
    assert sb.run("return_value", {"what": "rigged"}, timeout=10).value == Unsupported("Rigged")
    tensor = sb.run("return_value", {"what": "tensor"}, timeout=10).value
    assert type(tensor) is Tensor and tensor.shape == (2, 3) and tensor.dtype == "float32"


def test_file_size_limit(sb):
    out = sb.run("write_big_file", {"mb": 200}, timeout=30)
    assert out.kind == "exception" and "File too large" in out.message


@pytest.mark.parametrize("where", ["self", "waited_child", "orphan"])
def test_cpu_time_counts_every_process_the_worker_started(sb, where):
    """The fork server's clock: work done in a child, waited for or left running, is counted;
    a worker that leaves processes running is reported (the timed tests fail it)."""
    out = sb.run("burn", {"seconds": 0.6, "where": where}, timeout=20)
    assert out.ok, out
    assert out.value["own_cpu"] < (0.55 if where != "self" else 10)
    assert out.usage.cpu_seconds >= 0.55, out.usage
    assert out.usage.orphans == (1 if where == "orphan" else 0)


@ROOT_ONLY
def test_kills_are_retried_once_and_told_apart(sb):
    """A SIGKILL that is not the grader's doing is retried; only a repeat is the student's.
    The OOM killer striking a small worker is the machine's fault, never the student's."""
    from grader.trusted.interfaces import GraderFault, Sandboxed, StudentCodeError
    from grader.trusted.outcome import classify
    import threading
    worker = Sandboxed(sb)

    def kill_the_first_worker():  # someone else's SIGKILL, once
        for _ in range(500):
            pids = live_pids_of(sb.uid)
            if pids:
                time.sleep(0.3)
                for pid in pids:
                    os.kill(pid, 9)
                return
            time.sleep(0.01)
    killer = threading.Thread(target=kill_the_first_worker)
    killer.start()
    assert worker.run("nap", seconds=2.0) == "awake"
    killer.join()
    with pytest.raises(StudentCodeError, match="SIGKILL signal.*twice in a row") as info:
        worker.run("kill_self")
    assert info.value.kind == "killed"
    killed = {"exit_status": -9, "cpu_seconds": 0.1, "max_rss_kb": 300_000}
    small = classify(b"", dict(killed, oom_kills=1), "", timeout=5, memory_mb=500,
                     cpu_seconds=30, result_cap=1 << 20, baseline_kb=250_000)
    big = classify(b"", dict(killed, oom_kills=1, max_rss_kb=900_000), "", timeout=5,
                   memory_mb=500, cpu_seconds=30, result_cap=1 << 20, baseline_kb=250_000)
    assert (small.kind, big.kind) == ("infrastructure", "memory")
    with pytest.raises(GraderFault):
        Sandboxed(_FakeSandbox(small)).run("echo")


class _FakeSandbox:
    def __init__(self, outcome):
        self.outcome = outcome

    def run(self, *args, **kwargs):
        return self.outcome


@pytest.mark.parametrize("box", ["sb", "plain"])
def test_setsid_grandchild_is_killed_by_the_sweep(request, dirs, box):
    target = os.path.join(dirs["drop"], f"escaped-{box}")
    out = request.getfixturevalue(box).run("setsid_grandchild", {"path": target, "delay": 1.0},
                                           timeout=10)
    assert out.ok, out
    time.sleep(1.5)
    assert not os.path.exists(target)


@ROOT_ONLY
def test_child_runs_as_the_sandbox_user_with_a_clean_process(sb):
    who = sb.run("whoami", {}, timeout=10).value
    assert who["uid"] == who["euid"] == pwd.getpwnam(TEST_USER).pw_uid
    assert who["groups"] == [] and who["threads"] == 1
    assert set(who["fds"]) <= {0, 1, 2, 3, 4}  # 4: the listing of /proc/self/fd itself
    assert set(who["env"]) == {"PATH", "HOME", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "LANG"}
    assert who["cwd"].startswith(sb.scratch_root) and who["env"]["HOME"] == who["cwd"]
    assert not os.path.exists(who["cwd"]), "scratch dir not removed by the sweep"


@ROOT_ONLY
def test_child_cannot_read_protected_paths(sb, dirs):
    hidden = {"EACCES", "ENOENT"}  # closed, or not even there (a private /tmp)
    for path in (dirs["secret"], dirs["ref"]):
        assert sb.run("list_dir", {"path": path}, timeout=10).value in hidden
    secret = os.path.join(dirs["secret"], "answers.txt")
    assert sb.run("read_file", {"path": secret}, timeout=10).value in hidden
    environ = f"/proc/{sb.proc.pid}/environ"
    assert sb.run("read_file", {"path": environ}, timeout=10).value in hidden
    assert not stat.S_IMODE(os.stat(dirs["secret"]).st_mode) & 0o007
    assert sb.run("read_file", {"path": secret}, timeout=10, role="reference").value == "42"


@ROOT_ONLY
@pytest.mark.parametrize("box", ["sb", "swept"])
def test_nothing_a_worker_leaves_reaches_the_next_one(request, dirs, box):
    """Files at any depth of the shared writable folders (one owned by someone else among
    them) and SysV shared memory: gone before the next worker, and after it, on the host."""
    sandbox = request.getfixturevalue(box)
    if box == "sb" and not sandbox.isolated:
        pytest.skip("no namespaces on this machine: only the sweep path can be tested")
    marker = f"ps1-persist-{box}-{os.getpid()}"
    left = sandbox.run("persist", {"marker": marker, "extra_folder": dirs["drop"]}, timeout=20)
    assert left.ok and len(left.value) >= 6, left
    found = sandbox.run("look", {"marker": marker, "extra_folder": dirs["drop"]}, timeout=20)
    assert found.ok and found.value == [], found
    from grader.staff.audit.verdicts import leftovers
    from tests.sandbox_probes import SHM_KEY
    assert leftovers(marker, SHM_KEY) == []
    assert not [f for f in os.listdir(dirs["drop"]) if marker in f]


@ROOT_ONLY
def test_protect_never_closes_shared_directories(dirs):
    from grader.trusted.users import protect
    before = os.stat("/tmp").st_mode
    assert "/tmp" in protect(["/tmp", dirs["drop"]], gid=12345)  # returned, not closed
    assert os.stat("/tmp").st_mode == before


@ROOT_ONLY
def test_child_cannot_attack_the_zygote_or_regain_root(sb):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        result = sb.run("attack", {"port": listener.getsockname()[1]}, timeout=10).value
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection is waiting
            listener.accept()
    assert result["kill_parent"] == "EPERM" and result["setuid_root"] == "EPERM"
    assert result["connect"] == "EPERM"  # the seccomp filter refuses the socket itself
    assert sb.proc.poll() is None


@pytest.mark.parametrize("box", [pytest.param("sb", marks=ROOT_ONLY),
                                 pytest.param("swept", marks=ROOT_ONLY), "plain"])
def test_a_student_worker_opens_no_network_socket(request, box):
    """The seccomp filter (grader/trusted/seccomp.py), on both isolation paths and without a
    sandbox user; a trusted worker, which never imports student code, is not filtered."""
    sandbox = request.getfixturevalue(box)
    refused = {"inet": "EPERM", "inet6": "EPERM", "netlink": "EPERM", "unix": "ok"}
    assert sandbox.run("sockets", {}, timeout=10).value == refused
    if sandbox.reference_dir:
        assert sandbox.run("sockets", {}, timeout=10, role="reference").value["inet"] == "ok"


@ROOT_ONLY
def test_fork_bomb_is_contained(sb):
    out = sb.run("fork_bomb", {"n": 1000}, timeout=20)
    assert out.ok and out.value < 64, out
    assert live_pids_of(sb.uid) == []
    assert sb.run("echo", {"value": 1}, timeout=10).value == 1


def test_loader_in_process_shares_one_module_per_file(tmp_path):
    (tmp_path / "probability.py").write_text("def f(x):\n    return x + 1\n")
    (tmp_path / "made.py").write_text("from .probability import f\nimport probability\n"
                                      "SAME = probability.f is f\n")
    (tmp_path / "training.py").write_text("import os\nraise SystemExit(2)\n")
    student = StudentModules(tmp_path, package="loader_test_pkg")
    assert student.made.SAME and student.probability.f(1) == 2
    with pytest.raises(StudentImportError, match=r"^training.py line 2: SystemExit: 2$") as info:
        student.training
    assert 'training.py", line 2' in info.value.traceback
    with pytest.raises(AttributeError):
        student.os


def test_import_time_changes_to_global_state_are_undone(tmp_path):
    """A module that changes torch's global state at import (gradients off, float64, a seed)
    leaves it as it was for the next caller: train's tests find the default loss in
    probability.py and must not fail because of what that module did at import."""
    import torch

    (tmp_path / "probability.py").write_text(
        "import torch\ntorch.set_grad_enabled(False)\ntorch.set_default_dtype(torch.float64)\n"
        "torch.manual_seed(12345)\nVALUE = 1\n")
    torch.manual_seed(0)
    want = torch.rand(3)
    torch.manual_seed(0)
    student = StudentModules(tmp_path, package="global_state_pkg")
    assert student.probability.VALUE == 1
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32
    assert torch.equal(torch.rand(3), want)


def test_ci_fails_when_the_expected_isolation_was_not_tested():
    """.ci/run expects the namespace path: a run whose sandbox tests did not take it (here, none
    ran) fails, so a green CI means the namespace path was tested there."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_layout.py"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PS1_EXPECT_ISOLATION": "namespaces"}, timeout=120)
    assert proc.returncode == 1, proc.stdout
    assert "PS1_EXPECT_ISOLATION=namespaces, but the sandbox tests took: not tested" in proc.stdout
