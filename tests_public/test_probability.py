"""Part 1 (public): KL divergence, Bernoulli log-probabilities, NLL, bits per dimension."""
import numpy as np

LN2 = np.log(2.0)


def test_kl_divergence(submission, expected, check):
    p = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [0.25, 0.25, 0.5]])
    q = np.array([[0.25, 0.25, 0.5], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]])
    got = submission.call("probability.kl_divergence", p, q)
    want = expected.call("probability.kl_divergence", p, q)
    check.close(got, want, what="kl_divergence(p, q) (rows: 0 log 0 = 0; ordinary; q = 0 < p "
                                "gives +inf)")


def test_bernoulli_log_prob(submission, expected, check):
    logits = np.array([[-50.0, -2.0, 0.0, 1.5, 50.0], [3.0, -0.5, 0.25, -50.0, 50.0]])
    x = np.array([[1.0, 0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0, 1.0]])
    got = submission.call("probability.bernoulli_log_prob", logits, x)
    want = expected.call("probability.bernoulli_log_prob", logits, x)
    check.close(got, want, what="bernoulli_log_prob with logits up to +-50 (must stay finite)")


def test_nll_is_per_example_sum(submission, expected, check, rng):
    logits = rng.normal(scale=2.0, size=(4, 10))
    x = (rng.random((4, 10)) < 0.5).astype(np.float64)
    got = submission.call("probability.nll", logits, x)
    want = expected.call("probability.nll", logits, x)
    check.close(got, want, what="nll(logits, x) in nats per example, shape (B,)",
                hints={"the mean over dimensions instead of the sum": want.array / 10,
                       "log p instead of -log p": -want.array})
    # Images are (B, 1, H, W): a sum over one dimension leaves (B, 1, H) or (B, 1, W) behind.
    images = rng.normal(scale=2.0, size=(3, 1, 4, 5))
    pixels = (rng.random((3, 1, 4, 5)) < 0.5).astype(np.float64)
    got = submission.call("probability.nll", images, pixels)
    want = expected.call("probability.nll", images, pixels)
    check.close(got, want, what="nll(logits, x) on a (3, 1, 4, 5) image batch: nats per "
                                "example, shape (B,) = (3,), summed over every dimension but "
                                "the first",
                hints={"the mean over dimensions instead of the sum": want.array / 20})


def test_bits_per_dim(submission, expected, check):
    nats = np.array([88.4, 543.4, 81.3])
    got = submission.call("probability.bits_per_dim", nats, 784)
    want = expected.call("probability.bits_per_dim", nats, 784)
    check.close(got, want, what="bits_per_dim(nats, 784)",
                hints={"log10 instead of log2": nats / (784 * np.log(10)),
                       "nats per dimension (missing / ln 2)": nats / 784,
                       "bits per example (missing / D)": nats / LN2})
    scalar = submission.call("probability.bits_per_dim", 88.4, 784)
    check.that(type(scalar) is float and abs(scalar - 88.4 / (784 * LN2)) < 1e-9,
               f"bits_per_dim(88.4, 784) must return a Python float (the type of its input), "
               f"got {type(scalar).__name__} {scalar!r}")
