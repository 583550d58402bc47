"""The `grade` command."""
from pathlib import Path

from grader import ROOT


def add_grade_arguments(parser):
    parser.add_argument("path", nargs="?", default=str(ROOT / "reference"),
                        help="a zip or a folder with the five modules (default: reference/)")
    parser.add_argument("--json", default="results.json", help="where to write results.json")
    parser.add_argument("--mode", choices=("sandbox", "inprocess"), default="sandbox",
                        help="inprocess imports the submission into the judge (debugging only)")


def run_grade(args) -> int:
    from grader.trusted import judge, manifest
    final = judge.grade(Path(args.path), Path(args.json), mode=args.mode)
    print(judge.table(final, manifest.load()))
    print(f"Results written to {args.json}")
    return 0
