"""The mutation engine (`python -m grader audit --only engine`): every operator, constant,
comparison, argument and statement of the graded modules is mutated, one at a time, by
cosmic-ray's operators plus the few kinds it lacks (arguments.py), and each mutated copy of
reference/ is graded as a submission in-process (execute.py). A mutant must lose points in
its own part; the survivors either get a test or a reasoned entry in
equivalent_mutants.toml. Shardable (`--shard K/N --json F`), merged by `--merge F ...`.
"""
