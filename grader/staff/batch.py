"""The `batch` command: grade a Gradescope export (the folder, or the zip as downloaded) to a
CSV, a report and optionally a Canvas gradebook; or one shard of it into a shared cache.

    python -m grader batch DIR --csv FILE [--report DIR] [--jobs N] [--previous CSV]
    python -m grader batch DIR --shard K/N --cache CACHE      # grades a stable 1/N only
    python -m grader batch DIR --assemble --cache CACHE --csv FILE [--report DIR]

Each submission is graded by its own `python -m grader grade SUB --json OUT` subprocess (the
full suite, sandboxed): a submission that crashes or hangs the grader, or an upload that cannot
be read, costs its own error row, never the batch. The cache (grader/staff/results_cache.py)
holds test outcomes, not points, so a re-run re-scores from it and grades only what changed.
No torch here.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from grader import ROOT
from grader.staff import export, gradebook, results_cache
from grader.trusted import scores
from grader.trusted.text import for_terminal

MB_PER_JOB = 800            # judge ~60 MB + zygote ~230-520 MB + one child per test
DEFAULT_TIMEOUT = 15 * 60   # seconds of wall time per submission
CACHE_NAME = ".ps1-batch-cache"
FIXED_COLUMNS = gradebook.FIXED_COLUMNS
NOT_GRADED = "not graded yet: no shard has graded this submission (run its shard again)"


def grader_fingerprint(manifest, root: Path = ROOT) -> str:
    return results_cache.outcome_fingerprint(manifest, root)


def in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    """Whether submission `key` belongs to shard K of N: by a hash of its key, so every
    machine computes the same split of the same export, whatever order it lists it in."""
    if shard is None:
        return True
    index, count = shard
    digest = hashlib.sha256(os.fsencode(key)).digest()
    return int.from_bytes(digest[:8], "big") % count == index


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


def grade_command(path: Path, json_path: Path, mode: str, answers: Path | None = None
                  ) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(path), "--json", str(json_path),
            "--mode", mode, *(["--answers", str(answers)] if answers else [])]


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT first: the judge's finally blocks close its sandbox; then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def grade_one(sub: export.Submission, work: Path, *, mode: str, timeout: float,
              answers: Path | None = None) -> dict:
    """Grade in a subprocess; returns {"results", "seconds", "error"} (results None on error).
    `answers`: the reference's costly answers, shared by the batch's gradings."""
    json_path, log_path = work / "results.json", work / "grade.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(grade_command(sub.path.resolve(), json_path, mode, answers),
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
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


def _lookup(sub, cache: Path, fingerprint: str, mode: str, manifest, *,
            assemble: bool, use_cache: bool):
    """(cache key or None, outcome or None): the outcome when the cache settles it (an
    unreadable upload, a cached grade, or in assemble mode anything cached), else None."""
    try:
        key = results_cache.entry_key(export.submission_hash(sub.path), fingerprint, mode)
    except export.UploadError as exc:
        return None, {"results": None, "seconds": 0.0, "cached": False, "graded": False,
                      "error": f"the upload cannot be graded: {exc}"}
    entry = results_cache.read(cache, key) if use_cache else None
    if entry is not None and (assemble or not entry.get("error")):
        try:
            return key, _outcome(entry, manifest, cached=True)
        except (KeyError, TypeError, AttributeError):
            pass  # an entry of another layout: graded again
    if assemble:
        return key, {"results": None, "seconds": 0.0, "cached": False, "graded": False,
                     "error": NOT_GRADED}
    return key, None


def _outcome(entry: dict, manifest, *, cached: bool) -> dict:
    results = None if entry.get("error") else results_cache.rescore(entry, manifest)
    return {"results": results, "seconds": entry.get("seconds", 0.0),
            "error": entry.get("error", ""), "cached": cached, "graded": not cached}


def _grade_and_store(sub, key: str, cache: Path, manifest, *, mode: str,
                     timeout: float, answers: Path) -> dict:
    """Grade one submission, store its outcomes (errors too, marked so a re-run retries
    them: an assembling run reads them)."""
    work = Path(tempfile.mkdtemp(prefix="ps1-batch-", dir=cache))
    try:
        graded = grade_one(sub, work, mode=mode, timeout=timeout, answers=answers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if graded["error"]:
        entry = {"error": graded["error"], "seconds": graded["seconds"]}
    else:
        try:
            entry = dict(results_cache.from_results(graded["results"], manifest),
                         seconds=graded["seconds"])
        except (KeyError, TypeError, AttributeError) as exc:
            entry = {"error": f"unusable results.json: {exc!r}", "seconds": graded["seconds"]}
    results_cache.write(cache, key, entry)
    return _outcome(entry, manifest, cached=False)


def grade_all(subs: list, cache: Path, manifest, *, jobs: int, mode: str, timeout: float,
              use_cache: bool = True, assemble: bool = False, progress: bool = True) -> dict:
    """key -> {"results", "seconds", "error", "cached", "graded"} for every submission of
    `subs`; grades what the cache does not settle (nothing when `assemble`)."""
    from tqdm import tqdm
    cache.mkdir(parents=True, exist_ok=True)
    fingerprint = grader_fingerprint(manifest)
    outcomes, todo = {}, []
    for sub in subs:
        key, outcome = _lookup(sub, cache, fingerprint, mode, manifest, assemble=assemble,
                               use_cache=use_cache)
        if outcome is None:
            todo.append((sub, key))
        else:
            outcomes[sub.key] = outcome
    bar = tqdm(total=len(todo), unit="sub", desc="grading", disable=not progress or not todo,
               dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        answers = results_cache.answers_folder(cache, fingerprint)
        futures = {pool.submit(_grade_and_store, sub, key, cache, manifest, mode=mode,
                               timeout=timeout, answers=answers): sub for sub, key in todo}
        for future in as_completed(futures):
            sub = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # a batch-side problem with one submission: its row
                outcome = {"results": None, "seconds": 0.0, "cached": False, "graded": True,
                           "error": f"batch error: {for_terminal(repr(exc))}"}
            outcomes[sub.key] = outcome
            if outcome["error"]:
                bar.write(for_terminal(f"{sub.key}: {outcome['error']}"))
            bar.set_postfix_str(for_terminal(f"{sub.key[:24]} {outcome_total(outcome)}"))
            bar.update()
    bar.close()
    return outcomes


def outcome_total(outcome: dict):
    return "" if outcome["results"] is None else scores.total_line(outcome["results"])


# ----------------------------------------------------------------------------- command
def add_batch_arguments(parser):
    parser.add_argument("dir", help="a Gradescope export (the folder, or the zip as "
                                    "downloaded), or a folder of zips / submission folders")
    parser.add_argument("--csv", help="where to write the per-test CSV (not with --shard)")
    parser.add_argument("--report", help="folder for report.md, students.md, histogram.png, "
                                         "regrade.md")
    parser.add_argument("--canvas", help="also write a Canvas gradebook import CSV here")
    parser.add_argument("--canvas-column", default="PS1 autograder",
                        help="the Canvas assignment column's name")
    parser.add_argument("--due", help="the due date (e.g. '2026-02-01 23:59 -08:00'; no "
                                      "offset: UTC) for the `late` column")
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
    parser.add_argument("--cache", help=f"the results cache folder, shared by shards (default: "
                                        f"{CACHE_NAME} in --report, else next to the CSV)")
    parser.add_argument("--shard", help="K/N: grade only shard K (0 <= K < N) into --cache; "
                                        "writes no CSV")
    parser.add_argument("--assemble", action="store_true",
                        help="grade nothing: write the CSV and report from --cache")


def _usage_problem(args) -> str:
    if args.previous and not args.report:
        return "--previous needs --report (the regrade diff is written there)"
    if (args.shard or args.assemble) and not args.cache:
        return "--shard and --assemble need --cache (the folder every shard shares)"
    if args.shard and args.assemble:
        return "--shard grades, --assemble only reads the cache: one or the other"
    if not args.shard and not args.csv:
        return "--csv is required (except with --shard)"
    if args.shard and _shard(args.shard) is None:
        return f"--shard {args.shard}: expected K/N with 0 <= K < N"
    if args.due and gradebook.parse_time(args.due) is None:
        return f"--due {args.due}: expected a date like 2026-02-01 23:59 -08:00"
    return ""


def _shard(text: str | None):
    try:
        index, count = (int(x) for x in text.split("/"))
    except (AttributeError, ValueError):
        return None
    return (index, count) if 0 <= index < count else None


def _cache_folder(args) -> Path:
    if args.cache:
        return Path(args.cache)
    return (Path(args.report) if args.report else Path(args.csv).resolve().parent) / CACHE_NAME


def _export_folder(directory: Path, cache: Path) -> Path:
    """The folder to read: `directory`, or the export zip unpacked (safely) into the cache."""
    if directory.is_file() and directory.suffix.lower() == ".zip":
        return export.unpack_export(directory, cache / "exports")
    if not directory.is_dir():
        raise ValueError(f"{directory} is neither a folder nor an export zip")
    return directory


def _protect(paths: list[Path]) -> None:
    """As root: sandboxed code must not read classmates' uploads or results."""
    if os.geteuid() != 0:
        return
    from grader.trusted.users import protect
    left_open = protect(paths, gid=-1)
    if left_open:
        print(f"note: shared folders cannot be closed to the sandbox users: "
              f"{', '.join(left_open)}", file=sys.stderr)


def run_batch(args) -> int:
    from grader.trusted import manifest as manifest_module
    problem = _usage_problem(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    cache = _cache_folder(args)
    cache.mkdir(parents=True, exist_ok=True)
    _protect([Path(args.dir), cache, *([Path(args.report)] if args.report else [])])
    try:
        directory = _export_folder(Path(args.dir), cache)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        return _run(args, directory, cache, manifest_module.load())
    finally:
        if directory != Path(args.dir):
            shutil.rmtree(directory, ignore_errors=True)


def _run(args, directory: Path, cache: Path, manifest) -> int:
    shard = _shard(args.shard)
    subs = [s for s in export.discover(directory) if in_shard(s.key, shard)]
    if not subs and not shard:
        print(f"no submissions (folders or .zip files) in {args.dir}", file=sys.stderr)
        return 1
    jobs = args.jobs or default_jobs()
    what = f"shard {args.shard}: " if shard else ""
    print(f"{what}{len(subs)} submissions, {jobs} in parallel, cache {cache}", file=sys.stderr)
    started = time.monotonic()
    outcomes = grade_all(subs, cache, manifest, jobs=jobs, mode=args.mode, timeout=args.timeout,
                         use_cache=not args.no_cache, assemble=args.assemble)
    wall = time.monotonic() - started
    graded = sum(o["graded"] for o in outcomes.values())
    cached = sum(o["cached"] for o in outcomes.values())
    errors = sum(bool(o["error"]) for o in outcomes.values())
    print(f"{what}{len(subs)} submissions: {graded} graded, {cached} from the cache, "
          f"{errors} with an error, {wall:.0f} s wall", file=sys.stderr)
    if graded and wall > 0:
        print(f"throughput: {graded / wall * 3600:.0f} submissions/hour", file=sys.stderr)
    if not shard:
        _write_outputs(args, subs, outcomes, manifest)
    return 0


def _write_outputs(args, subs, outcomes, manifest) -> None:
    from grader.staff import report
    from grader.trusted import manifest as manifest_module
    due = gradebook.parse_time(args.due) if args.due else None
    rows = gradebook.rows_for(subs, outcomes, manifest, due=due)
    gradebook.write_csv(rows, manifest, Path(args.csv))
    print(f"{len(rows)} rows (one per student) written to {args.csv}", file=sys.stderr)
    if args.canvas:
        gradebook.write_canvas(rows, Path(args.canvas), args.canvas_column,
                               manifest_module.TOTAL_POINTS)
    if args.report:
        previous = gradebook.read_csv(Path(args.previous)) if args.previous else None
        written = report.write_report(rows, manifest, Path(args.report), previous=previous,
                                      outcomes=outcomes)
        print("report: " + ", ".join(str(p) for p in written), file=sys.stderr)
