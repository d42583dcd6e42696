# shellcheck shell=bash
# Process helpers shared by dev-up.sh, dev-down.sh, node-up.sh and
# node-down.sh (sourced; needs $RUN and a log function; start and wait_for
# also $LOGS, $TIMEOUT and a die function).

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

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME CMD...: run CMD in its own session/process group, log to
# $LOGS/NAME.log, record the pid (== process group id). The child inherits
# neither script's lock (fd 7: node-up's, fd 9: dev-up's).
start() {
  local name=$1; shift
  local logf=$LOGS/$name.log
  [[ -f $logf ]] && mv -f "$logf" "$logf.prev"
  setsid "$@" > "$logf" 2>&1 < /dev/null 7>&- 9>&- &
  echo $! > "$(pidfile "$name")"
}

# wait_for NAME CHECK-CMD...: until CHECK-CMD succeeds; dies with the tail of
# NAME's log when NAME exits or $TIMEOUT seconds pass.
wait_for() {
  local name=$1; shift
  local deadline=$((SECONDS + TIMEOUT)) pid
  pid=$(<"$(pidfile "$name")")
  until "$@" > /dev/null 2>&1; do
    # Not `alive`: until the child has exec'd its command (slow on a busy
    # machine) its command line is still this script's.
    if ! running "$pid"; then
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "$name exited during startup (log above: $LOGS/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "$name not healthy after ${TIMEOUT}s (log above: $LOGS/$name.log)"
    fi
    sleep 0.5
  done
}
