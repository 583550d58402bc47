"""The cells of the context table (grader/staff/contexts.py): for each graded stub, each
parameter and each documented state, the value the graded tests use instead of the default
(one a wrong implementation cannot reproduce by accident), those tests (function names of
tests_public/ and tests_hidden/, as in the manifest) and the mutants (grader/staff/audit/)
that ignore or mishandle that context and must fail one of those tests."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    target: str
    context: str
    value: str
    tests: tuple
    mutants: tuple


def _cells(target, *rows):
    return [Cell(target, context, value, tuple(tests.split()), tuple(mutants.split()))
            for context, value, tests, mutants in rows]


# Documented states beyond the parameters: prose of the stubs' docstrings and of SPEC.
STATES = {
    "probability.kl_divergence": ("p = 0 terms", "q = 0 < p", "(..., K) batches"),
    "probability.bernoulli_log_prob": ("extreme logits, float32",),
    "probability.nll": ("(B, 1, H, W) images", "extreme logits, float32"),
    "probability.bits_per_dim": ("a float or a tensor",),
    "made.made_degrees": ("generator after earlier draws", "narrow hidden layers"),
    "made.MaskedLinear.forward": ("eval mode", "mask changed after construction",
                                 "non-square layer"),
    "pixelcnn.MaskedConv2d.forward": ("eval mode", "mask changed after construction"),
    "sampling.sample_autoregressive": ("generator after earlier draws",),
    "sampling.sample_pixels": ("generator after earlier draws",),
    "training.evaluate": ("model in train mode when called", "model in eval mode when called",
                          "gradient mode", "loss_fn not given", "loss_fn passed by name",
                          "batch_size not given"),
    "training.train": ("generator after earlier draws", "loss_fn not given",
                       "batch_size not given", "model in eval mode when called",
                       "optimizer: Adam, PyTorch defaults"),
    "attention.CausalSelfAttention.forward": ("scores of -3e4", "batch and heads > 1"),
}

# Contexts no test can vary on the grading machine, with the reason.
UNGRADABLE = {
    (target, "device"): "a device other than the CPU needs a GPU (none in CI); the "
                        "CUDA path runs only where a GPU is lent"
    for target in ("sampling.sample_autoregressive", "sampling.sample_pixels",
                   "training.evaluate", "training.train", "attention.causal_attention_mask")
}

CELLS = [
    *_cells("probability.kl_divergence",
            ("p", "random p with zeros, 3-D", "test_kl_divergence test_kl_divergence_random",
             "kl_reversed"),
            ("q", "random q, a row with q = 0", "test_kl_divergence test_kl_divergence_random",
             "kl_reversed kl_epsilon_instead_of_inf"),
            ("p = 0 terms", "zeros in p", "test_kl_divergence test_kl_divergence_random",
             "kl_no_zero_log_zero"),
            ("q = 0 < p", "+inf expected", "test_kl_divergence", "kl_epsilon_instead_of_inf"),
            ("(..., K) batches", "(3, 4, 6) inputs", "test_kl_divergence_random",
             "kl_over_first_dim")),
    *_cells("probability.bernoulli_log_prob",
            ("logits", "random logits", "test_bernoulli_log_prob",
             "bernoulli_returns_nll sigmoid_before_bce_with_logits"),
            ("x", "0s and 1s", "test_bernoulli_log_prob", "bernoulli_returns_nll"),
            ("extreme logits, float32", "|logits| in the hundreds, float32",
             "test_bernoulli_log_prob test_bernoulli_log_prob_extreme_logits",
             "bernoulli_sigmoid_then_log")),
    *_cells("probability.nll",
            ("logits", "random (B, D) logits", "test_nll_is_per_example_sum",
             "nll_mean_over_dims nll_summed_over_batch"),
            ("x", "random binary x", "test_nll_is_per_example_sum", "nll_mean_over_dims"),
            ("(B, 1, H, W) images", "random image sizes", "test_nll_image_batches",
             "nll_sums_last_dim_only"),
            ("extreme logits, float32", "|logits| in the hundreds, float32",
             "test_nll_image_batches", "nll_sigmoid_then_log")),
    *_cells("probability.bits_per_dim",
            ("nll_nats", "several NLLs", "test_bits_per_dim test_bits_per_dim_random",
             "bits_times_ln2 bits_log10"),
            ("num_dims", "random D in 10..999", "test_bits_per_dim_random",
             "bits_assumes_784 bits_missing_ln2"),
            ("a float or a tensor", "a Python float and an array", "test_bits_per_dim",
             "bits_tensor_for_a_float bits_mean_over_batch")),
    *_cells("made.made_degrees",
            ("ordering", "random orderings", "test_degrees_given_ordering "
             "test_degrees_random_orderings", "degrees_ignore_ordering degrees_zero_based"),
            ("hidden_sizes", "1-3 layers of 1 to 200 units", "test_degrees_random_orderings",
             "degrees_unconnected degrees_hidden_include_zero"),
            ("generator", "ten seeds, one repeated", "test_degrees_with_generator",
             "degrees_generator_ignored degrees_generator_global_rng"),
            ("generator after earlier draws", "a seeded generator that made one draw",
             "test_degrees_with_generator", "degrees_generator_reseeded"),
            ("narrow hidden layers", "2-3 units", "test_degrees_random_orderings",
             "degrees_narrow_not_spanning degrees_cycle")),
    *_cells("made.made_masks",
            ("degrees", "docstring example, random degrees of 2 layers",
             "test_masks_docstring_example test_masks_random_degrees",
             "hidden_mask_strict output_mask_nonstrict masks_transposed")),
    *_cells("made.MaskedLinear.forward",
            ("x", "random inputs", "test_masked_linear_applies_mask", "mask_never_applied"),
            ("eval mode", "train and eval", "test_masked_linear_every_call",
             "masked_linear_mask_only_in_training"),
            ("mask changed after construction", "a second mask loaded",
             "test_masked_linear_every_call", "mask_applied_once_at_init"),
            ("non-square layer", "7 -> 5", "test_masked_linear_every_call",
             "masked_linear_mask_transposed_in_forward")),
    *_cells("pixelcnn.causal_conv_mask",
            ("kernel_size", "1, 3, 5, 7, 9 or 11", "test_causal_conv_mask "
             "test_causal_conv_mask_sizes", "conv_mask_rows_below_unmasked conv_mask_flipped"),
            ("mask_type", "'A' and 'B'", "test_causal_conv_mask test_causal_conv_mask_sizes",
             "conv_mask_types_swapped conv_mask_B_zeroes_centre_row")),
    *_cells("pixelcnn.MaskedConv2d.forward",
            ("x", "random inputs", "test_masked_conv_applies_mask",
             "masked_conv_never_applied masked_conv_no_padding"),
            ("eval mode", "train and eval", "test_masked_conv_every_call",
             "masked_conv_mask_only_in_training"),
            ("mask changed after construction", "a second mask loaded",
             "test_masked_conv_every_call", "masked_conv_applied_once_at_init")),
    *_cells("sampling.sample_autoregressive",
            ("logits_fn", "copy, alternate and logistic models",
             "test_sample_autoregressive_known_models test_sample_autoregressive_distribution",
             "sample_stale_canvas sample_argmax"),
            ("n", "20000 samples", "test_sample_autoregressive_distribution",
             "sample_shared_uniforms"),
            ("ordering", "random orderings, not their own inverse",
             "test_sample_autoregressive_respects_ordering",
             "sample_natural_order sample_inverse_ordering"),
            ("generator", "two seeds, one repeated", "test_sample_autoregressive_distribution",
             "sample_ignores_generator"),
            ("generator after earlier draws", "a seeded generator that made one draw",
             "test_sample_autoregressive_distribution", "sample_generator_reseeded")),
    *_cells("sampling.sample_pixels",
            ("logits_fn", "copy, alternate and logistic models",
             "test_sample_pixels_known_models test_sample_pixels_raster_order",
             "pixels_one_parallel_pass pixels_argmax"),
            ("n", "20000 images", "test_sample_pixels_distribution", "pixels_shared_uniforms"),
            ("height", "3x4 and 4x3", "test_sample_pixels_raster_order", "pixels_column_major"),
            ("width", "3x4 and 4x3", "test_sample_pixels_raster_order", "pixels_column_major"),
            ("generator", "two seeds, one repeated", "test_sample_pixels_distribution",
             "pixels_ignore_generator"),
            ("generator after earlier draws", "a seeded generator that made one draw",
             "test_sample_pixels_distribution", "pixels_generator_reseeded")),
    *_cells("training.evaluate",
            ("model", "a known model whose logits shift with its mode",
             "test_evaluate_mean_nll test_evaluate_uneven_batches", "evaluate_train_mode"),
            ("data", "a last batch of one example, the largest NLL last",
             "test_evaluate_uneven_batches", "evaluate_mean_of_batch_means"),
            ("loss_fn", "the NLL of halved logits (not the default's numbers)",
             "test_evaluate_uneven_batches", "evaluate_ignores_loss_fn"),
            ("batch_size", "30 to 89", "test_evaluate_uneven_batches", "evaluate_one_pass"),
            ("model in train mode when called", "ModeSensitive in train mode",
             "test_evaluate_uneven_batches", "evaluate_train_mode"),
            ("model in eval mode when called", "ModeSensitive in eval mode, left in eval mode",
             "test_evaluate_uneven_batches", "evaluate_always_back_to_train_mode"),
            ("gradient mode", "forward passes recorded with it", "test_evaluate_uneven_batches",
             "evaluate_with_gradients"),
            ("loss_fn not given", "probability.nll found by evaluate",
             "test_evaluate_uneven_batches", "evaluate_default_loss_mean"),
            ("loss_fn passed by name", "loss_fn= (MADE), by position (PixelCNN)",
             "test_evaluate_uneven_batches", "evaluate_loss_fn_positional_only"),
            ("batch_size not given", "511, 766 or 767 examples: the largest pass is 256",
             "test_evaluate_uneven_batches", "evaluate_default_batch_size")),
    *_cells("training.train",
            ("model", "known initial weights; parameters replayed exactly", "test_train_contract",
             "train_step_twice train_no_optimizer_step"),
            ("data", "a random subset, whole shuffled passes", "test_train_contract",
             "train_no_shuffle train_with_replacement"),
            ("loss_fn", "the NLL of halved logits (not the default's numbers)",
             "test_train_contract", "train_ignores_loss_fn"),
            ("steps", "8 (two passes), replayed exactly", "test_train_contract",
             "train_one_step_short train_extra_first_step"),
            ("batch_size", "16 or 32", "test_train_contract", "train_ignores_batch_size"),
            ("lr", "3e-3, replayed exactly", "test_train_contract", "train_ignores_lr"),
            ("generator", "two seeds, one repeated", "test_train_contract",
             "train_global_rng train_shuffle_once"),
            ("callback", "a recording callback", "test_train_contract", "train_no_callback"),
            ("generator after earlier draws", "a seeded generator that made one draw",
             "test_train_contract", "train_generator_reseeded"),
            ("loss_fn not given", "probability.nll found by train", "test_train_contract",
             "train_default_loss_mean"),
            ("batch_size not given", "the same two passes in batches of 64",
             "test_train_contract", "train_default_batch_size"),
            ("model in eval mode when called", "forward passes recorded with their mode",
             "test_train_contract", "train_eval_mode"),
            ("optimizer: Adam, PyTorch defaults", "parameters replayed to 1e-5; lr default 1e-3",
             "test_train_contract", "train_sgd train_adam_betas train_weight_decay "
             "train_lr_warmup train_no_zero_grad")),
    *_cells("attention.causal_attention_mask",
            ("T", "1 to 39", "test_causal_attention_mask test_causal_attention_mask_sizes",
             "attn_mask_transposed attn_mask_excludes_diagonal")),
    *_cells("attention.CausalSelfAttention.forward",
            ("x", "known and random weights, head_dim 2-5",
             "test_self_attention_known_weights test_self_attention_random_sizes",
             "attn_scale_by_head_dim attn_qkv_order"),
            ("scores of -3e4", "k = -q scaled", "test_self_attention_known_weights "
             "test_self_attention_large_scores", "attn_mask_minus_1e4"),
            ("batch and heads > 1", "batch >= 2, 2-4 heads", "test_self_attention_known_weights "
             "test_self_attention_random_sizes",
             "attn_mask_first_head_only attn_mask_first_example_only")),
]
