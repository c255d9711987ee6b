#!/usr/bin/env bash
# GPU verification, run on a machine with an NVIDIA GPU (no Go needed there). Build everything first on
# any machine with `make gpu-bundle`, carry bin/gpu-bundle.tar.gz to the GPU machine, then run:
#   tar -xzf bin/gpu-bundle.tar.gz && scripts/gpu-check.sh
# Steps, each under its own time limit (583 s at most in all, the kill graces included, so that
# one run fits the device tool's 10-minute command limit; 3-4 minutes on an H100 when all goes well):
#   1. the card and driver;
#   2. kernels: every kernel against the float64 references and against the CPU device bit for bit,
#      the tuned kernels against the reference kernels bit for bit, SetKernels' swaps, small whole
#      trainings (with and without the weight gradients' second stream) against the CPU device's
#      digests, with
#      each matmul tile timed on the training shapes (TestMatMulTiles) and the attention forward
#      and backward on configs A and B (TestAttentionTimes); the whole output in $OUT/gpu-kernels.log;
#   3. the kernel choice: scripts/gpu-pick.py picks the fastest kernels of those tables (each
#      computes its default's bits) as an --kernels choice, which every later bench and eval uses
#      (the defaults, the last GPU run's fastest, when a kernel test failed); KERNELS=... sets it
#      instead (KERNELS= keeps the defaults);
#   4. training throughput of configs A and B: ours (tuned, with the weight gradients on a second
#      stream, then the reference kernels in order: same digests), PyTorch eager on the same card, a
#      per-kernel profile of ours, and the same training on the CPU device (same digests); then
#      PAIRS (default 3) more rounds of ours, ours on one stream (--overlap=false; same digests),
#      and PyTorch, alternating, since PyTorch eager's own time varies by up to 2x between runs on a
#      shared host;
#   5. determinism: the same MAD-lite evaluation twice on fresh devices, and once with the reference
#      kernels on one stream, all three Results identical;
#   6. the node: `airanode run` starts a core and runs a submitted task on it (class cuda-v1);
# then scripts/gpu-summary.py prints the same-run table (ours / PyTorch, tuned / reference kernels,
# digests), every pair's ratio and their median (the parity verdict) for ours and ours on one
# stream, and each step's verdict.
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

step "kernels: conformance, CUDA vs CPU, tuned vs reference kernels, kernel choice"
# Anchored: an unanchored TestMatMulTiles would also run TestMatMulTilesMatchKernels, which reads
# kernels.cu from gpu/cuda/ (make cuda-emu runs it there) and fails from the repository root.
KLOG=${OUT:-/tmp}/gpu-kernels.log
timeout -k 5 60 bin/cuda.test -test.v -test.timeout 55s -test.run '^(TestConformance|TestAgainstCPU|TestReferenceAgainstCPU|TestTunedKernelsIdentical|TestKernelChoice|TestTrainingMatchesCPU|TestMatMulTiles|TestMatMulTilesAgainstCPU|TestAttentionTimes|TestNegExpMatchesFmath)$' >"$KLOG" 2>&1
krc=$?
grep -E '^(--- FAIL|FAIL|PASS|ok)|_test.go' "$KLOG" | tail -100
[ "$krc" -eq 0 ] || fail kernels

step "kernel choice: the fastest of the kernels timed above (same bits; scripts/gpu-pick.py)"
# When the kernel tests failed, the defaults (the last GPU run's fastest) but any whose bits differed
# (gpu-pick.py --failed), so that what follows measures kernels known to be right.
if [ -z "${KERNELS+set}" ]; then
  failed=(); [ "$krc" -eq 0 ] || failed=(--failed)
  KERNELS=$(timeout -k 2 10 python3 scripts/gpu-pick.py ${failed[@]+"${failed[@]}"} "$KLOG") || { fail "gpu-pick.py"; KERNELS=; }
fi
echo "kernels: ${KERNELS:-the defaults}"
KFLAG=()
[ -z "$KERNELS" ] || KFLAG=(--kernels "$KERNELS")

step "training throughput: ours (CUDA), chosen kernels, with a per-kernel profile — configs A and B; the same training on the CPU device (digests must be equal)"
timeout -k 10 80 bin/airanode-cuda bench --configs A,B --profile 5 --cpu ${KFLAG[@]+"${KFLAG[@]}"} || fail "bench (tuned)"
step "training throughput: ours (CUDA), reference kernels (the digests must equal the tuned run's)"
timeout -k 5 45 bin/airanode-cuda bench --configs A,B --reference-kernels || fail "bench (reference)"
if [ -f bin/torch_lm_bench.py ]; then
  step "training throughput: PyTorch eager on the same card — configs A and B"
  timeout -k 5 50 python3 scripts/torch_gpu_bench.py --ref bin --configs A,B || fail "torch bench"
  PAIRS=${PAIRS:-3}
  step "training throughput: $PAIRS more rounds: ours, ours on one stream (--overlap=false), then PyTorch eager (the summary takes the median ratios)"
  # One limit for all rounds (about 16 s each on an H100, so PAIRS above 4 needs a larger limit
  # here, within the 600 s the steps' limits must add to): a slower card completes fewer, and the
  # summary uses those it did.
  timeout -k 5 80 bash -c 'for i in $(seq "$1"); do
      bin/airanode-cuda bench --configs A,B ${2:+--kernels "$2"} &&
        bin/airanode-cuda bench --configs A,B --overlap=false ${2:+--kernels "$2"} &&
        python3 scripts/torch_gpu_bench.py --ref bin --configs A,B || exit 1
    done' _ "$PAIRS" "$KERNELS" || echo "rounds: stopped with status $? (the summary uses the rounds that completed)"
fi

step "determinism: one MAD-lite evaluation, twice, and with the reference kernels on one stream"
timeout -k 5 75 bin/airanode-cuda eval --arch 'A M A M' --twice --reference ${KFLAG[@]+"${KFLAG[@]}"} || fail "eval"

step "the node: a task through airanode run on the GPU core"
NODE_WAIT=35 LIMIT=60 timeout -k 10 100 scripts/gpu-node-smoke.sh || fail "node smoke"

step "summary"
timeout -k 2 10 python3 scripts/gpu-summary.py "$LOG" || fail "summary (digests differ)"

step "done rc=$rc"
exit $rc
