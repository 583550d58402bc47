"""The batch's gradebooks: one row per student (each member of a group gets the group's row),
with Gradescope's submission time, a late flag and Gradescope's own score beside the local
one, and per part that lost points the first test that did; written as the per-test CSV and
as a Canvas gradebook import. Every cell goes through text.for_csv_cell: names, folder names
and messages come from students, and a spreadsheet runs a cell starting with = as a formula."""
from __future__ import annotations

import csv
import os
import re
from datetime import datetime
from pathlib import Path

from grader.trusted import scores
from grader.trusted.text import for_csv_cell

# total: the 40 regular points; extra credit: part 6's (out of 5), kept apart for gradebooks.
FIXED_COLUMNS = ["student", "email", "sid", "submission", "submitted at", "late", "total",
                 "extra credit", "gradescope score", "error", "first lost", "seconds"]
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
_TIME = re.compile(r"(\d{4}-\d\d-\d\d)(?:[ T](\d\d:\d\d(?::\d\d)?)(?:\.\d+)?)?\s*"
                   r"(Z|UTC|[+-]\d\d:?\d\d)?$")


def parse_time(text: str) -> datetime | None:
    """Gradescope's `2024-02-01 10:00:00.000000000 -08:00`, ISO 8601, or a bare date (then
    its end, 23:59:59); no offset means UTC. None when unreadable."""
    match = _TIME.match(text.strip())
    if not match:
        return None
    day, clock, offset = match.groups()
    clock = clock or "23:59:59"
    offset = "+00:00" if offset in (None, "Z", "UTC") else offset
    offset = offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
    try:
        return datetime.fromisoformat(f"{day}T{clock}{offset}")
    except ValueError:
        return None


def test_column(test) -> str:
    return f"{test.number} {test.name}"


def part_column(part: str) -> str:
    """A part's total (what a gradebook wants); never starts with a digit (test columns do)."""
    return f"part {part}"


def submission_error(problems: list[str]) -> str:
    """The `error` cell for a submission with problems: all of them, in order."""
    return "submission: " + (" | ".join(problems) if problems else "rejected")


def first_lost(final: dict, manifest) -> list[tuple[str, dict]]:
    """Per part that lost points, (part, the first of its tests that did) in manifest order."""
    by_number = {t["number"]: t for t in final["tests"]}
    lost = {}
    for entry in manifest.tests:
        graded = by_number.get(entry.number)
        if graded is not None and graded["score"] < entry.points and entry.part not in lost:
            lost[entry.part] = graded
    return list(lost.items())


def _scored(row: dict, final: dict, manifest) -> None:
    by_number = {t["number"]: t for t in final["tests"]}
    regular, extra = scores.split(final, manifest)
    row["total"], row["extra credit"] = f"{regular:g}", f"{extra:g}"
    intake = by_number.get("0")
    if intake:  # the submission check: a corrupt zip, a missing module
        row["error"] = submission_error(
            [l for l in intake["output"].strip("`\n ").splitlines() if l.strip()])
    row["first lost"] = "; ".join(t["name"] for _, t in first_lost(final, manifest))
    for part in manifest.parts:
        graded = [by_number.get(t.number) for t in manifest.tests if t.part == part]
        row[part_column(part)] = "" if None in graded else f"{sum(t['score'] for t in graded):g}"
    for test in manifest.tests:
        graded = by_number.get(test.number)
        row[test_column(test)] = "" if graded is None else f"{graded['score']:g}"


def rows_for(subs, outcomes: dict, manifest, due: datetime | None = None) -> list[dict]:
    """One row per student of every submission (a submission without metadata: one row
    named after its folder); `outcomes`: key -> {"results", "seconds", "error"}."""
    rows = []
    for sub in subs:
        outcome = outcomes[sub.key]
        submitted = parse_time(sub.created_at) if sub.created_at else None
        common = {"submission": sub.key, "submitted at": sub.created_at,
                  "late": "" if not (submitted and due) else ("yes" if submitted > due else "no"),
                  "gradescope score": sub.gradescope_score, "total": "", "extra credit": "",
                  "error": outcome["error"], "first lost": "", "seconds": outcome["seconds"]}
        if outcome["results"] is not None:
            _scored(common, outcome["results"], manifest)
        for person in sub.people or [{"name": sub.fallback_name}]:
            rows.append({"student": person.get("name") or sub.fallback_name,
                         "email": person.get("email", ""), "sid": person.get("sid", ""),
                         **common})
    return rows


def _write(path: Path, columns: list[str], rows: list[dict], lead: list[list] = ()) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows([[for_csv_cell(c) for c in line] for line in lead])
        writer.writerows([[for_csv_cell(row.get(c, "")) for c in columns] for row in rows])
    os.replace(temporary, path)


def write_csv(rows: list[dict], manifest, path: Path) -> None:
    columns = (FIXED_COLUMNS + [part_column(p) for p in manifest.parts]
               + [test_column(t) for t in manifest.tests])
    _write(path, columns, rows)


def write_canvas(rows: list[dict], path: Path, assignment: str, points: float) -> None:
    """Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then the
    assignment's column; a `Points Possible` row first. Students are matched by SIS User ID
    (the export's SID) or SIS Login ID (its email); the score is total + extra credit."""
    graded = []
    for row in rows:
        if row.get("total") in ("", None):
            continue  # not graded: better no grade than a 0 in the gradebook
        score = float(row["total"]) + float(row.get("extra credit") or 0)
        graded.append({"Student": row["student"], "ID": "", "SIS User ID": row["sid"],
                       "SIS Login ID": row["email"], "Section": "", assignment: f"{score:g}"})
    _write(path, CANVAS_COLUMNS + [assignment], graded,
           lead=[["Points Possible", "", "", "", "", f"{points:g}"]])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))

