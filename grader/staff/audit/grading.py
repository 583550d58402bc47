"""Grading for the audit: in-process (mutants, variants: many, fast), through `python -m
grader grade` (determinism) and through the Gradescope path as root (malicious)."""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from grader import ROOT
from grader.trusted.seccomp import docker_like

PYTHON = sys.executable
_ORACLE = None


def _worker_init():
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def grade_in_process(directory: str) -> dict:
    """Grade like `grade --mode inprocess`, sharing one cached reference oracle per worker
    process (the reference is deterministic; its timed-training runs are measured once)."""
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
        return results.build(manifest_module.load(), session.results,
                             intake_problems=intake.problems,
                             execution_time=time.monotonic() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
            say(f"  graded {name}: {out[name].get('score')} {out[name].get('error', '')}")
    return out


def grade_sandboxed(directory: Path, out: Path, env=None, timeout=1500):
    done = subprocess.run([PYTHON, "-m", "grader", "grade", str(directory), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env or os.environ.copy(), stdin=subprocess.DEVNULL)
    try:
        final = json.loads(out.read_text())
    except (OSError, ValueError):
        final = None
    return final, done.stdout + done.stderr, done.returncode


class GradescopePath:
    """Builds dist/autograder.zip once, plants the canary in its reference/ and tests_hidden/,
    then runs each upload through `python -m grader gradescope` (as root, sandbox on)."""

    def __init__(self, work: Path, canary: str):
        self.work, self.canary = work, canary
        self.zip = None
        self.detail = ""

    def prepare(self) -> bool:
        dist = self.work / "dist"
        done = subprocess.run([PYTHON, "-m", "grader", "build", "--out", str(dist)], cwd=ROOT,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        built = dist / "autograder.zip"
        if not built.exists():
            self.detail = f"grader build failed (exit {done.returncode})\n" \
                          + (done.stdout + done.stderr)[-2000:]
            return False
        self.zip = self.work / "autograder-canary.zip"
        planted, folders = 0, set()
        with zipfile.ZipFile(built) as src, zipfile.ZipFile(self.zip, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                parts = Path(info.filename).parts
                secret = next((i for i, p in enumerate(parts)
                               if p in ("reference", "tests_hidden")), None)
                if secret is not None and not info.is_dir():
                    folders.add("/".join(parts[:secret + 1]))
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

    def run(self, upload: Path, out: Path, env, docker: bool = False):
        """(results or None, output, exit code, files of the harness that changed); `docker`:
        under Docker's default-profile refusals, as Gradescope runs it (the sweep path)."""
        argv = [PYTHON, "-m", "grader", "gradescope", str(self.zip), str(upload),
                "--results", str(out), "--verbose", "--keep"]
        done = subprocess.run(docker_like(argv) if docker else argv,
                              cwd=ROOT, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=1800)
        text = done.stdout + done.stderr
        kept = next((line.split(" ", 1)[1].strip() for line in text.splitlines()
                     if line.startswith("kept /")), None)
        try:
            final = json.loads(out.read_text())
        except (OSError, ValueError):
            final = None
        changes = self.harness_changes(kept)
        if kept:
            shutil.rmtree(kept, ignore_errors=True)
        return final, text, done.returncode, changes

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
                try:
                    if (source / info.filename).read_bytes() != zf.read(info):
                        changed.append(info.filename)
                except OSError:
                    changed.append(f"{info.filename} (missing)")
        return changed
