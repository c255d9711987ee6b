#!/usr/bin/env bash
# Kernel tuning figures on a GPU machine (no Go needed there): build first with `make gpu-bundle`,
# carry bin/gpu-bundle.tar.gz, then run: tar -xzf bin/gpu-bundle.tar.gz && scripts/gpu-tune.sh
# About a minute and a half on an H100 without Nsight Compute; scripts/gpu-check.sh stays the full
# check (and picks the kernels as well). The steps' time limits add to 592 s with the default PAIRS
# (each more pair adds 130 s), so that one run fits the device tool's 10-minute command limit.
#   1. TestMatMulTiles and TestAttentionTimes: every matmul tile on the training shapes (the tuned
#      tiles and the reference tile), the register-tiled and the tiled attention
#      forward and backward, each with the reference kernels' bits required; then
#      scripts/gpu-pick.py's choice of the fastest (KERNELS=... sets it instead), which the steps
#      below use;
#   2. ours and PyTorch eager, alternating, PAIRS times (default 2), configs A and B: ratios within
#      one run, since PyTorch eager's own time varies by up to 2x between runs;
#   3. a per-kernel profile of configs A and B;
#   3b. ours (the weight gradients on the second stream, the default) trained on the CPU device too:
#      the digests must be equal (scripts/gpu-check.sh also times ours on one stream);
#   4. when Nsight Compute (ncu) is there: one launch each of NCU_KERNELS (space-separated; default
#      the weight-gradient tiles, the attention forward and dk/dv, and the norms' weight gradients) during a
#      config B step, with the speed-of-light, occupancy and warp-stall sections: why they wait.
# Output goes to stdout and, when OUT is set, to $OUT/gpu-tune.log.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp}/gpu-tune.log
exec > >(tee "$LOG") 2>&1
PAIRS=${PAIRS:-2}
NCU_KERNELS=${NCU_KERNELS:-k_mm_32x16_2x2_k64_pf2_f k_mm_32x32_2x4_k64_pf2_f k_mm_128x64_8x4_k16_pf2_f k_attn_fwd_c k_attn_dkv_r k_layernorm_bwd_dwb}
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
rc=0
fail() { echo "FAILED: $*"; rc=1; }

step "card"
timeout -k 2 10 nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || fail nvidia-smi

step "matmul tiles and attention kernels (µs per call; * the tile matmulTile picks, < the fastest)"
KLOG=${OUT:-/tmp}/gpu-kernels.log
timeout -k 5 60 bin/cuda.test -test.v -test.timeout 55s -test.run '^(TestMatMulTiles|TestAttentionTimes)$' >"$KLOG" 2>&1 || fail "kernel tables"
grep -E '^(--- FAIL|FAIL|PASS|ok)|_test.go' "$KLOG"
if [ -z "${KERNELS+set}" ]; then
  KERNELS=$(timeout -k 2 10 python3 scripts/gpu-pick.py "$KLOG") || { fail "gpu-pick.py"; KERNELS=; }
fi
echo "kernels: ${KERNELS:-the defaults}"
KFLAG=()
[ -z "$KERNELS" ] || KFLAG=(--kernels "$KERNELS")

for i in $(seq "$PAIRS"); do
  step "pair $i of $PAIRS: ours, then PyTorch eager, configs A and B"
  timeout -k 5 60 bin/airanode-cuda bench --configs A,B ${KFLAG[@]+"${KFLAG[@]}"} || fail "bench, pair $i"
  if [ -f bin/torch_lm_bench.py ]; then
    timeout -k 5 60 python3 scripts/torch_gpu_bench.py --ref bin --configs A,B || fail "torch bench, pair $i"
  fi
done

step "per-kernel profile, configs A and B"
timeout -k 5 60 bin/airanode-cuda bench --configs A,B --steps 3 --warmup 3 --profile 5 ${KFLAG[@]+"${KFLAG[@]}"} || fail profile

step "the CPU device's digests: ours with the defaults' second stream, and the CPU device (digests must be equal)"
timeout -k 5 78 bin/airanode-cuda bench --configs A,B --cpu ${KFLAG[@]+"${KFLAG[@]}"} || fail "bench --cpu"

if command -v ncu >/dev/null 2>&1; then
  step "Nsight Compute: one launch each of $NCU_KERNELS (config B; 90 s for all)"
  # One limit for all kernels: the ones reached before it are reported.
  # A kernel the choice replaced does not launch: its replacement is profiled instead.
  timeout -k 5 90 bash -c 'for k in $1; do
      alt=$(printf ",%s," "$2" | grep -o ",$k=[^,]*" | cut -d= -f2)
      [ -z "$alt" ] || { echo "--- $k: replaced by $alt"; k=$alt; }
      echo "--- $k"
      ncu --kernel-name "$k" --launch-count 1 --section SpeedOfLight --section Occupancy \
        --section WarpStateStats --section MemoryWorkloadAnalysis \
        bin/airanode-cuda bench --configs B --steps 1 --warmup 1 ${2:+--kernels "$2"} || echo "ncu $k: exit status $?"
    done' _ "$NCU_KERNELS" "$KERNELS" || echo "Nsight Compute: stopped with status $?"
else
  step "Nsight Compute: no ncu on this machine"
fi

step "done rc=$rc"
exit $rc
