"""Issue 20's attacks on `grader batch --jobs 2`, with namespaces (where the machine has them)
and on the sweep path: one Gradescope export holding

- a victim: the reference, whose display name is a spreadsheet formula;
- a hog: the reference, whose every worker keeps three processes spinning on the CPUs;
- two colluders: each drops a file into the other's world-writable /tmp folder and keeps
  swapping its own folder for a link to a root-only folder, so that root's sweep of the other
  follows the link and deletes the root-only file of the same name;
- an impostor: uploads a submission_metadata.json naming the victim;
- an upload whose folders nest deeper than any submission's.

Expected: the victim scores 40 (the hog took nothing from it), the root-only file is
untouched, every upload has its row (the deep one an error row of its own), the impostor is
who the export says, and no CSV cell starts like a formula."""
from __future__ import annotations

import csv
import os
import secrets
import subprocess
from pathlib import Path

from .grading import PYTHON
from .sources import reference_files, write_tree
from grader import ROOT
from grader.staff.export import MAX_DEPTH, METADATA_YML
from grader.trusted.seccomp import docker_like

FORMULA = '=HYPERLINK("http://example.invalid","grades")'
HOG = '''
import os as _hog_os
if not _hog_os.environ.get("PS1_AUDIT_HOG"):  # once per worker, however many modules it imports
    _hog_os.environ["PS1_AUDIT_HOG"] = "1"
    _hog_parent = _hog_os.getpid()
    for _ in range(3):
        if _hog_os.fork() == 0:
            while _hog_os.getppid() == _hog_parent:
                pass
            _hog_os._exit(0)
'''
COLLUDE = '''
import os as _c_os, glob as _c_glob, threading as _c_threading, time as _c_time
def _c_collude(target="{target}", prefix="/tmp/ps1-collude-{token}-"):
    mine = prefix + str(_c_os.getuid())
    try:
        _c_os.mkdir(mine)
        _c_os.chmod(mine, 0o777)
    except OSError:
        pass
    end = _c_time.monotonic() + 20
    while _c_time.monotonic() < end:
        for other in _c_glob.glob(prefix + "*"):
            if other != mine and other[-1].isdigit() and not _c_os.path.islink(other):
                try:
                    with open(other + "/secret", "w") as stream:
                        stream.write("planted")
                except OSError:
                    pass
        try:  # root's sweep of the other user may now look into the root-only folder
            _c_os.rename(mine, mine + ".away")
            _c_os.symlink(target, mine)
            _c_time.sleep(0.002)
            _c_os.unlink(mine)
            _c_os.rename(mine + ".away", mine)
        except OSError:
            pass
_c_threading.Thread(target=_c_collude, daemon=True).start()
'''


def batch_attacks(ctx) -> list[dict]:
    """With namespaces, and under Docker's refusals (the sweep path, as on Gradescope)."""
    return [_attacks(ctx, "", docker=False), _attacks(ctx, "_swept", docker=True)]


def _export(folder: Path, target: Path, token: str) -> None:
    uploads = {"a-victim": reference_files(), "b-hog": reference_files(),
               "c-colluder1": reference_files(), "c-colluder2": reference_files(),
               "d-impostor": reference_files(), "e-deep": reference_files()}
    for name in uploads["b-hog"]:
        uploads["b-hog"][name] += HOG
    for key in ("c-colluder1", "c-colluder2"):
        uploads[key]["probability.py"] += COLLUDE.format(target=target, token=token)
    uploads["d-impostor"]["submission_metadata.json"] = (
        '{"users": [{"name": "Vic Tim", "email": "victim@uni.edu", "sid": "1"}]}')
    people = {"a-victim": (FORMULA, "victim@uni.edu", "1"), "b-hog": ("Hog", "hog@uni.edu", "2"),
              "c-colluder1": ("Col One", "c1@uni.edu", "3"),
              "c-colluder2": ("Col Two", "c2@uni.edu", "4"),
              "d-impostor": ("Imp Ostor", "imp@uni.edu", "5"),
              "e-deep": ("Dee P", "d@uni.edu", "6")}
    lines = []
    for key, files in uploads.items():
        write_tree(files, folder / key)
        name, email, sid = people[key]
        lines += [f"{key}:", "  :submitters:", f"  - :name: '{name}'", f"    :sid: '{sid}'",
                  f"    :email: {email}", "  :score: 40.0"]
    (folder / METADATA_YML).write_text("\n".join(lines) + "\n")
    (folder / "e-deep" / "/".join(["d"] * (MAX_DEPTH + 4)) / "x").mkdir(parents=True)


def _attacks(ctx, suffix: str, docker: bool) -> dict:
    token = secrets.token_hex(6)
    target = Path(f"/var/tmp/ps1-audit-rootonly-{token}")
    target.mkdir(mode=0o700)
    (target / "secret").write_text("root's")
    os.chmod(target / "secret", 0o600)
    folder = ctx.work / f"batch{suffix}"
    _export(folder, target, token)
    ctx.say(f"batch attacks{suffix}: a hog, colluders, an impostor, a formula name and a deep "
            f"tree in one export (grader batch --jobs 2) ...")
    out, report = ctx.work / f"batch{suffix}.csv", ctx.work / f"batch{suffix}-report"
    try:
        argv = [PYTHON, "-m", "grader", "batch", str(folder), "--csv", str(out), "--jobs", "2",
                "--report", str(report), "--no-cache"]
        done = subprocess.run(docker_like(argv) if docker else argv, cwd=ROOT,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=2400)
        problems = _problems(out, done)
        try:
            if (target / "secret").read_text() != "root's":
                problems.append("the root-only file was changed")
        except OSError as exc:
            problems.append(f"root's sweep deleted the root-only file ({exc.strerror})")
    finally:
        subprocess.run(["rm", "-rf", str(target), *map(str, Path("/tmp").glob(
            f"ps1-collude-{token}-*"))], check=False)  # rm: never follows the links
    return {"name": f"batch_attacks{suffix}", "score": 40.0 if not problems else None,
            "expected_score": 40.0, "handled": not problems,
            "detail": "; ".join(problems) or "victim 40 beside a hog, root-only file untouched, "
                      "identities from the export, no formula cell, the deep upload its own row"}


def _problems(out: Path, done) -> list[str]:
    problems = [] if done.returncode == 0 else [
        f"batch exit code {done.returncode}: {done.stderr[-500:]}"]
    try:
        with open(out, newline="") as stream:
            raw = list(csv.reader(stream))
    except OSError:
        return problems + ["no CSV written"]
    header, lines = raw[0], raw[1:]
    rows = {line[header.index("submission")]: dict(zip(header, line)) for line in lines}
    if len(lines) != 6:
        problems.append(f"{len(lines)} rows for 6 uploads")
    victim = rows.get("a-victim", {})
    if victim.get("total") != "40":
        problems.append(f"the victim beside the hog scored {victim.get('total')!r}, not 40")
    if victim.get("student") != "'" + FORMULA:
        problems.append(f"the formula name reached the CSV as {victim.get('student')!r}")
    formulas = [c for line in raw for c in line if c.startswith(("=", "+", "-", "@"))]
    if formulas:
        problems.append(f"cells a spreadsheet runs as formulas: {formulas[:3]}")
    if rows.get("d-impostor", {}).get("student") != "Imp Ostor" or sum(
            r.get("email") == "victim@uni.edu" for r in rows.values()) != 1:
        problems.append("the impostor's uploaded metadata decided whose row it is")
    if "nest more than" not in rows.get("e-deep", {}).get("error", ""):
        problems.append(f"the deep upload's row: {rows.get('e-deep')}")
    return problems
