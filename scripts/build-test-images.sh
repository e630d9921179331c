#!/usr/bin/env bash
# Builds the small local images ferry's tests, examples and local nodes use, without a registry:
# a rootfs holding Debian's static busybox, imported with `docker import`.
#   ferry.local/busybox:1 (and :2, same content, for rolling-update tests) — sh, httpd, nc, wget ...
#   ferry.local/pause:1 — the pod sandbox: owns the network namespace, exits on SIGTERM.
# Idempotent: an image that exists is left alone.
set -euo pipefail

busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! "$busybox" --list >/dev/null 2>&1; then
  echo "build-test-images: busybox (static) is missing: apt-get install busybox-static" >&2
  exit 1
fi

have() { docker image inspect "$1" >/dev/null 2>&1; }

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/www" "$rootfs/etc"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$rootfs/etc/passwd"
echo 'ferry' > "$rootfs/www/index.html"

if ! have ferry.local/busybox:1; then
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - ferry.local/busybox:1 >/dev/null
  echo "build-test-images: built ferry.local/busybox:1"
fi
have ferry.local/busybox:2 || docker tag ferry.local/busybox:1 ferry.local/busybox:2
if ! have ferry.local/pause:1; then
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' \
    -c 'CMD ["sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 1; done"]' - ferry.local/pause:1 >/dev/null
  echo "build-test-images: built ferry.local/pause:1"
fi
echo "build-test-images: ferry.local/busybox:1, ferry.local/busybox:2 and ferry.local/pause:1 are present"
