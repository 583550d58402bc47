"""The mutation engine (`python -m grader audit --only engine`), on a sample small enough for
CI: its verdicts, its shards and their merge, and the reviewed list of equivalent mutants.
The full run is in README ("The mutation engine")."""
import re

from grader.staff.audit.engine.mutations import all_mutants
from grader.staff.audit.engine.outcome import equivalents, summary
from grader.staff.audit.engine.run import grade, matcher, merge, select
from grader.staff.audit.sources import reference_files

EQUIVALENT = "probability|1a|ReplaceComparisonOperator_Gt_NotEq|*"  # p > 0 vs p != 0
SAMPLE = ("probability|1d|*", EQUIVALENT)


def test_sample_verdicts_and_sharded_merge(tmp_path):
    """bits_per_dim's mutants all lose 1d; `p != 0` for `p > 0` (p is a distribution) loses
    nothing and is listed. Two shards partition the sample, and their merge holds every
    verdict an unsharded run gives."""
    mutants = all_mutants(reference_files(), matcher(SAMPLE))
    assert len(mutants) >= 20
    shards = [select(mutants, (k, 2)) for k in range(2)]
    assert sorted(m.id for s in shards for m in s) == sorted(m.id for m in mutants)
    assert all(shards)
    paths = [tmp_path / f"shard{k}.json" for k in range(2)]
    for shard, path in zip(shards, paths):
        grade(shard, lambda *a: None, path)
    rows = merge(paths)
    expected = {m.id: "survived" if m.region == "1a" else "killed" for m in mutants}
    assert {r["id"]: r["status"] for r in rows} == expected
    assert summary(rows, equivalents())["open"] == 0
    assert summary(rows, {})["open_ids"] == [m.id for m in mutants if m.region == "1a"]


def test_every_listed_equivalent_still_exists():
    """An entry whose mutant is no longer generated (the line changed) is stale: review it."""
    listed = equivalents()
    assert listed, "equivalent_mutants.toml lists nothing"
    keys = {re.sub(r"#\d+$", "", i) for i in listed}
    generated = {m.id for m in all_mutants(reference_files(), lambda key: key in keys)}
    assert sorted(set(listed) - generated) == []
    assert all(len(reason) > 40 for reason in listed.values())


def test_no_pattern_selects_every_mutant():
    """`grader audit --only engine` without --match grades everything (a conditional that
    bound inside the matcher's lambda once selected nothing)."""
    assert matcher(()) is None
    every = all_mutants(reference_files(), matcher(()))
    assert len(every) > 900
    assert len(all_mutants(reference_files(), matcher(("training|*",)))) < len(every)
