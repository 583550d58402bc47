"""Part 6 (extra credit): properties of the student's causal self-attention and transformer,
computed by the judge from raw outputs (numpy only).

With known weights loaded, a correct implementation's outputs are unique, so the score comes
from comparing the student's outputs with the reference's on the same judge-chosen inputs (a
forged value passes only if it is what a correct implementation returns). The dependence of
each output on each input, read from black-box perturbations of those same outputs (masked
attention weights are exact zeros, so unchanged means unchanged bit for bit), only explains a
failure: output i must not change when any x_j with j >= i is flipped, and must change when
x_{i-1} is.

Large scores: a mask of -1e4 instead of -inf gives exactly zero weight while the scores are
small (exp(-1e4) underflows), and leaks once the scores are that large too. So some tests
load query and key weights with k = -q (each query's score against its own key is -|q|^2 /
sqrt(head_dim) < 0), scaled so that query 0, which may attend only to key 0, scores SCORE
there in every head and example: a finite mask then outweighs the one allowed key.
"""
import numpy as np

from grader.trusted import skeleton
from grader.trusted.checks import Failure
from grader.trusted.properties import all_binary, log_total_probability, read_outputs

SCORE = -3e4      # query 0's score against key 0 in the large-score tests
BATCH = 3


# ----------------------------------------------------------------------------- weights

def large_scores(state: dict, prefix: str, inputs0: np.ndarray, heads: int) -> dict:
    """`state` with `prefix`qkv's key weights and bias set to minus the query's, and both
    scaled so that the score of query 0 against key 0 is SCORE in every head and example.
    inputs0: (B, dim) what qkv sees at position 0."""
    weight, bias = state[f"{prefix}qkv.weight"].copy(), state[f"{prefix}qkv.bias"].copy()
    dim = weight.shape[1]
    head_dim = dim // heads
    q = inputs0 @ weight[:dim].T + bias[:dim]  # (B, dim), before scaling
    per_head = (q.reshape(len(q), heads, head_dim) ** 2).sum(-1) / np.sqrt(head_dim)
    scale = np.sqrt(-SCORE / max(per_head.min(), 1e-12))
    weight[:dim] *= scale
    bias[:dim] *= scale
    weight[dim:2 * dim], bias[dim:2 * dim] = -weight[:dim], -bias[:dim]
    return {**state, f"{prefix}qkv.weight": weight, f"{prefix}qkv.bias": bias}


def layer_norm(v: np.ndarray, gain: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """torch.nn.LayerNorm over the last dimension (eps 1e-5)."""
    centred = v - v.mean(-1, keepdims=True)
    return centred / np.sqrt((centred ** 2).mean(-1, keepdims=True) + 1e-5) * gain + shift


def transformer_state(arch: dict, rng, *, large: bool = False) -> dict:
    """Known weights for PixelTransformer(arch); `large`: the first block's attention gets
    large scores (what its qkv sees at position 0 is the start token plus position 0)."""
    state = skeleton.random_state("transformer", arch, rng)
    if not large:
        return state
    start = state["token.weight"][2] + state["position.weight"][0]
    seen = layer_norm(start, state["blocks.0.norm1.weight"], state["blocks.0.norm1.bias"])
    return large_scores(state, "blocks.0.attn.", seen[None, :], arch["num_heads"])


# ----------------------------------------------------------------------------- dependence

def flip_queries(base: np.ndarray) -> list:
    """The batch, then one copy per position j with x_j flipped (0 <-> 1) in every row."""
    queries = [base]
    for j in range(base.shape[1]):
        flipped = base.copy()
        flipped[:, j] = 1.0 - flipped[:, j]
        queries.append(flipped)
    return queries


def dependence(outputs) -> np.ndarray:
    """dep[i, j]: output i changed (in some row) when x_j was flipped."""
    base = outputs[0]
    return np.stack([np.any(out != base, axis=0) for out in outputs[1:]], axis=1)


def check_causal(dep: np.ndarray, *, context: str) -> None:
    """Output i sees exactly the inputs before it: never x_j for j >= i, always x_{i-1}."""
    for i in range(dep.shape[0]):
        later = np.flatnonzero(dep[i, i:]) + i
        if later.size:
            j = int(later[0])
            which = "itself" if j == i else f"x{j}, which comes after it"
            raise Failure(f"{context}: output {i} (the logit of x{i}) changed when x{j} was "
                          f"flipped: it sees {which}. Query i may attend only to keys j <= i "
                          f"(the mask is applied to the scores, before the softmax), and the "
                          f"input must be shifted right by one with a start token.")
        if i > 0 and not dep[i, i - 1]:
            raise Failure(f"{context}: output {i} did not change when x{i - 1}, the input "
                          f"just before it, was flipped: query i must attend to key i (the "
                          f"diagonal of the mask is True).")


# ----------------------------------------------------------------------------- observing

def outputs_of(got, queries, *, context: str) -> list:
    """The model's outputs from a model_outputs reply, as float64 arrays of the queries'
    shape, or a Failure that says what came back."""
    outputs = read_outputs(got, queries, context=context, per="position")
    if not all(np.all(np.isfinite(out)) for out in outputs):
        raise Failure(f"{context}: the model returned nan or inf (a query whose every key is "
                      f"masked gives a softmax of nan: query i must attend to key i)")
    return outputs


def check_transformer(submission, expected, check, arch: dict, rng, *, context: str,
                      mode: str = "eval", step: bool = False, large: bool = False,
                      queries=None, judge=None) -> None:
    """PixelTransformer(arch) with known weights: its outputs on a batch and on each of its
    one-input flips (or on `queries`), in `mode`, after one SGD step when `step`, are the
    reference's. `judge(outputs)` checks a property of the outputs first (a clearer message
    than "wrong values")."""
    state = transformer_state(arch, rng, large=large)
    flips = queries is None
    if flips:
        queries = flip_queries((rng.random((BATCH, arch["num_inputs"])) < 0.5).astype(float))
    step_data = ((rng.random((8, arch["num_inputs"])) < 0.5).astype(np.float64)
                 if step else None)
    kwargs = dict(model="transformer", arch=arch, state=state, queries=queries, mode=mode,
                  step_data=step_data)
    got = submission.run("model_outputs", **kwargs)
    outputs = outputs_of(got, queries, context=context)
    if flips:
        check_causal(dependence(outputs), context=context)
    if judge is not None:
        judge(outputs)
    want = expected.run("model_outputs", **kwargs)["outputs"]
    for k, (mine, reference) in enumerate(zip(got["outputs"], want)):
        which = f"the batch with x{k - 1} flipped" if flips and k else "the batch"
        check.close(mine, reference, atol=1e-8, rtol=1e-6,
                    what=f"{context}: logits with known weights loaded, on {which}")


def check_normalised(submission, expected, check, arch: dict, rng, *, context: str) -> None:
    """sum over all 2^D binary x of p(x) is 1 (computed here from the logits), and those
    logits are the reference's."""
    x = all_binary(arch["num_inputs"])

    def sums_to_one(outputs):
        total = np.exp(log_total_probability(outputs[0], x))
        check.that(abs(total - 1.0) < 1e-9,
                   f"{context}: sum of p(x) over all 2^{arch['num_inputs']} binary x is "
                   f"{total:.6f}, not 1: the model is not a normalised autoregressive model")

    check_transformer(submission, expected, check, arch, rng, context=context, queries=[x],
                      judge=sums_to_one)
