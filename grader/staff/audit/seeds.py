"""Seed sweep: the hidden tests' random inputs come from a per-submission seed, so a check
that some draws cannot fail would let a mistake through for some students. For N seeds:
every mutant must lose points in its own part on every seed, and the reference and every variant
must pass every randomized test on every seed (N // 10 seeds for them: they run the whole
suite). Tests that catch a mutant on some seeds only, beside one that always does, are
listed as incidental.

Tests run in-process, called directly with the plugin's fixtures (no pytest per seed): the
`rng` fixture is derived exactly as in grading, from the seed and the test's node id.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib.util
import inspect
import multiprocessing
import os
import tempfile
from pathlib import Path

from grader import ROOT
from .mutants import FAST as FAST_MUTANTS, MUTANTS, apply
from .sources import reference_files, write_tree
from .variants import FAST as FAST_VARIANTS, VARIANTS

SEED_BASE = 1000  # sweep seeds are SEED_BASE, SEED_BASE + 1, ...


def _tests() -> list[tuple[str, object, dict, bool]]:
    """(node id, function, parameters, randomized) of every test; randomized: a hidden test
    that asks for `rng` (public tests draw from a fixed seed)."""
    found = []
    for path in sorted(ROOT.glob("tests_*/test_*.py")):
        folder = path.parent.name
        spec = importlib.util.spec_from_file_location(f"sweep_{folder}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn):
                continue
            randomized = folder == "tests_hidden" and "rng" in inspect.signature(fn).parameters
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
            base = f"{folder}/{path.name}::{name}"
            if not marks:
                found.append((base, fn, {}, randomized))
                continue
            argname, values = marks[0].args
            found += [(f"{base}[{v}]", fn, {argname: v}, randomized) for v in values]
    return found


def _rng(seed: int, nodeid: str):
    import numpy as np
    digest = hashlib.sha256(f"{seed}:{nodeid}".encode()).digest()[:8]
    return np.random.default_rng(int.from_bytes(digest, "little"))


def _sweep_subject(name: str, directory: str, parts: list | None, seeds: list[int]) -> dict:
    """{node id: [seeds on which the test failed]} of the randomized tests (of `parts`, or
    all), and whether a test of `parts` that does not depend on the seed failed."""
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    import torch
    torch.set_num_threads(1)
    from grader.trusted import manifest
    from grader.trusted.checks import Check
    from grader.trusted.interfaces import Cached
    from grader.worker.inprocess import InProcess, InProcessMeasure
    entries = manifest.load().by_id()
    fixtures = {"submission": InProcess(directory, package=f"sweep_{os.getpid()}"),
                "expected": Cached(InProcess(ROOT / "reference", package="sweep_reference")),
                "measure": InProcessMeasure()}

    def passes(fn, params, nodeid, base) -> bool:
        wanted = inspect.signature(fn).parameters
        args = {k: v for k, v in fixtures.items() if k in wanted}
        args.update(params, rng=_rng(base, nodeid),
                    check=Check(public=nodeid.startswith("tests_public/")))
        try:
            fn(**{k: v for k, v in args.items() if k in wanted})
            return True
        except Exception:  # noqa: BLE001 - a failed check or the student's exception
            return False

    failed, always = {}, False
    for nodeid, fn, params, randomized in _tests():
        if parts is not None and entries[nodeid].part not in parts:
            continue
        if not randomized:
            always = always or (parts is not None and not passes(fn, params, nodeid, "public"))
            continue
        failed[nodeid] = [seed for seed in seeds if not passes(fn, params, nodeid, seed)]
    return {"name": name, "failed": failed, "always": always}


def sweep(ctx, count: int) -> dict:
    seeds = list(range(SEED_BASE, SEED_BASE + count))
    reference = reference_files()
    mutants, variants = ctx.chosen(MUTANTS, FAST_MUTANTS), ctx.chosen(VARIANTS, FAST_VARIANTS)
    work = Path(tempfile.mkdtemp(prefix="seeds-", dir=ctx.work))
    jobs = [(f"mutant:{m.name}", write_tree(apply(reference, m.patches), work / m.name), [m.part],
             seeds) for m in mutants]
    few = seeds[:max(2, count // 10)]
    jobs += [(f"variant:{v.name}", write_tree(apply(reference, v.patches), work / v.name), None,
              few) for v in variants]
    jobs.append(("reference", write_tree(reference, work / "reference"), None, few))
    ctx.say(f"seed sweep: {len(mutants)} mutants x {count} seeds (their own part), "
            f"{len(variants) + 1} correct submissions x {len(few)} seeds (every randomized test)")
    results = {}
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=ctx.workers, mp_context=context) as pool:
        futures = [pool.submit(_sweep_subject, name, str(path), parts, s)
                   for name, path, parts, s in jobs]
        for future in cf.as_completed(futures):
            result = future.result()
            results[result["name"]] = result
            ctx.say(f"  swept {result['name']}")
    rows, correct = [], []
    for m in mutants:
        result = results[f"mutant:{m.name}"]
        failed = result["failed"]
        killed = set(seeds) if result["always"] else set().union(set(), *failed.values())
        flaky = {t: len(s) for t, s in failed.items() if 0 < len(s) < len(seeds)}
        rows.append({"mutant": m.name, "part": m.part, "seeds_tested": len(seeds),
                     "failed_seeds": sorted(set(seeds) - killed),
                     "killed_without_seed": result["always"],
                     "randomized_tests": len(failed), "seed_dependent_tests": flaky})
    for name in [f"variant:{v.name}" for v in variants] + ["reference"]:
        bad = {t: s for t, s in results[name]["failed"].items() if s}
        correct.append({"name": name, "seeds_tested": len(few), "failures": bad})
    return {"seeds": count, "rows": rows, "correct": correct}
