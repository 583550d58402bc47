"""Part 5 (hidden): evaluate with uneven batches; timed training of MADE and PixelCNN against
the reference run on the same machine in the same grading run (threshold and speed ratio)."""
import numpy as np
import pytest

from grader.mnist import load_bits
from tests_public.test_training import made_masks, pixelcnn_masks

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


@pytest.mark.parametrize("model", ["made", "pixelcnn"])
def test_train_timed(submission, expected, check, model):
    config = dict(TIMED[model])
    margin, train, heldout = config.pop("margin"), config.pop("train"), config.pop("heldout")
    masks = made_masks(expected, [256]) if model == "made" else pixelcnn_masks(expected, 2)
    kwargs = dict(model=model, masks=masks, train=load_bits("train", train),
                  heldout=load_bits("valid", heldout), seed=0, **config)
    reference = expected.run("train_timed", **kwargs)
    got = submission.run("train_timed", **kwargs)
    threshold = reference["heldout_nll"] * (1 + margin)
    check.that(np.isfinite(got["heldout_nll"]) and got["heldout_nll"] <= threshold,
               f"after {config['steps']} steps the held-out NLL is {got['heldout_nll']:.1f} "
               f"nats; it must be at most {threshold:.1f} (the reference reaches "
               f"{reference['heldout_nll']:.1f} with the same steps and seed). Check that "
               f"every step zeroes gradients, backpropagates the mean batch NLL and steps Adam "
               f"with the given lr and batch_size")
    limit = SLOWDOWN * reference["seconds"]
    check.that(got["seconds"] <= limit,
               f"train took {got['seconds']:.1f} s for {config['steps']} steps, more than "
               f"{SLOWDOWN:g}x the reference ({reference['seconds']:.1f} s on this machine): "
               f"avoid per-example Python loops and recomputing over the whole dataset")
