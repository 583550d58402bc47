"""`python -m grader build [--out dist]`: the Gradescope autograder zip and the student release.

    dist/autograder.zip   setup.sh + run_autograder at the root; grader/, reference/,
                          tests_public/, tests_hidden/, data/, conftest.py, requirements-grader.txt
    dist/student.zip      starter/, tests_public/ (expected values recorded now), make_submission.py,
                          setup.sh, requirements.txt, README.md, data/, conftest.py, pyproject.toml,
                          the parts of grader/ the public tests and make_submission.py use, and a
                          manifest with the public tests and only per-part totals of hidden points

Nothing is written to --out unless the manifest totals 40 (and 5 extra-credit points),
starter/ is what reference/ generates, and the staged autograder.zip, run as Gradescope runs
it, scores a zip of reference/ 40/40 with the extra credit 5/5, the same zip without
attention.py (part 6 is optional) 40/40 with no submission problem, and a zip of starter/ 0
(each zip made as make_submission.py makes it).
"""
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

from grader import ROOT

TORCH_VERSION = "2.13.0"  # the CPU build Gradescope installs (setup.sh: PS1_TORCH_SPEC)
TEMPLATES = Path(__file__).resolve().parent / "templates"
# grader/ in both zips: the shared modules, the trusted side and the worker side; never the
# staff tools (solution stripping, build, audit, ...). The release's manifest lists only the
# public tests (release_manifest).
GRADER_PACKAGES = ("trusted", "worker")
STUDENT_DEPENDENCIES = ("torch", "torchvision", "numpy", "pytest", "tqdm", "matplotlib")
RELEASE_PYPROJECT = """[project]
name = "ps1-autoregressive-release"
version = "0.1.0"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["tests_public"]
pythonpath = ["."]
addopts = "-p no:cacheprovider"
"""
_RECORD = """
import sys
from pathlib import Path
from grader import ROOT
from grader.trusted import judge, plugin
session = plugin.in_process_session(ROOT / "reference", expected="reference")
code, log = judge.run_tests(session, [ROOT / "tests_public"])
if code:
    sys.stderr.write(log)
    sys.exit(1)
session.expected.save(Path(sys.argv[1]))
"""


class BuildError(RuntimeError):
    pass


def _ignore(directory, names):
    return [n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")]


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=_ignore)
    else:
        shutil.copy2(source, target)


def _zip(tree: Path, out: Path) -> None:
    """Deterministic zip of `tree`: sorted, fixed timestamps, modes kept (0755 / 0644)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(tree.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), (2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if path.stat().st_mode & 0o100 else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def release_manifest(manifest) -> str:
    """The public tests as they are, and one placeholder per part for its hidden points
    (`tests_hidden/part-1a`): hidden test names and counts never reach students."""
    from grader.trusted import scores
    lines = ["# PS1 manifest for the student release: the public tests, and per part the points",
             "# of its hidden tests (graded on Gradescope).", "", "[parts]"]
    for part, info in manifest.parts.items():
        extra = (f', extra = true, module = {_toml_string(info["module"])}'
                 if info.get("extra") else "")
        lines.append(f'{part} = {{ points = {info["points"]:g}, '
                     f'title = {_toml_string(info["title"])}{extra} }}')
    for test in manifest.tests:
        if test.public:
            lines += ["", f"[tests.{_toml_string(test.id)}]", f'part = "{test.part}"',
                      f"points = {test.points:g}", f'visibility = "{test.visibility}"',
                      f"timeout = {test.timeout:g}", f"name = {_toml_string(test.name)}"]
    for part in manifest.parts:
        tests = [t for t in manifest.tests if t.part == part and not t.public]
        hidden = sum(t.points for t in tests)
        # the part's hidden tests' visibility (after_published unless all are after_due_date)
        shown = {t.visibility for t in tests}
        visibility = "after_due_date" if shown == {"after_due_date"} else "after_published"
        if hidden:
            lines += ["", f'[tests."tests_hidden/part-{part}"]', f'part = "{part}"',
                      f"points = {hidden:g}", f'visibility = "{visibility}"', "timeout = 1",
                      f'name = "hidden tests of part {part} (graded on Gradescope; their '
                      f'{scores.SHOWN[visibility][0]})"']
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # must parse
    return text


def stub_names(starter: Path = ROOT / "starter") -> dict:
    """part -> [names], from the stubs' NotImplementedError messages."""
    found = {}
    for module in sorted(starter.glob("*.py")):
        for part, name in re.findall(r'NotImplementedError\("Part (\S+): implement (\S+)"\)',
                                     module.read_text()):
            for p in part.split("/"):
                p = p if p[0].isdigit() else part[0] + p
                found.setdefault(p, []).append(f"`{module.stem}.{name}`")
    return found


def student_readme(manifest) -> str:
    names = stub_names()
    rows = []
    for part, info in manifest.parts.items():
        public = sum(t.points for t in manifest.tests if t.part == part and t.public)
        where = ", ".join(dict.fromkeys(names.get(part, []))) or "(tests of the whole model)"
        extra = " (extra credit, optional)" if manifest.extra(part) else ""
        rows.append(f"| {part} | {info['title']}{extra} | {where} | {info['points']:g} | "
                    f"{public:g} |")
    regular = [t for t in manifest.tests if not manifest.extra(t.part)]
    public = sum(t.points for t in regular if t.public)
    total = sum(t.points for t in regular)
    text = (TEMPLATES / "student_README.md").read_text()
    extra = sum(t.points for t in manifest.tests if manifest.extra(t.part))
    for key, value in {"@TOTAL@": f"{total:g}", "@PUBLIC@": f"{public:g}",
                       "@EXTRA@": f"{extra:g}",
                       "@HIDDEN@": f"{total - public:g}", "@PARTS@": "\n".join(rows)}.items():
        text = text.replace(key, value)
    return text


def release_setup() -> str:
    """setup.sh without its staff-only lines (--grader needs requirements-grader.txt, which
    the release does not ship): the release offers no option it cannot honour."""
    lines = (ROOT / "setup.sh").read_text().splitlines(keepends=True)
    return "".join(line for line in lines if "staff only" not in line)


def student_requirements() -> str:
    keep = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if re.split(r"[=<>~! \[]", line.strip())[0] in STUDENT_DEPENDENCIES]
    return "# PS1 dependencies (pinned). Install with ./setup.sh\n" + "\n".join(keep) + "\n"


def copy_grader(target: Path) -> None:
    """grader/'s top-level modules, trusted/ and worker/ (sources, the manifest)."""
    for folder in (ROOT / "grader", *(ROOT / "grader" / p for p in GRADER_PACKAGES)):
        destination = target / folder.relative_to(ROOT / "grader")
        destination.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in (".py", ".toml"):
                shutil.copy2(path, destination / path.name)


def stage_autograder(tree: Path, expected_json: Path) -> None:
    for name in ("reference", "tests_public", "tests_hidden", "data", "conftest.py",
                 "requirements-grader.txt"):
        _copy(ROOT / name, tree / name)
    shutil.copy2(expected_json, tree / "tests_public" / "expected.json")
    copy_grader(tree / "grader")
    setup = (TEMPLATES / "gradescope_setup.sh").read_text().replace("@TORCH_VERSION@",
                                                                     TORCH_VERSION)
    (tree / "setup.sh").write_text(setup)
    shutil.copy2(TEMPLATES / "run_autograder", tree / "run_autograder")
    for name in ("setup.sh", "run_autograder"):
        (tree / name).chmod(0o755)


def stage_student(tree: Path, expected_json: Path, manifest) -> None:
    import json
    from grader.trusted import signatures
    for name in ("starter", "tests_public", "data", "conftest.py", "make_submission.py"):
        _copy(ROOT / name, tree / name)
    shutil.copy2(expected_json, tree / "tests_public" / "expected.json")
    copy_grader(tree / "grader")
    (tree / "grader" / "trusted" / "manifest.toml").write_text(release_manifest(manifest))
    (tree / "grader" / "trusted" / "signatures.json").write_text(
        json.dumps(signatures.collect(ROOT / "reference"), indent=1) + "\n")
    (tree / "setup.sh").write_text(release_setup())
    (tree / "setup.sh").chmod(0o755)
    (tree / "make_submission.py").chmod(0o755)
    (tree / "requirements.txt").write_text(student_requirements())
    (tree / "README.md").write_text(student_readme(manifest))
    (tree / "pyproject.toml").write_text(RELEASE_PYPROJECT)


def verify(autograder_zip: Path, work: Path, manifest, say) -> list[str]:
    """Grade reference/ and starter/, zipped as make_submission.py zips them, through the
    staged autograder.zip exactly as Gradescope runs it."""
    from grader.staff import gradescope
    from grader.trusted import results, submit
    from grader.trusted import scores
    problems = []
    numbers = {t.number for t in manifest.tests}
    full = float(scores.TOTAL + scores.EXTRA)
    subjects = (("reference", ROOT / "reference", full), ("starter", ROOT / "starter", 0.0),
                ("reference without attention.py", _without_optional(work), float(scores.TOTAL)))
    for name, folder, want in subjects:
        upload = submit.write_zip(folder, work / f"{folder.name}-submission.zip")
        started = time.monotonic()
        final, output = gradescope.run(autograder_zip, upload, timeout=20 * 60)
        say(f"  {name}: graded through autograder.zip in {time.monotonic() - started:.0f} s: "
            + (f"{scores.total_line(final, manifest)}" if final else "no results.json"))
        if final is None:
            problems.append(f"{name}: run_autograder wrote no valid results.json\n{output[-3000:]}")
            continue
        problems += [f"{name}: {e}" for e in results.validate(final)]
        if any(t.get("number") == "0" for t in final["tests"]):
            problems.append(f"{name}: a submission problem was reported: "
                            f"{scores.submission_problems(final)}")
        listed = {t.get("number") for t in final["tests"]}
        if not numbers <= listed:
            problems.append(f"{name}: results.json lacks tests {sorted(numbers - listed)}")
        if abs(final["score"] - want) > 1e-9:
            failing = [f"{t['name']}: {t['output'][:300]}" for t in final["tests"]
                       if (t["status"] == "passed") != (want > 0)][:5]
            problems.append(f"{name} scores {final['score']:g} through autograder.zip, "
                            f"not {want:g}: " + " | ".join(failing))
    return problems


def _without_optional(work: Path) -> Path:
    """reference/'s five required modules only (attention.py left out: extra credit)."""
    from grader import REQUIRED_MODULES
    folder = work / "reference-required"
    folder.mkdir()
    for module in REQUIRED_MODULES:
        shutil.copy2(ROOT / "reference" / f"{module}.py", folder / f"{module}.py")
    return folder


def build(out: Path, say=print) -> int:
    from grader.trusted import manifest as manifest_module
    from grader.staff import stubs
    started = time.monotonic()
    manifest = manifest_module.load()
    problems = manifest_module.problems(manifest)
    problems += [f"starter/{name} differs from what reference/ generates: run "
                 f"python -m grader.staff.stubs" for name in stubs.drift()]
    if problems:
        for line in problems:
            say(f"build refused: {line}")
        return 1
    base = "/var/tmp" if not (Path(tempfile.gettempdir()).stat().st_mode & 0o001) else None
    work = Path(tempfile.mkdtemp(prefix="ps1-build-", dir=base))
    work.chmod(0o755)
    try:
        say("recording the public tests' expected values from reference/ ...")
        expected_json = work / "expected.json"
        done = subprocess.run([sys.executable, "-c", _RECORD, str(expected_json)], cwd=ROOT,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            say(f"build refused: the reference fails the public tests in-process:\n"
                f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
            return 1
        committed = ROOT / "tests_public" / "expected.json"
        if not committed.is_file() or committed.read_bytes() != expected_json.read_bytes():
            say("note: tests_public/expected.json in the repository is stale (the release gets "
                "the fresh one); run python -m grader record")
        for name, stage in (("autograder", lambda t: stage_autograder(t, expected_json)),
                            ("student", lambda t: stage_student(t, expected_json, manifest))):
            tree = work / name
            tree.mkdir()
            stage(tree)
            _zip(tree, work / f"{name}.zip")
        say("grading reference/ (must be 40/40 + 5/5 extra credit), reference/ without "
            "attention.py (40/40) and starter/ (0) as Gradescope would ...")
        problems = verify(work / "autograder.zip", work, manifest, say)
        if problems:
            for line in problems:
                say(f"build refused: {line}")
            return 1
        out.mkdir(parents=True, exist_ok=True)
        for name in ("autograder.zip", "student.zip"):
            shutil.copy2(work / name, out / name)
            say(f"wrote {out / name} ({(out / name).stat().st_size / 2**20:.2f} MB)")
        say(f"build finished in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def add_build_arguments(parser):
    parser.add_argument("--out", default=str(ROOT / "dist"),
                        help="output folder (default: dist/)")


def run_build(args) -> int:
    return build(Path(args.out))
