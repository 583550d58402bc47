"""The training CLI checks the student's loss functions before the first step (issue 21,
reference/preflight.py): a per-pixel NLL, a batch sum or a broken evaluate stops the run with
a message that names what was seen; the reference passes and the run prints a time estimate."""
import math
import shutil

import pytest
import torch
import torch.nn.functional as F

from reference import preflight
from reference.made import MADE
from reference.probability import bits_per_dim, nll
from reference.train import ESTIMATE_AFTER
from reference.training import evaluate
from tests.test_train_cli import ROOT, train_cli

IMAGES = (torch.rand(6, 1, 4, 5) < 0.5).float()


def per_pixel(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


@pytest.mark.parametrize("broken, seen", [
    (lambda l, x: per_pixel(l, x).sum(-1), "returned shape (6, 1, 4)"),
    (lambda l, x: per_pixel(l, x).flatten(1).mean(1), "the mean over dimensions, not the sum"),
    (lambda l, x: per_pixel(l, x).flatten(1).sum(1).sum().expand(len(x)), "summed over the batch"),
    (lambda l, x: -per_pixel(l, x).flatten(1).sum(1), "log p instead of -log p"),
    (lambda l, x: per_pixel(l, x).flatten(1).sum(1) / math.log(2), "in bits, not nats"),
])
def test_a_wrong_nll_is_named(broken, seen):
    with pytest.raises(preflight.LossCheckError, match=seen.replace("(", r"\(").replace(")", r"\)")):
        preflight.check_nll(broken, IMAGES)


def test_the_reference_passes_every_check():
    model = MADE(20, [16])
    preflight.check_losses(nll, bits_per_dim, evaluate, model, IMAGES.flatten(1), "cpu")


def test_bits_per_dim_and_evaluate_are_checked():
    with pytest.raises(preflight.LossCheckError, match="1 bit per dimension"):
        preflight.check_bits_per_dim(lambda n, d: n / d, 20)
    model = MADE(20, [16])

    def forgets_the_mode(model, data, loss_fn, **kwargs):
        model.eval()
        return loss_fn(model(data), data).mean().item()

    with pytest.raises(preflight.LossCheckError, match="back in the mode"):
        preflight.check_evaluate(forgets_the_mode, nll, model.train(), IMAGES.flatten(1), "cpu")
    with pytest.raises(preflight.LossCheckError, match="mean of probability.nll"):
        preflight.check_evaluate(lambda m, d, f, **k: 1.0, nll, model, IMAGES.flatten(1), "cpu")


def test_the_cli_refuses_a_per_pixel_nll_before_training(tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(ROOT / "reference", mine, ignore=shutil.ignore_patterns("__pycache__"))
    source = (mine / "probability.py").read_text()
    assert source.count(".flatten(start_dim=1).sum(dim=1)") == 1
    (mine / "probability.py").write_text(source.replace(".flatten(start_dim=1).sum(dim=1)",
                                                        ".sum(dim=-1)"))
    (tmp_path / "data").symlink_to(ROOT / "data")
    proc = train_cli("--model", "pixelcnn", "--steps", 3, "--subset", 64, "--batch-size", 16,
                     "--channels", 8, "--layers", 1, "--device", "cpu", "--out", tmp_path / "out",
                     package="mine", cwd=tmp_path, timeout=600)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "returned shape (8, 1, 28)" in proc.stderr and "Nothing was trained" in proc.stderr
    assert "epoch 1/" not in proc.stdout + proc.stderr  # no training step ran


def test_the_cli_estimates_the_time_after_the_first_steps(tmp_path):
    proc = train_cli("--model", "made", "--steps", 12, "--subset", 500, "--hidden", "32",
                     "--eval-limit", 100, "--num-samples", 4, "--device", "cpu", "--out", tmp_path,
                     timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"for 12 steps, from the first {ESTIMATE_AFTER}" in proc.stdout, proc.stdout
