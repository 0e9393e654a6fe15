#!/usr/bin/env bash
# The browser the web page's tests drive: Debian's chromium package (never a browser build
# downloaded by Playwright). Run as root on Debian; tests/browser/chromium.py runs it when
# /usr/bin/chromium is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
