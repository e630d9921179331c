#!/usr/bin/env bash
# Builds ferry.local/node:1 without a registry: this machine's node binary, the shared libraries it
# links (ldd), busybox for a shell, and the e2e test servers under /app (test/e2e/images/). Used by
# the e2e tests that need a real app process (the gRPC health server). Idempotent.
set -euo pipefail

docker image inspect ferry.local/node:1 >/dev/null 2>&1 && exit 0
here=$(cd "$(dirname "$0")/.." && pwd)
node=$(command -v node)
busybox=$(command -v busybox)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/app"
cp "$node" "$rootfs/bin/node"
cp "$busybox" "$rootfs/bin/busybox"
for applet in sh cat id ls mount touch sleep echo wget; do ln -sf busybox "$rootfs/bin/$applet"; done
# Each library at the path the loader looks for it.
ldd "$node" | awk '/=> \// { print $3 } /^[ \t]*\/lib/ { print $1 }' | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$rootfs/etc/passwd"
echo 'hosts: files dns' > "$rootfs/etc/nsswitch.conf"
cp "$here"/test/e2e/images/*.js "$rootfs/app/"
tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["node"]' - ferry.local/node:1 >/dev/null
echo "build-node-image: built ferry.local/node:1"
