package cuda

import _ "embed"

// This file builds without the cuda tag, so that ptx_test.go checks the kernels the device launches
// against the committed PTX on every machine.

//go:embed kernels.ptx
var kernelsPTX string

// kernelNames are the kernels New loads from kernelsPTX: every one the device launches.
var kernelNames = []string{
	"k_fill", "k_add", "k_addin", "k_scale", "k_mul", "k_mul_bwd", "k_silu", "k_silu_bwd", "k_swiglu",
	"k_swiglu_bwd", "k_gelu", "k_gelu_bwd", "k_softplus", "k_softplus_bwd", "k_sumsq_part", "k_sumsq_sum", "k_embed",
	"k_embed_bwd", "k_addpos", "k_addpos_bwd", "k_rmsnorm", "k_rmsnorm_bwd_dx", "k_rmsnorm_bwd_dw",
	"k_layernorm", "k_layernorm_bwd_dx", "k_layernorm_bwd_dwb", "k_rope_table", "k_rotary", "k_attn_fwd", "k_attn_delta",
	"k_attn_dq", "k_attn_dkv", "k_conv", "k_conv_bwd_dx", "k_conv_bwd_dw", "k_scan", "k_scan_bwd",
	"k_scan_bwd_bc", "k_scan_bwd_ad", "k_xent", "k_argmax", "k_adamw", "k_matmul",
	"k_mm_128x128_8x8_k16_f", "k_mm_128x64_8x4_k16_pf2_f", "k_mm_64x64_4x4_k16_pf2_f", "k_mm_32x32_2x4_k64_pf2_f", "k_mm_32x16_2x2_k64_pf2_f",
	"k_attn_fwd_t", "k_attn_fwd_c", "k_attn_dq_t", "k_attn_dkv_t", "k_attn_dq_r", "k_attn_dkv_r", "k_negexp",
}

// Launch geometry shared with kernels.cu.
const (
	redBlock = 256 // RED: threads of every row-reduction block
	// maxState is MAXN, the largest selective-scan state the kernels hold.
	maxState = 64
	// rowsPerBlock is LR, the rows a block of the row kernels (norms, cross-entropy) takes.
	rowsPerBlock = 32
	// sumSqBlock is SUMSQ_BLOCK, the CPU device's block of SumSquares.
	sumSqBlock = 4096
	// attnTile, attnRows and attnMaxD are ATT, AFQ and ATT_MAXD of the tiled attention kernels;
	// attnPad is ATT_PAD, the row padding of the register-tiled ones (k_attn_fwd_c, k_attn_dq_r,
	// k_attn_dkv_r), which take head dimensions that are multiples of attnVec.
	attnTile = 32
	attnRows = 16
	attnMaxD = 64
	attnPad  = 4
	attnVec  = 4
	// stagedBlock and chainCols: the staged chain kernels (norm_cols, k_sumsq_part) run CHAIN_COLS
	// chains in blocks of STAGED threads (Device.staged).
	stagedBlock = 256
	chainCols   = 8
	// maxShared is the dynamic shared memory a launch may ask for without opting in
	// (cuFuncSetAttribute), on every card.
	maxShared = 48 << 10
)

// Dynamic shared memory, in bytes, of the tiled attention kernels for head dimension D (the
// layouts their comments in kernels.cu give).
func attnFwdShared(D int) int {
	return 8*attnRows*8 + 4*(attnRows*(D+1)+2*attnTile*(D+1)+attnRows*(attnTile+1)+2*attnRows)
}

// attnFwdCached is the dynamic shared memory of k_attn_fwd_c, the forward that keeps its rows'
// scores in shared memory, for head dimension D and T keys, and whether it fits within maxShared
// (else the forward is k_attn_fwd_t: attnFwdWalks): the lanes, q, one key or value tile,
// the AFQ rows of T scores (stride T+1), 256 partial maxima, the row maxima and 1/l (kernels.cu).
// Its rows are padded (attnPad), so it takes only head dimensions that are multiples of attnVec.
func attnFwdCached(D, T int) (int, bool) {
	n := 8*attnRows*8 + 4*(attnRows*(D+attnPad)+attnTile*(D+attnPad)+attnRows*(T+1)+256+2*attnRows)
	return n, n <= maxShared && D%attnVec == 0
}

// attnFwdWalks is the shared memory of k_attn_fwd_t keeping its rows' scores (its `cached` mode:
// the AFQ×T floats more than attnFwdShared), and whether that fits: the forward for head
// dimensions that k_attn_fwd_c does not take.
func attnFwdWalks(D, T int) (int, bool) {
	n := attnFwdShared(D) + 4*attnRows*T
	return n, n <= maxShared
}

// The backward's shared memory: the tiled kernels' (k_attn_dq_t, k_attn_dkv_t) with rows of D+1,
// and, for the register-tiled ones (k_attn_dq_r, k_attn_dkv_r), of D+attnPad.
func attnDqShared(D int) int  { return 4 * (4*attnTile*(D+1) + attnTile*(attnTile+1) + 2*attnTile) }
func attnDkvShared(D int) int { return 4 * (4*attnTile*(D+1) + 2*attnTile*(attnTile+1) + 2*attnTile) }
func attnDqSharedR(D int) int {
	return 4 * (4*attnTile*(D+attnPad) + attnTile*(attnTile+1) + 2*attnTile)
}
func attnDkvSharedR(D int) int {
	return 4 * (4*attnTile*(D+attnPad) + 2*attnTile*(attnTile+1) + 2*attnTile)
}
