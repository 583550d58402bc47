"""Part 5 (hidden): evaluate with uneven batches; timed training of MADE and PixelCNN against
the reference run on the same machine in the same grading run (threshold and speed ratio)."""
import numpy as np
import pytest

from grader.trusted.mnist import load_bits
from tests_public.test_training import made_masks, pixelcnn_masks, trained_parameters

SLOWDOWN = 4.0  # the student's `train` may take at most this many times the reference's time
TIMED = {
    "made": dict(margin=0.03, steps=300, batch_size=64, lr=3e-3, train=3000, heldout=1000),
    "pixelcnn": dict(margin=0.05, steps=150, batch_size=32, lr=3e-3, train=3000, heldout=300,
                     channels=16),
}


def test_evaluate_uneven_batches(submission, expected, check, rng):
    count = int(rng.integers(200, 400))
    start = int(rng.integers(0, 9000))
    for model, masks in (("made", made_masks(expected, [24])),
                         ("pixelcnn", pixelcnn_masks(expected, 1))):
        batch_size = int(rng.integers(30, 90))
        if model == "pixelcnn":  # a last batch of one example: a mean of batch means is off
            count = batch_size * int(rng.integers(3, 6)) + 1
        kwargs = dict(model=model, masks=masks, data=load_bits("test", start + count)[start:],
                      batch_size=batch_size, seed=int(rng.integers(2**31)), channels=4)
        got = submission.run("evaluate", **kwargs)
        want = expected.run("evaluate", **kwargs)
        check.that(type(got) is float and abs(got - want) < 1e-3 * abs(want),
                   f"evaluate on {count} {model.upper()} examples with batch_size "
                   f"{kwargs['batch_size']} (the last batch is smaller) is wrong: it must be "
                   f"the mean NLL over all examples, in eval mode")


def heldout_nll(measure, model, masks, parameters, data, channels=None) -> float:
    """Mean held-out NLL of `parameters`, measured by the trusted worker (no student code)."""
    nll = measure.run("nll", model=model, masks=masks, parameters=parameters, data=data,
                      channels=channels)
    return float(np.mean(nll.array))


@pytest.mark.parametrize("model", ["made", "pixelcnn"])
def test_train_timed(submission, expected, measure, check, model):
    config = dict(TIMED[model])
    margin, train, heldout = config.pop("margin"), config.pop("train"), config.pop("heldout")
    masks = made_masks(expected, [256]) if model == "made" else pixelcnn_masks(expected, 2)
    channels = config.get("channels")
    init = measure.run("initial_parameters", model=model, masks=masks, seed=0, channels=channels)
    kwargs = dict(model=model, masks=masks, data=load_bits("train", train), init=init,
                  generator_seed=0, **config)
    reference, reference_usage = expected.timed("train", **kwargs)
    got, usage = submission.timed("train", **kwargs)
    parameters = trained_parameters(check, got, init)
    check.that(usage.orphans == 0,
               f"train left {usage.orphans} process(es) running after it returned (e.g. "
               f"DataLoader workers or a child process): finish or stop them before returning")
    held = load_bits("valid", heldout)
    want = heldout_nll(measure, model, masks, reference["parameters"], held, channels)
    nll = heldout_nll(measure, model, masks, parameters, held, channels)
    threshold = want * (1 + margin)
    check.that(np.isfinite(nll) and nll <= threshold,
               f"after {config['steps']} steps the held-out NLL is {nll:.1f} nats; it must be "
               f"at most {threshold:.1f} (the reference reaches {want:.1f} with the same steps "
               f"and seed). Check that every step zeroes gradients, backpropagates the mean "
               f"batch NLL and steps Adam with the given lr and batch_size")
    # The clock is the fork server's: CPU time of the worker and everything it started (wall
    # time where the reference trained on a GPU).
    wall = reference.get("device") == "cuda"
    seconds = usage.wall_seconds if wall else usage.cpu_seconds
    limit = SLOWDOWN * (reference_usage.wall_seconds if wall else reference_usage.cpu_seconds)
    check.that(seconds <= limit,
               f"train took {seconds:.1f} s for {config['steps']} steps, more than "
               f"{SLOWDOWN:g}x the reference ({limit / SLOWDOWN:.1f} s on this machine): "
               f"avoid per-example Python loops and recomputing over the whole dataset")
