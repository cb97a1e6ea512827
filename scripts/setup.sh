#!/usr/bin/env bash
# Installs every Debian package zerotune needs to build and test on a CPU machine.
# Idempotent: packages already present are left alone. Run as root (or with sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # LibTorch 1.13 (CPU) and a real BLAS for it (the default reference BLAS is ~29x slower)
  libtorch-dev libopenblas0-pthread
  # RPC: gRPC, Protobuf, Abseil, OpenSSL (TLS between coordinator and ranks)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev libssl-dev
  # openssl: makes the self-signed pair of the coordinator's TLS test
  openssl
  # collectives: Gloo (CPU) and OpenMPI
  libgloo-dev libopenmpi-dev openmpi-bin
  # JSON, CLI, Unicode, tests and benchmarks
  nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev
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
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
