"""Alternative-correct implementations: correct code written differently from reference/.
Each must score 40/40; a variant that loses points is a grader bug (see docs/MEASUREMENTS.md).
Same patch format as mutants (old snippets must occur exactly once in reference/)."""
from .mutants import Mutant

_GATHER = "    return (p * torch.log(ratio)).sum(dim=-1)"


_PARAM = '\nclass _MaskedWeight(nn.Module):\n    """weight -> weight * mask, the mask read from the owning layer at every call."""\n\n    def __init__(self, owner):\n        super().__init__()\n        self.owner = [owner]  # a list: not a submodule (no cycle in the module tree)\n\n    def forward(self, weight):\n        return weight * self.owner[0].mask\n'


def _v(name, *patches, doc=""):
    return Mutant(name, "", (), tuple(patches), doc)


VARIANTS = [
    _v("cycle_or_linspace_degrees",
       ("made.py", "            span = max(num_inputs - 1, 1)\n"
                   "            hidden = (1 + torch.arange(size) * span // size if size >= span\n"
                   "                      else 1 + torch.arange(size) * (span - 1) // max(size - 1, 1))",
        "            span = max(num_inputs - 1, 1)\n"
        "            if size >= span:  # every degree, equally often: cycle through 1..D-1\n"
        "                hidden = 1 + torch.arange(size) % span\n"
        "            else:  # too few units: spread from 1 to D-1, both ends included\n"
        "                hidden = torch.linspace(1, span, size).round().long()"),
       doc="deterministic degrees: a cycle in wide layers, rounded linspace(1, D-1) in narrow "
           "ones"),
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
    _v("train_loop_kernels_and_kept_gradients",
       ("training.py", "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n",
        "    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)\n"),
       ("training.py", "        optimizer.zero_grad()\n        loss.backward()\n",
        "        optimizer.zero_grad(set_to_none=False)\n        loss.backward()\n"),
       doc="Adam's per-parameter loop (foreach=False), gradients zeroed in place (the "
           "contract's constant lr: a warm-up is the mutant train_lr_warmup)"),
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

# Issue 11: correct styles the audit lacked.
VARIANTS += [
    _v("masks_through_parametrize",
       ("made.py", "import torch.nn.functional as F\n",
        "import torch.nn.functional as F\nfrom torch.nn.utils import parametrize\n" + _PARAM),
       ("made.py", '        self.register_buffer("mask", mask.float().clone())\n',
        '        self.register_buffer("mask", mask.float().clone())\n'
        '        parametrize.register_parametrization(self, "weight", _MaskedWeight(self))\n'),
       ("made.py", "return F.linear(x, self.weight * self.mask, self.bias)",
        "return F.linear(x, self.weight, self.bias)  # weight is parametrized: masked"),
       ("pixelcnn.py", "import torch.nn.functional as F\n",
        "import torch.nn.functional as F\nfrom torch.nn.utils import parametrize\n" + _PARAM),
       ("pixelcnn.py", '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())\n',
        '        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())\n'
        '        parametrize.register_parametrization(self, "weight", _MaskedWeight(self))\n'),
       ("pixelcnn.py", "return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)",
        "return F.conv2d(x, self.weight, self.bias, padding=self.padding)"),
       doc="masks applied by torch.nn.utils.parametrize (weight is the masked weight)"),
    _v("masks_built_with_numpy",
       ("made.py", "    masks = [(upper[:, None] >= lower[None, :]).float()\n"
                   "             for lower, upper in zip(degrees[:-1], degrees[1:])]\n"
                   "    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())",
        "    import numpy as np\n"
        "    d = [np.asarray(m) for m in degrees]\n"
        "    masks = [torch.from_numpy(np.greater_equal.outer(u, l).astype(np.float32))\n"
        "             for l, u in zip(d[:-1], d[1:])]\n"
        "    masks.append(torch.from_numpy(np.greater.outer(d[0], d[-1]).astype(np.float32)))"),
       ("pixelcnn.py", "    centre = kernel_size // 2\n"
                       "    mask = torch.ones(kernel_size, kernel_size)\n"
                       '    mask[centre, centre + (mask_type == "B"):] = 0\n'
                       "    mask[centre + 1:] = 0\n    return mask",
        "    import numpy as np\n"
        "    rows, cols = np.indices((kernel_size, kernel_size))\n"
        "    centre = kernel_size // 2\n"
        "    keep = (rows < centre) | ((rows == centre) & (cols <= centre if mask_type == 'B'\n"
        "                                                   else cols < centre))\n"
        "    return torch.from_numpy(keep.astype(np.float32))"),
       doc="MADE and causal masks computed in numpy (outer comparisons, np.indices)"),
    _v("kl_with_xlogy",
       ("probability.py", "    ratio = torch.where(p > 0, p / q, torch.ones_like(p))\n"
                          "    return (p * torch.log(ratio)).sum(dim=-1)",
        "    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=-1)"),
       ("probability.py", "    return nll_nats / (num_dims * math.log(2))",
        "    return nll_nats / num_dims / math.log(2)"),
       doc="KL with torch.xlogy (0 log 0 = 0, +inf where q = 0 < p); bits in two divisions"),
    _v("sampler_rand_less_than",
       ("sampling.py", "        x[:, i] = torch.bernoulli(probs, generator=generator)",
        "        x[:, i] = (torch.rand(n, generator=generator, device=x.device) < probs).to(x.dtype)"),
       ("sampling.py", "            x[:, 0, r, c] = torch.bernoulli(probs, generator=generator)",
        "            x[:, 0, r, c] = (torch.rand(n, generator=generator) < probs).to(x.dtype)"),
       doc="x_i = (uniform < p) instead of torch.bernoulli"),
    _v("train_dataloader_adamw",
       ("training.py", "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
                       "    model.train()\n    losses: list[float] = []\n"
                       "    order = torch.empty(0, dtype=torch.long)\n"
                       "    while len(losses) < steps:\n"
                       "        if len(order) < batch_size:\n"
                       "            order = torch.cat([order, torch.randperm(len(data), generator=generator)])\n"
                       "        batch, order = order[:batch_size], order[batch_size:]\n"
                       "        x = data[batch].to(device)\n",
        "    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)\n"
        "    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data),\n"
        "                                         batch_size=batch_size, shuffle=True,\n"
        "                                         generator=generator)\n"
        "    model.train()\n    losses: list[float] = []\n"
        "    batches = iter(())\n"
        "    while len(losses) < steps:\n"
        "        x = next(batches, None)\n"
        "        if x is None:  # a new pass: a fresh permutation\n"
        "            batches = (b[0] for b in loader)\n"
        "            continue\n"
        "        x = x.to(device)\n"),
       doc="a DataLoader (shuffle=True, the generator) over a TensorDataset; AdamW without "
           "weight decay"),
    _v("evaluate_inference_mode_and_split",
       ("training.py", "    total = 0.0\n    for start in range(0, len(data), batch_size):\n"
                       "        x = data[start:start + batch_size].to(device)\n"
                       "        total += loss_fn(model(x), x).sum().item()\n"
                       "    model.train(was_training)\n    return total / len(data)",
        "    with torch.inference_mode():\n"
        "        per_example = torch.cat([loss_fn(model(b.to(device)), b.to(device))\n"
        "                                 for b in data.split(batch_size)])\n"
        "    model.train(was_training)\n    return per_example.double().mean().item()"),
       doc="evaluate under torch.inference_mode over data.split(batch_size)"),
    _v("evaluate_even_chunks_dataloader",
       ("training.py", "    total = 0.0\n    for start in range(0, len(data), batch_size):\n"
                       "        x = data[start:start + batch_size].to(device)\n"
                       "        total += loss_fn(model(x), x).sum().item()\n",
        "    total, passes = 0.0, -(-len(data) // batch_size)\n"
        "    loader = torch.utils.data.DataLoader(data, batch_size=-(-len(data) // passes))\n"
        "    for x in loader:  # the fewest passes of at most batch_size, evenly filled\n"
        "        x = x.to(device)\n"
        "        total += loss_fn(model(x), x).sum().item()\n"),
       doc="evaluate in the fewest passes of at most batch_size examples, evenly filled "
           "(a DataLoader)"),
]

FAST = ("bool_masks_and_buffers", "inplace_weight_data_masking", "masks_via_tril_triu",
        "train_loop_kernels_and_kept_gradients", "masks_through_parametrize",
        "train_dataloader_adamw")

from .attention import ATTENTION_VARIANTS, FAST_VARIANTS as ATTENTION_FAST  # noqa: E402

VARIANTS += ATTENTION_VARIANTS
FAST += ATTENTION_FAST
