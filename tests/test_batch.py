"""`python -m grader batch`: one real sandboxed end-to-end run (reference, starter, a mutant,
a corrupt zip), the rest with a fast stand-in for the `grade` subprocess."""
import csv
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from grader import ROOT, STUDENT_MODULES
from grader.staff import batch, export, gradebook
from grader.trusted import manifest as manifest_module
from grader.__main__ import main

MANIFEST = manifest_module.load()
MODULES = [f"{m}.py" for m in STUDENT_MODULES]
MUTATION = ("(degrees[0][:, None] > degrees[-1]", "(degrees[0][:, None] >= degrees[-1]")

# Stand-in for `python -m grader grade SUB --json OUT`: real intake and results.json, a test
# passes when its module has no stub left and (2b) no mutant; HANG / CRASH markers.
FAKE_GRADE = r"""
import sys, time, tempfile
from pathlib import Path
from grader.trusted import intake, manifest, results
sub, out = Path(sys.argv[1]), Path(sys.argv[2])
staged = intake.stage(sub, Path(tempfile.mkdtemp()) / "s")
text = {p.name: p.read_text() for p in staged.directory.glob("*.py")}
blob = "".join(text.values())
if "HANG" in blob: time.sleep(60)
if "CRASH" in blob: raise SystemExit("RuntimeError: the grader broke")
modules = {"1": "probability.py", "2": "made.py", "3": "pixelcnn.py", "4": "sampling.py",
           "5": "training.py", "6": "attention.py"}
class Outcome:
    def __init__(self, passed): self.passed, self.message = passed, "" if passed else "wrong"
m = manifest.load()
outcomes = {}
for t in m.tests:
    source = text.get(modules[t.part[0]], 'NotImplementedError("Part')
    ok = 'NotImplementedError("Part' not in source
    if t.part == "2b" and ">= degrees[-1]" in source: ok = False
    outcomes[t.id] = Outcome(ok)
results.write(results.build(m, outcomes, intake_problems=staged.problems), out)
"""


def _submission(folder: Path, source: Path, mutate: bool = False) -> Path:
    folder.mkdir(parents=True)
    for name in MODULES:
        text = (source / name).read_text()
        if mutate and name == "made.py":
            assert MUTATION[0] in text
            text = text.replace(*MUTATION)
        (folder / name).write_text(text)
    return folder


def _zip(path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in MODULES:
            archive.write(folder / name, name)
    return path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def _test_columns(rows):
    return [c for c in rows[0] if c not in batch.FIXED_COLUMNS and c[:1].isdigit()]


@pytest.fixture
def fake_grade(monkeypatch):
    calls = []

    def command(path, json_path, mode):
        calls.append(Path(path).name)
        return [sys.executable, "-c", FAKE_GRADE, str(path), str(json_path)]
    monkeypatch.setattr(batch, "grade_command", command)
    return calls


def test_end_to_end_sandboxed(tmp_path, monkeypatch):
    """The real thing: each submission graded by `python -m grader grade` in the sandbox."""
    fingerprint = batch.grader_fingerprint(MANIFEST)  # fixed: others may edit grader/ meanwhile
    monkeypatch.setattr(batch, "grader_fingerprint", lambda manifest, root=ROOT: fingerprint)
    subs = tmp_path / "subs"
    _submission(subs / "alice", ROOT / "reference")
    _submission(subs / "bob", ROOT / "starter")
    _submission(subs / "carol", ROOT / "reference", mutate=True)
    (subs / "dave.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    out, report = tmp_path / "grades.csv", tmp_path / "report"
    assert main(["batch", str(subs), "--csv", str(out), "--report", str(report),
                 "--jobs", "2"]) == 0
    rows = {r["submission"]: r for r in _rows(out)}
    assert set(rows) == {"alice", "bob", "carol", "dave.zip"}
    assert [c.split(" ")[0] for c in _test_columns(list(rows.values()))] == \
        [t.number for t in MANIFEST.tests]
    assert rows["alice"]["total"] == "40" and rows["alice"]["error"] == ""
    assert rows["alice"]["extra credit"] == "5"  # part 6, apart from the 40
    assert rows["bob"]["total"] == "0" and rows["bob"]["extra credit"] == "0"
    assert 0 < float(rows["carol"]["total"]) < 40
    assert rows["carol"][gradebook.test_column(MANIFEST.tests[5])] == "0"  # 2b.1
    assert rows["dave.zip"]["total"] == "0"
    assert "not a readable zip" in rows["dave.zip"]["error"]
    for name in ("report.md", "histogram.png"):
        assert (report / name).stat().st_size > 0
    # A re-run grades nothing: every result comes from the cache.
    monkeypatch.setattr(batch, "grade_command", lambda *a: pytest.fail("graded again"))
    assert main(["batch", str(subs), "--csv", str(tmp_path / "again.csv"),
                 "--report", str(report)]) == 0
    assert _rows(tmp_path / "again.csv") == _rows(out)


def test_gradescope_export_layout(tmp_path, fake_grade):
    """An export: a wrapping folder, submission_metadata.yml at the top, one folder per
    submission. A submission_metadata.json inside an upload is the student's: never read."""
    export = tmp_path / "assignment_123_export"
    _submission(export / "submission_1001", ROOT / "reference")
    _submission(export / "submission_1002", ROOT / "starter")
    _submission(export / "submission_1003", ROOT / "reference", mutate=True)
    (export / "submission_1003" / "submission_metadata.json").write_text(json.dumps({
        "id": 1003, "users": [{"name": "Alice A", "email": "alice@uni.edu", "sid": "11"}]}))
    (export / "submission_metadata.yml").write_text(
        "submission_1001:\n"
        "  :submitters:\n"
        "  - :name: Alice A\n"
        "    :sid: '11'\n"
        "    :email: alice@uni.edu\n"
        "  :created_at: 2024-02-01 10:00:00.000000000 -08:00\n"
        "  :score: 40.0\n"
        "submission_1002:\n"
        "  :submitters:\n"
        "  - :name: Bob B\n"
        "    :sid: '22'\n"
        "    :email: bob@uni.edu\n"
        "  :score: 0.0\n"
        "submission_1003:\n"
        "  :submitters:\n"
        "  - :name: Carol C\n"
        "    :sid: '33'\n"
        "    :email: carol@uni.edu\n"
        "  - :name: Dan D\n"
        "    :email: dan@uni.edu\n"
        "  :created_at: 2024-02-02 10:00:00.000000000 -08:00\n"
        "  :score: 40.0\n")
    out = tmp_path / "grades.csv"
    assert main(["batch", str(tmp_path), "--csv", str(out), "--jobs", "2",
                 "--due", "2024-02-01 23:59 -08:00"]) == 0
    rows = {r["student"]: r for r in _rows(out)}  # one row per student
    assert (rows["Alice A"]["submission"], rows["Alice A"]["email"], rows["Alice A"]["sid"]) \
        == ("submission_1001", "alice@uni.edu", "11")
    assert rows["Bob B"]["submission"] == "submission_1002"
    for member, email in (("Carol C", "carol@uni.edu"), ("Dan D", "dan@uni.edu")):
        assert (rows[member]["submission"], rows[member]["email"]) == ("submission_1003", email)
    assert [rows[k]["total"] for k in sorted(rows)] == ["40", "0", "36", "36"]
    assert [rows[k]["late"] for k in sorted(rows)] == ["no", "", "yes", "yes"]
    assert [rows[k]["gradescope score"] for k in sorted(rows)] == ["40.0", "0.0", "40.0", "40.0"]
    assert (tmp_path / batch.CACHE_NAME).is_dir()  # next to the CSV without --report


def test_errors_cache_and_regrade_diff(tmp_path, fake_grade, monkeypatch):
    # Pinned: the real fingerprint moves whenever anyone edits grader/ or the tests.
    monkeypatch.setattr(batch, "grader_fingerprint", lambda manifest, root=ROOT: "v1")
    subs = tmp_path / "subs"
    ref = _submission(subs / "ref", ROOT / "reference")
    _submission(subs / "mutant", ROOT / "reference", mutate=True)
    _zip(subs / "starter.zip", ROOT / "starter")
    (subs / "corrupt.zip").write_bytes(b"\x00" * 100)
    hang = _submission(subs / "hang", ROOT / "reference")
    (hang / "made.py").write_text("HANG\n")
    crash = _submission(subs / "crash", ROOT / "reference")
    (crash / "made.py").write_text("CRASH\n")
    (subs / "notes.txt").write_text("not a submission")
    out, report = tmp_path / "first.csv", tmp_path / "report"
    args = ["--report", str(report), "--jobs", "2", "--timeout", "3"]
    assert main(["batch", str(subs), "--csv", str(out), *args]) == 0
    rows = {r["submission"]: r for r in _rows(out)}
    assert set(rows) == {"ref", "mutant", "starter.zip", "corrupt.zip", "hang", "crash"}
    assert (rows["ref"]["total"], rows["mutant"]["total"], rows["starter.zip"]["total"]) == \
        ("40", "36", "0")
    assert rows["starter.zip"]["student"] == "starter"
    assert rows["corrupt.zip"]["error"].startswith("submission: the upload is not a readable zip")
    assert rows["hang"]["total"] == "" and "timed out after 3 s" in rows["hang"]["error"]
    assert rows["crash"]["total"] == "" and "grader failed" in rows["crash"]["error"]
    assert "the grader broke" in rows["crash"]["error"]
    text = (report / "report.md").read_text()
    assert "| 2b.1 MADE masks" in text and "timed out" in text and "## Slowest" in text

    # Re-run after ref and mutant swapped contents: the cache is by content, so both come
    # from it; errors (timeout, grader crash) are tried again.
    fake_grade.clear()
    (ref / "made.py").write_text((ref / "made.py").read_text().replace(*MUTATION))  # ref: 36
    (subs / "mutant" / "made.py").write_text((ROOT / "reference" / "made.py").read_text())
    new = tmp_path / "second.csv"
    assert main(["batch", str(subs), "--csv", str(new), "--previous", str(out), *args]) == 0
    assert sorted(fake_grade) == ["crash", "hang"]
    diff = (report / "regrade.md").read_text()
    assert "2 students changed, 4 unchanged" in diff  # hang and crash: same errors
    ref_line = next(l for l in diff.splitlines() if l.startswith("| ref "))
    assert "| 40 | 36 | -4 |" in ref_line and "-1.5 2b.1" in ref_line and "-2.5 2b.2" in ref_line
    mutant_line = next(l for l in diff.splitlines() if l.startswith("| mutant "))
    assert "+4" in mutant_line and "+1.5 2b.1" in mutant_line

    # A grader change invalidates the cache.
    fake_grade.clear()
    monkeypatch.setattr(batch, "grader_fingerprint", lambda manifest, root=ROOT: "changed")
    assert main(["batch", str(subs), "--csv", str(new), *args]) == 0
    assert len(fake_grade) == 6


def test_yml_parser_and_default_jobs():
    parsed = export.parse_export_yml(
        "submission_7:\n  :submitters:\n  - :name: \"X Y\"\n    :sid: '7'\n"
        "  - :name: Z\n    :email: z@u\n  :created_at: now\n  :score: 3.0\n"
        "submission_8:\n  :submitters: []\n")
    assert parsed == {"submission_7": {"submitters": [{"name": "X Y", "sid": "7"},
                                                      {"name": "Z", "email": "z@u"}],
                                       "created_at": "now", "score": "3.0"},
                      "submission_8": {"submitters": []}}
    assert batch.default_jobs() >= 1


def test_part_columns_and_every_submission_problem_reach_the_csv_and_report(tmp_path,
                                                                            fake_grade):
    subs = tmp_path / "subs"
    _submission(subs / "mutant", ROOT / "reference", mutate=True)
    files = {f"{m}.py": (ROOT / "reference" / f"{m}.py").read_bytes() for m in STUDENT_MODULES}
    del files["made.py"], files["pixelcnn.py"]
    files["sampling.py"] = b"# caf\xe9\n"
    with zipfile.ZipFile(subs / "broken.zip", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    out, report = tmp_path / "grades.csv", tmp_path / "report"
    assert main(["batch", str(subs), "--csv", str(out), "--report", str(report)]) == 0
    rows = {r["submission"]: r for r in _rows(out)}
    columns = list(rows["mutant"])
    parts = [c for c in columns if c.startswith("part ")]
    assert parts == [gradebook.part_column(p) for p in MANIFEST.parts]
    assert columns.index(parts[-1]) < columns.index(_test_columns([rows["mutant"]])[0])
    for row in rows.values():  # a part's column is the sum of its tests' columns
        for part in MANIFEST.parts:
            tests = [float(row[gradebook.test_column(t)]) for t in MANIFEST.tests if t.part == part]
            assert float(row[gradebook.part_column(part)]) == sum(tests)
    assert float(rows["mutant"][gradebook.part_column("2b")]) < 4
    error = rows["broken.zip"]["error"]
    for words in ("made.py is missing", "pixelcnn.py is missing", "sampling.py is not valid"):
        assert words in error, error  # every problem, not the first "(+2 more)"
    text = (report / "report.md").read_text()
    assert all(words in text for words in ("made.py is missing", "sampling.py is not valid"))


def test_histogram_counts_whole_submissions():
    from grader.staff import report
    import matplotlib.pyplot as plt
    figure = report.histogram_figure([40, 38.5, 40, 12])
    ticks = figure.axes[0].get_yticks()
    plt.close(figure)
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
