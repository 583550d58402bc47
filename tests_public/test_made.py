"""Part 2 (public): MADE degrees, masks, MaskedLinear and the autoregressive property."""
import numpy as np

from grader.trusted.properties import check_made_model

# The example drawn in made.py's docstring: D = 3 inputs, one hidden layer of 4 units.
DOC_DEGREES = [np.array([1, 2, 3]), np.array([1, 2, 1, 2])]


def check_degrees(check, got, ordering, hidden, context):
    """made_degrees' contract for deterministic degrees (generator=None)."""
    num_inputs = len(ordering)
    check.that(isinstance(got, list) and len(got) == len(hidden) + 1,
               f"{context}: made_degrees must return a list: [input degrees, one tensor per "
               f"hidden layer]")
    check.equal(got[0], np.argsort(ordering) + 1, kind="int",
                what=f"{context}: input degrees (degree of x_i = 1 + its position in the "
                     f"ordering)")
    for layer, size in enumerate(hidden, start=1):
        degrees = check.tensor(got[layer], what=f"{context}: hidden layer {layer} degrees",
                               shape=(size,), kind="int")
        top = num_inputs - 1
        check.that(degrees.min() >= 1 and degrees.max() <= top,
                   f"{context}: hidden layer {layer} degrees must lie in 1..D-1 = 1..{top}, "
                   f"got {degrees.tolist()}")
        counts = np.bincount(degrees, minlength=top + 1)[1:]
        if size >= top:
            check.that(counts.min() >= 1 and counts.max() - counts.min() <= 1,
                       f"{context}: hidden layer {layer} has {size} >= D-1 units, so every "
                       f"degree 1..{top} must appear equally often (+-1); counts "
                       f"{counts.tolist()}")
        elif size > 1:
            check.that(counts[0] > 0 and counts[-1] > 0,
                       f"{context}: hidden layer {layer} has {size} < D-1 units; its degrees "
                       f"must still span 1..{top} (both ends included); got {degrees.tolist()}")


def test_degrees_given_ordering(submission, check):
    ordering, hidden = np.array([1, 3, 4, 0, 2]), [8, 3]
    got = submission.call("made.made_degrees", ordering, hidden)
    check_degrees(check, got, ordering, hidden, f"made_degrees({ordering.tolist()}, {hidden})")


def test_masks_docstring_example(submission, expected, check):
    degrees = DOC_DEGREES  # a local name: `pp locals()` in pdb shows the inputs too
    got = submission.call("made.made_masks", degrees)
    want = expected.call("made.made_masks", degrees)
    check.that(isinstance(got, list) and len(got) == 2,
               "made_masks must return one mask per weight matrix (here 2)")
    check.equal(got[0], want[0], what="hidden mask (4 x 3) for degrees [1 2 3] -> [1 2 1 2]")
    check.equal(got[1], want[1], what="output mask (3 x 4): output d sees hidden units of "
                                      "degree < d")


def test_masked_linear_applies_mask(submission, expected, check, rng):
    weight, bias = rng.normal(size=(3, 4)), rng.normal(size=3)
    mask = (rng.random((3, 4)) < 0.5).astype(np.float32)
    kwargs = dict(target="made.MaskedLinear", init_args=[4, 3, mask],
                  state={"weight": weight.astype(np.float32), "bias": bias.astype(np.float32)},
                  x=rng.normal(size=(5, 4)).astype(np.float32))
    got = submission.run("layer_forward", **kwargs)
    want = expected.run("layer_forward", **kwargs)
    check.close(got["first"], want["first"], what="MaskedLinear output (weights loaded after "
                                                  "construction)", atol=1e-5)


def test_made_is_autoregressive(submission, rng):
    check_made_model(submission, {"num_inputs": 6, "hidden_sizes": [32]}, rng,
                     context="MADE(6, [32]), natural ordering, eval mode")
