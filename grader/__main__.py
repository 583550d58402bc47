"""Command line: python -m grader {grade,record} ... (see README)."""
import argparse
import sys
from pathlib import Path

from . import ROOT


def _grade(args) -> int:
    from . import judge, manifest
    final = judge.grade(Path(args.path), Path(args.json), mode=args.mode)
    print(judge.table(final, manifest.load()))
    print(f"Results written to {args.json}")
    return 0


def _record(args) -> int:
    """Record the public tests' expected values from the reference (for the student release)."""
    from . import judge, plugin
    from .submission import Cached, InProcess
    session = plugin.in_process_session(ROOT / "reference", expected="reference")
    code, log = judge.run_tests(session, [ROOT / "tests_public"])
    if code != 0:
        print(log, file=sys.stderr)
        print("the reference fails public tests; nothing recorded", file=sys.stderr)
        return 1
    session.expected.save(plugin.RECORDED)
    print(f"recorded {len(session.expected.answers)} expected values in {plugin.RECORDED}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade a zip or folder (default: reference)")
    grade.add_argument("path", nargs="?", default=str(ROOT / "reference"))
    grade.add_argument("--json", default="results.json", help="where to write results.json")
    grade.add_argument("--mode", choices=("sandbox", "inprocess"), default="sandbox",
                       help="inprocess imports the submission into the judge (debugging only)")
    grade.set_defaults(run=_grade)
    record = commands.add_parser("record", help="record public expected values (staff)")
    record.set_defaults(run=_record)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
