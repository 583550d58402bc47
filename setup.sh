#!/usr/bin/env bash
# Create .venv with the pinned dependencies of the PS1 kit. Idempotent: does nothing when
# .venv already holds exactly these requirements (a stamp of them is kept in .venv).
#
#   ./setup.sh                      # everything (requirements.txt)
#   ./setup.sh --grader             # grader only (requirements-grader.txt; staff)
#   ./setup.sh --wheelhouse DIR     # offline: install only from the wheels in DIR
#   ./setup.sh --force              # reinstall even when the stamp matches
#
# Environment: PYTHON (interpreter, default python3.11 then python3), VENV (default .venv),
# TORCH_SPEC (replaces the torch pin, e.g. "torch==2.13.0"), TORCHVISION_SPEC (replaces the
# torchvision pin; "none" leaves torchvision out, e.g. with a CPU-only torch build),
# PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_FIND_LINKS (read by pip itself; e.g.
# PIP_INDEX_URL=https://download.pytorch.org/whl/cpu for CPU wheels).
set -euo pipefail
cd "$(dirname "$0")"

req=requirements.txt
wheelhouse=""
force=0
while [ $# -gt 0 ]; do
    case "$1" in
        --grader) req=requirements-grader.txt ;;
        --wheelhouse) [ $# -ge 2 ] || { echo "setup.sh: --wheelhouse needs a folder" >&2; exit 2; }
                      wheelhouse="$2"; shift ;;
        --force) force=1 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

# The effective requirements: the pinned file with the optional torch overrides applied.
effective="$(
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            torch==*|torch) echo "${TORCH_SPEC:-$line}" ;;
            torchvision==*|torchvision)
                tv="${TORCHVISION_SPEC:-$line}"; [ "$tv" = none ] || echo "$tv" ;;
            ''|'#'*) ;;
            *) echo "$line" ;;
        esac
    done < "$req"
)"

if [ ! -x "$venv/bin/python" ]; then
    echo "setup.sh: creating $venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$venv"
fi

stamp_file="$venv/.ps1-requirements"
stamp="$(printf '%s\n%s\n' "$("$venv/bin/python" --version 2>&1)" "$effective")"
if [ "$force" = 0 ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    echo "setup.sh: $venv is up to date ($req)"
else
    pip_args=(--disable-pip-version-check)
    if [ -n "$wheelhouse" ]; then pip_args+=(--no-index --find-links "$wheelhouse"); fi
    tmp_req="$(mktemp)"
    trap 'rm -f "$tmp_req"' EXIT
    printf '%s\n' "$effective" > "$tmp_req"
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
