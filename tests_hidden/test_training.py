"""Part 5 (hidden): evaluate with uneven batches, its batches and gradient mode; train's
contract (batches, shuffled passes, generator, default loss); timed training of MADE and
PixelCNN against the reference run on the same machine in the same grading run (threshold
and speed ratio)."""
import numpy as np
import pytest

from grader.trusted import recordings
from grader.trusted.mnist import load_bits
from tests_public.test_training import heldout_nll, made_masks, pixelcnn_masks, trained_parameters

SLOWDOWN = 4.0  # the student's `train` may take at most this many times the reference's time
# evaluate's answer is exact: a mean of a few hundred float32 NLLs, summed per batch or per
# example, in float32 or float64, differs from the reference's by at most ~4e-7 of its value
# (float32 sums of ~90 values); one nat too many in the total moves it by ~1e-5.
EXACT = 1e-6
DEFAULT_LR = 1e-3  # train's documented defaults
DEFAULT_BATCH = 64
# MADE's step count is past 256: CPython shares the int objects up to 256, so a loop that
# compares counts with `is` instead of `==` (`while len(losses) is not steps`) ends on time
# below it and never above it.
TIMED = {
    "made": dict(margin=0.03, steps=260, batch_size=64, lr=3e-3, train=3000, heldout=1000),
    "pixelcnn": dict(margin=0.05, steps=75, batch_size=32, lr=3e-3, train=3000, heldout=300,
                     channels=16),
}


DEFAULT_EVAL_BATCH = 256  # evaluate's documented default batch_size
# Example counts for the run that leaves batch_size at its default: for each, passes of at
# most 256 examples are at their largest exactly 256 (one pass per 256, or evenly split),
# where a default of 255 makes one pass more and 257 one pass larger.
DEFAULT_EVAL_COUNTS = (511, 766, 767)


def _examples(start: int, count: int) -> np.ndarray:
    """`count` test images from `start`, the one with the most 1 pixels (the largest NLL)
    last, so that a mean that misses or misweights the last batch is far off."""
    data = load_bits("test", start + count)[start:]
    extreme = int(data.sum(1).argmax())
    return np.concatenate([np.delete(data, extreme, 0), data[extreme:extreme + 1]])


def test_evaluate_uneven_batches(submission, expected, check, rng):
    count = int(rng.integers(200, 400))
    start = int(rng.integers(0, 9000))
    proj = recordings.projection(rng)
    for model, masks in (("made", made_masks(expected, [24])),
                         ("pixelcnn", pixelcnn_masks(expected, 1))):
        batch_size = int(rng.integers(30, 90))
        if model == "pixelcnn":  # a last batch of one example: a mean of batch means is off
            count = batch_size * int(rng.integers(3, 6)) + 1
        count += count % batch_size == 0  # never whole batches only
        seed = int(rng.integers(2**31))
        for default_loss in (False, True):
            # The loss_fn given computes other numbers than the default (halved logits); it
            # is passed by name once (MADE) and by position once. The default-loss run also
            # leaves batch_size at its default.
            loss = "nll" if default_loss else "tempered"
            n = int(rng.choice(DEFAULT_EVAL_COUNTS)) if default_loss else count
            size = None if default_loss else batch_size
            what = (f"evaluate on {n} {model.upper()} examples with "
                    + ("the default batch_size (256)" if default_loss else
                       f"batch_size {batch_size} (the last batch is smaller)"))
            kwargs = dict(model=model, masks=masks, data=_examples(start, n), batch_size=size,
                          seed=seed, channels=4)
            # The reference with the batch size spelt out: the mean does not depend on it.
            want = expected.run("evaluate", loss=loss,
                                **{**kwargs, "batch_size": size or DEFAULT_EVAL_BATCH})
            # The caller's mode, restored: train mode once, eval mode once (a model.train()
            # that ignores the mode it was handed over in only shows in eval mode).
            handed = {"train_mode": False} if default_loss else {}
            got = submission.run("evaluate", projection=proj, default_loss=default_loss,
                                 loss=loss, loss_by_name=model == "made", **handed, **kwargs)
            value = got.get("value") if type(got) is dict else None
            check.that(type(value) is float and abs(value - want) <= EXACT * abs(want),
                       f"{what}{', with the default loss_fn' if default_loss else ''}: got "
                       f"{value!r}, expected {want!r}: the mean over all examples, in eval "
                       f"mode, of " + ("probability.nll (no loss_fn was given)" if default_loss
                                      else "the loss_fn given (it is not probability.nll)"))
            calls = recordings.calls_of(got, what)
            sizes = [c.get("size") for c in calls]
            limit = size or DEFAULT_EVAL_BATCH
            check.that(sum(sizes) >= n and max(sizes) <= limit
                       and (size is not None or max(sizes) == DEFAULT_EVAL_BATCH),
                       f"{what}: forward passes on {sizes[:8]}{'...' if len(sizes) > 8 else ''}"
                       f" examples; at most batch_size={limit} per pass"
                       + ("" if size else " (and that many when more remain: the default)"))
            check.that(not any(c.get("grad") for c in calls),
                       f"{what}: the forward passes ran with gradients enabled: evaluate must "
                       f"not build autograd graphs (torch.no_grad())")
            mode = "eval" if handed else "train"
            check.that(not any(c.get("training") is not False for c in calls)
                       and got.get("training_after") is (mode == "train"),
                       f"{what}: handed over in {mode} mode, the model ran in train mode or "
                       f"was not left in {mode} mode: evaluate runs in eval mode and puts the "
                       f"model back in the caller's mode (model.train(was_training))")


@pytest.mark.parametrize("model", ["made", "pixelcnn"])
def test_train_contract(submission, expected, measure, check, rng, model):
    """Batches of batch_size examples drawn from shuffled passes (a fresh permutation from
    `generator` every pass: the same seed repeats them, another does not), losses in nats
    per example, callback(step, loss), probability.nll by default, and the parameters and
    losses of Adam(lr) on those batches, exactly."""
    masks = made_masks(expected, [32]) if model == "made" else pixelcnn_masks(expected, 1)
    channels = None if model == "made" else 4
    batch_size = int(rng.choice([16, 32]))
    count, steps = 4 * batch_size, 8  # two whole passes
    data = load_bits("train", 1000)[rng.choice(1000, count, replace=False)]
    proj = recordings.projection(rng)
    data_keys = recordings.keys_of(data, proj)
    init = measure.run("initial_parameters", model=model, masks=masks, seed=0, channels=channels)
    seeds = [int(s) for s in rng.choice(2**31, 2, replace=False)]
    runs = []
    # (seed, draws the generator made before train got it, defaults: loss_fn and lr not
    # given); the loss_fn given computes other numbers than the default (halved logits).
    for seed, draws, defaults in ((seeds[0], 0, False), (seeds[0], 0, False),
                                  (seeds[1], 0, True), (seeds[0], 1, False)):
        # The defaults run leaves loss_fn, batch_size and lr out: the same two passes in
        # batches of 64 (DEFAULT_BATCH divides count).
        loss, lr, size = ("nll", None, None) if defaults else ("tempered", 3e-3, batch_size)
        run_steps = steps * batch_size // (size or DEFAULT_BATCH)
        what = (f"train on a {model.upper()} ({run_steps} steps, batch_size "
                f"{size or f'{DEFAULT_BATCH} (the default)'}, {count} examples, generator seed "
                f"{seed}{f' after {draws} draw' if draws else ''}"
                f"{', default loss_fn, batch_size and lr' if defaults else ', a loss_fn given'})")
        result = submission.run("train", model=model, masks=masks, data=data, init=init,
                                steps=run_steps, batch_size=size, lr=lr, generator_seed=seed,
                                channels=channels, projection=proj, default_loss=defaults,
                                loss=loss, generator_draws=draws)
        parameters = trained_parameters(check, result, init)
        losses = recordings.check_losses(check, result, run_steps, 784, what)
        calls = recordings.check_training_passes(check, recordings.calls_of(result, what),
                                                 run_steps, size or DEFAULT_BATCH, what)
        recordings.check_callbacks(check, result, losses, what)
        batches = [recordings.indices(c["keys"], data_keys, what) for c in calls]
        recordings.check_shuffled_passes(check, batches, count, what)
        # Whole shuffled passes over the judge's data: the documented algorithm on them
        # determines the parameters, replayed by the trusted worker.
        replay = measure.run("replay_train", model=model, masks=masks, init=init, data=data,
                             batches=batches, lr=lr or DEFAULT_LR, channels=channels, loss=loss)
        recordings.check_replay(check, replay, parameters, losses, what)
        runs.append((losses, np.concatenate(batches)))
    check.that(np.array_equal(runs[0][1], runs[1][1]) and runs[0][0] == runs[1][0],
               f"train on a {model.upper()}: two runs with the same generator seed drew "
               f"different batches or losses: draw every permutation from `generator`")
    check.that(not np.array_equal(runs[0][1], runs[2][1]),
               f"train on a {model.upper()}: generator seeds {seeds[0]} and {seeds[1]} drew the "
               f"same batches in the same order: shuffle with `generator`")
    check.that(not np.array_equal(runs[0][1], runs[3][1]),
               f"train on a {model.upper()}: a generator seeded {seeds[0]} that had already "
               f"made a draw gave the batches of a freshly seeded one: draw from the generator "
               f"as it is given (never re-seed or re-create it)")


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
               f"after {config['steps']} steps (Adam, lr {config['lr']}, batch_size "
               f"{config['batch_size']}) the held-out NLL is {nll:.1f} nats; it must be at most "
               f"{threshold:.1f}: the reference reaches {want:.1f} from the same initial "
               f"weights, data, steps and seed")
    # The clock is the fork server's: CPU time of the worker and everything it started (wall
    # time where the reference trained on a GPU).
    wall = reference.get("device") == "cuda"
    seconds = usage.wall_seconds if wall else usage.cpu_seconds
    limit = SLOWDOWN * (reference_usage.wall_seconds if wall else reference_usage.cpu_seconds)
    check.that(seconds <= limit,
               f"train took {seconds:.1f} s for {config['steps']} steps, more than "
               f"{SLOWDOWN:g}x the reference ({limit / SLOWDOWN:.1f} s on this machine)")
