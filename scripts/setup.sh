# Sourced by scripts/run and scripts/test: the project's own virtual environment, installed
# from the lock (constraints.txt) only when something it depends on changed.
#
#   authledger_venv [EXTRA]   make .venv (or $AUTHLEDGER_VENV) and install .[EXTRA] into it
#   authledger_apt PKG...     install Debian packages (as root, or through sudo), or say what is missing
#
# Never a silent failure: a pip or apt error stops the script with its own output and one
# line saying what to do.

AUTHLEDGER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${AUTHLEDGER_VENV:-$AUTHLEDGER_ROOT/.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

_say() { echo "$(basename "$0"): $*" >&2; }

authledger_apt() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      _say "needs the Debian packages: $* (apt-get install $*)."
      _say "run as root, give sudo without a password, or install them yourself and run again."
      exit 1
    fi
  fi
  _say "installing $* (apt)"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get update -qq >/dev/null || \
     ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    _say "apt-get could not install: $* (see above)"
    exit 1
  fi
}

_python_ok() {
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

# The inputs of an install: when none changed, the environment is up to date.
# The stamp is that hash and the extra installed with it (the test extra includes the base).
_inputs() {
  (cd "$AUTHLEDGER_ROOT" && cat pyproject.toml setup.py constraints.txt $(ls ./*/*.c ./*/*/*.c 2>/dev/null)) \
    | sha256sum | cut -d' ' -f1
}

_installed() {  # _installed EXTRA: is the venv up to date for EXTRA?
  local have
  have=$(cat "$VENV/.authledger-installed" 2>/dev/null) || return 1
  [ "${have%% *}" = "$(_inputs)" ] || return 1
  [ -z "$1" ] || [ "${have#* }" = "$1" ]
}

authledger_venv() {
  local extra=${1:-}
  local python=${AUTHLEDGER_PYTHON:-python3}
  if ! command -v "$python" >/dev/null 2>&1 || ! _python_ok "$python"; then
    _say "needs Python 3.11 or newer as '$python' (set AUTHLEDGER_PYTHON to another interpreter)"
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$python" -m venv "$VENV" >/dev/null 2>&1; then
      rm -rf "$VENV"
      # Debian/Ubuntu ship venv (ensurepip) separately.
      local ver
      ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      authledger_apt "python${ver}-venv"
      "$python" -m venv "$VENV" || { _say "could not create the virtual environment $VENV"; exit 1; }
    fi
  fi
  # The C accelerator (authledger/gateway/_digest.c) needs a compiler and Python's headers (the tests require them built).
  if ! command -v cc >/dev/null 2>&1 || \
     [ ! -f "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then
    local ver
    ver=$("$VENV/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    authledger_apt gcc "python${ver}-dev"
  fi
  local spec
  if ! _installed "$extra"; then
    spec="."
    [ -n "$extra" ] && spec=".[$extra]"
    _say "installing authledger${extra:+ with [$extra]} into $VENV (from constraints.txt)"
    if ! (cd "$AUTHLEDGER_ROOT" && "$VENV/bin/python" -m pip install -q -c constraints.txt -e "$spec"); then
      _say "pip could not install the project (see above); nothing was changed in $VENV's stamp"
      exit 1
    fi
    echo "$(_inputs) ${extra:--}" > "$VENV/.authledger-installed"
  fi
  export PATH="$VENV/bin:$PATH"
}
