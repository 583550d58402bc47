"""Part 6 (hidden, extra credit): other sizes, large scores, train mode and after an
optimizer step, and normalisation."""
import numpy as np

from grader.trusted.sequence import check_normalised, check_transformer, transformer_state
from tests_public.test_attention import check_attention


def test_causal_attention_mask_sizes(submission, expected, check, rng):
    for length in (1, int(rng.integers(2, 9)), int(rng.integers(9, 40))):
        got = submission.call("attention.causal_attention_mask", length)
        want = expected.call("attention.causal_attention_mask", length)
        check.tensor(got, what=f"causal_attention_mask({length})", shape=(length, length),
                     kind="bool")
        check.equal(got, want, what=f"causal_attention_mask({length})")


def test_self_attention_random_sizes(submission, expected, check, rng):
    for heads, head_dim in ((int(rng.integers(2, 5)), int(rng.integers(2, 6))), (1, 4)):
        check_attention(submission, expected, check, rng, batch=int(rng.integers(2, 5)),
                        length=int(rng.integers(3, 9)), dim=heads * head_dim, heads=heads)


def test_self_attention_large_scores(submission, expected, check, rng):
    heads = int(rng.integers(2, 5))
    check_attention(submission, expected, check, rng, batch=int(rng.integers(2, 5)),
                    length=int(rng.integers(3, 9)), dim=heads * int(rng.integers(2, 5)),
                    heads=heads, large=True)


def _arch(rng):
    heads = int(rng.integers(2, 4))
    return {"num_inputs": int(rng.integers(5, 10)), "dim": heads * int(rng.integers(2, 5)),
            "num_heads": heads, "num_layers": int(rng.integers(1, 3)), "mlp_ratio": 2}


def test_transformer_train_mode_and_after_step(submission, expected, check, rng):
    arch = _arch(rng)
    for mode, step in (("train", False), ("train", True), ("eval", True)):
        check_transformer(submission, expected, check, arch, rng, mode=mode, step=step,
                          large=True,
                          context=f"PixelTransformer({arch}), {mode} mode"
                                  + (", after an optimizer step" if step else "")
                                  + ", large attention scores in the first block")


def test_transformer_sums_to_one(submission, expected, check, rng):
    arch = _arch(rng)
    check_normalised(submission, expected, check, arch, rng,
                     context=f"PixelTransformer({arch})")


# The given signature's defaults: PixelTransformer(D) is the network the problem set documents.
DEFAULT_ARCH = {"dim": 64, "num_heads": 4, "num_layers": 2, "mlp_ratio": 4}


def test_transformer_default_architecture(submission, expected, check, rng):
    """PixelTransformer(num_inputs) keeps the given code: weights of the default shapes load,
    its logits with them are the reference's (the number of heads shows only there), on a
    (B, D) batch, on the same batch as (B, 1, H, W) images (forward flattens any
    (B, ...) input) and on a batch of one (logits (1, D)). The given code is not the
    student's to retune."""
    height, width = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    arch = {"num_inputs": height * width}
    state = transformer_state(dict(arch, **DEFAULT_ARCH), rng)
    x = (rng.random((3, height * width)) < 0.5).astype(np.float64)
    queries = [x, x.reshape(3, 1, height, width), x[:1]]  # a batch of one stays (1, D)
    kwargs = dict(model="transformer", arch=arch, state=state, queries=queries)
    got = submission.run("model_outputs", **kwargs)
    context = f"PixelTransformer({arch['num_inputs']}) with the given defaults {DEFAULT_ARCH}"
    check.that(type(got) is dict and type(got.get("outputs")) is list
               and len(got["outputs"]) == 3, f"{context}: its outputs could not be read")
    want = expected.run("model_outputs", **kwargs)["outputs"]
    batches = ("a (B, D) batch", f"(B, 1, {height}, {width}) images", "a batch of one (1, D)")
    for batch, mine, reference in zip(batches, got["outputs"], want):
        check.close(mine, reference, atol=1e-8, rtol=1e-6,
                    what=f"{context}: logits with known weights loaded, on {batch} (keep the "
                         f"given code: its defaults, and forward's flattening of the input)")
