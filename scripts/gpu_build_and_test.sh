#!/usr/bin/env bash
# gpu_build_and_test.sh [PREFIX]: the GPU build in one command, on a host with PyTorch 2.x,
# CUDA 13 (nvcc) and NCCL (the nvidia-nccl pip package) but without gRPC/Protobuf/Abseil/Gloo/
# spdlog C++ packages or network.
#  1. unpacks the .deb files brought along in $ZT_DEB_DIR (default .gpu-debs/, made by
#     scripts/fetch_debs.sh from scripts/gpu_debs.txt) into PREFIX (default build-gpu/prefix),
#     never over the system;
#  2. configures build-gpu/ as CI configures build/: the torch wheel's site-packages (here the
#     host Python's, in CI .venv-torch/'s) give LibTorch and NCCL, CUDA architecture 90;
#  3. builds, and runs the unit and gpu labels.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZT_BUILD_DIR:-$root/build-gpu}
prefix=$(realpath -m "${1:-$build/prefix}")
debs=${ZT_DEB_DIR:-$root/.gpu-debs}
python=${PYTHON:-python3}
start=$SECONDS

if [[ ! -f "$prefix/.unpacked" ]]; then
  ls "$debs"/*.deb >/dev/null 2>&1 || { echo "no .deb files in $debs (run scripts/fetch_debs.sh $debs on Debian 12)" >&2; exit 1; }
  mkdir -p "$prefix"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$prefix"; done
  # Gloo's CMake export names its library by absolute path; point it into the prefix.
  sed -i "s|\"/usr/lib/libgloo|\"$prefix/usr/lib/libgloo|g" "$prefix"/usr/share/cmake/Gloo/GlooTargets-*.cmake
  touch "$prefix/.unpacked"
fi
libdir="$prefix/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$libdir:$prefix/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LIBRARY_PATH="$libdir:$prefix/usr/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
export PKG_CONFIG_PATH="$libdir/pkgconfig:$prefix/usr/share/pkgconfig"
export PATH="$prefix/usr/bin:$PATH"

site_packages=$("$python" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
nccl_root=$site_packages/nvidia/nccl
export LD_LIBRARY_PATH="$nccl_root/lib:$LD_LIBRARY_PATH"
echo "gpu build: torch $("$python" -c 'import torch;print(torch.__version__)') in $site_packages"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DZT_TORCH_SITE_PACKAGES="$site_packages" -DCMAKE_PREFIX_PATH="$prefix/usr" \
  -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc" -DZT_CUDA=ON -DZT_MPI=OFF
cmake --build "$build" --parallel "$(nproc)"
configure_build=$((SECONDS - start))

status=0
for label in unit gpu; do
  t=$SECONDS
  ctest --test-dir "$build" -L "^$label\$" --output-on-failure --no-tests=ignore -j "$(nproc)" || status=1
  echo "label $label: $((SECONDS - t)) s"
done
echo "gpu_build_and_test: configure+build ${configure_build} s, total $((SECONDS - start)) s, status $status"
exit $status
