#!/usr/bin/env bash
# Regenerate tests/data/eval/*.exp / *.err.exp with the reference Nix 2.26
# (NIX=path to override).  Run from anywhere; review the diff before committing.
# The reference uses a throw-away local store in read-write mode (as
# lib/tests/modules.sh does), so that store paths made in the evaluation can be
# read back; nixlens serves those from its virtual store.  The data directory's
# absolute path is written as /pwd, as the runner compares.  Cases run from a
# copy at a fixed path, as tests/test_eval_data.py runs them: Nix expands a
# message's tabs counting the columns of the whole error text, path included.
set -euo pipefail
NIX=${NIX:-nix-instantiate-2.26}
data="$(cd "$(dirname "$0")/../data/eval" && pwd)"
run=/tmp/nixlens-eval-data
rm -rf "$run" && cp -a "$data" "$run"
cd "$run"
store=$(mktemp -d)
trap 'chmod -R u+w "$store"; rm -rf "$store"' EXIT
for f in eval-*.nix; do
  base=${f%.nix}
  flags=()
  [ -f "$base.flags" ] && read -r -a flags <"$base.flags"
  set +e
  "$NIX" --store "$store" --read-write-mode --eval --strict "${flags[@]}" "$PWD/$f" \
    >"$base.out.tmp" 2>"$base.err.tmp"
  rc=$?
  set -e
  sed -i "s|$PWD|/pwd|g" "$base.out.tmp" "$base.err.tmp"
  case $base in
    eval-okay-*) [ $rc -eq 0 ] || { echo "$f: expected success"; cat "$base.err.tmp"; }
                 mv "$base.out.tmp" "$data/$base.exp" ;;
    eval-fail-*) [ $rc -ne 0 ] || echo "$f: expected failure"; rm "$base.out.tmp" ;;
  esac
  rm -f "$data/$base.err.exp"
  if [ -s "$base.err.tmp" ]; then mv "$base.err.tmp" "$data/$base.err.exp"; else rm "$base.err.tmp"; fi
done
