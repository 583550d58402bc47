"""Staff tools: build (autograder and student release), batch grading and its report, the
Gradescope emulation, the stub generator and the grader's own audit."""
