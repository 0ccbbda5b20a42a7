# Shared by quickstart.sh and test.sh: the virtual environment and system packages.

ensure_venv() {  # pip extras to install, e.g. ".[test]"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Cairn needs Python 3.11 or newer (python3 is $(python3 -V))" >&2; exit 1; }
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e "$1"
}

apt_install() {  # Debian packages; as root with apt-get only, else say what is missing
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null \
      || { apt-get update -q >/dev/null \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
  else
    echo "WARNING: cannot install $* here (needs root and apt-get); install them yourself" >&2
  fi
}

ensure_r() {  # R blocks need Rscript with jsonlite
  if ! Rscript -e 'library(jsonlite)' >/dev/null 2>&1; then
    apt_install r-base-core r-cran-data.table r-cran-jsonlite
  fi
}

ensure_chromium() {  # browser tests drive Debian's Chromium; no browser is downloaded
  command -v chromium >/dev/null || apt_install chromium
}
