"""One worker per test, one oracle worker per grading (sandbox.py): a test's untimed student
probes share a session worker, the trusted roles' untimed probes the oracle worker; timed runs
get a fresh worker and the machine to themselves. Each reply is still judged alone, a worker
that dies takes only its own probe, and what a session leaves is swept when the test ends."""
import os
import struct
import time

import pytest

from grader import wire
from grader.trusted.sandbox import Sandbox
from tests.test_sandbox import PROBES, ROOT_ONLY, TEST_USER, _tree

STUDENT = {"probability.py": "calls = 0\n"}


@pytest.fixture(scope="module")
def box():
    sub, ref = _tree(STUDENT), _tree(STUDENT)
    with Sandbox(sub, reference_dir=ref, probe_modules=PROBES, memory_mb=500, cpu_seconds=30,
                 user=TEST_USER + "3" if os.geteuid() == 0 else None) as sandbox:
        yield sandbox


def _untimed(box, probe, kwargs=None, role="student", timeout=10):
    return box.run(probe, kwargs or {}, timeout=timeout, role=role, fresh=False)


def test_a_tests_untimed_probes_share_one_worker(box):
    first, second = (_untimed(box, "identity") for _ in range(2))
    assert first.ok and second.ok, (first, second)
    assert first.value["pid"] == second.value["pid"] and second.value["calls"] == 2
    assert [_untimed(box, "echo", {"value": v}).value for v in (1, [2], "3")] == [1, [2], "3"]
    box.end_session()
    third = _untimed(box, "identity")
    assert third.value["pid"] != first.value["pid"] and third.value["calls"] == 1
    box.end_session()


@pytest.mark.parametrize("probe, kwargs, kind", [
    ("exit_now", {"code": 0}, "no_result"),
    ("kill_self", {}, "killed"),
    ("busy_loop", {}, "timeout"),
    ("write_raw_result", {"data": (struct.pack(">Q", 10) + b"junk").hex()}, "bad_output"),
])
def test_a_worker_that_fails_takes_only_its_own_probe(box, probe, kwargs, kind):
    before = _untimed(box, "identity")
    failed = _untimed(box, probe, kwargs, timeout=1.5)
    assert not failed.ok and failed.kind == kind, failed
    after = _untimed(box, "identity")
    assert after.ok and after.value["pid"] != before.value["pid"], after
    box.end_session()


def test_an_exception_leaves_the_session_running(box):
    before = _untimed(box, "identity")
    failed = _untimed(box, "raise_", {"what": "SystemExit"})
    after = _untimed(box, "identity")
    assert not failed.ok and failed.kind == "exception", failed
    assert after.value["pid"] == before.value["pid"]
    box.end_session()


def test_a_forged_reply_is_the_students_own_answer_and_nothing_more(box):
    """A worker may write its own frames: the judge takes the first whole one as this probe's
    reply (student-chosen, as every reply is). What it wrote beyond may answer its own later
    probes of the same test (whose replies are its choice anyway), never another test's: the
    session ends with the test."""
    forged = wire.encode({"ok": True, "value": "forged"})
    data = struct.pack(">Q", len(forged)) + forged
    first = _untimed(box, "identity")
    got = _untimed(box, "write_raw_result", {"data": data.hex()})
    assert got.ok and got.value == "forged", got
    box.end_session()
    assert _untimed(box, "echo", {"value": 7}).value == 7
    box.end_session()
    too_large = struct.pack(">Q", box.result_cap + 1).hex()
    assert _untimed(box, "write_raw_result", {"data": too_large}).kind == "bad_output"
    assert first.ok


def test_the_end_of_a_test_sweeps_what_its_session_left(box, tmp_path):
    os.chmod(tmp_path, 0o777)
    target = tmp_path / "late"
    out = _untimed(box, "setsid_grandchild", {"path": str(target), "delay": 1.0})
    assert out.ok, out
    box.end_session()
    time.sleep(1.5)
    assert not target.exists()


def test_the_trusted_roles_untimed_probes_share_the_oracle_worker(box):
    first = _untimed(box, "identity", role="reference")
    student = _untimed(box, "identity")  # a session and its sweep leave the oracle alone
    box.end_session()
    second = _untimed(box, "identity", role="reference")
    assert first.ok and second.ok and student.ok
    assert first.value["pid"] == second.value["pid"] != student.value["pid"]
    assert first.value["uid"] == os.getuid()
    timed = box.run("identity", {}, timeout=10, role="reference")  # fresh: a worker of its own
    assert timed.value["pid"] not in (first.value["pid"], second.value["pid"])
    assert _untimed(box, "identity", role="reference").value["pid"] != first.value["pid"]


def test_the_oracle_workers_cpu_is_no_workers_and_a_hung_oracle_is_replaced(box):
    burnt = _untimed(box, "burn", {"seconds": 1.0}, role="reference")
    assert burnt.ok and burnt.usage.cpu_seconds >= 0.9, burnt
    fresh = box.run("echo", {"value": 1}, timeout=10)
    assert fresh.ok and fresh.usage.cpu_seconds < 0.5, fresh.usage
    hung = _untimed(box, "busy_loop", role="reference", timeout=0.5)
    assert not hung.ok and hung.kind == "timeout", hung
    assert _untimed(box, "echo", {"value": 2}, role="reference").value == 2


@ROOT_ONLY
def test_a_session_worker_is_the_sandbox_user_and_sees_only_its_pipes(box):
    who = _untimed(box, "whoami")
    assert who.ok and who.value["uid"] != 0 and set(who.value["fds"]) <= {0, 1, 2, 3, 4, 5}
    box.end_session()


@ROOT_ONLY
def test_files_a_session_leaves_last_its_test_only_on_the_swept_path(tmp_path):
    """As on Gradescope (Docker's refusals: no namespaces, the sweep): what a test's worker
    planted in the shared writable folders is there for its own later probes, as in-process,
    and gone for the next test's."""
    from grader.staff.audit.verdicts import leftovers
    from grader.trusted.seccomp import docker_like
    from tests.sandbox_probes import SHM_KEY
    os.chmod(tmp_path, 0o1777)
    marker, folder = f"ps1-session-{os.getpid()}", str(tmp_path)
    with Sandbox(_tree(STUDENT), probe_modules=PROBES, user=TEST_USER + "4",
                 launch=docker_like, memory_mb=500, cpu_seconds=30) as swept:
        assert "unshare" in swept.zygote_info["namespaces"], swept.zygote_info
        planted = _untimed(swept, "persist", {"marker": marker, "extra_folder": folder})
        assert planted.ok and len(planted.value) >= 6, planted
        assert _untimed(swept, "look", {"marker": marker, "extra_folder": folder}).value
        swept.end_session()
        found = _untimed(swept, "look", {"marker": marker, "extra_folder": folder})
        assert found.ok and found.value == [], found
        swept.end_session()
    assert leftovers(marker, SHM_KEY) == [] and not list(tmp_path.iterdir())


def test_a_fork_server_lost_mid_probe_is_the_graders_fault_and_the_next_probe_works(box):
    """The probe in flight ends as the grader's fault (never the student's), or with its own
    reply where the worker still holds a way back (the namespace path's intermediate process
    keeps the server's socket open); the next probes get a new server and workers."""
    import signal
    import threading
    assert _untimed(box, "identity").ok
    killer = threading.Timer(0.5, lambda: os.kill(box.proc.pid, signal.SIGKILL))
    killer.start()
    lost = _untimed(box, "nap", {"seconds": 3.0})
    killer.join()
    assert lost.kind == "infrastructure" or (lost.ok and lost.value == "awake"), lost
    assert _untimed(box, "echo", {"value": 5}).value == 5
    assert _untimed(box, "echo", {"value": 6}, role="reference").value == 6
    box.end_session()


def test_each_pipe_lands_in_place_whatever_numbers_it_came_with():
    """A session's request pipe may arrive as fd 3 (the result pipe's place): the worker's
    redirection must not close it while putting the result pipe there."""
    import subprocess
    import sys
    from tests.test_sandbox import ROOT
    code = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from grader.worker import child
for fd in (3, 4):
    try:
        os.close(fd)
    except OSError:
        pass
req_r, req_w = os.pipe()
res_r, res_w = os.pipe()
out_r, out_w = os.pipe()
assert req_r == 3, req_r
if os.fork() == 0:
    child._redirect(res_w, out_w, req_r)
    os.write(child.RESULT_FD, os.read(child.REQUEST_FD, 1) + b"!")
    os._exit(0)
for fd in (req_r, res_w, out_w):
    os.close(fd)
os.write(req_w, b"Q")
print(os.read(res_r, 10).decode())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "Q!", done.stderr[-2000:]
