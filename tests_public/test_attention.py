"""Part 6 (public, extra credit): the causal attention mask, CausalSelfAttention and the
pixel transformer as a whole. attention.py is optional: without it these tests say so."""
import numpy as np

from grader.trusted.sequence import check_transformer, large_scores

# Part 6b is graded with a known-good causal_attention_mask in place of yours, so that it
# does not depend on part 6a.
KNOWN_MASK = {"attention.causal_attention_mask": "causal_attention_mask"}


def attention_state(rng, dim: int) -> dict:
    return {"qkv.weight": rng.normal(size=(3 * dim, dim)) / np.sqrt(dim),
            "qkv.bias": 0.1 * rng.normal(size=3 * dim),
            "proj.weight": rng.normal(size=(dim, dim)) / np.sqrt(dim),
            "proj.bias": 0.1 * rng.normal(size=dim)}


def check_attention(submission, expected, check, rng, *, batch, length, dim, heads,
                    large=False):
    """CausalSelfAttention(dim, heads) with known weights (large scores: see
    grader/trusted/sequence.py) on a (batch, length, dim) input, against the reference's."""
    x = rng.normal(size=(batch, length, dim))
    state = attention_state(rng, dim)
    if large:
        state = large_scores(state, "", x[:, 0], heads)
    kwargs = dict(target="attention.CausalSelfAttention", init_args=[dim, heads], state=state,
                  x=x, known=KNOWN_MASK)
    got = submission.run("layer_forward", **kwargs)
    want = expected.run("layer_forward", **kwargs)
    scores = " with scores of about 3e4 (a finite mask such as -1e4 leaks)" if large else ""
    check.close(got["first"], want["first"], atol=1e-8, rtol=1e-6,
                what=f"CausalSelfAttention({dim}, {heads}) on a ({batch}, {length}, {dim}) "
                     f"input{scores}")


def test_causal_attention_mask(submission, expected, check):
    got = submission.call("attention.causal_attention_mask", 4)
    want = expected.call("attention.causal_attention_mask", 4)
    check.tensor(got, what="causal_attention_mask(4)", shape=(4, 4), kind="bool")
    check.equal(got, want, what="causal_attention_mask(4) (True where key j <= query i)")


def test_self_attention_known_weights(submission, expected, check, rng):
    for large in (False, True):
        check_attention(submission, expected, check, rng, batch=2, length=5, dim=8, heads=2,
                        large=large)


def test_transformer_is_autoregressive(submission, expected, check, rng):
    arch = {"num_inputs": 7, "dim": 8, "num_heads": 2, "num_layers": 2, "mlp_ratio": 2}
    check_transformer(submission, expected, check, arch, rng,
                      context="PixelTransformer(7 inputs, dim 8, 2 heads, 2 blocks), eval mode")
