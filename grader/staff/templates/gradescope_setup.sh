#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 base).
# It installs Python 3.11, a virtual environment with ONLY the grading dependencies and a CPU
# build of torch, and the unprivileged user the sandbox runs student code as.
#
# Python 3.11: Ubuntu 22.04's own archive (jammy-updates, universe) ships python3.11, so that is
# tried first (no third-party repository, no compiling); the deadsnakes PPA is the fallback.
# The system python3 (3.10, used by Gradescope's harness) is left alone.
#
# Environment (all optional; defaults are the real Gradescope ones):
#   PS1_VENV          virtual environment to create        (default /opt/ps1-venv)
#   PS1_PYTHON_BIN    interpreter to build it from          (default python3.11, installed here)
#   PS1_TORCH_SPEC    the torch requirement                 (default torch==@TORCH_VERSION@)
#   PS1_TORCH_INDEX   wheel index for torch                 (default https://download.pytorch.org/whl/cpu)
#   PS1_WHEELHOUSE    install offline from this folder of wheels (pip --no-index --find-links)
#   PS1_SKIP_SYSTEM=1 skip apt-get and useradd (local runs: `python -m grader gradescope --setup`)
set -euo pipefail
source_dir="$(cd "$(dirname "$0")" && pwd)"
venv="${PS1_VENV:-/opt/ps1-venv}"
torch_spec="${PS1_TORCH_SPEC:-torch==@TORCH_VERSION@}"
torch_index="${PS1_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
python_bin="${PS1_PYTHON_BIN:-python3.11}"

if [ "${PS1_SKIP_SYSTEM:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if ! command -v "$python_bin" >/dev/null 2>&1; then
        apt-get update
        if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
            echo "setup.sh: python3.11 not in the Ubuntu archive; trying the deadsnakes PPA" >&2
            apt-get install -y --no-install-recommends software-properties-common gpg-agent
            add-apt-repository -y ppa:deadsnakes/ppa
            apt-get update
            apt-get install -y --no-install-recommends python3.11 python3.11-venv
        fi
    fi
    # The sandbox user (grader/trusted/users.py creates more of its pool on demand, as root).
    id ps1sandbox >/dev/null 2>&1 || useradd --system --no-create-home --user-group \
        --shell /usr/sbin/nologin ps1sandbox
fi

"$python_bin" -m venv "$venv"
pip_args=(--disable-pip-version-check --no-cache-dir)
torch_args=(--index-url "$torch_index")
if [ -n "${PS1_WHEELHOUSE:-}" ]; then
    pip_args+=(--no-index --find-links "$PS1_WHEELHOUSE")
    torch_args=()
fi
# torch first, from the CPU index (its own dependencies are mirrored there), then the rest.
"$venv/bin/python" -m pip install "${pip_args[@]}" "${torch_args[@]}" "$torch_spec"
grep -v -E '^[[:space:]]*(#|$|torch([=<>~! ]|$))' "$source_dir/requirements-grader.txt" \
    > "$venv/ps1-requirements.txt"
"$venv/bin/python" -m pip install "${pip_args[@]}" -r "$venv/ps1-requirements.txt"
# Student code runs as the sandbox user and imports torch: it must be able to read the venv.
chmod -R o+rX "$venv"
"$venv/bin/python" -c "import torch, numpy, pytest; print('setup.sh: torch', torch.__version__, \
'| numpy', numpy.__version__, '| CUDA', torch.cuda.is_available())"
