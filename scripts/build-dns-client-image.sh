#!/usr/bin/env bash
# Builds ferry.local/dns-client:1 without a registry: a client that resolves names the way real
# applications do, through the C library (getaddrinfo: /etc/nsswitch.conf `hosts: files dns`,
# /etc/resolv.conf's search list and ndots). Only what it needs: this machine's node binary, the
# shared libraries it links (ldd; glibc >= 2.34 has the files and dns NSS modules built in, older
# ones need libnss_dns/libnss_files/libresolv, copied when present) and test/e2e/images/dns-client.js.
# Used by the DNS e2e test and bench. Idempotent.
set -euo pipefail

image=ferry.local/dns-client:1
docker image inspect "$image" >/dev/null 2>&1 && exit 0
here=$(cd "$(dirname "$0")/.." && pwd)
node=$(command -v node)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/app"
cp "$node" "$rootfs/bin/node"
libs=$(ldd "$node" | awk '/=> \// { print $3 } /^[ \t]*\/lib/ { print $1 }')
libdir=$(dirname "$(ldd "$node" | awk '/libc\.so/ { print $3 }')")
for extra in libnss_dns.so.2 libnss_files.so.2 libresolv.so.2; do
  [ -e "$libdir/$extra" ] && libs="$libs $libdir/$extra"
done
# Each library at the path the loader looks for it.
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
echo 'hosts: files dns' > "$rootfs/etc/nsswitch.conf"
cp "$here/test/e2e/images/dns-client.js" "$rootfs/app/"
tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["node", "/app/dns-client.js"]' - "$image" >/dev/null
echo "build-dns-client-image: built $image"
