/* attention.cu - MatMul -> Softmax -> MatMul (with the scalings and
 * transposes around it) as one kernel, for the executor's attention groups
 * (backend.h, struct mp_attn_call).
 *
 * Node by node, attention writes the scores and the probabilities, a
 * [batch, heads, t, s] tensor each, and copies Q, K^T, V and O through four
 * transposes: at 257 tokens that is most of a ViT's memory traffic.  Here
 * one CTA takes 128 query rows of one (batch, head) and keeps their whole
 * score rows in shared memory:
 *
 *   1. Q' = round(Q * q_scale) to registers; for each block of 64 keys,
 *      K' = round(K * k_scale) to shared memory, S = Q' K'^T on the tensor
 *      cores (mma.sync m16n8k16, f32 accumulation), rounded as MatMul's
 *      output (and the score scaling's) would be, kept in shared memory
 *      in the type the Softmax reads (16-bit, or f32);
 *   2. each warp its 16 rows: the Softmax kernel's arithmetic (max, the sum
 *      of expf in the same lane order and butterfly, expf / sum), each
 *      probability rounded to the operand type, written over its score;
 *   3. O = P V on the tensor cores, block by block of keys, rounded once
 *      and stored through the output's strides.
 *
 * Why not a library: cuBLAS has no fused attention, and cuDNN's (like
 * flash attention) rescales an online softmax, which computes different
 * probabilities from the ones the Softmax node defines; this kernel keeps
 * every step's rounding, so that it differs from the nodes run one by one
 * only in the order of the GEMMs' f32 sums.
 */
#include "cu.cuh"
#include "cuda_api.h"

/* a CTA: 128 query rows (16 a warp), keys in blocks of 64 */
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

/* This thread's part of a block of `cols` columns: rows r0, r0 + step, ...
 * at column col (step rows a pass, each row cols / 8 threads wide). */
struct at_part {
	int r0, step, col;
};

__device__ __forceinline__ at_part at_part_of(int cols)
{
	int chunks = cols / 8, per = AT_WARPS * 32 / chunks;
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
	const at_part pd = at_part_of(a.d), pv = at_part_of(a.dv);

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
						*(uint32_t *)((uint16_t *)sc + at) = (uint32_t)at_bits<SDT>(acc[j][2 * half]) |
						                                    (uint32_t)at_bits<SDT>(acc[j][2 * half + 1]) << 16;
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
					*(uint32_t *)((uint16_t *)a.o + at) = (uint32_t)at_bits<MM>(v0) | (uint32_t)at_bits<MM>(v1) << 16;
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
	int64_t tiles = (c->t + AT_ROWS - 1) / AT_ROWS, ctas = tiles * c->nb * c->nh;
	/* score rows 16-bit where the Softmax reads 16-bit scores; the stride
	 * puts the rows on different banks */
	bool s16 = c->s2_dt == MP_BF16 || c->s2_dt == MP_F16;
	int srow = (int)(((c->s + 15) & ~15) + (s16 ? 8 : 4));
	size_t lq = (size_t)c->d + 8, lv = (size_t)c->dv + 8, kvs = AT_KEYS * (lq > lv ? lq : lv);
	size_t smem = (size_t)AT_ROWS * srow * (s16 ? 2 : 4) + (AT_ROWS * lq + kvs) * 2;
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
