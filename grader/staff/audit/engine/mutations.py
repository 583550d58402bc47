"""Every mutant of the graded modules, with a stable id.

cosmic-ray's core operators (as a library: each operator lists the positions it can mutate
in a parso tree, `mutate_code` applies one occurrence) give the operator, comparison, unary,
boolean, number, break/continue, exception, decorator and loop mutations; arguments.py adds
the argument, string and statement mutations cosmic-ray lacks. VariableReplacer and
VariableInserter are left out: they draw names at random, so their mutants are not stable.

A mutant's id names its module, region, operator and the mutated line's text (plus #k when
that line holds the same mutation more than once), never a line number, so that ids survive
edits elsewhere in the file (equivalent_mutants.toml is keyed by them).
"""
from __future__ import annotations

import difflib
import zlib
from dataclasses import dataclass

from .arguments import EXTRA_OPERATORS
from .regions import Regions, owners

RANDOM_OPERATORS = ("core/VariableReplacer", "core/VariableInserter")


@dataclass(frozen=True)
class Mutant:
    id: str
    module: str       # "made"
    region: str       # "2a", "5b/5c" or "given:MADE.forward"
    operator: str
    line: int         # where it is today (for the reader; not part of the id)
    source: str       # the whole mutated module

    @property
    def parts(self) -> tuple:
        return owners(self.region, self.module)

    def diff(self, original: str) -> str:
        return "".join(difflib.unified_diff(
            original.splitlines(True), self.source.splitlines(True),
            f"a/{self.module}.py", f"b/{self.module}.py", n=1))

    def shard(self, count: int) -> int:
        """0-based shard of this mutant among `count`: stable under reordering."""
        return zlib.crc32(self.id.encode()) % count


def _cosmic_ray_candidates(source: str, regions: Regions):
    """(operator name, occurrence, line, mutated source) of every core operator."""
    from cosmic_ray import plugins
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code
    nodes = list(ast_nodes(get_ast(source)))  # positions only read the tree: parse once
    for name in plugins.operator_names():
        if name in RANDOM_OPERATORS:
            continue
        operator = plugins.get_operator(name)()
        occurrence = 0
        for node in nodes:
            for start, end in operator.mutation_positions(node):
                if regions.mutable(start, end):
                    yield name.split("/", 1)[1], occurrence, start[0], \
                        lambda o=operator, k=occurrence: mutate_code(source, o, k)
                occurrence += 1


def _extra_candidates(source: str, regions: Regions):
    for operator in EXTRA_OPERATORS:
        for k, (start, end, mutate) in enumerate(operator.positions(source)):
            if regions.mutable(start, end):
                yield operator.name, k, start[0], mutate


def module_mutants(module: str, source: str, wanted=None) -> list[Mutant]:
    """`wanted(key)`, when given, picks mutants by id (less its #k) before they are made:
    making one parses the module again, the costly step."""
    regions = Regions(module, source)
    found, seen = [], {}
    for candidates in (_cosmic_ray_candidates(source, regions),
                       _extra_candidates(source, regions)):
        for operator, _, line, mutate in candidates:
            key = f"{module}|{regions.region(line)}|{operator}|{regions.text(line)}"
            if wanted and not wanted(key):
                continue
            mutated = mutate()
            if mutated is None or mutated == source or not _compiles(mutated):
                continue
            seen[key] = seen.get(key, 0) + 1
            mutant_id = key if seen[key] == 1 else f"{key}#{seen[key]}"
            found.append(Mutant(mutant_id, module, regions.region(line), operator, line, mutated))
    return found


def _compiles(source: str) -> bool:
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # `x is 1`: still a mutant worth grading
            compile(source, "<mutant>", "exec")
        return True
    except (SyntaxError, ValueError):
        return False


def all_mutants(files: dict, wanted=None) -> list[Mutant]:
    """Mutants of every graded module in `files` ({"made.py": source, ...})."""
    from .regions import MODULE_PARTS
    return [m for module in MODULE_PARTS
            for m in module_mutants(module, files[f"{module}.py"], wanted)]
