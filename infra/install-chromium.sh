#!/usr/bin/env bash
# Debian's Chromium, for the test that renders a run's report in the Prefect UI (tests/service/test_service.py).
# Nothing to do where /usr/bin/chromium exists; otherwise apt-get (as root, or through sudo).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
