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


def pytest_sessionfinish(session, exitstatus):
    expected = os.environ.get("PS1_EXPECT_ISOLATION")
    if expected and exitstatus == 0 and not _isolation(session.config).startswith(expected):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    isolation = _isolation(config)
    if ISOLATION in config.stash or os.environ.get("PS1_EXPECT_ISOLATION"):
        terminalreporter.write_line(f"sandbox isolation on this machine: {isolation}")
    expected = os.environ.get("PS1_EXPECT_ISOLATION")
    if expected and not isolation.startswith(expected):
        terminalreporter.write_line(f"FAILED: PS1_EXPECT_ISOLATION={expected}, but the sandbox "
                                    f"tests took: {isolation}", red=True)
