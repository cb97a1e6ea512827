#!/usr/bin/env bash
# fetch_debs.sh DIR: downloads the .deb files of scripts/gpu_debs.txt into DIR (on a Debian 12
# machine with its package sources), to be carried to a GPU host that has no network.
set -euo pipefail
dir=${1:?usage: fetch_debs.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
mapfile -t packages < <(grep -v '^\s*#' "$here/gpu_debs.txt" | grep -v '^\s*$')
cd "$dir"
apt-get download "${packages[@]}"
echo "fetch_debs: $(ls -1 ./*.deb | wc -l) packages, $(du -sh . | cut -f1) in $dir"
