"""Part 5 (public): evaluate, and a short training run of MADE and PixelCNN.

Training tests use models built from known-good masks and a known-good NLL, so they test
`train` and `evaluate` alone, whatever the state of parts 1-3.
"""
import numpy as np

from grader.mnist import load_bits


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


def _smoke(submission, check, model, masks, steps, **extra):
    result = submission.run("train_timed", model=model, masks=masks,
                            train=load_bits("train", 512), heldout=load_bits("valid", 64),
                            steps=steps, batch_size=32, lr=3e-3, seed=0, **extra)
    losses = result["losses"]
    check.that(isinstance(losses, list) and len(losses) == steps,
               f"train(steps={steps}) must return a list of {steps} losses, got "
               f"{type(losses).__name__} of length {len(losses) if isinstance(losses, list) else '?'}")
    check.that(all(isinstance(v, float) and np.isfinite(v) for v in losses),
               "train must return finite Python floats (loss.item())")
    check.that(result["parameters_changed"], "train did not change the model's parameters: "
               "call optimizer.step() after loss.backward()")
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    check.that(last < 0.9 * first, f"the training loss did not go down over {steps} steps "
               f"(first {first:.1f}, last {last:.1f} nats): zero the gradients every step, "
               f"then backward, then step")


def test_train_made_short_run(submission, expected, check):
    _smoke(submission, check, "made", made_masks(expected, [64]), steps=40)


def test_train_pixelcnn_short_run(submission, expected, check):
    _smoke(submission, check, "pixelcnn", pixelcnn_masks(expected, 1), steps=15, channels=8)
