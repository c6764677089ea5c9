#!/usr/bin/env bash
# Debian's packages the tests use, installed with apt-get (as root, or through sudo) where missing:
# - Chromium, for the tests that render a run's report and trends in the Prefect UI;
# - PostgreSQL, the Prefect server's database in production (infra/docker-compose.yml), on which the
#   operations tests run their servers (tests/postgres.py starts one in a temporary folder).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
