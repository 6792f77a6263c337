#!/bin/bash
# Stops what start-cluster.sh started, by pid, in reverse order: the pods first (kubelet stops
# them through the CRI), then the components, then containerd; removes the CNI bridge and the
# iptables chains kube-proxy and the CNI plugins made, and restores ip_forward. Logs stay in
# $K8S_E2E_RUN/logs until the next start (K8S_E2E_WIPE=1 deletes $K8S_E2E_RUN now).
# PID 1 here reaps orphans only every ~2 s, so a zombie (state Z) counts as stopped.
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
R=$K8S_E2E_RUN; C=$K8S_E2E_CTRD
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $st != Z* ]]; }
stop() {  # stop NAME [SECONDS]: TERM, wait (default 10 s), then KILL
  [ -f "$R/$1.pid" ] || return 0
  local pid; pid=$(cat "$R/$1.pid"); kill -TERM "$pid" 2>/dev/null
  for _ in $(seq $((${2:-10} * 10))); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && { echo "$1 ($pid) did not stop in ${2:-10} s: KILL"; kill -9 "$pid"; }
  rm -f "$R/$1.pid"
}
ctr_() { ctr --address "$C/containerd.sock" -n k8s.io "$@"; }
stop pvprov
for c in proxy sched kcm kubelet; do stop $c; done
# Every pod sandbox and container, whatever state the kubelet left them in.
if [ -S "$C/containerd.sock" ] && [ -f "$R/containerd.pid" ]; then
  cfg=$R/crictl.yaml
  for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1; done
  sleep 0.5
  for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1; done
fi
# The apiserver drains open watches for a long time on TERM; its etcd data is thrown away anyway.
stop apiserver 2; stop etcd; stop containerd
# Leftover mounts of pod volumes and sandboxes under our folders (kubelet and containerd are gone).
grep -oE " ($R|$C)/[^ ]+" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
# Network namespaces the CRI made for the pods.
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$ns" 2>/dev/null; done
[ -f "$R/made-netns-mount" ] && [ -z "$(ls -A /run/netns)" ] && umount /run/netns
ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && ip link delete "$CNI_BRIDGE"
# iptables state: kube-proxy's and the kubelet's KUBE-* chains and the bridge plugin's CNI-*
# chains (nothing else on this machine uses those prefixes): first the jumps from the built-in
# chains, then the chains themselves.
for ipt in iptables ip6tables; do
  for table in filter nat mangle; do
    $ipt -t $table -S 2>/dev/null | grep -E -- '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE|CNI)-' |
      sed 's/^-A/-D/' | while read -r rule; do eval "$ipt -t $table $rule"; done
    chains=$($ipt -t $table -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE|CNI)-/ {print $2}')
    for ch in $chains; do $ipt -t $table -F "$ch"; done
    for ch in $chains; do $ipt -t $table -X "$ch"; done
  done
done
[ -f "$R/sysctl.ip_forward" ] && sysctl -qw net.ipv4.ip_forward="$(cat "$R/sysctl.ip_forward")"
[ "${K8S_E2E_WIPE:-0}" = 1 ] && rm -rf "$R"
exit 0
