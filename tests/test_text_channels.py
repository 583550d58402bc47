"""Random text, bytes and names through every channel that shows a student's text to a person
(issue 19 item 4): results.json (top-level Markdown, per-test output and name, extra_data),
the terminal table of `grade`/`gradescope`/make_submission.py, their other prints, the batch
CSV and the batch report. Each must stay valid UTF-8 JSON or text, hold no control character,
and render (as GitHub-flavoured Markdown with raw HTML and links allowed, the most permissive
renderer: the audit's `student_markup`) to no image, link or HTML tag of the student's.
Derandomized: CI is repeatable."""
import csv
import dataclasses
import io
import json
import os
import re
import shutil
from contextlib import redirect_stdout
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from grader import wire
from grader.staff import gradebook, gradescope, report
from grader.staff.audit.verdicts import CONTROL, MODULE_LINK, student_markup
from grader.trusted import intake, manifest as manifest_module, plugin, results, scores
from grader.trusted.interfaces import StudentCodeError
from grader.trusted.outcome import decode_result
from grader.trusted.submit import say

MANIFEST = manifest_module.load()
# The report's own markup: its histogram and the link to the regrade diff.
REPORT_MARKUP = re.compile(MODULE_LINK.pattern
                           + '|<img src="histogram.png" alt="score histogram" />'
                           + '|<a href="regrade.md">regrade.md</a>')
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HOSTILE = st.sampled_from(["![t](http://e.example/t.png)", "<img src=http://e.example/t>",
                           "<http://e.example>", "www.e.example", "[x](javascript:1)",
                           "<a href=x>", "```", "`", "|", "\x1b]52;c;cHduZWQ=\x07",
                           "\x1b[2J", "\r", "\ud800", "\udcff", "\u202e", "=cmd|'/c calc'!A1",
                           "<script>", "\\", "\n", "&lt;", "\n```\n<img src=x>\n",
                           " `` ![t](u) `` "])
TEXT = st.lists(st.one_of(HOSTILE, st.text(max_size=30)), max_size=8).map("".join)
NAME_BYTES = st.binary(min_size=1, max_size=40).map(
    lambda b: b.replace(b"/", b"_").replace(b"\0", b"_")).filter(lambda b: b not in (b".", b".."))


def assert_clean_text(text: str) -> None:
    assert not CONTROL.search(text), repr(text)
    text.encode("utf-8")


def assert_clean_markdown(markdown: str, ours=MODULE_LINK) -> None:
    assert_clean_text(markdown)
    assert not student_markup(markdown, ours), markdown


def assert_clean_results(path: Path) -> dict:
    """results.json on disk: strict UTF-8, JSON, every string clean, every Markdown inert."""
    final = json.loads(path.read_bytes().decode("utf-8"))
    strings = []

    def walk(value):
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            [walk(k) or walk(v) for k, v in value.items()]
        elif isinstance(value, list):
            [walk(v) for v in value]
    walk(final)
    for value in strings:
        assert_clean_text(value)
    for markdown in [final["output"]] + [t.get("output", "") for t in final["tests"]]:
        assert_clean_markdown(markdown)
    assert not results.validate(final)
    return final


def worker_failure(message: str, traceback: str, output: str) -> str:
    """What a student's exception becomes: the worker's frame (any strings the student chose),
    decoded by the judge, then the test's message (plugin.describe)."""
    frame = wire.encode({"ok": False, "kind": "exception", "message": message,
                         "traceback": traceback})
    outcome = decode_result(frame, memory_mb=100, result_cap=1 << 20)
    error = StudentCodeError(outcome.message, kind=outcome.kind, traceback=outcome.traceback,
                             output=output)
    return plugin.describe(error, public=True, directory=Path("/nonexistent"))


@FUZZ
@given(message=TEXT, traceback=TEXT, output=TEXT, name=TEXT, problems=st.lists(TEXT, max_size=3))
def test_results_json_and_the_terminal_table(tmp_path, message, traceback, output, name,
                                             problems):
    tests = tuple(dataclasses.replace(t, name=name) if i == 0 else t
                  for i, t in enumerate(MANIFEST.tests))
    manifest = dataclasses.replace(MANIFEST, tests=tests)
    failed = plugin.Result(False, worker_failure(message, traceback, output))
    outcomes = {t.id: failed for t in tests[:5]}
    final = results.build(manifest, outcomes, intake_problems=problems)
    results.write(final, tmp_path / "results.json")
    assert_clean_results(tmp_path / "results.json")
    table = scores.text(final, manifest)  # grade, gradescope and make_submission.py print it
    assert_clean_text(table)
    assert gradescope.summary(final).splitlines()[-1] == table.splitlines()[-1]
    shown = io.StringIO()
    with redirect_stdout(shown):
        say(message + output)  # make_submission.py's other lines
    assert_clean_text(shown.getvalue())


def test_results_json_is_clean_whatever_reaches_the_writer(tmp_path):
    """The writer's own pass, and the table's: a string no channel escaped (notes, extra_data,
    a key, an output written by hand)."""
    final = results.build(MANIFEST, {}, notes="\x1b]0;t\x07 \ud800")
    final["tests"][0]["extra_data"] = {"\udcff\x9b": ["\x00", {"k": "\u202e"}]}
    final["tests"][1].update(output="\x1b[2J\x1b]0;t\x07", extra_data={})
    assert_clean_text(scores.text(final, MANIFEST))
    results.write(final, tmp_path / "results.json")
    written = json.loads((tmp_path / "results.json").read_bytes().decode("utf-8"))
    assert_clean_text(json.dumps(written, ensure_ascii=False))


@FUZZ
@given(names=st.lists(NAME_BYTES, min_size=1, max_size=3, unique=True))
def test_upload_file_and_folder_names(tmp_path, names):
    upload = tmp_path / "upload"
    shutil.rmtree(upload, ignore_errors=True)
    folder = os.fsencode(upload)
    for name in names:
        os.makedirs(folder + b"/" + name + b"/made.py")  # a folder named like a module
        with open(folder + b"/" + name + b"/notes.txt", "w") as stream:
            stream.write("x")
    staged = intake.stage(upload, tmp_path / "staged")
    final = results.build(MANIFEST, {}, intake_problems=staged.problems)
    results.write(final, tmp_path / "results.json")
    assert_clean_results(tmp_path / "results.json")
    assert_clean_text(scores.text(final, MANIFEST))


@FUZZ
@given(student=TEXT, submission=TEXT, error=TEXT, email=TEXT)
def test_batch_csv_and_report(tmp_path, student, submission, error, email):
    row = {"student": student, "email": email, "sid": "1", "submission": submission,
           "total": "", "extra credit": "", "error": "submission: " + error + " | " + error,
           "seconds": 1.5}
    graded = dict(row, submission=submission + "2", email=email + "2", error="", total="40")
    gradebook.write_csv([row, graded], MANIFEST, tmp_path / "grades.csv")
    raw = (tmp_path / "grades.csv").read_bytes().decode("utf-8")
    assert_clean_text(raw.replace("\r\n", "\n"))
    for cells in csv.reader(io.StringIO(raw)):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    rows = gradebook.read_csv(tmp_path / "grades.csv")
    for line in report.summary(rows, MANIFEST) + report.regrade_diff(rows, [graded], MANIFEST):
        assert_clean_markdown(line, REPORT_MARKUP)
    assert_clean_markdown("\n".join(report.summary(rows, MANIFEST)), REPORT_MARKUP)


def test_nothing_printed_after_the_final_results_can_replace_them(tmp_path, monkeypatch):
    """autograde: a table that cannot be printed (a student's lone surrogate on a stdout that
    encodes strictly, before text.py) leaves the scored results.json as it was."""
    from grader.trusted import autograde, judge
    path = tmp_path / "results.json"
    final = results.build(MANIFEST, {t.id: plugin.Result(True) for t in MANIFEST.tests})

    def graded(upload, json_path, **kwargs):
        results.write(final, json_path)
        return final

    def unprintable(*args):
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
    monkeypatch.setattr(judge, "grade", graded)
    monkeypatch.setattr(judge, "table", unprintable)
    monkeypatch.setenv("PS1_SUBMISSION", str(tmp_path))
    monkeypatch.setenv("PS1_RESULTS", str(path))
    assert autograde.main() == 0
    assert json.loads(path.read_text())["score"] == 45


def test_the_audits_text_check_sees_what_the_old_results_let_through(tmp_path):
    """verdicts.active_text, the audit's check of the text attacks, on results.json as the
    grader wrote it before text.py (a fixed fence, raw text) and as it writes it now."""
    from grader.staff.audit.verdicts import active_text
    message = "```\n![t](http://e.example/t.png) <img src=x>\n\x1b]0;t\x07\ud800"
    old = results.build(MANIFEST, {})
    old["tests"][1]["output"] = "```\n" + message.replace("```", "'''") + "\n```"
    old["output"] += "\n| 1a | `x` | " + message.splitlines()[1] + " |"
    found = active_text(old, "\x1b]0;t\x07")
    assert len(found) == 3 and "['img']" in found[1], found  # control, markup, terminal
    new = results.build(MANIFEST, {MANIFEST.tests[1].id: plugin.Result(False, message)})
    results.write(new, tmp_path / "results.json")
    assert not active_text(json.loads((tmp_path / "results.json").read_text()),
                           scores.text(new, MANIFEST))
