#!/usr/bin/env bash
# Two network namespaces joined by a veth pair, with sshd (Debian's openssh-server) in the
# second: a two-host cluster on one machine for the launcher e2e tests. Run as root.
#   netns_pair.sh start DIR   (ZT_SSH_PORT: sshd's port, found free by the caller binding port 0;
#                             the second namespace is new, so it is free there too)
#                             names are unique per run, the /30 is random in 10.0.0.0/8; writes
#                             DIR/pair.env (NS_A NS_B ADDR_A ADDR_B SSH_PORT VETH_B) and the
#                             client's key and known_hosts; sshd: test key, StrictModes no
#   netns_pair.sh cut DIR     takes the second host's end of the link down (both keep their
#                             addresses: the first host still reaches itself)
#   netns_pair.sh stop DIR    kills every process left in either namespace (sshd, its sessions,
#                             remote ranks) by pid and deletes both namespaces
set -euo pipefail
action=$1
dir=$(cd "$2" && pwd)

start() {
  local tag ns_a ns_b veth_a veth_b base a b port
  tag=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  ns_a=zt-$tag-a
  ns_b=zt-$tag-b
  veth_a=zt${tag}a
  veth_b=zt${tag}b
  base=$((RANDOM % 64 * 4))
  a=10.$((RANDOM % 250 + 1)).$((RANDOM % 256)).
  b=${a}$((base + 2))
  a=${a}$((base + 1))
  # Written first: stop cleans up whatever got created.
  printf 'NS_A=%s\nNS_B=%s\nVETH_B=%s\nADDR_A=%s\nADDR_B=%s\n' "$ns_a" "$ns_b" "$veth_b" "$a" "$b" >"$dir/pair.env"
  ip netns add "$ns_a"
  ip netns add "$ns_b"
  ip link add "$veth_a" type veth peer name "$veth_b"
  ip link set "$veth_a" netns "$ns_a"
  ip link set "$veth_b" netns "$ns_b"
  ip -n "$ns_a" addr add "$a/30" dev "$veth_a"
  ip -n "$ns_b" addr add "$b/30" dev "$veth_b"
  for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
  ip -n "$ns_a" link set "$veth_a" up
  ip -n "$ns_b" link set "$veth_b" up

  port=${ZT_SSH_PORT:?set ZT_SSH_PORT to a free port}
  echo "SSH_PORT=$port" >>"$dir/pair.env"
  ssh-keygen -q -t ed25519 -N '' -C zerotune-test-host -f "$dir/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C zerotune-test-client -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  echo "[$b]:$port $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >"$dir/known_hosts"
  cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress $b
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
LogLevel ERROR
CONF
  mkdir -p /run/sshd  # sshd's privilege separation directory
  chmod 0755 /run/sshd
  ip netns exec "$ns_b" /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
  for _ in $(seq 50); do [[ -s $dir/sshd.pid ]] && break; sleep 0.1; done
  [[ -s $dir/sshd.pid ]] || { echo "netns_pair: sshd did not start:" >&2; cat "$dir/sshd.log" >&2; return 1; }
  echo "netns_pair: $ns_a ($a) <-> $ns_b ($b), sshd on port $port"
}

stop() {
  [[ -f $dir/pair.env ]] || return 0
  # shellcheck disable=SC1091
  . "$dir/pair.env"
  for ns in "${NS_A:-}" "${NS_B:-}"; do
    [[ -n $ns ]] && ip netns list | grep -qw "$ns" || continue
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" || true
  done
}

cut_link() {
  # shellcheck disable=SC1091
  . "$dir/pair.env"
  ip -n "$NS_B" link set "$VETH_B" down
}

case $action in
  start) start ;;
  stop) stop ;;
  cut) cut_link ;;
  *) echo "usage: $0 start|cut|stop DIR" >&2; exit 2 ;;
esac
