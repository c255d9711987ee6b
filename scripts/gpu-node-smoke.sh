#!/usr/bin/env bash
# The node on a GPU machine, end to end: `airanode run` with the default gpu = "auto" starts a compute
# core (bin/airanode-cuda, next to bin/airanode) per GPU, a task submitted through the local API runs
# on it, and its Result names the core's class. Prints the node's GPU view and the task; exits 1 when
# the task does not complete within LIMIT s (default 180) or its result is not of WANT_CLASS (default
# cuda-v1). NODE_WAIT (default 120 s) bounds the wait for the node's API.
# Without a GPU the node trains on the CPU: `WANT_CLASS=cpu-v1 scripts/gpu-node-smoke.sh` checks the
# script itself anywhere (ARCH='width=16: A' keeps that short on a small CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
want=${WANT_CLASS:-cuda-v1}
limit=${LIMIT:-180}
dir=$(mktemp -d)
a=(--data-dir "$dir")
node=
cleanup() {
  [ -n "$node" ] && kill -INT "$node" 2>/dev/null && wait "$node"
  rm -rf "$dir"
}
trap cleanup EXIT
trap "exit 1" INT TERM

bin/airanode run "${a[@]}" --status log >"$dir/node.log" 2>&1 &
node=$!
# The node answers once its cores have started (a first PTX JIT can take a while): NODE_WAIT s.
for _ in $(seq $((${NODE_WAIT:-120} * 5))); do bin/airanode task list "${a[@]}" >/dev/null 2>&1 && break; sleep 0.2; done
bin/airanode gpu "${a[@]}" || true
task=$(bin/airanode task submit "${a[@]}" --arch "${ARCH:-width=32: A M A M}" --protocol mad-lite --replicas 1 --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["task"])') || { tail -20 "$dir/node.log"; exit 1; }
echo "submitted $task"
t0=$(date +%s)
while :; do
  out=$(bin/airanode task show "${a[@]}" "$task" 2>&1)
  if grep -q "score" <<<"$out"; then break; fi
  if [ $(($(date +%s) - t0)) -gt "$limit" ]; then
    echo "FAIL: no result after ${limit}s"; echo "$out"; tail -30 "$dir/node.log"; exit 1
  fi
  sleep 2
done
echo "$out"
echo "result after $(($(date +%s) - t0))s"
if grep -q " $want " <<<"$out"; then
  echo "PASS: the node ran the task on class $want"
else
  echo "FAIL: the result is not of class $want"; grep -i "core\|gpu" "$dir/node.log" | tail -20; exit 1
fi
