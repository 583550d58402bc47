"""python -m grader COMMAND ...: grade, record, build, gradescope, audit, batch, rehearse.
(see README)

Command NAME lives in a module with `add_NAME_arguments(parser)` and `run_NAME(args) -> int`.
Only the module of the command being run is imported (none may import torch at module level).
"""
import argparse
import importlib
import sys

COMMANDS = {
    "grade": ("grader.trusted.commands", "grade a zip or folder (default: reference/)"),
    "record": ("grader.staff.record", "record the public tests' expected values (staff)"),
    "build": ("grader.staff.build", "write dist/autograder.zip and dist/student.zip"),
    "gradescope": ("grader.staff.gradescope", "run an autograder zip as Gradescope would"),
    "audit": ("grader.staff.audit", "mutants, correct variants, malicious submissions, determinism"),
    "batch": ("grader.staff.batch", "grade a folder of submissions to a CSV"),
    "rehearse": ("grader.staff.rehearse", "rehearse Gradescope's build and grading in a base "
                 "image's root filesystem (root)"),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            module = importlib.import_module(module_name)
            getattr(module, f"add_{name}_arguments")(sub)
            sub.set_defaults(run=getattr(module, f"run_{name}"))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
