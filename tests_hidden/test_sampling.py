"""Part 4 (hidden): orderings respected, raster order, and the sampled distribution matches
the exact joint (total variation) for small D."""
import itertools

import numpy as np

SAMPLES = 20000


def _binary(check, got, shape, what):
    samples = check.tensor(got, what=what, shape=shape, kind="float")
    check.that(np.isin(samples, (0.0, 1.0)).all(), f"{what}: samples must be 0. or 1.")
    return samples


def _alternating(ordering):
    want = np.empty(len(ordering))
    want[ordering] = (np.arange(len(ordering)) % 2 == 0)
    return want


def _exact_joint(weights, bias, ordering):
    """p(x) for all 2^D states (state index = sum_i x_i 2^i) of the 'logistic' probe model."""
    num = len(ordering)
    states = np.array(list(itertools.product([0, 1], repeat=num)))[:, ::-1]
    ordered = states[:, ordering]
    logits = bias + ordered @ np.tril(weights, -1).T
    log_p = -np.logaddexp(0, -np.where(ordered == 1, logits, -logits)).sum(1)
    joint = np.zeros(2 ** num)
    joint[states @ (1 << np.arange(num))] = np.exp(log_p)
    return joint


def _check_distribution(check, samples, joint, what):
    counts = np.bincount(samples.astype(int) @ (1 << np.arange(samples.shape[1])),
                         minlength=len(joint))
    tv = 0.5 * np.abs(counts / len(samples) - joint).sum()
    noise = 0.5 * np.sqrt(2 * joint * (1 - joint) / (np.pi * len(samples))).sum()
    check.that(tv <= 3 * noise + 0.005,
               f"{what}: the samples do not follow the model's distribution (total variation "
               f"{tv:.3f} from the exact joint; sampling noise is about {noise:.3f}). Draw "
               f"x_i ~ Bernoulli(sigmoid(logit_i)), not argmax or a threshold, with fresh "
               f"logits after every variable")


def test_sample_autoregressive_respects_ordering(submission, check, rng):
    ordering = rng.permutation(int(rng.integers(6, 10)))
    got = submission.run("sample", kind="alternate", n=5, ordering=ordering,
                         seed=int(rng.integers(2**31)))
    samples = _binary(check, got, (5, len(ordering)), "sample_autoregressive")
    want = _alternating(ordering)
    check.that((samples == want).all(),
               f"with a model where each variable flips the previous one *in the ordering* "
               f"{ordering.tolist()}, samples must follow that order: draw x[ordering[0]], "
               f"then x[ordering[1]], ... (not x0, x1, ...)")


def test_sample_autoregressive_distribution(submission, check, rng):
    num = int(rng.integers(4, 6))
    ordering, weights, bias = rng.permutation(num), rng.normal(0, 2, (num, num)), rng.normal(0, 1, num)
    got = submission.run("sample", kind="logistic", n=SAMPLES, ordering=ordering,
                         weights=weights, bias=bias, seed=int(rng.integers(2**31)))
    samples = _binary(check, got, (SAMPLES, num), "sample_autoregressive")
    _check_distribution(check, samples, _exact_joint(weights, bias, ordering),
                        f"sample_autoregressive with D={num}, random ordering")


def test_sample_pixels_raster_order(submission, check, rng):
    for height, width in ((3, 4), (4, 3)):
        got = submission.run("sample", kind="alternate", n=2, height=height, width=width,
                             seed=int(rng.integers(2**31)))
        images = _binary(check, got, (2, 1, height, width), f"sample_pixels({height}x{width})")
        want = _alternating(np.arange(height * width)).reshape(height, width)
        check.that((images[:, 0] == want).all(),
                   f"with a model where each pixel flips the previous pixel in raster order, a "
                   f"{height}x{width} image must alternate 1, 0, 1, ... row by row; got\n"
                   f"{images[0, 0].astype(int)}\nsample row by row, left to right")


def test_sample_pixels_distribution(submission, check, rng):
    height, width = 2, 3
    num = height * width
    weights, bias = rng.normal(0, 2, (num, num)), rng.normal(0, 1, num)
    got = submission.run("sample", kind="logistic", n=SAMPLES, height=height, width=width,
                         weights=weights, bias=bias, seed=int(rng.integers(2**31)))
    images = _binary(check, got, (SAMPLES, 1, height, width), "sample_pixels")
    _check_distribution(check, images.reshape(SAMPLES, num),
                        _exact_joint(weights, bias, np.arange(num)), "sample_pixels on 2x3 images")
