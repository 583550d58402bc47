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

from .contract import CONTRACT  # noqa: E402  (it builds on _m above)
from .context_mutants import CONTEXT_MUTANTS  # noqa: E402
from .attention import ATTENTION_MUTANTS, FAST as ATTENTION_FAST  # noqa: E402

MUTANTS += CONTRACT + CONTEXT_MUTANTS + ATTENTION_MUTANTS

# A few mutants for the fast (CI) subset: one per module, the classic ones.
FAST = ("nll_mean_over_dims", "bits_log10", "output_mask_nonstrict", "mask_applied_once_at_init",
        "pixelcnn_first_layer_type_B", "conv_mask_B_zeroes_centre_row", "pixels_column_major",
        "train_no_optimizer_step", "degrees_narrow_not_spanning", "degrees_generator_ignored",
        "sample_inverse_ordering", "train_losses_batch_sum", "train_no_shuffle",
        "evaluate_with_gradients") + ATTENTION_FAST


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
