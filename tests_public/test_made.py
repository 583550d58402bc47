"""Part 2 (public): MADE degrees, masks, MaskedLinear and the autoregressive property."""
import numpy as np

from grader.trusted.properties import check_made_model

# The example drawn in made.py's docstring: D = 3 inputs, one hidden layer of 4 units.
DOC_DEGREES = [np.array([1, 2, 3]), np.array([1, 2, 1, 2])]


def test_degrees_natural_ordering(submission, check):
    ordering, hidden = np.arange(5), [8, 3]
    got = submission.call("made.made_degrees", ordering, hidden)
    check.that(isinstance(got, list) and len(got) == 3,
               "made_degrees must return a list: [input degrees, one tensor per hidden layer]")
    check.equal(got[0], np.arange(1, 6), what="input degrees for the natural ordering (1..D)",
                kind="int")
    for layer, size in enumerate(hidden, start=1):
        degrees = check.tensor(got[layer], what=f"hidden layer {layer} degrees",
                               shape=(size,), kind="int")
        check.that(degrees.min() >= 1 and degrees.max() <= 4,
                   f"hidden layer {layer} degrees must lie in 1..D-1 = 1..4, got {degrees}")


def test_masks_docstring_example(submission, expected, check):
    got = submission.call("made.made_masks", DOC_DEGREES)
    want = expected.call("made.made_masks", DOC_DEGREES)
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
