"""Part 3 (public): causal convolution masks, MaskedConv2d and PixelCNN's receptive field."""
import numpy as np
import pytest

from grader.trusted.properties import check_pixelcnn_model


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_causal_conv_mask(submission, expected, check, kernel_size):
    for mask_type in ("A", "B"):
        got = submission.call("pixelcnn.causal_conv_mask", kernel_size, mask_type)
        want = expected.call("pixelcnn.causal_conv_mask", kernel_size, mask_type)
        check.tensor(got, what=f"causal_conv_mask({kernel_size}, {mask_type!r})",
                     shape=(kernel_size, kernel_size), kind="float")
        check.equal(got, want, what=f"causal_conv_mask({kernel_size}, {mask_type!r})")


def test_masked_conv_applies_mask(submission, expected, check, rng):
    # The known mask is loaded too, so this part does not depend on causal_conv_mask (3a).
    mask = expected.call("pixelcnn.causal_conv_mask", 3, "B").array
    kwargs = dict(target="pixelcnn.MaskedConv2d", init_args=[2, 3, 3, "B"],
                  state={"weight": rng.normal(size=(3, 2, 3, 3)).astype(np.float32),
                         "bias": rng.normal(size=3).astype(np.float32), "mask": mask},
                  x=rng.normal(size=(2, 2, 5, 5)).astype(np.float32))
    got = submission.run("layer_forward", **kwargs)
    want = expected.run("layer_forward", **kwargs)
    check.close(got["first"], want["first"], atol=1e-5,
                what="MaskedConv2d(2, 3, 3, 'B') output (weights loaded after construction)")


def test_pixelcnn_receptive_field(submission, rng):
    arch = {"channels": 8, "num_layers": 2, "kernel_size": 5, "hidden_kernel_size": 3}
    check_pixelcnn_model(submission, arch, 6, 6, rng,
                         context="PixelCNN(8 channels, 2 type-B layers) on 6x6, eval mode")
