"""What students and staff see (issue 12): one score table everywhere, tests that did not run
shown as not run, the Gradescope summary, the students' pytest output and debugger, refused
modules on every test row, staff-only notes, repository hygiene."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from grader import ROOT
from grader.trusted import judge, manifest as manifest_module, results, scores
from grader.trusted.plugin import Result

MANIFEST = manifest_module.load()
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (sandbox user)")
LONG = ("made_masks: wrong values (looks like the hidden masks use > where they need >=); "
        "4 of 12 entries differ and the rest of this line is the hint a student needs")


def public_only_outcomes(fail_part="2b", message=LONG):
    """Every public test ran (one fails with `message`), no hidden test ran."""
    return {t.id: Result(t.part != fail_part, "" if t.part != fail_part else message)
            for t in MANIFEST.tests if t.public}


def python(*args, cwd=ROOT, timeout=300, stdin=None):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


# ----------------------------------------------------------------- the score table
def test_tests_that_did_not_run_are_counted_apart_not_as_failures():
    final = results.build(MANIFEST, public_only_outcomes(),
                          not_run_message=scores.HIDDEN_NOT_RUN)
    hidden = [t for t in final["tests"] if t["visibility"] != "visible"]
    assert hidden and all(scores.not_run(t) for t in hidden)
    assert not any(scores.not_run(t) for t in final["tests"] if t["visibility"] == "visible")
    rows = {r.part: r for r in scores.rows(final, MANIFEST)}
    for part, row in rows.items():
        public = [t for t in MANIFEST.tests if t.part == part and t.public]
        assert row.tests == len(public) and row.ran == sum(t.points for t in public)
        assert row.not_run == sum(t.points for t in MANIFEST.tests
                                  if t.part == part and not t.public)
        assert row.passed == (0 if part == "2b" else len(public))
        assert row.problem == (LONG if part == "2b" else "")  # the whole line, hint included
    text = scores.text(final, MANIFEST)
    assert LONG in text and "Total: " in text
    assert not any(line.startswith("1a") and "not run" in line.split("1 pt")[-1]
                   for line in text.splitlines())  # the reason is said once, below the table


def test_a_full_grading_has_no_not_run_column():
    outcomes = {t.id: Result(True) for t in MANIFEST.tests}
    final = results.build(MANIFEST, outcomes)
    text = scores.text(final, MANIFEST)
    assert "not run" not in text and "Total: 40 / 40, extra credit 5 / 5" in text
    assert final["score"] == 45  # Gradescope takes a score above the assignment's 40


def test_extra_credit_is_shown_apart():
    """Part 6 below the regular parts, under a heading, totalled apart; a submission
    without it loses no regular point."""
    outcomes = {t.id: Result(not MANIFEST.extra(t.part), "attention.py was not submitted")
                for t in MANIFEST.tests}
    final = results.build(MANIFEST, outcomes)
    assert scores.split(final, MANIFEST) == (40, 0) and final["score"] == 40
    assert {t["tags"][0] for t in final["tests"] if "extra" in t["tags"]} == {"6a", "6b", "6c"}
    lines = scores.text(final, MANIFEST).splitlines()
    heading = lines.index(f"{scores.EXTRA_HEADING}:")
    assert [line[:2] for line in lines[heading + 1:heading + 4]] == ["6a", "6b", "6c"]
    assert lines[-1] == "Total: 40 / 40, extra credit 0 / 5"
    assert "| 6b | CausalSelfAttention.forward (extra credit) |" in final["output"]


def test_one_table_everywhere(tmp_path):
    """grade, make_submission.py and pytest print scores.text; so does grader gradescope."""
    from grader.staff import gradescope
    final = results.build(MANIFEST, public_only_outcomes(),
                          intake_problems=["made.py line 3: SyntaxError: invalid syntax"],
                          not_run_message=scores.HIDDEN_NOT_RUN)
    assert judge.table(final, MANIFEST) == scores.text(final, MANIFEST)
    assert gradescope.summary(final) == scores.text(final, MANIFEST)
    assert "made.py line 3: SyntaxError" in scores.text(final, MANIFEST)


# ----------------------------------------------------------------- Gradescope's summary
def test_gradescope_output_is_the_part_table_without_hidden_outcomes():
    outcomes = {t.id: Result(t.public, "" if t.public else "SECRET hidden failure")
                for t in MANIFEST.tests}
    final = results.build(MANIFEST, outcomes)
    assert final["output_format"] == "md" and results.validate(final) == []
    output = final["output"]
    assert "SECRET" not in output  # hidden outcomes wait for publication
    rows = [line for line in output.splitlines() if line.startswith("| ")][1:]
    assert [r.split("|")[1].strip() for r in rows] == list(MANIFEST.parts)
    public = {extra: sum(t.points for t in MANIFEST.tests if t.public
                         and MANIFEST.extra(t.part) == extra) for extra in (False, True)}
    assert (f"Public tests: {public[False]:g} / {public[False]:g} points, extra credit "
            f"{public[True]:g} / {public[True]:g}") in output and scores.HIDDEN_WHEN in output
    for part in MANIFEST.parts:  # each part's hidden points, with when they are shown
        hidden = sum(t.points for t in MANIFEST.tests if t.part == part and not t.public)
        row = next(r for r in rows if r.split("|")[1].strip() == part)
        assert f"{hidden:g} pt" in row and "published" in row


def test_release_placeholders_say_when_hidden_results_are_shown(tmp_path):
    from grader.staff import build
    path = tmp_path / "manifest.toml"
    path.write_text(build.release_manifest(MANIFEST))
    release = manifest_module.load(path)
    final = results.build(release, {t.id: Result(True) for t in release.tests if t.public},
                          not_run_message=scores.HIDDEN_NOT_RUN)
    placeholders = [t for t in final["tests"] if t["visibility"] != "visible"]
    assert placeholders and all(scores.not_run(t) for t in placeholders)
    assert all(scores.HIDDEN_WHEN in t["output"] for t in placeholders)
    assert all(scores.HIDDEN_WHEN in t["name"] for t in placeholders)


# ----------------------------------------------------------------- students' pytest
def test_pytest_on_the_stubs_prints_one_line_per_failing_test_and_the_part_table():
    done = python("-m", "pytest", "tests_public")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    public = [t for t in MANIFEST.tests if t.public]
    for test in public:  # one line each: number, test, reason
        name = test.id.split("::", 1)[1]
        mine = [line for line in lines if line.startswith(test.number + " ")]
        assert len(mine) == 1 and name in mine[0] and "NotImplementedError: Part" in mine[0]
    for part in MANIFEST.parts:
        assert sum(line.startswith(f"{part} ") for line in lines) == 1
    assert "Traceback" not in done.stdout and "grader/" not in done.stdout
    assert len(lines) < len(public) + len(MANIFEST.parts) + 25, done.stdout


@pytest.fixture
def buggy(tmp_path):
    copy = tmp_path / "mine"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "probability.py"
    path.write_text(path.read_text().replace(
        "# BEGIN SOLUTION 1a\n", "# BEGIN SOLUTION 1a\n    p = torch.cat([p, q], dim=5)\n", 1))
    return copy


def test_tracebacks_start_in_the_students_code(buggy):
    done = python("-m", "pytest", "tests_public", "--submission", str(buggy), "-k", "kl")
    out = done.stdout
    assert f"{buggy}/probability.py:" in out and "in kl_divergence" in out, out
    section = out.split("FAILURES", 1)[1].split("PS1:", 1)[0]
    assert "grader/" not in section and "tests_public/" not in section, section
    assert any(line.startswith("1a.1 ") and "IndexError" in line for line in out.splitlines())


def test_pdb_opens_in_the_students_frame(buggy):
    done = python("-m", "pytest", "tests_public", "--submission", str(buggy), "-k", "kl",
                  "--pdb", stdin="p 'frame-' + __name__\nq\n")
    prompt = [line for line in done.stdout.splitlines() if line.startswith("> ")]
    assert prompt and prompt[0].startswith(f"> {buggy}/probability.py("), done.stdout[-3000:]


def test_pdb_opens_in_the_test_when_a_check_fails(tmp_path):
    copy = tmp_path / "mine"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "probability.py"
    path.write_text(path.read_text().replace("# BEGIN SOLUTION 1d\n",
                                             "# BEGIN SOLUTION 1d\n    return nll_nats\n", 1))
    done = python("-m", "pytest", "tests_public", "--submission", str(copy), "-k", "bits",
                  "--pdb", stdin="p got\nq\n")
    prompt = [line for line in done.stdout.splitlines() if line.startswith("> ")]
    assert prompt and "tests_public/test_probability.py(" in prompt[0], done.stdout[-3000:]
    assert "checks.py" not in done.stdout


# ----------------------------------------------------------------- refused modules
@pytest.mark.parametrize("mode", ["sandbox", "inprocess"])
def test_a_refused_module_is_named_once_on_every_test_row(tmp_path, mode):
    upload = tmp_path / "upload"
    shutil.copytree(ROOT / "reference", upload, ignore=shutil.ignore_patterns("__pycache__"))
    (upload / "made.py").write_bytes(b"# caf\xe9\n" + (upload / "made.py").read_bytes())
    out = tmp_path / "results.json"
    done = python("-m", "grader", "grade", str(upload), "--json", str(out), "--mode", mode,
                  timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    final = json.loads(out.read_text())
    made = [t for t in final["tests"] if t["tags"][0] in ("2a", "2b", "2c", "2d")]
    for test in made:
        assert test["status"] == "failed"
        body = test["output"].strip("`\n ")
        assert body.startswith("made.py was not graded: it is not valid UTF-8"), body
        assert body.count("was not graded") == 1
    assert final["score"] == 35  # 30 of the 40, and the extra credit


# ----------------------------------------------------------------- staff-only notes
@ROOT_ONLY
def test_sandbox_notes_are_one_line_for_staff_and_none_for_students(tmp_path):
    done = python("-m", "grader", "grade", "starter", "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    notes = [line for line in done.stderr.splitlines() if "staff note" in line]
    assert len(notes) <= 1 and done.stderr.strip() == "\n".join(notes)  # nothing else
    done = python("make_submission.py", "--out", str(tmp_path / "submission.zip"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "staff note" not in done.stdout + done.stderr
    assert "Total: 0 / 40, extra credit 0 / 5" in done.stdout
    assert "Warning" not in done.stderr


# ----------------------------------------------------------------- repository hygiene
@pytest.mark.parametrize("path", [".venv", "results.json", "submission.zip"])
def test_generated_files_at_the_root_are_ignored(path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
    assert done.returncode == 0, f"{path} is not ignored by .gitignore"
