"""Part 1 (hidden): randomised inputs from the per-submission seed, edge cases."""
import numpy as np


def _simplex(rng, shape, zero_fraction):
    w = rng.random(shape) * (rng.random(shape) >= zero_fraction)
    w[..., 0] += 1e-3  # no all-zero rows
    return w / w.sum(-1, keepdims=True)


def test_kl_divergence_random(submission, expected, check, rng):
    p = _simplex(rng, (3, 4, 6), 0.3)
    q = _simplex(rng, (3, 4, 6), 0.2)
    for dtype in (np.float32, np.float64):
        got = submission.call("probability.kl_divergence", p.astype(dtype), q.astype(dtype))
        want = expected.call("probability.kl_divergence", p.astype(dtype), q.astype(dtype))
        check.close(got, want, what=f"kl_divergence on random {dtype.__name__} "
                                    f"distributions of shape (3, 4, 6) with zeros",
                    atol=1e-5, rtol=1e-4)


def test_bernoulli_log_prob_extreme_logits(submission, expected, check, rng):
    logits = rng.normal(scale=200.0, size=(5, 7)).astype(np.float32)
    x = (rng.random((5, 7)) < 0.5).astype(np.float32)
    got = submission.call("probability.bernoulli_log_prob", logits, x)
    want = expected.call("probability.bernoulli_log_prob", logits, x)
    check.close(got, want, what="bernoulli_log_prob with |logits| in the hundreds (float32)",
                atol=1e-4, rtol=1e-5)


def test_nll_image_batches(submission, expected, check, rng):
    batch, height, width = int(rng.integers(2, 6)), int(rng.integers(3, 8)), int(rng.integers(3, 8))
    logits = rng.normal(scale=3.0, size=(batch, 1, height, width))
    x = (rng.random(logits.shape) < 0.4).astype(np.float64)
    got = submission.call("probability.nll", logits, x)
    want = expected.call("probability.nll", logits, x)
    check.close(got, want, what="nll on (B, 1, H, W) images: one value per image",
                hints={"the mean over pixels instead of the sum": want.array / (height * width)})
    # Real callers pass float32 model outputs, some of them extreme.
    extreme = (logits * 60).astype(np.float32)
    got = submission.call("probability.nll", extreme, x.astype(np.float32))
    want = expected.call("probability.nll", extreme, x.astype(np.float32))
    check.close(got, want, what="nll on float32 images with |logits| in the hundreds "
                                "(numerically stable, like bernoulli_log_prob)", rtol=1e-5)


def test_bits_per_dim_random(submission, expected, check, rng):
    dims = int(rng.integers(10, 999))
    dims += dims >= 784  # never MNIST's D: code that ignores num_dims must fail on every seed
    nats = rng.uniform(1.0, 600.0, size=int(rng.integers(1, 5)))
    got = submission.call("probability.bits_per_dim", nats, dims)
    want = expected.call("probability.bits_per_dim", nats, dims)
    check.close(got, want, what=f"bits_per_dim(nats, {dims}) on random NLLs")
