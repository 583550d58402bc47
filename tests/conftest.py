"""The project's own suite: its last line says which isolation path the sandbox took on this
machine (namespaces, or the sweep where the kernel refuses them, as in Docker's default
profile), so a CI log shows which path its sandbox tests exercised.

A passing run's log may not be kept, so CI states the path it expects instead:
PS1_EXPECT_ISOLATION=namespaces (set by .ci/run) fails the run unless the namespace tests ran
as root. A green CI is then the evidence that both paths were tested there (the sweep is
forced apart, on any Linux machine where the suite runs as root)."""
import os

import pytest

ISOLATION = pytest.StashKey[str]()
NOT_RECORDED = "not tested (the sandbox tests did not run: not root, or deselected)"


@pytest.fixture(scope="session")
def record_isolation(request):
    def record(path: str) -> None:
        if os.geteuid() == 0:
            request.config.stash[ISOLATION] = path
    return record


def _isolation(config) -> str:
    return config.stash.get(ISOLATION, NOT_RECORDED)


def _unmet_expectation(config) -> str | None:
    """PS1_EXPECT_ISOLATION's value when the sandbox tests did not take that path."""
    expected = os.environ.get("PS1_EXPECT_ISOLATION")
    return expected if expected and not _isolation(config).startswith(expected) else None


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and _unmet_expectation(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    isolation, unmet = _isolation(config), _unmet_expectation(config)
    if ISOLATION in config.stash or unmet:
        terminalreporter.write_line(f"sandbox isolation on this machine: {isolation}")
    if unmet:
        terminalreporter.write_line(f"FAILED: PS1_EXPECT_ISOLATION={unmet}, but the sandbox "
                                    f"tests took: {isolation}", red=True)
