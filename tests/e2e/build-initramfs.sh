#!/bin/bash
# Builds the e2e guest's initramfs:
#   build-initramfs.sh KERNEL_DIR LASTGASP_SETUP INIT OUT.cpio.gz
# KERNEL_DIR comes from fetch-kernel.sh. The image holds busybox-static (one
# symlink per applet), the modules the tests need laid out as on a real host
# under /lib/modules/<version>/ with a modules.dep from depmod -b (so that
# lastgasp-setup's modprobe finds them), lastgasp-setup at /usr/sbin with every
# file ldd lists for it (its shared libraries and the dynamic loader, at the
# same paths), and INIT as /init.
set -euo pipefail
kdir=${1:?KERNEL_DIR} setup=${2:?LASTGASP_SETUP} init=${3:?INIT} out=${4:?OUT}
ver=$(cat "$kdir/version")
src=$kdir/lib/modules/$ver
root=$(mktemp -d "${out%.cpio.gz}.root.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,run,var/lib,usr/sbin,root} "$root/lib/modules/$ver"
cp /bin/busybox "$root/bin/busybox"
for app in $(/bin/busybox --list); do
  [ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
done
# /dev/console must exist before /init mounts devtmpfs, or init has no stdout.
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"

# The modules and everything they depend on (modules.dep lists the closure),
# decompressed: busybox's modprobe takes only plain .ko files.
want="netconsole virtio_net virtio_pci ramoops 8021q bonding"
declare -A deps=()
while IFS= read -r line; do
  mod=${line%%:*}; rest=${line#*:}
  deps[$mod]="$mod $rest"
done < "$src/modules.dep"
files=""
for m in $want; do
  key=$(printf '%s\n' "${!deps[@]}" | grep -E "/${m}\.ko(\.xz|\.zst)?$" | head -1 || true)
  [ -n "$key" ] || { grep -qE "/${m}\.ko" "$src/modules.builtin" || echo "warning: no module $m" >&2; continue; }
  files="$files ${deps[$key]}"
done
for f in $(printf '%s\n' $files | sort -u); do
  dst=$root/lib/modules/$ver/${f%.xz}; dst=${dst%.zst}
  mkdir -p "$(dirname "$dst")"
  case "$f" in
    *.xz) xz -dc "$src/$f" > "$dst" ;;
    *.zst) zstd -dcq "$src/$f" > "$dst" ;;
    *) cp "$src/$f" "$dst" ;;
  esac
done
cp "$src"/modules.builtin* "$src"/modules.order "$root/lib/modules/$ver/" 2>/dev/null || true
depmod -b "$root" "$ver"

# lastgasp-setup, dynamically linked as on a real host: its libraries and the loader from ldd.
install -m 755 "$setup" "$root/usr/sbin/lastgasp-setup"
for lib in $(ldd "$setup" | grep -oE '/[^ ]+'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
install -m 755 "$init" "$root/init"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
