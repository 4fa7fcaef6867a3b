#!/usr/bin/env bash
# `make run`: a throwaway redis-server and okra-sandbox on free ports, two okra-worker processes,
# ~200 mixed identity jobs that hit every sandbox trigger, then stats and the dead letters grouped
# by class. Everything started here is stopped (by PID) when the script ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release}
for b in okra-worker okra-admin okra-sandbox; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: run 'make release' first" >&2; exit 1; }
done
bash scripts/ensure-redis.sh

WORK=$(mktemp -d -t okra-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if port_free "$p"; then echo "$p"; return; fi
  done
  echo "no free port found" >&2; exit 1
}

# Bold headings on a terminal only; plain text when the output is piped or saved.
if [ -t 1 ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  step() { printf '\n== %s\n' "$*"; }
fi

step "starting redis-server and okra-sandbox"
REDIS_PORT=$(pick_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
  --loglevel warning >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
# A person verified within the hour is not paid for again (okra.reuse_window); the reuse store
# and the identity index are keyed with a throwaway key.
export OKQ_QUEUE__INDEX_KEY="demo-index-key-$RANDOM$RANDOM$RANDOM" OKQ_OKRA__REUSE_WINDOW=1h
# Everything personal is sealed at rest with a throwaway key (one `ID BASE64` line, owner-only).
(umask 077 && printf 'demo %s\n' "$(head -c 32 /dev/urandom | base64)" >"$WORK/seal-keys")
export OKQ_SEAL__KEYS_FILE="$WORK/seal-keys"
# The producer sets each job's attempt budget, so it reads the same settings as the workers.
ADMIN="$BIN/okra-admin --config config/demo.toml"
echo "redis:   $REDIS_URL"

# The sandbox prints its address first; port 0 lets the OS pick a free one.
"$BIN/okra-sandbox" --addr 127.0.0.1:0 --slow 4s >"$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/sandbox.log" 2>/dev/null && break; sleep 0.05; done
SANDBOX_URL=$(grep -o 'http://[0-9.:]*' "$WORK/sandbox.log" | head -1)
[ -n "$SANDBOX_URL" ] || { echo "okra-sandbox did not start:" >&2; cat "$WORK/sandbox.log" >&2; exit 1; }
echo "sandbox: $SANDBOX_URL"

step "enqueueing ~200 mixed jobs (config/demo.toml: short delays, 4 attempts)"
# Identifier suffixes pick the sandbox's answer (see `okra-sandbox --help` or the README).
{
  for i in $(seq 1 120); do
    echo "{\"kind\":\"bvn_verify\",\"bvn\":\"2221000$(printf %04d $((1000 + i)))\"}"
  done
  for i in $(seq 1 20); do
    echo "{\"kind\":\"nin_verify\",\"nin\":\"3331000$(printf %04d $((1000 + i)))\"}"
    echo "{\"kind\":\"rc_verify\",\"rc_number\":\"RC$((1000 + i))\",\"company_name\":\"Acme $i Ltd\"}"
  done
  n=0
  for s in 0503 0429 0501 0500 0502 0504 0400 0404 0422 0601 0602 0603 0700 0800 0302 0701; do
    n=$((n + 1))
    echo "{\"kind\":\"bvn_verify\",\"bvn\":\"22200$(printf %02d $n)$s\"}"
    echo "{\"kind\":\"customer_verify\",\"customer\":\"cus_$n$s\"}"
  done
  echo '{"kind":"nuban_verify","nuban":"0123450204","bank":"5f0b7c2a"}'
  echo '{"kind":"nuban_name_verify","nuban":"0123451234","bank":"5f0b7c2a"}'
  echo '{"kind":"tin_verify","tin_number":"TIN0404","company_name":"Ghost Ltd"}'
  echo '{"kind":"bvn_verify","bvn":"22210001001","options":{"idempotency_key":"demo-1"}}'
  echo '{"kind":"bvn_verify","bvn":"22210001001","options":{"idempotency_key":"demo-1"}}'
  echo '{"kind":"nin_verify","nin":"33310002002","options":{"delay":"3s"}}'
  # The same person five times: one paid call, four answers reused (okra.reuse_window).
  for i in $(seq 1 5); do echo '{"kind":"bvn_verify","bvn":"22299991234"}'; done
  echo '{"kind":"bvn_verify","bvn":"22299991234","fresh":true}'
  echo '{"kind":"bvn_verify","bvn":"12345"}'
} >"$WORK/jobs.jsonl"
# One line is invalid on purpose: the summary reports it and the exit code says so.
$ADMIN enqueue --file "$WORK/jobs.jsonl" || true

step "running two okra-worker processes against the sandbox"
for w in 1 2; do
  OKRA_SECRET_KEY=sandbox-demo-key OKQ_OKRA__BASE_URL="$SANDBOX_URL" \
    "$BIN/okra-worker" --config config/demo.toml --redis-url "$REDIS_URL" --log-format json \
    >"$WORK/worker-$w.log" 2>&1 &
  PIDS+=($!)
done

# Settled: nothing scheduled, ready or running.
field() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
for i in $(seq 180); do
  s=$($ADMIN --json stats 2>/dev/null | tr -d ' \n') || s=""
  [ -n "$s" ] || { sleep 0.5; continue; }   # Redis busy or restarting: look again
  left=$(( $(echo "$s" | field scheduled) + $(echo "$s" | field ready) + $(echo "$s" | field running) ))
  line=$(printf '  t=%3ss  pending %3s  completed %3s  dead %3s' "$((i / 2))" "$left" \
    "$(echo "$s" | field completed)" "$(echo "$s" | field dead)")
  if [ -t 1 ]; then printf '\r%s' "$line"; elif [ $((i % 4)) -eq 0 ]; then echo "$line"; fi
  [ "$left" -eq 0 ] && [ "$i" -gt 4 ] && break
  sleep 0.5
done
echo

step "okra-admin stats"
$ADMIN stats

step "okra-admin spend (what the Okra account paid for, and what it saved)"
$ADMIN spend --days 1

step "okra-admin dlq summary (dead letters grouped by class)"
$ADMIN dlq summary

step "okra-admin dlq list --limit 10"
$ADMIN dlq list --limit 10

first=$($ADMIN --json dlq list --class flagged_user --limit 1 | grep -o '"id": *"[^"]*"' | head -1 | cut -d'"' -f4 || true)
if [ -n "$first" ]; then
  step "okra-admin dlq show $first"
  $ADMIN dlq show "$first"
fi

step "okra-admin keys status (what Redis holds, sealed with the demo key)"
$ADMIN keys status

step "okra-admin erase --bvn 22299991234 (one person, every copy, every queue)"
$ADMIN --actor demo erase --bvn 22299991234
$ADMIN audit --since 1h

step "a worker's log (JSON lines with --log-format json; identifiers masked)"
{ grep -h '"okra_timeout"' "$WORK"/worker-*.log || true; } | head -2 | cut -c1-240
echo
echo "done; stopping the workers, okra-sandbox and redis-server"
