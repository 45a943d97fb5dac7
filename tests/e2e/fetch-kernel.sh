#!/bin/bash
# Fetches one of Debian's kernels for the e2e tests and prepares it, cached:
#   fetch-kernel.sh 6.1|6.12  ->  prints the prepared directory, which holds
#   vmlinux (uncompressed, PVH-bootable: saves seconds of xz under TCG),
#   version (the module directory name), config, and lib/modules/<version>/
#   (as packaged, plus modules.dep from depmod -b).
# The package is downloaded with apt-get download and unpacked, never installed.
# Its name is resolved at run time with apt-cache, because pinned versions
# vanish from the archive. When apt-cache cannot answer, the newest cached
# kernel of that series is used.
# Cache: $LASTGASP_E2E_CACHE, default /var/cache/lastgasp-e2e (~/.cache/lastgasp-e2e
# when that is not writable). Concurrent runs serialise on a lock.
set -euo pipefail
series=${1:?usage: fetch-kernel.sh 6.1|6.12}
cache=${LASTGASP_E2E_CACHE:-/var/cache/lastgasp-e2e}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then cache=${XDG_CACHE_HOME:-$HOME/.cache}/lastgasp-e2e; mkdir -p "$cache"; fi

resolve() {
  case "$series" in
    6.1) apt-cache depends linux-image-amd64 2>/dev/null |
           sed -n 's/.*Depends: \(linux-image-6\.1\.[0-9.]*-[0-9]*-amd64\)$/\1/p' | head -1
         # bookworm's metapackage points at 6.1; fall back to the newest 6.1 ABI in the index
         apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -1 ;;
    6.12) apt-cache pkgnames linux-image-6.12. 2>/dev/null | grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | sort -V | tail -1 ;;
    *) echo "unknown series $series" >&2; exit 2 ;;
  esac
}

exec 9>"$cache/.lock"
flock 9
cached() {  # the newest prepared kernel of the series, if any
  local ready
  ready=$(ls -d "$cache"/linux-image-"$series".*/ready 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$ready" ] && dirname "$ready"
}
fallback() {
  local dir
  dir=$(cached) || { echo "fetch-kernel: $1, and no $series kernel is cached" >&2; exit 1; }
  echo "fetch-kernel: $1; using the cached $dir" >&2
  echo "$dir"; exit 0
}
pkg=$(resolve | head -1 || true)
[ -n "$pkg" ] || fallback "apt-cache knows no $series kernel"
dir=$cache/$pkg
if [ -e "$dir/ready" ]; then echo "$dir"; exit 0; fi

echo "fetch-kernel: preparing $pkg in $dir" >&2
rm -rf "$dir" "$dir.tmp"; mkdir -p "$dir.tmp/unpacked" "$cache/debs"
deb=$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | tail -1 || true)
if [ -z "$deb" ]; then
  # as root, apt hands the download to _apt: let it write there
  chmod 1777 "$cache/debs" 2>/dev/null || true
  if ! (cd "$cache/debs" && apt-get download -q "$pkg" >&2); then
    rm -rf "$dir.tmp"
    fallback "apt-get download $pkg failed"
  fi
  deb=$(ls "$cache/debs/${pkg}_"*.deb | tail -1)
fi
dpkg-deb -x "$deb" "$dir.tmp/unpacked"
ver=$(ls "$dir.tmp/unpacked/lib/modules" | head -1)
# The .deb ships no modules.dep (its postinst makes it). 6.12's modules stay
# .ko.xz here; the initramfs builder decompresses the few it takes.
mkdir -p "$dir.tmp/lib/modules"
mv "$dir.tmp/unpacked/lib/modules/$ver" "$dir.tmp/lib/modules/$ver"
depmod -b "$dir.tmp" "$ver"
# The uncompressed, PVH-bootable ELF: the bzImage payload is one xz stream.
vmlinuz=$dir.tmp/unpacked/boot/vmlinuz-$ver
# Try every xz stream start until one decodes (a stray magic can precede it).
# pipefail off: tail gets SIGPIPE when xz stops at the end of the stream.
set +o pipefail
for off in $(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1); do
  if tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream > "$dir.tmp/vmlinux" 2>/dev/null ||
     [ "$(head -c 4 "$dir.tmp/vmlinux" | od -An -c | tr -d ' ')" = "177ELF" ]; then break; fi
done
# 6.12 is zstd-compressed (CONFIG_KERNEL_ZSTD): zstd complains about the bytes after the frame.
if [ "$(head -c 4 "$dir.tmp/vmlinux" 2>/dev/null | od -An -c | tr -d ' ')" != "177ELF" ]; then
  for off in $(LC_ALL=C grep -abo $'\x28\xb5\x2f\xfd' "$vmlinuz" | cut -d: -f1); do
    tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq > "$dir.tmp/vmlinux" 2>/dev/null || true
    [ "$(head -c 4 "$dir.tmp/vmlinux" | od -An -c | tr -d ' ')" = "177ELF" ] && break
  done
fi
set -o pipefail
[ "$(head -c 4 "$dir.tmp/vmlinux" | od -An -c | tr -d ' ')" = "177ELF" ] ||
  { echo "fetch-kernel: no xz- or zstd-compressed ELF in $vmlinuz" >&2; exit 1; }
cp "$dir.tmp/unpacked/boot/config-$ver" "$dir.tmp/config"
echo "$ver" > "$dir.tmp/version"
echo "$pkg" > "$dir.tmp/package"
rm -rf "$dir.tmp/unpacked"
mv "$dir.tmp" "$dir"
touch "$dir/ready"
# Older kernels of the series are of no more use: the cache holds one per series.
for old in "$cache"/linux-image-"$series".*; do
  [ "$old" = "$dir" ] || [ ! -d "$old" ] || rm -rf "$old"
done
for old in "$cache"/debs/linux-image-"$series".*.deb; do
  case "$old" in "$cache/debs/${pkg}_"*) ;; *) rm -f "$old" ;; esac
done
echo "$dir"
