"""setup.sh's choice of torch build (issue 12), with --dry-run (nothing is installed): the CPU
build on Linux without an NVIDIA GPU, PyPI's pins with one, a clean fallback when the CPU index
cannot be reached, and the overrides. The real installs are measured in docs/MEASUREMENTS.md."""
import os
import platform
import re
import subprocess
from pathlib import Path

import pytest

from grader import ROOT
from grader.staff import build

LINUX = pytest.mark.skipif(platform.system() != "Linux", reason="the CPU choice is Linux's")
UNREACHABLE = "http://127.0.0.1:9/whl/cpu"  # the discard port: refused at once


def setup(tmp_path, *args, gpu=False, **env):
    """./setup.sh --dry-run with a PATH holding a fake nvidia-smi (gpu=True) or none."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    if gpu:
        smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-0)'\n")
        smi.chmod(0o755)
    elif smi.exists():
        smi.unlink()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TORCH", "VENV"))}
    path = f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"
    done = subprocess.run(["bash", str(ROOT / "setup.sh"), "--dry-run", *args],
                          env={**clean, "PATH": path, "VENV": str(tmp_path / "venv"), **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "venv").exists()  # a dry run installs nothing
    return done.stdout


def installed(out: str) -> list[str]:
    return next(line for line in out.splitlines() if line.startswith("would install into")
                ).split(":", 1)[1].split()


@LINUX
@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="this has a GPU")
def test_linux_without_gpu_gets_the_cpu_build_gradescope_grades_with(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    out = setup(tmp_path, TORCH_INDEX=f"file://{index}")
    assert out.splitlines()[0].startswith("setup.sh: torch build: CPU")
    assert f"torch=={build.TORCH_VERSION}+cpu" in installed(out)
    assert any(p.startswith("torchvision==") and p.endswith("+cpu") for p in installed(out))
    assert f"would install from file://{index}" in out


@LINUX
def test_an_nvidia_gpu_gets_the_pypi_pins(tmp_path):
    out = setup(tmp_path, gpu=True, TORCH_INDEX=f"file://{tmp_path}")
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert installed(out) == pins and "would install from" not in out
    assert "NVIDIA GPU" in out.splitlines()[0]


@LINUX
@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="this has a GPU")
def test_unreachable_cpu_index_falls_back_in_one_line(tmp_path):
    out = setup(tmp_path, TORCH_INDEX=UNREACHABLE)  # the automatic choice may fall back
    lines = out.splitlines()
    assert sum(UNREACHABLE in line for line in lines) == 1 and "cannot be reached" in lines[0]
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert installed(out) == pins


def test_an_explicit_cpu_build_is_never_replaced(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TORCH", "VENV"))}
    done = subprocess.run(["bash", str(ROOT / "setup.sh"), "--dry-run"],
                          env={**clean, "VENV": str(tmp_path / "venv"), "TORCH_BUILD": "cpu",
                               "TORCH_INDEX": UNREACHABLE},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "would install" not in done.stdout, done.stdout
    assert "TORCH_BUILD=cpu" in done.stderr and "cannot be reached" in done.stderr
    assert "TORCH_INDEX=" in done.stderr and not (tmp_path / "venv").exists()


def test_overrides_keep_working(tmp_path):
    out = setup(tmp_path, "--grader", TORCH_BUILD="cpu", TORCH_INDEX=f"file://{tmp_path}",
                TORCH_SPEC="torch==2.13.0", TORCHVISION_SPEC="none")
    assert installed(out)[0] == "torch==2.13.0" and not any(
        p.startswith("torchvision") for p in installed(out))
    out = setup(tmp_path, TORCH_BUILD="pypi", TORCH_SPEC="torch==2.12.0",
                TORCHVISION_SPEC="torchvision==0.27.0")
    assert installed(out)[:2] == ["torch==2.12.0", "torchvision==0.27.0"]
    out = setup(tmp_path, "--wheelhouse", str(tmp_path))
    assert "would install from" not in out  # a wheelhouse: its wheels, no index


def test_the_cpu_pin_is_the_gradescope_version():
    text = (ROOT / "setup.sh").read_text()
    assert re.search(r'^CPU_TORCH="torch==(.+)\+cpu"$', text, re.M).group(1) == \
        build.TORCH_VERSION


def test_the_release_setup_offers_no_staff_option(tmp_path):
    """The student release ships no requirements-grader.txt: its setup.sh has no --grader."""
    release = tmp_path / "setup.sh"
    release.write_text(build.release_setup())
    help_text = subprocess.run(["bash", str(release), "--help"], capture_output=True,
                               text=True, timeout=60).stdout
    assert "--grader" not in help_text and "PIP_FIND_LINKS" in help_text, help_text
    done = subprocess.run(["bash", str(release), "--grader", "--dry-run"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "unknown option '--grader'" in done.stderr
    staff = subprocess.run(["bash", str(ROOT / "setup.sh"), "--help"], capture_output=True,
                           text=True, timeout=60).stdout
    assert "--grader" in staff and "PIP_FIND_LINKS" in staff  # the whole header, staff line too


def test_the_release_points_at_nothing_it_does_not_ship():
    """No starter module (train --help included) nor the student README names docs/."""
    shipped = [*sorted((ROOT / "starter").glob("*.py")),
               ROOT / "grader" / "staff" / "templates" / "student_README.md"]
    assert not [p.name for p in shipped if "docs/" in p.read_text()]
