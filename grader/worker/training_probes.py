"""Probes of part 5: the student's `evaluate` and `train` on known models and known losses,
with every forward pass, loss and callback written down (grader/worker/probes.py says what a
probe may do: raw evaluations only)."""
import contextlib

import torch
import torch.nn as nn

from grader import known_good
from grader.known_good import as_data, known_good_nll, known_model
from grader.worker.probes import _generator, load_state, probe


class Recorded(nn.Module):
    """Wraps a known model and writes down every forward pass: batch size, train mode,
    gradient mode, and a key per example (x . projection), so the judge can tell which
    examples each batch held. Raw observations: the judge decides what they mean."""

    def __init__(self, inner, projection):
        super().__init__()
        self.inner, self.projection, self.passes = inner, projection, []

    def forward(self, x):
        # Keys stay Python floats until `calls`: a small tensor kept per pass would land in
        # the hole its pass's temporaries leave, and the heap would grow every pass.
        keys = (x.detach().reshape(len(x), -1).double().cpu() @ self.projection).tolist()
        self.passes.append({"size": len(x), "training": self.training,
                            "grad": torch.is_grad_enabled(), "keys": keys})
        return self.inner(x)

    @property
    def calls(self) -> list:
        """Every forward pass, its keys a float64 tensor."""
        return [dict(p, keys=torch.tensor(p["keys"], dtype=torch.float64)) for p in self.passes]


def _recording_loss(record: list, loss_name: str = "nll"):
    def loss(logits, x):
        nll = known_good.LOSSES[loss_name](logits, x)
        record.append({"mean": nll.detach().double().mean().item(),
                       "sum": nll.detach().double().sum().item()})
        return nll
    return loss


@contextlib.contextmanager
def _as_default_loss(student, loss):
    """Make `loss` what the student's training module finds as probability.nll (a module
    attribute, or a name imported into training.py): a default that is not under test. Put
    back afterwards: modules persist in-process and in the reference's oracle worker."""
    owners = [student.probability] + ([student.training] if hasattr(student.training, "nll")
                                      else [])
    saved = [(owner, owner.__dict__.get("nll", _ABSENT)) for owner in owners]
    try:
        for owner in owners:
            owner.nll = loss
        yield
    finally:
        for owner, value in saved:
            if value is _ABSENT:
                owner.__dict__.pop("nll", None)
            else:
                owner.nll = value


_ABSENT = object()


class ModeSensitive(nn.Module):
    """Wraps a model; in train mode it shifts every logit, so `evaluate` must call eval().
    In eval mode it shifts them too (towards 0 pixels): an untrained model gives every image
    about the same NLL, which hides a wrongly weighted mean; this makes the NLL grow with the
    image's number of 1 pixels, so examples differ by hundreds of nats."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + (3.0 if self.training else -2.0)


@probe
def evaluate(student, model, masks, data, seed=0, batch_size=64, channels=None,
             default_loss=False, projection=None, loss="nll", train_mode=True,
             loss_by_name=False):
    """The student's `evaluate` on a known model (seeded weights) and a known loss (passed:
    known_good.LOSSES[loss], by position or with `loss_by_name` as loss_fn=; or, with
    `default_loss`, found by evaluate as probability.nll, where `batch_size=None` also leaves
    evaluate's default batch size). With `projection`, also the forward passes it made and
    the mode it left the model in (handed over in train mode, or in eval mode with
    `train_mode=False`)."""
    torch.manual_seed(seed)
    net = ModeSensitive(known_model(model, masks, channels))
    if projection is not None:
        net = Recorded(net, projection)
    net.train(train_mode)
    x = as_data(model, data)
    given = known_good.LOSSES[loss]
    # Every name passed by name is spelt out (tests/test_submission_checks.py reads them).
    if default_loss:
        with _as_default_loss(student, known_good_nll):
            if batch_size is None:
                value = student.training.evaluate(net, x)
            else:
                value = student.training.evaluate(net, x, batch_size=batch_size)
    elif loss_by_name:
        value = student.training.evaluate(net, x, loss_fn=given, batch_size=batch_size)
    else:
        value = student.training.evaluate(net, x, given, batch_size=batch_size)
    if projection is None:
        return value
    return {"value": value, "calls": net.calls, "training_after": net.training}


@probe
def train(student, model, masks, data, init, steps, batch_size, lr, generator_seed=0,
          channels=None, device="auto", projection=None, default_loss=False, loss="nll",
          generator_draws=0):
    """The student's `train` on a known model that starts from `init` (lr=None and
    batch_size=None: train's own defaults for both); returns the trained parameters, what
    `train` returned, and what it did: every forward pass (size, mode, example keys), every
    loss (mean and sum of the batch's NLLs) and every callback. The judge never sends the
    held-out data here."""
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    inner = known_model(model, masks, channels)
    load_state(inner, init)
    # Unrecorded without a projection (the timed runs): nobody reads the passes, and keeping
    # a key per example per pass fragments the heap (~0.3 MB a step, 60+ MB a timed run).
    net = inner if projection is None else Recorded(inner, projection)
    net.to(device)
    net.eval()  # handed over in eval mode: `train` must switch the model to train mode itself
    seen, callbacks = [], []
    loss = _recording_loss(seen, loss)
    default = _as_default_loss(student, loss) if default_loss else contextlib.nullcontext()
    if default_loss:
        loss = None  # train must find it as probability.nll
    x, generator = as_data(model, data).to(device), _generator(generator_seed, generator_draws)
    record = lambda step, value: callbacks.append([step, value])  # noqa: E731
    # Every name passed by name is spelt out (tests/test_submission_checks.py reads them).
    with default:
        if lr is None and batch_size is None:  # train's own defaults
            losses = student.training.train(net, x, loss, steps=steps, generator=generator,
                                            callback=record)
        else:
            losses = student.training.train(net, x, loss, steps=steps, batch_size=batch_size,
                                            lr=lr, generator=generator, callback=record)
    parameters = {name: p.detach().float().cpu() for name, p in inner.named_parameters()}
    out = {"parameters": parameters, "losses": losses, "device": device}
    if projection is not None:
        out.update(calls=net.calls, seen=seen, callbacks=callbacks)
    return out
