// cuda_emu.h runs the CUDA C of gpu/cuda/kernels.cu on the host, so that the kernels' indexing,
// tiling and barriers are tested on machines without a GPU (make cuda-emu; docs/gpu.md "Kernels on
// the CPU").
//
// It emulates exactly the subset kernels.cu uses: __global__/__device__ functions, threadIdx,
// blockIdx, blockDim, gridDim, static and dynamic __shared__ memory, and __syncthreads. The
// threads of a block are fibers (ucontext) on one OS thread, run round-robin from one barrier to the
// next: a round runs every live thread until it reaches __syncthreads or returns, which is exactly
// the barrier's meaning. Blocks run one after another, so static shared arrays can be plain statics.
//
// Checks: a thread that returns while others wait at a barrier is reported (a divergent barrier, an
// error on a GPU), and emu_order lets a test run the threads of every round in reverse: a kernel whose
// result changes with the order reads shared memory another thread writes without a barrier between.
//
// What it cannot show: speed, warp-level behaviour (none is used), and memory-model effects beyond
// the barriers. The kernels call no math library (kernels.cu "math"; the PTX holds only correctly
// rounded operations), and the harness is compiled without contraction (-ffp-contract=off), so a
// kernel computes here the bits it computes on a GPU.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

struct emu_dim3 {
  unsigned x = 1, y = 1, z = 1;
};

inline emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__

// Dynamic shared memory: kernels.cu declares it with DYNAMIC_SHARED, which is `extern __shared__`
// on the GPU.
// 48 KiB: what a launch gets on every card without opting in (the device never opts in), so a
// kernel that asks for more fails here as it would on a GPU.
alignas(16) inline unsigned char emu_dynamic_shared[48 * 1024];
#define DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(emu_dynamic_shared)

// __umul64hi: the high 64 bits of a 64×64-bit product.
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}

// emu_order: false runs the threads of a round in increasing index, true in decreasing.
inline bool emu_order = false;
inline int emu_errors = 0;
// emu_silent counts errors without printing them (for tests of the checks themselves).
inline bool emu_silent = false;

namespace emu {

struct fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = false;
};

inline ucontext_t sched;
inline std::vector<fiber> fibers;
inline int cur = -1;
inline std::function<void()> body;

inline void entry() {
  body();
  fibers[cur].done = true;
  // returning resumes uc_link (the scheduler)
}

// run executes body on every thread of every block of the grid.
inline void run(emu_dim3 grid, emu_dim3 block, size_t shared, const char* name) {
  if (shared > sizeof(emu_dynamic_shared)) {
    std::fprintf(stderr, "%s: %zu bytes of dynamic shared memory\n", name, shared);
    emu_errors++;
    return;
  }
  gridDim = grid;
  blockDim = block;
  // Past the bytes the launch asked for: a canary, checked when the launch ends (a kernel that
  // writes there asked for too little), whose values also spoil what a kernel reads there.
  const size_t cap = sizeof(emu_dynamic_shared);
  std::memset(emu_dynamic_shared + shared, 0xa5, cap - shared);
  int n = int(block.x * block.y * block.z);
  fibers.resize(n);
  for (auto& f : fibers) f.stack.resize(256 * 1024);
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        blockIdx = {bx, by, bz};
        std::memset(emu_dynamic_shared, 0xff, shared);  // NaNs: reading unwritten shared memory shows
        for (int t = 0; t < n; t++) {
          fiber& f = fibers[t];
          f.done = false;
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.data();
          f.ctx.uc_stack.ss_size = f.stack.size();
          f.ctx.uc_link = &sched;
          makecontext(&f.ctx, entry, 0);
        }
        for (;;) {
          int live = 0, finished = 0;
          for (int k = 0; k < n; k++) {
            int t = emu_order ? n - 1 - k : k;
            if (fibers[t].done) continue;
            cur = t;
            threadIdx = {unsigned(t) % block.x, (unsigned(t) / block.x) % block.y, unsigned(t) / (block.x * block.y)};
            swapcontext(&sched, &fibers[t].ctx);
            if (fibers[t].done) finished++;
            else live++;
          }
          if (live == 0) break;
          if (finished > 0) {
            if (!emu_silent)
              std::fprintf(stderr, "%s: block (%u,%u,%u): %d threads returned while %d wait at __syncthreads\n", name,
                           bx, by, bz, finished, live);
            emu_errors++;
            cur = -1;
            return;
          }
        }
      }
  cur = -1;
  for (size_t i = shared; i < cap; i++)
    if (emu_dynamic_shared[i] != 0xa5) {
      if (!emu_silent)
        std::fprintf(stderr, "%s: wrote dynamic shared memory at byte %zu, past the %zu bytes it was launched with\n", name, i,
                     shared);
      emu_errors++;
      return;
    }
}

}  // namespace emu

// __syncthreads yields to the scheduler; the thread resumes in the next round.
inline void __syncthreads() {
  if (emu::cur < 0) {
    std::fprintf(stderr, "__syncthreads outside a kernel\n");
    std::abort();
  }
  swapcontext(&emu::fibers[emu::cur].ctx, &emu::sched);
}

// emu_launch runs kernel(args...) on a grid of blocks like <<<grid, block, shared>>>.
template <class... P, class... A>
void emu_launch(const char* name, void (*kernel)(P...), emu_dim3 grid, emu_dim3 block, size_t shared, A... args) {
  emu::body = [&]() { kernel(P(args)...); };
  emu::run(grid, block, shared, name);
}
