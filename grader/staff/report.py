"""The batch report: per-test pass rates, per-part means, a score histogram, the slowest
submissions, Gradescope scores a regrade would change, per student the first test of every
part that lost points (students.md), and the regrade diff against an earlier CSV. Works on
CSV rows (dicts of strings, one per student), so an old CSV and a fresh batch are read the
same way."""
from pathlib import Path

from grader.staff.gradebook import FIXED_COLUMNS, part_column
from grader.trusted import manifest as manifest_module
from grader.trusted.text import code_block, table_cell

SLOWEST = 10


def _number(column: str) -> str:
    return column.split(" ", 1)[0]


def _float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _by_number(row: dict) -> dict[str, float | None]:
    """Test number -> points earned, from a row whose test columns are 'NUMBER name'."""
    return {_number(c): _float(v) for c, v in row.items()
            if c not in FIXED_COLUMNS and c and c[:1].isdigit()}


# Columns whose cells come from students (names, upload names, messages): shown as code, in
# which Markdown and HTML stay text (grader/trusted/text.py). Other cells are the staff's.
STUDENT_COLUMNS = {"submission", "student", "error"}


class Markdown(str):
    """A cell already written as Markdown (its student text escaped): kept as it is."""


def _md_cell(text, student: bool = True) -> str:
    if isinstance(text, Markdown):
        return text
    return table_cell(str(text)) if student else str(text).replace("|", "\\|").replace("\n", " ")


def _error_cell(error: str) -> Markdown:
    """Every problem of a submission on a line of its own (the CSV joins them with ' | ')."""
    head, sep, rest = error.partition("submission: ")
    if head or not sep:
        return Markdown(_md_cell(error))
    return Markdown("submission: " + "<br>".join(_md_cell(part) for part in rest.split(" | ")))


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c, column in STUDENT_COLUMNS)
                                for column, c in zip(header, row)) + " |" for row in rows]
    return lines


def _student_key(row: dict) -> str:
    return row.get("email") or row.get("sid") or row.get("submission") or row.get("student", "")


def histogram_figure(totals: list[float]):
    """The score histogram: one bar per point, whole students on the y-axis (one row each)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    figure, axis = plt.subplots(figsize=(7, 3.5), dpi=110)
    top = manifest_module.TOTAL_POINTS
    axis.hist(totals, bins=[b - 0.5 for b in range(top + 2)], color="#4878a8", edgecolor="white")
    if totals:
        mean = sum(totals) / len(totals)
        axis.axvline(mean, color="#c44", linestyle="--", label=f"mean {mean:.1f}")
        axis.legend()
    axis.set_xlim(-1, top + 1)
    axis.set_xlabel(f"total score (of {top})")
    axis.set_ylabel("students")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # no fractional students
    axis.set_title(f"Score distribution (n = {len(totals)})")
    figure.tight_layout()
    return figure


def histogram(totals: list[float], path: Path) -> None:
    import matplotlib.pyplot as plt
    figure = histogram_figure(totals)
    figure.savefig(path)
    plt.close(figure)


def summary(rows: list[dict], manifest) -> list[str]:
    graded = [r for r in rows if _float(r.get("total")) is not None]
    failed = [r for r in rows if _float(r.get("total")) is None]
    totals = sorted(_float(r["total"]) for r in graded)
    lines = ["# Batch report", ""]
    if totals:
        median = (totals[(len(totals) - 1) // 2] + totals[len(totals) // 2]) / 2
        lines.append(f"{len(rows)} students: {len(graded)} graded, {len(failed)} not graded "
                     f"(errors below). Mean {sum(totals) / len(totals):.2f} / "
                     f"{manifest_module.TOTAL_POINTS}, median {median:g}, "
                     f"{sum(t == manifest_module.TOTAL_POINTS for t in totals)} full marks.")
        extra = [_float(r.get("extra credit")) or 0.0 for r in graded]
        lines.append(f"Extra credit (part 6, attention.py, optional): "
                     f"{sum(e > 0 for e in extra)} students earned some, mean "
                     f"{sum(extra) / len(extra):.2f} / {manifest_module.EXTRA_POINTS}, "
                     f"{sum(e == manifest_module.EXTRA_POINTS for e in extra)} full marks.")
    else:
        lines.append(f"{len(rows)} students, none graded.")
    lines += ["", "![score histogram](histogram.png)", ""]
    scores = [_by_number(r) for r in graded]

    lines += ["## Per part", ""]
    part_rows = []
    for part, info in manifest.parts.items():
        tests = [t for t in manifest.tests if t.part == part]
        earned = [sum(s.get(t.number) or 0 for t in tests) for s in scores]
        mean = sum(earned) / len(earned) if earned else 0.0
        full = sum(e >= info["points"] for e in earned)
        part_rows.append([part, info["title"], f"{info['points']:g}", f"{mean:.2f}",
                          f"{100 * mean / info['points']:.0f}%" if earned else "-",
                          f"{100 * full / len(earned):.0f}%" if earned else "-"])
    lines += _table(["part", "title", "points", "mean points", "mean %", "full marks"],
                    part_rows)

    lines += ["", "## Per test (hardest first)", ""]
    test_rows = []
    for test in manifest.tests:
        got = [s.get(test.number) for s in scores]
        got = [g for g in got if g is not None]
        passed = sum(g >= test.points for g in got)
        rate = passed / len(got) if got else None
        mean = sum(got) / len(got) if got else None
        test_rows.append((rate if rate is not None else 2.0, test, rate, mean))
    test_rows.sort(key=lambda r: (r[0], r[1].number))
    lines += _table(["test", "part", "points", "pass rate", "mean points"],
                    [[f"{t.number} {t.name}", t.part, f"{t.points:g}",
                      "-" if rate is None else f"{100 * rate:.0f}%",
                      "-" if mean is None else f"{mean:.2f}"]
                     for _, t, rate, mean in test_rows])

    timed = sorted((r for r in rows if _float(r.get("seconds")) is not None),
                   key=lambda r: -_float(r["seconds"]))[:SLOWEST]
    lines += ["", f"## Slowest {len(timed)} (grading wall seconds)", ""]
    lines += _table(["submission", "student", "seconds", "total"],
                    [[r["submission"], r["student"], r["seconds"], r.get("total") or "-"]
                     for r in timed])

    errors = [r for r in rows if r.get("error")]
    lines += ["", f"## Errors and submission problems ({len(errors)})", ""]
    lines += _table(["submission", "student", "total", "error"],
                    [[r["submission"], r["student"], r.get("total") or "not graded",
                      _error_cell(r["error"])] for r in errors]) if errors else ["None."]
    return lines


def _totals(row: dict):
    return _float(row.get("total")), _float(row.get("extra credit"))


def _parts_changed(old: dict, new: dict, manifest) -> str:
    changes = []
    for part in manifest.parts:
        before, after = old.get(part_column(part), ""), new.get(part_column(part), "")
        if _float(before) != _float(after):
            changes.append(f"{part} {before or '-'} → {after or '-'}")
    return "; ".join(changes) or "-"


def regrade_diff(rows: list[dict], previous: list[dict], manifest) -> list[str]:
    """Per student (matched by email, else sid, else submission) whose total or extra credit
    changed (or who became graded / not graded) between `previous` and `rows`: old → new per
    part, and which tests gained or lost points."""
    names = {t.number: t.name for t in manifest.tests}
    before = {_student_key(r): r for r in previous}
    after = {_student_key(r): r for r in rows}
    changed, unchanged = [], 0
    for key, row in after.items():
        old = before.get(key)
        if old is None:
            continue
        if _totals(old) == _totals(row):
            unchanged += 1
            continue
        new_scores, old_scores = _by_number(row), _by_number(old)
        gained, lost = [], []
        for number in sorted(set(new_scores) | set(old_scores), key=str):
            delta = (new_scores.get(number) or 0) - (old_scores.get(number) or 0)
            label = f"{number} {names.get(number, '')}".strip()
            if delta > 0:
                gained.append(f"+{delta:g} {label}")
            elif delta < 0:
                lost.append(f"{delta:g} {label}")
        old_total, new_total = _totals(old)[0], _totals(row)[0]
        difference = ("" if old_total is None or new_total is None
                      else f"{new_total - old_total:+g}")
        changed.append([row.get("student", key), old.get("total") or "not graded",
                        row.get("total") or "not graded", difference,
                        _parts_changed(old, row, manifest),
                        "; ".join(gained) or "-", "; ".join(lost) or "-"])
    changed.sort(key=lambda r: _float(r[3]) or 0)
    lines = ["# Regrade diff", "",
             f"{len(changed)} students changed, {unchanged} unchanged, "
             f"{len(set(after) - set(before))} new, {len(set(before) - set(after))} gone.", ""]
    if changed:
        lines += _table(["student", "before", "after", "change", "parts (old → new)",
                         "gained", "lost"], changed)
    for title, keys, source in (("New", set(after) - set(before), after),
                                ("Gone", set(before) - set(after), before)):
        if keys:
            lines += ["", f"## {title}", ""]
            lines += [f"- {_md_cell(source[k].get('student', k))} "
                      f"({_md_cell(source[k].get('total') or 'not graded', student=False)})"
                      for k in sorted(keys)]
    return lines


def gradescope_changes(rows: list[dict]) -> list[str]:
    """Students whose Gradescope score (the export's :score:, all parts) differs from this
    grading's total + extra credit: whose score on Gradescope a regrade would change."""
    differ = []
    for row in rows:
        recorded, (total, extra) = _float(row.get("gradescope score")), _totals(row)
        if recorded is None or total is None:
            continue
        local = total + (extra or 0)
        if abs(local - recorded) > 1e-6:
            differ.append([row["student"], row.get("email", ""), f"{recorded:g}",
                           f"{local:g}", f"{local - recorded:+g}"])
    lines = ["", f"## Gradescope scores a regrade would change ({len(differ)})", "",
             "Gradescope's recorded score (the export's `:score:`) against this grading's "
             "total + extra credit.", ""]
    return lines + (_table(["student", "email", "gradescope", "here", "change"], differ)
                    if differ else ["None."])


def _anchor(index: int) -> str:
    return f"student-{index}"


def lost_points(rows: list[dict], outcomes: dict, manifest) -> tuple[list[str], list[str]]:
    """(report.md's table of students who lost points, linking into students.md; students.md:
    per student, the first test of every part that lost points and what it said)."""
    from grader.staff.gradebook import first_lost
    table, pages = [], ["# Where each student lost points", "",
                        "Per part that lost points, the first test that did.", ""]
    for index, row in enumerate(rows):
        final = (outcomes.get(row["submission"]) or {}).get("results")
        lost = first_lost(final, manifest) if final else []
        if not lost:
            continue
        table.append([Markdown(f"[{_md_cell(row['student'])}](students.md#{_anchor(index)})"),
                      row.get("total", ""), "; ".join(t["name"] for _, t in lost)])
        pages += [f'<a id="{_anchor(index)}"></a>', "",
                  f"## {_md_cell(row['student'])} ({_md_cell(row['submission'])}): "
                  f"{row.get('total', '')} / {manifest_module.TOTAL_POINTS}", ""]
        for part, test in lost:
            message = test.get("output", "").strip("`\n ")
            pages += [f"- part {part} ({manifest.parts[part]['title']}): "
                      f"{_md_cell(test['name'])}", "", code_block(message[:2000]), ""]
    lines = ["", f"## Students who lost points ({len(table)})", ""]
    lines += _table(["student", "total", "first test lost, per part"], table) if table \
        else ["None."]
    return lines, pages


def write_report(rows: list[dict], manifest, folder: Path, previous=None,
                 outcomes=None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows]
    written = [folder / "report.md", folder / "histogram.png"]
    lines = summary(rows, manifest) + gradescope_changes(rows)
    if outcomes is not None:
        table, pages = lost_points(rows, outcomes, manifest)
        lines += table
        (folder / "students.md").write_text("\n".join(pages) + "\n")
        written.append(folder / "students.md")
    if previous is not None:
        diff = regrade_diff(rows, previous, manifest)
        (folder / "regrade.md").write_text("\n".join(diff) + "\n")
        written.append(folder / "regrade.md")
        lines += ["", "## Regrade", "", diff[2], "", "Details: [regrade.md](regrade.md)"]
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    histogram([_float(r["total"]) for r in rows if _float(r.get("total")) is not None],
              folder / "histogram.png")
    return written
