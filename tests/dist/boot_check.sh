#!/bin/bash
# Runs inside the container that dist_test.py's boot step starts: a copy of this
# machine with both packages installed, booted by a real systemd as PID 1. It checks
# what an administrator gets from the packages alone, writes one line per check to
# RESULT, ends with PASS or FAIL, and powers the container off.
set -u
RESULT=/root/boot-check.result
PORT=6666
: >"$RESULT"
failed=0

say() { echo "$*" >>"$RESULT"; }
check() {  # check DESCRIPTION COMMAND...: ok or FAIL, with the command's output on failure
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then say "ok: $what"; else say "FAIL: $what: $out"; failed=1; fi
}
# Up to 20 s for COMMAND to succeed.
eventually() {
  local i
  for i in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}
in_log() { grep -qF -- "$1" /var/log/lastgasp/127.0.0.1/console.log; }
send() { printf '%s\n' "$1" >/dev/udp/127.0.0.1/$PORT; }
active() { [ "$(systemctl is-active "$1")" = "$2" ]; }

check "lastgasp-receiver.socket listens after boot" eventually active lastgasp-receiver.socket active
check "lastgasp-receiver-http.socket listens after boot" eventually active lastgasp-receiver-http.socket active
check "lastgasp-receiver.service runs after boot" eventually active lastgasp-receiver.service active
check "it says it is ready (STATUS=)" eventually bash -c \
  '[ -n "$(systemctl show -P StatusText lastgasp-receiver.service)" ]'
check "it runs as the lastgasp user" bash -c \
  '[ "$(ps -o user= -p "$(systemctl show -P MainPID lastgasp-receiver.service)")" = lastgasp ]'

send "6,1,1000,-;lastgasp boot check: first record"
check "a record sent to the socket is in the host's log" eventually in_log "first record"

# Socket activation proper: with the service stopped, PID 1 holds the port, and a
# datagram starts the service, which reads it from the socket it is handed.
check "the service stops, the socket stays" bash -c \
  'systemctl stop lastgasp-receiver.service && [ "$(systemctl is-active lastgasp-receiver.socket)" = active ]'
send "6,2,2000,-;lastgasp boot check: record that starts the service"
check "a datagram to the stopped service starts it" eventually active lastgasp-receiver.service active
check "and that datagram is in the log" eventually in_log "record that starts the service"
check "/metrics answers through lastgasp-receiver-http.socket" eventually bash -c \
  'curl -sf http://127.0.0.1:9666/metrics | grep -q "^lastgasp_datagrams_total "'
check "hosts lists the host" eventually bash -c 'lastgasp-receiver hosts | grep -q "^127\.0\.0\.1 "'
check "the journal has the daemon's lines" eventually bash -c \
  'journalctl -u lastgasp-receiver.service -b --no-pager | grep -q "lastgasp-receiver"'
pid=$(systemctl show -P MainPID lastgasp-receiver.service)
check "systemctl reload reloads it" systemctl reload lastgasp-receiver.service
check "it says so in the journal" eventually bash -c \
  'journalctl -u lastgasp-receiver.service -b --no-pager | grep -q "SIGHUP: log files reopened, config reloaded"'
send "6,3,3000,-;lastgasp boot check: record after the reload"
check "it goes on writing after the reload" eventually in_log "record after the reload"
check "in the same process (a reload is not a restart)" test "$(systemctl show -P MainPID lastgasp-receiver.service)" = "$pid"

if [ $failed = 0 ]; then say PASS; else
  say "--- systemctl status"
  systemctl status --no-pager lastgasp-receiver.service lastgasp-receiver.socket >>"$RESULT" 2>&1
  say "--- journal"
  journalctl -b --no-pager -u lastgasp-receiver.service -u lastgasp-receiver.socket | tail -40 >>"$RESULT" 2>&1
  say FAIL
fi
systemctl poweroff --no-block
