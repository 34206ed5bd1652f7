#!/usr/bin/env bash
# Prepares the bundle that a run on the lent GPU machine needs, in .device/ (git-ignored): the compiled
# TypeScript, then bench/device/bundle.mjs (a compressed Node.js, dist/, simdjson's sources, and the
# node_modules dist/ imports, computed from package.json and the import graph), make_reference.py from
# the shared/ folder beside the checkout (a worktree's too), and the commit being measured. The sources
# travel with the working tree; native/ is built there by bench/device/run.sh. Fails when the working
# tree and .device/ together are over the device tool's 64 MiB.
#
#   bash bench/device/prepare.sh
#   then, through the device tool:  run(command="bash bench/device/run.sh SUITE", carry=[".device"])
#   SUITE: ops | perf | correctness | decode | all (or a comma list)    (results land in $OUT and bench/results/)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
shared=$(cd "$(git rev-parse --path-format=absolute --git-common-dir)/../.." && pwd)/shared
[ -f "$shared/tools/make_reference.py" ] || { echo "prepare.sh: $shared/tools/make_reference.py not found" >&2; exit 1; }
npx tsc -p tsconfig.json
mkdir -p .device/tools
cp "$shared/tools/make_reference.py" .device/tools/
commit=$(git rev-parse HEAD)
[ -n "$(git status --porcelain --untracked-files=no)" ] && commit="$commit-dirty"
echo "$commit" > .device/commit
node bench/device/bundle.mjs .device
du -sh .device
echo "carry: [\".device\"]   command: bash bench/device/run.sh SUITE"
