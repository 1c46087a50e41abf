#!/usr/bin/env bash
# Install Pinnace with its test dependencies in .venv and run the whole test suite.
# The dashboard's browser tests drive Debian's Chromium: it is installed here when missing
# (needs apt and root, as on CI); without it those tests fail with a message saying so.
# The shared-store tests need PostgreSQL and MariaDB on loopback: scripts/services.sh starts
# them (installing Debian's packages where missing); PINNACE_TEST_SERVICES=required makes a
# missing server fail those tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
if bash scripts/services.sh; then
  export PINNACE_TEST_SERVICES="${PINNACE_TEST_SERVICES:-required}"
elif [ "${CI:-}" = "true" ]; then
  echo "the database servers could not be started; see above" >&2
  exit 1
fi
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = "0" ]; then
  echo "installing Debian's chromium for the browser tests" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq chromium >/dev/null
fi
# A server runs steps in a bubblewrap sandbox (and refuses to start without one): install
# Debian's bubblewrap when missing.
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = "0" ]; then
  echo "installing Debian's bubblewrap for the step sandbox" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq bubblewrap >/dev/null
fi
# ... and gives each step its own network through slirp4netns (step_network=isolated).
if ! command -v slirp4netns >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = "0" ]; then
  echo "installing Debian's slirp4netns for the steps' isolated network" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq slirp4netns >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
echo "test suite: $((SECONDS / 60)) min $((SECONDS % 60)) s in all (install included), exit $status" >&2
exit $status
