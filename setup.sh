#!/usr/bin/env bash
# Create .venv with the pinned dependencies of the PS1 kit. Idempotent: does nothing when
# .venv already holds exactly these requirements (a stamp of them is kept in .venv).
#
#   ./setup.sh                      # everything (requirements.txt)
#   ./setup.sh --grader             # grader only (requirements-grader.txt; staff only)
#   ./setup.sh --wheelhouse DIR     # offline: install only from the wheels in DIR
#   ./setup.sh --force              # reinstall even when the stamp matches
#   ./setup.sh --dry-run            # say which torch build and what would be installed
#
# Which torch: on Linux without an NVIDIA GPU, the CPU build of torch 2.13.0 (the version and
# build Gradescope grades with; about 1 GB installed instead of about 5.5 GB) from the PyTorch
# CPU wheel index. Elsewhere (an NVIDIA GPU, macOS) the pins of requirements.txt from PyPI (on
# Linux, the CUDA build). When the CPU index cannot be reached, one line says so and the
# PyPI pins are installed instead, unless TORCH_BUILD=cpu asked for the CPU build: then
# setup.sh stops with the reason and the fix (an explicit choice is never overridden). The
# first line of output names the build and how to get the other.
#
# Environment: PYTHON (interpreter, default python3.11 then python3), VENV (default .venv),
# TORCH_BUILD (auto | cpu | pypi; default auto, as above), TORCH_INDEX (the CPU wheel index;
# default https://download.pytorch.org/whl/cpu), TORCH_SPEC / TORCHVISION_SPEC (replace the
# torch / torchvision pin of the chosen build, e.g. "torch==2.13.0"; TORCHVISION_SPEC=none
# leaves torchvision out), PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_FIND_LINKS (read by pip).
set -euo pipefail
cd "$(dirname "$0")"

# The CPU build: what Gradescope grades with (grader/staff/build.py TORCH_VERSION; a test keeps
# the two equal). torchvision 0.28 is the release paired with torch 2.13.
CPU_TORCH="torch==2.13.0+cpu"
CPU_TORCHVISION="torchvision==0.28.0+cpu"

req=requirements.txt
wheelhouse=""
force=0
dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        --grader) req=requirements-grader.txt ;;  # staff only (not in the student release)
        --wheelhouse) [ $# -ge 2 ] || { echo "setup.sh: --wheelhouse needs a folder" >&2; exit 2; }
                      wheelhouse="$2"; shift ;;
        --force) force=1 ;;
        --dry-run) dry_run=1 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

venv="${VENV:-.venv}"
if [ -z "${PYTHON:-}" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup.sh: need Python >= 3.11 (found: $("$PYTHON" --version 2>&1 || echo none)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

# ------------------------------------------------------------------ which torch build
torch_index="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
build="${TORCH_BUILD:-auto}"
case "$build" in
    auto|cpu|pypi) ;;
    *) echo "setup.sh: TORCH_BUILD must be auto, cpu or pypi (not '$build')" >&2; exit 2 ;;
esac

has_nvidia_gpu() {
    [ -e /proc/driver/nvidia/version ] && return 0
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU' && return 0
    return 1
}

index_reachable() {  # a quick look at the index (pip itself would retry for minutes)
    case "$1" in
        file://*) [ -d "${1#file://}" ]; return ;;
    esac
    "$PYTHON" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=10).close()
PY
}

why=""
if [ "$build" = auto ]; then
    if [ -n "$wheelhouse" ]; then build=pypi; why="the wheels in $wheelhouse"
    elif [ "$(uname -s)" != Linux ]; then build=pypi; why="$(uname -s)"
    elif has_nvidia_gpu; then build=pypi; why="an NVIDIA GPU was found"
    else build=cpu; why="Linux without an NVIDIA GPU"
    fi
else
    why="TORCH_BUILD=$build"
fi
fallback=0
if [ "$build" = cpu ] && [ -z "$wheelhouse" ] && ! index_reachable "$torch_index"; then
    if [ "${TORCH_BUILD:-auto}" = cpu ]; then  # asked for: never install another build instead
        echo "setup.sh: TORCH_BUILD=cpu, but the PyTorch CPU wheel index ($torch_index) cannot be reached; nothing was installed. Fix: run again once it can be reached, or set TORCH_INDEX=URL of a mirror (file:///path for a folder of wheels), or --wheelhouse DIR; TORCH_BUILD=pypi installs PyPI's build instead (on Linux the CUDA build, about 5.5 GB)" >&2
        exit 3
    fi
    build=pypi
    fallback=1
fi

# The effective requirements: the pinned file with the chosen build and the overrides applied.
effective="$(
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            torch==*|torch)
                if [ "$build" = cpu ]; then line="$CPU_TORCH"; fi
                echo "${TORCH_SPEC:-$line}" ;;
            torchvision==*|torchvision)
                if [ "$build" = cpu ]; then line="$CPU_TORCHVISION"; fi
                tv="${TORCHVISION_SPEC:-$line}"; [ "$tv" = none ] || echo "$tv" ;;
            ''|'#'*) ;;
            *) echo "$line" ;;
        esac
    done < "$req"
)"
torch_line="$(printf '%s\n' "$effective" | grep -E '^torch([=<>~! ]|$)' || true)"
if [ "$fallback" = 1 ]; then
    echo "setup.sh: torch build: PyPI's $torch_line (on Linux the CUDA build, about 5.5 GB), because the PyTorch CPU wheel index ($torch_index) cannot be reached; once it can (or with TORCH_INDEX=URL of another), ./setup.sh --force installs the CPU build"
elif [ "$build" = cpu ]; then
    echo "setup.sh: torch build: CPU, $torch_line ($why; the build Gradescope grades with). For PyPI's default build instead (CUDA on Linux): TORCH_BUILD=pypi ./setup.sh --force"
else
    echo "setup.sh: torch build: PyPI's $torch_line ($why). For the CPU build (about 1 GB, what Gradescope grades with): TORCH_BUILD=cpu ./setup.sh --force"
fi

pip_args=(--disable-pip-version-check)
# The CPU build stays under 1 GB with --no-compile: Python compiles what is imported on first
# use, where compiling everything up front adds about 175 MB, most of it never imported.
if [ "$build" = cpu ]; then pip_args+=(--no-compile); fi
if [ -n "$wheelhouse" ]; then pip_args+=(--no-index --find-links "$wheelhouse"); fi
# The CPU build comes from the CPU index, without dependencies; then everything (torch already
# satisfied) from the usual index, which brings torch's own dependencies.
torch_first=()
if [ "$build" = cpu ] && [ -z "$wheelhouse" ]; then
    torch_first=($(printf '%s\n' "$effective" | grep -E '^torch(vision)?([=<>~! ]|$)' || true))
fi

if [ "$dry_run" = 1 ]; then
    if [ ${#torch_first[@]} -gt 0 ]; then
        echo "would install from $torch_index (no dependencies):" "${torch_first[@]}"
    fi
    echo "would install into $venv:" $effective
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup.sh: creating $venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$venv"
fi

stamp_file="$venv/.ps1-requirements"
stamp="$(printf '%s\nbuild %s\n%s\n' "$("$venv/bin/python" --version 2>&1)" "$build" "$effective")"
if [ "$force" = 0 ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    echo "setup.sh: $venv is up to date ($req)"
else
    tmp_req="$(mktemp)"
    trap 'rm -f "$tmp_req"' EXIT
    printf '%s\n' "$effective" > "$tmp_req"
    if [ ${#torch_first[@]} -gt 0 ]; then
        echo "setup.sh: installing from $torch_index:" "${torch_first[@]}"
        "$venv/bin/python" -m pip install "${pip_args[@]}" --index-url "$torch_index" --no-deps \
            "${torch_first[@]}"
    fi
    echo "setup.sh: installing into $venv:" $effective
    "$venv/bin/python" -m pip install "${pip_args[@]}" -r "$tmp_req"
    printf '%s' "$stamp" > "$stamp_file"
fi

cat <<NEXT

Next:
  $venv/bin/python -m pytest tests_public          # the public tests, against starter/
  $venv/bin/python make_submission.py              # check your code and write submission.zip
  $venv/bin/python -m starter.train --model made --epochs 10    # train, samples + loss curve
NEXT
if [ -d reference ]; then  # the staff repository (the student release has no reference/)
    cat <<STAFF
Staff:
  $venv/bin/python -m pytest                       # the project's own tests
  $venv/bin/python -m grader grade                 # grade reference/ (Total: 40 / 40)
STAFF
fi
