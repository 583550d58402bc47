"""Part 6 (extra credit) in the audit: the classic mistakes of masked self-attention as
mutants, and correct implementations written differently as variants (full marks: 40 + 5).

Part 6b is graded with a known-good causal_attention_mask in place of the student's, so a
mask mistake (6a) costs 6a and the transformer as a whole (6c), never 6b; a mistake in the
attention layer (6b) costs 6b and 6c. Same patch format as mutants.py."""
from .mutants import Mutant, _m

FILE = "attention.py"
MASK = "    return rows[None, :] <= rows[:, None]\n"
SCORES = "        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, T)\n"
FILL = ("        scores = torch.where(mask, scores, torch.tensor(float(\"-inf\"), "
        "dtype=scores.dtype,\n"
        "                                                        device=scores.device))\n")
SOFTMAX = "        weights = scores.softmax(dim=-1)  # over the keys\n"
SPLIT = "t.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)"
MERGE = "        out = (weights @ v).transpose(1, 2).reshape(batch, length, self.dim)\n"
NEG_INF = 'torch.tensor(float("-inf"), dtype=scores.dtype,\n' \
          '                                                        device=scores.device)'
WHOLE = ("6c",)


def _a(name, part, pairs, doc):
    related = () if part == "6c" else WHOLE
    return _m(name, part, related, *((FILE, old, new) for old, new in pairs), doc=doc)


ATTENTION_MUTANTS = [
    # ---------------------------------------------------------------- 6a: the mask
    _a("attn_mask_excludes_diagonal", "6a",
       [(MASK, "    return rows[None, :] < rows[:, None]\n")],
       "off-by-one: j < i (a query never sees its own key; query 0 sees nothing: nan)"),
    _a("attn_mask_includes_next", "6a",
       [(MASK, "    return rows[None, :] <= rows[:, None] + 1\n")],
       "off-by-one: j <= i + 1 (each query sees the next key: the output sees its own input)"),
    _a("attn_mask_transposed", "6a",
       [(MASK, "    return rows[None, :] >= rows[:, None]\n")],
       "the upper triangle: queries attend to the future"),
    _a("attn_mask_float", "6a",
       [(MASK, "    return (rows[None, :] <= rows[:, None]).float()\n")],
       "a float 0/1 mask (documented: bool)"),
    # ---------------------------------------------------------------- 6b: the layer
    _a("attn_mask_after_softmax", "6b",
       [(FILL + SOFTMAX, "        weights = scores.softmax(dim=-1)\n"
                         "        weights = torch.where(mask, weights, torch.zeros_like(weights))\n")],
       "mask applied after the softmax (weights no longer sum to 1)"),
    _a("attn_mask_minus_1e4", "6b",
       [(NEG_INF, 'torch.tensor(-1e4, dtype=scores.dtype,\n'
                  '                                                        device=scores.device)')],
       "masked scores set to -1e4 instead of -inf: leaks when the scores are that large"),
    _a("attn_mask_first_head_only", "6b",
       [(FILL, "        scores[:, 0] = torch.where(mask, scores[:, 0], float(\"-inf\"))\n")],
       "mask not broadcast over heads: only head 0 is masked"),
    _a("attn_mask_first_example_only", "6b",
       [(FILL, "        scores[0] = torch.where(mask, scores[0], float(\"-inf\"))\n")],
       "mask not broadcast over the batch: only example 0 is masked"),
    _a("attn_softmax_over_queries", "6b",
       [(SOFTMAX, "        weights = scores.softmax(dim=-2)\n")],
       "softmax over the wrong axis (the queries)"),
    _a("attn_scale_by_head_dim", "6b",
       [(SCORES, "        scores = q @ k.transpose(-2, -1) / self.head_dim\n")],
       "scores scaled by 1/d instead of 1/sqrt(d)"),
    _a("attn_scale_by_model_dim", "6b",
       [(SCORES, "        scores = q @ k.transpose(-2, -1) / math.sqrt(self.dim)\n")],
       "scores scaled by 1/sqrt(model dim) instead of 1/sqrt(head dim)"),
    _a("attn_no_scale", "6b",
       [(SCORES, "        scores = q @ k.transpose(-2, -1)\n")],
       "scores not scaled"),
    _a("attn_heads_not_split", "6b",
       [(SPLIT, "t.reshape(batch, length, 1, self.dim).transpose(1, 2)")],
       "heads not split: one attention over the full width"),
    _a("attn_heads_merged_without_transpose", "6b",
       [(MERGE, "        out = (weights @ v).reshape(batch, length, self.dim)\n")],
       "heads merged by reshape without transposing back (positions and heads mixed)"),
    _a("attn_qkv_order", "6b",
       [("        q, k, v = self.qkv(x).split(", "        k, q, v = self.qkv(x).split(")],
       "qkv read as k, q, v (documented: q, k, v in that order)"),
    _a("attn_no_output_projection", "6b",
       [("        return self.proj(out)\n", "        return out\n")],
       "the heads' output is returned without proj"),
    # ---------------------------------------------------------------- 6c: given code
    _a("transformer_no_input_shift", "6c",
       [("        return torch.cat([start, x[:, :-1].long()], dim=1)  # shifted right by one\n",
         "        return x.long()\n")],
       "(given) no input shift: output i sees x_i itself"),
    _a("transformer_no_position_embedding", "6c",
       [("        h = self.token(self.tokens(x)) + self.position(positions)  # (B, D, dim)\n",
         "        h = self.token(self.tokens(x))\n")],
       "(given) positions not embedded"),
]


def _v(name, pairs, doc):
    return Mutant(name, "", (), tuple((FILE, old, new) for old, new in pairs), doc)


ATTENTION_VARIANTS = [
    _v("attn_sdpa_is_causal",
       [(SCORES + "        mask = causal_attention_mask(length, device=x.device)  # (T, T): "
                  "broadcast over B, H\n" + FILL + SOFTMAX
         + "        out = (weights @ v)", "        out = F.scaled_dot_product_attention(q, k, v, "
                                         "is_causal=True)")],
       "F.scaled_dot_product_attention(is_causal=True)"),
    _v("attn_bool_masked_fill_and_tril",
       [(FILL, '        scores = scores.masked_fill(~mask, float("-inf"))\n'),
        (MASK, "    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=device))\n")],
       "a boolean masked_fill; the mask from torch.tril"),
    _v("attn_tril_buffer",
       [("        self.proj = nn.Linear(dim, dim)\n",
         "        self.proj = nn.Linear(dim, dim)\n"
         "        self.register_buffer(\"causal\", causal_attention_mask(1024), persistent=False)\n"),
        ("        mask = causal_attention_mask(length, device=x.device)",
         "        mask = self.causal[:length, :length]"),
        (MASK, "    return torch.ones(T, T, device=device).tril().bool()\n")],
       "the mask built once in __init__ as a (non-persistent) buffer, sliced in forward"),
    _v("attn_einsum_additive_finfo",
       [(SCORES, "        scores = torch.einsum('bhqd,bhkd->bhqk', q, k) * self.head_dim ** -0.5\n"),
        (FILL, "        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)\n"),
        (MERGE, "        out = torch.einsum('bhqk,bhkd->bqhd', weights, v).reshape(batch, length, "
                "self.dim)\n")],
       "einsum, and the most negative finite number as the mask value (exactly zero weight)"),
]

FAST = ("attn_mask_minus_1e4", "attn_mask_includes_next", "transformer_no_input_shift")
FAST_VARIANTS = ("attn_sdpa_is_causal",)
