"""Part 4 (hidden): orderings respected (any order but the given one fails, whatever the
canvas starts at), raster order, and the sampled distribution matches the exact joint."""
import numpy as np

from tests_public.test_sampling import (SAMPLES, binary, check_copy_models, check_distribution,
                                        exact_joint, strong_weights)


def _ordering(rng, num):
    """A random ordering that is not its own inverse (so walking argsort(ordering) differs)."""
    while True:
        ordering = rng.permutation(num)
        if not np.array_equal(np.argsort(ordering), ordering):
            return ordering


def _alternating(ordering):
    want = np.empty(len(ordering))
    want[ordering] = (np.arange(len(ordering)) % 2 == 0)
    return want


def test_sample_autoregressive_respects_ordering(submission, check, rng):
    ordering = _ordering(rng, int(rng.integers(6, 10)))
    what = f"sample_autoregressive(ordering={ordering.tolist()})"
    check_copy_models(submission, check, what, (4, len(ordering)), ordering=ordering)
    got = submission.run("sample", kind="alternate", n=5, ordering=ordering,
                         seed=int(rng.integers(2**31)))
    samples = binary(check, got, (5, len(ordering)), what)
    check.that((samples == _alternating(ordering)).all(),
               f"{what} with a model where each variable flips the one drawn before it: "
               f"samples must alternate 1, 0, 1, ... along the ordering; got "
               f"{samples[0].astype(int).tolist()} (sample 0)")


def check_generator(submission, check, what, seeds, **kwargs):
    """The same generator seed, the same samples; another seed, other samples; the first seed
    after one earlier draw, other samples (the generator is used as given, not re-seeded)."""
    runs = ((seeds[0], 0), (seeds[1], 0), (seeds[2], 0), (seeds[0], 1))
    first, again, other, later = (
        check.tensor(submission.run("sample", seed=seed, draws=draws, **kwargs), what=what,
                     kind="float") for seed, draws in runs)
    check.that(np.array_equal(first, again),
               f"{what}: the same generator seed gave different samples: draw every random "
               f"number from `generator`")
    check.that(not np.array_equal(first, other),
               f"{what}: two different generator seeds gave the same samples: draw every "
               f"random number from `generator`")
    check.that(not np.array_equal(first, later),
               f"{what}: a generator seeded {seeds[0]} that had already made a draw gave the "
               f"samples of a freshly seeded one: draw from the generator as it is given "
               f"(never re-seed or re-create it)")
    return first


def test_sample_autoregressive_distribution(submission, check, rng):
    num = int(rng.integers(4, 6))
    ordering, weights, bias = _ordering(rng, num), strong_weights(rng, num), rng.normal(0, 1, num)
    seeds = [int(s) for s in rng.choice(2**31, 2, replace=False)]
    what = f"sample_autoregressive with D={num}, ordering {ordering.tolist()}"
    got = submission.run("sample", kind="logistic", n=SAMPLES, ordering=ordering,
                         weights=weights, bias=bias, seed=seeds[0])
    samples = binary(check, got, (SAMPLES, num), "sample_autoregressive")
    check_distribution(check, samples, exact_joint(weights, bias, ordering), what)
    check_generator(submission, check, what, (seeds[0], seeds[0], seeds[1]), kind="logistic",
                    n=200, ordering=ordering, weights=weights, bias=bias)


def test_sample_pixels_raster_order(submission, check, rng):
    for height, width in ((3, 4), (4, 3)):
        what = f"sample_pixels({height}x{width})"
        check_copy_models(submission, check, what, (4, 1, height, width), height=height,
                          width=width)
        got = submission.run("sample", kind="alternate", n=2, height=height, width=width,
                             seed=int(rng.integers(2**31)))
        images = binary(check, got, (2, 1, height, width), what)
        want = _alternating(np.arange(height * width)).reshape(height, width)
        check.that((images[:, 0] == want).all(),
                   f"{what} with a model where each pixel flips the previous pixel in raster "
                   f"order: images must alternate 1, 0, 1, ... row by row; got\n"
                   f"{images[0, 0].astype(int)}")


def test_sample_pixels_distribution(submission, check, rng):
    height, width = 2, 3
    num = height * width
    weights, bias = strong_weights(rng, num), rng.normal(0, 1, num)
    got = submission.run("sample", kind="logistic", n=SAMPLES, height=height, width=width,
                         weights=weights, bias=bias, seed=int(rng.integers(2**31)))
    images = binary(check, got, (SAMPLES, 1, height, width), "sample_pixels")
    check_distribution(check, images.reshape(SAMPLES, num),
                       exact_joint(weights, bias, np.arange(num)), "sample_pixels on 2x3 images")
    seeds = [int(s) for s in rng.choice(2**31, 2, replace=False)]
    check_generator(submission, check, "sample_pixels on 2x3 images", (seeds[0], seeds[0], seeds[1]),
                    kind="logistic", n=200, height=height, width=width, weights=weights, bias=bias)
