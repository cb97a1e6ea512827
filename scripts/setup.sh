#!/usr/bin/env bash
# Installs every Debian package zerotune needs to build and test on a CPU machine, then
# LibTorch: the PyPI torch wheel (the build the GPU host runs, with its nvidia-* dependencies,
# NCCL among them) into .venv-torch/ in the repository (git-ignored; ZT_TORCH_VENV moves it),
# never into the system's Python. Idempotent: what is present is left alone. Run as root (or
# with sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # the virtual environment LibTorch's wheel is installed into
  python3 python3-venv
  # RPC: gRPC, Protobuf, Abseil, OpenSSL (TLS between coordinator and ranks)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev libssl-dev
  # openssl: makes the self-signed pair of the coordinator's TLS test
  openssl
  # collectives: Gloo (CPU) and OpenMPI
  libgloo-dev libopenmpi-dev openmpi-bin
  # JSON, CLI, Unicode, logging, tests and benchmarks
  nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing with libFuzzer
  clang-14 libclang-rt-14-dev
  # compressed fixtures
  zstd
  # launcher e2e tests with real daemons: sshd in a network namespace, a one-node Slurm
  # cluster (munge, slurmctld, slurmd); setsid and sha256sum are in Essential packages
  openssh-server openssh-client iproute2 slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

torch_version=2.11.0
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ZT_TORCH_VENV:-$root/.venv-torch}
if "$venv/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  echo "setup: torch $torch_version present in $venv"
else
  start=$SECONDS
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check "torch==$torch_version"
  echo "setup: torch $torch_version installed into $venv ($(du -sh "$venv" | cut -f1)) in $((SECONDS - start)) s"
fi
echo "setup: done"
