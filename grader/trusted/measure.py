"""Trusted measurements: torch code that runs in a worker of role "measure", forked from the
fork server, which never imports student code (nor reference/). It scores what a student's
worker returned, e.g. the held-out NLL of the parameters the student's `train` produced,
loaded into an untouched known-good model. Imports torch: never imported by the judge.
"""
import torch

from grader.known_good import LOSSES, as_data, known_good_nll, known_model

PROBES = {}


def probe(fn):
    PROBES[fn.__name__] = fn
    return fn


@probe
def initial_parameters(model, masks, channels=None, seed=0):
    """PyTorch's default initialisation of the known-good model, from `seed`."""
    torch.manual_seed(seed)
    net = known_model(model, masks, channels)
    return {name: p.detach() for name, p in net.named_parameters()}


@probe
def nll(model, masks, parameters, data, channels=None, batch_size=500):
    """Per-example NLL in nats (float64, eval mode) of the known-good model holding
    `parameters` (names and shapes checked by the judge before it sends them)."""
    net = known_model(model, masks, channels)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(parameters[name])
    net.eval()
    x = as_data(model, data)
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            out.append(known_good_nll(net(batch), batch).double())
    return torch.cat(out)


@probe
def replay_train(model, masks, init, data, batches, lr, channels=None, loss="nll"):
    """`train`'s documented algorithm replayed on the batches the student's `train` drew:
    the known-good model from `init`, Adam(lr) with PyTorch's defaults, one step per batch on
    the batch mean of the loss `train` was given (LOSSES[loss]). Returns the parameters after
    each step and the losses, which these inputs determine up to float rounding (`batches`:
    example indices the judge read from the student's recorded forward passes and checked to
    form whole shuffled passes)."""
    net = known_model(model, masks, channels)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(init[name])
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    x = as_data(model, data)
    loss_fn, losses, after = LOSSES[loss], [], []
    for batch in batches:
        inputs = x[torch.as_tensor(batch, dtype=torch.long)]
        mean = loss_fn(net(inputs), inputs).mean()
        optimizer.zero_grad()
        mean.backward()
        optimizer.step()
        losses.append(mean.item())
        after.append({name: p.detach().clone() for name, p in net.named_parameters()})
    return {"after": after, "losses": losses}
