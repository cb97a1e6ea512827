#!/usr/bin/env bash
# zerotune under Open MPI's mpirun: every MPI process is one rank, with its identity from
# OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK / _LOCAL_SIZE (PMIX_RANK is cross-checked). Rank 0
# hosts the coordinator in its own process. Its address is MASTER_ADDR when exported here;
# otherwise rank 0 broadcasts its routable address over MPI (zerotune built with MPI) — export
# MASTER_ADDR when the first routable interface is the wrong one. MASTER_PORT defaults to a
# port derived from Open MPI's job id.
#
#   ZEROTUNE_NP=16 ZEROTUNE_MPI_HOSTFILE=hosts zerotune-mpirun.sh train --config run.yaml
#   ZEROTUNE_NP=2 ZEROTUNE_MPIRUN_ARGS="--allow-run-as-root --oversubscribe" \
#     zerotune-mpirun.sh selftest --steps 20 --output_dir out
#
# The arguments are the worker's; ZEROTUNE_WORKER names the program (default: zerotune-worker
# on PATH). Ranks are node-major in host order, so processes are mapped by slot (--map-by slot).
# The variables below are passed to every rank with -x when they are set here; add more with
# ZEROTUNE_MPIRUN_ARGS="-x NAME".
#
# Failures: when a rank fails or stops answering, every other rank exits non-zero within twice
# the heartbeat timeout (ZEROTUNE_HEARTBEAT_TIMEOUT_MS, default 10000), and mpirun ends the job
# when the first process exits non-zero.
set -euo pipefail

worker=${ZEROTUNE_WORKER:-zerotune-worker}
if [[ -z ${ZEROTUNE_TOKEN:-} ]]; then
  ZEROTUNE_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  export ZEROTUNE_TOKEN
fi

args=(-np "${ZEROTUNE_NP:-1}" --map-by slot --bind-to none)
[[ -n ${ZEROTUNE_MPI_HOSTFILE:-} ]] && args+=(--hostfile "$ZEROTUNE_MPI_HOSTFILE")
for name in PATH LD_LIBRARY_PATH MASTER_ADDR MASTER_PORT ZEROTUNE_TOKEN ZEROTUNE_HEARTBEAT_INTERVAL_MS \
  ZEROTUNE_HEARTBEAT_TIMEOUT_MS ZEROTUNE_RENDEZVOUS_TIMEOUT_S GLOO_SOCKET_IFNAME OMP_NUM_THREADS; do
  [[ -n ${!name:-} ]] && args+=(-x "$name")
done
for name in $(compgen -e | grep -E '^NCCL_' || true); do args+=(-x "$name"); done
# shellcheck disable=SC2206  # word splitting of the extra arguments is intended
extra=(${ZEROTUNE_MPIRUN_ARGS:-})
exec mpirun "${args[@]}" "${extra[@]}" "$worker" "$@"
