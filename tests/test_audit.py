"""The grader's own audit, fast subset (`python -m grader audit --fast`): runs in CI (.ci/run
runs every test under tests/). Every mutant killed in its own part only, every variant 40/40
and 5/5 extra credit,
every malicious submission handled (through the Gradescope path, as root), identical
repeated scores. The full audit is `python -m grader audit --json audit.json`."""
import argparse
import json
import os

import pytest

from grader.staff.audit import runner, sources
from grader.staff.audit.verdicts import FULL


def test_audit_data_applies_to_reference():
    """Every patch's snippet occurs exactly once in reference/ (cheap, catches drift)."""
    from grader.staff.audit.malicious import CASES
    from grader.staff.audit.mutants import MUTANTS, apply
    from grader.staff.audit.variants import VARIANTS
    reference = sources.reference_files()
    assert len(MUTANTS) >= 100 and len(VARIANTS) >= 21 and len(CASES) >= 43
    assert {m.part for m in MUTANTS} >= {"6a", "6b", "6c"}
    assert len({m.name for m in MUTANTS + VARIANTS}) == len(MUTANTS) + len(VARIANTS)
    for item in MUTANTS + VARIANTS:
        for name, text in apply(reference, item.patches).items():
            compile(text, f"{item.name}/{name}", "exec")
    placeholders = {"DROP_DIR": "/tmp/drop", "VICTIM_PATH": "/tmp/victim", "MARKER": "m",
                    "SHM_KEY": 1}
    for case in CASES:
        for name, text in sources.malicious_files(case, placeholders).items():
            if name in sources.FILES:
                compile(text, f"{case.name}/{name}", "exec")


def test_two_audits_on_one_machine_do_not_see_each_others_leftovers(tmp_path):
    """Leftover checks look for a case's marker and SysV key machine-wide: both must be unique
    to the run, or one audit reports the other's in-flight files as left behind."""
    from grader.staff.audit.malicious import CASES
    contexts = []
    for name in ("ps1-audit-aaaa", "ps1-audit-bbbb"):
        (tmp_path / name).mkdir()
        contexts.append(runner.Context(tmp_path / name, print, 1, True, "c", "d", "v"))
    first, second = contexts
    assert first.shm_key != second.shm_key
    assert all(first.marker(case) != second.marker(case) for case in CASES)


@pytest.mark.audit
def test_fast_audit(tmp_path):
    report_path = tmp_path / "audit.json"
    args = argparse.Namespace(fast=True, json=str(report_path), jobs=2, only=None, seeds=3,
                              cases=None)
    runner.main(args)
    report = json.loads(report_path.read_text())
    assert report["mutants"] and all(m["killed"] for m in report["mutants"]), \
        [m for m in report["mutants"] if not m["killed"]]
    assert report["variants"] and all(v["score"] == FULL for v in report["variants"]), \
        [v for v in report["variants"] if v["score"] != FULL]
    if os.geteuid() == 0:
        assert report["malicious"] and all(c["handled"] for c in report["malicious"]), \
            [c for c in report["malicious"] if not c["handled"]]
    assert report["determinism"]["identical"], report["determinism"]
    assert report["seeds"]["rows"] and all(not r["failed_seeds"] for r in report["seeds"]["rows"])
    assert all(not c["failures"] for c in report["seeds"]["correct"]), report["seeds"]["correct"]
