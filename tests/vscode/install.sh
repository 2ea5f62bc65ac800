#!/usr/bin/env bash
# Installs what the real-VS-Code test (tests/test_vscode_e2e.py) needs:
# node 24 and code-server from the npm registry into a cache folder outside
# the repository (reused across CI runs, about 800 MB), chromium + chromium-driver
# from Debian, selenium from PyPI (the `test` extras).  Idempotent: with
# everything in place it only checks versions and returns in about a second.
#
#   tests/vscode/install.sh            # prints the code-server path on success
#
# The cache folder is $NIXLENS_VSCODE_CACHE, else /var/cache/nixlens-ci when
# writable, else ${XDG_CACHE_HOME:-~/.cache}/nixlens-ci.  The test runs this
# script and takes the path it prints (tests/vscode_workbench.py).
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24

if [ -n "${NIXLENS_VSCODE_CACHE:-}" ]; then
  cache="$NIXLENS_VSCODE_CACHE"
elif mkdir -p /var/cache/nixlens-ci 2>/dev/null && [ -w /var/cache/nixlens-ci ]; then
  cache=/var/cache/nixlens-ci
else
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/nixlens-ci"
fi
mkdir -p "$cache"
log="$cache/install.log"

say() { echo "vscode-e2e install: $*" >&2; }

# chromium + chromium-driver (Debian).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  say "installing chromium chromium-driver with apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
    >>"$log" 2>&1 || { say "apt-get install chromium chromium-driver failed (see $log)"; exit 1; }
fi

# node 24 (the npm package `node` ships the official binary).
node_dir="$cache/node$NODE_MAJOR"
node_bin="$node_dir/node_modules/node/bin/node"
if ! [ -x "$node_bin" ] || [[ "$("$node_bin" --version 2>/dev/null)" != v$NODE_MAJOR.* ]]; then
  command -v npm >/dev/null 2>&1 || { say "npm is not installed"; exit 1; }
  say "installing node@$NODE_MAJOR into $node_dir"
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --no-audit --no-fund --no-save "node@$NODE_MAJOR") >>"$log" 2>&1 \
    || { say "npm install node@$NODE_MAJOR failed (see $log)"; exit 1; }
fi

# code-server, installed and run with node 24 first on PATH.  Its own install
# script (postinstall.sh) installs VS Code's dependencies in lib/vscode and
# lib/vscode/extensions and builds their native modules with node-gyp, which
# needs node 24's headers (not in the npm package, not downloadable here) and
# -dev libraries (krb5).  So scripts are skipped and the two dependency
# installs are done here the same way, without the native builds: the
# workbench, extension host and language clients need none of them.  Without
# them the terminal does not work and files changed outside VS Code are not
# noticed; the test needs neither.
cs_dir="$cache/code-server-$CODE_SERVER_VERSION"
cs_bin="$cs_dir/node_modules/.bin/code-server"
vscode_dir="$cs_dir/node_modules/code-server/lib/vscode"
export PATH="$(dirname "$node_bin"):$PATH"
if ! [ -x "$cs_bin" ] || ! [ -f "$cs_dir/.complete" ]; then
  say "installing code-server@$CODE_SERVER_VERSION into $cs_dir"
  rm -rf "$cs_dir" && mkdir -p "$cs_dir"
  npm_install() { npm install --no-audit --no-fund --ignore-scripts "$@" >>"$log" 2>&1; }
  (cd "$cs_dir" && npm_install --no-save "code-server@$CODE_SERVER_VERSION") \
    && (cd "$vscode_dir" && npm_install --omit=dev) \
    && (cd "$vscode_dir/extensions" && npm_install --omit=dev) \
    || { say "npm install code-server@$CODE_SERVER_VERSION failed (see $log)"; exit 1; }
  "$cs_bin" --version >>"$log" 2>&1 || { say "code-server does not run (see $log)"; exit 1; }
  touch "$cs_dir/.complete"
fi
echo "$cs_bin"
