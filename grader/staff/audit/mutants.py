"""Mutants: small textual patches of reference/ that reproduce one known student mistake.

Each mutant names the part its mistake belongs to and the set of parts allowed to lose points
("related": the part itself plus the parts graded "as a whole" on top of it, e.g. 2d on 2a-2c,
3c on 3a-3b, 1c on 1b because `nll` calls `bernoulli_log_prob`). Training tests (5b/5c) and
evaluate (5a) use known-good models and a known-good loss, so no mutant outside part 5 may
cost points there. A patch's old snippet must occur in reference/ exactly once: when the
reference changes, the audit fails loudly instead of silently testing nothing.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mutant:
    name: str
    part: str                 # the part the mistake belongs to
    related: tuple            # parts allowed to lose points (part included)
    patches: tuple            # ((file, old, new), ...) applied to a copy of reference/
    doc: str = ""


def _m(name, part, related, *patches, doc=""):
    return Mutant(name, part, tuple(sorted({part, *related})), tuple(patches), doc)


MADE_RELATED = ("2d",)
PIXEL_RELATED = ("3c",)

MUTANTS = [
    # ---------------------------------------------------------------- part 1
    _m("kl_no_zero_log_zero", "1a", (),
       ("probability.py", "    ratio = torch.where(p > 0, p / q, torch.ones_like(p))\n"
                          "    return (p * torch.log(ratio)).sum(dim=-1)",
        "    return (p * torch.log(p / q)).sum(dim=-1)"),
       doc="0 log 0 computed as nan"),
    _m("kl_reversed", "1a", (),
       ("probability.py", "    ratio = torch.where(p > 0, p / q, torch.ones_like(p))\n"
                          "    return (p * torch.log(ratio)).sum(dim=-1)",
        "    ratio = torch.where(q > 0, q / p, torch.ones_like(q))\n"
        "    return (q * torch.log(ratio)).sum(dim=-1)"),
       doc="KL(q||p) instead of KL(p||q)"),
    _m("bernoulli_sigmoid_then_log", "1b", ("1c",),
       ("probability.py", '    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")',
        "    probs = torch.sigmoid(logits)\n"
        "    return x * torch.log(probs) + (1 - x) * torch.log(1 - probs)"),
       doc="unstable: sigmoid then log (-inf/nan for large logits)"),
    _m("sigmoid_before_bce_with_logits", "1b", ("1c",),
       ("probability.py", "F.binary_cross_entropy_with_logits(logits, x,",
        "F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x,"),
       doc="SPEC: sigmoid applied before a with-logits loss"),
    _m("nll_mean_over_dims", "1c", (),
       ("probability.py", ".flatten(start_dim=1).sum(dim=1)", ".flatten(start_dim=1).mean(dim=1)"),
       doc="SPEC: NLL mean over dims"),
    _m("nll_summed_over_batch", "1c", (),
       ("probability.py", ".flatten(start_dim=1).sum(dim=1)", ".sum()"),
       doc="SPEC: NLL summed over the batch"),
    _m("bits_missing_ln2", "1d", (),
       ("probability.py", "return nll_nats / (num_dims * math.log(2))", "return nll_nats / num_dims"),
       doc="SPEC: nats/bits mix-up (nats per dim)"),
    _m("bits_times_ln2", "1d", (),
       ("probability.py", "return nll_nats / (num_dims * math.log(2))",
        "return nll_nats * math.log(2) / num_dims"),
       doc="SPEC: nats/bits mix-up (multiplies by ln 2)"),
    _m("bits_log10", "1d", (),
       ("probability.py", "return nll_nats / (num_dims * math.log(2))",
        "return nll_nats / (num_dims * math.log(10))"),
       doc="SPEC: log10"),
    # ---------------------------------------------------------------- part 2
    _m("degrees_zero_based", "2a", MADE_RELATED,
       ("made.py", "degrees[0][ordering] = torch.arange(1, num_inputs + 1)",
        "degrees[0][ordering] = torch.arange(num_inputs)"),
       doc="SPEC: 0- vs 1-based degree off-by-one"),
    _m("degrees_unconnected", "2a", MADE_RELATED,
       ("made.py", "span = max(num_inputs - 1, 1)", "span = max(num_inputs - 2, 1)"),
       doc="SPEC: degrees that leave outputs unconnected (hidden degrees stop at D-2)"),
    _m("degrees_hidden_include_zero", "2a", MADE_RELATED,
       ("made.py", "hidden = (1 + torch.arange(size) * span // size if size >= span",
        "hidden = (torch.arange(size) * num_inputs // size if size >= span"),
       doc="hidden degrees 0..D-1 (dead units of degree 0)"),
    _m("degrees_ignore_ordering", "2a", MADE_RELATED,
       ("made.py", "degrees[0][ordering] = torch.arange(1, num_inputs + 1)",
        "degrees[0][:] = torch.arange(1, num_inputs + 1)"),
       doc="input degrees ignore the ordering"),
    _m("output_mask_nonstrict", "2b", MADE_RELATED,
       ("made.py", "masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())",
        "masks.append((degrees[0][:, None] >= degrees[-1][None, :]).float())"),
       doc="SPEC: output mask <= (non-strict)"),
    _m("hidden_mask_strict", "2b", MADE_RELATED,
       ("made.py", "masks = [(upper[:, None] >= lower[None, :]).float()",
        "masks = [(upper[:, None] > lower[None, :]).float()"),
       doc="SPEC: hidden mask >"),
    _m("masks_transposed", "2b", MADE_RELATED,
       ("made.py", "    return masks\n    # END SOLUTION",
        "    return [m.T.contiguous() for m in masks]\n"
        "    # END SOLUTION"),
       doc="SPEC: mask transposed (silent with square layers)"),
    _m("mask_never_applied", "2c", MADE_RELATED,
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "return F.linear(x, self.weight, self.bias)"),
       doc="SPEC: mask built but never applied"),
    _m("mask_applied_once_at_init", "2c", MADE_RELATED,
       ("made.py", '        self.register_buffer("mask", mask.float().clone())\n',
        '        self.register_buffer("mask", mask.float().clone())\n'
        "        with torch.no_grad():\n            self.weight.mul_(self.mask)\n"),
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "return F.linear(x, self.weight, self.bias)"),
       doc="SPEC: mask applied once at init"),
    _m("made_average_logits_over_orderings", "2d", (),
       ("made.py", "            for n_in, n_out, mask in zip(sizes[:-1], sizes[1:], masks))\n",
        "            for n_in, n_out, mask in zip(sizes[:-1], sizes[1:], masks))\n"
        "        alt = made_masks(made_degrees(torch.flip(self.ordering, [0]), hidden_sizes))\n"
        "        for layer, mask in zip(self.layers, alt):\n"
        "            layer.register_buffer('mask_alt', mask.float())\n"),
       ("made.py", "        for layer in self.layers[:-1]:\n            x = F.relu(layer(x))\n"
                   "        return self.layers[-1](x)",
        "        def run(h, alt):\n"
        "            for i, layer in enumerate(self.layers):\n"
        "                mask = layer.mask_alt if alt else layer.mask\n"
        "                h = F.linear(h, layer.weight * mask, layer.bias)\n"
        "                h = F.relu(h) if i < len(self.layers) - 1 else h\n"
        "            return h\n"
        "        return 0.5 * (run(x, False) + run(x, True))"),
       doc="SPEC: averaging logits over orderings"),
    # ---------------------------------------------------------------- part 3
    _m("conv_mask_B_zeroes_centre_row", "3a", PIXEL_RELATED,
       ("pixelcnn.py", 'mask[centre, centre + (mask_type == "B"):] = 0',
        'mask[centre, (0 if mask_type == "B" else centre):] = 0'),
       doc="SPEC: type-B mask zeroing the whole centre row"),
    _m("conv_mask_rows_below_unmasked", "3a", PIXEL_RELATED,
       ("pixelcnn.py", "    mask[centre + 1:] = 0\n", ""),
       doc="SPEC: rows below the centre unmasked"),
    _m("conv_mask_flipped", "3a", PIXEL_RELATED,
       ("pixelcnn.py", "    return mask\n    # END SOLUTION", "    return mask.flip(0).flip(1)\n    # END SOLUTION"),
       doc="SPEC: mask flipped"),
    _m("conv_mask_types_swapped", "3a", PIXEL_RELATED,
       ("pixelcnn.py", 'mask[centre, centre + (mask_type == "B"):] = 0',
        'mask[centre, centre + (mask_type == "A"):] = 0'),
       doc="'A' keeps the centre, 'B' drops it"),
    _m("masked_conv_never_applied", "3b", PIXEL_RELATED,
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "return F.conv2d(x, self.weight, self.bias, padding=self.padding)"),
       doc="mask built but never applied (PixelCNN)"),
    _m("masked_conv_applied_once_at_init", "3b", PIXEL_RELATED,
       ("pixelcnn.py", '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())\n',
        '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())\n'
        "        with torch.no_grad():\n            self.weight.mul_(self.mask)\n"),
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "return F.conv2d(x, self.weight, self.bias, padding=self.padding)"),
       doc="SPEC: mask applied once at init (PixelCNN)"),
    _m("pixelcnn_first_layer_type_B", "3c", (),
       ("pixelcnn.py", 'self.input_conv = MaskedConv2d(1, channels, kernel_size, "A")',
        'self.input_conv = MaskedConv2d(1, channels, kernel_size, "B")'),
       doc="SPEC: type-B mask on the first PixelCNN layer"),
    _m("pixelcnn_type_A_everywhere", "3c", (),
       ("pixelcnn.py", 'MaskedConv2d(channels, channels, hidden_kernel_size, "B")',
        'MaskedConv2d(channels, channels, hidden_kernel_size, "A")'),
       doc="SPEC: type-A on every layer"),
    _m("pixelcnn_batchnorm_batch_stats", "3c", (),
       ("pixelcnn.py", "        self.head = nn.Conv2d(channels, channels, 1)\n",
        "        self.head = nn.Conv2d(channels, channels, 1)\n"
        "        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_layers))\n"),
       ("pixelcnn.py", "        for layer in self.hidden:\n            h = F.relu(layer(h))",
        "        for layer, norm in zip(self.hidden, self.norms):\n            h = F.relu(norm(layer(h)))"),
       doc="SPEC: batch-statistics normalisation leaking across the batch"),
    # ---------------------------------------------------------------- part 4
    _m("sample_natural_order", "4a", (),
       ("sampling.py", "    for i in ordering.tolist():", "    for i in range(len(ordering)):"),
       doc="SPEC: sampling in natural order when an ordering is given"),
    _m("sample_argmax", "4a", (),
       ("sampling.py", "        probs = torch.sigmoid(logits_fn(x)[:, i])\n"
                       "        x[:, i] = torch.bernoulli(probs, generator=generator)",
        "        probs = torch.sigmoid(logits_fn(x)[:, i])\n"
        "        x[:, i] = (probs > 0.5).float()"),
       doc="SPEC: argmax instead of sampling"),
    _m("sample_stale_canvas", "4a", (),
       ("sampling.py", "    x = torch.zeros(n, len(ordering), device=device)\n"
                       "    for i in ordering.tolist():\n"
                       "        probs = torch.sigmoid(logits_fn(x)[:, i])",
        "    x = torch.zeros(n, len(ordering), device=device)\n"
        "    stale = logits_fn(x.clone())\n"
        "    for i in ordering.tolist():\n"
        "        probs = torch.sigmoid(stale[:, i])"),
       doc="SPEC: stale canvas (logits computed once)"),
    _m("pixels_one_parallel_pass", "4b", (),
       ("sampling.py", "    for r in range(height):\n        for c in range(width):\n"
                       "            probs = torch.sigmoid(logits_fn(x)[:, 0, r, c])\n"
                       "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)",
        "    x = torch.bernoulli(torch.sigmoid(logits_fn(x)), generator=generator)"),
       doc="SPEC: all pixels sampled in one parallel pass"),
    _m("pixels_column_major", "4b", (),
       ("sampling.py", "    for r in range(height):\n        for c in range(width):\n",
        "    for c in range(width):\n        for r in range(height):\n"),
       doc="SPEC: column-major sampling"),
    _m("pixels_argmax", "4b", (),
       ("sampling.py", "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)",
        "            x[:, 0, r, c] = (probs > 0.5).float()"),
       doc="argmax instead of sampling (pixels)"),
    # ---------------------------------------------------------------- part 5
    _m("evaluate_train_mode", "5a", (),
       ("training.py", "    model.eval()\n    total = 0.0", "    total = 0.0"),
       doc="evaluate never switches to eval mode"),
    _m("evaluate_mean_of_batch_means", "5a", (),
       ("training.py", "        total += loss_fn(model(x), x).sum().item()\n"
                       "    model.train(was_training)\n    return total / len(data)",
        "        total += loss_fn(model(x), x).mean().item()\n"
        "    model.train(was_training)\n    return total / -(-len(data) // batch_size)"),
       doc="mean of batch means (wrong with an uneven last batch)"),
    _m("train_no_optimizer_step", "5b", ("5c",),
       ("training.py", "        optimizer.step()\n", ""),
       doc="SPEC: a training loop that never calls optimizer.step()"),
    _m("train_no_zero_grad", "5b", ("5c",),
       ("training.py", "        optimizer.zero_grad()\n", ""),
       doc="SPEC: a training loop that never zeroes gradients"),
]

# Issue 11: one per gradable behaviour found unchecked by walking every stub's docstring.
MUTANTS += [
    _m("kl_over_first_dim", "1a", (),
       ("probability.py", "    return (p * torch.log(ratio)).sum(dim=-1)",
        "    return (p * torch.log(ratio)).sum(dim=0)"),
       doc="KL summed over the first dimension, not the last"),
    _m("bernoulli_returns_nll", "1b", ("1c",),
       ("probability.py", '    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")',
        '    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")'),
       doc="log p with the wrong sign (returns -log p)"),
    _m("nll_sums_last_dim_only", "1c", (),
       ("probability.py", ".flatten(start_dim=1).sum(dim=1)", ".sum(dim=-1)"),
       doc="NLL sums only the last dimension: (B, 1, H) for images instead of (B,)"),
    _m("bits_mean_over_batch", "1d", (),
       ("probability.py", "return nll_nats / (num_dims * math.log(2))",
        "return (nll_nats / (num_dims * math.log(2))).mean()"),
       doc="bits per dim averaged over the batch: the shape is not that of nll_nats"),
    _m("bits_tensor_for_a_float", "1d", (),
       ("probability.py", "return nll_nats / (num_dims * math.log(2))",
        "return torch.as_tensor(nll_nats) / (num_dims * math.log(2))"),
       doc="returns a tensor for a float input (documented: the same type)"),
    _m("degrees_as_float", "2a", MADE_RELATED,
       ("made.py", "        degrees.append(hidden)\n", "        degrees.append(hidden.float())\n"),
       doc="hidden degrees as float tensors (documented: int64)"),
    _m("kl_epsilon_instead_of_inf", "1a", (),
       ("probability.py", "    ratio = torch.where(p > 0, p / q, torch.ones_like(p))",
        "    ratio = torch.where(p > 0, p / q.clamp_min(1e-12), torch.ones_like(p))"),
       doc="q clamped to 1e-12: a large finite KL where q = 0 < p (documented: +inf)"),
    _m("masks_missing_output_layer", "2b", MADE_RELATED,
       ("made.py", "    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())\n", ""),
       doc="no output mask: L masks for L hidden layers (documented: L + 1)"),
    _m("degrees_cycle", "2a", MADE_RELATED,
       ("made.py", "            hidden = (1 + torch.arange(size) * span // size if size >= span\n"
                   "                      else 1 + torch.arange(size) * (span - 1) // max(size - 1, 1))",
        "            hidden = 1 + torch.arange(size) % span"),
       doc="degrees cycle 1..D-1: a narrow layer stops short of D-1 (later inputs unconnected)"),
    _m("degrees_narrow_not_spanning", "2a", MADE_RELATED,
       ("made.py", "            hidden = (1 + torch.arange(size) * span // size if size >= span\n"
                   "                      else 1 + torch.arange(size) * (span - 1) // max(size - 1, 1))",
        "            hidden = 1 + torch.arange(size) * span // size"),
       doc="even spread that never reaches D-1 in a narrow layer (the bug issue 11 found)"),
    _m("degrees_generator_ignored", "2a", MADE_RELATED,
       ("made.py", "        if generator is None:  # a unit of degree D-1",
        "        if True:  # a unit of degree D-1"),
       doc="the generator is ignored: always the deterministic degrees"),
    _m("degrees_generator_upper_exclusive", "2a", MADE_RELATED,
       ("made.py", "torch.randint(low, max(num_inputs, low + 1), (size,), generator=generator)",
        "torch.randint(low, max(num_inputs - 1, low + 1), (size,), generator=generator)"),
       doc="random degrees never reach D-1 (randint's upper bound is exclusive)"),
    _m("degrees_generator_global_rng", "2a", MADE_RELATED,
       ("made.py", "torch.randint(low, max(num_inputs, low + 1), (size,), generator=generator)",
        "torch.randint(low, max(num_inputs, low + 1), (size,))"),
       doc="random degrees from the global RNG, not from `generator`"),
    _m("degrees_generator_low_not_chained", "2a", MADE_RELATED,
       ("made.py", "        low = int(hidden.min()) if size > 0 else low\n", ""),
       doc="every random layer from [1, D-1], not from the layer below's minimum"),
    _m("masked_linear_mask_transposed_in_forward", "2c", MADE_RELATED,
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "return F.linear(x, self.weight * self.mask.T.reshape(self.weight.shape), self.bias)"),
       doc="forward uses the mask transposed (reshaped to fit)"),
    _m("made_default_ordering_reversed", "2d", (),
       ("made.py", "            ordering = torch.arange(num_inputs)",
        "            ordering = torch.arange(num_inputs).flip(0)"),
       doc="MADE's default ordering is reversed, not natural"),
    _m("made_returns_probabilities", "2d", (),
       ("made.py", "        return self.layers[-1](x)", "        return torch.sigmoid(self.layers[-1](x))"),
       doc="MADE's forward returns probabilities, not logits"),
    _m("conv_mask_bool", "3a", PIXEL_RELATED,
       ("pixelcnn.py", "    return mask\n    # END SOLUTION", "    return mask.bool()\n    # END SOLUTION"),
       doc="causal_conv_mask returns a bool tensor (documented: float)"),
    _m("masked_conv_no_padding", "3b", PIXEL_RELATED,
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "return F.conv2d(x, self.weight * self.mask, self.bias)"),
       doc="no 'same' padding: the output shrinks"),
    _m("sample_inverse_ordering", "4a", (),
       ("sampling.py", "    for i in ordering.tolist():", "    for i in torch.argsort(ordering).tolist():"),
       doc="walks argsort(ordering) (the positions) instead of the ordering"),
    _m("sample_reversed_ordering", "4a", (),
       ("sampling.py", "    for i in ordering.tolist():", "    for i in ordering.flip(0).tolist():"),
       doc="walks the ordering backwards"),
    _m("sample_canvas_of_ones_natural_order", "4a", (),
       ("sampling.py", "    x = torch.zeros(n, len(ordering), device=device)\n"
                       "    for i in ordering.tolist():",
        "    x = torch.ones(n, len(ordering), device=device)\n"
        "    for i in range(len(ordering)):"),
       doc="canvas starts at 1 and the natural order is walked (a copy-from-1 model cannot tell)"),
    _m("sample_shared_uniforms", "4a", (),
       ("sampling.py", "        x[:, i] = torch.bernoulli(probs, generator=generator)",
        "        u = torch.rand(1, generator=generator)\n"
        "        x[:, i] = (u < probs).float()"),
       doc="one uniform per variable shared by every sample"),
    _m("sample_returns_probabilities", "4a", (),
       ("sampling.py", "        x[:, i] = torch.bernoulli(probs, generator=generator)",
        "        x[:, i] = probs"),
       doc="stores probabilities in the canvas instead of samples"),
    _m("sample_ignores_generator", "4a", (),
       ("sampling.py", "        x[:, i] = torch.bernoulli(probs, generator=generator)",
        "        x[:, i] = torch.bernoulli(probs)"),
       doc="samples from the global RNG, not `generator`"),
    _m("pixels_ignore_generator", "4b", (),
       ("sampling.py", "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)",
        "            x[:, 0, r, c] = torch.bernoulli(probs)"),
       doc="pixels from the global RNG, not `generator`"),
    _m("pixels_drop_channel_dim", "4b", (),
       ("sampling.py", "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)\n    return x",
        "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)\n    return x[:, 0]"),
       doc="returns (n, H, W) images (documented: (n, 1, H, W))"),
    _m("pixels_reversed_raster", "4b", (),
       ("sampling.py", "    for r in range(height):\n        for c in range(width):\n",
        "    for r in reversed(range(height)):\n        for c in reversed(range(width)):\n"),
       doc="raster order from the bottom-right corner"),
    _m("evaluate_with_gradients", "5a", (),
       ("training.py", "@torch.no_grad()\ndef evaluate(", "def evaluate("),
       doc="evaluate builds autograd graphs (the given @torch.no_grad() removed)"),
    _m("evaluate_one_pass", "5a", (),
       ("training.py", "    for start in range(0, len(data), batch_size):\n"
                       "        x = data[start:start + batch_size].to(device)",
        "    for start in range(0, 1):\n        x = data.to(device)"),
       doc="evaluate ignores batch_size: one forward pass over all the data"),
    _m("evaluate_default_loss_mean", "5a", (),
       ("training.py", "    loss_fn = loss_fn or _default_loss()\n    device = device or _model_device(model)\n"
                       "    was_training",
        "    loss_fn = loss_fn or (lambda logits, x: torch.nn.functional.binary_cross_entropy_with_logits(\n"
        "        logits, x, reduction='none').flatten(1).mean(1))\n"
        "    device = device or _model_device(model)\n    was_training"),
       doc="evaluate's default loss is the mean over dimensions, not probability.nll"),
    _m("evaluate_returns_tensor", "5a", (),
       ("training.py", "    model.train(was_training)\n    return total / len(data)",
        "    model.train(was_training)\n    return torch.tensor(total / len(data))"),
       doc="evaluate returns a tensor (documented: a Python float)"),
    _m("train_sgd", "5b", ("5c",),
       ("training.py", "torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.SGD(model.parameters(), lr=lr)"),
       doc="SGD instead of Adam"),
    _m("train_one_step_short", "5b", ("5c",),
       ("training.py", "    while len(losses) < steps:", "    while len(losses) < steps - 1:"),
       doc="steps - 1 optimizer steps"),
    _m("train_losses_batch_sum", "5b", ("5c",),
       ("training.py", "        losses.append(loss.item())", "        losses.append(loss.item() * len(x))"),
       doc="returned losses are batch sums, not mean nats per example"),
    _m("train_losses_bits", "5b", ("5c",),
       ("training.py", "        losses.append(loss.item())",
        "        losses.append(loss.item() / math.log(2))"),
       ("training.py", "from typing import Callable\n", "import math\nfrom typing import Callable\n"),
       doc="returned losses in bits"),
    _m("train_no_shuffle", "5b", ("5c",),
       ("training.py", "torch.randperm(len(data), generator=generator)", "torch.arange(len(data))"),
       doc="batches in data order, never shuffled"),
    _m("train_shuffle_once", "5b", ("5c",),
       ("training.py", "    order = torch.empty(0, dtype=torch.long)\n",
        "    order = torch.empty(0, dtype=torch.long)\n"
        "    permutation = torch.randperm(len(data), generator=generator)\n"),
       ("training.py", "torch.cat([order, torch.randperm(len(data), generator=generator)])",
        "torch.cat([order, permutation])"),
       doc="one permutation reused for every pass"),
    _m("train_with_replacement", "5b", ("5c",),
       ("training.py", "        if len(order) < batch_size:\n"
                       "            order = torch.cat([order, torch.randperm(len(data), generator=generator)])\n"
                       "        batch, order = order[:batch_size], order[batch_size:]",
        "        batch = torch.randint(len(data), (batch_size,), generator=generator)"),
       doc="batches drawn with replacement, not from passes"),
    _m("train_global_rng", "5b", ("5c",),
       ("training.py", "torch.randperm(len(data), generator=generator)", "torch.randperm(len(data))"),
       doc="shuffles with the global RNG, not `generator`"),
    _m("train_ignores_batch_size", "5b", ("5c",),
       ("training.py", "        batch, order = order[:batch_size], order[batch_size:]",
        "        batch, order = order[:64], order[64:]"),
       doc="always batches of 64"),
    _m("train_ignores_lr", "5b", ("5c",),
       ("training.py", "torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.Adam(model.parameters())"),
       doc="Adam's default lr (1e-3) instead of `lr`"),
    _m("train_eval_mode", "5b", ("5c",),
       ("training.py", "    model.train()\n    losses: list[float] = []", "    model.eval()\n    losses: list[float] = []"),
       doc="trains in eval mode"),
    _m("train_no_callback", "5b", ("5c",),
       ("training.py", "        if callback is not None:\n            callback(len(losses), losses[-1])\n", ""),
       doc="callback never called"),
    _m("train_ignores_loss_fn", "5b", ("5c",),
       ("training.py", "    loss_fn = loss_fn or _default_loss()\n    device = device or _model_device(model)\n"
                       "    optimizer",
        "    loss_fn = _default_loss()\n    device = device or _model_device(model)\n    optimizer"),
       doc="always probability.nll, whatever loss_fn is given"),
]

# A few mutants for the fast (CI) subset: one per module, the classic ones.
FAST = ("nll_mean_over_dims", "bits_log10", "output_mask_nonstrict", "mask_applied_once_at_init",
        "pixelcnn_first_layer_type_B", "conv_mask_B_zeroes_centre_row", "pixels_column_major",
        "train_no_optimizer_step")


def apply(files: dict, patches) -> dict:
    """files: name -> source text (a copy of reference/). Returns the patched copy."""
    out = dict(files)
    for name, old, new in patches:
        count = out[name].count(old)
        if count != 1:
            raise AssertionError(f"patch for {name} expects its snippet exactly once in "
                                 f"reference/{name}, found {count} times:\n{old}")
        out[name] = out[name].replace(old, new)
    return out
