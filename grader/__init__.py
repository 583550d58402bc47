"""The PS1 autograder: a trusted judge (never runs student code) and an untrusted worker side."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_MODULES = ("probability", "made", "pixelcnn", "sampling", "training")
