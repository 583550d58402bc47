"""The student and Gradescope workflow end to end (issue 4).

One build (`python -m grader build`) of a temporary copy of the repository, with canary
strings planted in reference/ and tests_hidden/, serves every test here. The full chain
(release -> pytest -> make_submission.py -> autograder.zip run as Gradescope would, for the
stubs and for the reference modules) is one test; PS1_FAST=1 skips it and the build.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from grader.trusted import manifest as manifest_module
from grader.trusted.results import validate

ROOT = Path(__file__).resolve().parents[1]
CANARY = "PS1-CANARY-d41c9e"
SLOW = pytest.mark.skipif(os.environ.get("PS1_FAST") == "1", reason="PS1_FAST=1: no build")
pytestmark = SLOW
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "dist", "runs", "__pycache__", "*.pyc",
                                     ".pytest_cache", "tests", "submission.zip", "*.part")


def reachable_tempdir(prefix: str) -> Path:
    """A temporary folder the sandbox user can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp" if os.path.isdir("/var/tmp")
                                 else None))
    path.chmod(0o755)
    return path


def plant_canaries(repo: Path) -> None:
    """Not in the five reference modules: their hash seeds the hidden tests, and a canary
    there would change the graded inputs. starter/ is checked against reference/ by the
    build (stubs drift), so solution regions cannot leak without failing the build."""
    (repo / "reference" / "__init__.py").open("a").write(f"# {CANARY} reference/__init__\n")
    (repo / "reference" / "canary_notes.txt").write_text(f"{CANARY} reference notes\n")
    for test in sorted((repo / "tests_hidden").glob("test_*.py")):
        test.open("a").write(f"# {CANARY} {test.name}\n")
    (repo / "tests_hidden" / "canary_notes.txt").write_text(f"{CANARY} hidden notes\n")


def run(command, cwd, timeout=900):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def built():
    repo = reachable_tempdir("ps1-buildtest-")
    try:
        shutil.copytree(ROOT, repo, ignore=COPY_IGNORE, dirs_exist_ok=True)
        plant_canaries(repo)
        done = run([sys.executable, "-m", "grader", "build", "--out", str(repo / "dist")], repo)
        assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
        yield repo
    finally:
        shutil.rmtree(repo, ignore_errors=True)


@pytest.fixture(scope="session")
def release(built):
    folder = reachable_tempdir("ps1-release-")
    with zipfile.ZipFile(built / "dist" / "student.zip") as archive:
        for info in archive.infolist():
            path = archive.extract(info, folder)
            os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def contents(archive_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive_path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_canaries_never_reach_the_student_release(built):
    student = contents(built / "dist" / "student.zip")
    leaks = [name for name, data in student.items()
             if CANARY.encode() in data or CANARY in name]
    assert not leaks, f"canary from reference/ or tests_hidden/ found in student.zip: {leaks}"
    autograder = contents(built / "dist" / "autograder.zip")
    assert sum(CANARY.encode() in data for data in autograder.values()) >= 3  # planted at all


def test_no_hidden_test_names_or_solutions_in_the_release(built):
    student = contents(built / "dist" / "student.zip")
    blob = b"\n".join(student.values()) + "\n".join(student).encode()
    full = manifest_module.load(built / "grader" / "trusted" / "manifest.toml")
    public_names = {t.name for t in full.tests if t.public}
    for test in full.tests:
        if not test.public:
            assert test.id.encode() not in blob, test.id
            if test.name not in public_names:
                assert test.name.encode() not in blob, test.name
    for prefix in ("reference/", "tests_hidden/", "grader/staff/"):
        assert not any(name.startswith(prefix) for name in student), prefix
    text = student["grader/trusted/manifest.toml"].decode()
    hidden_total = sum(t.points for t in full.tests if not t.public)
    import tomllib
    parsed = tomllib.loads(text)
    placeholders = {k: v for k, v in parsed["tests"].items() if k.startswith("tests_hidden/")}
    assert sum(v["points"] for v in placeholders.values()) == hidden_total
    assert len(placeholders) <= len(full.parts)


def test_zip_layouts(built):
    with zipfile.ZipFile(built / "dist" / "autograder.zip") as archive:
        infos = {i.filename: i for i in archive.infolist()}
    for name in ("setup.sh", "run_autograder"):
        assert name in infos and (infos[name].external_attr >> 16) & 0o111, name
    assert not any(name.startswith("grader/staff/") for name in infos)
    for name in ("grader/trusted/judge.py", "grader/trusted/autograde.py",
                 "grader/trusted/manifest.toml", "grader/worker/probes.py", "grader/wire.py",
                 "reference/made.py", "tests_hidden/test_made.py", "tests_public/test_made.py",
                 "data/binarized_mnist.npz", "conftest.py", "requirements-grader.txt"):
        assert name in infos, name
    with zipfile.ZipFile(built / "dist" / "student.zip") as archive:
        infos = {i.filename: i for i in archive.infolist()}
    for name in ("starter/made.py", "starter/attention.py", "starter/train.py",
                 "starter/preflight.py", "starter/visualize.py",
                 "tests_public/expected.json",
                 "make_submission.py", "setup.sh", "README.md", "pyproject.toml", "conftest.py",
                 "requirements.txt", "data/binarized_mnist.npz",
                 "grader/trusted/signatures.json", "grader/trusted/submit.py",
                 "grader/trusted/plugin.py", "grader/worker/inprocess.py"):
        assert name in infos, name
    assert (infos["setup.sh"].external_attr >> 16) & 0o111
    readme = contents(built / "dist" / "student.zip")["README.md"].decode()
    assert "make_submission.py" in readme and "starter.train" in readme and "| 2b |" in readme
    assert "| 6a | causal_attention_mask (extra credit, optional) |" in readme
    assert "Extra credit (part 6, optional, 5 points beyond the 40)" in readme


def gradescope(repo: Path, submission: Path, results: Path) -> dict:
    done = run([sys.executable, "-m", "grader", "gradescope", str(repo / "dist" / "autograder.zip"),
                str(submission), "--results", str(results)], repo)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    final = json.loads(results.read_text())
    assert validate(final) == []
    return final


def test_student_release_chain(built, release, tmp_path):
    manifest = manifest_module.load(built / "grader" / "trusted" / "manifest.toml")
    numbers = {t.number for t in manifest.tests}
    # The public tests run from the release root and fail on the stubs.
    done = run([sys.executable, "-m", "pytest", "tests_public", "-q"], release)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "NotImplementedError: Part 2b" in done.stdout
    assert "Total: 0 / 40, extra credit 0 / 5" in done.stdout
    assert "Traceback" not in done.stdout  # the stubs: one line per failing test, no traceback
    # make_submission.py writes the zip (attention.py too); Gradescope scores it 0.
    done = run([sys.executable, "make_submission.py"], release)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Total: 0 / 40, extra credit 0 / 5" in done.stdout
    names = sorted(zipfile.ZipFile(release / "submission.zip").namelist())
    assert names == sorted(f"{m}.py" for m in ("probability", "made", "pixelcnn", "sampling",
                                               "training", "attention"))
    final = gradescope(built, release / "submission.zip", tmp_path / "stubs.json")
    assert final["score"] == 0 and numbers <= {t["number"] for t in final["tests"]}
    # The reference modules in the release's starter/: 40/40 and the extra credit 5/5.
    for module in names:
        shutil.copy2(built / "reference" / module, release / "starter" / module)
    done = run([sys.executable, "make_submission.py"], release)
    public = {extra: sum(t.points for t in manifest.tests if t.public
                         and manifest.extra(t.part) == extra) for extra in (False, True)}
    assert done.returncode == 0 and (f"Total: {public[False]:g} / 40, extra credit "
                                     f"{public[True]:g} / 5") in done.stdout, done.stdout[-3000:]
    final = gradescope(built, release / "submission.zip", tmp_path / "reference.json")
    assert final["score"] == 45, [t["name"] for t in final["tests"] if t["status"] != "passed"]
    assert numbers <= {t["number"] for t in final["tests"]}
    # Without attention.py (optional): five modules zipped, the 40 points as before.
    (release / "starter" / "attention.py").unlink()
    done = run([sys.executable, "make_submission.py", "--no-tests"], release)
    assert done.returncode == 0 and "attention.py is not in" in done.stdout, done.stdout[-3000:]
    assert len(zipfile.ZipFile(release / "submission.zip").namelist()) == 5
    final = gradescope(built, release / "submission.zip", tmp_path / "required.json")
    assert final["score"] == 40 and final["tests"][0]["name"] != "Submission check"


def test_hostile_zip_through_gradescope(built, tmp_path):
    """A wrapping folder, a ../ path, a symlink, a 200 MB member, a non-UTF-8 module and a
    syntax error, in one zip: a valid results.json, every test listed, the problems first,
    nothing written outside."""
    escape = f"ps1-escaped-{os.getpid()}.py"
    upload = tmp_path / "hostile.zip"
    with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in ("probability", "sampling", "training"):
            archive.writestr(f"hw1/{module}.py", (built / "starter" / f"{module}.py").read_text())
        archive.writestr("hw1/made.py", "def made_masks(:\n    pass\n")
        archive.writestr("hw1/pixelcnn.py", b"# caf\xe9\nx = 1\n")
        archive.writestr(f"../../{escape}", "print('escaped')\n")
        link = zipfile.ZipInfo("hw1/sampling_link.py")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        with archive.open("hw1/model.pt", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(200):
                member.write(chunk)
    assert upload.stat().st_size < 5 << 20
    final = gradescope(built, upload, tmp_path / "hostile.json")
    first = final["tests"][0]
    assert first["name"] == "Submission check" and first["status"] == "failed"
    for words in ("made.py line 1: SyntaxError", "pixelcnn.py is not valid UTF-8",
                  f"refused ../../{escape}", "refused hw1/sampling_link.py",
                  "ignored hw1/model.pt (200 MB)"):
        assert words in first["output"], (words, first["output"])
    assert final["score"] == 0
    for test in final["tests"]:  # the refused module, named once on each of its rows
        if test["tags"][0] in ("3a", "3b", "3c"):
            assert test["output"].strip("`\n ").startswith("pixelcnn.py was not graded: it is "
                                                         "not valid UTF-8"), test["output"]
    manifest = manifest_module.load(built / "grader" / "trusted" / "manifest.toml")
    assert {t.number for t in manifest.tests} <= {t["number"] for t in final["tests"]}
    for folder in ("/tmp", "/var/tmp", str(built), str(tmp_path), str(tmp_path.parent)):
        assert not list(Path(folder).glob(escape)), folder
