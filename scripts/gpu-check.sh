#!/usr/bin/env bash
# GPU verification, run on a machine with an NVIDIA GPU (no Go needed there). Build everything first on
# any machine with `make gpu-bundle`, carry bin/ to the GPU machine, then run: scripts/gpu-check.sh
# Steps, each under its own time limit (596 s at most in all, the kill graces included, so that
# one run fits the device tool's 10-minute command limit; 2-3 minutes on an H100 when all goes well):
#   1. the card and driver;
#   2. kernels: every kernel against the float64 references and against the CPU device bit for bit,
#      and the tuned kernels against the reference kernels bit for bit, with each matmul tile timed on
#      the training shapes (TestMatMulTiles) and the attention forward and backward on configs A and B
#      (TestAttentionTimes);
#   3. training throughput of configs A and B: ours (tuned, then reference kernels: same digests),
#      PyTorch eager on the same card, a per-kernel profile of ours, and the same training on the
#      CPU device (same digests); then PAIRS (default 2) more runs of ours and PyTorch, alternating,
#      since PyTorch eager's own time varies by up to 2x between runs on a shared host;
#   4. determinism: the same MAD-lite evaluation twice on fresh devices, and once with the reference
#      kernels, all three Results identical;
#   5. the node: `airanode run` starts a core and runs a submitted task on it (class cuda-v1);
# then scripts/gpu-summary.py prints the same-run table (ours / PyTorch, tuned / reference kernels,
# digests), every pair's ratio and their median (the parity verdict), and each step's verdict.
# Output goes to stdout and, when OUT is set, to $OUT/gpu-check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$LOG") 2>&1
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
rc=0
fail() { echo "FAILED: $*"; rc=1; }

step "card and driver"
timeout -k 2 10 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || fail nvidia-smi
timeout -k 2 10 bin/airanode-cuda info || fail info

step "kernels: conformance, CUDA vs CPU, tuned vs reference kernels"
# -test.run patterns are unanchored: TestMatMulTiles also runs TestMatMulTilesAgainstCPU.
timeout -k 5 45 bin/cuda.test -test.v -test.timeout 40s -test.run 'TestConformance|TestAgainstCPU|TestReferenceAgainstCPU|TestTunedKernelsIdentical|TestMatMulTiles|TestAttentionTimes|TestNegExpMatchesFmath' 2>&1 |
  grep -E '^(--- FAIL|FAIL|PASS|ok)|_test.go' | tail -100
[ "${PIPESTATUS[0]}" -eq 0 ] || fail kernels

step "training throughput: ours (CUDA), tuned kernels, with a per-kernel profile — configs A and B; the same training on the CPU device (digests must be equal)"
timeout -k 10 105 bin/airanode-cuda bench --configs A,B --profile 5 --cpu || fail "bench (tuned)"
step "training throughput: ours (CUDA), reference kernels (the digests must equal the tuned run's)"
timeout -k 5 65 bin/airanode-cuda bench --configs A,B --reference-kernels || fail "bench (reference)"
if [ -f bin/torch_lm_bench.py ]; then
  step "training throughput: PyTorch eager on the same card — configs A and B"
  timeout -k 5 70 python3 scripts/torch_gpu_bench.py --ref bin --configs A,B || fail "torch bench"
  PAIRS=${PAIRS:-2}
  step "training throughput: $PAIRS more pairs, ours then PyTorch eager (the summary takes the median ratio)"
  # One limit for all pairs (about 17 s each on an H100, so PAIRS above 2 needs a larger limit here,
  # within the 600 s the steps' limits must add to): a slower card completes fewer, and the summary
  # uses those it did.
  timeout -k 5 40 bash -c 'for i in $(seq "$1"); do
      bin/airanode-cuda bench --configs A,B && python3 scripts/torch_gpu_bench.py --ref bin --configs A,B || exit 1
    done' _ "$PAIRS" || echo "pairs: stopped with status $? (the summary uses the pairs that completed)"
fi

step "determinism: one MAD-lite evaluation, twice and with the reference kernels"
timeout -k 5 90 bin/airanode-cuda eval --arch 'A M A M' --twice --reference || fail "eval"

step "the node: a task through airanode run on the GPU core"
NODE_WAIT=35 LIMIT=60 timeout -k 10 100 scripts/gpu-node-smoke.sh || fail "node smoke"

step "summary"
timeout -k 2 10 python3 scripts/gpu-summary.py "$LOG" || fail "summary (tuned and reference digests differ)"

step "done rc=$rc"
exit $rc
