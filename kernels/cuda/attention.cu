/* attention.cu - MatMul -> Softmax -> MatMul (with the scalings and
 * transposes around it) as one kernel, for the executor's attention groups
 * (backend.h, struct mp_attn_call).
 *
 * Node by node, attention writes the scores and the probabilities, a
 * [batch, heads, t, s] tensor each, and copies Q, K^T, V and O through four
 * transposes: at 257 tokens that is most of a ViT's memory traffic.  Here
 * Q, K and V are read in place through the transposes' strides, scaled as
 * they load, and O is written through the output's.  Two kernels:
 *
 * k_attention_regs, up to AR_KEYS keys where the Softmax reads scores of
 * the operand type: a CTA takes 64 query rows of one (batch, head), a warp
 * 16, and keeps their whole score rows in registers, where the tensor
 * cores (mma.sync m16n8k16, f32 accumulation) leave them.  K, then V, pass
 * through shared memory.
 *
 * k_attention, for longer rows or f32 scores: a CTA takes 128 query rows
 * and keeps their score rows in shared memory, K and V in blocks of 64
 * keys.
 *
 * Both round the scores as MatMul's output (and the score scaling's)
 * would be, compute the Softmax with k_softmax_warp's arithmetic (its max,
 * its sums of expf() in its lane order and butterfly, its division), round
 * each probability to the operand type and O once.  So they differ from
 * the nodes run one by one only in the order of the GEMMs' f32 sums.
 *
 * Why not a library: cuBLAS has no fused attention, and cuDNN's (like
 * flash attention) rescales an online softmax, which computes different
 * probabilities from the ones the Softmax node defines.
 */
#include "cu.cuh"
#include "cuda_api.h"

/* k_attention: a CTA 128 query rows (16 a warp), keys in blocks of 64 */
enum { AT_ROWS = 128, AT_WARPS = 8, AT_KEYS = 64, AT_MAX_D = 128 };

struct at_args {
	const uint16_t *q, *k, *v;
	void *o;
	int64_t q_st[3], k_st[3], v_st[3], o_st[3];
	int nh, t, s, d, dv, tiles;
	int s_dt, s2_dt, p_dt, o_dt;
	int q_op, k_op, s_op;
	float q_scale, k_scale, s_scale;
	int srow; /* the score rows' stride in floats */
};

/* v rounded to dtype dt and read back */
__device__ __forceinline__ float at_round(float v, int dt)
{
	return dt == MP_BF16 ? cu_round<MP_BF16>(v) : dt == MP_F16 ? cu_round<MP_F16>(v) : v;
}

/* a Mul or Div node's arithmetic (binary_math's two cases, without the
 * rest of its switch in this kernel's hot loops: 4.26 -> 4.79 ms with it) */
__device__ __forceinline__ float at_scale(float v, int op, float s)
{
	return op == MP_OP_MUL ? v * s : op == MP_OP_DIV ? v / s : v;
}

/* d[4] += a[4] b[2]: one m16n8k16 tensor-core step, f32 accumulation */
template <int MM>
__device__ __forceinline__ void at_mma(float *d, const uint32_t *a, uint32_t b0, uint32_t b1)
{
	if (MM == MP_BF16)
		asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
		             "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		             : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		             : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
	else
		asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
		             "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		             : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		             : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int MM>
__device__ __forceinline__ uint16_t at_bits(float v)
{
	return MM == MP_BF16 ? cu_f32_to_bf16(v) : cu_f32_to_f16(v);
}

/* lo and hi rounded to DT as one pair, NaN as it comes out of the
 * conversion: for values that stay inside the kernel, where a NaN's bits
 * reach nothing (it only makes further NaNs, and the output's are
 * at_pack's) */
template <int DT>
__device__ __forceinline__ uint32_t at_pack_raw(float lo, float hi)
{
	uint32_t r;
	if (DT == MP_BF16)
		asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
	else
		asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
	return r;
}

/* lo and hi rounded to DT as at_bits rounds them (its NaN), as one pair */
template <int DT>
__device__ __forceinline__ uint32_t at_pack(float lo, float hi)
{
	const uint32_t qnan = DT == MP_BF16 ? 0x7FC0u : 0x7E00u, r = at_pack_raw<DT>(lo, hi);
	uint32_t l = lo != lo ? qnan : r & 0xFFFFu, h = hi != hi ? qnan << 16 : r & 0xFFFF0000u;
	return l | h;
}

/* the element e (0: low half) of a DT pair of the kernel's own, as f32 */
template <int DT>
__device__ __forceinline__ float at_half(uint32_t p, int e)
{
	uint16_t h = (uint16_t)(e ? p >> 16 : p);
	if (DT == MP_BF16)
		return cu_bf16_to_f32(h);
	float f; /* by the instruction: exact, a NaN as some NaN (these pairs stay in the kernel) */
	asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
	return f;
}

__device__ __forceinline__ uint32_t at_u32(const uint16_t *p)
{
	return *(const uint32_t *)p;
}

/* A block of nrows (at most 64) rows of a [rows, cols] operand (cols a multiple of 8, at
 * most AT_MAX_D), 16 bytes a thread: loaded to registers first (all loads
 * in flight at once, and the next block's while the tensor cores work on
 * this one), then scaled and rounded when op is set and stored to shared
 * memory (row stride ld); rows past `limit` are zeros. */
enum { AT_PER_THREAD = AT_KEYS * AT_MAX_D / 8 / (AT_WARPS * 32) };

struct at_block {
	uint4 r[AT_PER_THREAD];
};

/* This thread's part of a block of `cols` columns moved by `threads`
 * threads, 16 bytes each: rows r0, r0 + step, ... at column col (step rows
 * a pass, each row cols / 8 threads wide). */
struct at_part {
	int r0, step, col;
};

__device__ __forceinline__ at_part at_part_of(int cols, int threads)
{
	int chunks = cols / 8, per = threads / chunks;
	at_part p;
	p.r0 = (int)threadIdx.x / chunks;
	p.col = ((int)threadIdx.x - p.r0 * chunks) * 8;
	p.step = per;
	if (p.r0 >= per)
		p.r0 = 1 << 20; /* a thread left over: no rows */
	return p;
}

__device__ __forceinline__ void at_fetch(at_block &blk, const at_part &pt, const uint16_t *src, int64_t rs,
                                         int row0, int limit, int nrows)
{
#pragma unroll
	for (int i = 0; i < AT_PER_THREAD; i++) {
		int r = pt.r0 + i * pt.step;
		blk.r[i] = make_uint4(0, 0, 0, 0);
		if (r < nrows && row0 + r < limit)
			blk.r[i] = *(const uint4 *)(src + (int64_t)(row0 + r) * rs + pt.col);
	}
}

template <int MM>
__device__ __forceinline__ void at_put(const at_block &blk, const at_part &pt, uint16_t *dst, int ld, int op,
                                       float scale, int nrows)
{
#pragma unroll
	for (int i = 0; i < AT_PER_THREAD; i++) {
		int r = pt.r0 + i * pt.step;
		if (r >= nrows)
			break;
		uint4 raw = blk.r[i];
		if (op != MP_OP_NONE) {
			uint16_t *hv = (uint16_t *)&raw;
#pragma unroll
			for (int j = 0; j < 8; j++)
				cu_stf<MM>(hv, j, at_scale(cu_ldf<MM>(hv, j), op, scale));
		}
		*(uint4 *)(dst + r * ld + pt.col) = raw;
	}
}

/* The score rows' element: the scores as the Softmax reads them (SDT,
 * exactly), the probabilities written over them as MM. */
template <int SDT>
struct at_elem {
	typedef uint16_t T;
};
template <>
struct at_elem<MP_F32> {
	typedef float T;
};

template <int MM, int SDT, int NPL>
__global__ void __launch_bounds__(AT_WARPS * 32, 2) k_attention(at_args a)
{
	typedef typename at_elem<SDT>::T ST;
	extern __shared__ __align__(16) unsigned char at_smem[];
	const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
	const int tile = (int)(blockIdx.x % (unsigned)a.tiles), bh = (int)(blockIdx.x / (unsigned)a.tiles);
	const int b = bh / a.nh, h = bh - b * a.nh, t0 = tile * AT_ROWS;
	const int lq = a.d + 8, lv = a.dv + 8;
	ST *sc = (ST *)at_smem;                             /* [128][srow] scores, then P */
	uint16_t *qs = (uint16_t *)(sc + AT_ROWS * a.srow); /* [128][d + 8] */
	uint16_t *kv = qs + AT_ROWS * lq;                   /* a K block [64][d + 8], a V block [64][dv + 8] */
	const uint16_t *qg = a.q + b * a.q_st[0] + h * a.q_st[1];
	const uint16_t *kg = a.k + b * a.k_st[0] + h * a.k_st[1];
	const uint16_t *vg = a.v + b * a.v_st[0] + h * a.v_st[1];
	at_block blk;
	const at_part pd = at_part_of(a.d, AT_WARPS * 32), pv = at_part_of(a.dv, AT_WARPS * 32);

	/* 1. the scores */
	for (int half = 0; half < AT_ROWS / AT_KEYS; half++) { /* Q in blocks of 64 rows */
		at_fetch(blk, pd, qg, a.q_st[2], t0 + half * AT_KEYS, a.t, AT_KEYS);
		at_put<MM>(blk, pd, qs + half * AT_KEYS * lq, lq, a.q_op, a.q_scale, AT_KEYS);
	}
	at_fetch(blk, pd, kg, a.k_st[2], 0, a.s, AT_KEYS);
	__syncthreads();
	uint32_t qf[AT_MAX_D / 16][4];
	const int r0 = w * 16 + g;
	const bool live = t0 + w * 16 < a.t; /* a warp whose rows are all past t only loads */
	const bool plain = a.s_op == MP_OP_NONE && a.s_dt == SDT;
#pragma unroll
	for (int kk = 0; kk < AT_MAX_D / 16; kk++)
		if (kk * 16 < a.d) {
			qf[kk][0] = at_u32(qs + r0 * lq + kk * 16 + 2 * tq);
			qf[kk][1] = at_u32(qs + (r0 + 8) * lq + kk * 16 + 2 * tq);
			qf[kk][2] = at_u32(qs + r0 * lq + kk * 16 + 8 + 2 * tq);
			qf[kk][3] = at_u32(qs + (r0 + 8) * lq + kk * 16 + 8 + 2 * tq);
		}
	for (int kb = 0; kb < a.s; kb += AT_KEYS) {
		at_put<MM>(blk, pd, kv, lq, a.k_op, a.k_scale, AT_KEYS);
		__syncthreads();
		if (kb + AT_KEYS < a.s)
			at_fetch(blk, pd, kg, a.k_st[2], kb + AT_KEYS, a.s, AT_KEYS);
		else
			at_fetch(blk, pv, vg, a.v_st[2], 0, a.s, AT_KEYS); /* V's first block, under the softmax */
		/* eight independent accumulator chains; rows of K past s are
		 * zeros, their scores are not stored */
		float acc[AT_KEYS / 8][4];
#pragma unroll
		for (int j = 0; j < AT_KEYS / 8; j++)
			acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0;
		if (live) {
#pragma unroll
			for (int kk = 0; kk < AT_MAX_D / 16; kk++)
				if (kk * 16 < a.d)
#pragma unroll
					for (int j = 0; j < AT_KEYS / 8; j++) {
						const uint16_t *kr = kv + (8 * j + g) * lq + 2 * tq + kk * 16;
						at_mma<MM>(acc[j], qf[kk], at_u32(kr), at_u32(kr + 8));
					}
		}
#pragma unroll
		for (int j = 0; j < AT_KEYS / 8; j++) {
			if (kb + 8 * j >= a.s || !live)
				continue;
			int col = kb + 8 * j + 2 * tq;
			if (plain && col + 1 < a.s) { /* the scores as MatMul rounds them, two at a time */
#pragma unroll
				for (int half = 0; half < 2; half++) {
					int at = (r0 + 8 * half) * a.srow + col;
					if (SDT == MP_F32)
						*(float2 *)((float *)sc + at) = make_float2(acc[j][2 * half], acc[j][2 * half + 1]);
					else
						*(uint32_t *)((uint16_t *)sc + at) = at_pack<SDT>(acc[j][2 * half], acc[j][2 * half + 1]);
				}
				continue;
			}
#pragma unroll
			for (int i = 0; i < 4; i++) {
				int c = col + (i & 1), r = r0 + (i >> 1) * 8;
				if (c < a.s) {
					float v = at_round(acc[j][i], a.s_dt);
					if (a.s_op != MP_OP_NONE)
						v = at_round(at_scale(v, a.s_op, a.s_scale), a.s2_dt);
					if (SDT == MP_F32)
						((float *)sc)[r * a.srow + c] = v;
					else
						((uint16_t *)sc)[r * a.srow + c] = at_bits<SDT>(v);
				}
			}
		}
		__syncthreads();
	}

	/* 2. the softmax, k_softmax_warp's arithmetic (each lane the keys
	 * lane + 32 j, in registers, j in order; then the butterflies): the
	 * probabilities (MM) replace the scores in place */
	const int sp = (a.s + 15) & ~15;
	/* two rows at a time: two chains in flight (four were slower) */
	constexpr int R = 2;
	for (int rr = 0; rr < 16; rr += R) {
		int r = w * 16 + rr;
		if (t0 + r >= a.t)
			break;
		const ST *x[R];
		float v[R][NPL], m[R], sum[R];
#pragma unroll
		for (int q = 0; q < R; q++) {
			x[q] = sc + (r + q) * a.srow;
			m[q] = -INFINITY;
			sum[q] = 0;
		}
#pragma unroll
		for (int j = 0; j < NPL; j++) {
			int k = lane + 32 * j;
#pragma unroll
			for (int q = 0; q < R; q++) {
				v[q][j] = k < a.s ? cu_ldf<SDT>(x[q], k) : -INFINITY;
				m[q] = v[q][j] > m[q] ? v[q][j] : m[q];
			}
		}
		for (int s = 16; s > 0; s >>= 1)
#pragma unroll
			for (int q = 0; q < R; q++) {
				float other = __shfl_xor_sync(0xffffffffu, m[q], s);
				m[q] = other > m[q] ? other : m[q];
			}
#pragma unroll
		for (int q = 0; q < R; q++)
			if (isinf(m[q]) && m[q] < 0)
				m[q] = 0;
#pragma unroll
		for (int j = 0; j < NPL; j++)
			if (lane + 32 * j < a.s)
#pragma unroll
				for (int q = 0; q < R; q++) {
					v[q][j] = expf(v[q][j] - m[q]); /* the same expf the output divides */
					sum[q] += v[q][j];
				}
		for (int s = 16; s > 0; s >>= 1)
#pragma unroll
			for (int q = 0; q < R; q++)
				sum[q] += __shfl_xor_sync(0xffffffffu, sum[q], s);
		if (SDT == MP_F32) /* 4-byte scores: a lane's P lands on another's score */
			__syncwarp();
#pragma unroll
		for (int q = 0; q < R; q++) {
			uint16_t *p = (uint16_t *)x[q];
			if (t0 + r + q >= a.t)
				break;
#pragma unroll
			for (int j = 0; j < NPL; j++) {
				int k = lane + 32 * j;
				if (k < sp)
					p[k] = at_bits<MM>(k < a.s ? at_round(v[q][j] / sum[q], a.p_dt) : 0.0f);
			}
		}
		if (SDT == MP_F32)
			__syncwarp();
	}

	/* 3. O = P V */
	float oacc[AT_MAX_D / 8][4];
#pragma unroll
	for (int j = 0; j < AT_MAX_D / 8; j++)
		oacc[j][0] = oacc[j][1] = oacc[j][2] = oacc[j][3] = 0;
	const uint16_t *p0 = (const uint16_t *)(sc + r0 * a.srow), *p8 = (const uint16_t *)(sc + (r0 + 8) * a.srow);
	for (int kb = 0; kb < a.s; kb += AT_KEYS) {
		at_put<MM>(blk, pv, kv, lv, MP_OP_NONE, 0, AT_KEYS);
		__syncthreads();
		if (kb + AT_KEYS < a.s)
			at_fetch(blk, pv, vg, a.v_st[2], kb + AT_KEYS, a.s, AT_KEYS);
		for (int kk = 0; kk < AT_KEYS / 16 && kb + 16 * kk < a.s && live; kk++) {
			int c = kb + 16 * kk + 2 * tq;
			uint32_t af[4] = { at_u32(p0 + c), at_u32(p8 + c), at_u32(p0 + c + 8), at_u32(p8 + c + 8) };
			/* V's rows 16kk.. as the B operand, transposed by ldmatrix */
			const uint16_t *vr = kv + (16 * kk + (lane & 15)) * lv;
#pragma unroll
			for (int j = 0; j < AT_MAX_D / 8; j++)
				if (8 * j < a.dv) {
					uint32_t b0, b1;
					uint32_t addr = (uint32_t)__cvta_generic_to_shared(vr + 8 * j);
					asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
					             : "=r"(b0), "=r"(b1) : "r"(addr));
					at_mma<MM>(oacc[j], af, b0, b1);
				}
		}
		__syncthreads();
	}
#pragma unroll
	for (int j = 0; j < AT_MAX_D / 8; j++)
		if (8 * j < a.dv)
#pragma unroll
			for (int half = 0; half < 2; half++) {
				int t = t0 + r0 + 8 * half, c = 8 * j + 2 * tq;
				if (t >= a.t)
					continue;
				int64_t at = b * a.o_st[0] + h * a.o_st[1] + (int64_t)t * a.o_st[2] + c;
				float v0 = oacc[j][2 * half], v1 = oacc[j][2 * half + 1];
				if (a.o_dt == MP_F32)
					*(float2 *)((float *)a.o + at) = make_float2(v0, v1);
				else
					*(uint32_t *)((uint16_t *)a.o + at) = at_pack<MM>(v0, v1);
			}
}

/* ---- up to AR_KEYS keys: the score rows in registers ----
 *
 * Where the scores reach the Softmax as 16-bit values of the operand type
 * (or as f32 copies of them), the score rows stay where the tensor cores
 * leave them: the thread (g, tq) of a warp holds keys 8j + 2tq and
 * 8j + 2tq + 1 of its rows g and g + 8, as one 16-bit pair a row, and the
 * probabilities replace them in place.  A CTA takes 64 query rows of one
 * (batch, head) in 8 warps; warps w and w + 4 share 16 rows and split their
 * keys, w < 4 the 8-key blocks j with j % 4 < 2 and w >= 4 the others (so
 * each holds half a row: twice the warps an SM holds, half the code each
 * runs).  K, then V, pass through shared memory.
 *
 * k_softmax_warp gives key k to lane k % 32, sums each lane's keys in
 * order of k and then adds the lanes by the butterfly (xor 16, 8, 4, 2,
 * 1).  Key 8j + 2tq + e is lane 8(j % 4) + 2tq + e's, so each lane's keys
 * lie in one warp of the two: a thread keeps those lanes' sums apart,
 * adding in order of j; the two warps trade them through shared memory and
 * each does the butterfly's steps 16, 8 and 1 itself and 4 and 2 with its
 * quad.  These are the same additions, so the same probabilities to the
 * bit.  The probabilities then go to shared memory, and each warp of the
 * two computes P·V for half of O's columns, summing over the keys in
 * order as one warp did before. */
enum { AR_WARPS = 8, AR_ROWS = 64, AR_NB = 36, AR_HB = AR_NB / 2, AR_KEYS = 8 * AR_NB };

/* The two warps of 16 rows trade AR_XCH words a thread in the place their
 * probabilities take later: a P row holds at least AR_LP_MIN elements, so
 * that 16 rows hold both warps' words. */
enum { AR_XCH = 12, AR_LP_MIN = 104 };

/* the probabilities' row stride: pad + 8 (8 rows' ldmatrix reads on
 * different banks), at least AR_LP_MIN */
static __host__ __device__ __forceinline__ int ar_lp(int pad)
{
	return pad + 8 > AR_LP_MIN ? pad + 8 : AR_LP_MIN;
}

/* the trading words of thread `who` (lane + 32 half) of the warps of rows
 * rl..rl + 15: where their probabilities go later */
__device__ __forceinline__ uint32_t *ar_xch(uint16_t *ps, int rl, int lp, int who)
{
	return (uint32_t *)(ps + rl * lp) + who * AR_XCH;
}

/* the barrier of the two warps (w % 4 and w % 4 + 4) of 16 rows */
__device__ __forceinline__ void ar_pair_sync(int w)
{
	asm volatile("bar.sync %0, 64;\n" :: "r"(1 + (w & 3)) : "memory");
}

/* the key block that the warp of half h takes as its jl-th */
__device__ __forceinline__ int ar_block(int jl, int h)
{
	return 4 * (jl >> 1) + 2 * h + (jl & 1);
}

/* the larger of two DT pairs, half by half; a NaN loses (as in the
 * Softmax's max) */
template <int DT>
__device__ __forceinline__ uint32_t at_max2(uint32_t x, uint32_t y)
{
	uint32_t r;
	if (DT == MP_BF16)
		asm("max.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(y));
	else
		asm("max.f16x2 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(y));
	return r;
}

/* the smaller of two DT pairs, half by half; a NaN loses */
template <int DT>
__device__ __forceinline__ uint32_t at_min2(uint32_t x, uint32_t y)
{
	uint32_t r;
	if (DT == MP_BF16)
		asm("min.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(y));
	else
		asm("min.f16x2 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(y));
	return r;
}

/* A pair scaled as a Mul (OP) or Div node and stored in DT would leave it */
template <int DT, int OP>
__device__ __forceinline__ uint32_t at_scale2(uint32_t p, float s)
{
	float lo = at_half<DT>(p, 0), hi = at_half<DT>(p, 1);
	return OP == MP_OP_MUL ? at_pack_raw<DT>(lo * s, hi * s) : at_pack_raw<DT>(lo / s, hi / s);
}

/* rows [0, rows) of src (row stride rs) to shared memory (row stride ld)
 * without passing through registers, rows [rows, pad) zeros; waited for by
 * ar_wait() */
__device__ __forceinline__ void ar_stage(uint16_t *dst, int ld, const uint16_t *src, int64_t rs, int rows, int pad,
                                         int cols)
{
	const at_part pt = at_part_of(cols, AR_WARPS * 32);
	for (int r = pt.r0; r < pad; r += pt.step) {
		uint16_t *d = dst + r * ld + pt.col;
		if (r < rows)
			asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n"
			             :: "r"((uint32_t)__cvta_generic_to_shared(d)), "l"(src + (int64_t)r * rs + pt.col));
		else
			*(uint4 *)d = make_uint4(0, 0, 0, 0);
	}
	asm volatile("cp.async.commit_group;\n" ::);
}

__device__ __forceinline__ void ar_wait()
{
	asm volatile("cp.async.wait_all;\n" ::: "memory");
}

/* rows [0, rows) of a staged block scaled in place (K's Mul or Div) */
template <int MM, int OP>
__device__ __noinline__ void ar_scale_rows(uint16_t *p, int ld, int rows, int cols, float s)
{
	const at_part pt = at_part_of(cols, AR_WARPS * 32);
	for (int r = pt.r0; r < rows; r += pt.step) {
		uint4 *q = (uint4 *)(p + r * ld + pt.col), v = *q;
		v.x = at_scale2<MM, OP>(v.x, s);
		v.y = at_scale2<MM, OP>(v.y, s);
		v.z = at_scale2<MM, OP>(v.z, s);
		v.w = at_scale2<MM, OP>(v.w, s);
		*q = v;
	}
}

/* Q's fragments scaled in place */
template <int MM, int OP, int DK>
__device__ __forceinline__ void ar_scale_q(uint32_t (&qf)[DK / 16][4], float s)
{
#pragma unroll
	for (int kk = 0; kk < DK / 16; kk++)
#pragma unroll
		for (int i = 0; i < 4; i++)
			qf[kk][i] = at_scale2<MM, OP>(qf[kk][i], s);
}

/* A block of scores that is not MatMul's rounding alone: rounded to s_dt,
 * scaled and rounded to s2_dt (the kernel's uncommon case, kept out of
 * its unrolled loop) */
template <int MM>
__device__ __noinline__ uint2 ar_scores(float a0, float a1, float a2, float a3, int s_dt, int s_op, float s_scale,
                                        int s2_dt)
{
	float v[4] = { a0, a1, a2, a3 };
#pragma unroll
	for (int i = 0; i < 4; i++) {
		v[i] = at_round(v[i], s_dt);
		if (s_op != MP_OP_NONE)
			v[i] = at_round(at_scale(v[i], s_op, s_scale), s2_dt);
	}
	return make_uint2(at_pack_raw<MM>(v[0], v[1]), at_pack_raw<MM>(v[2], v[3]));
}

/* The probabilities divide by cu_div_by (math.cuh: div.rn.f32's fast path,
 * its reciprocal found once a row) where the row's least score proves a
 * range well inside its check: the sum y in [1, 2^24], each expf() x 0 or
 * at least expf(AR_DIV_LOW) (about 2^-58); elsewhere with '/'. */
#define AR_DIV_LOW (-40.0f)

/* The probabilities over this half's scores (the blocks past s as well:
 * their -inf give 0), by cu_div_by or (EXACT) by '/'.  The Softmax writes
 * them in the operand type or f32, so the one rounding that counts is the
 * P·V GEMM operand's. */
template <int MM, bool EXACT>
__device__ __forceinline__ void ar_probs(uint32_t (&sc)[AR_HB][2], const float (&m)[2], const float (&sum)[2],
                                         const float (&rcp)[2])
{
#pragma unroll
	for (int jl = 0; jl < AR_HB; jl++)
#pragma unroll
		for (int hf = 0; hf < 2; hf++) {
			float p[2];
#pragma unroll
			for (int e = 0; e < 2; e++) {
				float x = expf(at_half<MM>(sc[jl][hf], e) - m[hf]);
				p[e] = EXACT ? x / sum[hf] : cu_div_by(x, sum[hf], rcp[hf]);
			}
			sc[jl][hf] = at_pack_raw<MM>(p[0], p[1]);
		}
}

/* A CTA: 64 query rows of one (batch, head); DK bounds d and dv.  Shared
 * memory holds K, then V ([pad][d + 8], the rows past s zeros: V is staged
 * while the softmax runs), then the probabilities ([64][ar_lp(pad)]),
 * whose place first serves the two warps of 16 rows to trade maxima and
 * sums. */
template <int MM, int DK>
__global__ void __launch_bounds__(AR_WARPS * 32, DK == 64 ? 3 : 2) k_attention_regs(at_args a)
{
	extern __shared__ __align__(16) unsigned char at_smem[];
	const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3, half = w >> 2;
	const int tile = (int)(blockIdx.x % (unsigned)a.tiles), bh = (int)(blockIdx.x / (unsigned)a.tiles);
	const int b = bh / a.nh, h = bh - b * a.nh, rl = (w & 3) * 16, r0 = tile * AR_ROWS + rl;
	const int pad = (a.s + 15) & ~15, lk = a.d + 8, lv = a.dv + 8, lp = ar_lp(pad);
	uint16_t *kv = (uint16_t *)at_smem, *ps = kv + pad * (lk > lv ? lk : lv);
	const int me = lane + 32 * half, them = me ^ 32; /* places in the trading place */
	const uint32_t kv_s = (uint32_t)__cvta_generic_to_shared(kv), ps_s = (uint32_t)__cvta_generic_to_shared(ps);
	const bool live = r0 < a.t; /* a warp past t only helps to load */

	ar_stage(kv, lk, a.k + b * a.k_st[0] + h * a.k_st[1], a.k_st[2], a.s, pad, a.d);
	/* Q's fragments from global memory while K arrives, then scaled */
	uint32_t qf[DK / 16][4];
	const uint16_t *qg = a.q + b * a.q_st[0] + h * a.q_st[1];
#pragma unroll
	for (int kk = 0; kk < DK / 16; kk++)
#pragma unroll
		for (int i = 0; i < 4; i++) {
			int row = r0 + g + 8 * (i & 1), col = 16 * kk + 2 * tq + 4 * (i & 2);
			qf[kk][i] = 16 * kk < a.d && row < a.t ? at_u32(qg + (int64_t)row * a.q_st[2] + col) : 0;
		}
	if (a.q_op == MP_OP_MUL)
		ar_scale_q<MM, MP_OP_MUL, DK>(qf, a.q_scale);
	else if (a.q_op == MP_OP_DIV)
		ar_scale_q<MM, MP_OP_DIV, DK>(qf, a.q_scale);
	ar_wait();
	__syncthreads();
	if (a.k_op != MP_OP_NONE) {
		if (a.k_op == MP_OP_MUL)
			ar_scale_rows<MM, MP_OP_MUL>(kv, lk, a.s, a.d, a.k_scale);
		else
			ar_scale_rows<MM, MP_OP_DIV>(kv, lk, a.s, a.d, a.k_scale);
		__syncthreads();
	}

	/* 1. this half's scores, rounded as MatMul (and the scaling) round
	 * them; past s, -inf: nothing to the max, +0 to the sums, probability
	 * 0 (what k_softmax_warp's skipping them comes to, with no test per
	 * key) */
	uint32_t sc[AR_HB][2];
	const bool plain = a.s_op == MP_OP_NONE && a.s_dt == MM;
	const uint32_t ninf = MM == MP_BF16 ? 0xFF80FF80u : 0xFC00FC00u, pinf = ninf & 0x7FFF7FFFu;
	uint32_t mn[2] = { pinf, pinf }; /* at most the rows' least scores: cu_div_by's range */
	uint32_t mp[2] = { ninf, ninf }; /* the rows' greatest */
	/* two blocks (keys 8j..8j + 15, j = ar_block(jl, half), jl even) at a
	 * time: two MMA chains */
#pragma unroll
	for (int jl = 0; jl < AR_HB; jl += 2) {
		const int j = ar_block(jl, half);
		sc[jl][0] = sc[jl][1] = sc[jl + 1][0] = sc[jl + 1][1] = ninf;
		if (!live || 8 * j >= a.s)
			continue;
		const uint32_t kr = kv_s + 2 * ((8 * j + 8 * (lane >> 4) + (lane & 7)) * lk + 8 * ((lane >> 3) & 1));
		float acc[2][4] = { { 0, 0, 0, 0 }, { 0, 0, 0, 0 } };
#pragma unroll
		for (int kk = 0; kk < DK / 16; kk++)
			if (16 * kk < a.d) {
				uint32_t kf[4];
				asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
				             : "=r"(kf[0]), "=r"(kf[1]), "=r"(kf[2]), "=r"(kf[3]) : "r"(kr + 32 * kk));
				at_mma<MM>(acc[0], qf[kk], kf[0], kf[1]);
				at_mma<MM>(acc[1], qf[kk], kf[2], kf[3]);
			}
#pragma unroll
		for (int i = 0; i < 2; i++) {
			uint32_t *q = sc[jl + i];
			if (plain) {
				q[0] = at_pack_raw<MM>(acc[i][0], acc[i][1]);
				q[1] = at_pack_raw<MM>(acc[i][2], acc[i][3]);
			} else {
				uint2 v = ar_scores<MM>(acc[i][0], acc[i][1], acc[i][2], acc[i][3], a.s_dt, a.s_op, a.s_scale,
				                        a.s2_dt);
				q[0] = v.x;
				q[1] = v.y;
			}
			/* with the keys past s: a score of a zero row of K */
			mn[0] = at_min2<MM>(mn[0], q[0]);
			mn[1] = at_min2<MM>(mn[1], q[1]);
			if (8 * (j + i) + 8 > a.s) { /* -inf past s */
				int k = 8 * (j + i) + 2 * tq;
				uint32_t keep = (k < a.s ? 0xFFFFu : 0) | (k + 1 < a.s ? 0xFFFF0000u : 0);
				q[0] = (q[0] & keep) | (ninf & ~keep);
				q[1] = (q[1] & keep) | (ninf & ~keep);
			}
			mp[0] = at_max2<MM>(mp[0], q[0]);
			mp[1] = at_max2<MM>(mp[1], q[1]);
		}
	}
	uint32_t *mine = ar_xch(ps, rl, lp, me);
	mine[0] = mp[0], mine[1] = mp[1], mine[2] = mn[0], mine[3] = mn[1];
	__syncthreads(); /* every warp is done with K: V takes its place */
	ar_stage(kv, lv, a.v + b * a.v_st[0] + h * a.v_st[1], a.v_st[2], a.s, pad, a.dv);

	/* 2. the softmax of rows g and g + 8 (hf 0 and 1): the maxima and
	 * least scores of both halves (max and min in any order are exact) */
	float m[2], sum[2], rcp[2];
	bool slow = false; /* a quotient outside cu_div_by's range */
	if (live) {
		const uint32_t *theirs = ar_xch(ps, rl, lp, them);
		mp[0] = at_max2<MM>(mp[0], theirs[0]), mp[1] = at_max2<MM>(mp[1], theirs[1]);
		mn[0] = at_min2<MM>(mn[0], theirs[2]), mn[1] = at_min2<MM>(mn[1], theirs[3]);
		float part[2][2][2]; /* [hf][c % 2][e]: the sums of k_softmax_warp's lanes 8c + 2tq + e, c = j % 4 */
#pragma unroll
		for (int hf = 0; hf < 2; hf++) {
			float x = at_half<MM>(mp[hf], 0), y = at_half<MM>(mp[hf], 1);
			float lx = at_half<MM>(mn[hf], 0), ly = at_half<MM>(mn[hf], 1), least = ly < lx ? ly : lx;
			m[hf] = y > x ? y : x;
#pragma unroll
			for (int o = 1; o <= 2; o <<= 1) {
				float other = __shfl_xor_sync(0xffffffffu, m[hf], o);
				m[hf] = other > m[hf] ? other : m[hf];
				other = __shfl_xor_sync(0xffffffffu, least, o);
				least = other < least ? other : least;
			}
			if (isinf(m[hf]) && m[hf] < 0)
				m[hf] = 0;
			/* every expf() below at least expf(AR_DIV_LOW), or 0 past s */
			slow |= !(least - m[hf] >= AR_DIV_LOW);
#pragma unroll
			for (int c = 0; c < 2; c++)
				part[hf][c][0] = part[hf][c][1] = 0;
		}
#pragma unroll
		for (int jl = 0; jl < AR_HB; jl++)
			if (8 * ar_block(jl, half) < a.s)
#pragma unroll
				for (int i = 0; i < 4; i++)
					part[i >> 1][jl & 1][i & 1] += expf(at_half<MM>(sc[jl][i >> 1], i & 1) - m[i >> 1]);
		uint32_t *mine = ar_xch(ps, rl, lp, me);
#pragma unroll
		for (int k = 0; k < 8; k++)
			mine[4 + k] = __float_as_uint(part[k >> 2][(k >> 1) & 1][k & 1]);
	}
	if (live) {
		ar_pair_sync(w); /* both halves' lane sums in */
		const uint32_t *mine = ar_xch(ps, rl, lp, me), *theirs = ar_xch(ps, rl, lp, them);
#pragma unroll
		for (int hf = 0; hf < 2; hf++) {
			float full[4][2]; /* [c][e] */
#pragma unroll
			for (int k = 0; k < 4; k++) {
				const uint32_t *src = (k >> 1) == half ? mine : theirs;
				full[k][0] = __uint_as_float(src[4 + 4 * hf + 2 * (k & 1)]);
				full[k][1] = __uint_as_float(src[4 + 4 * hf + 2 * (k & 1) + 1]);
			}
			float u[2];
#pragma unroll
			for (int e = 0; e < 2; e++) {
				/* xor 16 and 8 */
				u[e] = (full[0][e] + full[2][e]) + (full[1][e] + full[3][e]);
				u[e] += __shfl_xor_sync(0xffffffffu, u[e], 2); /* xor 4 */
				u[e] += __shfl_xor_sync(0xffffffffu, u[e], 1); /* xor 2 */
			}
			sum[hf] = u[0] + u[1]; /* xor 1 */
			/* at least the max's expf(0) and at most s: cu_div_by's range */
			slow |= !(sum[hf] >= 1.0f && sum[hf] <= 0x1p24f);
			rcp[hf] = cu_div_recip(sum[hf]);
		}
	}
	if (live) {
		ar_pair_sync(w); /* the trading place is read: the probabilities take it */
		if (!slow)
			ar_probs<MM, false>(sc, m, sum, rcp);
		else /* rare: a quotient div.rn.f32 may find by another way */
			ar_probs<MM, true>(sc, m, sum, rcp);
#pragma unroll
		for (int jl = 0; jl < AR_HB; jl++) {
			const int j = ar_block(jl, half);
			if (8 * j < pad) {
				*(uint32_t *)(ps + (rl + g) * lp + 8 * j + 2 * tq) = sc[jl][0];
				*(uint32_t *)(ps + (rl + g + 8) * lp + 8 * j + 2 * tq) = sc[jl][1];
			}
		}
	}
	ar_wait();
	__syncthreads();
	if (!live)
		return;

	/* 3. O = P V for this half's 8-column tiles [n0, n1): P's A fragments
	 * and V's B fragments by ldmatrix (V's transposed), the keys in order */
	const int nt = a.dv / 8, n0 = half ? (nt + 1) / 2 : 0, n1 = half ? nt : (nt + 1) / 2;
	float o[DK / 16][4];
#pragma unroll
	for (int n = 0; n < DK / 16; n++)
		o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0;
	/* tiles by twos, x4 loads: an odd last tile also reads the next 8
	 * columns (the next tile's, or the row's padding), whose sums are not
	 * stored */
	const uint32_t pr = ps_s + 2 * ((rl + (lane & 15)) * lp + 8 * (lane >> 4));
	const int nks = (a.s + 15) / 16;
#pragma unroll 2
	for (int ks = 0; ks < nks; ks++) {
		uint32_t af[4], bf[DK / 32][4];
		asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
		             : "=r"(af[0]), "=r"(af[1]), "=r"(af[2]), "=r"(af[3]) : "r"(pr + 32 * ks));
		const uint32_t vr = kv_s + 2 * (16 * ks + (lane & 15)) * lv + 16 * (lane >> 4);
#pragma unroll
		for (int p = 0; p < DK / 32; p++)
			if (n0 + 2 * p < n1)
				asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
				             : "=r"(bf[p][0]), "=r"(bf[p][1]), "=r"(bf[p][2]), "=r"(bf[p][3])
				             : "r"(vr + 16 * (n0 + 2 * p)));
#pragma unroll
		for (int p = 0; p < DK / 32; p++)
			if (n0 + 2 * p < n1) {
				at_mma<MM>(o[2 * p], af, bf[p][0], bf[p][1]);
				at_mma<MM>(o[2 * p + 1], af, bf[p][2], bf[p][3]);
			}
	}
#pragma unroll
	for (int lt = 0; lt < DK / 16; lt++)
		if (n0 + lt < n1)
#pragma unroll
			for (int hf = 0; hf < 2; hf++) {
				int t = r0 + g + 8 * hf, c = 8 * (n0 + lt) + 2 * tq;
				if (t >= a.t)
					continue;
				int64_t at = b * a.o_st[0] + h * a.o_st[1] + (int64_t)t * a.o_st[2] + c;
				float v0 = o[lt][2 * hf], v1 = o[lt][2 * hf + 1];
				if (a.o_dt == MP_F32)
					*(float2 *)((float *)a.o + at) = make_float2(v0, v1);
				else
					*(uint32_t *)((uint16_t *)a.o + at) = at_pack<MM>(v0, v1);
			}
}

static bool aligned16(const void *p)
{
	return ((uintptr_t)p & 15) == 0;
}

static bool strides_ok(const int64_t *st, int64_t mult)
{
	for (int i = 0; i < 3; i++)
		if (st[i] % mult)
			return false;
	return true;
}

extern "C" enum mp_status cu_attention(void *ctx, const struct mp_attn_call *c, struct mp_error *e)
{
	struct cu_ctx *cx = (struct cu_ctx *)ctx;
	const int64_t big = (int64_t)1 << 30;
	if (c->mm != MP_BF16 && c->mm != MP_F16)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "attention: operands in %s", mp_dtype_name(c->mm));
	if (c->q->dtype != c->mm || c->k->dtype != c->mm || c->v->dtype != c->mm ||
	    (c->out && c->out->dtype != c->mm && c->out->dtype != MP_F32))
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "attention: tensors not in the operand type");
	/* scores as they reach the Softmax in the operand type or f32 */
	if ((c->s2_dt != c->mm && c->s2_dt != MP_F32) ||
	    (c->s_dt != MP_BF16 && c->s_dt != MP_F16 && c->s_dt != MP_F32) ||
	    (c->p_dt != c->mm && c->p_dt != MP_F32))
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "attention: scores in %s", mp_dtype_name(c->s2_dt));
	if (c->d < 16 || c->d > AT_MAX_D || c->d % 16 || c->dv < 8 || c->dv > AT_MAX_D || c->dv % 8 ||
	    c->t < 1 || c->s < 1 || c->t > big || c->s > big || c->nb * c->nh > big)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "attention: head sizes %lld and %lld",
		                    (long long)c->d, (long long)c->dv);
	/* 16-byte loads of 8 elements; the output's pairs are 4- or 8-byte stores */
	if (!aligned16(c->q->data) || !aligned16(c->k->data) || !aligned16(c->v->data) ||
	    (c->out && ((uintptr_t)c->out->data & 7)) || !strides_ok(c->q_st, 8) || !strides_ok(c->k_st, 8) ||
	    !strides_ok(c->v_st, 8) || !strides_ok(c->o_st, 2))
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "attention: operands not 16-byte aligned");
	/* scores the Softmax reads as operand-type values: in registers up to
	 * AR_KEYS keys; otherwise score rows in shared memory, 16-bit where
	 * the Softmax reads 16-bit scores (the stride puts them on different
	 * banks), f32 where it reads f32 */
	bool regs = c->s <= AR_KEYS && (c->s2_dt == c->mm || (c->s2_dt == MP_F32 && c->s_op == MP_OP_NONE &&
	                                                      c->s_dt == c->mm));
	bool s16 = c->s2_dt == MP_BF16 || c->s2_dt == MP_F16;
	int64_t rows = regs ? (int64_t)AR_ROWS : (int64_t)AT_ROWS, tiles = (c->t + rows - 1) / rows, ctas = tiles * c->nb * c->nh;
	int srow = (int)(((c->s + 15) & ~15) + (s16 ? 8 : 4));
	size_t lq = (size_t)c->d + 8, lv = (size_t)c->dv + 8, lkv = lq > lv ? lq : lv, smem;
	if (regs) /* K/V, then the probabilities */
		smem = ((size_t)((c->s + 15) & ~15) * lkv + (size_t)AR_ROWS * ar_lp((int)((c->s + 15) & ~15))) * 2;
	else
		smem = (size_t)AT_ROWS * srow * (s16 ? 2 : 4) + (AT_ROWS * lq + AT_KEYS * lkv) * 2;
	int least = cx->attn_min_blocks < 0 ? cx->sm_count : cx->attn_min_blocks;
	if (ctas < least)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "attention: %lld blocks for %d SMs, node by node",
		                    (long long)ctas, cx->sm_count);
	int optin = 0;
	CU_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cx->device), "attention");
	if (smem > (size_t)optin || ctas > INT32_MAX || c->s > 1024)
		return mp_error_set(e, MP_ERR_UNSUPPORTED, "attention: %lld keys need %zu bytes of shared memory",
		                    (long long)c->s, smem);
	if (!c->out)
		return MP_OK;
	at_args a;
	a.q = (const uint16_t *)c->q->data;
	a.k = (const uint16_t *)c->k->data;
	a.v = (const uint16_t *)c->v->data;
	a.o = c->out->data;
	for (int i = 0; i < 3; i++) {
		a.q_st[i] = c->q_st[i];
		a.k_st[i] = c->k_st[i];
		a.v_st[i] = c->v_st[i];
		a.o_st[i] = c->o_st[i];
	}
	a.nh = (int)c->nh;
	a.t = (int)c->t;
	a.s = (int)c->s;
	a.d = (int)c->d;
	a.dv = (int)c->dv;
	a.tiles = (int)tiles;
	a.s_dt = c->s_dt;
	a.s2_dt = c->s2_dt;
	a.p_dt = c->p_dt;
	a.o_dt = c->out->dtype;
	a.q_op = c->q_op;
	a.k_op = c->k_op;
	a.s_op = c->s_op;
	a.q_scale = c->q_scale;
	a.k_scale = c->k_scale;
	a.s_scale = c->s_scale;
	a.srow = srow;
	if (regs) {
		int dk = c->d > c->dv ? (int)c->d : (int)c->dv;
#define AR_LAUNCH(MM, DK)                                                                                  \
	if (c->mm == MM && (DK == 64) == (dk <= 64)) {                                                       \
		CU_TRY(cudaFuncSetAttribute(k_attention_regs<MM, DK>, cudaFuncAttributeMaxDynamicSharedMemorySize, \
		                            (int)smem), "attention");                                              \
		k_attention_regs<MM, DK><<<(unsigned)ctas, AR_WARPS * 32, smem, cx->stream>>>(a);                \
	}
		AR_LAUNCH(MP_BF16, 64) AR_LAUNCH(MP_BF16, 128) AR_LAUNCH(MP_F16, 64) AR_LAUNCH(MP_F16, 128)
#undef AR_LAUNCH
		CU_LAUNCHED("attention");
		return MP_OK;
	}
	/* each lane holds ceil(s / 32) scores of a row */
	int npl = c->s <= 288 ? 9 : c->s <= 512 ? 16 : 32;
#define AT_LAUNCH1(MM, SDT, NPL)                                                                            \
	if (c->mm == MM && c->s2_dt == SDT && npl == NPL) {                                                  \
		CU_TRY(cudaFuncSetAttribute(k_attention<MM, SDT, NPL>, cudaFuncAttributeMaxDynamicSharedMemorySize, \
		                            (int)smem), "attention");                                              \
		k_attention<MM, SDT, NPL><<<(unsigned)ctas, AT_WARPS * 32, smem, cx->stream>>>(a);                \
	}
#define AT_LAUNCH(MM, SDT) AT_LAUNCH1(MM, SDT, 9) AT_LAUNCH1(MM, SDT, 16) AT_LAUNCH1(MM, SDT, 32)
	AT_LAUNCH(MP_BF16, MP_BF16) AT_LAUNCH(MP_BF16, MP_F32) AT_LAUNCH(MP_F16, MP_F16) AT_LAUNCH(MP_F16, MP_F32)
#undef AT_LAUNCH1
#undef AT_LAUNCH
	CU_LAUNCHED("attention");
	return MP_OK;
}
