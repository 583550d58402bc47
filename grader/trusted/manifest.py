"""The one manifest (grader/trusted/manifest.toml): every graded test's part, points, visibility,
timeout and name, keyed by pytest node id. Nothing else states points.

Parts marked `extra = true` are extra credit beyond the 40 points (part 6): their tests run only
when the part's optional `module` was submitted, and every score is shown as the regular total
out of 40 and, separately, the extra credit out of EXTRA_POINTS."""
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader import OPTIONAL_MODULES, ROOT

MANIFEST_PATH = ROOT / "grader" / "trusted" / "manifest.toml"
TOTAL_POINTS = 40
EXTRA_POINTS = 5
PUBLIC_DIR, HIDDEN_DIR = "tests_public", "tests_hidden"
# Gradescope's visibilities a folder's tests may have: public tests are shown at once; hidden
# tests when the staff publish the grades, or after the due date (README: staff checklist).
VISIBILITY = {PUBLIC_DIR: ("visible",), HIDDEN_DIR: ("after_published", "after_due_date")}


@dataclass(frozen=True)
class TestEntry:
    id: str
    part: str
    points: float
    visibility: str
    timeout: float
    name: str
    number: str  # Gradescope "number", e.g. "2b.1"

    @property
    def public(self) -> bool:
        return self.visibility == "visible"


@dataclass(frozen=True)
class Manifest:
    parts: dict  # part -> {"points", "title"}
    tests: tuple[TestEntry, ...]

    def by_id(self) -> dict[str, TestEntry]:
        return {t.id: t for t in self.tests}

    def public_only(self) -> "Manifest":
        return Manifest(self.parts, tuple(t for t in self.tests if t.public))

    def extra(self, part: str) -> bool:
        """Part `part` is extra credit (beyond the 40 points)."""
        return bool(self.parts.get(part, {}).get("extra", False))

    def module(self, part: str) -> str | None:
        """The optional module an extra-credit part grades (e.g. "attention"), or None."""
        return self.parts.get(part, {}).get("module")


def load(path: Path = MANIFEST_PATH) -> Manifest:
    return _parse(Path(path).read_text())


@functools.lru_cache(maxsize=4)
def _parse(text: str) -> Manifest:
    """Parsed once per text: a grading asks for the manifest once per test (~5 ms each)."""
    raw = tomllib.loads(text)
    counters: dict[str, int] = {}
    tests = []
    for test_id, fields in raw["tests"].items():
        counters[fields["part"]] = counters.get(fields["part"], 0) + 1
        number = f"{fields['part']}.{counters[fields['part']]}"
        tests.append(TestEntry(id=test_id, number=number, **fields))
    return Manifest(raw["parts"], tuple(tests))


def problems(manifest: Manifest, collected: set[str] | None = None,
             full: bool = True) -> list[str]:
    """Everything wrong with the manifest (empty list: valid). `collected`, when given, is
    the set of node ids pytest collected; `full=False` for a release without hidden tests."""
    found = []
    for extra, want, what in ((False, TOTAL_POINTS, "regular"), (True, EXTRA_POINTS, "extra")):
        tests = sum(t.points for t in manifest.tests if manifest.extra(t.part) == extra)
        parts = sum(p["points"] for k, p in manifest.parts.items() if manifest.extra(k) == extra)
        if full and tests != want:
            found.append(f"{what} tests total {tests:g} points, not {want}")
        if full and parts != want:
            found.append(f"{what} parts do not total {want} points")
    for part, info in manifest.parts.items():
        if info.get("extra") and info.get("module") not in OPTIONAL_MODULES:
            found.append(f"part {part}: extra credit needs an optional module, "
                         f"got {info.get('module')!r}")
    for part, info in manifest.parts.items():
        points = sum(t.points for t in manifest.tests if t.part == part)
        if full and points != info["points"]:
            found.append(f"part {part}: tests total {points}, the part is worth {info['points']}")
    found += visibility_problems(manifest)
    for test in manifest.tests:
        if test.part not in manifest.parts:
            found.append(f"{test.id}: unknown part {test.part}")
        if test.points <= 0 or test.timeout <= 0:
            found.append(f"{test.id}: points and timeout must be positive")
    if collected is not None:
        listed = set(manifest.by_id())
        found += [f"collected but not in the manifest: {i}" for i in sorted(collected - listed)]
        found += [f"in the manifest but not collected: {i}" for i in sorted(listed - collected)]
    return found


def visibility_problems(manifest: Manifest) -> list[str]:
    """Each test's visibility is one its folder allows (checked before any grading starts)."""
    found = []
    for test in manifest.tests:
        folder = test.id.split("/", 1)[0]
        allowed = VISIBILITY.get(folder, ())
        if test.visibility not in allowed:
            found.append(f"{test.id}: visibility {test.visibility!r} is not supported for "
                         f"{folder}/ (use {' or '.join(map(repr, allowed)) or 'another folder'})")
    return found
