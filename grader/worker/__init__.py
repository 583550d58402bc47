"""Code that runs beside the student's code, in a sandboxed worker (or, for students debugging
with pytest, in their own process).

Nothing here is trusted once a student module has been imported: student code can patch any
of it, and can write its own result frame. So these modules only produce *raw evaluations*
(return values on inputs the judge chose, model outputs, trained parameters, samples); every
property that earns points is computed by grader/trusted/ from those raw values.
"""
