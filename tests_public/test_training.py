"""Part 5 (public): evaluate, and a short training run of MADE and PixelCNN.

Training tests use models built from known-good masks and a known-good NLL, so they test
`train` and `evaluate` alone, whatever the state of parts 1-3.
"""
import numpy as np

from grader.trusted import recordings
from grader.trusted.mnist import load_bits
from grader.wire import Tensor


def made_masks(expected, hidden):
    return expected.call("made.made_masks", expected.call("made.made_degrees",
                                                          np.arange(784), hidden))


def pixelcnn_masks(expected, layers):
    return [expected.call("pixelcnn.causal_conv_mask", 7, "A")] + \
           [expected.call("pixelcnn.causal_conv_mask", 3, "B")] * layers


def check_evaluate_modes(check, result, what):
    """The model is handed over in train mode: evaluate runs it in eval mode and puts it back
    in train mode (the mode the caller left it in)."""
    calls = recordings.calls_of(result, what)
    check.that(not any(c.get("training") is not False for c in calls),
               f"{what}: the model ran in train mode (dropout, batch statistics): call "
               f"model.eval() before the forward passes")
    check.that(result.get("training_after") is True,
               f"{what}: the model was handed over in train mode and evaluate left it in eval "
               f"mode: put it back in the caller's mode (model.train(was_training))")


def test_evaluate_mean_nll(submission, expected, check, rng):
    kwargs = dict(model="made", masks=made_masks(expected, [16]), data=load_bits("valid", 300),
                  batch_size=64, seed=0)
    what = "evaluate on 300 examples, batch_size 64"
    result = submission.run("evaluate", projection=recordings.projection(rng), **kwargs)
    check.that(type(result) is dict, f"{what}: the result could not be read")
    check_evaluate_modes(check, result, what)
    got = result.get("value")
    want = expected.run("evaluate", **kwargs)
    check.that(type(got) is float, f"evaluate must return a Python float, got {type(got).__name__}")
    check.that(abs(got - want) < 1e-3 * abs(want),
               f"{what}: got {got:.4f}, expected {want:.4f} "
               f"nats per example (mean over all examples, in eval mode)")


def trained_parameters(check, result, init) -> dict:
    """The parameters `train` left in the known model, checked against the initial ones
    (names, shapes, finite values) before the trusted measurement worker loads them."""
    check.that(type(result) is dict and type(result.get("parameters")) is dict,
               "the trained model's parameters could not be read")
    parameters = result["parameters"]
    for name, start in init.items():
        value = parameters.get(name)
        check.that(isinstance(value, Tensor) and value.shape == start.shape,
                   f"after train, the model's parameter `{name}` is missing or changed shape: "
                   f"train must update the given model's parameters in place")
        check.that(np.all(np.isfinite(value.array)),
                   f"after train, the model's parameter `{name}` holds nan or inf")
    return {name: parameters[name] for name in init}


def heldout_nll(measure, model, masks, parameters, data, channels=None) -> float:
    """Mean held-out NLL of `parameters`, measured by the trusted worker (no student code)."""
    nll = measure.run("nll", model=model, masks=masks, parameters=parameters, data=data,
                      channels=channels)
    return float(np.mean(nll.array))


def _smoke(submission, expected, measure, check, rng, model, masks, steps, margin=None,
           **extra):
    what = f"train on a {model.upper()} ({steps} steps, batch_size 32)"
    data = load_bits("train", 512)
    proj = recordings.projection(rng)
    init = measure.run("initial_parameters", model=model, masks=masks, seed=0, **extra)
    kwargs = dict(model=model, masks=masks, data=data, init=init, steps=steps, batch_size=32,
                  lr=3e-3, generator_seed=0, **extra)
    result = submission.run("train", projection=proj, **kwargs)
    parameters = trained_parameters(check, result, init)
    losses = recordings.check_losses(check, result, steps, 784, what)
    calls = recordings.check_training_passes(check, recordings.calls_of(result, what), steps,
                                             32, what)
    recordings.check_callbacks(check, result, losses, what)
    batches = [recordings.indices(c["keys"], recordings.keys_of(data, proj), what)
               for c in calls]
    recordings.check_shuffled_passes(check, batches, len(data), what)
    replay = measure.run("replay_train", model=model, masks=masks, init=init, data=data,
                         batches=batches, lr=3e-3, channels=extra.get("channels"))
    recordings.check_replay(check, replay, parameters, losses, what)
    check.that(any(not np.array_equal(parameters[n].array, init[n].array) for n in init),
               f"{what}: the model's parameters are exactly as they started: nothing updated "
               f"them (optimizer.step() after loss.backward())")
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    check.that(last < 0.9 * first, f"{what}: the training loss did not go down (mean of the "
               f"first 5 steps {first:.1f}, of the last 5 {last:.1f} nats per example)")
    if margin is not None:
        held = load_bits("valid", 256)
        want = expected.derived("heldout_nll", kwargs, lambda: heldout_nll(
            measure, model, masks, expected.run("train", **kwargs)["parameters"], held,
            extra.get("channels")))
        nll = heldout_nll(measure, model, masks, parameters, held, extra.get("channels"))
        check.that(nll <= want * (1 + margin),
                   f"{what}: the held-out NLL after training is {nll:.1f} nats; the reference "
                   f"reaches {want:.1f} from the same start (at most {want * (1 + margin):.1f} "
                   f"passes)")


def test_train_made_short_run(submission, expected, measure, check, rng):
    _smoke(submission, expected, measure, check, rng, "made", made_masks(expected, [64]),
           steps=40, margin=0.05)


def test_train_pixelcnn_short_run(submission, expected, measure, check, rng):
    _smoke(submission, expected, measure, check, rng, "pixelcnn", pixelcnn_masks(expected, 1),
           steps=15, channels=8)
