#!/usr/bin/env bash
# GPU verification, run on a machine with an NVIDIA GPU (no Go needed there). Build everything first on
# any machine with `make gpu-bundle`, carry bin/ to the GPU machine, then run: scripts/gpu-check.sh
# It prints the card and driver, runs every kernel against the float64 references and against the CPU
# device, checks run-to-run bitwise determinism, and benchmarks training against PyTorch on the same
# card. Output goes to stdout and, when OUT is set, to $OUT/gpu-check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$LOG") 2>&1
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
rc=0

step "card and driver"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || rc=1
bin/airanode-cuda info || rc=1

step "kernels: conformance (float64 references, determinism) and CUDA vs CPU"
timeout 240 bin/cuda.test -test.v -test.timeout 230s -test.run 'TestConformance|TestAgainstCPU' 2>&1 | tail -120
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1

if [ -x bin/airanode-cuda ] && bin/airanode-cuda help 2>&1 | grep -q bench; then
  step "training throughput: ours (CUDA) — configs A and B"
  timeout 150 bin/airanode-cuda bench --configs A,B || rc=1
fi
if [ -f bin/torch_lm_bench.py ]; then
  step "training throughput: PyTorch eager on the same card — configs A and B"
  timeout 150 python3 scripts/torch_gpu_bench.py --ref bin --configs A,B || rc=1
fi
if [ -x bin/airanode-cuda ] && bin/airanode-cuda help 2>&1 | grep -q eval; then
  step "determinism: the same MAD-lite evaluation twice"
  timeout 240 bin/airanode-cuda eval --twice || rc=1
fi
step "done rc=$rc"
exit $rc
