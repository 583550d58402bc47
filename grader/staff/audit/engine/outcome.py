"""A graded mutant's status, the per-module and per-part counts, and the survivors' listing."""
from __future__ import annotations

import tomllib
from pathlib import Path

EQUIVALENT_FILE = Path(__file__).resolve().parents[1] / "equivalent_mutants.toml"
STATUSES = ("killed", "timeout", "crashed", "wrong_part", "survived", "error")
UNKILLED = ("wrong_part", "survived", "error")  # need a test or a reasoned entry


def status(result: dict, parts: tuple) -> str:
    if "error" in result:
        return "error"
    if "crashed" in result:
        return "crashed"
    if result.get("failed") is None:
        return "timeout" if result.get("timeout") else "survived"
    if result["part"] not in parts:
        return "wrong_part"
    return "timeout" if result.get("timeout") else "killed"


def equivalents(path: Path = EQUIVALENT_FILE) -> dict:
    """id -> reason of every survivor reviewed as equivalent."""
    if not path.is_file():
        return {}
    return {e["id"]: e["reason"] for e in tomllib.loads(path.read_text()).get("equivalent", [])}


def tally(rows: list, key) -> dict:
    """{key(row): {status: count, "generated": n}}"""
    table = {}
    for row in rows:
        counts = table.setdefault(key(row), dict.fromkeys(("generated", *STATUSES), 0))
        counts["generated"] += 1
        counts[row["status"]] += 1
    return table


def summary(rows: list, listed: dict) -> dict:
    unkilled = [r for r in rows if r["status"] in UNKILLED]
    open_ = [r for r in unkilled if r["id"] not in listed]
    killed = sum(r["status"] in ("killed", "timeout") for r in rows)
    equivalent = len(unkilled) - len(open_)
    return {"generated": len(rows), "killed": killed, "equivalent": equivalent,
            "open": len(open_),
            "score": round(killed / max(len(rows) - equivalent, 1), 4),
            "seconds_per_mutant": round(sum(r["seconds"] for r in rows) / max(len(rows), 1), 2),
            "by_module": tally(rows, lambda r: r["module"]),
            "by_part": tally(rows, lambda r: r["region"] if not r["region"].startswith("given")
                             else f"given ({r['module']})"),
            "open_ids": [r["id"] for r in open_]}


def render(rows: list, listed: dict) -> str:
    facts = summary(rows, listed)
    out = [f"mutation engine: {facts['generated']} mutants, {facts['killed']} killed, "
           f"{facts['equivalent']} listed equivalent, {facts['open']} open; score "
           f"{facts['score']:.1%} (killed / non-equivalent); "
           f"{facts['seconds_per_mutant']} s per mutant"]
    for title, table in (("module", facts["by_module"]), ("part", facts["by_part"])):
        out.append(f"\n{title:<22}" + "".join(f"{s:>11}" for s in ("generated", *STATUSES)))
        for name, counts in sorted(table.items()):
            out.append(f"{name:<22}" + "".join(f"{counts[s]:>11}" for s in ("generated", *STATUSES)))
    for row in sorted(rows, key=lambda r: (r["module"], r["line"])):
        if row["status"] in UNKILLED:
            mark = "equivalent" if row["id"] in listed else "OPEN"
            out.append(f"\n[{mark}] {row['status']} {row['id']}  (line {row['line']}, parts "
                       f"{'/'.join(row['parts'])}{', lost ' + row['part'] if row.get('part') else ''})")
            out.append(row["diff"].rstrip())
    return "\n".join(out)
