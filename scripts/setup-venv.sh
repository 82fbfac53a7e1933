#!/usr/bin/env bash
# Creates .venv and installs the pinned Python dependencies, one line of progress per step.
#   scripts/setup-venv.sh runtime   what `make plan` needs (requirements.txt + fleetform)
#   scripts/setup-venv.sh dev       plus the test and lint tools (requirements-dev.txt)
# Needs only Python >= 3.11 (no root): PYTHON=/path/to/python3.12 picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-runtime}"
venv=".venv"
say() { printf 'setup: %s\n' "$*" >&2; }

# The first interpreter >= 3.11 among $PYTHON, python3, python3.13, python3.12, python3.11.
pick_python() {
  local c
  for c in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  if ! py="$(pick_python)"; then
    found="$(python3 --version 2>&1 || echo 'no python3')"
    say "fleetform needs Python >= 3.11 (found: $found)."
    say "install one (python.org, pyenv, Homebrew 'python@3.12', apt 'python3.11') and run again,"
    say "or point at it: make plan PYTHON=/path/to/python3.12"
    exit 1
  fi
  if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    say "$py has no venv/ensurepip module (Debian/Ubuntu: apt install python3-venv)"
    exit 1
  fi
  say "[1/3] creating $venv with $("$py" --version 2>&1)"
  "$py" -m venv "$venv"
else
  say "[1/3] $venv exists ($("$venv/bin/python" --version 2>&1))"
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# One line per package pip fetches (a big wheel takes a while: keep the user informed);
# on failure, pip's full output.
install_streamed() {
  local log status
  log="$(mktemp)"
  set +e
  "${pip[@]}" install --progress-bar off "$@" 2>&1 | tee "$log" | while IFS= read -r line; do
    case "$line" in Collecting\ *) line="${line#Collecting }"; printf '  + %s\n' "${line%% (from*}" >&2 ;; esac
  done
  status="${PIPESTATUS[0]}"
  set -e
  [ "$status" -eq 0 ] || cat "$log" >&2
  rm -f "$log"
  return "$status"
}

if [ "$what" = dev ]; then
  say "[2/3] installing the pinned runtime and test/lint tools (requirements-dev.txt)"
  install_streamed -r requirements-dev.txt
else
  say "[2/3] installing the pinned runtime (requirements.txt; the test tools come with 'make test')"
  install_streamed -r requirements.txt
fi
say "[3/3] installing fleetform itself (editable)"
install_streamed --no-deps -e .
say "done: $venv ($(du -sh "$venv" 2>/dev/null | cut -f1))"
