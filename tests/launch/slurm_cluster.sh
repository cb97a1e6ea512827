#!/usr/bin/env bash
# A one-node Slurm cluster from Debian's slurm-wlm and munge, everything in one scratch folder
# (key, sockets, state, spool, logs, pid files); for the launcher e2e tests. Run as root.
#   slurm_cluster.sh start DIR   writes DIR/slurm.conf, starts munged, slurmctld, slurmd and
#                                waits until the node is idle (clients: SLURM_CONF=DIR/slurm.conf);
#                                ZT_SLURMCTLD_PORT / ZT_SLURMD_PORT: free ports (the caller binds 0)
#   slurm_cluster.sh stop DIR    stops the three daemons by the pids in their pid files
set -euo pipefail
action=$1
dir=$(cd "$2" && pwd)

stop() {
  for name in slurmd slurmctld munged; do
    local file="$dir/$name.pid"
    [[ -s $file ]] || continue
    local pid
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
  done
}

start() {
  local host cpus
  host=$(hostname -s)
  cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it honours OMP_NUM_THREADS
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  chown munge:munge "$dir/munge"
  chmod 0700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 status=none
  chown munge:munge "$dir/munge/munge.key"
  chmod 0400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"
  cat >"$dir/slurm.conf" <<CONF
ClusterName=zerotune-test
SlurmctldHost=$host
SlurmctldPort=${ZT_SLURMCTLD_PORT:?}
SlurmdPort=${ZT_SLURMD_PORT:?}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
KillWait=2
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=2000 State=UNKNOWN
PartitionName=zt Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    if [[ $state == idle* ]]; then echo "slurm_cluster: node $host idle"; return 0; fi
    sleep 0.1
  done
  echo "slurm_cluster: node not idle after 15 s (state '${state:-}'); slurmctld.log:" >&2
  tail -20 "$dir/slurmctld.log" >&2 || true
  tail -20 "$dir/slurmd.log" >&2 || true
  return 1
}

case $action in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
