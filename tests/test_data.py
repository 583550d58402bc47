"""The committed binarized MNIST file and its loader (reference/data.py)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reference import data

ROOT = Path(__file__).resolve().parents[1]
NPZ = ROOT / "data" / "binarized_mnist.npz"
SIZES = {"train": 50000, "valid": 10000, "test": 10000}


def _maker():
    spec = importlib.util.spec_from_file_location("make_binarized_mnist", ROOT / "data" / "make_binarized_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_folder_is_small():
    assert NPZ.exists()
    total = sum(p.stat().st_size for p in (ROOT / "data").rglob("*") if p.is_file())
    assert total <= 10 * 2**20, f"data/ is {total / 2**20:.1f} MiB"


def test_checksum_matches_the_recorded_one():
    maker = _maker()
    assert maker.check(NPZ) == maker.EXPECTED_SHA256


def test_check_rejects_other_bits(tmp_path):
    maker = _maker()
    splits = maker.load(NPZ)
    splits["test"] = splits["test"].copy()
    splits["test"][0, 0] ^= 1
    maker.save(splits, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="SHA-256"):
        maker.check(tmp_path / "x.npz")


def test_splits_numpy():
    for split, n in SIZES.items():
        bits = data.load_binarized_mnist_numpy(split)
        assert bits.shape == (n, 784) and bits.dtype == np.uint8
        assert set(np.unique(bits)) == {0, 1}
        assert 0.1 < bits.mean() < 0.16  # MNIST: about 13% of the pixels are on


def test_binarization_is_one_bernoulli_draw_of_the_raw_intensity():
    maker = _maker()
    if not (maker.DEFAULT_RAW / maker.RAW_FILES["test"]).exists():
        pytest.skip(f"raw MNIST not at {maker.DEFAULT_RAW}")
    raw = maker.read_idx_images(maker.DEFAULT_RAW / maker.RAW_FILES["test"])
    bits = data.load_binarized_mnist_numpy("test")
    assert not bits[raw == 0].any() and bits[raw == 255].all()
    grey = (raw > 100) & (raw < 155)  # p in (0.39, 0.61): a threshold would give all 0 or all 1
    assert 0.4 < bits[grey].mean() < 0.6
    assert abs(bits.mean() - raw.mean() / 255) < 0.002


def test_torch_loader_shapes_and_values():
    x = data.load_binarized_mnist("test", limit=7)
    assert x.shape == (7, 784) and x.dtype == torch.float32
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    img = data.load_binarized_mnist("test", image_shape=True, limit=7)
    assert img.shape == (7, 1, 28, 28) and img.dtype == torch.float32
    assert torch.equal(img.reshape(7, 784), x)
    assert data.load_binarized_mnist("valid").shape == (10000, 784)


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split"):
        data.load_binarized_mnist("training")


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load_binarized_mnist("train", path=tmp_path / "missing.npz")
    message = str(info.value)
    assert "\n" not in message and "make_binarized_mnist.py" in message


def test_check_command_line():
    proc = subprocess.run([sys.executable, str(ROOT / "data" / "make_binarized_mnist.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK")
