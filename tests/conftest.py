"""The project's own suite: its last line says which isolation path the sandbox took on this
machine (namespaces, or the sweep where the kernel refuses them, as in Docker's default
profile), so a CI log shows which path its sandbox tests exercised."""
import pytest

ISOLATION = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def record_isolation(request):
    def record(path: str) -> None:
        request.config.stash[ISOLATION] = path
    return record


def pytest_terminal_summary(terminalreporter, config):
    if ISOLATION in config.stash:
        terminalreporter.write_line(f"sandbox isolation on this machine: {config.stash[ISOLATION]}")
