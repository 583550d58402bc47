"""Part 3 (hidden): other kernel sizes, masks applied on every call, train mode, after an
optimizer step, batch independence and known weights."""
import numpy as np

from grader.trusted import skeleton
from grader.trusted.properties import check_pixelcnn_model


def test_causal_conv_mask_sizes(submission, expected, check, rng):
    for kernel_size in (1, 7, int(rng.choice([9, 11]))):
        for mask_type in ("A", "B"):
            got = submission.call("pixelcnn.causal_conv_mask", kernel_size, mask_type)
            want = expected.call("pixelcnn.causal_conv_mask", kernel_size, mask_type)
            check.tensor(got, what=f"causal_conv_mask({kernel_size}, {mask_type!r})",
                         shape=(kernel_size, kernel_size), kind="float")
            check.equal(got, want, what=f"causal_conv_mask({kernel_size}, {mask_type!r})")


def test_masked_conv_every_call(submission, expected, check, rng):
    kernel = int(rng.choice([3, 5]))
    mask, new_mask = (rng.random((2, kernel, kernel)) < 0.5).astype(np.float32)
    kwargs = dict(target="pixelcnn.MaskedConv2d", init_args=[3, 4, kernel, "A"],
                  state={"weight": rng.normal(size=(4, 3, kernel, kernel)).astype(np.float32),
                         "bias": rng.normal(size=4).astype(np.float32), "mask": mask},
                  x=rng.normal(size=(2, 3, 6, 7)).astype(np.float32), new_mask=new_mask)
    for mode in ("train", "eval"):  # the layer's forward sees both modes in a model
        got = submission.run("layer_forward", mode=mode, **kwargs)
        want = expected.run("layer_forward", mode=mode, **kwargs)
        check.close(got["first"], want["first"], atol=1e-5,
                    what=f"MaskedConv2d(3, 4, {kernel}, 'A') output with a given mask in "
                         f"{mode} mode")
        check.close(got["second"], want["second"], atol=1e-5,
                    what=f"MaskedConv2d output in {mode} mode after its mask buffer changed "
                         f"(apply the mask on every call, not once)")


def test_pixelcnn_train_mode_and_after_step(submission, check, rng):
    arch = {"channels": int(rng.integers(6, 12)), "num_layers": int(rng.integers(2, 4)),
            "kernel_size": 7, "hidden_kernel_size": 3}
    height, width = int(rng.integers(5, 8)), int(rng.integers(5, 8))
    for mode, step in (("train", False), ("train", True), ("eval", True)):
        check_pixelcnn_model(submission, arch, height, width, rng, mode=mode, step=step,
                             context=f"PixelCNN on {height}x{width}, {mode} mode"
                                     + (", after an optimizer step" if step else ""))


def test_pixelcnn_known_weights_likelihood(submission, expected, check, rng):
    arch = {"channels": 4, "num_layers": 2, "kernel_size": 7, "hidden_kernel_size": 3}
    state = skeleton.random_state("pixelcnn", arch, rng)
    x = (rng.random((3, 1, 6, 5)) < 0.5).astype(np.float64)
    kwargs = dict(model="pixelcnn", arch=arch, state=state, queries=[x])
    got = submission.run("model_outputs", **kwargs)
    want = expected.run("model_outputs", **kwargs)
    check.that(type(got) is dict and type(got.get("outputs")) is list and len(got["outputs"]) == 1,
               "PixelCNN's outputs could not be read")
    check.close(got["outputs"][0], want["outputs"][0], atol=1e-10, rtol=1e-9,
                what="PixelCNN logits with known weights loaded (its own masks)")


# The given signature's defaults: PixelCNN() is the network the problem set documents.
DEFAULT_ARCH = {"channels": 64, "num_layers": 5, "kernel_size": 7, "hidden_kernel_size": 3}


def test_pixelcnn_default_architecture(submission, check):
    """PixelCNN() with no arguments keeps the given defaults (every layer's shape, judged
    against the skeleton's): the given code is not the student's to retune."""
    got = submission.run("model_outputs", model="pixelcnn", arch={}, queries=[])
    check.that(type(got) is dict and type(got.get("layers")) is dict,
               "PixelCNN()'s layers could not be read")
    shapes = {name: tuple(value.shape) for name, value in got["layers"].items()
              if not name.endswith(".mask") and hasattr(value, "shape")}
    check.that(shapes == skeleton.pixelcnn_shapes(DEFAULT_ARCH),
               f"PixelCNN() must build the given default network {DEFAULT_ARCH} (keep the "
               f"defaults of the given signature)")
