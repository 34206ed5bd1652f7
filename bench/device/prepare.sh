#!/usr/bin/env bash
# Prepares the bundle that a run on the lent GPU machine needs, in .device/ (git-ignored):
# a compressed Node.js, the node_modules the runtime loads (koffi and its Linux binary), simdjson's
# two source files that native/ compiles (compressed; from the @nozbe/simdjson package), the compiled
# TypeScript (dist/), make_reference.py, and the commit being measured. The sources travel with the
# working tree; native/ is built there by bench/device/run.sh.
#
#   bash bench/device/prepare.sh
#   then, through the device tool:  run(command="bash bench/device/run.sh SUITE", carry=[".device"])
#   SUITE: ops | perf | correctness | decode | all (or a comma list)    (results land in $OUT and bench/results/)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p .git/info && touch .git/info/exclude
bash ../shared/tools/device-node.sh >/dev/null
npx tsc -p tsconfig.json
rm -rf .device/node_modules .device/dist .device/tools .device/simdjson
mkdir -p .device/node_modules/@koromix .device/tools .device/simdjson
simdjson=node_modules/@nozbe/simdjson
[ -f $simdjson/src/simdjson.h ] && [ -f $simdjson/src/simdjson.cpp ] ||
  { echo "prepare.sh: $simdjson/src/simdjson.h and simdjson.cpp not found: run npm install" >&2; exit 1; }
xz -c $simdjson/src/simdjson.h > .device/simdjson/simdjson.h.xz
xz -c $simdjson/src/simdjson.cpp > .device/simdjson/simdjson.cpp.xz
cp $simdjson/LICENSE .device/simdjson/
cp -r node_modules/koffi .device/node_modules/
cp -r node_modules/@koromix/koffi-linux-x64 .device/node_modules/@koromix/
cp -r dist .device/dist
cp ../shared/tools/make_reference.py .device/tools/
commit=$(git rev-parse HEAD)
[ -n "$(git status --porcelain --untracked-files=no)" ] && commit="$commit-dirty"
echo "$commit" > .device/commit
du -sh .device
echo "carry: [\".device\"]   command: bash bench/device/run.sh SUITE"
