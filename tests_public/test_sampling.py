"""Part 4 (public): ancestral sampling against models whose answer is known exactly."""
import numpy as np


def _binary(check, got, shape, what):
    samples = check.tensor(got, what=what, shape=shape, kind="float")
    check.that(np.isin(samples, (0.0, 1.0)).all(), f"{what}: samples must be 0. or 1.")
    return samples


def test_sample_autoregressive_copy_previous(submission, check):
    # x_first = 1 and every variable copies the previous one: only a sampler that draws one
    # variable at a time, each from the filled canvas, produces all ones.
    got = submission.run("sample", kind="copy", n=4, ordering=np.arange(6), seed=0)
    samples = _binary(check, got, (4, 6), "sample_autoregressive(copy-previous model, n=4)")
    check.that(samples.all(), "with the copy-previous model every sample must be all ones; got "
               f"{samples.astype(int).tolist()}: draw x_i one at a time, after the variables "
               f"before it, and feed the updated canvas to logits_fn each time")


def test_sample_pixels_copy_previous(submission, check):
    got = submission.run("sample", kind="copy", n=3, height=4, width=5, seed=0)
    images = _binary(check, got, (3, 1, 4, 5), "sample_pixels(copy-previous model, 4x5)")
    check.that(images.all(), "with the copy-previous-pixel model every image must be all ones; "
               f"got (image 0)\n{images[0, 0].astype(int)}\nsample in raster order (row by "
               f"row, left to right), one pixel per pass, from the updated canvas")
