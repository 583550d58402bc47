#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image from the base image
# chosen under Configure Autograder (Ubuntu 22.04 recommended; Debian 12 and Ubuntu 24.04 work).
# It installs a final CPython 3.11, a virtual environment with ONLY the grading dependencies and
# a CPU build of torch, and the unprivileged user the sandbox runs student code as.
#
# Python 3.11: the distribution's own package first (Debian 12: 3.11.2), checked to be a final
# release; where it is missing or a pre-release (Ubuntu 22.04's jammy-updates ships 3.11.0~rc1),
# the deadsnakes PPA (Ubuntu only). A base image this cannot serve (older Ubuntu or Debian, an
# image without apt) stops at once with one line naming the Gradescope setting to change.
# The system python3 (used by Gradescope's harness) is left alone.
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

SETTING="in Gradescope, Configure Autograder > Base Image: choose Ubuntu 22.04"

os_field() {  # the value of $2 in the os-release file $1; nothing when either is missing
    (. "$1" && eval "printf '%s' \"\${$2:-}\"") 2>/dev/null || true
}

# One line naming the setting to change when the base image (os-release file $1; $2: whether
# apt-get is there) cannot be served; nothing when it can.
base_image_refusal() {
    local id major name
    id=$(os_field "$1" ID)
    major=$(os_field "$1" VERSION_ID)
    major=${major%%.*}
    name=$(os_field "$1" PRETTY_NAME)
    case "$id" in
        ubuntu) [ "${major:-0}" -ge 22 ] 2>/dev/null && [ "$2" = yes ] && return 0 ;;
        debian) [ "${major:-0}" -ge 12 ] 2>/dev/null && [ "$2" = yes ] && return 0 ;;
    esac
    echo "setup.sh: the base image ${name:-${id:-without /etc/os-release}} cannot install Python 3.11 for this autograder; $SETTING"
}

# Whether "major minor micro releaselevel" (what $python prints) is a final CPython 3.11.
final_311() {
    local major minor micro level
    read -r major minor micro level <<<"$1"
    [ "$major.$minor" = 3.11 ] && [ "$level" = final ]
}

python_release() {  # "3 11 2 final", or nothing when $1 is not there
    "$1" -c 'import sys; print(*sys.version_info[:4])' 2>/dev/null || true
}

install_python() {  # a final python3.11 from the archive, else from the deadsnakes PPA
    export DEBIAN_FRONTEND=noninteractive
    local refusal
    refusal=$(base_image_refusal "${PS1_OS_RELEASE:-/etc/os-release}" \
              "$(command -v apt-get >/dev/null && echo yes || echo no)")
    if [ -n "$refusal" ]; then echo "$refusal" >&2; exit 1; fi
    final_311 "$(python_release "$python_bin")" && return 0
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv || true
    final_311 "$(python_release "$python_bin")" && return 0
    if [ "$(os_field "${PS1_OS_RELEASE:-/etc/os-release}" ID)" = ubuntu ]; then
        echo "setup.sh: the archive's python3.11 is missing or a pre-release" \
             "($(python_release "$python_bin")); installing it from the deadsnakes PPA" >&2
        apt-get install -y --no-install-recommends software-properties-common gpg-agent &&
            add-apt-repository -y ppa:deadsnakes/ppa && apt-get update &&
            apt-get install -y --no-install-recommends python3.11 python3.11-venv ||
            echo "setup.sh: the deadsnakes PPA could not be used (see above)" >&2
    fi
    if ! final_311 "$(python_release "$python_bin")"; then
        echo "setup.sh: no final Python 3.11 on this base image (got:" \
             "$(python_release "$python_bin")) and the deadsnakes PPA could not be used:" \
             "rebuild the autograder (Update Autograder) once launchpad.net can be reached" >&2
        exit 1
    fi
}

# Sourced by the project's tests for the functions above; Gradescope runs it.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

if [ "${PS1_SKIP_SYSTEM:-0}" != 1 ]; then
    install_python
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
