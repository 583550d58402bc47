"""`python -m grader batch`: one real sandboxed end-to-end run (reference, starter, a mutant,
a corrupt zip), the rest with a fast stand-in for the `grade` subprocess."""
import csv
import os
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from grader import ROOT, STUDENT_MODULES
from grader.staff import batch, export, gradebook
from grader.trusted import manifest as manifest_module
from grader.trusted.text import table_cell
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

    def command(path, json_path, mode, answers=None):
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
    # The reference's timed runs (MADE, PixelCNN) were measured once and kept for the batch.
    kept = list(tmp_path.rglob("answers/*/*.json"))
    assert len(kept) >= 2
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
    ref_line = next(l for l in diff.splitlines() if l.startswith("| ` ref ` "))  # a student name: code
    assert "| 40 | 36 | -4 |" in ref_line and "-1.5 2b.1" in ref_line and "-2.5 2b.2" in ref_line
    mutant_line = next(l for l in diff.splitlines() if l.startswith("| ` mutant ` "))
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


# ----------------------------------------------------------------------------- issue 20
def _export(folder: Path, members: dict) -> Path:
    """A Gradescope export: key -> (source, [(name, email, sid)], created_at, score)."""
    lines = []
    for key, (source, people, created, score) in members.items():
        mutant = source == "mutant"
        made = _submission(folder / key, ROOT / "reference" if mutant else source,
                           mutate=mutant)
        with open(made / "probability.py", "a") as stream:
            stream.write(f"\n# {key}\n")  # distinct bytes: the cache is by content
        lines += [f"{key}:", "  :submitters:"]
        for name, email, sid in people:
            lines += [f"  - :name: {name}", f"    :sid: '{sid}'", f"    :email: {email}"]
        lines += [f"  :created_at: {created}", f"  :score: {score}"]
    (folder / export.METADATA_YML).write_text("\n".join(lines) + "\n")
    return folder


def _course(folder: Path, count: int) -> Path:
    sources = [ROOT / "reference", ROOT / "starter"]
    return _export(folder, {f"submission_{i}": (sources[i % 2], [(f"S{i}", f"s{i}@u", str(i))],
                                                "2024-02-01 10:00:00 -08:00", "40.0")
                            for i in range(count)})


def test_shards_assemble_to_the_csv_of_one_unsharded_run(tmp_path, fake_grade, monkeypatch):
    """Three shard processes on one shared cache, then --assemble: the same CSV as one run
    (but the `seconds` column, a measurement); assembling grades nothing."""
    import multiprocessing
    course = _course(tmp_path / "course", 7)
    whole = tmp_path / "whole.csv"
    assert main(["batch", str(course), "--csv", str(whole), "--cache", str(tmp_path / "c1")]) == 0
    fork = multiprocessing.get_context("fork")  # the children keep the stand-in grader
    shards = [fork.Process(target=lambda k=k: sys.exit(main([
        "batch", str(course), "--shard", f"{k}/3", "--cache", str(tmp_path / "c2")])))
        for k in range(3)]
    for shard in shards:
        shard.start()
    for shard in shards:
        shard.join()
    assert [shard.exitcode for shard in shards] == [0, 0, 0]
    monkeypatch.setattr(batch, "grade_command", lambda *a: pytest.fail("assemble graded"))
    assembled = tmp_path / "assembled.csv"
    assert main(["batch", str(course), "--assemble", "--cache", str(tmp_path / "c2"),
                 "--csv", str(assembled)]) == 0

    def without_seconds(path):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in _rows(path)]
    assert without_seconds(assembled) == without_seconds(whole) and len(_rows(whole)) == 7
    assert {r["total"] for r in _rows(whole)} == {"40", "0"}
    counts = [sum(batch.in_shard(f"submission_{i}", (k, 3)) for i in range(7)) for k in range(3)]
    assert sum(counts) == 7 and max(counts) < 7  # a partition, not one shard doing it all


def test_assemble_marks_what_no_shard_graded(tmp_path, fake_grade):
    course = _course(tmp_path / "course", 4)
    cache = tmp_path / "cache"
    assert main(["batch", str(course), "--shard", "0/2", "--cache", str(cache)]) == 0
    out = tmp_path / "out.csv"
    assert main(["batch", str(course), "--assemble", "--cache", str(cache),
                 "--csv", str(out)]) == 0
    rows = _rows(out)
    missing = [r for r in rows if not batch.in_shard(r["submission"], (0, 2))]
    assert missing and all(r["error"] == batch.NOT_GRADED and r["total"] == "" for r in missing)
    assert all(r["total"] for r in rows if r not in missing)


def test_a_points_change_rescores_from_the_cache_without_grading(tmp_path, fake_grade,
                                                                  monkeypatch):
    """20 cached submissions; points, visibility, names and part titles change: re-scored
    from the cache in under 10 s, nothing graded; regrade.md lists only changed totals."""
    import time
    import tomllib
    from grader.trusted import manifest as manifest_module
    course = _course(tmp_path / "course", 20)
    first, report = tmp_path / "first.csv", tmp_path / "report"
    assert main(["batch", str(course), "--csv", str(first), "--report", str(report)]) == 0
    assert len(fake_grade) == 20
    raw = (ROOT / "grader" / "trusted" / "manifest.toml").read_text()
    made_test = next(t for t in MANIFEST.tests if t.part == "2b")
    changed = raw.replace('title = "made_masks"', 'title = "renamed"')
    changed = changed.replace('name = "KL divergence', 'name = "Renamed KL divergence')
    data = tomllib.loads(raw)
    old_points = data["tests"][made_test.id]["points"]
    block = changed.index(f'[tests."{made_test.id}"]')
    changed = (changed[:block] + changed[block:].replace(f"points = {old_points:g}",
                                                         f"points = {old_points + 1:g}", 1))
    changed = changed.replace('visibility = "after_published"', 'visibility = "hidden"')
    (tmp_path / "manifest.toml").write_text(changed)
    real_load = manifest_module.load
    monkeypatch.setattr(manifest_module, "load", lambda path=None: real_load(
        tmp_path / "manifest.toml"))
    fake_grade.clear()
    started = time.monotonic()
    second = tmp_path / "second.csv"
    assert main(["batch", str(course), "--csv", str(second), "--report", str(report),
                 "--previous", str(first)]) == 0
    assert time.monotonic() - started < 10 and fake_grade == []
    before, after = _rows(first), _rows(second)
    for old, new in zip(before, after):
        full = old["total"] == "40"
        assert float(new["total"]) == float(old["total"]) + (1 if full else 0)
    diff = (report / "regrade.md").read_text()
    assert "10 students changed, 10 unchanged" in diff  # the starter's 0 stays 0: not listed
    line = next(l for l in diff.splitlines() if l.startswith(f"| {table_cell('S0')} "))
    assert f"2b {4:g} → {5:g}" in line and "| 40 | 41 | +1 |" in line


def test_export_zip_groups_late_gradescope_scores_and_canvas(tmp_path, fake_grade):
    """The export zip as downloaded: a group gets one row per member, a late flag from --due,
    Gradescope's score beside the local one, the students it would change listed, a Canvas
    gradebook, and per student the first test of each part that lost points."""
    export_dir = _export(tmp_path / "assignment_9_export", {
        "submission_1": (ROOT / "reference", [("Ann", "ann@u", "1")],
                         "2024-02-01 10:00:00.000000000 -08:00", "45.0"),
        "submission_2": ("mutant", [("Ben", "ben@u", "2"), ("Cat", "cat@u", "3")],
                         "2024-02-03 09:00:00.000000000 -08:00", "40.0")})
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(export_dir.rglob("*")):
            out.write(path, str(path.relative_to(tmp_path)))
    csv_path, canvas, report = tmp_path / "g.csv", tmp_path / "canvas.csv", tmp_path / "r"
    assert main(["batch", str(archive), "--csv", str(csv_path), "--canvas", str(canvas),
                 "--report", str(report), "--due", "2024-02-02 23:59 -08:00"]) == 0
    rows = {r["student"]: r for r in _rows(csv_path)}
    assert sorted(rows) == ["Ann", "Ben", "Cat"]
    assert [rows[s]["late"] for s in ("Ann", "Ben", "Cat")] == ["no", "yes", "yes"]
    assert rows["Ben"]["total"] == rows["Cat"]["total"] == "36"
    assert rows["Ben"]["gradescope score"] == "40.0"
    assert rows["Ben"]["first lost"].startswith("2b.1 ") and rows["Ann"]["first lost"] == ""
    text = (report / "report.md").read_text()
    changes = text.split("## Gradescope scores a regrade would change (2)")[1].split("##")[0]
    assert "Ben" in changes and "Cat" in changes and "Ann" not in changes
    assert f"[{table_cell('Ben')}](students.md#student-1)" in text
    students = (report / "students.md").read_text()
    assert '<a id="student-1"></a>' in students and "part 2b" in students
    with open(canvas, newline="") as stream:
        lines = list(csv.reader(stream))
    assert lines[0] == gradebook.CANVAS_COLUMNS + ["PS1 autograder"]
    assert lines[1][0] == "Points Possible" and lines[1][-1] == "40"
    assert sorted((l[0], l[2], l[3], l[-1]) for l in lines[2:]) == [
        ("Ann", "1", "ann@u", "45"), ("Ben", "2", "ben@u", "41"), ("Cat", "3", "cat@u", "41")]
    assert not list((report / batch.CACHE_NAME / "exports").iterdir())  # unpacked, then gone


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil", "a/../../evil"])
def test_an_export_zip_cannot_write_outside_its_folder(tmp_path, name):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("submission_1/made.py", "x")
        out.writestr(name, "escaped")
    with pytest.raises(ValueError, match="outside"):
        export.unpack_export(archive, tmp_path / "into")
    assert not (tmp_path / "evil.py").exists() and list((tmp_path / "into").iterdir()) == []


def test_an_export_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "MAX_UNPACKED", 1 << 20)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("submission_1/made.py", b"\0" * (2 << 20))
    with pytest.raises(ValueError, match="more than"):
        export.unpack_export(archive, tmp_path / "into")


def test_bad_uploads_cost_their_own_row_and_cells_never_run_as_formulas(tmp_path, fake_grade):
    """A very deep folder tree is an error row of its own, a non-UTF-8 name with a newline is
    graded as usual; a display name like =HYPERLINK(...) reaches the CSV as text, not as a
    formula."""
    course = _export(tmp_path / "course", {
        "submission_1": (ROOT / "reference", [('=HYPERLINK("http://x","y")', "+a@u", "-1")],
                         "2024-02-01 10:00:00 -08:00", "@40")})
    deep = course / "deep"
    _submission(deep, ROOT / "reference")
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(export.MAX_DEPTH + 5):  # by descriptor: deeper than a path may be long
        os.mkdir("d", dir_fd=fd)
        fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)
    weird = _submission(course / os.fsdecode(b"caf\xe9\n=1+1"), ROOT / "reference")
    out = tmp_path / "out.csv"
    assert main(["batch", str(course), "--csv", str(out)]) == 0
    with open(out, newline="") as stream:
        raw = list(csv.reader(stream))
    assert all(not cell.startswith(("=", "+", "-", "@")) for line in raw for cell in line)
    rows = {r["submission"]: r for r in _rows(out)}
    assert rows["submission_1"]["student"].startswith("'=HYPERLINK")
    assert rows["submission_1"]["total"] == "40"
    assert "nest more than" in rows["deep"]["error"] and rows["deep"]["total"] == ""
    assert rows["caf\\xe9\\n=1+1"]["total"] == "40" and weird.exists()


def test_kubernetes_job_runs_one_shard_per_pod_of_the_image_built_by_setup_sh():
    """deploy/k8s/: completions = parallelism = the N of `--shard ${JOB_COMPLETION_INDEX}/N`;
    the image runs the autograder zip's setup.sh on Gradescope's base image and the same
    interpreter run_autograder grades with."""
    import re
    job = (ROOT / "deploy" / "k8s" / "batch-job.yaml").read_text()
    assert "completionMode: Indexed" in job
    shards = re.search(r'--shard "\$\{JOB_COMPLETION_INDEX\}/(\d+)"', job).group(1)
    assert re.search(r"completions: (\d+)", job).group(1) == shards
    assert re.search(r"parallelism: (\d+)", job).group(1) == shards
    docker = (ROOT / "deploy" / "k8s" / "Dockerfile").read_text()
    assert re.search(r"^FROM gradescope/autograder-base:", docker, re.M)
    assert "bash setup.sh" in docker and "COPY grader/staff" in docker
    python = re.search(r'PS1_PYTHON:-([^}]+)\}', (ROOT / "grader" / "staff" / "templates" /
                                                   "run_autograder").read_text()).group(1)
    assert f'ENTRYPOINT ["{python}", "-m", "grader", "batch"]' in docker
