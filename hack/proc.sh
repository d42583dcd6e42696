# shellcheck shell=bash
# Process helpers shared by dev-up.sh and dev-down.sh (sourced; needs $RUN
# and a log function).

pidfile() { echo "$RUN/$1.pid"; }

# alive NAME: the recorded process exists and is still the program we started
alive() {
  local f; f=$(pidfile "$1")
  [[ -f $f ]] || return 1
  local pid; pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && running "$pid" || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

# running PID: exists and is not a zombie
running() {
  kill -0 "$1" 2>/dev/null || return 1
  local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ $st != Z && $st != X ]]
}

# stop_component NAME MATCH: the pid file holds the process-group leader
# that dev-up started with setsid; only signal it if its command line is
# still ours. TERM the group, wait up to 15s, then KILL what is left.
stop_component() {
  local name=$1 match=$2 f; f=$(pidfile "$1")
  [[ -f $f ]] || return 0
  local pid; pid=$(<"$f")
  if alive "$name" "$match"; then
    log "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      log "$name still running after 15s, sending KILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        running "$pid" || break
        sleep 0.1
      done
    fi
    # anything left in the process group (children) goes too
    if pgrep -g "$pid" > /dev/null 2>&1; then
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

# kill_component NAME MATCH: SIGKILL the whole process group at once, the way
# a crash (or the OOM killer) ends a process: no graceful shutdown, no
# flushing. Waits until it is gone (its ports are free then).
kill_component() {
  local name=$1 match=$2 f; f=$(pidfile "$1")
  [[ -f $f ]] || return 0
  local pid; pid=$(<"$f")
  if alive "$name" "$match"; then
    log "killing $name (pid $pid) with SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    running "$pid" && log "warning: $name (pid $pid) still exists 10s after SIGKILL"
  fi
  rm -f "$f"
}
