#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine with Python 3.11: installs what the tests need
# (PostgreSQL and Chromium from apt when missing, the Python packages into .venv), then runs
# lint, type checks and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
ls /usr/share/fonts/opentype/noto/NotoSansCJK-* >/dev/null 2>&1 || need_apt+=(fonts-noto-cjk)  # Chinese in screenshots
command -v baresip >/dev/null || need_apt+=(baresip-core)
command -v java >/dev/null || need_apt+=(default-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing from apt: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check src tests $(ls -d bench 2>/dev/null || true)
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
