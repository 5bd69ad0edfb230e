#!/usr/bin/env bash
# npm run setup: everything a fresh Debian 12 machine with Node 24 (22 and 20 work too) needs, idempotent.
#   1. Debian packages redis-server, nginx and chromium (browser test) when missing (apt-get; needs root or sudo);
#   2. npm ci (onnxruntime-node's CUDA download skipped: its CPU binaries ship in the package);
#   3. npm run build: the compiled JavaScript in dist/ that npm start, prod:up and the tools run;
#   4. the model repository models/: the default model only (nsfwjs MobileNetV2, exported and converted to ONNX).
#      Several models: `npm run models:examples` prepares examples/models (docs/models.md, "Several models").
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
case "$node_major" in
  20|22|24) ;;
  *) echo "setup: Node 20, 22 or 24 is required (found $(node --version)); see docs/deployment.md 'Node versions'." >&2; exit 1 ;;
esac

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
# Headless Chromium for the demo page's browser test (driven by playwright-core; no browser download).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian starts a system nginx on port 80 after installing it; this project runs its own, unprivileged.

if [ "${SETUP_SKIP_NPM:-}" != "1" ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

npm run -s build
if [ -f models/default/metadata.json ] || [ ! -d models/default ]; then
  node dist/scripts/export-default-model.js models/default
  node dist/tools/onnx-convert/cli.js models/default
else
  # Versioned by npm run quantize (1/ float, 2/ int8, ...): writing a top-level model would hide the versions.
  echo "setup: models/default holds numbered versions (npm run quantize): left as it is."
fi
# Setups before the example repository put inception_v3 and mobilenet_v2_mid here: npm start would load all three.
for extra in inception_v3 mobilenet_v2_mid; do
  if [ -d "models/$extra" ]; then
    echo "setup: models/$extra is from an earlier setup and npm start loads every model in models/: remove it to serve the default alone (npm run models:examples prepares examples/models)."
  fi
done
# Which front end this Node runs (HTTP_SERVER=auto): uWS where its binary loads (Node 22/24: glibc >= 2.38).
if node -e "import('./dist/src/http/uws-binary.js').then((m) => m.loadUws())" >/dev/null 2>&1; then
  echo "setup: done. Start the service with: npm start"
else
  echo "setup: done. Start the service with: npm start   (node:http: uWebSockets.js does not load on Node $(node --version)"
  echo "       with glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}'); glibc >= 2.38 or the container image gives uWS; docs/deployment.md 'Node versions')"
fi
