"""`grader audit --only engine [--shard K/N] [--json F] [--match GLOBS] [--match-file F]` and
`grader audit --merge F ...`: grade a shard of the mutants, or merge shards into the report.
Exit status 0 only when every mutant is killed or listed in equivalent_mutants.toml."""
from __future__ import annotations

import fnmatch
import json
import time
from pathlib import Path

from ..sources import reference_files
from .mutations import all_mutants
from .outcome import equivalents, render, status, summary


def parse_shard(text: str | None) -> tuple[int, int]:
    """'K/N' (1-based K) -> (K - 1, N)."""
    if not text:
        return 0, 1
    k, n = (int(x) for x in text.split("/"))
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: want K/N with 1 <= K <= N")
    return k - 1, n


def matcher(match: tuple):
    """`wanted` for all_mutants: ids (less their #k) equal to or matching (fnmatch) one of
    the patterns."""
    if not match:  # every mutant
        return None
    return lambda key: any(key == p or fnmatch.fnmatchcase(key, p) for p in match)


def select(mutants, shard: tuple[int, int]) -> list:
    index, count = shard
    return [m for m in mutants if m.shard(count) == index]


def grade(mutants, say, out: Path | None = None) -> list[dict]:
    """Grade each mutant, writing the rows so far to `out` after each (a stopped run keeps
    what it graded)."""
    from .execute import Grader
    original = reference_files()
    grader, rows = Grader(), []
    try:
        parts = tuple(sorted({p for m in mutants for p in m.parts}))
        pristine = grader.grade("probability", original["probability.py"], parts, rest=False)
        if pristine.get("failed") or "error" in pristine or "crashed" in pristine:
            raise RuntimeError(f"the unmutated reference fails under the engine: {pristine}")
        say(f"  the unmutated reference passes the tests of parts {', '.join(parts)} "
            f"({pristine['seconds']} s)")
        for i, mutant in enumerate(mutants, 1):
            result = grader.grade(mutant.module, mutant.source, mutant.parts)
            row = {"id": mutant.id, "module": mutant.module, "region": mutant.region,
                   "operator": mutant.operator, "line": mutant.line, "parts": list(mutant.parts),
                   "status": status(result, mutant.parts),
                   "diff": mutant.diff(original[f"{mutant.module}.py"]), **result}
            rows.append(row)
            say(f"  [{i}/{len(mutants)}] {row['status']:<10} {row['seconds']:>6.1f} s  {mutant.id}")
            if out:
                out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    finally:
        grader.close()
    return rows


def merge(paths) -> list[dict]:
    rows = {}
    for path in paths:
        for row in json.loads(Path(path).read_text())["rows"]:
            rows[row["id"]] = row
    return sorted(rows.values(), key=lambda r: r["id"])


def main(args) -> int:
    say = lambda *a: print(*a, flush=True)  # noqa: E731
    listed = equivalents()
    if getattr(args, "merge", None):
        rows = merge(args.merge)
    else:
        started = time.monotonic()
        match = tuple(p for p in (getattr(args, "match", None) or "").split(",") if p)
        if getattr(args, "match_file", None):  # one per line: ids may hold commas
            match += tuple(line.strip() for line in Path(args.match_file).read_text()
                           .splitlines() if line.strip())
        mutants = select(all_mutants(reference_files(), matcher(match)), parse_shard(args.shard))
        say(f"mutation engine: grading {len(mutants)} mutants (shard {args.shard or '1/1'})")
        out = Path(args.json) if getattr(args, "json", None) else None
        rows = grade(mutants, say, out)
        say(f"[{time.monotonic() - started:.0f} s] graded {len(rows)} mutants")
    print(render(rows, listed))
    return 0 if summary(rows, listed)["open"] == 0 else 1
