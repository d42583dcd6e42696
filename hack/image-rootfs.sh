#!/usr/bin/env bash
# Lays out the root filesystem of an image that runs one Linux binary:
#   the binary (debug info stripped), exactly the shared libraries `ldd`
#   lists and the ELF loader (none for a static binary), and with --user
#   also /etc/passwd and /etc/group entries for UID/GID 65532 ("nonroot"),
#   the build machine's CA bundle at /etc/ssl/certs/ca-certificates.crt and
#   /etc/nsswitch.conf ("hosts: files dns": /etc/hosts, which Kubernetes
#   writes from hostAliases, before DNS; glibc's default asks DNS first).
# Nothing else: no shell, no package manager.
#
# The Dockerfile's build stage and `make image` both run this script, so
# the image built with a registry and the one built offline hold the same
# files; hack/oci-image.py packs the directory.
#
# Usage: hack/image-rootfs.sh [--user] BINARY DEST-PATH OUT-DIR
#   e.g. hack/image-rootfs.sh --user target/release/s3-connection-operator \
#          /usr/local/bin/s3-connection-operator dist/rootfs
set -euo pipefail

die() { printf '[image-rootfs] ERROR: %s\n' "$*" >&2; exit 1; }

user=0
if [[ ${1:-} == --user ]]; then user=1; shift; fi
[[ $# -eq 3 ]] || die "usage: $0 [--user] BINARY DEST-PATH OUT-DIR"
bin=$1 dest=$2 out=$3
[[ -f $bin && -x $bin ]] || die "$bin is not an executable file"
[[ $dest == /* ]] || die "DEST-PATH must be absolute: $dest"
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

rm -rf "$out"
mkdir -p "$out"
# The ELF loader and libraries at the paths ldd prints (the loader's path is
# the one written into the binary). `ldd` of a static binary prints "not a
# dynamic executable" or "statically linked" and exits 1 or 0.
libs=$(ldd "$bin" 2>&1 || true)
if grep -qE 'not a dynamic executable|statically linked' <<< "$libs"; then
  libs=""
fi
while read -r line; do
  [[ -n $line ]] || continue
  path=""
  case $line in
    *' => '*) path=$(awk '{print $3}' <<< "$line") ;;   # libc.so.6 => /lib/.../libc.so.6 (0x...)
    /*) path=$(awk '{print $1}' <<< "$line") ;;          # /lib64/ld-linux-x86-64.so.2 (0x...)
    linux-vdso* | linux-gate*) continue ;;              # provided by the kernel
    *) die "cannot read this line of ldd's output: $line" ;;
  esac
  [[ $path == /* && -e $path ]] || die "library not found: $line"
  install -D -m 0755 "$(readlink -f "$path")" "$out$path"
done <<< "$libs"

install -D -m 0755 "$bin" "$out$dest"
# Debug information is for debuggers, not for a running operator; the
# symbol table stays (panic backtraces name functions).
objcopy --strip-debug "$out$dest"

if ((user)); then
  [[ -s $CA_BUNDLE ]] || die "no CA bundle at $CA_BUNDLE (install ca-certificates, or set CA_BUNDLE)"
  install -D -m 0644 "$CA_BUNDLE" "$out/etc/ssl/certs/ca-certificates.crt"
  install -d -m 0755 "$out/etc"
  printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > "$out/etc/passwd"
  printf 'nonroot:x:65532:\n' > "$out/etc/group"
  printf 'hosts: files dns\n' > "$out/etc/nsswitch.conf"
  chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf"
fi
