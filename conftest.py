# Registers the grader's pytest fixtures (submission, expected, measure, check, rng): grader/trusted/plugin.py.
pytest_plugins = ("grader.trusted.plugin",)
