"""The `grade` command."""
from pathlib import Path

from grader import ROOT


def add_grade_arguments(parser):
    parser.add_argument("path", nargs="?", default=str(ROOT / "reference"),
                        help="a zip or a folder with the five modules (default: reference/)")
    parser.add_argument("--json", default="results.json", help="where to write results.json")
    parser.add_argument("--mode", choices=("sandbox", "inprocess"), default="sandbox",
                        help="inprocess imports the submission into the judge (debugging only)")
    parser.add_argument("--answers", default=None, metavar="DIR",
                        help="staff: a root-only folder where the reference's costly answers "
                             "(its timed runs) are kept across gradings on this machine; "
                             "grader batch sets it")


def run_grade(args) -> int:
    from grader.trusted import judge, manifest
    final = judge.grade(Path(args.path), Path(args.json), mode=args.mode,
                        answers=Path(args.answers) if args.answers else None)
    print(judge.table(final, manifest.load()))
    print(f"Results written to {args.json}")
    return 0
