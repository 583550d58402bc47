"""The `grade` and `record` commands."""
import sys
from pathlib import Path

from . import ROOT


def add_grade_arguments(parser):
    parser.add_argument("path", nargs="?", default=str(ROOT / "reference"),
                        help="a zip or a folder with the five modules (default: reference/)")
    parser.add_argument("--json", default="results.json", help="where to write results.json")
    parser.add_argument("--mode", choices=("sandbox", "inprocess"), default="sandbox",
                        help="inprocess imports the submission into the judge (debugging only)")


def run_grade(args) -> int:
    from . import judge, manifest
    final = judge.grade(Path(args.path), Path(args.json), mode=args.mode)
    print(judge.table(final, manifest.load()))
    print(f"Results written to {args.json}")
    return 0


def add_record_arguments(parser):
    pass


def run_record(args) -> int:
    """Record the public tests' expected values from the reference (for the student release)."""
    from . import judge, plugin
    session = plugin.in_process_session(ROOT / "reference", expected="reference")
    code, log = judge.run_tests(session, [ROOT / "tests_public"])
    if code != 0:
        print(log, file=sys.stderr)
        print("the reference fails public tests; nothing recorded", file=sys.stderr)
        return 1
    session.expected.save(plugin.RECORDED)
    print(f"recorded {len(session.expected.answers)} expected values in {plugin.RECORDED}")
    return 0
