"""The PS1 autograder: a trusted judge (never runs student code) and an untrusted worker side."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_MODULES = ("probability", "made", "pixelcnn", "sampling", "training")
# Extra credit (part 6): graded when submitted; a submission without it is graded on the
# 40 points as before, with no problem reported.
OPTIONAL_MODULES = ("attention",)
STUDENT_MODULES = REQUIRED_MODULES + OPTIONAL_MODULES
