# Sourced by scripts/*: make .venv (Python 3.11+) and install parbench into it when missing or stale.
# Reinstalls when pyproject.toml changed since the last install (a hash stamp inside .venv).

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "parbench needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

# The mpi strategies (in the `mpi` and `all` extras) run ranks under mpiexec, and mpi4py needs an MPI library:
# install Debian's Open MPI when it is missing and this shell may (root, apt-get); otherwise say what to install.
# Without it, `parbench list` shows mpi and mpi-pickle unavailable with the same hint.
ensure_mpi() {
  command -v mpiexec >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "parbench: installing Open MPI (openmpi-bin libopenmpi-dev) for the mpi strategies" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev; } >&2 ||
      echo "parbench: installing Open MPI failed: mpi and mpi-pickle stay unavailable" >&2
  else
    echo "parbench: no mpiexec: mpi and mpi-pickle stay unavailable (install openmpi-bin libopenmpi-dev, or MPICH)" >&2
  fi
}

# The stamp holds the pyproject hash and the extras installed with it; a request for extras already
# installed (./scripts/sweep after ./scripts/test) installs nothing, a new one installs the union.
ensure_venv() {
  local want="$1" stamp=.venv/.parbench-installed hash have extras python
  hash="$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -x .venv/bin/python ]; then
    python="$(find_python)"
    echo "parbench: creating .venv with $("$python" --version)" >&2
    "$python" -m venv .venv
  fi
  have=""
  if [ "$(head -n1 "$stamp" 2>/dev/null)" = "$hash" ]; then
    have="$(sed -n 2p "$stamp")"
  fi
  extras="$(printf '%s\n' ${have//,/ } ${want//,/ } | sort -u | paste -sd, -)"
  case ",$extras," in *,all,*|*,mpi,*) ensure_mpi ;; esac
  if [ "$extras" != "$have" ]; then
    echo "parbench: installing parbench[$extras] into .venv (a minute or two the first time)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]" >&2
    printf '%s\n%s\n' "$hash" "$extras" > "$stamp"
  fi
}

# tests/test_gil.py measures under a second interpreter besides .venv's (3.13; 3.12 when .venv runs 3.13): take
# it from PATH or pyenv, or have uv fetch a managed build where none is found (parbench finds uv's pythons too).
ensure_other_python() {
  local other
  other="$(.venv/bin/python -c 'import sys; print("3.12" if sys.version_info[:2] == (3, 13) else "3.13")')"
  if ! .venv/bin/python -c "from parbench.runner.environments import resolve; resolve('$other')" 2>/dev/null; then
    echo "parbench: no Python $other found on PATH or under pyenv: installing a uv-managed one for the GIL tests" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check uv >&2
    .venv/bin/python -m uv python install "$other" >&2
  fi
  # Its parbench environment too, where the GIL tests look for it (tests/conftest.py py313_envs): set up with
  # .venv, once per pyproject.toml, rather than inside the first test that needs it.
  .venv/bin/python -c "import sys; from pathlib import Path; from parbench.runner.environments import ensure, resolve
ensure(resolve('$other'), Path(sys.prefix) / 'parbench-envs', ())"
}
