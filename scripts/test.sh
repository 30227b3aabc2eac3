#!/usr/bin/env bash
# The test command of the README: every *.test.ts under packages/ and test/, run by Node's own
# runner through tsx. Node 20's --test does not expand globs, so the shell finds the files.
# Extra arguments pass through, e.g. `pnpm test --test-name-pattern election`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find packages test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
exec node --import tsx --test --test-timeout=600000 "$@" "${files[@]}"
