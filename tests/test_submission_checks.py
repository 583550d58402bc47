"""Bad uploads at the intake (what the judge writes before any student code runs, and keeps as
the first test of the final results.json) and make_submission.py's checks and refusals. Fast:
no grading run here; tests/test_release.py sends a hostile zip through the Gradescope path."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import STUDENT_MODULES
from grader.trusted import intake, manifest, results, submit
from grader.trusted.results import validate

ROOT = Path(__file__).resolve().parents[1]
STARTER = ROOT / "starter"
MODULES = [f"{m}.py" for m in STUDENT_MODULES]


def starter_files() -> dict:
    return {name: (STARTER / name).read_bytes() for name in MODULES}


def make_zip(path: Path, files: dict, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(prefix + name, data)
    return path


def staged_results(upload: Path, tmp_path: Path):
    """Stage like the judge and build the provisional results.json the judge writes."""
    staged = intake.stage(upload, tmp_path / "staged")
    final = results.build(manifest.load(), {}, intake_problems=staged.problems,
                          not_run_message="not run (grading did not finish)")
    results.write(final, tmp_path / "out" / "results.json")
    final = json.loads((tmp_path / "out" / "results.json").read_text())
    assert validate(final) == []
    assert len(final["tests"]) >= len(manifest.load().tests)
    return staged, final


def first_message(final) -> str:
    first = final["tests"][0]
    assert first["name"] == results.INTAKE_NAME and first["status"] == "failed"
    assert first["visibility"] == "visible"
    return first["output"]


def test_empty_zip(tmp_path):
    upload = make_zip(tmp_path / "empty.zip", {})
    staged, final = staged_results(upload, tmp_path)
    assert "the zip is empty" in first_message(final)
    assert not staged.found


def test_wrapping_folder_is_graded_normally(tmp_path):
    files = starter_files()
    files["__init__.py"] = b""
    upload = make_zip(tmp_path / "wrapped.zip", files, prefix="my_ps1/starter/")
    staged, final = staged_results(upload, tmp_path)
    assert staged.problems == [] and final["tests"][0]["name"] != results.INTAKE_NAME
    assert sorted(p.name for p in staged.directory.iterdir()) == sorted(MODULES)


def test_missing_module(tmp_path):
    files = starter_files()
    del files["made.py"]
    _, final = staged_results(make_zip(tmp_path / "missing.zip", files), tmp_path)
    assert "made.py is missing" in first_message(final)


def test_optional_attention_absent_is_no_problem(tmp_path):
    """attention.py (extra credit) may be left out: no submission check, the five staged."""
    files = starter_files()
    del files["attention.py"]
    staged, final = staged_results(make_zip(tmp_path / "five.zip", files), tmp_path)
    assert staged.problems == [] and staged.refused == {}
    assert final["tests"][0]["name"] != results.INTAKE_NAME
    assert sorted(p.name for p in staged.directory.iterdir()) == sorted(files)


def test_optional_attention_refused_says_why(tmp_path):
    files = starter_files()
    files["attention.py"] = b"# caf\xe9\n"
    staged, final = staged_results(make_zip(tmp_path / "bad.zip", files), tmp_path)
    assert "attention.py is not valid UTF-8" in first_message(final)
    assert "attention.py" in staged.refused


def test_syntax_error(tmp_path):
    files = starter_files()
    files["sampling.py"] = b"import torch\n\ndef sample_pixels(:\n    pass\n"
    staged, final = staged_results(make_zip(tmp_path / "syntax.zip", files), tmp_path)
    assert "sampling.py line 3: SyntaxError" in first_message(final)
    assert (staged.directory / "sampling.py").exists()  # staged: each test shows the error too


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_dotdot_and_symlink_refused_nothing_written_outside(tmp_path):
    files = starter_files()
    upload = tmp_path / "evil.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("../../escaped.py", "x = 1\n")
        archive.writestr("/abs/made.py", "x = 1\n")
        link = zipfile.ZipInfo("made.py")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    staged, final = staged_results(upload, tmp_path / "deep" / "er")
    message = first_message(final)
    assert "refused ../../escaped.py" in message and "refused /abs/made.py" in message
    assert "symbolic links are not allowed" in message
    assert not list(tmp_path.rglob("escaped.py"))
    assert (staged.directory / "made.py").read_bytes() == files["made.py"]  # the real file


def test_200_mb_members(tmp_path):
    """Declared huge, deflated small: nothing near 200 MB touches the disk."""
    files = starter_files()
    upload = tmp_path / "huge.zip"
    with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if name != "training.py":
                archive.writestr(name, data)
        for name in ("training.py", "checkpoint.pt"):
            with archive.open(name, "w", force_zip64=True) as member:
                for _ in range(200):
                    member.write(b"#" * (1 << 20))
    assert upload.stat().st_size < 5 << 20
    staged, final = staged_results(upload, tmp_path)
    message = first_message(final)
    assert "training.py is 200 MB, over the 1 MB limit" in message
    assert "ignored checkpoint.pt (200 MB)" in message
    assert sum(p.stat().st_size for p in staged.directory.iterdir()) < 1 << 20


def test_non_utf8_source(tmp_path):
    files = starter_files()
    files["probability.py"] = "# Grüße\n".encode("latin-1") + files["probability.py"]
    _, final = staged_results(make_zip(tmp_path / "latin1.zip", files), tmp_path)
    assert "probability.py is not valid UTF-8" in first_message(final)


# ----------------------------------------------------------------- make_submission.py checks
@pytest.fixture
def work(tmp_path):
    folder = tmp_path / "starter"
    shutil.copytree(STARTER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_clean_starter_passes_the_checks(work):
    assert submit.check(work, imports=False) == ([], [], [])


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "made.py").unlink(), "starter/made.py is missing"),
    (lambda d: (d / "model.pt").write_bytes(b"\0" * 10), "starter/model.pt: checkpoints"),
    (lambda d: (d / "samples.png").write_bytes(b"\x89PNG"), "starter/samples.png"),
    (lambda d: (d / "notes.txt").write_bytes(b"a" * (2 << 20)), "over the 1 MB cap"),
    (lambda d: (d / "probability.py").write_bytes(b"x = '\xe9'\n"), "is not UTF-8"),
    (lambda d: ((d / "made.py").unlink(), (d / "made.py").symlink_to(STARTER / "made.py")),
     "starter/made.py is a symbolic link"),
])
def test_refusals_name_the_file_and_the_fix(work, damage, words):
    damage(work)
    refusals, _, _ = submit.check(work, imports=False)
    assert len(refusals) == 1 and words in refusals[0], refusals


def test_changed_signature_warns(work):
    path = work / "training.py"
    path.write_text(path.read_text().replace("    steps: int,", "    n_steps: int,"))
    refusals, warnings, notes = submit.check(work, imports=False)
    assert refusals == [] and notes == [] and len(warnings) == 1, warnings
    assert "train has parameters" in warnings[0] and "steps=" in warnings[0]


def test_signature_warnings_are_true(work, tmp_path):
    """A renamed parameter the grader passes by position costs nothing (a note); one it
    passes by name fails the tests that pass it (a warning): checked by grading."""
    reference = tmp_path / "mine"
    shutil.copytree(ROOT / "reference", reference, ignore=shutil.ignore_patterns("__pycache__"))
    made, training = reference / "made.py", reference / "training.py"
    made.write_text(made.read_text().replace("def made_masks(degrees", "def made_masks(degs")
                    .replace("zip(degrees[:-1], degrees[1:])", "zip(degs[:-1], degs[1:])")
                    .replace("masks.append((degrees[0]", "masks.append((degs[0]")
                    .replace("degrees[-1][None, :]", "degs[-1][None, :]"))
    training.write_text(training.read_text().replace("    steps: int,", "    n_steps: int,")
                        .replace("len(losses) < steps", "len(losses) < n_steps"))
    refusals, warnings, notes = submit.check(reference, imports=False)
    assert refusals == [] and len(warnings) == 1 and len(notes) == 1, (warnings, notes)
    assert "made_masks" in notes[0] and "train" in warnings[0]
    out = tmp_path / "public.json"  # a process of its own: the judge must not hold torch
    done = subprocess.run([sys.executable, "-c", "import json, sys; from pathlib import Path; "
                           "from grader.trusted import submit; Path(sys.argv[2]).write_text("
                           "json.dumps(submit.public_tests(Path(sys.argv[1]))))",
                           str(reference), str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    final = json.loads(out.read_text())
    lost = sorted({t["tags"][0] for t in final["tests"]
                   if t["status"] == "failed" and t["visibility"] == "visible"})
    assert lost == ["5b", "5c"], [(t["name"], t["output"][:200]) for t in final["tests"]
                                  if t["status"] == "failed" and t["visibility"] == "visible"]


def test_the_names_passed_by_name_are_the_probes_keywords():
    """signatures.BY_NAME says which arguments the grader passes by name: it must be what
    the worker's probes do (read from their source)."""
    import ast
    from grader.trusted import signatures
    sources = [(ROOT / "grader" / "worker" / name).read_text()
               for name in ("probes.py", "training_probes.py")]
    found = {}
    for node in (n for source in sources for n in ast.walk(ast.parse(source))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            chain, target = [], node.func
            while isinstance(target, ast.Attribute):
                chain.insert(0, target.attr)
                target = target.value
            if isinstance(target, ast.Name) and target.id == "student" and len(chain) >= 2:
                name = ".".join(chain)
                if chain[-1][:1].isupper():
                    name += ".__init__"
                names = {k.arg for k in node.keywords}
                found[name] = "all" if None in names else found.get(name, set()) | names
    assert 'kwargs["generator"]' in sources[0]  # the call probe: generator_seed -> generator=
    generic = signatures.BY_NAME["*"]
    for name, names in found.items():
        declared = signatures.BY_NAME.get(name, set())
        if names == "all" or declared == "all":
            assert names == declared, name
        else:
            assert names - generic <= set(declared), (name, names)
            assert set(declared) <= names | generic, (name, declared)


def test_wrapping_folder_is_named(tmp_path):
    inner = tmp_path / "wrap" / "ps1"
    shutil.copytree(STARTER, inner)
    refusals, _, _ = submit.check(tmp_path / "wrap", imports=False)
    assert len(refusals) == 1 and f"your files are in {inner}" in refusals[0], refusals
    refusals, _, _ = submit.check(tmp_path / "wrap" / "ps1", imports=False)
    assert refusals == []


def test_imported_helper_module_is_refused_with_the_reason(work, tmp_path):
    (work / "helpers.py").write_text("def helper():\n    return 1\n")
    made = work / "made.py"
    made.write_text(made.read_text().replace("import torch\n", "import torch\n"
                                             "from .helpers import helper\n", 1))
    refusals, _, _ = submit.check(work, imports=False)
    assert len(refusals) == 1 and "made.py imports helpers" in refusals[0], refusals
    out = tmp_path / "submission.zip"
    assert submit.main(["--dir", str(work), "--out", str(out), "--no-tests"]) == 1
    assert not out.exists()
    (work / "helpers.py").unlink()  # an unused helper file is fine (it is not zipped)
    (work / "notes.py").write_text("x = 1\n")
    made.write_text(made.read_text().replace("from .helpers import helper\n", ""))
    assert submit.check(work, imports=False).refusals == []


def test_module_printing_megabytes_at_import_gets_a_warning(work):
    made = work / "made.py"
    made.write_text(made.read_text() + "\nimport sys\nfor _ in range(50):\n"
                    "    sys.stdout.write('x' * (1 << 20))\n")
    failing, notes = submit.import_problems(work, ["made", "probability"])
    assert failing == [] and len(notes) == 1 and "made.py prints 50.0 MB" in notes[0]


def test_broken_module_warns_loudly_but_zips(work, tmp_path):
    (work / "pixelcnn.py").write_text("def causal_conv_mask(:\n")
    (work / "sampling.py").write_text("raise SystemExit('boom at import')\n")
    out = tmp_path / "submission.zip"
    done = subprocess.run([sys.executable, str(ROOT / "make_submission.py"), "--dir", str(work),
                           "--out", str(out), "--no-tests"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" in done.stdout and "pixelcnn.py line 1: SyntaxError" in done.stdout
    assert "importing sampling.py fails" in done.stdout
    assert sorted(zipfile.ZipFile(out).namelist()) == sorted(MODULES)


def test_make_submission_with_and_without_attention(work, tmp_path):
    out = tmp_path / "six.zip"
    assert submit.main(["--dir", str(work), "--out", str(out), "--no-tests"]) == 0
    assert sorted(zipfile.ZipFile(out).namelist()) == sorted(MODULES)
    (work / "attention.py").unlink()
    assert submit.check(work, imports=False) == ([], [], [])
    out = tmp_path / "five.zip"
    assert submit.main(["--dir", str(work), "--out", str(out), "--no-tests"]) == 0
    assert sorted(zipfile.ZipFile(out).namelist()) == sorted(m for m in MODULES
                                                            if m != "attention.py")


def test_refusal_writes_nothing(work, tmp_path):
    (work / "training.py").unlink()
    out = tmp_path / "submission.zip"
    assert submit.main(["--dir", str(work), "--out", str(out), "--no-tests"]) == 1
    assert not out.exists()


# ----------------------------------------------------------------- the Gradescope entry point
def test_autograde_writes_valid_results_when_the_grader_fails(tmp_path, monkeypatch):
    from grader.trusted import autograde, judge

    def broken(*args, **kwargs):
        raise RuntimeError("grader bug")
    monkeypatch.setattr(judge, "grade", broken)
    monkeypatch.setenv("PS1_SUBMISSION", str(tmp_path / "submission"))
    monkeypatch.setenv("PS1_RESULTS", str(tmp_path / "results" / "results.json"))
    assert autograde.main() == 0
    final = json.loads((tmp_path / "results" / "results.json").read_text())
    assert validate(final) == [] and "autograder failed" in first_message(final)
    assert len(final["tests"]) == len(manifest.load().tests) + 1


def test_autograde_grades_a_lone_uploaded_zip(tmp_path):
    from grader.trusted.autograde import choose_upload
    folder = tmp_path / "submission"
    folder.mkdir()
    upload = make_zip(folder / "submission.zip", starter_files())
    assert choose_upload(folder) == upload
    (folder / "made.py").write_text("x = 1\n")
    assert choose_upload(folder) == folder
