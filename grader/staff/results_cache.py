"""The batch results cache: per submission, the outcome of every test (passed or not, its
message), never its points. Scores are computed from the manifest of the run that reads the
cache, so a change of points, visibility, test names or part titles re-scores the whole course
from it in seconds; only what decides outcomes (grader code, tests, reference, the tests' ids
and timeouts) is in the key. Several shard processes, on several machines, may share one
cache folder: every entry is written to a unique temporary name and renamed into place."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from grader import ROOT
from grader.trusted import results

FORMAT = 2  # bump when an entry's layout changes: old entries are then misses


class Cached:
    """A test outcome as results.build wants it."""

    def __init__(self, passed: bool, message: str):
        self.passed, self.message = passed, message


def _hash_files(files, base: Path, digest) -> None:
    for file in sorted(files):
        digest.update(str(file.relative_to(base)).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())


def outcome_fingerprint(manifest, root: Path = ROOT) -> str:
    """Changes whenever anything that decides an outcome changes: the grader's code (not the
    staff tools under grader/staff/), the tests, the reference, and of the manifest only the
    tests' ids and timeouts and which parts are optional modules."""
    files = [f for f in root.glob("grader/**/*.py") if "staff" not in f.relative_to(root).parts]
    files += list(root.glob("reference/*.py"))
    for folder in ("tests_public", "tests_hidden"):
        files += [f for f in (root / folder).rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts]
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    _hash_files([f for f in files if f.is_file()], root, digest)
    decisive = {"tests": [[t.id, t.part, t.timeout] for t in manifest.tests],
                "parts": {p: [bool(manifest.extra(p)), manifest.module(p)]
                          for p in sorted(manifest.parts)}}
    digest.update(json.dumps(decisive, sort_keys=True).encode())
    return digest.hexdigest()


def entry_key(upload_hash: str, fingerprint: str, mode: str) -> str:
    return hashlib.sha256((upload_hash + fingerprint + mode).encode()).hexdigest()[:32]


def _unfenced(output: str) -> str:
    if output.startswith("```\n") and output.endswith("\n```"):
        return output[4:-4]
    return output


def from_results(final: dict, manifest) -> dict:
    """A cache entry's outcomes from a grading's results.json: by test id, no points."""
    by_number = {t.number: t.id for t in manifest.tests}
    entry = {"outcomes": {}, "not_run": {}, "intake": [],
             "execution_time": final.get("execution_time", 0.0)}
    for test in final["tests"]:
        if test.get("number") == "0":  # the submission check
            entry["intake"] = [l for l in _unfenced(test["output"]).splitlines() if l.strip()]
            continue
        test_id = by_number.get(test.get("number"))
        if test_id is None:
            continue
        message = _unfenced(test.get("output", ""))
        if (test.get("extra_data") or {}).get("not_run"):
            entry["not_run"][test_id] = message
        else:
            entry["outcomes"][test_id] = {"passed": test["status"] == "passed",
                                          "message": message}
    return entry


def rescore(entry: dict, manifest) -> dict:
    """The results.json a grading with `manifest` would have written for these outcomes."""
    outcomes = {i: Cached(o["passed"], o["message"]) for i, o in entry["outcomes"].items()}
    return results.build(manifest, outcomes, intake_problems=entry["intake"],
                         execution_time=entry.get("execution_time", 0.0),
                         not_run_message=lambda test: entry["not_run"].get(test.id, "not run"))


def read(cache: Path, key: str) -> dict | None:
    try:
        return json.loads((cache / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def write(cache: Path, key: str, data: dict) -> None:
    handle, temporary = tempfile.mkstemp(dir=cache, prefix=f".{key}-", suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        json.dump(data, stream)
    os.replace(temporary, cache / f"{key}.json")


def _machine() -> str:
    """This machine, as far as timings go: host name, CPU model and count."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.uname().nodename}|{model}|{os.cpu_count()}"


def answers_folder(cache: Path, fingerprint: str) -> Path:
    """Where the gradings of this grader version on this machine keep the reference's costly
    answers (grader/trusted/interfaces.py AnswerStore): its timed runs are compared with
    students' on the same machine, so shards on other machines keep their own."""
    machine = hashlib.sha256(_machine().encode()).hexdigest()[:12]
    return Path(cache) / "answers" / f"{fingerprint[:16]}-{machine}"
