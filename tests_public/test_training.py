"""Part 5 (public): evaluate, and a short training run of MADE and PixelCNN.

Training tests use models built from known-good masks and a known-good NLL, so they test
`train` and `evaluate` alone, whatever the state of parts 1-3.
"""
import numpy as np

from grader.trusted.mnist import load_bits
from grader.wire import Tensor


def made_masks(expected, hidden):
    return expected.call("made.made_masks", expected.call("made.made_degrees",
                                                          np.arange(784), hidden))


def pixelcnn_masks(expected, layers):
    return [expected.call("pixelcnn.causal_conv_mask", 7, "A")] + \
           [expected.call("pixelcnn.causal_conv_mask", 3, "B")] * layers


def test_evaluate_mean_nll(submission, expected, check):
    kwargs = dict(model="made", masks=made_masks(expected, [16]), data=load_bits("valid", 300),
                  batch_size=64, seed=0)
    got = submission.run("evaluate", **kwargs)
    want = expected.run("evaluate", **kwargs)
    check.that(type(got) is float, f"evaluate must return a Python float, got {type(got).__name__}")
    check.that(abs(got - want) < 1e-3 * abs(want),
               f"evaluate on 300 examples, batch_size 64: got {got:.4f}, expected {want:.4f} "
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


def checked_losses(check, result, steps: int) -> list:
    losses = result.get("losses")
    check.that(isinstance(losses, list) and len(losses) == steps,
               f"train(steps={steps}) must return a list of {steps} losses, got "
               f"{type(losses).__name__} of length {len(losses) if isinstance(losses, list) else '?'}")
    check.that(all(isinstance(v, float) and np.isfinite(v) for v in losses),
               "train must return finite Python floats (loss.item())")
    return losses


def _smoke(submission, measure, check, model, masks, steps, **extra):
    init = measure.run("initial_parameters", model=model, masks=masks, seed=0, **extra)
    result = submission.run("train", model=model, masks=masks, data=load_bits("train", 512),
                            init=init, steps=steps, batch_size=32, lr=3e-3, generator_seed=0,
                            **extra)
    parameters = trained_parameters(check, result, init)
    losses = checked_losses(check, result, steps)
    check.that(any(not np.array_equal(parameters[n].array, init[n].array) for n in init),
               "train did not change the model's parameters: call optimizer.step() after "
               "loss.backward()")
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    check.that(last < 0.9 * first, f"the training loss did not go down over {steps} steps "
               f"(first {first:.1f}, last {last:.1f} nats)")


def test_train_made_short_run(submission, expected, measure, check):
    _smoke(submission, measure, check, "made", made_masks(expected, [64]), steps=40)


def test_train_pixelcnn_short_run(submission, expected, measure, check):
    _smoke(submission, measure, check, "pixelcnn", pixelcnn_masks(expected, 1), steps=15,
           channels=8)
