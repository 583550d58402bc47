"""Hidden tests shown after the due date or when the grades are published (issue 21): both
accepted by the manifest, carried into results.json and the release's placeholders; any other
value refused before grading starts; before publication, nothing a student sees (the Markdown
summary, the visible tests, the execution output) carries a hidden test's outcome."""
import dataclasses

import pytest

from grader.trusted import judge, manifest as manifest_module, results, scores
from grader.trusted.plugin import Result

MANIFEST = manifest_module.load()
SECRET = "SECRET hidden outcome"


def with_hidden_visibility(visibility: str) -> manifest_module.Manifest:
    tests = tuple(t if t.public else dataclasses.replace(t, visibility=visibility)
                  for t in MANIFEST.tests)
    return manifest_module.Manifest(MANIFEST.parts, tests)


@pytest.mark.parametrize("visibility", ["after_published", "after_due_date"])
def test_hidden_tests_may_wait_for_the_due_date_or_publication(visibility):
    manifest = with_hidden_visibility(visibility)
    assert manifest_module.problems(manifest) == []
    outcomes = {t.id: Result(t.public, "" if t.public else SECRET) for t in manifest.tests}
    final = results.build(manifest, outcomes)
    assert results.validate(final) == []
    hidden = [t for t in final["tests"] if "hidden" in t["tags"]]
    assert hidden and all(t["visibility"] == visibility for t in hidden)
    when, shown = scores.SHOWN[visibility]
    assert when in final["output"] and shown in final["output"], final["output"]


@pytest.mark.parametrize("visibility", ["after_published", "after_due_date"])
def test_nothing_a_student_sees_before_publication_carries_a_hidden_outcome(visibility):
    """Gradescope shows a student, before the hidden tests' time: the top-level `output`, the
    visible tests, and the execution output only if `stdout_visibility` allows it."""
    manifest = with_hidden_visibility(visibility)
    for hidden_passes in (True, False):  # the same student-visible fields either way
        outcomes = {t.id: Result(t.public or hidden_passes, "" if t.public else SECRET)
                    for t in manifest.tests}
        final = results.build(manifest, outcomes)
        seen = (final["output"], [t for t in final["tests"] if t["visibility"] == "visible"])
        if hidden_passes:
            first = seen
        assert seen == first and SECRET not in str(seen)
        assert final["stdout_visibility"] == "hidden"


def test_the_release_placeholders_keep_the_hidden_tests_visibility(tmp_path):
    from grader.staff import build
    path = tmp_path / "manifest.toml"
    path.write_text(build.release_manifest(with_hidden_visibility("after_due_date")))
    placeholders = [t for t in manifest_module.load(path).tests if not t.public]
    assert placeholders and all(t.visibility == "after_due_date" for t in placeholders)
    assert all(scores.SHOWN["after_due_date"][0] in t.name for t in placeholders)


@pytest.mark.parametrize("visibility", ["hidden", "visible", "after_publish"])
def test_an_unsupported_visibility_stops_before_grading(visibility, monkeypatch, tmp_path):
    manifest = with_hidden_visibility(visibility)
    problems = manifest_module.problems(manifest)
    assert problems and all(f"visibility {visibility!r} is not supported" in p for p in problems)
    monkeypatch.setattr(manifest_module, "load", lambda *args: manifest)
    staged = []
    monkeypatch.setattr(judge, "stage", lambda *args: staged.append(args))
    with pytest.raises(ValueError, match="after_published' or 'after_due_date"):
        judge.grade(tmp_path / "nothing", tmp_path / "results.json")
    assert staged == [] and not (tmp_path / "results.json").exists()
