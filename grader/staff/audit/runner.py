"""The audit runner: grades mutants, variants, malicious submissions and repeated runs, in
parallel, and checks each against its expectation. No torch at module level (the judge-side
pieces never need it; in-process workers import it in their own processes)."""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from grader import ROOT, STUDENT_MODULES
from grader.trusted.results import validate
from . import malicious as malicious_module
from .mutants import FAST as FAST_MUTANTS, MUTANTS, apply
from .variants import FAST as FAST_VARIANTS, VARIANTS

FILES = [f"{name}.py" for name in STUDENT_MODULES]
PYTHON = sys.executable
DETERMINISM_MUTANTS = ("nll_mean_over_dims", "train_no_zero_grad", "sample_stale_canvas")
NOT_FINISHED = "grading did not finish"


# ----------------------------------------------------------------------------- sources

def reference_files() -> dict:
    return {name: (ROOT / "reference" / name).read_text() for name in FILES}


def starter_files() -> dict:
    return {name: (ROOT / "starter" / name).read_text() for name in FILES}


def write_tree(files: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def _indent_after(text: str, anchor: str, code: str) -> str:
    """Insert `code` right after the line holding `anchor`, at that line's indentation."""
    if text.count(anchor) != 1:
        raise AssertionError(f"anchor {anchor!r} must occur exactly once")
    start = text.index(anchor)
    line_start = text.rfind("\n", 0, start) + 1
    indent = text[line_start:start]
    end = text.index("\n", start) + 1
    block = "".join(indent + line + "\n" if line.strip() else "\n" for line in code.splitlines())
    return text[:end] + block + text[end:]


def malicious_files(case, drop_dir: str) -> dict:
    if "__starter__" in case.replace:
        return starter_files()
    files = reference_files()
    for module, where, code in case.inject:
        code = code.replace("DROP_DIR", repr(drop_dir))
        if where == "import":
            files[module] += "\n\n" + code
        else:
            files[module] = _indent_after(files[module], f"# BEGIN SOLUTION {where}", code)
    files.update(case.extra)
    return apply(files, case.wrong)


# ----------------------------------------------------------------------------- results

def part_summary(final: dict) -> tuple[float, list[str]]:
    earned, total = {}, {}
    for test in final.get("tests", []):
        if test.get("number") == "0":
            continue
        part = (test.get("tags") or ["?"])[0]
        earned[part] = earned.get(part, 0.0) + test["score"]
        total[part] = total.get(part, 0.0) + test["max_score"]
    lost = sorted(p for p in total if earned[p] < total[p] - 1e-9)
    return float(final.get("score", 0.0)), lost


def part_points() -> dict:
    from grader.trusted.manifest import load
    return {part: float(info["points"]) for part, info in load().parts.items()}


def failures(final: dict, parts=None) -> dict:
    """test number -> first line of its failure message (only in `parts` when given)."""
    out = {}
    for test in final.get("tests", []):
        part = (test.get("tags") or ["?"])[0]
        if test.get("status") == "failed" and test.get("number") != "0" and (
                parts is None or part in parts):
            text = test.get("output", "").strip("`\n ").splitlines()
            out[test["number"]] = (text[0] if text else "")[:160]
    return out


def test_vector(final: dict) -> list:
    return [(t.get("number"), t.get("score")) for t in final.get("tests", [])]


# ----------------------------------------------------------------------------- in-process

_ORACLE = None


def _worker_init():
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def grade_in_process(directory: str) -> dict:
    """Grade like `grade --mode inprocess`, sharing one cached reference oracle per worker
    process (the reference is deterministic; its timed-training seconds are measured once)."""
    import torch
    torch.set_num_threads(1)
    from grader.trusted import judge, plugin, results
    from grader.trusted import manifest as manifest_module
    from grader.trusted.intake import stage
    global _ORACLE
    if _ORACLE is None:
        _ORACLE = plugin.in_process_session(ROOT / "reference", expected="reference").expected
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ps1-audit-ip-"))
    try:
        intake = stage(Path(directory), work / "submission")
        session = plugin.in_process_session(intake.directory, expected="reference")
        session.expected = _ORACLE
        code, log = judge.run_tests(session, judge.test_dirs(ROOT), ROOT)
        if code not in (0, 1):
            raise RuntimeError(f"pytest exit code {code}:\n{log[-3000:]}")
        final = results.build(manifest_module.load(), session.results,
                              intake_problems=intake.problems,
                              execution_time=time.monotonic() - started)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- sandboxed

def grade_sandboxed(directory: Path, out: Path, env=None, timeout=1500) -> tuple[dict | None, str, int]:
    done = subprocess.run([PYTHON, "-m", "grader", "grade", str(directory), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env or os.environ.copy(), stdin=subprocess.DEVNULL)
    try:
        final = json.loads(out.read_text())
    except (OSError, ValueError):
        final = None
    return final, done.stdout + done.stderr, done.returncode


# ----------------------------------------------------------------------------- Gradescope path

class GradescopePath:
    """Builds dist/autograder.zip once, plants the canary in its reference/ and tests_hidden/,
    then runs each upload through `python -m grader gradescope` (as root, sandbox on)."""

    def __init__(self, work: Path, canary: str, say):
        self.work, self.canary, self.say = work, canary, say
        self.zip = None
        self.detail = ""

    def prepare(self) -> bool:
        if not (ROOT / "grader" / "staff" / "gradescope.py").exists() or not (ROOT / "grader" / "staff" / "build.py").exists():
            self.detail = "grader gradescope/build not available: judge.grade path used"
            return False
        dist = self.work / "dist"
        done = subprocess.run([PYTHON, "-m", "grader", "build", "--out", str(dist)], cwd=ROOT,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        built = dist / "autograder.zip"
        if not built.exists():
            self.detail = f"grader build failed (exit {done.returncode}): judge.grade path used\n" \
                          + (done.stdout + done.stderr)[-2000:]
            return False
        self.zip = self.work / "autograder-canary.zip"
        planted = 0
        with zipfile.ZipFile(built) as src, zipfile.ZipFile(self.zip, "w", zipfile.ZIP_DEFLATED) as dst:
            folders = set()
            for info in src.infolist():
                data = src.read(info)
                parts = Path(info.filename).parts
                secret_dir = next((i for i, p in enumerate(parts)
                                   if p in ("reference", "tests_hidden")), None)
                if secret_dir is not None and not info.is_dir():
                    folders.add("/".join(parts[:secret_dir + 1]))
                    if info.filename.endswith(".py"):
                        data += f"\n# {self.canary}\n".encode()
                        planted += 1
                dst.writestr(info, data)
            for folder in sorted(folders):
                dst.writestr(f"{folder}/CANARY.txt", f"{self.canary}\n")
                planted += 1
        self.detail = f"autograder.zip built; canary planted in {planted} files under " \
                      f"{', '.join(sorted(folders))}"
        return planted > 0

    def run(self, upload: Path, out: Path, env) -> tuple[dict | None, str, int, str | None]:
        done = subprocess.run([PYTHON, "-m", "grader", "gradescope", str(self.zip), str(upload),
                               "--results", str(out), "--verbose", "--keep"],
                              cwd=ROOT, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=1800)
        text = done.stdout + done.stderr
        kept = None  # the kept /autograder copy: the one holding this (uniquely named) upload
        for base in ("/tmp", "/var/tmp"):
            for candidate in Path(base).glob("ps1-gradescope-*"):
                if (candidate / "submission" / upload.name).exists():
                    kept = str(candidate)
        try:
            final = json.loads(out.read_text())
        except (OSError, ValueError):
            final = None
        return final, text, done.returncode, kept

    def harness_changes(self, kept: str | None) -> list[str]:
        """Files of the unpacked autograder that differ from the zip (pycache ignored)."""
        if not kept:
            return ["no kept /autograder to compare"]
        source = Path(kept) / "source"
        changed = []
        with zipfile.ZipFile(self.zip) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                path = source / info.filename
                try:
                    if path.read_bytes() != zf.read(info):
                        changed.append(info.filename)
                except OSError:
                    changed.append(f"{info.filename} (missing)")
        return changed


# ----------------------------------------------------------------------------- the audit

def _zip_upload(directory: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(directory).as_posix())
    return out


def _mutant_row(mutant, final) -> dict:
    score, lost = part_summary(final)
    collateral = sorted(set(lost) - set(mutant.related))
    return {"name": mutant.name, "part": mutant.part, "related": list(mutant.related),
            "score": score, "parts_lost": lost, "collateral": collateral,
            "killed": mutant.part in lost and not collateral, "doc": mutant.doc,
            "collateral_failures": failures(final, collateral)}


def run_inprocess_jobs(jobs: list[tuple[str, Path]], workers: int, say) -> dict:
    """name -> results dict, graded in `workers` spawned processes."""
    out = {}
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                initializer=_worker_init) as pool:
        futures = {pool.submit(grade_in_process, str(path)): name for name, path in jobs}
        for future in cf.as_completed(futures):
            name = futures[future]
            try:
                out[name] = future.result()
            except Exception as exc:  # a grader crash is a finding, not an audit crash
                out[name] = {"score": -1, "tests": [], "error": f"{type(exc).__name__}: {exc}"}
            say(f"  graded {name}: {out[name].get('score')} "
                f"{out[name].get('error', '')}{failures(out[name]) if name.startswith('variant') else ''}")
    return out


def honest_score(case, points, baselines) -> float:
    if case.wrong:
        return float(baselines[case.name].get("score", -1))
    return case.score if case.score is not None else 40.0 - sum(points[p] for p in case.lost)


def malicious_check(case, final, text, code, canary, points, drop_dir, changes,
                    baselines) -> tuple[bool, str, float]:
    problems = []
    expected = honest_score(case, points, baselines)
    if final is None:
        return False, "no results.json", expected
    errors = validate(final)
    if errors:
        problems.append("invalid results.json: " + "; ".join(errors[:3]))
    if any(NOT_FINISHED in t.get("output", "") for t in final.get("tests", [])):
        problems.append("provisional results (grading did not finish)")
    score = float(final.get("score", -1))
    if abs(score - expected) > 1e-9:
        problems.append(f"score {score:g}, expected {expected:g}")
    blob = json.dumps(final) + text
    if canary in blob:
        problems.append("CANARY LEAKED into results.json or output")
    if code != 0:
        problems.append(f"grader exit code {code}")
    if os.path.exists(os.path.join(drop_dir, "grandchild-survived")):
        problems.append("a grandchild survived the sweep and wrote later")
    if changes:
        problems.append("harness files changed: " + ", ".join(changes[:5]))
    if "hidden_1a_failed" in case.checks:
        by_tag = [(t["tags"], t["status"]) for t in final.get("tests", []) if t.get("tags")]
        public = [s for tags, s in by_tag if tags[0] == "1a" and "public" in tags]
        hidden = [s for tags, s in by_tag if tags[0] == "1a" and "hidden" in tags]
        if public != ["passed"] or "passed" in hidden:
            problems.append(f"hard-coded answers: public 1a {public}, hidden 1a {hidden}")
    failures = sorted({t["output"].strip("`\n ").splitlines()[0][:90]
                       for t in final.get("tests", []) if t["status"] == "failed"
                       and t.get("output", "").strip("`\n ")})
    if problems and failures:
        problems.append("failed tests said: " + " | ".join(failures[:3]))
    detail = "; ".join(problems) if problems else (
        case.expect + (f" [failed tests said: {' | '.join(failures[:2])}]" if failures else ""))
    return not problems, detail, expected


def main(args) -> int:
    started = time.monotonic()
    fast = bool(getattr(args, "fast", False))
    workers = int(getattr(args, "jobs", 2) or 2)
    only = set((getattr(args, "only", None) or "mutants,variants,malicious,determinism").split(","))
    say = (lambda *a: print(*a, flush=True))
    work = Path(tempfile.mkdtemp(prefix="ps1-audit-"))
    work.chmod(0o755)
    report = {"fast": fast, "mutants": [], "variants": [], "malicious": [],
              "determinism": {}, "gpu": "no GPU available in this session: CPU only"}
    points = part_points()
    try:
        # ---------------------------------------------------------- mutants and variants
        reference = reference_files()
        mutants = [m for m in MUTANTS if not fast or m.name in FAST_MUTANTS]
        variants = [v for v in VARIANTS if not fast or v.name in FAST_VARIANTS]
        jobs = []
        if "mutants" in only:
            jobs += [(f"mutant:{m.name}", write_tree(apply(reference, m.patches), work / "m" / m.name))
                     for m in mutants]
        if "variants" in only:
            jobs += [(f"variant:{v.name}", write_tree(apply(reference, v.patches), work / "v" / v.name))
                     for v in variants]
        if jobs:
            say(f"grading {len(jobs)} mutants/variants in-process ({workers} workers) ...")
            graded = run_inprocess_jobs(jobs, workers, say)
            for m in mutants if "mutants" in only else ():
                report["mutants"].append(_mutant_row(m, graded[f"mutant:{m.name}"]))
            for v in variants if "variants" in only else ():
                final = graded[f"variant:{v.name}"]
                score, lost = part_summary(final)
                report["variants"].append({"name": v.name, "score": score, "parts_lost": lost,
                                           "doc": v.doc, "failures": failures(final), **({"error": final["error"]} if "error" in final else {})})
        say(f"[{time.monotonic() - started:.0f} s] mutants/variants done")

        # ---------------------------------------------------------- malicious + determinism
        sandbox_jobs = []   # (kind, name, callable) run on a thread pool
        canary = "PS1-AUDIT-CANARY-" + secrets.token_hex(12)
        drop_dir = work / "drop"
        drop_dir.mkdir()
        os.chmod(drop_dir, 0o1777)
        env = dict(os.environ, PS1_AUDIT_SECRET=canary)
        gradescope = GradescopePath(work, canary, say)
        baselines = {}
        cases = [c for c in malicious_module.CASES if not fast or c.name in malicious_module.FAST]
        if getattr(args, "cases", None):
            cases = [c for c in cases if c.name in args.cases.split(",")]
        if "malicious" in only:
            if os.geteuid() != 0:
                say("malicious cases need root (the sandbox user and its limits): skipped")
                report["malicious_skipped"] = "not root"
                cases = []
            else:
                say("building the autograder zip and planting the canary ...")
                use_gradescope = gradescope.prepare()
                report["malicious_path"] = "gradescope" if use_gradescope else "judge.grade"
                report["malicious_path_detail"] = gradescope.detail
                say("  " + gradescope.detail.splitlines()[0])
                if not use_gradescope:  # judge.grade from a canary-planted copy of the repo
                    copy = work / "repo"
                    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
                        ".git", ".venv", "__pycache__", "runs", "dist", "data"))
                    os.symlink(ROOT / "data", copy / "data")
                    for sub in ("reference", "tests_hidden"):
                        (copy / sub / "CANARY.txt").write_text(canary + "\n")
                        for py in (copy / sub).glob("*.py"):
                            py.write_text(py.read_text() + f"\n# {canary}\n")
                    gradescope.copy = copy
                wrong = [(f"baseline:{c.name}", write_tree(apply(reference, c.wrong),
                                                            work / "b" / c.name))
                         for c in cases if c.wrong]
                if wrong:
                    say(f"grading {len(wrong)} attack-free baselines in-process ...")
                    baselines.update({name.split(":", 1)[1]: final for name, final in
                                      run_inprocess_jobs(wrong, workers, say).items()})
                for case in cases:
                    upload_dir = write_tree(malicious_files(case, str(drop_dir)),
                                            work / "x" / case.name)
                    upload = _zip_upload(upload_dir, work / "x" / f"{case.name}.zip")
                    sandbox_jobs.append(("malicious", case, upload))

        subjects = []
        if "determinism" in only:
            runs = 2 if fast else 5
            names = DETERMINISM_MUTANTS[:1] if fast else DETERMINISM_MUTANTS
            subjects = [("reference", reference)] + [
                (n, apply(reference, next(m for m in MUTANTS if m.name == n).patches)) for n in names]
            for name, files in subjects:
                path = write_tree(files, work / "d" / name)
                for run in range(runs):
                    sandbox_jobs.append(("determinism", name, (path, run)))

        def execute(job):
            kind, what, payload = job
            if kind == "malicious":
                out = work / "x" / f"{what.name}.results.json"
                t0 = time.monotonic()
                if gradescope.zip is not None:
                    final, text, code, kept = gradescope.run(payload, out, env)
                    changes = gradescope.harness_changes(kept)
                    if kept:
                        shutil.rmtree(kept, ignore_errors=True)
                else:
                    done = subprocess.run([PYTHON, "-m", "grader", "grade", str(payload), "--json",
                                           str(out)], cwd=gradescope.copy, capture_output=True,
                                          text=True, env=env, stdin=subprocess.DEVNULL)
                    text, code = done.stdout + done.stderr, done.returncode
                    try:
                        final = json.loads(out.read_text())
                    except (OSError, ValueError):
                        final = None
                    changes = []
                handled, detail, expected = malicious_check(what, final, text, code, canary,
                                                            points, str(drop_dir), changes,
                                                            baselines)
                row = {"name": what.name, "score": None if final is None else final.get("score"),
                       "expected_score": expected, "handled": handled, "detail": detail,
                       "seconds": round(time.monotonic() - t0, 1)}
                say(f"  malicious {what.name}: {row['score']} (expected {expected:g}) "
                    f"{'handled' if handled else 'NOT HANDLED: ' + detail}")
                return kind, what.name, row
            path, run = payload
            out = work / "d" / f"{what}.{run}.json"
            final, text, code = grade_sandboxed(path, out)
            say(f"  determinism {what} run {run + 1}: {None if final is None else final.get('score')}")
            return kind, what, final

        determinism_results = {}
        if sandbox_jobs:
            say(f"running {len(sandbox_jobs)} sandboxed gradings ({workers} at a time) ...")
            with cf.ThreadPoolExecutor(max_workers=workers) as pool:
                for kind, name, value in pool.map(execute, sandbox_jobs):
                    if kind == "malicious":
                        report["malicious"].append(value)
                    else:
                        determinism_results.setdefault(name, []).append(value)
        if subjects:
            rows, identical = [], True
            graded_ip = {}
            if "mutants" in only:
                graded_ip = {f"mutant:{m['name']}": m for m in report["mutants"]}
            for name, _ in subjects:
                finals = determinism_results.get(name, [])
                vectors = [test_vector(f) if f else None for f in finals]
                same = bool(vectors) and None not in vectors and all(v == vectors[0] for v in vectors)
                identical &= same
                row = {"name": name, "scores": [f.get("score") if f else None for f in finals],
                       "identical": same}
                ip = graded_ip.get(f"mutant:{name}")
                if ip is not None and finals and finals[0]:
                    row["inprocess_score"] = ip["score"]
                    row["inprocess_matches_sandbox"] = ip["score"] == finals[0].get("score")
                rows.append(row)
            report["determinism"] = {"runs": 2 if fast else 5, "identical": identical,
                                     "subjects": rows}
        report["seconds"] = round(time.monotonic() - started, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(render(report))
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"audit report written to {args.json}")
    return 0 if verdict(report) else 1


def verdict(report: dict) -> bool:
    return (all(m["killed"] for m in report["mutants"])
            and all(v["score"] == 40 for v in report["variants"])
            and all(c["handled"] for c in report["malicious"])
            and report.get("determinism", {}).get("identical", True))


def render(report: dict) -> str:
    lines = ["", "MUTANTS (must lose points in their own part, and only in related parts)",
             f"{'name':<38} {'part':<4} {'score':>5}  {'parts lost':<22} {'killed':<6} collateral"]
    for m in report["mutants"]:
        lines.append(f"{m['name']:<38} {m['part']:<4} {m['score']:>5g}  "
                     f"{','.join(m['parts_lost']) or '-':<22} {'yes' if m['killed'] else 'NO':<6} "
                     f"{','.join(m['collateral']) or '-'}")
    lines += ["", "ALTERNATIVE-CORRECT VARIANTS (must score 40)", f"{'name':<38} {'score':>5}  parts lost"]
    for v in report["variants"]:
        lines.append(f"{v['name']:<38} {v['score']:>5g}  {','.join(v['parts_lost']) or '-'}")
    lines += ["", f"MALICIOUS SUBMISSIONS (path: {report.get('malicious_path', '-')})",
              f"{'name':<34} {'score':>5} {'expect':>6}  {'handled':<7} detail"]
    for c in report["malicious"]:
        score = "-" if c["score"] is None else f"{c['score']:g}"
        lines.append(f"{c['name']:<34} {score:>5} {c['expected_score']:>6g}  "
                     f"{'yes' if c['handled'] else 'NO':<7} {c['detail'][:110]}")
    det = report.get("determinism") or {}
    if det:
        lines += ["", f"DETERMINISM ({det['runs']} sandboxed runs each): "
                      f"{'identical' if det['identical'] else 'NOT IDENTICAL'}"]
        for row in det["subjects"]:
            extra = (f"  in-process {row['inprocess_score']:g} "
                     f"({'matches' if row['inprocess_matches_sandbox'] else 'DIFFERS'})"
                     if "inprocess_score" in row else "")
            lines.append(f"  {row['name']:<36} {row['scores']}{extra}")
    killed = sum(m["killed"] for m in report["mutants"])
    full = sum(v["score"] == 40 for v in report["variants"])
    handled = sum(c["handled"] for c in report["malicious"])
    lines += ["", f"mutants killed {killed}/{len(report['mutants'])}; variants at 40 "
                  f"{full}/{len(report['variants'])}; malicious handled {handled}/"
                  f"{len(report['malicious'])}; determinism "
                  f"{det.get('identical', 'not run')}; {report.get('seconds', 0):g} s; "
                  f"{report['gpu']}"]
    return "\n".join(lines)
