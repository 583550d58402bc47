"""The `record` command: the public tests' expected values, recorded from reference/ for the
student release (tests_public/expected.json)."""
import sys

from grader import ROOT


def add_record_arguments(parser):
    pass


def run_record(args) -> int:
    """Record the public tests' expected values from the reference (for the student release)."""
    from grader.trusted import judge, plugin
    session = plugin.in_process_session(ROOT / "reference", expected="reference")
    code, log = judge.run_tests(session, [ROOT / "tests_public"])
    if code != 0:
        print(log, file=sys.stderr)
        print("the reference fails public tests; nothing recorded", file=sys.stderr)
        return 1
    session.expected.save(plugin.RECORDED)
    print(f"recorded {len(session.expected.answers)} expected values in {plugin.RECORDED}")
    return 0
