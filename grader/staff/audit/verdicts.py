"""What each audited grading should have come to, and whether it did (no torch)."""
from __future__ import annotations

import json
import os
import re

from grader import STUDENT_MODULES
from grader.trusted.results import validate
from grader.trusted.scores import EXTRA, TOTAL

FULL = float(TOTAL + EXTRA)  # full marks: the 40 points and the extra credit (attention.py)

NOT_FINISHED = "grading did not finish"
SHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
# Text a person reads holds no control character, lone surrogate or bidi control (newline,
# tab and, in a terminal, carriage return aside), and Markdown renders to our tags only.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069]")
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
OUR_TAGS = {"p", "strong", "em", "table", "thead", "tbody", "tr", "th", "td", "code", "pre",
            "ul", "li", "br", "h1", "h2"}
TAG = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9-]*)")
# The staff's prose names the modules ("attention.py"): a fuzzy linkifier makes them links.
MODULE = "(?:%s)\\.py" % "|".join(STUDENT_MODULES)
MODULE_LINK = re.compile(f'<a href="http://{MODULE}">{MODULE}</a>')


def part_points() -> dict:
    from grader.trusted.manifest import load
    return {part: float(info["points"]) for part, info in load().parts.items()}


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


def failures(final: dict, parts=None) -> dict:
    """test name -> first line of its failure message (only in `parts` when given)."""
    out = {}
    for test in final.get("tests", []):
        part = (test.get("tags") or ["?"])[0]
        if test.get("status") == "failed" and test.get("number") != "0" and (
                parts is None or part in parts):
            text = test.get("output", "").strip("`\n ").splitlines()
            out[test["name"]] = (text[0] if text else "")[:200]
    return out


def passes(final: dict, parts) -> list[str]:
    return [t["name"] for t in final.get("tests", []) if t.get("status") == "passed"
            and (t.get("tags") or ["?"])[0] in parts]


def failed_ids(final: dict) -> list[str]:
    """Manifest ids of the failed tests (results.json names them by Gradescope number)."""
    from grader.trusted.manifest import load
    ids = {t.number: t.id for t in load().tests}
    return sorted(ids[t["number"]] for t in final.get("tests", [])
                  if t.get("status") == "failed" and t.get("number") in ids)


def test_vector(final: dict) -> list:
    return [(t.get("number"), t.get("score")) for t in final.get("tests", [])]


def caught_publicly(final: dict, part: str) -> bool:
    return any(t.get("status") == "failed" and (t.get("tags") or [""])[0] == part
               and "public" in t.get("tags", []) for t in final.get("tests", []))


def mutant_row(mutant, final) -> dict:
    """Killed: it loses points in its own part and only in related ones; a mistake of SPEC's
    catalogue, or an everyday slip marked "SLIP:" (issue 21), must also fail a public test of
    its part (students are warned before the deadline)."""
    score, lost = part_summary(final)
    collateral = sorted(set(lost) - set(mutant.related))
    public = caught_publicly(final, mutant.part)
    catalogue = mutant.doc.startswith(("SPEC:", "SLIP:"))
    killed = mutant.part in lost and not collateral and (public or not catalogue)
    row = {"name": mutant.name, "part": mutant.part, "related": list(mutant.related),
           "score": score, "parts_lost": lost, "collateral": collateral, "killed": killed,
           "caught_publicly": public, "catalogue": catalogue,
           "doc": mutant.doc, "collateral_failures": failures(final, collateral),
           "failed_tests": failed_ids(final)}
    if "error" in final:
        row["error"] = final["error"]
    if not killed:  # name what let it through
        row["passed_in_its_part"] = passes(final, [mutant.part])
    return row


def honest_score(case, points, baselines) -> float:
    if case.wrong:
        return float(baselines[case.name].get("score", -1))
    if case.score is not None:
        return case.score
    from grader.trusted.manifest import load
    failing = sum(t.points for t in load().tests
                  if case.failing and t.id.startswith(case.failing) and t.part not in case.lost)
    return FULL - sum(points[p] for p in case.lost) - failing


def _walk_names(top: str):
    """Every name under `top`, iteratively (an attack may nest folders thousands deep)."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            yield entry.path
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
            except OSError:
                pass


def leftovers(marker: str, shm_key: int) -> list[str]:
    """Files or folders named with `marker` left in the shared writable places, and a SysV
    shared-memory segment with `shm_key` (the persistence attack's)."""
    found = [p for top in SHARED for p in _walk_names(top) if marker in os.path.basename(p)]
    try:
        with open("/proc/sysvipc/shm") as f:
            found += [f"SysV shm key {shm_key:#x}" for line in f
                      if line.split()[:1] == [str(shm_key)]]
    except OSError:
        pass
    return found[:5]


def student_markup(markdown: str, ours=MODULE_LINK) -> set[str]:
    """The tags `markdown` renders to that are not ours, under the most permissive renderer:
    GitHub-flavoured Markdown with raw HTML and linkify on (markdown-it-py)."""
    from markdown_it import MarkdownIt
    html = ours.sub("", MarkdownIt("gfm-like", {"html": True, "linkify": True}).render(markdown))
    return {tag.lower() for tag in TAG.findall(html)} - OUR_TAGS


def active_text(final: dict, terminal: str) -> list[str]:
    """What in results.json or the command's output a person would not see as plain data."""
    strings = []

    def walk(value):
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(final)
    found = [f"a control character in results.json: {s[:80]!r}" for s in strings
             if CONTROL.search(s)][:2]
    for markdown in [final.get("output", "")] + [t.get("output", "") for t in final["tests"]]:
        tags = student_markup(markdown)
        if tags:
            found.append(f"markup renders to {sorted(tags)}: {markdown[:120]!r}")
    if TERMINAL_CONTROL.search(terminal):
        found.append("an escape sequence reached the terminal: "
                     f"{terminal[TERMINAL_CONTROL.search(terminal).start():][:40]!r}")
    return found


def malicious_check(case, final, text, code, ctx, changes, expected) -> tuple[bool, str]:
    problems = []
    if final is None:
        return False, "no results.json"
    errors = validate(final)
    if errors:
        problems.append("invalid results.json: " + "; ".join(errors[:3]))
    if any(NOT_FINISHED in t.get("output", "") for t in final.get("tests", [])):
        problems.append("provisional results (grading did not finish)")
    score = float(final.get("score", -1))
    # A forgery (a wrong implementation, `wrong`) must never score more than that code earns
    # without it; it may earn less: within a test its worker's state lasts (a session worker,
    # as in-process), so what it patched can break its own later probes. Any other attack is
    # on correct code, whose score it must leave exactly as it was.
    if score > expected + 1e-9 or (score < expected - 1e-9 and not case.wrong):
        problems.append(f"score {score:g}, expected {expected:g}")
    if ctx.canary in json.dumps(final) + text:
        problems.append("CANARY LEAKED into results.json or output")
    if code != 0:
        problems.append(f"grader exit code {code}")
    if os.path.exists(os.path.join(ctx.drop_dir, "grandchild-survived")):
        problems.append("a grandchild survived the sweep and wrote later")
    if changes:
        problems.append("harness files changed: " + ", ".join(changes[:5]))
    if "hidden_1a_failed" in case.checks:
        by_tag = [(t["tags"], t["status"]) for t in final.get("tests", []) if t.get("tags")]
        public = [s for tags, s in by_tag if tags[0] == "1a" and "public" in tags]
        hidden = [s for tags, s in by_tag if tags[0] == "1a" and "hidden" in tags]
        if public != ["passed"] or "passed" in hidden:
            problems.append(f"hard-coded answers: public 1a {public}, hidden 1a {hidden}")
    if "no_leftovers" in case.checks:
        left = leftovers(ctx.marker(case), ctx.shm_key)
        if left:
            problems.append("left behind after grading: " + ", ".join(left))
    if "listener_silent" in case.checks and ctx.listeners[case.name].heard():
        heard = ctx.listeners[case.name].heard()
        problems.append(f"{len(heard)} times the audit's listener on 127.0.0.1 got data: "
                        + ", ".join(sorted(set(heard))))
    if "inert_text" in case.checks:
        problems += active_text(final, text)
    if "victim_unchanged" in case.checks and ctx.victim_changed():
        problems.append("a root-owned file was overwritten through a planted link")
    failed = failures(final)
    if problems and failed:  # the failing tests, by name, with what they said
        problems.append("failed tests: " + " | ".join(f"{n}: {m}" for n, m in failed.items()))
    detail = "; ".join(problems) if problems else (
        case.expect + (f" [failed tests said: {' | '.join(list(failed.values())[:2])}]"
                       if failed else ""))
    return not problems, detail
