"""The given model skeletons as the judge knows them (numpy only): parameter names and shapes,
and their forward pass, so the judge can check that the outputs a worker returns are what the
model's own layers compute.

A worker returns, beside a model's outputs, each layer's effective parameters (`weight` as the
layer exposes it, `bias`, `mask`). Outputs that match this forward of those parameters, with
masks that make the model autoregressive, are outputs a correct implementation produces: a
worker that returns anything else (forged values, a model that does something besides its
layers) fails the check that uses them.
"""
import numpy as np


def made_shapes(arch: dict) -> dict:
    sizes = [arch["num_inputs"], *arch["hidden_sizes"], arch["num_inputs"]]
    shapes = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"layers.{i}.weight"], shapes[f"layers.{i}.bias"] = (n_out, n_in), (n_out,)
    return shapes


def pixelcnn_shapes(arch: dict) -> dict:
    channels, hidden = arch["channels"], arch["hidden_kernel_size"]
    shapes = {"input_conv.weight": (channels, 1, arch["kernel_size"], arch["kernel_size"]),
              "input_conv.bias": (channels,)}
    for i in range(arch["num_layers"]):
        shapes[f"hidden.{i}.weight"] = (channels, channels, hidden, hidden)
        shapes[f"hidden.{i}.bias"] = (channels,)
    shapes.update({"head.weight": (channels, channels, 1, 1), "head.bias": (channels,),
                   "output.weight": (1, channels, 1, 1), "output.bias": (1,)})
    return shapes


def transformer_shapes(arch: dict) -> dict:
    """attention.PixelTransformer's parameters (part 6): the judge loads known values into
    every one and compares the outputs with the reference's (no numpy forward needed)."""
    dim, inputs = arch["dim"], arch["num_inputs"]
    wide = arch.get("mlp_ratio", 4) * dim
    shapes = {"token.weight": (3, dim), "position.weight": (inputs, dim)}
    for i in range(arch["num_layers"]):
        block = f"blocks.{i}"
        shapes.update({f"{block}.norm1.weight": (dim,), f"{block}.norm1.bias": (dim,),
                       f"{block}.attn.qkv.weight": (3 * dim, dim),
                       f"{block}.attn.qkv.bias": (3 * dim,),
                       f"{block}.attn.proj.weight": (dim, dim), f"{block}.attn.proj.bias": (dim,),
                       f"{block}.norm2.weight": (dim,), f"{block}.norm2.bias": (dim,),
                       f"{block}.mlp.0.weight": (wide, dim), f"{block}.mlp.0.bias": (wide,),
                       f"{block}.mlp.2.weight": (dim, wide), f"{block}.mlp.2.bias": (dim,)})
    shapes.update({"norm.weight": (dim,), "norm.bias": (dim,), "head.weight": (1, dim),
                   "head.bias": (1,)})
    return shapes


SHAPES = {"made": made_shapes, "pixelcnn": pixelcnn_shapes, "transformer": transformer_shapes}


def random_state(model: str, arch: dict, rng, *, positive: bool = False, scale: float = 1.0):
    """Weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2), float64. `positive`: |w| and |b| + 0.1,
    so that with non-negative inputs every ReLU is active and a perturbation of an input
    changes an output exactly when a path of nonzero (unmasked) weights connects them."""
    state = {}
    for name, shape in SHAPES[model](arch).items():
        if "norm" in name and name.endswith("weight"):  # LayerNorm gains: about 1
            value = 1.0 + 0.1 * rng.normal(size=shape)
        elif name.endswith("weight"):
            value = rng.normal(size=shape) / np.sqrt(np.prod(shape[1:]))
        else:
            value = rng.normal(size=shape) * 0.1
        if positive:
            value = np.abs(value) + (0.1 if name.endswith("bias") else 0.0)
        state[name] = value * scale
    return state


def _effective(layers: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    weight = layers[f"{name}.weight"]
    mask = layers.get(f"{name}.mask")
    return (weight if mask is None else weight * mask), layers[f"{name}.bias"]


def _relu(x):
    return np.maximum(x, 0.0)


def made_forward(layers: dict, x: np.ndarray, arch: dict) -> np.ndarray:
    depth = len(arch["hidden_sizes"]) + 1
    h = x
    for i in range(depth):
        weight, bias = _effective(layers, f"layers.{i}")
        h = h @ weight.T + bias
        h = _relu(h) if i < depth - 1 else h
    return h


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """'same'-padded 2-D convolution (cross-correlation, as torch): (B, C, H, W) -> (B, O, H, W)."""
    k = weight.shape[-1]
    padded = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))
    b, c, h, w = x.shape
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(b * h * w, c * k * k)
    out = columns @ weight.reshape(weight.shape[0], -1).T + bias
    return out.reshape(b, h, w, -1).transpose(0, 3, 1, 2)


def pixelcnn_forward(layers: dict, x: np.ndarray, arch: dict) -> np.ndarray:
    h = _relu(conv2d(2 * x - 1, *_effective(layers, "input_conv")))
    for i in range(arch["num_layers"]):
        h = _relu(conv2d(h, *_effective(layers, f"hidden.{i}")))
    h = _relu(conv2d(h, *_effective(layers, "head")))
    return conv2d(h, *_effective(layers, "output"))


FORWARD = {"made": made_forward, "pixelcnn": pixelcnn_forward}


def state_problems(layers: dict, state: dict) -> str | None:
    """Why `layers` do not hold the weights of `state` (each compared through its mask)."""
    for name, value in state.items():
        if not name.endswith((".weight", ".bias")):
            continue
        mask = layers.get(name.replace(".weight", ".mask")) if name.endswith(".weight") else None
        got = layers[name] * mask if mask is not None else layers[name]
        want = value * mask if mask is not None else value
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-9, atol=1e-12):
            return (f"`{name}` does not hold the value loaded into it: load_state_dict and "
                    f"copies into `{name}` must reach the tensor forward uses")
    return None


def layer_problems(model: str, arch: dict, layers) -> str | None:
    """Why `layers` (as returned by a worker) cannot be the given skeleton's, or None."""
    if type(layers) is not dict:
        return "the model's layers could not be read"
    for name, shape in SHAPES[model](arch).items():
        value = layers.get(name)
        if not isinstance(value, np.ndarray) or value.shape != tuple(shape):
            return (f"`{name}` is missing or has the wrong shape: keep the module and "
                    f"parameter names of the starter code")
        mask = layers.get(name.replace(".weight", ".mask"))
        if name.endswith(".weight") and mask is not None and (
                not isinstance(mask, np.ndarray) or mask.shape[-2:] != tuple(shape)[-2:]):
            return f"the mask of `{name}` does not fit its weight"
        if not np.all(np.isfinite(value)):
            return f"`{name}` holds nan or inf"
    return None
