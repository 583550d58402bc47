"""Theft between submissions graded at the same time: a thief and a victim through
`python -m grader batch --jobs 2`. The thief looks for the victim's staged modules, run
folders and anything else readable for 6 s per call while both are graded; nothing of the victim may
reach the thief's results, and both must score 40."""
from __future__ import annotations

import csv
import json
import secrets
import subprocess

from .grading import PYTHON
from .malicious.attacks import _fn
from .sources import _indent_after, reference_files, write_tree
from .verdicts import failures
from grader import ROOT
from grader.trusted.seccomp import docker_like

STEAL = _fn('''
import os as _os, time as _time
_found, _end = [], _time.monotonic() + 6
while not _found and _time.monotonic() < _end:
    for _top in ("/tmp", "/var/tmp", "/dev/shm"):
        for _root, _dirs, _files in _os.walk(_top):
            for _name in _files:
                try:
                    with open(_os.path.join(_root, _name), "rb") as _f:
                        _data = _f.read(1 << 20)
                except OSError:
                    continue
                if (b"PS1-" + b"THEFT-") in _data:  # not spelt out: this file would match
                    _found.append(_os.path.join(_root, _name) + ": " + _data.decode(errors="replace"))
    _time.sleep(0.5)
_leak(_found)
''')


def theft(ctx) -> list[dict]:
    """Once with namespaces (where the machine has them) and once under Docker's refusals
    (the sweep path, as on Gradescope)."""
    return [_theft(ctx, "", docker=False), _theft(ctx, "_swept", docker=True)]


def _theft(ctx, suffix: str, docker: bool) -> dict:
    secret = "PS1-THEFT-" + secrets.token_hex(8)
    folder = ctx.work / f"theft{suffix}"
    victim, thief = reference_files(), reference_files()
    victim["probability.py"] += f"\n# {secret}\n"
    thief["probability.py"] = _indent_after(thief["probability.py"], "# BEGIN SOLUTION 1a", STEAL)
    write_tree(victim, folder / "a-victim")
    write_tree(thief, folder / "b-thief")
    ctx.say("theft: grading a victim and a thief at the same time (grader batch --jobs 2) ...")
    out, report = ctx.work / f"theft{suffix}.csv", ctx.work / f"theft{suffix}-report"
    argv = [PYTHON, "-m", "grader", "batch", str(folder), "--csv", str(out), "--jobs", "2",
            "--report", str(report), "--no-cache"]
    done = subprocess.run(docker_like(argv) if docker else argv, cwd=ROOT, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=1800)
    problems = []
    try:
        rows = {r["submission"]: r for r in csv.DictReader(out.open())}
    except OSError:
        rows = {}
    scores = {name: rows.get(name, {}).get("total") for name in ("a-victim", "b-thief")}
    if any(v in (None, "") or float(v) != 40 for v in scores.values()):
        failed = {}
        for path in (report).rglob("*.json"):
            try:
                final = json.loads(path.read_text()).get("results") or {}
            except (OSError, ValueError):
                continue
            failed.update(failures(final))
        problems.append(f"scores {scores}, expected 40 each; failed: {failed}")
    leaked = [p for p in (report).rglob("*") if p.is_file()
              and secret in p.read_text(errors="replace")] + (
        ["batch output"] if secret in done.stdout + done.stderr else [])
    if leaked:
        problems.append(f"the victim's code reached {', '.join(map(str, leaked[:3]))}")
    if done.returncode != 0:
        problems.append(f"batch exit code {done.returncode}: {done.stderr[-500:]}")
    return {"name": f"theft_between_concurrent_gradings{suffix}", "score": 40.0 if not problems else None,
            "expected_score": 40.0, "handled": not problems,
            "detail": "; ".join(problems) or "the thief found nothing of the victim; both 40"}
