#!/usr/bin/env bash
# The kubectl plugin's release archive and its Krew manifest, from a built
# binary: OUT/kubectl-s3c_TAG_OS_ARCH.tar.gz (kubectl-s3c stripped of its
# symbols and debug info, LICENSE; sorted, fixed owner and timestamps, so
# the same binary gives the same bytes) and OUT/s3c.yaml (deploy/krew/s3c.yaml
# rendered for every archive of TAG in OUT, so calls for several platforms
# add up). `make plugin-archive` runs it on the release binary, the release
# workflow on the image's binaries, the plugin integration test on the test's.
#
# Usage: [STRIP=strip] hack/plugin-archive.sh BINARY TAG OUT [OS ARCH]
#        (default linux amd64; STRIP: a strip that reads BINARY's architecture)
set -euo pipefail

bin=${1:?binary}; tag=${2:?tag, e.g. v0.1.0}; out=${3:?output directory}
os=${4:-linux}; arch=${5:-amd64}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
"${STRIP:-strip}" -o "$stage/kubectl-s3c" "$bin"
cp "$repo/LICENSE" "$stage/LICENSE"
chmod 0755 "$stage/kubectl-s3c"
chmod 0644 "$stage/LICENSE"
archive=$out/kubectl-s3c_${tag}_${os}_${arch}.tar.gz
tar --sort=name --mtime=@"${SOURCE_DATE_EPOCH:-0}" --owner=0 --group=0 --numeric-owner \
  -C "$stage" -cf - kubectl-s3c LICENSE | gzip -n > "$archive"
platforms=()
for a in "$out/kubectl-s3c_${tag}_"*.tar.gz; do
  p=${a#"$out/kubectl-s3c_${tag}_"}; p=${p%.tar.gz}
  platforms+=(--archive "${p%_*}/${p##*_}=$a")
done
python3 "$repo/hack/krew-manifest.py" --template "$repo/deploy/krew/s3c.yaml" --tag "$tag" \
  "${platforms[@]}" > "$out/s3c.yaml"
echo "archive: $archive"
echo "manifest: $out/s3c.yaml"
