"""The one per-part score table, read from a results.json (judge side: no torch).

Every place that shows a score uses it: `python -m grader grade`, make_submission.py,
`python -m grader gradescope`, the terminal summary of `pytest tests_public`, and (as
Markdown) the top-level `output` of results.json that Gradescope shows a student first.

A test that did not run (hidden tests outside Gradescope, a grading that did not finish) is
marked in results.json (`extra_data.not_run`) and counted apart: never as a failure.

Extra-credit parts (part 6, tagged "extra" in results.json) are shown below the regular
parts and totalled apart: "Total: 40 / 40, extra credit 5 / 5". results.json's `score` is
the sum of both (Gradescope accepts a score above the assignment's 40 points).
"""
from dataclasses import dataclass, field

from grader.trusted import text as escape

TOTAL = 40
EXTRA = 5
EXTRA_TAG = "extra"
EXTRA_HEADING = "extra credit (optional, beyond the 40 points)"
NOT_RUN = "not_run"
HIDDEN_WHEN = "results are shown when the staff publish the grades"
# When Gradescope shows a test of each withholding visibility (manifest.toml, per test).
SHOWN = {"after_published": ("results are shown when the staff publish the grades",
                             "shown after grades are published"),
         "after_due_date": ("results are shown after the due date", "shown after the due date")}


def hidden_when(final: dict) -> tuple[str, str]:
    """(sentence, short) saying when the withheld tests of `final` are shown: after the due
    date only when every one of them is `after_due_date`, else when grades are published."""
    withheld = {t.get("visibility") for t in final.get("tests", [])
                if t.get("visibility", "visible") != "visible"}
    return SHOWN["after_due_date" if withheld == {"after_due_date"} else "after_published"]
HIDDEN_NOT_RUN = f"not run here: hidden tests are graded on Gradescope; their {HIDDEN_WHEN}"


def not_run(test: dict) -> bool:
    return bool((test.get("extra_data") or {}).get(NOT_RUN))


def first_line(output: str) -> str:
    """The first line of a test's output (the fenced Markdown of results.build), in full."""
    lines = [line for line in output.strip("`\n ").splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


@dataclass
class Row:
    part: str
    title: str
    points: float = 0.0       # the part's worth
    earned: float = 0.0       # points of passed tests that count for this view
    ran: float = 0.0          # points of the tests that ran (and count for this view)
    passed: int = 0
    tests: int = 0            # tests that ran (and count for this view)
    not_run: float = 0.0      # points of tests that did not run
    withheld: float = 0.0     # points of hidden tests, student view: shown after publication
    problem: str = ""         # first line of the first failing test's output
    problems: list = field(default_factory=list)
    extra: bool = False       # an extra-credit part (beyond the 40 points)


def rows(final: dict, manifest=None, *, student: bool = False) -> list[Row]:
    """One Row per part, in the manifest's order (else the order of the results).
    `student=True`: what a student may see before grades are published (hidden tests'
    results are withheld and only their points are given)."""
    parts = dict(getattr(manifest, "parts", {}) or {})
    table: dict[str, Row] = {}
    for part, info in parts.items():
        table[part] = Row(part, info.get("title", ""), float(info.get("points", 0)),
                          extra=bool(info.get("extra", False)))
    declared = bool(parts)
    for test in final.get("tests", []):
        if test.get("number") == "0":
            continue  # the submission check: shown above the table
        part = (test.get("tags") or ["?"])[0]
        row = table.setdefault(part, Row(part, "", extra=EXTRA_TAG in (test.get("tags") or [])))
        if not declared:
            row.points += test.get("max_score", 0)
        points = test.get("max_score", 0)
        if not_run(test):
            row.not_run += points
        elif student and test.get("visibility", "visible") != "visible":
            row.withheld += points
        else:
            row.ran += points
            row.tests += 1
            if test.get("status") == "passed":
                row.passed += 1
                row.earned += test.get("score", 0)
            else:
                row.earned += test.get("score", 0)
                line = first_line(test.get("output", ""))
                row.problems.append(line)
                row.problem = row.problem or line
    return list(table.values())


def submission_problems(final: dict) -> list[str]:
    check = next((t for t in final.get("tests", []) if t.get("number") == "0"), None)
    if not check:
        return []
    return [line.strip() for line in check.get("output", "").strip("`\n ").splitlines()
            if line.strip()]


def _points(value: float) -> str:
    return f"{value:g}"


def _pts(value: float) -> str:
    return f"{value:g} pt" + ("" if value == 1 else "s")


def totals(table: list[Row]) -> tuple[float, float, float, float]:
    return (sum(r.earned for r in table), sum(r.ran for r in table),
            sum(r.not_run for r in table), sum(r.withheld for r in table))


def split(final: dict, manifest=None) -> tuple[float, float]:
    """(regular points earned, extra-credit points earned) of a results.json."""
    table = rows(final, manifest)
    return (sum(r.earned for r in table if not r.extra),
            sum(r.earned for r in table if r.extra))


def total_line(final: dict, manifest=None) -> str:
    """"40 / 40, extra credit 5 / 5": what every command prints as the score."""
    regular, extra = split(final, manifest)
    return f"{_points(regular)} / {TOTAL}, extra credit {_points(extra)} / {EXTRA}"


def text(final: dict, manifest=None) -> str:
    """The terminal table (staff and students alike): every test that ran counts, tests that
    did not run are a column of their own, the first problem is shown in full; a student's
    escape sequences are shown, not obeyed (grader/trusted/text.py)."""
    table = rows(final, manifest)
    earned, ran, missing, _ = totals(table)
    show_not_run = missing > 0
    title_width = max([5] + [len(r.title) for r in table])
    score_width = max([5] + [len(f"{_points(r.earned)} / {_points(r.ran)}") for r in table])
    header = f"{'part':<5} {'title':<{title_width}}  {'score':>{score_width}}  passed"
    if show_not_run:
        header += "  not run"
    header += "  first problem"
    lines = []
    problems = submission_problems(final)
    if problems:
        lines.append("Submission problems:")
        lines += [f"  {line}" for line in problems]
    lines.append(header)
    for r in table:
        if r.extra and not any(q.extra for q in table[:table.index(r)]):
            lines.append(f"{EXTRA_HEADING}:")
        score = f"{_points(r.earned)} / {_points(r.ran)}" if r.tests else "-"
        passed = f"{r.passed}/{r.tests}" if r.tests else "-"
        line = f"{r.part:<5} {r.title:<{title_width}}  {score:>{score_width}}  {passed:>6}"
        if show_not_run:
            line += f"  {_pts(r.not_run) if r.not_run else '':>7}"
        line += f"  {r.problem}" if r.problem else ""
        lines.append(line.rstrip())
    total = f"Total: {total_line(final, manifest)}"
    if show_not_run:
        regular = [r for r in table if not r.extra]
        earned, ran, missing, _ = totals(regular)
        extra_missing = sum(r.not_run for r in table if r.extra)
        total += (f"  ({_points(earned)} / {_points(ran)} in the tests that ran; "
                  f"{_points(missing)} points not run"
                  + (f"; extra credit: {_points(extra_missing)} not run" if extra_missing
                     else "") + ")")
    lines.append(total)
    reasons = dict.fromkeys(first_line(t.get("output", "")) for t in final.get("tests", [])
                            if not_run(t))
    lines += [f"  {reason}" for reason in reasons if reason]
    return escape.for_terminal("\n".join(lines))


def _cell(value: str) -> str:
    """A cell of staff text (a part's title)."""
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(final: dict, manifest=None) -> str:
    """The student's summary (results.json top-level `output`, Markdown): the visible tests'
    points per part, the hidden points per part with when they will be shown, and the first
    problem of each part. Nothing about hidden tests' outcomes before publication."""
    table = rows(final, manifest, student=True)
    earned, ran, missing, withheld = totals(table)
    when, shown = hidden_when(final)
    lines = []
    problems = submission_problems(final)
    if problems:
        lines += ["**Submission problems** (see the Submission check below):", ""]
        lines += [f"- {escape.code_span(line)}" for line in problems] + [""]
    extra_earned = sum(r.earned for r in table if r.extra)
    extra_ran = sum(r.ran for r in table if r.extra)
    summary = (f"**Public tests: {_points(earned - extra_earned)} / {_points(ran - extra_ran)} "
               f"points, extra credit {_points(extra_earned)} / {_points(extra_ran)}.**")
    if withheld:
        summary += (f" Hidden tests ({_points(withheld)} points) have run too; their "
                    f"{when}.")
    if missing:
        summary += f" {_points(missing)} points were not graded (see the tests below)."
    lines += [summary, "",
              "| Part | Title | Public tests | Passed | Hidden tests | First problem |",
              "|---|---|---|---|---|---|"]
    for r in table:
        score = f"{_points(r.earned)} / {_points(r.ran)}" if r.tests else "-"
        passed = f"{r.passed}/{r.tests}" if r.tests else "-"
        hidden = []
        if r.withheld:
            hidden.append(f"{_pts(r.withheld)}, {shown}")
        if r.not_run:
            hidden.append(f"{_pts(r.not_run)} not run")
        title = f"{r.title} (extra credit)" if r.extra else r.title
        lines.append(f"| {r.part} | {_cell(title)} | {score} | {passed} | "
                     f"{'; '.join(hidden) or '-'} | {escape.table_cell(r.problem)} |")
    return "\n".join(lines)
