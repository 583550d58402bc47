"""The audit's report as text, and its verdict."""
from __future__ import annotations

from .verdicts import FULL


def verdict(report: dict) -> bool:
    seeds = report.get("seeds") or {}
    return (all(m["killed"] for m in report["mutants"])
            and all(v["score"] == FULL for v in report["variants"])
            and all(c["handled"] for c in report["malicious"])
            and report.get("determinism", {}).get("identical", True)
            and not report.get("contexts")
            and all(r["failed_seeds"] == [] for r in seeds.get("rows", []))
            and all(not c["failures"] for c in seeds.get("correct", [])))


def _problems(report: dict) -> list[str]:
    """Every case that is not as expected, with the tests that made it so."""
    lines = []
    for m in report["mutants"]:
        if not m["killed"]:
            why = (f"passed every test of {m['part']}: {', '.join(m.get('passed_in_its_part', []))}"
                   if m["part"] not in m["parts_lost"] else
                   f"also lost {', '.join(m['collateral'])}: {m['collateral_failures']}"
                   if m["collateral"] else
                   f"a mistake of SPEC's catalogue or an everyday slip that no public test of "
                   f"{m['part']} catches")
            lines.append(f"mutant {m['name']}: {m.get('error') or why}")
    lines += report.get("contexts", [])
    for v in report["variants"]:
        if v["score"] != FULL:
            lines.append(f"variant {v['name']}: {v.get('error') or v['failures']}")
    for c in report["malicious"]:
        if not c["handled"]:
            lines.append(f"malicious {c['name']}: {c['detail']}")
    for r in (report.get("seeds") or {}).get("rows", []):
        if r["failed_seeds"]:
            lines.append(f"seed sweep {r['mutant']}: not killed for seeds {r['failed_seeds'][:10]}")
    for c in (report.get("seeds") or {}).get("correct", []):
        if c["failures"]:
            lines.append(f"seed sweep {c['name']} (correct) failed: "
                         f"{ {t: s[:5] for t, s in c['failures'].items()} }")
    return lines


def render(report: dict) -> str:
    lines = ["", "MUTANTS (must lose points in their own part, and only in related parts)",
             f"{'name':<38} {'part':<4} {'score':>5}  {'parts lost':<22} {'killed':<6} collateral"]
    for m in report["mutants"]:
        lines.append(f"{m['name']:<38} {m['part']:<4} {m['score']:>5g}  "
                     f"{','.join(m['parts_lost']) or '-':<22} {'yes' if m['killed'] else 'NO':<6} "
                     f"{','.join(m['collateral']) or '-'}")
    if report["mutants"]:
        lines.append(f"context table (docs/COVERAGE.md): {len(report.get('contexts', []))} "
                     f"cell(s) whose mutant failed none of the cell's tests")
    lines += ["", "ALTERNATIVE-CORRECT VARIANTS (must score 40 + 5 extra credit)",
              f"{'name':<38} {'score':>5}  parts lost"]
    for v in report["variants"]:
        lines.append(f"{v['name']:<38} {v['score']:>5g}  {','.join(v['parts_lost']) or '-'}")
    lines += ["", f"MALICIOUS SUBMISSIONS (path: {report.get('malicious_path', '-')})",
              f"{'name':<34} {'score':>5} {'expect':>6}  {'handled':<7} detail"]
    for c in report["malicious"]:
        score = "-" if c["score"] is None else f"{c['score']:g}"
        lines.append(f"{c['name']:<34} {score:>5} {c['expected_score']:>6g}  "
                     f"{'yes' if c['handled'] else 'NO':<7} {c['detail'][:110]}")
    det = report.get("determinism") or {}
    if det:
        lines += ["", f"DETERMINISM ({det['runs']} sandboxed runs each): "
                      f"{'identical' if det['identical'] else 'NOT IDENTICAL'}"]
        for row in det["subjects"]:
            extra = (f"  in-process {row['inprocess_score']:g} "
                     f"({'matches' if row['inprocess_matches_sandbox'] else 'DIFFERS'})"
                     if "inprocess_score" in row else "")
            lines.append(f"  {row['name']:<36} {row['scores']}{extra}")
    seeds = report.get("seeds") or {}
    if seeds:
        lines += ["", f"SEED SWEEP ({seeds['seeds']} per-submission seeds: each mutant must lose "
                      f"its part on every one)"]
        for r in seeds["rows"]:
            how = "any seed (a seed-free test)" if r["killed_without_seed"] else \
                f"{r['seeds_tested'] - len(r['failed_seeds'])}/{r['seeds_tested']}"
            lines.append(f"  {r['mutant']:<38} {r['part']:<4} killed on {how}")
        incidental = [f"{r['mutant']}: {r['seed_dependent_tests']}" for r in seeds["rows"]
                      if r["seed_dependent_tests"] and not r["failed_seeds"]]
        if incidental:  # another test catches these on every seed
            lines.append("  also caught on some seeds by (out of "
                         f"{seeds['seeds']}): " + "; ".join(incidental))
        for c in seeds.get("correct", []):
            lines.append(f"  {c['name']:<38} passes every randomized test on "
                         f"{c['seeds_tested'] - len(set().union(*c['failures'].values()))}"
                         f"/{c['seeds_tested']} seeds")
    problems = _problems(report)
    if problems:
        lines += ["", "NOT AS EXPECTED"] + [f"  - {p}" for p in problems]
    killed = sum(m["killed"] for m in report["mutants"])
    full = sum(v["score"] == FULL for v in report["variants"])
    handled = sum(c["handled"] for c in report["malicious"])
    lines += ["", f"mutants killed {killed}/{len(report['mutants'])}; variants at 40 + 5 "
                  f"{full}/{len(report['variants'])}; malicious handled {handled}/"
                  f"{len(report['malicious'])}; determinism "
                  f"{det.get('identical', 'not run')}; {report.get('seconds', 0):g} s; "
                  f"{report['gpu']}"]
    return "\n".join(lines)
