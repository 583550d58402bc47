"""The training command line, `python -m reference.train`, end to end on tiny settings."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def train_cli(*args, package="reference", timeout=120):
    return subprocess.run([sys.executable, "-m", f"{package}.train", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def ok_or_skip(proc):
    if proc.returncode == 3 and "not implemented" in proc.stderr:
        pytest.skip(f"reference incomplete: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("model_args", [
    ["--model", "made", "--steps", 20, "--subset", 500, "--hidden", "32,32", "--eval-limit", 200],
    ["--model", "pixelcnn", "--steps", 3, "--subset", 64, "--batch-size", 16, "--channels", 8,
     "--layers", 1, "--eval-limit", 32],
], ids=["made", "pixelcnn"])
def test_trains_and_writes_outputs(tmp_path, model_args):
    proc = train_cli(*model_args, "--num-samples", 4, "--device", "cpu", "--out", tmp_path)
    ok_or_skip(proc)
    assert "test NLL" in proc.stdout and "bits/dim" in proc.stdout
    for name in ("samples.png", "loss.png", "metrics.json", "model.pt"):
        assert (tmp_path / name).stat().st_size > 0, name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == model_args[3]
    assert abs(metrics["test_bits_per_dim"] - metrics["test_nll_nats"] / (784 * 0.6931471805599453)) < 1e-6
    assert 0 < metrics["test_nll_nats"] < 784 * 0.6932 * 1.5


def one_line_error(proc):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines and "error" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    return lines


def test_missing_data_file(tmp_path):
    lines = one_line_error(train_cli("--model", "made", "--data", tmp_path / "nope.npz", "--out", tmp_path))
    assert len(lines) == 1 and "make_binarized_mnist.py" in lines[0]


def run_main(capsys, *args):
    """The CLI in this process (fast): returns (exit status, stderr lines)."""
    from reference.train import main

    try:
        status = main([str(a) for a in args])
    except SystemExit as e:  # argparse errors
        status = e.code
    return status, capsys.readouterr().err.strip().splitlines()


def test_unknown_model(tmp_path, capsys):
    status, lines = run_main(capsys, "--model", "transformer", "--out", tmp_path)
    assert status != 0 and "invalid choice" in lines[-1]


def test_bad_device(tmp_path, capsys):
    device = "tpu" if torch.cuda.is_available() else "cuda"
    status, lines = run_main(capsys, "--model", "made", "--device", device, "--out", tmp_path)
    assert status != 0 and len(lines) == 1 and device in lines[0]


@pytest.mark.parametrize("args", [["--steps", 0], ["--hidden", "500,x"], ["--lr", "-1"],
                                  ["--steps", 5, "--epochs", 2]])
def test_bad_numbers(tmp_path, capsys, args):
    status, lines = run_main(capsys, "--model", "made", *args, "--out", tmp_path)
    assert status != 0 and "error" in lines[-1]


def test_runs_as_starter_train():
    if not (ROOT / "starter" / "train.py").exists():
        pytest.skip("starter/ not generated yet")
    proc = train_cli("--help", package="starter")
    assert proc.returncode == 0, proc.stderr
    assert "--model" in proc.stdout
