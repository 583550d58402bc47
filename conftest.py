# Registers the grader's pytest fixtures (submission, expected, check, rng): grader/plugin.py.
pytest_plugins = ("grader.plugin",)
