#!/usr/bin/env bash
# Refresh the browser libraries the web page ships (proxy/web/vendor/), from the versions pinned
# in package-lock.json. Their output is committed, so installing the package needs only pip; run
# this after changing package.json (`npm install` there first), then commit proxy/web/vendor/.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
out=../proxy/web/vendor/noble-hashes
rm -rf "$out"
mkdir -p "$out"
# sha2.js and the modules it imports, unmodified, with the licence.
for file in sha2.js _md.js _u64.js utils.js LICENSE package.json; do
  cp "node_modules/@noble/hashes/$file" "$out/$file"
done
echo "copied @noble/hashes $(node -p 'require("./node_modules/@noble/hashes/package.json").version') to $out"
