#!/usr/bin/env bash
# The man page is generated from the commands' --help texts
# (scripts/gen-man.sh); this test fails when they drift apart.
set -euo pipefail
src=${FIRMUS_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/scripts" "$tmp/scripts"
mkdir -p "$tmp/man"
(cd "$tmp" && ./scripts/gen-man.sh "${FIRMUS_BIN:?}" >/dev/null)
if ! diff -u "$src/man/firmus.1" "$tmp/man/firmus.1" >"$tmp/diff"; then
  head -20 "$tmp/diff"
  echo "man/firmus.1 is out of date: run scripts/gen-man.sh" >&2
  exit 1
fi
echo "man page matches --help of every command"
