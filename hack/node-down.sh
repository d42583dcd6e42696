#!/usr/bin/env bash
# Stops the node hack/node-up.sh started for ${S3C_DEV_DIR:-<repo>/.dev} and
# removes everything it left on the machine: every pod's containers and
# sandboxes (through the node's containerd, then whatever is left in the
# kubepods cgroups), the kubelet, kube-controller-manager, kube-scheduler,
# containerd and its shims; every mount under the node's state dir
# ($S3C_DEV_DIR/node: pod volumes, container root filesystems, sandbox /dev/shm)
# and under /run/containerd and /run/netns; the kubepods cgroups; the state
# dir; the fixed paths the node created (/run/containerd, /run/mount,
# /run/netns, /var/lib/kubelet, /var/lib/cni, /var/log/containers, ...: those
# node-up recorded as absent in /run/s3c-node/absent); the kernel settings
# the kubelet changed (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops:
# restored); the Node object; and the machine-wide claim /run/s3c-node.
# Logs stay in $S3C_DEV_DIR/logs.
# The control plane (hack/dev-up.sh) keeps running. Idempotent.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV=${S3C_DEV_DIR:-$REPO/.dev}
CLAIM=/run/s3c-node
# set by node-up for a stale claim: clean the machine even if $DEV is gone
FORCE=${S3C_NODE_FORCE_CLEAN:-0}

log() { printf '[node-down] %s\n' "$*" >&2; }

if [[ -d $DEV ]]; then DEV=$(cd "$DEV" && pwd); fi
NODE=$DEV/node RUN=$DEV/run
SOCK=$NODE/containerd/containerd.sock
owner=$(cat "$CLAIM/owner" 2> /dev/null || true)

# Ours: the machine's node claim names $DEV, or there is no claim and $DEV
# has node state.
mine=0
if [[ $owner == "$DEV" ]] || ((FORCE)); then
  mine=1
elif [[ -z $owner && ( -d $NODE || -f $RUN/kubelet.pid || -f $RUN/containerd.pid ) ]]; then
  mine=1
fi
if ((!mine)); then
  if [[ -n $owner ]]; then
    log "no node in $DEV (this machine's node belongs to $owner; not touching it)"
  else
    log "nothing to do (no node in $DEV)"
  fi
  exit 0
fi
[[ $(id -u) == 0 ]] || { log "ERROR: needs root"; exit 1; }

BIN=$("$REPO/hack/tools.sh" path)
export PATH=$BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [[ -d $DEV ]]; then
  exec 7> "$DEV/.node.lock"
  flock -w 300 7 || { log "another node-up/node-down holds $DEV/.node.lock"; exit 1; }
  mkdir -p "$RUN"
else
  # a stale claim whose dir is gone: no pid files to read
  RUN=$(mktemp -d)
  trap 'rm -rf "$RUN"' EXIT
fi
source "$REPO/hack/proc.sh"

# 1. Nothing may start new containers: the kubelet and the controllers first.
stop_component kubelet "$BIN/kubelet --config"
stop_component kube-scheduler "$BIN/kube-scheduler"
stop_component kube-controller-manager "$BIN/kube-controller-manager"

# The Node object goes too (it would read Ready for 40s more); its pods stay
# in the API (bound to it, they run again on the next node-up).
if [[ -s $DEV/kubeconfig ]]; then
  kubectl --kubeconfig "$DEV/kubeconfig" --request-timeout=5s delete node localhost --ignore-not-found --wait=false > /dev/null 2>&1 ||
    log "note: could not delete Node localhost (the kube-apiserver is down?)"
fi

# 2. Every task and container (sandboxes are containers too), while
#    containerd still runs: their shims exit and containerd unmounts their
#    root filesystems.
if [[ -S $SOCK ]] && ctr --address "$SOCK" version > /dev/null 2>&1; then
  ctr_() { timeout 30 ctr --address "$SOCK" --namespace k8s.io "$@"; }
  tasks=$(ctr_ tasks ls -q 2> /dev/null || true)
  if [[ -n $tasks ]]; then
    log "killing $(wc -w <<< "$tasks") containers"
    for t in $tasks; do ctr_ tasks kill --all --signal SIGKILL "$t" > /dev/null 2>&1 || true; done
    for t in $tasks; do ctr_ tasks delete --force "$t" > /dev/null 2>&1 || true; done
  fi
  for c in $(ctr_ containers ls -q 2> /dev/null || true); do
    ctr_ containers delete "$c" > /dev/null 2>&1 || true
  done
fi
stop_component containerd "containerd --config $NODE/"

# 3. What is left: shims of our containerd (they outlive it by design) and
#    the processes of any pod (the kubepods cgroups hold exactly those).
shims() { pgrep -f -- "containerd-shim-runc-v2 .*-address $SOCK( |\$)" || true; }
# node processes without a pid file (a stale node whose dir is gone): their
# command lines name configuration files in $NODE
node_procs() { pgrep -f -- "--(config|kubeconfig)[= ]$NODE/" || true; }
kubepods_pids() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d $d ]] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2> /dev/null || true
  done | sort -u
}
for ((i = 0; i < 50; i++)); do
  pids="$(node_procs) $(shims) $(kubepods_pids)"
  [[ -n ${pids// /} ]] || break
  if ((i == 0)); then log "killing leftover shims and pod processes: $(tr -s ' \n' ' ' <<< "$pids")"; fi
  # shellcheck disable=SC2086
  kill -KILL $pids 2> /dev/null || true
  sleep 0.2
done
[[ -z "$(node_procs)$(shims)$(kubepods_pids)" ]] || log "warning: processes survive: $(node_procs) $(shims) $(kubepods_pids)"

# 4. Mounts: deepest first, until none is left (mounts may be stacked).
mounts_to_go() {
  # field 5 of mountinfo is the mount point, with \040-style escapes
  awk '{print $5}' /proc/self/mountinfo | while read -r m; do
    m=$(printf '%b' "$m")
    case $m in
      "$NODE" | "$NODE"/* | /run/containerd | /run/containerd/* | /run/netns/cni-*) echo "$m" ;;
    esac
  done | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-
}
for ((i = 0; i < 10; i++)); do
  list=$(mounts_to_go)
  [[ -n $list ]] || break
  if ((i == 0)); then log "unmounting $(wc -l <<< "$list") mounts"; fi
  while IFS= read -r m; do
    umount "$m" 2> /dev/null || umount -l "$m" 2> /dev/null || true
  done <<< "$list"
done
[[ -z $(mounts_to_go) ]] || log "warning: still mounted: $(mounts_to_go | tr '\n' ' ')"

# 5. cgroups the kubelet and runc created (kubepods, in every hierarchy)
for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [[ -d $d ]] || continue
  find "$d" -depth -type d -exec rmdir {} + 2> /dev/null || true
  if [[ -d $d ]]; then log "warning: could not remove cgroup $d"; fi
done

# 6. State: the node dir and the fixed paths node-up found absent
rm -rf "$NODE" "$DEV/node.env"
rm -f "$RUN/kubelet.cmd" "$RUN/containerd.cmd" "$RUN/kube-controller-manager.cmd" "$RUN/kube-scheduler.cmd"
if [[ -f $CLAIM/absent ]]; then
  while read -r p; do
    [[ $p == /* && ! -L $p ]] || continue
    rm -rf "$p"
  done < "$CLAIM/absent"
else
  left=""
  for p in /run/containerd /var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /run/netns; do
    [[ -e $p ]] && left+=" $p"
  done
  [[ -z $left ]] || log "note: no record ($CLAIM/absent) of what existed before node-up; left in place:$left"
fi

# 7. Kernel settings the kubelet changed (vm.overcommit_memory, kernel.panic, ...)
if [[ -f $CLAIM/sysctl ]]; then
  while IFS='=' read -r k v; do
    [[ -n $k && $(cat "/proc/sys/$k" 2> /dev/null) != "$v" ]] || continue
    echo "$v" > "/proc/sys/$k" 2> /dev/null || log "warning: could not restore $k=$v"
  done < "$CLAIM/sysctl"
fi

if [[ $owner == "$DEV" || -z $owner ]] || ((FORCE)); then
  rm -rf "$CLAIM"
fi
log "node of $DEV stopped and removed (logs kept in $DEV/logs)"
