/* probe_div.cuh - the diversity part of probe.cu's kernel, in a file of
 * its own for length: included by probe.cu alone, after the request, part
 * and shared-memory types and block_is_last() and chan() it uses. */
#ifndef MP_CUDA_PROBE_DIV_CUH
#define MP_CUDA_PROBE_DIV_CUH

/* ---- diversity of [B, F]: feature blocks (the std across samples of 256
 * features, summed), then sample blocks (a sample's chunk of DIV_CHUNK
 * features: n, mean, M2); the last block sums and merges them in that
 * order.  Each pass reads its values once: sums of x - K and (x - K)^2 in
 * f64 with K the first value it reads (a feature's first sample, a
 * chunk's first feature), four loads in flight a thread, the dtype's load
 * chosen once a block.  Against the CPU's two-pass sums the difference is
 * the f64 rounding of the shifted sums: within 1e-12 relative for values
 * whose spread is not 1e4 times below their distance from K ---- */

__device__ __forceinline__ double block_sum(double v, double *sh)
{
	sh[threadIdx.x] = v;
	__syncthreads();
	for (int s = THREADS / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s)
			sh[threadIdx.x] += sh[threadIdx.x + s];
		__syncthreads();
	}
	double r = sh[0];
	__syncthreads();
	return r;
}

template <int DT> __device__ __forceinline__ double dv_ld(const void *p, int64_t i)
{
	if (DT == MP_F32)
		return (double)__ldg((const float *)p + i);
	if (DT == MP_BF16)
		return (double)cu_bf16_to_f32(__ldg((const unsigned short *)p + i));
	if (DT == MP_F16)
		return (double)cu_f16_to_f32(__ldg((const unsigned short *)p + i));
	return __ldg((const double *)p + i);
}

/* Sums of x[i0 + j*step] - k and its square over j in [0, n): four loads in
 * flight, added in j order. */
template <int DT>
__device__ __forceinline__ void dv_sums(const void *p, int64_t i0, int64_t step, int64_t n, double k, double &s1,
                                        double &s2)
{
	int64_t j = 0;
	for (; j + 4 <= n; j += 4) {
		double x0 = dv_ld<DT>(p, i0 + j * step), x1 = dv_ld<DT>(p, i0 + (j + 1) * step),
		       x2 = dv_ld<DT>(p, i0 + (j + 2) * step), x3 = dv_ld<DT>(p, i0 + (j + 3) * step);
		double d0 = x0 - k, d1 = x1 - k, d2 = x2 - k, d3 = x3 - k;
		s1 += d0;
		s2 += d0 * d0;
		s1 += d1;
		s2 += d1 * d1;
		s1 += d2;
		s2 += d2 * d2;
		s1 += d3;
		s2 += d3 * d3;
	}
	for (; j < n; j++) {
		double d = dv_ld<DT>(p, i0 + j * step) - k;
		s1 += d;
		s2 += d * d;
	}
}

template <int DT> __device__ void div_features(const preq &r, int64_t fb, double *sh, union part *p)
{
	double acc = 0;
	int64_t f = fb * THREADS + threadIdx.x, B = r.rows, F = r.cols;
	if (f < F) {
		double k = dv_ld<DT>(r.a, f), s1 = 0, s2 = 0, n = (double)B;
		dv_sums<DT>(r.a, f + F, F, B - 1, k, s1, s2);
		double q = s2 - s1 * (s1 / n);
		acc = sqrt((q > 0 ? q : 0) / n);
	}
	double s = block_sum(acc, sh);
	if (threadIdx.x == 0)
		p->d[0] = s;
}

template <int DT> __device__ void div_samples(const preq &r, int64_t j, double *sh, union part *p)
{
	int64_t F = r.cols, b = j / r.chunks, ch = j - b * r.chunks;
	int64_t f0 = ch * DIV_CHUNK, f1 = f0 + DIV_CHUNK < F ? f0 + DIV_CHUNK : F;
	int64_t mine = (f1 - f0 - (int64_t)threadIdx.x + THREADS - 1) / THREADS; /* f0 + t, f0 + t + THREADS, ... */
	double k = dv_ld<DT>(r.a, b * F + f0), s1 = 0, s2 = 0;
	dv_sums<DT>(r.a, b * F + f0 + threadIdx.x, THREADS, mine > 0 ? mine : 0, k, s1, s2);
	s1 = block_sum(s1, sh);
	s2 = block_sum(s2, sh);
	if (threadIdx.x == 0) {
		double n = (double)(f1 - f0), q = s2 - s1 * (s1 / n);
		p->d[0] = n;
		p->d[1] = k + s1 / n;
		p->d[2] = q > 0 ? q : 0;
	}
}

template <int DT> __device__ void div_part(const preq &r, int64_t local, double *sh, union part *parts)
{
	if (local < r.fblocks)
		div_features<DT>(r, local, sh, &parts[local]);
	else
		div_samples<DT>(r, local - r.fblocks, sh, &parts[local]);
}

__device__ void diversity_block(const preq &r, int64_t local, const pcall &c, int ri, smem &sm, int *last)
{
	struct mp_diversity_acc *out = &c.slots[r.slot].div;
	int64_t B = r.rows, F = r.cols;
	if (B < 2 || F < 1) { /* undefined: samples and features recorded, the rest zero */
		if (threadIdx.x == 0) {
			out->samples = B;
			out->features = F;
			out->across = 0;
			out->within = 0;
		}
		return;
	}
	union part *parts = c.parts + r.first_block;
	switch (r.at) {
	case MP_F32: div_part<MP_F32>(r, local, sm.div, parts); break;
	case MP_BF16: div_part<MP_BF16>(r, local, sm.div, parts); break;
	case MP_F16: div_part<MP_F16>(r, local, sm.div, parts); break;
	default: div_part<MP_F64>(r, local, sm.div, parts); break;
	}
	cu_probe_acc *acc = &c.acc[ri];
	if (!block_is_last(&acc->done, r.nblocks, last) || threadIdx.x)
		return;
	double across = 0, within = 0;
	for (int64_t i = 0; i < r.fblocks; i++)
		across += __ldcg(&parts[i].d[0]);
	for (int64_t b = 0; b < B; b++) {
		double n = 0, mean = 0, m2 = 0;
		for (int64_t ch = 0; ch < r.chunks; ch++) {
			const union part *p = &parts[r.fblocks + b * r.chunks + ch];
			chan(n, mean, m2, __ldcg(&p->d[0]), __ldcg(&p->d[1]), __ldcg(&p->d[2]));
		}
		within += sqrt(m2 / (double)F);
	}
	out->samples = B;
	out->features = F;
	out->across = across / (double)F;
	out->within = within / (double)B;
	acc->done = 0;
}

#endif
