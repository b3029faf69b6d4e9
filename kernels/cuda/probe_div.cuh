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
 * chunk's first feature), the dtype's load chosen once a block; where the
 * rows are 16-byte aligned a thread loads 16 bytes at a time (V features
 * of a row, two rows in flight), else four values in flight.  Against the CPU's two-pass sums the difference is
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

/* ---- rows 16-byte aligned: a thread's load is 16 bytes, V values ---- */

/* The 16 bytes at element i (a multiple of V), and their value k. */
template <int V> __device__ __forceinline__ uint4 dv_ldw(const void *p, int64_t i)
{
	return __ldg((const uint4 *)((const char *)p + i * (16 / V)));
}

template <int DT> __device__ __forceinline__ double dv_at(const uint4 &w, int k)
{
	uint32_t u = k % 4 == 0 ? w.x : k % 4 == 1 ? w.y : k % 4 == 2 ? w.z : w.w;
	if (DT == MP_F32)
		return (double)__uint_as_float(u);
	if (DT == MP_F64) {
		uint32_t lo = k == 0 ? w.x : w.z, hi = k == 0 ? w.y : w.w;
		return __hiloint2double((int)hi, (int)lo);
	}
	uint32_t u2 = (k / 2) == 0 ? w.x : (k / 2) == 1 ? w.y : (k / 2) == 2 ? w.z : w.w;
	unsigned short h = (unsigned short)(u2 >> (16 * (k % 2)));
	return (double)(DT == MP_BF16 ? cu_bf16_to_f32(h) : cu_f16_to_f32(h));
}

/* V features a thread, two rows' loads in flight; the shifts kept as the
 * stored values (exact in f32 for every type but f64) */
template <int DT, int V> __device__ void div_features_v(const preq &r, int64_t fb, double *sh, union part *p)
{
	double acc = 0;
	int64_t f = (fb * THREADS + threadIdx.x) * V, B = r.rows, F = r.cols;
	if (f < F) {
		double s1[V], s2[V], n = (double)B;
		uint4 kw = dv_ldw<V>(r.a, f);
#pragma unroll
		for (int j = 0; j < V; j++)
			s1[j] = s2[j] = 0;
		int64_t b = 1;
		for (; b + 2 <= B; b += 2) {
			uint4 x = dv_ldw<V>(r.a, b * F + f), y = dv_ldw<V>(r.a, (b + 1) * F + f);
#pragma unroll
			for (int j = 0; j < V; j++) {
				double k = dv_at<DT>(kw, j), d = dv_at<DT>(x, j) - k, g = dv_at<DT>(y, j) - k;
				s1[j] += d;
				s2[j] += d * d;
				s1[j] += g;
				s2[j] += g * g;
			}
		}
		if (b < B) {
			uint4 x = dv_ldw<V>(r.a, b * F + f);
#pragma unroll
			for (int j = 0; j < V; j++) {
				double d = dv_at<DT>(x, j) - dv_at<DT>(kw, j);
				s1[j] += d;
				s2[j] += d * d;
			}
		}
#pragma unroll
		for (int j = 0; j < V; j++) {
			double q = s2[j] - s1[j] * (s1[j] / n);
			acc += sqrt((q > 0 ? q : 0) / n);
		}
	}
	double s = block_sum(acc, sh);
	if (threadIdx.x == 0)
		p->d[0] = s;
}

template <int DT, int V> __device__ void div_samples_v(const preq &r, int64_t j, double *sh, union part *p)
{
	int64_t F = r.cols, b = j / r.chunks, ch = j - b * r.chunks;
	int64_t f0 = ch * DIV_CHUNK, f1 = f0 + DIV_CHUNK < F ? f0 + DIV_CHUNK : F, nv = (f1 - f0) / V;
	const int64_t base = b * F + f0;
	double k = dv_ld<DT>(r.a, base), s1 = 0, s2 = 0;
	int64_t i = threadIdx.x;
	for (; i + THREADS < nv; i += 2 * THREADS) {
		uint4 x = dv_ldw<V>(r.a, base + i * V), y = dv_ldw<V>(r.a, base + (i + THREADS) * V);
#pragma unroll
		for (int m = 0; m < V; m++) {
			double d = dv_at<DT>(x, m) - k;
			s1 += d;
			s2 += d * d;
		}
#pragma unroll
		for (int m = 0; m < V; m++) {
			double d = dv_at<DT>(y, m) - k;
			s1 += d;
			s2 += d * d;
		}
	}
	if (i < nv) {
		uint4 x = dv_ldw<V>(r.a, base + i * V);
#pragma unroll
		for (int m = 0; m < V; m++) {
			double d = dv_at<DT>(x, m) - k;
			s1 += d;
			s2 += d * d;
		}
	}
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
	constexpr int V = DT == MP_F64 ? 2 : DT == MP_F32 ? 4 : 8;
	if (r.vec > 1 && local < r.fblocks)
		div_features_v<DT, V>(r, local, sh, &parts[local]);
	else if (r.vec > 1)
		div_samples_v<DT, V>(r, local - r.fblocks, sh, &parts[local]);
	else if (local < r.fblocks)
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
