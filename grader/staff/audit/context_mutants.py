"""Mutants that ignore or mishandle one context a stub's contract names (issue 18): each is
the evidence of one cell of the context table (grader/staff/audit/contexts.py,
docs/COVERAGE.md), and must lose points in its own part on every seed. Same format as the
catalogue in mutants.py."""
from .mutants import _m

_ADAM = "torch.optim.Adam(model.parameters(), lr=lr)"
_STEP = "        optimizer.step()\n"

CONTEXT_MUTANTS = [
    _m("train_step_twice", "5b", ("5c",),
       ("training.py", _STEP, _STEP + _STEP),
       doc="two optimizer steps per batch (the parameters run one step ahead per batch)"),
    _m("train_adam_betas", "5b", ("5c",),
       ("training.py", _ADAM, "torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99))"),
       doc="Adam with betas other than PyTorch's defaults"),
    _m("train_weight_decay", "5b", ("5c",),
       ("training.py", _ADAM, "torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)"),
       doc="Adam with weight decay (documented: Adam with lr)"),
    _m("train_lr_warmup", "5b", ("5c",),
       ("training.py", _ADAM + "\n",
        _ADAM + "\n    warmup = torch.optim.lr_scheduler.LambdaLR(\n"
        "        optimizer, lambda step: min(1.0, (step + 1) / 10))\n"),
       ("training.py", _STEP, _STEP + "        warmup.step()\n"),
       doc="a learning-rate warm-up: the documented lr is constant"),
    _m("train_extra_first_step", "5b", ("5c",),
       ("training.py", "    model.train()\n    losses: list[float] = []\n",
        "    model.train()\n    losses: list[float] = []\n"
        "    loss_fn(model(data[:batch_size].to(device)), data[:batch_size].to(device))"
        ".mean().backward()\n    optimizer.step()\n"),
       doc="a warm-up step on the first examples before the loop: steps + 1 updates"),
]

_RESEED = "torch.Generator().manual_seed(generator.initial_seed())"

CONTEXT_MUTANTS += [
    _m("evaluate_always_back_to_train_mode", "5a", (),
       ("training.py", "    model.train(was_training)\n", "    model.train()\n"),
       doc="evaluate ends with model.train(): a model handed over in eval mode is left in "
           "train mode (the caller's mode is not restored)"),
    _m("evaluate_ignores_loss_fn", "5a", (),
       ("training.py", "    # BEGIN SOLUTION 5a\n    loss_fn = loss_fn or _default_loss()\n",
        "    # BEGIN SOLUTION 5a\n    loss_fn = _default_loss()\n"),
       doc="evaluate always uses probability.nll, whatever loss_fn is given"),
    _m("train_generator_reseeded", "5b", ("5c",),
       ("training.py", "    # BEGIN SOLUTION 5b/5c\n",
        "    # BEGIN SOLUTION 5b/5c\n    generator = generator and " + _RESEED + "\n"),
       doc="train re-creates the generator from its seed: earlier draws are forgotten"),
    _m("degrees_generator_reseeded", "2a", ("2d",),
       ("made.py", "    # BEGIN SOLUTION 2a\n",
        "    # BEGIN SOLUTION 2a\n    generator = generator and " + _RESEED + "\n"),
       doc="made_degrees re-creates the generator from its seed: earlier draws are forgotten"),
    _m("sample_generator_reseeded", "4a", (),
       ("sampling.py", "    # BEGIN SOLUTION 4a\n",
        "    # BEGIN SOLUTION 4a\n    generator = generator and " + _RESEED + "\n"),
       doc="sample_autoregressive re-creates the generator from its seed"),
    _m("pixels_generator_reseeded", "4b", (),
       ("sampling.py", "    # BEGIN SOLUTION 4b\n",
        "    # BEGIN SOLUTION 4b\n    generator = generator and " + _RESEED + "\n"),
       doc="sample_pixels re-creates the generator from its seed"),
    _m("masked_linear_mask_only_in_training", "2c", ("2d",),
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "return F.linear(x, self.weight * self.mask if self.training else self.weight, "
        "self.bias)"),
       doc="MaskedLinear masks in train mode only: eval-mode outputs use the raw weight"),
    _m("masked_conv_mask_only_in_training", "3b", ("3c",),
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "return F.conv2d(x, self.weight * self.mask if self.training else self.weight, "
        "self.bias, padding=self.padding)"),
       doc="MaskedConv2d masks in train mode only: eval-mode outputs use the raw weight"),
]

CONTEXT_MUTANTS += [
    _m("bits_assumes_784", "1d", (),
       ("probability.py", "return nll_nats / (num_dims * math.log(2))",
        "return nll_nats / (784 * math.log(2))"),
       doc="bits_per_dim ignores num_dims (always MNIST's 784)"),
    _m("pixels_shared_uniforms", "4b", (),
       ("sampling.py", "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)",
        "            u = torch.rand(1, generator=generator)\n"
        "            x[:, 0, r, c] = (u < probs).float()"),
       doc="one uniform per pixel shared by all n images"),
    _m("train_default_loss_mean", "5b", ("5c",),
       ("training.py", "    # BEGIN SOLUTION 5b/5c\n    loss_fn = loss_fn or _default_loss()\n",
        "    # BEGIN SOLUTION 5b/5c\n"
        "    loss_fn = loss_fn or (lambda logits, x: _default_loss()(logits, x) / x[0].numel())\n"),
       doc="train's default loss is the NLL per dimension, not probability.nll"),
    _m("evaluate_default_batch_size", "5a", (),
       ("training.py", "batch_size: int = 256,", "batch_size: int = 200,"),
       doc="evaluate's default batch_size is not the documented 256"),
    _m("evaluate_loss_fn_positional_only", "5a", (),
       ("training.py", "loss_fn: LossFn | None = None, *,\n             batch_size",
        "loss_fn: LossFn | None = None, /, *,\n             batch_size"),
       doc="evaluate's loss_fn cannot be passed by name (loss_fn=), as its signature allows"),
    _m("train_default_batch_size", "5b", ("5c",),
       ("training.py", "batch_size: int = 64,", "batch_size: int = 32,"),
       doc="train's default batch_size is not the documented 64"),
]

CONTEXT_MUTANTS += [
    _m("nll_sigmoid_then_log", "1c", (),
       ("probability.py", "    return -bernoulli_log_prob(logits, x).flatten(start_dim=1).sum(dim=1)",
        "    probs = torch.sigmoid(logits)\n"
        "    return -(x * torch.log(probs) + (1 - x) * torch.log(1 - probs))"
        ".flatten(start_dim=1).sum(dim=1)"),
       doc="nll computed from sigmoid then log, not from bernoulli_log_prob (-inf/nan for "
           "extreme float32 logits)"),
]
