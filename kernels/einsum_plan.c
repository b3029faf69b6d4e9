/* einsum_plan.c - labels to loops, for the backends' Einsum kernels. */
#include <stdbool.h>
#include <string.h>

#include "einsum_plan.h"

void mp_einsum_plan(const struct mp_einsum_params *p, const struct mp_tensor *const *in, struct mp_einsum_plan *out)
{
	enum { L = MP_EINSUM_LABELS };
	int64_t size[L], stride[MP_EINSUM_MAX_OPERANDS][L];
	bool in_out[L] = { false }, used[L] = { false };
	int nell = 0;

	for (int l = 0; l < L; l++)
		size[l] = 1;
	memset(stride, 0, sizeof stride);
	/* the ellipsis covers the broadcast dims: labels MP_EINSUM_MAX_LETTERS.. */
	for (int i = 0; i < p->noperands; i++) {
		int letters = 0;
		for (int j = 0; j < p->nsub[i]; j++)
			letters += p->sub[i][j] >= 0;
		int ne = in[i]->ndim - letters;
		nell = ne > nell ? ne : nell;
	}
	for (int i = 0; i < p->noperands; i++) {
		const struct mp_tensor *x = in[i];
		int letters = 0;
		for (int j = 0; j < p->nsub[i]; j++)
			letters += p->sub[i][j] >= 0;
		int ne = x->ndim - letters, d = 0;
		int64_t st[MP_MAX_DIMS], s = 1;
		for (int q = x->ndim - 1; q >= 0; q--) {
			st[q] = s;
			s *= x->shape[q];
		}
		for (int j = 0; j < p->nsub[i]; j++) {
			int id = p->sub[i][j];
			if (id < 0) {
				for (int q = 0; q < ne; q++, d++) {
					int l = MP_EINSUM_MAX_LETTERS + (nell - ne) + q;
					used[l] = true;
					if (x->shape[d] != 1) {
						size[l] = x->shape[d];
						stride[i][l] += st[d];
					}
				}
				continue;
			}
			used[id] = true;
			if (x->shape[d] != 1 || size[id] == 1)
				size[id] = x->shape[d] > size[id] ? x->shape[d] : size[id];
			if (x->shape[d] != 1)
				stride[i][id] += st[d]; /* repeated labels walk the diagonal */
			d++;
		}
	}
	int loops[L], nl = 0;
	for (int j = 0; j < p->nout; j++) {
		int id = p->out[j];
		if (id < 0)
			for (int q = 0; q < nell; q++)
				loops[nl++] = MP_EINSUM_MAX_LETTERS + q;
		else
			loops[nl++] = id;
	}
	out->nol = nl;
	for (int j = 0; j < out->nol; j++)
		in_out[loops[j]] = true;
	for (int l = 0; l < L; l++)
		if (used[l] && !in_out[l])
			loops[nl++] = l;
	out->nl = nl;
	memset(out->stride, 0, sizeof out->stride);
	for (int j = 0; j < nl; j++) {
		out->size[j] = size[loops[j]];
		for (int i = 0; i < p->noperands; i++)
			out->stride[i][j] = stride[i][loops[j]];
	}
}
