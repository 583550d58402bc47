"""The audit runner: grades mutants, variants, malicious submissions, repeated runs and seed
sweeps, in parallel, and checks each against its expectation. No torch here (in-process
gradings import it in their own processes)."""
from __future__ import annotations

import concurrent.futures as cf
import fnmatch
import json
import os
import secrets
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from grader import ROOT
from grader.staff.contexts import evidence
from . import malicious as malicious_module
from .grading import GradescopePath, grade_sandboxed, run_inprocess_jobs
from .listener import Listener
from .mutants import FAST as FAST_MUTANTS, MUTANTS, apply
from .render import render, verdict
from .sources import malicious_files, reference_files, write_tree, zip_upload
from .variants import FAST as FAST_VARIANTS, VARIANTS
from .verdicts import (failures, honest_score, malicious_check, mutant_row, part_points,
                       part_summary, test_vector)

DETERMINISM_MUTANTS = ("nll_mean_over_dims", "train_no_zero_grad", "sample_stale_canvas")
CHECKOUT_CANARY = ".ps1-audit-canary"  # planted in the staff checkout while the audit runs


@dataclass
class Context:
    work: Path
    say: object
    workers: int
    fast: bool
    canary: str
    drop_dir: str
    victim: str
    match: tuple = ()  # name patterns (--match): only the mutants and variants they match
    listeners: dict = field(default_factory=dict)  # case name -> its Listener on 127.0.0.1

    def chosen(self, items, fast_names) -> list:
        """The mutants or variants this run grades (--fast, --match)."""
        return [i for i in items if (not self.fast or i.name in fast_names) and (
            not self.match or any(fnmatch.fnmatch(i.name, p) for p in self.match))]

    def marker(self, case) -> str:
        """Unique to this run (its work folder's random name): two audits on one machine must
        not find each other's in-flight files as leftovers."""
        return f"{self.work.name}-{case.name}-mark"

    @property
    def shm_key(self) -> int:
        """The persistence attack's SysV key, unique to this run for the same reason."""
        return 0x50530000 | zlib.crc32(self.work.name.encode()) & 0xFFFF

    def victim_changed(self) -> bool:
        try:
            return Path(self.victim).read_text() != self.canary
        except OSError:
            return True


def mutants_and_variants(ctx: Context, report: dict, only: set) -> None:
    reference = reference_files()
    mutants, variants = ctx.chosen(MUTANTS, FAST_MUTANTS), ctx.chosen(VARIANTS, FAST_VARIANTS)
    jobs = []
    if "mutants" in only:
        jobs += [(f"mutant:{m.name}", write_tree(apply(reference, m.patches),
                                                 ctx.work / "m" / m.name)) for m in mutants]
    if "variants" in only:
        jobs += [(f"variant:{v.name}", write_tree(apply(reference, v.patches),
                                                  ctx.work / "v" / v.name)) for v in variants]
    if not jobs:
        return
    ctx.say(f"grading {len(jobs)} mutants/variants in-process ({ctx.workers} workers) ...")
    graded = run_inprocess_jobs(jobs, ctx.workers, ctx.say)
    for m in mutants if "mutants" in only else ():
        report["mutants"].append(mutant_row(m, graded[f"mutant:{m.name}"]))
    # The context table's evidence: each cell's mutant fails one of the cell's tests.
    report["contexts"] = evidence(report["mutants"])
    for v in variants if "variants" in only else ():
        final = graded[f"variant:{v.name}"]
        score, lost = part_summary(final)
        report["variants"].append({"name": v.name, "score": score, "parts_lost": lost,
                                   "doc": v.doc, "failures": failures(final),
                                   **({"error": final["error"]} if "error" in final else {})})


def _malicious_jobs(ctx: Context, report: dict, cases, gradescope) -> list:
    ctx.say("building the autograder zip and planting the canary ...")
    if not gradescope.prepare():
        raise RuntimeError(f"the Gradescope path is not available: {gradescope.detail}")
    report["malicious_path"], report["malicious_path_detail"] = "gradescope", gradescope.detail
    substitutions = {"DROP_DIR": ctx.drop_dir, "VICTIM_PATH": ctx.victim, "SHM_KEY": ctx.shm_key}
    jobs = []
    for case in cases:
        if "listener_silent" in case.checks:
            ctx.listeners[case.name] = Listener()
            substitutions.update(ctx.listeners[case.name].ports)
        files = malicious_files(case, dict(substitutions, MARKER=ctx.marker(case)))
        folder = write_tree(files, ctx.work / "x" / case.name)
        upload = folder if case.upload == "folder" else zip_upload(
            folder, ctx.work / "x" / f"{case.name}.zip")
        jobs.append(("malicious", case, upload))
    return jobs


def _baselines(ctx: Context, cases) -> dict:
    """Scores of the cases' mistakes without their attacks: their honest scores."""
    wrong = [(f"baseline:{c.name}", write_tree(apply(reference_files(), c.wrong),
                                               ctx.work / "b" / c.name)) for c in cases if c.wrong]
    if not wrong:
        return {}
    ctx.say(f"grading {len(wrong)} attack-free baselines in-process ...")
    return {name.split(":", 1)[1]: final for name, final in
            run_inprocess_jobs(wrong, ctx.workers, ctx.say).items()}


def _determinism_jobs(ctx: Context) -> tuple[list, list]:
    reference = reference_files()
    runs = 2 if ctx.fast else 5
    names = DETERMINISM_MUTANTS[:1] if ctx.fast else DETERMINISM_MUTANTS
    subjects = [("reference", reference)] + [
        (n, apply(reference, next(m for m in MUTANTS if m.name == n).patches)) for n in names]
    jobs = []
    for name, files in subjects:
        path = write_tree(files, ctx.work / "d" / name)
        jobs += [("determinism", name, (path, run)) for run in range(runs)]
    return subjects, jobs


def _determinism_report(ctx: Context, report: dict, subjects, results: dict) -> None:
    rows, identical = [], True
    graded_ip = {m["name"]: m for m in report["mutants"]}
    for name, _ in subjects:
        finals = results.get(name, [])
        vectors = [test_vector(f) if f else None for f in finals]
        same = bool(vectors) and None not in vectors and all(v == vectors[0] for v in vectors)
        identical &= same
        row = {"name": name, "scores": [f.get("score") if f else None for f in finals],
               "identical": same}
        if name in graded_ip and finals and finals[0]:
            row["inprocess_score"] = graded_ip[name]["score"]
            row["inprocess_matches_sandbox"] = graded_ip[name]["score"] == finals[0].get("score")
        rows.append(row)
    report["determinism"] = {"runs": 2 if ctx.fast else 5, "identical": identical,
                             "subjects": rows}


def sandboxed(ctx: Context, report: dict, only: set, case_names) -> None:
    points, baselines, jobs, subjects = part_points(), {}, [], []
    gradescope = GradescopePath(ctx.work, ctx.canary)
    env = dict(os.environ, PS1_AUDIT_SECRET=ctx.canary)
    if "malicious" in only:
        cases = [c for c in malicious_module.CASES
                 if (not ctx.fast or c.name in malicious_module.FAST)
                 and (not case_names or c.name in case_names)]
        if os.geteuid() != 0:
            ctx.say("malicious cases need root (the sandbox user and its limits): skipped")
            report["malicious_skipped"] = "not root"
        elif cases:
            baselines = _baselines(ctx, cases)
            jobs += _malicious_jobs(ctx, report, cases, gradescope)
    if "determinism" in only:
        subjects, more = _determinism_jobs(ctx)
        jobs += more

    def execute(job):
        kind, what, payload = job
        if kind == "determinism":
            path, run = payload
            final, _, _ = grade_sandboxed(path, ctx.work / "d" / f"{what}.{run}.json")
            ctx.say(f"  determinism {what} run {run + 1}: {final and final.get('score')}")
            return kind, what, final
        started = time.monotonic()
        final, text, code, changes = gradescope.run(
            payload, ctx.work / "x" / f"{what.name}.results.json", env, docker=what.docker)
        expected = honest_score(what, points, baselines)
        handled, detail = malicious_check(what, final, text, code, ctx, changes, expected)
        row = {"name": what.name, "score": None if final is None else final.get("score"),
               "expected_score": expected, "handled": handled, "detail": detail,
               "seconds": round(time.monotonic() - started, 1)}
        ctx.say(f"  malicious {what.name}: {row['score']} (expected {expected:g}) "
                f"{'handled' if handled else 'NOT HANDLED: ' + detail}")
        return kind, what.name, row

    determinism = {}
    if jobs:
        ctx.say(f"running {len(jobs)} sandboxed gradings ({ctx.workers} at a time) ...")
        with cf.ThreadPoolExecutor(max_workers=ctx.workers) as pool:
            for kind, name, value in pool.map(execute, jobs):
                if kind == "malicious":
                    report["malicious"].append(value)
                else:
                    determinism.setdefault(name, []).append(value)
    if subjects:
        _determinism_report(ctx, report, subjects, determinism)


def _plant(ctx: Context) -> list[Path]:
    """The victim file a planted link must not reach, and a canary in the staff checkout."""
    Path(ctx.victim).write_text(ctx.canary)
    os.chmod(ctx.victim, 0o644)
    planted = ROOT / CHECKOUT_CANARY
    planted.write_text(ctx.canary + "\n")
    os.chmod(planted, 0o644)
    return [planted]


def main(args) -> int:
    started = time.monotonic()
    only = set((getattr(args, "only", None) or
                "mutants,variants,malicious,determinism,theft,seeds").split(","))
    work = Path(tempfile.mkdtemp(prefix="ps1-audit-"))
    work.chmod(0o755)
    drop = work / "drop"
    drop.mkdir()
    os.chmod(drop, 0o1777)
    ctx = Context(work, lambda *a: print(*a, flush=True), int(getattr(args, "jobs", 2) or 2),
                  bool(getattr(args, "fast", False)), "PS1-AUDIT-CANARY-" + secrets.token_hex(12),
                  str(drop), str(work / "victim.txt"),
                  tuple(p for p in (getattr(args, "match", None) or "").split(",") if p))
    report = {"fast": ctx.fast, "mutants": [], "variants": [], "malicious": [],
              "determinism": {}, "gpu": "no GPU available in this session: CPU only"}
    planted = _plant(ctx)
    try:
        mutants_and_variants(ctx, report, only)
        ctx.say(f"[{time.monotonic() - started:.0f} s] mutants/variants done")
        case_names = set((getattr(args, "cases", None) or "").split(",")) - {""}
        sandboxed(ctx, report, only, case_names)
        if "theft" in only and not ctx.fast and not case_names and os.geteuid() == 0:
            from .batch_attacks import batch_attacks
            from .concurrency import theft
            report["malicious"] += theft(ctx) + batch_attacks(ctx)
        if "seeds" in only and getattr(args, "seeds", 0):
            from .seeds import sweep
            report["seeds"] = sweep(ctx, int(args.seeds))
        report["seconds"] = round(time.monotonic() - started, 1)
    finally:
        for listener in ctx.listeners.values():
            listener.close()
        for path in planted:
            path.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    print(render(report))
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"audit report written to {args.json}")
    return 0 if verdict(report) else 1
