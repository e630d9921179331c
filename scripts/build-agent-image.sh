#!/usr/bin/env bash
# Builds ferry.local/agent:dev — the agent as a container — without a registry: a rootfs holding
# this machine's node binary, the shared libraries it links, and dist/agent.js, imported with
# `docker import`. Same layout and entry point as agent/Dockerfile (which real users build from
# node:22-slim). Needs `npm run build` first. Rebuilt every time: the agent changes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
agent="$root/dist/agent.js"
[ -f "$agent" ] || { echo "build-agent-image: $agent is missing: run npm run build" >&2; exit 1; }
node=$(readlink -f "$(command -v node)")

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/usr/local/bin" "$rootfs/opt/ferry" "$rootfs/tmp" "$rootfs/etc"
cp "$node" "$rootfs/usr/local/bin/node"
cp "$agent" "$rootfs/opt/ferry/agent.js"
# The dynamic loader and every library node links, at the paths the loader looks for them.
ldd "$node" | grep -o '/[^ ]*' | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$rootfs/etc/passwd"
chmod 1777 "$rootfs/tmp"

tar -C "$rootfs" -c . | docker import \
  -c 'ENTRYPOINT ["/usr/local/bin/node", "--lite-mode", "--no-expose-wasm", "/opt/ferry/agent.js"]' - ferry.local/agent:dev >/dev/null
echo "build-agent-image: built ferry.local/agent:dev"
