#!/usr/bin/env bash
# Builds the nixlens VS Code extension: install locked dependencies, compile,
# lint, run the unit tests and package a .vsix into this folder. Used by CI.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run compile
npm run lint
npm test
npx --no-install vsce package --allow-missing-repository --out "nixlens-$(node -p 'require("./package.json").version').vsix"
