"""The grader core, end to end (issue 3): the real `python -m grader grade` on the reference,
the starter and broken copies, sandboxed and in-process; results.json always valid. The
reference scores 40 + the 5 extra-credit points of part 6 (attention.py); without
attention.py it scores the 40 as before, with no submission problem."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import ROOT
from grader.staff import stubs
from grader.trusted import manifest, results

TESTS = len(manifest.load().tests)
FULL = manifest.TOTAL_POINTS + manifest.EXTRA_POINTS  # 45: the 40 and the extra credit


def grade(path, tmp_path, mode="sandbox", name="results.json"):
    out = tmp_path / name
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(path), "--json", str(out),
                           "--mode", mode], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    final = json.loads(out.read_text())
    assert results.validate(final) == []
    return final, done.stdout


def broken_copy(tmp_path, name, file, region, inserted):
    """A copy of reference/ with `inserted` lines at the top of one solution region."""
    copy = tmp_path / name
    shutil.copytree(ROOT / "reference", copy)
    path = copy / file
    marker = f"# BEGIN SOLUTION {region}\n"
    text = path.read_text()
    indent = text.split(marker)[0].rsplit("\n", 1)[1]
    path.write_text(text.replace(marker, marker + "".join(f"{indent}{line}\n" for line in inserted)))
    return copy


def lost_parts(final):
    """Parts that lost points (the zero-point "Submission check" entry is not a part)."""
    return sorted({t["tags"][0] for t in final["tests"]
                   if t["status"] == "failed" and t["max_score"] > 0})


def test_manifest_is_valid_and_matches_the_suites():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "tests_public", "tests_hidden", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True)
    collected = {line for line in done.stdout.splitlines() if "::" in line}
    assert manifest.problems(manifest.load(), collected) == []


def test_manifest_problems_are_reported(tmp_path):
    broken = tmp_path / "manifest.toml"
    broken.write_text(manifest.MANIFEST_PATH.read_text().replace("points = 2.5", "points = 2", 1))
    assert any("not 40" in p for p in manifest.problems(manifest.load(broken)))


def test_starter_is_generated_from_reference(tmp_path):
    assert stubs.drift() == []
    copy = tmp_path / "starter"
    shutil.copytree(ROOT / "starter", copy)
    made = copy / "made.py"
    made.write_text(made.read_text().replace('raise NotImplementedError("Part 2b', 'return [] #("'))
    assert stubs.drift(copy) == ["made.py"]


def without_attention(tmp_path) -> Path:
    copy = tmp_path / "no-attention"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "attention.py").unlink()
    return copy


def test_reference_scores_40_and_the_extra_credit_sandboxed(tmp_path):
    final, table = grade(ROOT / "reference", tmp_path)
    assert final["score"] == FULL and len(final["tests"]) == TESTS
    assert "Total: 40 / 40, extra credit 5 / 5" in table


def test_starter_scores_0_sandboxed_with_every_test_listed(tmp_path):
    final, table = grade(ROOT / "starter", tmp_path)
    assert final["score"] == 0 and len(final["tests"]) == TESTS
    assert sum(t["max_score"] for t in final["tests"]) == FULL
    assert all("NotImplementedError: Part" in t["output"] for t in final["tests"])
    assert "Total: 0 / 40, extra credit 0 / 5" in table


def test_without_attention_the_40_points_are_graded_as_before(tmp_path):
    final, table = grade(without_attention(tmp_path), tmp_path)
    assert final["score"] == 40 and len(final["tests"]) == TESTS
    assert final["tests"][0]["name"] != results.INTAKE_NAME  # no submission problem
    extra = [t for t in final["tests"] if "extra" in t["tags"]]
    assert extra and lost_parts(final) == ["6a", "6b", "6c"]
    assert all(t["status"] == "failed" and "attention.py was not submitted (extra credit, "
               "optional)" in t["output"] for t in extra)
    assert "Total: 40 / 40, extra credit 0 / 5" in table and "missing" not in table


@pytest.mark.parametrize("path,score", [("reference", FULL), ("starter", 0), ("none", 40)])
def test_in_process_mode_agrees(tmp_path, path, score):
    folder = without_attention(tmp_path) if path == "none" else ROOT / path
    final, _ = grade(folder, tmp_path, mode="inprocess")
    assert final["score"] == score and len(final["tests"]) == TESTS


def test_kl_that_never_returns_costs_only_part_1a(tmp_path):
    copy = broken_copy(tmp_path, "loop", "probability.py", "1a", ["while True:", "    pass"])
    final, _ = grade(copy, tmp_path)
    assert final["score"] == FULL - 2 and lost_parts(final) == ["1a"]
    assert all("timed out" in t["output"] for t in final["tests"] if t["status"] == "failed")


def test_os_exit_in_nll_costs_only_part_1c(tmp_path):
    copy = broken_copy(tmp_path, "exit", "probability.py", "1c", ["import os", "os._exit(0)"])
    final, _ = grade(copy, tmp_path)
    assert final["score"] == FULL - 2 and lost_parts(final) == ["1c"]


def test_syntax_error_in_made_lists_all_40_points(tmp_path):
    copy = tmp_path / "syntax"
    shutil.copytree(ROOT / "reference", copy)
    (copy / "made.py").write_text((copy / "made.py").read_text() + "\ndef broken(:\n")
    final, _ = grade(copy, tmp_path)
    assert sum(t["max_score"] for t in final["tests"]) == FULL
    assert lost_parts(final) == ["2a", "2b", "2c", "2d"] and final["score"] == FULL - 10
    assert all("made.py line" in t["output"] and "SyntaxError" in t["output"]
               for t in final["tests"] if t["status"] == "failed")


def test_results_are_valid_when_the_judge_is_killed(tmp_path):
    copy = broken_copy(tmp_path, "slow", "probability.py", "1a", ["import time", "time.sleep(60)"])
    out = tmp_path / "results.json"
    judge = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(copy), "--json",
                              str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    os.killpg(judge.pid, signal.SIGKILL)
    judge.wait()
    provisional = json.loads(out.read_text())
    assert results.validate(provisional) == []
    assert provisional["score"] == 0 and len(provisional["tests"]) == TESTS
