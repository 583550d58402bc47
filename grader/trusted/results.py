"""Gradescope results.json: built from the manifest and the test outcomes, written
atomically, and checked against the fields of the Gradescope specification."""
import json
import os
import tempfile
from pathlib import Path

from grader.trusted import scores, text

VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
INTAKE_NAME = "Submission check"


def build(manifest, outcomes: dict, *, intake_problems=(), notes: str = "",
          execution_time: float = 0.0, not_run_message="not run") -> dict:
    """`outcomes`: node id -> object with .passed and .message (tests absent: not run, marked
    `extra_data.not_run`, saying `not_run_message`, or not_run_message(entry) if callable).
    The top-level `output` is the student's per-part table
    (grader/trusted/scores.py), then `notes` (trusted Markdown). Every message and file name
    is shown as a code block (grader/trusted/text.py): Markdown and HTML in it stay text."""
    tests = []
    if intake_problems:
        tests.append({"name": INTAKE_NAME, "number": "0", "score": 0.0, "max_score": 0.0,
                      "status": "failed", "visibility": "visible", "output_format": "md",
                      "tags": ["submission"],
                      "output": text.code_block("\n".join(intake_problems))})
    for entry in manifest.tests:
        outcome = outcomes.get(entry.id)
        passed = bool(outcome and outcome.passed)
        message = outcome.message if outcome else (
            not_run_message(entry) if callable(not_run_message) else not_run_message)
        test = {
            "name": text.visible(f"{entry.number} {entry.name}"), "number": entry.number,
            "score": entry.points if passed else 0.0, "max_score": entry.points,
            "status": "passed" if passed else "failed", "visibility": entry.visibility,
            "tags": [entry.part, "public" if entry.public else "hidden"]
            + ([scores.EXTRA_TAG] if manifest.extra(entry.part) else []),
            "output_format": "md", "output": text.code_block(message)}
        if outcome is None:
            test["extra_data"] = {scores.NOT_RUN: True}
        tests.append(test)
    score = sum(t["score"] for t in tests)
    final = {"score": score, "execution_time": round(execution_time, 2), "output": "",
             "output_format": "md", "stdout_visibility": "hidden", "tests": tests}
    final["output"] = scores.markdown(final, manifest) + (f"\n\n{notes}" if notes else "")
    return final


def write(results: dict, path: Path):
    """Atomic: a reader sees the old file or the new one, never half of either. Every string
    is made `text.visible` first, so the file is valid UTF-8 JSON whatever a student sent."""
    path, results = Path(path), text.deep_visible(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    with os.fdopen(handle, "w") as stream:
        json.dump(results, stream, indent=1)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def validate(results: dict) -> list[str]:
    """Everything in `results` that the Gradescope specification does not allow."""
    errors = []
    allowed_top = {"score", "execution_time", "output", "output_format", "test_output_format",
                   "test_name_format", "visibility", "stdout_visibility", "extra_data",
                   "tests", "leaderboard"}
    allowed_test = {"score", "max_score", "status", "name", "name_format", "number", "output",
                    "output_format", "tags", "visibility", "extra_data"}
    errors += [f"unknown top-level field {k}" for k in results.keys() - allowed_top]
    if not isinstance(results.get("score"), (int, float)):
        errors.append("score must be a number")
    for key in ("visibility", "stdout_visibility"):
        if key in results and results[key] not in VISIBILITIES:
            errors.append(f"{key} {results[key]!r} is not a Gradescope visibility")
    if results.get("output_format", "text") not in FORMATS:
        errors.append("bad output_format")
    tests = results.get("tests")
    if not isinstance(tests, list):
        return errors + ["tests must be a list"]
    for i, test in enumerate(tests):
        where = f"tests[{i}]"
        errors += [f"{where}: unknown field {k}" for k in test.keys() - allowed_test]
        for key in ("score", "max_score"):
            if not isinstance(test.get(key), (int, float)):
                errors.append(f"{where}: {key} must be a number")
        if test.get("status") not in ("passed", "failed"):
            errors.append(f"{where}: status must be passed or failed")
        if test.get("visibility", "visible") not in VISIBILITIES:
            errors.append(f"{where}: bad visibility")
        if test.get("output_format", "text") not in FORMATS:
            errors.append(f"{where}: bad output_format")
        if not isinstance(test.get("name"), str) or not isinstance(test.get("output", ""), str):
            errors.append(f"{where}: name and output must be strings")
        if not isinstance(test.get("tags", []), list):
            errors.append(f"{where}: tags must be a list")
        if isinstance(test.get("score"), (int, float)) and isinstance(test.get("max_score"),
                                                                      (int, float)):
            if not 0 <= test["score"] <= test["max_score"]:
                errors.append(f"{where}: score outside 0..max_score")
    if isinstance(results.get("score"), (int, float)) and all(
            isinstance(t.get("score"), (int, float)) for t in tests):
        if abs(results["score"] - sum(t["score"] for t in tests)) > 1e-9:
            errors.append("score is not the sum of the tests' scores")
    return errors
