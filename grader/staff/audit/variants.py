"""Alternative-correct implementations: correct code written differently from reference/.
Each must score 40/40; a variant that loses points is a grader bug (see docs/MEASUREMENTS.md).
Same patch format as mutants (old snippets must occur exactly once in reference/)."""
from .mutants import Mutant

_GATHER = "    return (p * torch.log(ratio)).sum(dim=-1)"


def _v(name, *patches, doc=""):
    return Mutant(name, "", (), tuple(patches), doc)


VARIANTS = [
    _v("linspace_rounded_degrees",
       ("made.py", "            span = max(num_inputs - 1, 1)\n"
                   "            hidden = (1 + torch.arange(size) * span // size if size >= span\n"
                   "                      else 1 + torch.arange(size) * (span - 1) // max(size - 1, 1))",
        "            top = max(num_inputs - 1, 1)\n"
        "            hidden = torch.linspace(1, top, size).round().long()"),
       doc="deterministic degrees as rounded linspace(1, D-1, H) (ends included) instead of "
           "integer division"),
    _v("bool_masks_and_buffers",
       ("made.py", "    masks = [(upper[:, None] >= lower[None, :]).float()",
        "    masks = [(upper[:, None] >= lower[None, :])"),
       ("made.py", "    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())",
        "    masks.append(degrees[0][:, None] > degrees[-1][None, :])"),
       ("made.py", '        self.register_buffer("mask", mask.float().clone())',
        '        self.register_buffer("mask", mask.bool().clone())'),
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "return F.linear(x, torch.where(self.mask, self.weight, torch.zeros_like(self.weight)), self.bias)"),
       ("pixelcnn.py", '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())',
        '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).bool().clone())'),
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "return F.conv2d(x, self.weight.masked_fill(~self.mask, 0.0), self.bias, padding=self.padding)"),
       doc="made_masks returns bool masks; layers keep bool buffers (causal_conv_mask keeps its "
           "documented float return type)"),
    _v("masks_as_frozen_parameters",
       ("made.py", '        self.register_buffer("mask", mask.float().clone())',
        "        self.mask = nn.Parameter(mask.float().clone(), requires_grad=False)"),
       ("pixelcnn.py", '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())',
        "        self.mask = nn.Parameter(causal_conv_mask(kernel_size, mask_type).float().clone(),\n"
        "                                 requires_grad=False)"),
       doc="masks are nn.Parameter(requires_grad=False) instead of buffers"),
    _v("masks_via_forward_pre_hooks",
       ("made.py", '        self.register_buffer("mask", mask.float().clone())',
        '        self.register_buffer("mask", mask.float().clone())\n'
        "        self.register_forward_pre_hook(lambda module, args: setattr(\n"
        "            module, '_masked_weight', module.weight * module.mask))"),
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "return F.linear(x, self._masked_weight, self.bias)"),
       ("pixelcnn.py", '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())',
        '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())\n'
        "        self.register_forward_pre_hook(lambda module, args: setattr(\n"
        "            module, '_masked_weight', module.weight * module.mask))"),
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "return F.conv2d(x, self._masked_weight, self.bias, padding=self.padding)"),
       doc="a forward pre-hook computes weight * mask before every call"),
    _v("inplace_weight_data_masking",
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "self.weight.data *= self.mask\n        return F.linear(x, self.weight, self.bias)"),
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "self.weight.data *= self.mask\n"
        "        return F.conv2d(x, self.weight, self.bias, padding=self.padding)"),
       doc="in-place weight.data *= mask on every call, then the raw (now masked) weight"),
    _v("nll_via_logsigmoid",
       ("probability.py", '    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")',
        "    return x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)"),
       ("probability.py", "    return -bernoulli_log_prob(logits, x).flatten(start_dim=1).sum(dim=1)",
        "    return -bernoulli_log_prob(logits, x).reshape(len(x), -1).sum(-1)"),
       doc="log-probabilities via logsigmoid, reshape instead of flatten"),
    _v("masks_via_tril_triu",
       ("pixelcnn.py", "    centre = kernel_size // 2\n"
                       "    mask = torch.ones(kernel_size, kernel_size)\n"
                       '    mask[centre, centre + (mask_type == "B"):] = 0\n'
                       "    mask[centre + 1:] = 0\n    return mask",
        "    k = kernel_size\n    centre = (k * k) // 2\n"
        "    raster = torch.tril(torch.ones(k * k, k * k), diagonal=0 if mask_type == 'B' else -1)\n"
        "    return raster[centre].reshape(k, k)"),
       ("made.py", "    masks = [(upper[:, None] >= lower[None, :]).float()\n"
                   "             for lower, upper in zip(degrees[:-1], degrees[1:])]\n"
                   "    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())",
        "    def lower_triangular(rows, cols, strict):\n"
        "        # rows x cols indicator of cols <= rows (< when strict), via triu on one-hot\n"
        "        size = int(max(rows.max(), cols.max())) + 1\n"
        "        table = torch.triu(torch.ones(size, size), diagonal=1 if strict else 0)\n"
        "        return table[cols][:, rows].T.contiguous()\n"
        "    masks = [lower_triangular(upper, lower, False)\n"
        "             for lower, upper in zip(degrees[:-1], degrees[1:])]\n"
        "    masks.append(lower_triangular(degrees[0], degrees[-1], True))"),
       doc="causal conv mask as a row of torch.tril over raster positions; MADE masks by "
           "indexing a torch.triu table"),
    _v("vectorised_uniform_sampler",
       ("sampling.py", "    x = torch.zeros(n, len(ordering), device=device)\n"
                       "    for i in ordering.tolist():\n"
                       "        probs = torch.sigmoid(logits_fn(x)[:, i])\n"
                       "        x[:, i] = torch.bernoulli(probs, generator=generator)",
        "    num = len(ordering)\n"
        "    uniforms = torch.rand(n, num, generator=generator).to(device)\n"
        "    x = torch.zeros(n, num, device=device)\n"
        "    for step, i in enumerate(ordering.tolist()):\n"
        "        x[:, i] = (uniforms[:, step] < torch.sigmoid(logits_fn(x)[:, i])).to(x.dtype)"),
       ("sampling.py", "    x = torch.zeros(n, 1, height, width, device=device)\n"
                       "    for r in range(height):\n        for c in range(width):\n"
                       "            probs = torch.sigmoid(logits_fn(x)[:, 0, r, c])\n"
                       "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)",
        "    x = torch.zeros(n, 1, height, width, device=device)\n"
        "    flat = x.view(n, height * width)\n"
        "    uniforms = torch.rand(n, height * width, generator=generator).to(device)\n"
        "    for index in range(height * width):\n"
        "        probs = torch.sigmoid(logits_fn(x).reshape(n, -1)[:, index])\n"
        "        flat[:, index] = (uniforms[:, index] < probs).to(x.dtype)"),
       doc="uniforms drawn up front and thresholded; pixels through a flat view"),
    _v("looped_sampler_per_variable_clone",
       ("sampling.py", "    x = torch.zeros(n, len(ordering), device=device)\n"
                       "    for i in ordering.tolist():\n"
                       "        probs = torch.sigmoid(logits_fn(x)[:, i])\n"
                       "        x[:, i] = torch.bernoulli(probs, generator=generator)",
        "    x = torch.zeros(n, len(ordering), device=device)\n"
        "    for k in range(len(ordering)):\n"
        "        i = int(ordering[k])\n"
        "        logits = logits_fn(x.clone())\n"
        "        column = torch.bernoulli(torch.sigmoid(logits[:, i]), generator=generator)\n"
        "        x = torch.cat([x[:, :i], column[:, None], x[:, i + 1:]], dim=1)"),
       doc="out-of-place canvas rebuilt each step"),
    _v("train_with_scheduler_and_clipping",
       ("training.py", "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n",
        "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
        "    scheduler = torch.optim.lr_scheduler.LambdaLR(\n"
        "        optimizer, lambda step: min(1.0, (step + 1) / 10))  # short warm-up\n"),
       ("training.py", "        loss.backward()\n        optimizer.step()\n",
        "        loss.backward()\n"
        "        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e4)\n"
        "        optimizer.step()\n        scheduler.step()\n"),
       doc="LR warm-up scheduler and gradient-norm clipping"),
    _v("evaluate_concatenates_per_example",
       ("training.py", "    total = 0.0\n    for start in range(0, len(data), batch_size):\n"
                       "        x = data[start:start + batch_size].to(device)\n"
                       "        total += loss_fn(model(x), x).sum().item()\n"
                       "    model.train(was_training)\n    return total / len(data)",
        "    values = []\n    for batch in torch.split(data, batch_size):\n"
        "        x = batch.to(device)\n        values.append(loss_fn(model(x), x).double().cpu())\n"
        "    model.train(was_training)\n    return float(torch.cat(values).mean())"),
       doc="per-example NLLs collected in a list, concatenated, averaged"),
]

FAST = ("bool_masks_and_buffers", "inplace_weight_data_masking", "masks_via_tril_triu",
        "train_with_scheduler_and_clipping")
