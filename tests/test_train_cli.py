"""The training command line, `python -m reference.train`, end to end on tiny settings, and the
given MADE recipe code in it (ordering, direct connection, K masks, checkpoints, Ctrl-C)."""
import itertools
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY_MADE = ["--model", "made", "--subset", 500, "--hidden", "32,32", "--eval-limit", 200]


def train_cli(*args, package="reference", timeout=120, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", f"{package}.train", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def ok_or_skip(proc):
    if proc.returncode == 3 and "not implemented" in proc.stderr:
        pytest.skip(f"reference incomplete: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def written_files(stdout: str) -> list[Path]:
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("wrote "), last
    return [Path(p) for p in last[len("wrote "):].split(", ")]


@pytest.mark.parametrize("model_args", [
    ["--model", "made", "--steps", 20, "--subset", 500, "--hidden", "32,32", "--eval-limit", 200],
    ["--model", "pixelcnn", "--steps", 3, "--subset", 64, "--batch-size", 16, "--channels", 8,
     "--layers", 1, "--eval-limit", 32],
    ["--model", "pixelcnn", "--steps", 2, "--subset", 64, "--batch-size", 16, "--channels", 8,
     "--layers", 1, "--eval-limit", 32, "--memory-format", "contiguous", "--precision", "fp32"],
    ["--model", "transformer", "--steps", 2, "--subset", 32, "--batch-size", 8, "--dim", 8,
     "--heads", 2, "--blocks", 1, "--eval-limit", 16],
], ids=["made", "pixelcnn", "pixelcnn-fp32-contiguous", "transformer"])
def test_trains_and_writes_outputs(tmp_path, model_args):
    proc = train_cli(*model_args, "--num-samples", 4, "--device", "cpu", "--out", tmp_path)
    ok_or_skip(proc)
    assert "test NLL" in proc.stdout and "bits/dim" in proc.stdout
    names = ("samples.png", "loss.png", "metrics.json", "model.pt", "checkpoint.pt")
    for name in names:
        assert (tmp_path / name).stat().st_size > 0, name
    assert sorted(p.name for p in written_files(proc.stdout)) == sorted(names)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == model_args[3]
    assert abs(metrics["test_bits_per_dim"] - metrics["test_nll_nats"] / (784 * 0.6931471805599453)) < 1e-6
    assert 0 < metrics["test_nll_nats"] < 784 * 0.6932 * 1.5
    assert metrics["cpu_seconds"]["train"] > 0
    # progress for everything that takes time, not only training (one line per refresh off a tty)
    for phase in ("epoch 1/", "validating epoch 1", "testing", "sampling"):
        assert phase in proc.stderr, phase
    assert "\r" not in proc.stderr
    if model_args[1] == "pixelcnn" and "--precision" in model_args:
        assert metrics["precision"] == "fp32"


def test_made_recipe_end_to_end(tmp_path):
    """--direct --num-masks: K masks cycled in training, averaged in validation and test; the
    best-validation weights are model.pt and load back into the same recipe."""
    from reference.train import build_model, parse_args

    args = [*TINY_MADE, "--steps", 12, "--batch-size", 100, "--direct", "--num-masks", 3,
            "--valid-masks", 2, "--num-samples", 4, "--device", "cpu", "--out", tmp_path]
    proc = train_cli(*args)
    ok_or_skip(proc)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_masks"] == 3 and "direct connection, 3 masks" in proc.stdout
    assert "average of 3 masks" in proc.stdout and "testing (3 masks)" in proc.stderr
    valid = metrics["valid_nll_nats"]
    assert metrics["best_epoch"] == 1 + valid.index(min(valid))
    model = build_model(parse_args([str(a) for a in args]))
    model.load_state_dict(torch.load(tmp_path / "model.pt"))
    ckpt = torch.load(tmp_path / "checkpoint.pt")
    assert ckpt["step"] == 12 and ckpt["epoch"] == 3 and not ckpt["interrupted"]
    assert ckpt["model"]["degrees_0"].shape == (3, 784) and "direct.weight" in ckpt["model"]


def test_cpu_budget_and_patience_stop_training(tmp_path):
    proc = train_cli(*TINY_MADE, "--steps", 100000, "--cpu-budget", 1, "--num-samples", 1,
                     "--device", "cpu", "--out", tmp_path / "budget")
    ok_or_skip(proc)
    metrics = json.loads((tmp_path / "budget" / "metrics.json").read_text())
    assert "budget" in metrics["stopped"] and metrics["steps"] < 100000
    proc = train_cli(*TINY_MADE, "--steps", 100000, "--patience", 1, "--lr", 1e-9, "--lr-decay", 0.5,
                     "--decays", 2, "--num-samples", 1, "--device", "cpu", "--out", tmp_path / "patience")
    ok_or_skip(proc)
    metrics = json.loads((tmp_path / "patience" / "metrics.json").read_text())
    assert "early stop" in metrics["stopped"] and metrics["steps"] < 100000
    assert [lr for _, lr in metrics["learning_rates"]] == pytest.approx([1e-9, 0.5e-9, 0.25e-9])
    assert proc.stdout.count("learning rate now") == 2


def test_ctrl_c_keeps_the_model(tmp_path):
    """SIGINT during training: checkpoint.pt (interrupted) and model.pt are written, the process
    exits 130 without a traceback and its last line lists the files."""
    cmd = [sys.executable, "-m", "reference.train",
           *map(str, [*TINY_MADE, "--steps", 1000000, "--device", "cpu", "--out", tmp_path])]
    stderr = open(tmp_path / "stderr.txt", "w+")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    lines = []
    deadline = time.monotonic() + 90
    try:
        for line in proc.stdout:  # wait until two epochs are done (a checkpoint exists)
            lines.append(line)
            if line.startswith("epoch 2:") or time.monotonic() > deadline:
                break
        assert any(l.startswith("epoch 2:") for l in lines), "".join(lines) + open(tmp_path / "stderr.txt").read()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines += out.splitlines(keepends=True)
    stderr.seek(0)
    err = stderr.read()
    if proc.returncode == 3 and "not implemented" in err:
        pytest.skip(err.strip())
    assert proc.returncode == 130, "".join(lines) + err
    assert "Traceback" not in err and "interrupted" in err
    names = {p.name for p in written_files("".join(lines))}
    assert {"checkpoint.pt", "model.pt", "loss.png"} <= names
    ckpt = torch.load(tmp_path / "checkpoint.pt")
    assert ckpt["interrupted"] and ckpt["step"] >= 2 * 5 and len(ckpt["valid_nll"]) >= 2
    assert not (tmp_path / "checkpoint.pt.tmp").exists()
    from reference.made import MADE

    MADE(784, [32, 32]).load_state_dict(torch.load(tmp_path / "model.pt"))  # a plain MADE


# ------------------------------------------------------------------ the recipe code, in-process

def recipe(num_inputs=8, hidden=(16, 16), num_masks=4, direct=True, ordering="random", seed=0):
    from reference.made import MADE
    from reference.train import MADERecipe, made_connectivities

    sets = made_connectivities(num_inputs, list(hidden), num_masks, ordering, "random", seed)
    made = MADE(num_inputs, list(hidden), ordering=torch.argsort(sets[0][0]))
    return MADERecipe(made, sets, direct=direct)


def test_default_ordering_is_seeded_random(capsys):
    from reference.train import build_model, parse_args

    made = lambda *a: build_model(parse_args(["--model", "made", "--hidden", "16", *a]))
    natural = made("--ordering", "natural").ordering
    assert torch.equal(natural, torch.arange(784))
    first, again, other = made().ordering, made().ordering, made("--seed", "1").ordering
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first, natural) and torch.equal(first.sort().values, natural)
    assert type(made()).__name__ == "MADE"  # one mask, no direct connection: the plain MADE


def test_made_connectivities_match_made_degrees():
    from reference.made import made_degrees
    from reference.train import made_connectivities

    sets = made_connectivities(10, [7, 5], 3, "random", "random", seed=4)
    gen = torch.Generator().manual_seed(4)
    for degrees in sets:
        order = torch.randperm(10, generator=gen)
        expected = made_degrees(order, [7, 5], gen)
        assert all(torch.equal(a, b) for a, b in zip(degrees, expected))
    assert not torch.equal(sets[0][0], sets[1][0])
    natural = made_connectivities(10, [7], 2, "natural", "deterministic", seed=0)
    assert torch.equal(natural[0][0], torch.arange(1, 11)) and torch.equal(natural[1][1], natural[0][1])


@pytest.mark.parametrize("direct", [False, True], ids=["no-direct", "direct"])
def test_recipe_is_autoregressive_for_every_mask(direct):
    model = recipe(num_inputs=9, hidden=(12, 10), num_masks=3, direct=direct).double()
    x = torch.rand(9, dtype=torch.float64)
    seen = set()
    for k in range(3):
        model.use_mask(k)
        degree = model.degrees_0[k]
        assert torch.equal(model.ordering, torch.argsort(degree))
        seen.add(tuple(model.ordering.tolist()))
        jac = torch.autograd.functional.jacobian(model, x[None])[0, :, 0]  # (out, in)
        allowed = degree[:, None] > degree[None, :]
        assert torch.all(jac[~allowed] == 0), f"mask {k}: an output depends on a later input"
        if direct:  # the direct connection alone reaches every earlier input
            assert torch.all(jac[allowed] != 0), f"mask {k}: an earlier input is unreachable"
    assert len(seen) == 3


def test_direct_connection_mask():
    from reference.train import direct_mask

    mask = direct_mask(torch.tensor([2, 3, 1]))
    assert torch.equal(mask, torch.tensor([[0., 0., 1.], [1., 0., 1.], [0., 0., 0.]]))


def test_mask_average_is_a_normalised_mixture():
    """-log((1/K) sum_k p_k(x)) by logsumexp: sums to 1 over all 2^D inputs, and equals the
    mixture computed by hand (not an average of logits)."""
    from reference.probability import nll
    from reference.train import per_example_nll

    torch.manual_seed(0)
    model = recipe(num_inputs=8, num_masks=4)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # sharper conditionals: a wrong average would be visibly off
    xs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8)))
    model.use_mask(2)
    mixture = per_example_nll(model, xs, "cpu", masks=4, desc="test")
    assert model.current == 2  # the current connectivity is restored after evaluating all K
    assert abs(torch.exp(-mixture.double()).sum().item() - 1) < 1e-4
    by_hand = []
    with torch.no_grad():
        for k in range(4):
            model.use_mask(k)
            by_hand.append(torch.exp(-nll(model(xs), xs).double()))
    assert torch.allclose(mixture.double(), -torch.log(torch.stack(by_hand).mean(0)), atol=1e-4)
    one = per_example_nll(model, xs, "cpu", masks=[1], desc="test")  # one chosen connectivity
    assert torch.allclose(one.double(), -torch.log(by_hand[1]), atol=1e-4)
    first = per_example_nll(model, xs, "cpu", masks=1, desc="test")  # the first, whatever is current
    assert torch.allclose(first.double(), -torch.log(by_hand[0]), atol=1e-4)


def test_recipe_state_dict_round_trip():
    a, b = recipe(seed=0), recipe(seed=1)
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 2, (5, 8)).float()
    for k in range(4):
        a.use_mask(k)
        b.use_mask(k)
        assert torch.equal(a(x), b(x)) and torch.equal(a.ordering, b.ordering)


def test_loss_plot_shows_the_whole_run(tmp_path):
    from reference.train import save_loss_plot

    losses = [540.0] + [500 * math.exp(-i / 50) + 85 for i in range(1000)]
    valid = [(250, 120.0), (500, 95.0), (1000, 88.0)]
    (x0, x1), (y0, y1) = save_loss_plot(tmp_path / "loss.png", losses, valid, "t", epoch_steps=250)
    assert x0 <= 1 and x1 >= len(losses)
    assert y0 <= min(losses) and y1 >= max(losses)
    assert (tmp_path / "loss.png").stat().st_size > 0


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
    status, lines = run_main(capsys, "--model", "vae", "--out", tmp_path)
    assert status != 0 and "invalid choice" in lines[-1]


def test_transformer_samples_are_those_of_whole_canvases():
    """The CLI's prefix trick (the k-th call runs the first k + 1 positions only) draws
    exactly the samples that whole canvases give with the same generator."""
    from reference.attention import PixelTransformer
    from reference.sampling import sample_autoregressive
    from reference.train import NUM_DIMS, transformer_samples

    torch.manual_seed(0)
    net = PixelTransformer(NUM_DIMS, dim=8, num_heads=2, num_layers=1).eval()
    with torch.no_grad():
        fast = transformer_samples(net, 3, "cpu", torch.Generator().manual_seed(5))
        whole = sample_autoregressive(net, 3, torch.arange(NUM_DIMS),
                                      generator=torch.Generator().manual_seed(5))
    assert torch.equal(fast.view(3, -1), whole) and 0 < whole.mean() < 1


def test_validation_progress_leaves_the_outputs_alone(monkeypatch):
    """mean_nll counts images with a forward hook; a bar that redraws on every batch (as one
    does every few seconds in a long validation) must not change what the model returns."""
    from tqdm import tqdm

    from reference import train
    from reference.made import MADE
    from reference.probability import nll

    monkeypatch.setattr(train, "progress", lambda total, desc, unit, leave=True: tqdm(
        total=total, mininterval=0, miniters=1, file=open(__import__("os").devnull, "w")))
    torch.manual_seed(0)
    model, data = MADE(6, [8]), (torch.rand(300, 6) < 0.5).float()
    with torch.no_grad():
        want = nll(model(data), data).mean().item()
    assert train.mean_nll(model, data, "cpu", 1, "validating") == pytest.approx(want, rel=1e-6)


def test_bad_device(tmp_path, capsys):
    device = "tpu" if torch.cuda.is_available() else "cuda"
    status, lines = run_main(capsys, "--model", "made", "--device", device, "--out", tmp_path)
    assert status != 0 and len(lines) == 1 and device in lines[0]


@pytest.mark.parametrize("args", [["--steps", 0], ["--hidden", "500,x"], ["--lr", "-1"],
                                  ["--steps", 5, "--epochs", 2], ["--num-masks", 0],
                                  ["--num-masks", 2, "--valid-masks", 3], ["--cpu-budget", 0],
                                  ["--ordering", "reverse"], ["--model", "pixelcnn", "--direct"],
                                  ["--model", "transformer", "--dim", 10, "--heads", 4],
                                  ["--lr-decay", 0.5], ["--patience", 3, "--lr-decay", 2],
                                  ["--model", "pixelcnn", "--num-masks", 4]])
def test_bad_numbers(tmp_path, capsys, args):
    status, lines = run_main(capsys, "--model", "made", *args, "--out", tmp_path)
    assert status != 0 and "error" in lines[-1]


def test_runs_as_starter_train():
    if not (ROOT / "starter" / "train.py").exists():
        pytest.skip("starter/ not generated yet")
    assert (ROOT / "starter" / "train.py").read_bytes() == (ROOT / "reference" / "train.py").read_bytes()
    proc = train_cli("--help", package="starter")
    assert proc.returncode == 0, proc.stderr
    assert "--model" in proc.stdout and "--num-masks" in proc.stdout
