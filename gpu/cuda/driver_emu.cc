//go:build cudaemu && !cuda

// driver_emu.cc runs the kernels of kernels.cu on the host for driver_emu.go (build tag cudaemu):
// each through gpu/cuda/emu's fibers, called by name with 8-byte parameters as the CUDA driver
// passes them, so that kernels.go's launches themselves run without a GPU.
// No contraction of a*b+c into an FMA, as nvcc -fmad=false. cgo refuses -ffp-contract=off in #cgo
// flags, so the pragmas say it: GCC's, and the standard one for clang (GCC ignores that one). The
// x86-64 baseline has no FMA instruction anyway; this matters when CGO_CXXFLAGS adds -march flags.
#pragma GCC optimize("fp-contract=off")
#pragma STDC FP_CONTRACT OFF
#include "emu/cuda_emu.h"
// The kernels, compiled for the host.
#include "kernels.cu"

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>

namespace {

// from_slot reads one 8-byte kernel parameter as the kernel's parameter type: a pointer, an i64, or a
// float in the low 32 bits.
template <class P>
P from_slot(uint64_t v) {
  if constexpr (std::is_pointer_v<P>) {
    return reinterpret_cast<P>(static_cast<uintptr_t>(v));
  } else if constexpr (std::is_same_v<P, float>) {
    uint32_t u = uint32_t(v);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  } else {
    return static_cast<P>(v);
  }
}

struct entry {
  int arity;
  void (*call)(void* kernel, const uint64_t* args, emu_dim3 grid, emu_dim3 block, size_t shared, const char* name);
  void* kernel;
};

template <class... P, size_t... I>
void call_with(void (*k)(P...), const uint64_t* a, emu_dim3 g, emu_dim3 b, size_t sh, const char* name, std::index_sequence<I...>) {
  emu_launch(name, k, g, b, sh, from_slot<P>(a[I])...);
}

template <class... P>
entry make_entry(void (*k)(P...)) {
  return entry{int(sizeof...(P)),
               [](void* kernel, const uint64_t* a, emu_dim3 g, emu_dim3 b, size_t sh, const char* name) {
                 call_with(reinterpret_cast<void (*)(P...)>(kernel), a, g, b, sh, name, std::index_sequence_for<P...>{});
               },
               reinterpret_cast<void*>(k)};
}

#define K(name) {#name, make_entry(name)}
const std::map<std::string, entry>& table() {
  static const std::map<std::string, entry> t{
      K(k_fill), K(k_add), K(k_addin), K(k_scale), K(k_mul), K(k_mul_bwd), K(k_silu), K(k_silu_bwd), K(k_swiglu),
      K(k_swiglu_bwd), K(k_gelu), K(k_gelu_bwd), K(k_softplus), K(k_softplus_bwd), K(k_negexp), K(k_sumsq_part),
      K(k_sumsq_sum), K(k_embed), K(k_embed_bwd), K(k_addpos), K(k_addpos_bwd), K(k_rmsnorm), K(k_rmsnorm_bwd_dx),
      K(k_rmsnorm_bwd_dw), K(k_layernorm), K(k_layernorm_bwd_dx), K(k_layernorm_bwd_dwb), K(k_rope_table), K(k_rotary),
      K(k_attn_fwd), K(k_attn_delta), K(k_attn_dq), K(k_attn_dkv), K(k_attn_fwd_t), K(k_attn_fwd_c), K(k_attn_dq_t), K(k_attn_dkv_t),
      K(k_attn_dq_r), K(k_attn_dkv_r),
      K(k_conv), K(k_conv_bwd_dx), K(k_conv_bwd_dw), K(k_scan), K(k_scan_bwd), K(k_scan_bwd_bc), K(k_scan_bwd_ad),
      K(k_xent), K(k_argmax), K(k_adamw), K(k_matmul),
      K(k_mm_128x128_8x8_k16_f), K(k_mm_128x64_8x4_k16_pf2_f), K(k_mm_64x64_4x4_k16_pf2_f), K(k_mm_32x32_2x4_k64_pf2_f),
      K(k_mm_32x16_2x2_k64_pf2_f),
  };
  return t;
}
#undef K

}  // namespace

extern "C" {

// emu_launch_named runs kernel name on a gx×gy grid of blocks of threads; it returns 0, or 1 for an
// unknown kernel, 2 for a wrong parameter count, 3 for an error the emulation found (a divergent
// barrier, too much shared memory).
int emu_launch_named(const char* name, unsigned gx, unsigned gy, unsigned threads, size_t shared, const uint64_t* args, int nargs) {
  auto it = table().find(name);
  if (it == table().end()) return 1;
  if (it->second.arity != nargs) return 2;
  emu_errors = 0;
  it->second.call(it->second.kernel, args, {gx, gy, 1}, {threads, 1, 1}, shared, name);
  return emu_errors ? 3 : 0;
}

int emu_has(const char* name) { return table().count(name) ? 1 : 0; }

uint64_t emu_alloc(size_t bytes) { return uint64_t(uintptr_t(std::calloc(1, bytes))); }
void emu_free(uint64_t p) { std::free(reinterpret_cast<void*>(uintptr_t(p))); }
void emu_htod(uint64_t dst, const void* src, size_t bytes) { std::memcpy(reinterpret_cast<void*>(uintptr_t(dst)), src, bytes); }
void emu_dtoh(void* dst, uint64_t src, size_t bytes) { std::memcpy(dst, reinterpret_cast<const void*>(uintptr_t(src)), bytes); }
void emu_dtod(uint64_t dst, uint64_t src, size_t bytes) {
  std::memmove(reinterpret_cast<void*>(uintptr_t(dst)), reinterpret_cast<const void*>(uintptr_t(src)), bytes);
}

}  // extern "C"
