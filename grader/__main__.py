"""python -m grader COMMAND ...: grade, record, build, gradescope, audit, batch (see README).

Command NAME lives in a module with `add_NAME_arguments(parser)` and `run_NAME(args) -> int`;
modules are imported only to build the parser, so none may import torch at module level.
"""
import argparse
import importlib
import sys

COMMANDS = {
    "grade": ("grader.commands", "grade a zip or folder (default: reference/)"),
    "record": ("grader.commands", "record the public tests' expected values (staff)"),
    "build": ("grader.build", "write dist/autograder.zip and dist/student.zip"),
    "gradescope": ("grader.gradescope", "run an autograder zip as Gradescope would"),
    "audit": ("grader.audit", "mutants, correct variants, malicious submissions, determinism"),
    "batch": ("grader.batch", "grade a folder of submissions to a CSV"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command not built yet
        sub = commands.add_parser(name, help=summary, description=summary)
        getattr(module, f"add_{name}_arguments")(sub)
        sub.set_defaults(run=getattr(module, f"run_{name}"))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
