#!/usr/bin/env bash
# Installs Debian's chromium when it is missing: the browser the cluster page's test drives through
# playwright-core (test/integration/ui/page.test.ts), which downloads no browser of its own.
# Idempotent, like install-docker.sh; CHROMIUM_PATH names another browser binary.
set -euo pipefail

browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$browser" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-chromium: $browser is missing; run as root or: sudo apt-get install chromium" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "install-chromium: $("$browser" --version 2>/dev/null || echo "$browser")"
