#!/usr/bin/env python3
"""Check your PS1 modules, run the public tests the way the grader does, write submission.zip.

    python make_submission.py              # checks starter/, writes submission.zip
    python make_submission.py --dir PATH   # your modules are somewhere else
    python make_submission.py --no-tests   # checks and zip only

Then upload submission.zip to Gradescope. Failing tests never stop the zip being written.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.trusted.submit import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
