"""reference/visualize.py (given to students, issue 21): a PixelCNN's receptive field from
gradients and a MADE's connectivity from its masks, right for a correct model and showing the
leak of a broken one; the PNGs are written alone and from the training CLI."""
import subprocess
import sys

import torch

from reference import visualize
from reference.made import MADE
from reference.pixelcnn import PixelCNN, causal_conv_mask
from tests.test_train_cli import ROOT, train_cli


def raster_past(height, width, row, col):
    return torch.arange(height * width).reshape(height, width) < row * width + col


def test_a_correct_pixelcnn_sees_only_its_raster_past():
    torch.manual_seed(0)
    model = PixelCNN(channels=8, num_layers=2, kernel_size=5, hidden_kernel_size=3)
    for row, col in ((3, 4), (0, 3), (5, 0)):
        seen = visualize.receptive_field(model, row, col, height=6, width=7)
        assert not (seen & ~raster_past(6, 7, row, col)).any(), seen
        assert (col == 0 or seen[row, col - 1]) and (row == 0 or seen[row - 1, col]), seen
        assert not (visualize.receptive_field_codes(seen, row, col) == visualize.LEAK).any()


def test_a_type_B_first_layer_shows_the_pixel_itself_as_a_leak():
    torch.manual_seed(0)
    model = PixelCNN(channels=8, num_layers=1, kernel_size=5, hidden_kernel_size=3)
    model.input_conv.mask.copy_(causal_conv_mask(5, "B"))
    seen = visualize.receptive_field(model, 3, 3, height=6, width=6)
    codes = visualize.receptive_field_codes(seen, 3, 3)
    assert codes[3, 3] == visualize.LEAK and seen[3, 3]


def test_made_connectivity_is_strictly_lower_triangular_in_ordering_order():
    torch.manual_seed(0)
    ordering = torch.tensor([3, 0, 5, 1, 4, 2])
    model = MADE(6, [16, 16], ordering=ordering)
    assert torch.equal(visualize.made_connectivity(model), torch.tril(torch.ones(6, 6), -1).bool())
    last = model.layers[-1]
    last.mask.copy_(torch.ones_like(last.mask))  # an output mask that lets every unit through
    assert visualize.made_connectivity(model).diagonal().any()


def test_pngs_alone_and_from_the_training_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "reference.visualize", "--model", "pixelcnn",
                           "--channels", "8", "--layers", "1", "--pixel", "2,3", "--out",
                           str(tmp_path / "alone")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "alone" / "receptive_field.png").stat().st_size > 0
    proc = train_cli("--model", "made", "--steps", 2, "--subset", 200, "--hidden", "32",
                     "--eval-limit", 50, "--num-samples", 4, "--device", "cpu", "--visualize",
                     "--out", tmp_path / "run", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "run" / "connectivity.png").stat().st_size > 0
    checkpoint = subprocess.run([sys.executable, "-m", "reference.visualize", "--model", "made",
                                 "--hidden", "32", "--checkpoint", str(tmp_path / "run" / "model.pt"),
                                 "--out", str(tmp_path / "ckpt")], cwd=ROOT, capture_output=True,
                                text=True, timeout=600)
    assert checkpoint.returncode == 0, checkpoint.stderr
    assert (tmp_path / "ckpt" / "connectivity.png").stat().st_size > 0
