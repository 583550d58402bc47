"""Part 2 (hidden): random orderings, multi-layer and non-square MADEs, train/eval, after an
optimizer step, connectivity, normalisation, known weights."""
import numpy as np

from grader.trusted.properties import check_made_model, check_made_normalised
from tests_public.test_made import check_degrees


def _random_arch(rng, num_inputs, layers, low, high):
    hidden = [int(h) for h in rng.integers(low, high, size=layers)]
    return {"num_inputs": num_inputs, "hidden_sizes": hidden,
            "ordering": rng.permutation(num_inputs)}


def test_degrees_random_orderings(submission, check, rng):
    """Random orderings and widths, and the edges of the range: D = 2 (every hidden degree
    is 1) and a one-unit layer."""
    archs = [_random_arch(rng, int(rng.integers(5, 12)), 2, low, high)
             for low, high in ((150, 200), (2, 4), (9, 30))]
    archs += [{"num_inputs": 2, "hidden_sizes": [int(rng.integers(2, 6)), 1],
               "ordering": rng.permutation(2)},
              {"num_inputs": (d := int(rng.integers(3, 8))),
               "hidden_sizes": [1, int(rng.integers(2, 5))], "ordering": rng.permutation(d)}]
    for arch in archs:
        got = submission.call("made.made_degrees", arch["ordering"], arch["hidden_sizes"])
        check_degrees(check, got, arch["ordering"], arch["hidden_sizes"],
                      f"made_degrees(random ordering of {arch['num_inputs']}, "
                      f"{arch['hidden_sizes']})")


def test_degrees_with_generator(submission, check, rng):
    """The paper's random degrees: drawn from `generator` (the same seed, the same degrees;
    another seed, others), uniformly over [min degree of the layer below, D-1]. The middle
    layer of one unit makes the last layer's lower bound vary from seed to seed."""
    num_inputs = int(rng.integers(6, 12))
    ordering, top, hidden = rng.permutation(num_inputs), num_inputs - 1, [600, 1, 600]
    seeds = [int(s) for s in rng.choice(2**31, size=10, replace=False)]
    context = f"made_degrees(random ordering of {num_inputs}, {hidden}, generator)"
    runs = []
    for seed, draws in [*((s, 0) for s in seeds), (seeds[0], 0), (seeds[0], 1)]:
        got = submission.call("made.made_degrees", ordering, hidden, generator_seed=seed,
                              generator_draws=draws)
        check.that(isinstance(got, list) and len(got) == 4,
                   f"{context} must return [input degrees, one tensor per hidden layer]")
        check.equal(got[0], np.argsort(ordering) + 1, kind="int",
                    what=f"{context}: input degrees (they never depend on the generator)")
        runs.append([check.tensor(got[i + 1], what=f"{context}: hidden layer {i + 1} degrees",
                                  shape=(size,), kind="int") for i, size in enumerate(hidden)])
    later = runs.pop()  # seeds[0] after one earlier draw
    check.that(all(np.array_equal(a, b) for a, b in zip(runs[0], runs[-1])),
               f"{context}: the same generator seed gave different degrees: draw them with "
               f"`generator` (torch.randint(..., generator=generator))")
    check.that(not np.array_equal(runs[0][0], later[0]),
               f"{context}: a generator seeded {seeds[0]} that had already made a draw gave "
               f"the degrees of a freshly seeded one: draw from the generator as it is given "
               f"(never re-seed or re-create it)")
    check.that(len({tuple(run[0]) for run in runs[:-1]}) > 1,
               f"{context}: ten different generator seeds gave the same degrees: draw them "
               f"with `generator`")
    for first, middle, last in runs[:-1]:
        for layer, degrees, low in ((1, first, 1), (3, last, int(middle[0]))):
            values = set(degrees.tolist())
            check.that(int(middle[0]) >= int(first.min()) and values <= set(range(low, top + 1)),
                       f"{context}: hidden layer {layer} degrees {sorted(values)} must lie in "
                       f"[{low}, {top}] (from the min degree of the layer below to D-1; the "
                       f"layer below's min is {int(first.min()) if layer == 3 else 1})")
            counts = np.bincount(degrees - low, minlength=top - low + 1)
            expected = len(degrees) / len(counts)
            chi2 = float(((counts - expected) ** 2 / expected).sum())
            check.that(values == set(range(low, top + 1)) and chi2 < 3 * len(counts) + 30,
                       f"{context}: 600 degrees drawn uniformly from [{low}, {top}] should take "
                       f"every value about equally often; counts {counts.tolist()}")


def test_masks_random_degrees(submission, expected, check, rng):
    num_inputs = int(rng.integers(4, 9))
    degrees = [rng.permutation(num_inputs) + 1]
    degrees += [rng.integers(1, num_inputs, size=int(rng.integers(3, 12))) for _ in range(2)]
    got = submission.call("made.made_masks", degrees)
    want = expected.call("made.made_masks", degrees)
    check.that(isinstance(got, list) and len(got) == 3,
               "made_masks must return one mask per weight matrix (2 hidden layers -> 3)")
    for layer, name in enumerate(["first hidden", "second hidden", "output"]):
        check.equal(got[layer], want[layer], what=f"{name} mask for random degrees "
                                                  f"(shape (out, in))")


def test_masked_linear_every_call(submission, expected, check, rng):
    mask, new_mask = ((rng.random((2, 5, 7)) < 0.5)).astype(np.float32)
    kwargs = dict(target="made.MaskedLinear", init_args=[7, 5, mask],
                  state={"weight": rng.normal(size=(5, 7)).astype(np.float32),
                         "bias": rng.normal(size=5).astype(np.float32)},
                  x=rng.normal(size=(4, 7)).astype(np.float32), new_mask=new_mask)
    for mode in ("train", "eval"):  # the layer's forward sees both modes in a model
        got = submission.run("layer_forward", mode=mode, **kwargs)
        want = expected.run("layer_forward", mode=mode, **kwargs)
        check.close(got["first"], want["first"], atol=1e-5,
                    what=f"MaskedLinear (7 -> 5) output in {mode} mode")
        check.close(got["second"], want["second"], atol=1e-5,
                    what=f"MaskedLinear output in {mode} mode after its mask buffer changed "
                         f"(apply the mask on every call, not once)")


def test_made_autoregressive_random_orderings(submission, check, rng):
    for layers, (low, high) in [(1, (4, 12)), (2, (5, 20)), (3, (3, 9))]:
        arch = _random_arch(rng, int(rng.integers(4, 10)), layers, low, high)
        for mode in ("train", "eval"):
            for step in (False, True):
                check_made_model(submission, arch, rng, mode=mode, step=step,
                                 context=f"MADE({arch['num_inputs']}, {arch['hidden_sizes']}) "
                                         f"with a random ordering, {mode} mode"
                                         + (", after an optimizer step" if step else ""))


def test_made_connectivity(submission, check, rng):
    for layers in (1, 2):
        arch = _random_arch(rng, int(rng.integers(4, 8)), layers, 200, 260)
        check_made_model(submission, arch, rng,
                         context=f"MADE({arch['num_inputs']}, {arch['hidden_sizes']}), random "
                                 f"ordering")


def test_made_sums_to_one(submission, check, rng):
    arch = _random_arch(rng, int(rng.integers(6, 11)), 2, 8, 24)
    for sharpen in (1.0, 4.0):
        check_made_normalised(submission, check, arch, rng, scale=sharpen,
                              context=f"MADE({arch['num_inputs']}, {arch['hidden_sizes']}), "
                                      f"weights x{sharpen}")


def test_made_known_weights_likelihood(submission, expected, check, rng):
    arch = _random_arch(rng, 7, 2, 5, 12)
    sizes = [7, *arch["hidden_sizes"], 7]
    masks = expected.call("made.made_masks", expected.call(
        "made.made_degrees", arch["ordering"], arch["hidden_sizes"]))
    state = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        state[f"layers.{i}.weight"] = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
        state[f"layers.{i}.bias"] = rng.normal(size=n_out) * 0.1
        state[f"layers.{i}.mask"] = masks[i].array
    x = (rng.random((6, 7)) < 0.5).astype(np.float64)
    kwargs = dict(model="made", arch=arch, state=state, queries=[x])
    got = submission.run("model_outputs", **kwargs)
    want = expected.run("model_outputs", **kwargs)
    check.that(type(got) is dict and type(got.get("outputs")) is list and len(got["outputs"]) == 1,
               "MADE's outputs could not be read")
    check.close(got["outputs"][0], want["outputs"][0], atol=1e-10, rtol=1e-9,
                what="MADE logits with known weights and masks loaded")


def test_made_generator_reaches_its_degrees(submission, check, rng):
    """MADE(..., generator) passes the generator to made_degrees: its masks are those of
    made_masks(made_degrees(ordering, hidden, generator)) for the same seed, the submission's
    own functions (a wrong made_degrees costs 2a, not this). Layers of 30+ units: masks of
    deterministic degrees cannot match random ones by accident."""
    arch = _random_arch(rng, int(rng.integers(5, 10)), 2, 30, 60)
    seed = int(rng.integers(2**31))
    context = f"MADE({arch['num_inputs']}, {arch['hidden_sizes']}, ordering, generator)"
    degrees = submission.call("made.made_degrees", arch["ordering"], arch["hidden_sizes"],
                              generator_seed=seed)
    masks = submission.call("made.made_masks", degrees)
    got = submission.run("model_outputs", model="made", arch=dict(arch, generator_seed=seed),
                         queries=[])
    check.that(isinstance(masks, list) and len(masks) == 3 and type(got) is dict
               and type(got.get("layers")) is dict, f"{context}: its masks could not be read")
    for i, name in enumerate(("first hidden", "second hidden", "output")):
        want = check.tensor(masks[i], what=f"made_masks(made_degrees(..., generator)) {name}")
        check.equal(got["layers"].get(f"layers.{i}.mask"), want.astype(np.float64),
                    kind="float", what=f"{context}: {name} layer's mask (pass `generator` to "
                                       f"made_degrees; the same seed, the same degrees)")
