"""The trusted side: code that never runs beside student code.

The judge (judge.py, plugin.py, checks.py, properties.py, results.py, ...) runs pytest over the
test suites in its own process, imports neither torch nor the submission, and computes every
score from raw evaluations returned by sandboxed workers. The fork server (zygote.py) and the
measurement worker (measure.py) import torch in processes of their own that never import
student code. Nothing here imports grader.worker at module level; the judge checks at the end
of every sandboxed grading that neither torch nor grader.worker reached its process.
"""
