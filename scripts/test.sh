#!/usr/bin/env bash
# Install what the tests need and run the whole suite, on SQLite and on PostgreSQL.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# The browser tests drive Debian's chromium (never a downloaded browser build); the
# emoji font keeps the documentation screenshots free of empty boxes.
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/noto ]; then
  echo "Installing Debian's chromium (and an emoji font) for the browser tests..."
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null \
    || echo "Could not install chromium: browser tests will be skipped (and fail in CI)."
fi

# PostgreSQL on 127.0.0.1:5432: install Debian's server if there is none, start the
# local cluster if it is down.
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && ! command -v pg_ctlcluster >/dev/null; then
  echo "Installing PostgreSQL for the database tests..."
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq postgresql >/dev/null \
    || echo "Could not install PostgreSQL: its tests will be skipped (and fail in CI)."
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "Starting PostgreSQL..."
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 30); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 1; done
  fi
fi

# A fresh server asks for a password over TCP: then the tests use a role of their own,
# made once through the local socket (the default URL is left to a server that allows it).
if [ -z "${TEND_TEST_POSTGRES_URL:-}" ] && command -v psql >/dev/null \
  && ! .venv/bin/python -c "import psycopg; psycopg.connect('host=127.0.0.1 user=postgres dbname=postgres', connect_timeout=5)" 2>/dev/null; then
  as_root runuser -u postgres -- psql -q -c \
    "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tend_test') THEN CREATE ROLE tend_test LOGIN CREATEDB PASSWORD 'tend_test'; END IF; END \$\$;" \
    && export TEND_TEST_POSTGRES_URL="postgresql+psycopg://tend_test:tend_test@127.0.0.1:5432/postgres" \
    || echo "Could not make a PostgreSQL role for the tests: their tests will be skipped (and fail in CI)."
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
# One worker per core; a test file's tests stay on one worker, so they share its servers
# (tests/browser.py, ServerPool) and its module fixtures.
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
