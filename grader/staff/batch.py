"""The `batch` command: grade a folder of submissions (a Gradescope export) to a CSV.

    python -m grader batch DIR --csv FILE [--report DIR] [--jobs N] [--previous CSV]

Each submission is graded by its own `python -m grader grade SUB --json OUT` subprocess (the
full suite, sandboxed): a submission that crashes or hangs the grader costs one error row,
never the batch. Results are cached under `.ps1-batch-cache/` (next to the CSV, or in the
report folder) keyed by the submission's bytes and a fingerprint of the grader, tests and
reference, so a re-run grades only what changed. No torch here.
"""
import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from grader import ROOT
from grader.trusted import scores
from grader.trusted.text import for_csv_cell, for_terminal

MB_PER_JOB = 800            # judge ~60 MB + zygote ~230-520 MB + one child per test
DEFAULT_TIMEOUT = 15 * 60   # seconds of wall time per submission
CACHE_NAME = ".ps1-batch-cache"
METADATA_JSON = "submission_metadata.json"   # per folder (as in /autograder/)
METADATA_YML = "submission_metadata.yml"     # top level of a Gradescope export
# total: the 40 regular points; extra credit: part 6's (out of 5), kept apart for gradebooks.
FIXED_COLUMNS = ["student", "email", "sid", "submission", "total", "extra credit", "error",
                 "seconds"]


@dataclass
class Submission:
    key: str                  # folder or file name inside DIR (unique)
    path: Path
    names: list = field(default_factory=list)
    emails: list = field(default_factory=list)
    sids: list = field(default_factory=list)

    @property
    def student(self) -> str:
        return "; ".join(self.names) or re.sub(r"\.zip$", "", self.key, flags=re.I)


# ----------------------------------------------------------------------------- discovery
def _people_from_json(data: dict) -> list[dict]:
    people = data.get("users") or data.get(":submitters") or data.get("submitters") or []
    return [{k.lstrip(":"): v for k, v in p.items()} for p in people if isinstance(p, dict)]


def _parse_export_yml(text: str) -> dict[str, list[dict]]:
    """The submitters in Gradescope's top-level submission_metadata.yml, without PyYAML:
    `submission_ID:` at column 0, then `:submitters:` with `- :name: ...` items."""
    found: dict[str, list[dict]] = {}
    current, people, in_submitters = None, None, False
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current, in_submitters = line.rstrip()[:-1].strip("'\""), False
            people = found.setdefault(current, [])
            continue
        stripped = line.strip()
        if current is None or not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if stripped == ":submitters:":
            in_submitters, sub_indent = True, indent
            continue
        if in_submitters and indent <= sub_indent and not stripped.startswith("-"):
            in_submitters = False
        if not in_submitters:
            continue
        if stripped.startswith("- "):
            people.append({})
            stripped = stripped[2:].strip()
        match = re.match(r":?(\w+):\s*(.*)$", stripped)
        if match and people:
            value = match.group(2).strip().strip("'\"")
            people[-1][match.group(1)] = value
    return found


def discover(directory: Path) -> list[Submission]:
    """One Submission per sub-folder or zip of `directory` (a Gradescope export wrapped in one
    folder is entered), named from the metadata where there is some."""
    directory = Path(directory)
    entries = [e for e in directory.iterdir() if not e.name.startswith((".", "__"))]
    folders = [e for e in entries if e.is_dir()]
    if (len(folders) == 1 and not (directory / METADATA_YML).exists()
            and (folders[0] / METADATA_YML).exists()):
        return discover(folders[0])
    exported = {}
    if (directory / METADATA_YML).exists():
        exported = _parse_export_yml((directory / METADATA_YML).read_text(errors="replace"))
    subs = []
    for entry in sorted(entries, key=lambda e: e.name):
        if not (entry.is_dir() or entry.suffix.lower() == ".zip"):
            continue
        people = exported.get(entry.name, [])
        meta = entry / METADATA_JSON
        if entry.is_dir() and meta.is_file():
            try:
                people = _people_from_json(json.loads(meta.read_text())) or people
            except (ValueError, AttributeError):
                pass
        subs.append(Submission(entry.name, entry,
                               [str(p["name"]) for p in people if p.get("name")],
                               [str(p["email"]) for p in people if p.get("email")],
                               [str(p["sid"]) for p in people if p.get("sid")]))
    return subs


# ----------------------------------------------------------------------------- caching
def _hash_files(files, base: Path, digest) -> None:
    for file in sorted(files):
        digest.update(str(file.relative_to(base)).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())


def submission_hash(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_dir():
        _hash_files([f for f in path.rglob("*") if f.is_file() and not f.is_symlink()
                     and f.name != METADATA_JSON and "__pycache__" not in f.parts],
                    path, digest)
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def grader_fingerprint(root: Path = ROOT) -> str:
    """Changes whenever anything that decides a score changes."""
    files = [*root.glob("grader/**/*.py"), root / "grader" / "trusted" / "manifest.toml",
             *root.glob("reference/*.py")]
    for folder in ("tests_public", "tests_hidden"):
        files += [f for f in (root / folder).rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts]
    digest = hashlib.sha256()
    _hash_files([f for f in files if f.is_file()], root, digest)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- grading
def default_jobs() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) // 1024
    except OSError:
        pass
    by_memory = (available // MB_PER_JOB) if available else cores
    return max(1, min(cores or 1, by_memory))


def grade_command(path: Path, json_path: Path, mode: str) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(path), "--json", str(json_path),
            "--mode", mode]


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT first: the judge's finally blocks close its sandbox; then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def grade_one(sub: Submission, work: Path, *, mode: str, timeout: float) -> dict:
    """Grade in a subprocess; returns {"results", "seconds", "error"} (results None on error)."""
    json_path, log_path = work / "results.json", work / "grade.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(grade_command(sub.path.resolve(), json_path, mode), cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            return {"results": None, "seconds": round(time.monotonic() - started, 1),
                    "error": f"grading timed out after {timeout:g} s"}
    seconds = round(time.monotonic() - started, 1)
    if code != 0:
        tail = [l for l in log_path.read_text(errors="replace").splitlines() if l.strip()]
        return {"results": None, "seconds": seconds,
                "error": f"grader failed (exit {code}): {tail[-1][:300] if tail else 'no output'}"}
    try:
        return {"results": json.loads(json_path.read_text()), "seconds": seconds, "error": ""}
    except (OSError, ValueError) as exc:
        return {"results": None, "seconds": seconds, "error": f"no readable results.json: {exc}"}


def _write_json(path: Path, data) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def grade_all(subs: list[Submission], cache: Path, *, jobs: int, mode: str, timeout: float,
              use_cache: bool = True, progress: bool = True) -> dict[str, dict]:
    """key -> outcome (see grade_one, plus "cached"). Successful grades are cached; timeouts
    and grader failures are not (a re-run tries them again)."""
    from tqdm import tqdm
    cache.mkdir(parents=True, exist_ok=True)
    fingerprint = grader_fingerprint()
    outcomes, todo = {}, []
    for sub in subs:
        try:
            key = hashlib.sha256((submission_hash(sub.path) + fingerprint + mode)
                                 .encode()).hexdigest()[:32]
        except OSError as exc:
            outcomes[sub.key] = {"results": None, "seconds": 0.0, "cached": False,
                                 "error": f"cannot read the submission: {exc}"}
            continue
        entry = cache / f"{key}.json"
        if use_cache and entry.is_file():
            try:
                outcomes[sub.key] = dict(json.loads(entry.read_text()), cached=True)
                continue
            except ValueError:
                pass
        todo.append((sub, entry))

    def run(sub, entry):
        work = Path(tempfile.mkdtemp(prefix="ps1-batch-", dir=cache))
        try:
            return grade_one(sub, work, mode=mode, timeout=timeout)
        finally:
            import shutil
            shutil.rmtree(work, ignore_errors=True)

    bar = tqdm(total=len(todo), unit="sub", desc="grading", disable=not progress or not todo,
               dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run, sub, entry): (sub, entry) for sub, entry in todo}
        for future in as_completed(futures):
            sub, entry = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # a batch-side problem with one submission
                outcome = {"results": None, "seconds": 0.0, "error": f"batch error: {exc!r}"}
            if not outcome["error"]:
                _write_json(entry, outcome)
            outcomes[sub.key] = dict(outcome, cached=False)
            if outcome["error"]:
                bar.write(for_terminal(f"{sub.key}: {outcome['error']}"))
            bar.set_postfix_str(for_terminal(f"{sub.key[:24]} {outcome_total(outcome)}"))
            bar.update()
    bar.close()
    return outcomes


def outcome_total(outcome: dict):
    return "" if outcome["results"] is None else scores.total_line(outcome["results"])


# ----------------------------------------------------------------------------- CSV
def test_column(test) -> str:
    return f"{test.number} {test.name}"


def part_column(part: str) -> str:
    """A part's total (what a gradebook wants); never starts with a digit (test columns do)."""
    return f"part {part}"


def submission_error(problems: list[str]) -> str:
    """The `error` cell for a submission with problems: all of them, in order."""
    return "submission: " + (" | ".join(problems) if problems else "rejected")


def rows_for(subs: list[Submission], outcomes: dict, manifest) -> list[dict]:
    rows = []
    for sub in subs:
        outcome = outcomes[sub.key]
        row = {"student": sub.student, "email": "; ".join(sub.emails),
               "sid": "; ".join(sub.sids), "submission": sub.key, "total": "",
               "extra credit": "", "error": outcome["error"], "seconds": outcome["seconds"]}
        results = outcome["results"]
        if results is not None:
            by_number = {t["number"]: t for t in results["tests"]}
            regular, extra = scores.split(results, manifest)
            row["total"], row["extra credit"] = f"{regular:g}", f"{extra:g}"
            intake = by_number.get("0")
            if intake:  # the submission check: a corrupt zip, a missing module
                problems = [l for l in intake["output"].strip("`\n ").splitlines() if l.strip()]
                row["error"] = submission_error(problems)
            for part in manifest.parts:
                graded = [by_number.get(t.number) for t in manifest.tests if t.part == part]
                row[part_column(part)] = ("" if None in graded
                                          else f"{sum(t['score'] for t in graded):g}")
            for test in manifest.tests:
                graded = by_number.get(test.number)
                row[test_column(test)] = "" if graded is None else f"{graded['score']:g}"
        rows.append(row)
    return rows


def write_csv(rows: list[dict], manifest, path: Path) -> None:
    columns = (FIXED_COLUMNS + [part_column(p) for p in manifest.parts]
               + [test_column(t) for t in manifest.tests])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        # Names, file names and messages come from students: no cell may start a formula.
        writer.writerows({k: for_csv_cell(v) for k, v in row.items()} for row in rows)
    os.replace(temporary, path)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


# ----------------------------------------------------------------------------- command
def add_batch_arguments(parser):
    parser.add_argument("dir", help="a Gradescope export folder, or a folder of zips / "
                                    "submission folders")
    parser.add_argument("--csv", required=True, help="where to write the per-test CSV")
    parser.add_argument("--report", help="folder for report.md, histogram.png, regrade.md")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"parallel grading runs (default: min(cores, available memory "
                             f"/ {MB_PER_JOB} MB))")
    parser.add_argument("--previous", help="an earlier batch CSV: report who gained or lost "
                                           "which points (needs --report)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="wall seconds per submission before it becomes an error row")
    parser.add_argument("--mode", choices=("sandbox", "inprocess"), default="sandbox",
                        help="inprocess: no sandbox (trusted submissions only, debugging)")
    parser.add_argument("--no-cache", action="store_true", help="re-grade everything")


def run_batch(args) -> int:
    from grader.trusted import manifest as manifest_module
    from grader.staff import report
    directory, csv_path = Path(args.dir), Path(args.csv)
    if not directory.is_dir():
        print(f"{directory} is not a folder", file=sys.stderr)
        return 2
    if args.previous and not args.report:
        print("--previous needs --report (the regrade diff is written there)", file=sys.stderr)
        return 2
    subs = discover(directory)
    if not subs:
        print(f"no submissions (folders or .zip files) in {directory}", file=sys.stderr)
        return 1
    jobs = args.jobs or default_jobs()
    cache = (Path(args.report) if args.report else csv_path.resolve().parent) / CACHE_NAME
    if os.geteuid() == 0:  # sandboxed code must not read classmates' uploads or results
        from grader.trusted.users import protect
        cache.mkdir(parents=True, exist_ok=True)
        left_open = protect([directory, cache, *([Path(args.report)] if args.report else [])],
                            gid=-1)
        if left_open:
            print(f"note: shared folders cannot be closed to the sandbox users: "
                  f"{', '.join(left_open)}", file=sys.stderr)
    print(f"{len(subs)} submissions, {jobs} in parallel, cache {cache}", file=sys.stderr)
    started = time.monotonic()
    outcomes = grade_all(subs, cache, jobs=jobs, mode=args.mode, timeout=args.timeout,
                         use_cache=not args.no_cache)
    wall = time.monotonic() - started
    manifest = manifest_module.load()
    rows = rows_for(subs, outcomes, manifest)
    write_csv(rows, manifest, csv_path)
    graded = sum(not o["cached"] for o in outcomes.values())
    errors = sum(bool(r["error"]) for r in rows)
    print(f"{len(rows)} rows written to {csv_path}: {graded} graded, "
          f"{len(rows) - graded} from the cache, {errors} with an error, "
          f"{wall:.0f} s wall", file=sys.stderr)
    if graded and wall > 0:
        print(f"throughput: {graded / wall * 3600:.0f} submissions/hour", file=sys.stderr)
    if args.report:
        previous = read_csv(Path(args.previous)) if args.previous else None
        written = report.write_report(rows, manifest, Path(args.report), previous=previous)
        print("report: " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0
