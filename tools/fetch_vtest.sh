#!/usr/bin/env bash
# Extract vtest.avi (768x576, 795 frames, people walking) from Debian's opencv-doc package.
# Only the one file is unpacked; the .deb is removed afterwards.
set -euo pipefail
dest=${1:-data/vtest.avi}
member=./usr/share/doc/opencv-doc/examples/data/vtest.avi
mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download opencv-doc >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get download opencv-doc >/dev/null
fi
dpkg-deb --fsys-tarfile opencv-doc_*.deb | tar -x "$member"
cd - >/dev/null
mv "$tmp/$member" "$dest"
echo "fetched $dest ($(stat -c %s "$dest") bytes)"
