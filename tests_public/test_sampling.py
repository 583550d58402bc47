"""Part 4 (public): ancestral sampling against models whose answer is known exactly.

"copy" models: the first variable in the ordering is 1 (or 0), and every later one copies the
variable drawn just before it. Only a sampler that draws the variables in the given order, one
at a time, each from the canvas updated with the ones before it, returns all ones (all zeros):
any other order reads a variable that was not drawn yet.
"""
import itertools

import numpy as np

from grader.trusted.checks import Failure

ORDERING = np.array([3, 0, 5, 1, 4, 2])  # not the natural order, not its own inverse
SAMPLES = 20000


def binary(check, got, shape, what):
    samples = check.tensor(got, what=what, shape=shape, kind="float")
    check.that(np.isin(samples, (0.0, 1.0)).all(), f"{what}: samples must be 0. or 1.")
    return samples


def exact_joint(weights, bias, ordering):
    """p(x) for all 2^D states (state index = sum_i x_i 2^i) of the 'logistic' probe model."""
    num = len(ordering)
    states = np.array(list(itertools.product([0, 1], repeat=num)))[:, ::-1]
    ordered = states[:, ordering]
    logits = bias + ordered @ np.tril(weights, -1).T
    log_p = -np.logaddexp(0, -np.where(ordered == 1, logits, -logits)).sum(1)
    joint = np.zeros(2 ** num)
    joint[states @ (1 << np.arange(num))] = np.exp(log_p)
    return joint


def strong_weights(rng, num):
    """Weights of magnitude 1.5 to 3: every variable depends clearly on those drawn before it,
    so that drawing in any other order visibly changes the distribution."""
    return rng.choice([-1.0, 1.0], (num, num)) * rng.uniform(1.5, 3.0, (num, num))


def check_distribution(check, samples, joint, what):
    """Total variation between the samples' histogram and the exact joint, against the noise
    of that many samples; the message says what was observed."""
    n, num = samples.shape
    if (samples == samples[0]).all():
        raise Failure(f"{what}: all {n} samples are identical "
                      f"({samples[0].astype(int).tolist()}): every sample must get its own "
                      f"random draws, x_i ~ Bernoulli(sigmoid(logit_i))")
    counts = np.bincount(samples.astype(int) @ (1 << np.arange(num)), minlength=len(joint))
    tv = 0.5 * np.abs(counts / n - joint).sum()
    noise = 0.5 * np.sqrt(2 * joint * (1 - joint) / (np.pi * n)).sum()
    if tv > 3 * noise + 0.005:
        bits = (np.arange(len(joint))[:, None] >> np.arange(num)) & 1
        yours, model = samples.mean(0), joint @ bits
        raise Failure(f"{what}: the samples do not follow the model's distribution (total "
                      f"variation {tv:.3f} from the exact joint; sampling noise is about "
                      f"{noise:.3f}). P(x_i = 1) for i = 0..{num - 1}: yours "
                      f"{np.round(yours, 3).tolist()}, the model's {np.round(model, 3).tolist()}")


def check_draws_from_generator(check, submission, what, **where):
    """Two generator seeds must give two different sets of samples. The worker seeds torch's
    global generator the same way for every call, so a sampler that ignores `generator` and
    draws from the global one returns the same samples for both."""
    first, other = (check.tensor(submission.run("sample", kind="logistic", n=64, seed=seed,
                                                **where), what=what, kind="float")
                    for seed in (0, 1))
    check.that(not np.array_equal(first, other),
               f"{what}: generator seeds 0 and 1 gave exactly the same 64 samples: draw every "
               f"random number from `generator` (torch.bernoulli(p, generator=generator)), not "
               f"from torch's global generator")


def check_copy_models(submission, check, what, expected_shape, **where):
    for kind, value in (("copy", 1.0), ("copy0", 0.0)):
        got = submission.run("sample", kind=kind, n=4, seed=0, **where)
        samples = binary(check, got, expected_shape, what)
        first = samples.reshape(4, -1)[0]
        check.that((samples == value).all(),
                   f"{what} with a model where the first variable is {value:g} and every later "
                   f"one copies the variable drawn before it: every sample must be all "
                   f"{value:g}s; got {first.astype(int).tolist()} (sample 0). Draw one "
                   f"variable at a time, in the order given, each from the canvas updated with "
                   f"the variables drawn before it")


def test_sample_autoregressive_known_models(submission, check, rng):
    check_copy_models(submission, check, f"sample_autoregressive(ordering={ORDERING.tolist()})",
                      (4, 6), ordering=ORDERING)
    ordering = np.array([2, 0, 1])
    weights, bias = strong_weights(rng, 3), rng.normal(0, 1, 3)
    got = submission.run("sample", kind="logistic", n=SAMPLES, ordering=ordering,
                         weights=weights, bias=bias, seed=0)
    samples = binary(check, got, (SAMPLES, 3), "sample_autoregressive")
    check_distribution(check, samples, exact_joint(weights, bias, ordering),
                       f"sample_autoregressive with D=3, ordering {ordering.tolist()}")
    check_draws_from_generator(check, submission, "sample_autoregressive with D=3",
                               ordering=ordering, weights=weights, bias=bias)


def test_sample_pixels_known_models(submission, check, rng):
    check_copy_models(submission, check, "sample_pixels(4x5 images)", (4, 1, 4, 5),
                      height=4, width=5)
    weights, bias = strong_weights(rng, 4), rng.normal(0, 1, 4)
    got = submission.run("sample", kind="logistic", n=SAMPLES, height=2, width=2,
                         weights=weights, bias=bias, seed=0)
    images = binary(check, got, (SAMPLES, 1, 2, 2), "sample_pixels")
    check_distribution(check, images.reshape(SAMPLES, 4),
                       exact_joint(weights, bias, np.arange(4)), "sample_pixels on 2x2 images")
    check_draws_from_generator(check, submission, "sample_pixels on 2x2 images", height=2,
                               width=2, weights=weights, bias=bias)
