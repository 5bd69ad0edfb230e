#!/usr/bin/env bash
# Opt-in, needs root: the API suite under Node 24 with uWS (HTTP_SERVER unset) on glibc >= 2.38, in a Debian 13
# (trixie) root made with debootstrap from the Debian mirror apt uses here. Node 24 comes from the npm registry
# (scripts/node-matrix.sh's cache). Everything lives under var/ (git-ignored); mounts are undone on exit.
#   bash scripts/uws-debian13-check.sh [node-major, default 24]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
major=${1:-24}
root=$repo/var/debian13
mirror=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | head -1 | grep -oE 'https?://[^ ]+' || true)
mirror=${mirror:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
if [ ! -x "$root/usr/bin/redis-server" ]; then
  echo "uws-debian13: debootstrap trixie from $mirror into $root"
  debootstrap --variant=minbase --include=ca-certificates,redis-server trixie "$root" "$mirror"
fi
[ -x "var/cache/node-matrix/node-$major/bin/node" ] || bash scripts/node-matrix.sh --fetch-only "$major"

mounted=()
cleanup() { for ((i=${#mounted[@]}-1; i>=0; i--)); do umount "${mounted[$i]}" || true; done; }
trap cleanup EXIT
mkdir -p "$root/proc" "$root/dev" "$root$repo"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
mount --bind "$repo" "$root$repo" && mounted+=("$root$repo")

echo "uws-debian13: $(chroot "$root" ldd --version | head -1), Node $major, HTTP_SERVER unset (auto: uWS)"
chroot "$root" /usr/bin/env -i HOME=/root PATH="$repo/var/cache/node-matrix/node-$major/bin:/usr/bin:/bin" \
  bash -c "cd '$repo' && node --import tsx --test --test-concurrency=1 \
    test/unit/http-seam.test.ts test/integration/http-server-choice.test.ts test/integration/predict-api.test.ts \
    test/integration/openapi.test.ts test/integration/hostile-input.test.ts"
echo "uws-debian13: passed on $(date -u +%Y-%m-%d)"
