/* test_parity.c - the CUDA backend against the CPU reference, in the
 * spirit of ggml's test-backend-ops: a table of (op, dtype, shape) cases,
 * each a one-node model run on both backends from the same random inputs,
 * compared by normalised mean squared error (sum (a-b)^2 / sum b^2) with a
 * limit per dtype, NaN and Inf at the same places with the same signs, and
 * integer outputs equal.  Skips where no GPU is present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "exec.h"
#include "graph.h"
#include "onnxw.h"
#include "testutil.h"

enum { F = -1 }; /* "the case's float dtype" in a dtype slot */

struct pin {
	const char *name;
	int dtype;
	int ndim;
	int64_t dims[6];
	double lo, hi;          /* random values in [lo, hi) (integers: rounded down) */
	int nvals;              /* > 0: an initializer holding vals */
	int64_t vals[16];
};

struct pattr {
	const char *name;
	char kind;              /* 'i' int, 'f' float, 's' string, 'I' ints */
	int64_t i;
	float f;
	const char *s;
	int n;
	int64_t ints[8];
};

struct pcase {
	const char *op;
	int opset;
	bool floats;            /* run for f32, bf16 and f16 (F slots) */
	int nin;
	struct pin in[5];
	int nattr;
	struct pattr attr[6];
	int nout;
};

#define IN(n, t, nd, ...) { n, t, nd, { __VA_ARGS__ }, -2, 2, 0, { 0 } }
#define INR(n, t, lo_, hi_, nd, ...) { n, t, nd, { __VA_ARGS__ }, lo_, hi_, 0, { 0 } }
#define INIT(n, t, cnt, ...) { n, t, 1, { cnt }, 0, 0, cnt, { __VA_ARGS__ } }
#define NONE { "", 0, 0, { 0 }, 0, 0, 0, { 0 } }
#define AI(n, v) { n, 'i', v, 0, NULL, 0, { 0 } }
#define AF(n, v) { n, 'f', 0, v, NULL, 0, { 0 } }
#define AS(n, v) { n, 's', 0, 0, v, 0, { 0 } }
#define AIS(n, cnt, ...) { n, 'I', 0, 0, NULL, cnt, { __VA_ARGS__ } }

#define UNARY(opname, lo, hi) { opname, 17, true, 1, { INR("x", F, lo, hi, 3, 2, 3, 37) }, 0, { { 0 } }, 1 }
#define BIN(opname) { opname, 17, true, 2, { IN("a", F, 3, 4, 1, 33), IN("b", F, 3, 1, 5, 33) }, 0, { { 0 } }, 1 }

static const struct pcase cases[] = {
	/* elementwise */
	UNARY("Abs", -3, 3), UNARY("Neg", -3, 3), UNARY("Sqrt", 0.01, 9), UNARY("Exp", -4, 4), UNARY("Log", 0.01, 9),
	UNARY("Reciprocal", 0.5, 4), UNARY("Tanh", -4, 4), UNARY("Sigmoid", -8, 8), UNARY("Erf", -3, 3),
	UNARY("Relu", -3, 3), UNARY("Sin", -3, 3), UNARY("Cos", -3, 3), UNARY("Floor", -3, 3), UNARY("Ceil", -3, 3),
	UNARY("Round", -3, 3), UNARY("Softplus", -5, 5), UNARY("Softsign", -3, 3), UNARY("Elu", -3, 3),
	UNARY("Selu", -3, 3), UNARY("HardSigmoid", -4, 4), UNARY("HardSwish", -4, 4), UNARY("Atan", -3, 3),
	UNARY("Asin", -0.9, 0.9), UNARY("Acos", -0.9, 0.9), UNARY("Sinh", -3, 3), UNARY("Cosh", -3, 3),
	UNARY("Sign", -3, 3), UNARY("IsNaN", -3, 3),
	{ "Mish", 18, true, 1, { INR("x", F, -3, 3, 3, 2, 3, 37) }, 0, { { 0 } }, 1 },
	{ "Gelu", 20, true, 1, { IN("x", F, 3, 2, 3, 37) }, 1, { AS("approximate", "tanh") }, 1 },
	{ "Gelu", 20, true, 1, { IN("x", F, 3, 2, 3, 37) }, 0, { { 0 } }, 1 },
	{ "LeakyRelu", 17, true, 1, { IN("x", F, 3, 2, 3, 37) }, 1, { AF("alpha", 0.1f) }, 1 },
	{ "Clip", 17, true, 3, { IN("x", F, 3, 2, 3, 37), INR("lo", F, -1, -0.5, 0), INR("hi", F, 0.5, 1, 0) }, 0, { { 0 } }, 1 },
	BIN("Add"), BIN("Sub"), BIN("Mul"), BIN("Div"),
	{ "Pow", 17, true, 2, { INR("a", F, 0.1, 3, 3, 4, 1, 33), INR("b", F, -2, 2, 2, 5, 33) }, 0, { { 0 } }, 1 },
	{ "Add", 17, true, 2, { IN("a", F, 3, 8, 65, 96), IN("b", F, 1, 96) }, 0, { { 0 } }, 1 },
	{ "Mul", 17, true, 2, { IN("a", F, 3, 8, 65, 96), IN("b", F, 3, 8, 65, 96) }, 0, { { 0 } }, 1 },
	{ "Equal", 17, false, 2, { INR("a", MP_I64, -3, 3, 2, 4, 9), INR("b", MP_I64, -3, 3, 2, 4, 9) }, 0, { { 0 } }, 1 },
	{ "Less", 17, true, 2, { IN("a", F, 2, 4, 9), IN("b", F, 2, 1, 9) }, 0, { { 0 } }, 1 },
	{ "Mod", 17, false, 2, { INR("a", MP_I64, -50, 50, 2, 4, 9), INR("b", MP_I64, 1, 7, 1, 9) }, 0, { { 0 } }, 1 },
	{ "Mod", 17, false, 2, { INR("a", MP_F32, -50, 50, 2, 4, 9), INR("b", MP_F32, 1, 7, 1, 9) }, 1, { AI("fmod", 1) }, 1 },
	{ "Add", 17, false, 2, { INR("a", MP_I32, -1000, 1000, 2, 4, 9), INR("b", MP_I32, -1000, 1000, 2, 4, 9) }, 0, { { 0 } }, 1 },
	{ "And", 17, false, 2, { INR("a", MP_BOOL, 0, 2, 2, 4, 9), INR("b", MP_BOOL, 0, 2, 2, 4, 9) }, 0, { { 0 } }, 1 },
	{ "PRelu", 17, true, 2, { IN("x", F, 4, 2, 3, 5, 7), IN("s", F, 3, 3, 1, 1) }, 0, { { 0 } }, 1 },
	{ "Sum", 17, true, 3, { IN("a", F, 2, 4, 9), IN("b", F, 1, 9), IN("c", F, 2, 4, 1) }, 0, { { 0 } }, 1 },
	{ "Max", 17, true, 3, { IN("a", F, 2, 4, 9), IN("b", F, 1, 9), IN("c", F, 2, 4, 1) }, 0, { { 0 } }, 1 },
	{ "Mean", 17, true, 2, { IN("a", F, 2, 4, 9), IN("b", F, 2, 4, 9) }, 0, { { 0 } }, 1 },
	{ "Where", 17, true, 3, { INR("c", MP_BOOL, 0, 2, 2, 4, 9), IN("x", F, 2, 4, 9), IN("y", F, 1, 9) }, 0, { { 0 } }, 1 },
	{ "Cast", 17, true, 1, { INR("x", F, -300, 300, 2, 7, 13) }, 1, { AI("to", MP_I32) }, 1 },
	{ "Cast", 17, true, 1, { INR("x", F, -3, 3, 2, 7, 13) }, 1, { AI("to", MP_F16) }, 1 },
	{ "Cast", 17, true, 1, { INR("x", F, -3, 3, 2, 7, 13) }, 1, { AI("to", MP_BF16) }, 1 },
	{ "Cast", 17, false, 1, { INR("x", MP_I64, -100000, 100000, 2, 7, 13) }, 1, { AI("to", MP_F32) }, 1 },
	/* reductions */
	{ "ReduceSum", 13, true, 2, { IN("x", F, 3, 4, 33, 65), INIT("axes", MP_I64, 1, 1) }, 1, { AI("keepdims", 0) }, 1 },
	{ "ReduceMean", 18, true, 2, { IN("x", F, 3, 4, 33, 65), INIT("axes", MP_I64, 2, 0, 2) }, 0, { { 0 } }, 1 },
	{ "ReduceMax", 18, true, 2, { IN("x", F, 3, 4, 33, 65), INIT("axes", MP_I64, 1, -1) }, 0, { { 0 } }, 1 },
	{ "ReduceMin", 18, true, 1, { IN("x", F, 3, 4, 3, 5) }, 0, { { 0 } }, 1 },
	{ "ReduceProd", 18, true, 2, { INR("x", F, 0.5, 1.5, 3, 4, 9, 5), INIT("axes", MP_I64, 1, 1) }, 0, { { 0 } }, 1 },
	{ "ReduceL2", 18, true, 2, { IN("x", F, 3, 4, 9, 500), INIT("axes", MP_I64, 1, 2) }, 0, { { 0 } }, 1 },
	{ "ReduceLogSumExp", 18, true, 2, { IN("x", F, 3, 4, 9, 50), INIT("axes", MP_I64, 1, 2) }, 0, { { 0 } }, 1 },
	{ "ReduceSum", 13, false, 2, { INR("x", MP_I64, -9, 9, 3, 4, 9, 50), INIT("axes", MP_I64, 1, 1) }, 0, { { 0 } }, 1 },
	{ "ArgMax", 17, true, 1, { IN("x", F, 3, 4, 33, 17) }, 1, { AI("axis", 1) }, 1 },
	{ "ArgMin", 17, true, 1, { IN("x", F, 3, 4, 33, 17) }, 2, { AI("axis", -1), AI("select_last_index", 1) }, 1 },
	{ "Softmax", 13, true, 1, { INR("x", F, -8, 8, 3, 4, 65, 65) }, 0, { { 0 } }, 1 },
	{ "Softmax", 13, true, 1, { INR("x", F, -8, 8, 3, 4, 65, 7) }, 1, { AI("axis", 1) }, 1 },
	{ "LogSoftmax", 13, true, 1, { INR("x", F, -8, 8, 2, 33, 1000) }, 0, { { 0 } }, 1 },
	{ "Hardmax", 13, true, 1, { IN("x", F, 2, 33, 17) }, 0, { { 0 } }, 1 },
	{ "CumSum", 14, true, 2, { IN("x", F, 3, 4, 33, 17), INIT("axis", MP_I64, 1, 1) }, 1, { AI("reverse", 1) }, 1 },
	{ "TopK", 11, true, 2, { IN("x", F, 2, 5, 40), INIT("k", MP_I64, 1, 7) }, 0, { { 0 } }, 2 },
	/* linear algebra */
	{ "MatMul", 17, true, 2, { IN("a", F, 4, 2, 3, 17, 33), IN("b", F, 4, 2, 3, 33, 9) }, 0, { { 0 } }, 1 },
	{ "MatMul", 17, true, 2, { IN("a", F, 3, 5, 17, 64), IN("b", F, 2, 64, 40) }, 0, { { 0 } }, 1 },
	{ "MatMul", 17, true, 2, { IN("a", F, 2, 17, 33), IN("b", F, 3, 3, 33, 9) }, 0, { { 0 } }, 1 },
	{ "MatMul", 17, true, 2, { IN("a", F, 4, 2, 1, 17, 33), IN("b", F, 4, 1, 3, 33, 9) }, 0, { { 0 } }, 1 },
	{ "MatMul", 17, true, 2, { IN("a", F, 1, 33), IN("b", F, 3, 2, 33, 9) }, 0, { { 0 } }, 1 },
	{ "MatMul", 17, false, 2, { INR("a", MP_I64, -5, 5, 2, 7, 9), INR("b", MP_I64, -5, 5, 2, 9, 4) }, 0, { { 0 } }, 1 },
	{ "Gemm", 17, true, 3, { IN("a", F, 2, 33, 17), IN("b", F, 2, 9, 33), IN("c", F, 1, 9) }, 4,
	  { AI("transA", 1), AI("transB", 1), AF("alpha", 0.5f), AF("beta", 2.0f) }, 1 },
	{ "Einsum", 12, true, 2, { IN("a", F, 3, 2, 7, 5), IN("b", F, 3, 2, 5, 3) }, 1, { AS("equation", "bij,bjk->bik") }, 1 },
	/* convolution, pooling */
	{ "Conv", 17, true, 3, { IN("x", F, 4, 2, 4, 17, 19), IN("w", F, 4, 6, 2, 3, 3), IN("b", F, 1, 6) }, 4,
	  { AIS("pads", 4, 1, 0, 2, 1), AIS("strides", 2, 2, 1), AIS("dilations", 2, 1, 2), AI("group", 2) }, 1 },
	{ "Conv", 17, true, 3, { IN("x", F, 4, 3, 3, 28, 28), IN("w", F, 4, 16, 3, 14, 14), IN("b", F, 1, 16) }, 1,
	  { AIS("strides", 2, 14, 14) }, 1 },
	{ "Conv", 17, true, 2, { IN("x", F, 3, 2, 5, 30), IN("w", F, 3, 4, 5, 3) }, 1, { AIS("pads", 2, 1, 1) }, 1 },
	{ "ConvTranspose", 17, true, 3, { IN("x", F, 4, 2, 4, 7, 9), IN("w", F, 4, 4, 3, 3, 3), IN("b", F, 1, 3) }, 2,
	  { AIS("strides", 2, 2, 2), AIS("pads", 4, 1, 1, 0, 0) }, 1 },
	{ "MaxPool", 12, true, 1, { IN("x", F, 4, 2, 3, 17, 19) }, 3,
	  { AIS("kernel_shape", 2, 3, 3), AIS("strides", 2, 2, 2), AIS("pads", 4, 1, 1, 1, 1) }, 2 },
	{ "AveragePool", 19, true, 1, { IN("x", F, 4, 2, 3, 17, 19) }, 3,
	  { AIS("kernel_shape", 2, 3, 3), AIS("pads", 4, 1, 1, 1, 1), AI("count_include_pad", 0) }, 1 },
	{ "GlobalAveragePool", 17, true, 1, { IN("x", F, 4, 2, 3, 17, 19) }, 0, { { 0 } }, 1 },
	/* normalisation */
	{ "LayerNormalization", 17, true, 3, { IN("x", F, 3, 4, 65, 96), IN("s", F, 1, 96), IN("b", F, 1, 96) }, 1,
	  { AF("epsilon", 1e-6f) }, 3 },
	{ "LayerNormalization", 17, true, 2, { IN("x", F, 3, 4, 6, 7), IN("s", F, 2, 6, 7) }, 1, { AI("axis", 1) }, 1 },
	{ "GroupNormalization", 21, true, 3, { IN("x", F, 4, 2, 6, 5, 7), IN("s", F, 1, 6), IN("b", F, 1, 6) }, 1,
	  { AI("num_groups", 3) }, 1 },
	{ "InstanceNormalization", 17, true, 3, { IN("x", F, 4, 2, 6, 5, 7), IN("s", F, 1, 6), IN("b", F, 1, 6) }, 0, { { 0 } }, 1 },
	{ "BatchNormalization", 15, true, 5, { IN("x", F, 4, 2, 6, 5, 7), IN("s", F, 1, 6), IN("b", F, 1, 6), IN("m", F, 1, 6),
	                                      INR("v", F, 0.5, 2, 1, 6) }, 0, { { 0 } }, 1 },
	{ "LpNormalization", 17, true, 1, { IN("x", F, 3, 4, 6, 7) }, 2, { AI("axis", 1), AI("p", 2) }, 1 },
	{ "MeanVarianceNormalization", 13, true, 1, { IN("x", F, 4, 2, 6, 5, 7) }, 0, { { 0 } }, 1 },
	{ "LRN", 17, true, 1, { IN("x", F, 4, 2, 6, 5, 7) }, 1, { AI("size", 3) }, 1 },
	/* data movement */
	{ "Transpose", 17, true, 1, { IN("x", F, 4, 2, 65, 6, 64) }, 1, { AIS("perm", 4, 0, 2, 1, 3) }, 1 },
	{ "Transpose", 17, false, 1, { INR("x", MP_I64, -9, 9, 3, 3, 5, 7) }, 1, { AIS("perm", 3, 2, 0, 1) }, 1 },
	{ "Concat", 17, true, 3, { IN("a", F, 3, 2, 1, 96), IN("b", F, 3, 2, 64, 96), IN("c", F, 3, 2, 3, 96) }, 1, { AI("axis", 1) }, 1 },
	{ "Split", 18, true, 2, { IN("x", F, 3, 2, 9, 6), INIT("split", MP_I64, 3, 2, 3, 4) }, 1, { AI("axis", 1) }, 3 },
	{ "Slice", 13, true, 5, { IN("x", F, 3, 5, 20, 30), INIT("st", MP_I64, 2, 1, -2), INIT("en", MP_I64, 2, 4, 0),
	                        INIT("ax", MP_I64, 2, 0, 2), INIT("sp", MP_I64, 2, 2, -3) }, 0, { { 0 } }, 1 },
	{ "Expand", 13, true, 2, { IN("x", F, 3, 3, 1, 5), INIT("sh", MP_I64, 4, 2, 3, 4, 5) }, 0, { { 0 } }, 1 },
	{ "Tile", 13, true, 2, { IN("x", F, 2, 3, 5), INIT("r", MP_I64, 2, 2, 3) }, 0, { { 0 } }, 1 },
	{ "Pad", 18, true, 3, { IN("x", F, 3, 2, 5, 6), INIT("p", MP_I64, 6, 0, 1, 2, 0, 2, -1), INR("v", F, 1, 2, 0) }, 0, { { 0 } }, 1 },
	{ "Pad", 18, true, 2, { IN("x", F, 3, 2, 5, 6), INIT("p", MP_I64, 6, 0, 2, 3, 0, 1, 4) }, 1, { AS("mode", "reflect") }, 1 },
	{ "Pad", 18, true, 2, { IN("x", F, 3, 2, 5, 6), INIT("p", MP_I64, 6, 0, 2, 3, 0, 1, 4) }, 1, { AS("mode", "edge") }, 1 },
	{ "Gather", 13, true, 2, { IN("x", F, 3, 5, 6, 7), INIT("i", MP_I64, 4, 4, 0, -1, 2) }, 1, { AI("axis", 1) }, 1 },
	{ "GatherElements", 13, true, 2, { IN("x", F, 2, 4, 5), INR("i", MP_I64, -4, 4, 2, 3, 5) }, 0, { { 0 } }, 1 },
	{ "GatherND", 13, true, 2, { IN("x", F, 3, 4, 5, 6), INR("i", MP_I64, 0, 4, 3, 3, 1, 2) }, 0, { { 0 } }, 1 },
	{ "ScatterND", 18, true, 3, { IN("x", F, 3, 4, 5, 6), INR("i", MP_I64, 0, 4, 2, 3, 1), IN("u", F, 3, 3, 5, 6) }, 1,
	  { AS("reduction", "add") }, 1 },
	{ "ScatterElements", 18, true, 3, { IN("x", F, 2, 4, 5), INR("i", MP_I64, 0, 4, 2, 3, 5), IN("u", F, 2, 3, 5) }, 2,
	  { AI("axis", 0), AS("reduction", "max") }, 1 },
	{ "Trilu", 14, true, 2, { IN("x", F, 3, 2, 5, 6), INIT("k", MP_I64, 1, 1) }, 1, { AI("upper", 0) }, 1 },
	{ "DepthToSpace", 13, true, 1, { IN("x", F, 4, 2, 8, 3, 5) }, 2, { AI("blocksize", 2), AS("mode", "CRD") }, 1 },
	{ "SpaceToDepth", 13, true, 1, { IN("x", F, 4, 2, 3, 6, 4) }, 1, { AI("blocksize", 2) }, 1 },
	{ "Resize", 19, true, 4, { IN("x", F, 4, 2, 3, 7, 9), NONE, NONE,
	  INIT("sz", MP_I64, 4, 2, 3, 15, 5) }, 2, { AS("mode", "linear"), AS("coordinate_transformation_mode", "half_pixel") }, 1 },
	{ "Resize", 19, true, 4, { IN("x", F, 4, 2, 3, 7, 9), NONE, NONE,
	  INIT("sz", MP_I64, 4, 2, 3, 16, 20) }, 1, { AS("mode", "cubic") }, 1 },
	{ "Resize", 19, true, 4, { IN("x", F, 4, 2, 3, 7, 9), NONE, NONE,
	  INIT("sz", MP_I64, 4, 2, 3, 4, 20) }, 1, { AS("mode", "nearest") }, 1 },
	{ "NonZero", 13, true, 1, { INR("x", F, -1, 1.5, 2, 5, 9) }, 0, { { 0 } }, 1 },
	{ "OneHot", 11, false, 3, { INR("i", MP_I64, -5, 5, 2, 3, 4), INIT("d", MP_I64, 1, 5), INIT("v", MP_I64, 2, 0, 7) }, 0, { { 0 } }, 1 },
	{ "HannWindow", 17, false, 1, { INR("n", MP_I64, 37, 38, 0) }, 1, { AI("periodic", 0) }, 1 },
};

/* ---- random inputs ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static char *dir;
static struct mp_backend *cpu, *gpu;

/* The model of one case, with float slots as ft. */
static char *case_model(const struct pcase *c, int ft, int idx)
{
	struct pbw g = onnx_graph();
	const char *ins[5], *outs[3] = { "y0", "y1", "y2" };
	for (int k = 0; k < c->nin; k++) {
		const struct pin *p = &c->in[k];
		int t = p->dtype == F ? ft : p->dtype;
		ins[k] = p->name;
		if (!p->name[0])
			continue;
		if (p->nvals) {
			struct pbw tt;
			if (t == MP_I64)
				tt = onnx_tensor_raw(p->name, t, 1, (int64_t[]){ p->nvals }, p->vals, (size_t)p->nvals * 8);
			else
				abort();
			onnx_graph_init(&g, &tt);
			continue;
		}
		struct pbw vi = onnx_value_info(p->name, t, p->ndim, p->dims, NULL);
		onnx_graph_input(&g, &vi);
	}
	struct pbw attrs[6];
	for (int a = 0; a < c->nattr; a++) {
		const struct pattr *at = &c->attr[a];
		attrs[a] = at->kind == 'i' ? onnx_attr_int(at->name, at->i) :
		           at->kind == 'f' ? onnx_attr_float(at->name, at->f) :
		           at->kind == 's' ? onnx_attr_str(at->name, at->s) : onnx_attr_ints(at->name, at->n, at->ints);
	}
	struct pbw n = onnx_node(c->op, "node", c->nin, ins, c->nout, outs, c->nattr, attrs);
	onnx_graph_node(&g, &n);
	for (int k = 0; k < c->nout; k++) {
		struct pbw vi = { 0 };
		pbw_str(&vi, 1, outs[k]);
		onnx_graph_output(&g, &vi);
	}
	struct pbw m = onnx_model(c->opset, &g);
	char name[64];
	snprintf(name, sizeof name, "case%d_%d.onnx", idx, ft);
	char *p = mp_test_write(dir, name, m.d, m.n);
	pbw_free(&m);
	return p;
}

static double limit_of(enum mp_dtype t)
{
	switch (t) {
	case MP_F64: return 1e-18;
	case MP_F32: return 1e-9;
	case MP_F16: return 1e-6;
	case MP_BF16: return 1e-4;
	default: return 0;
	}
}

static int run_case(const struct pcase *c, int ft, int idx, int *tap)
{
	struct mp_error e = { 0 };
	struct mp_graph *g = NULL;
	struct mp_exec *xc = NULL, *xg = NULL;
	struct mp_batch *b = NULL;
	struct mp_tensor ts[5];
	const char *names[5];
	void *bufs[5] = { NULL };
	int nb = 0, failed = 0;
	char label[128], why[512] = "";
	snprintf(label, sizeof label, "%s%s%s [%s]", c->op, c->nattr && c->attr[0].kind == 's' ? " " : "",
	         c->nattr && c->attr[0].kind == 's' ? c->attr[0].s : "", c->floats ? mp_dtype_name(ft) : "");
	char *path = case_model(c, ft, idx);
	if (mp_graph_load(path, &g, &e)) {
		snprintf(why, sizeof why, "load: %.400s", e.msg);
		failed = 1;
		goto out;
	}
	for (int k = 0; k < c->nin; k++) {
		const struct pin *p = &c->in[k];
		if (!p->name[0] || p->nvals)
			continue;
		int t = p->dtype == F ? ft : p->dtype;
		mp_tensor_init(&ts[nb], (enum mp_dtype)t, p->ndim, p->dims);
		int64_t n = mp_tensor_numel(&ts[nb]);
		double *v = malloc((size_t)(n + 1) * 8);
		for (int64_t i = 0; i < n; i++) {
			double u = p->lo + (p->hi - p->lo) * uniform();
			v[i] = mp_dtype_is_float(t) ? u : floor(u);
		}
		bufs[nb] = malloc((size_t)(n + 1) * mp_dtype_size(t));
		mp_dtype_convert(MP_F64, v, (enum mp_dtype)t, bufs[nb], (size_t)n);
		free(v);
		ts[nb].data = bufs[nb];
		names[nb] = p->name;
		nb++;
	}
	struct mp_exec_options o = { .keep_values = true };
	if (mp_batch_from_tensors("b", (size_t)nb, names, ts, false, &b, &e) ||
	    mp_exec_new(g, cpu, cpu, &o, &xc, &e) || mp_exec_new(g, gpu, cpu, &o, &xg, &e) ||
	    mp_exec_begin(xc, b, &e) || mp_exec_run(xc, &e)) {
		snprintf(why, sizeof why, "%.400s", e.msg);
		failed = 1;
		goto out;
	}
	if (mp_exec_begin(xg, b, &e) || mp_exec_run(xg, &e)) {
		snprintf(why, sizeof why, "on the GPU: %.400s", e.msg);
		failed = 1;
		goto out;
	}
	double worst = 0;
	for (size_t k = 0; k < mp_graph_noutputs(g) && !failed; k++) {
		struct mp_tensor a, r;
		int32_t id = mp_graph_output(g, k);
		if (mp_exec_fetch(xg, id, &a, &e) || mp_exec_fetch(xc, id, &r, &e)) {
			snprintf(why, sizeof why, "output %zu: %.400s", k, e.msg);
			failed = 1;
			break;
		}
		bool same_shape = a.dtype == r.dtype && a.ndim == r.ndim;
		for (int d = 0; same_shape && d < a.ndim; d++)
			same_shape = a.shape[d] == r.shape[d];
		if (!same_shape) {
			snprintf(why, sizeof why, "output %zu: %s vs %s on the CPU", k, mp_dtype_name(a.dtype), mp_dtype_name(r.dtype));
			failed = 1;
		} else if (mp_dtype_is_float(a.dtype)) {
			double nmse;
			if (!mp_test_nmse(&a, &r, &nmse, NULL)) {
				snprintf(why, sizeof why, "output %zu: NaN/Inf differ", k);
				failed = 1;
			} else if (!(nmse <= limit_of(a.dtype))) {
				snprintf(why, sizeof why, "output %zu: NMSE %.3g > %.3g", k, nmse, limit_of(a.dtype));
				failed = 1;
			}
			worst = nmse > worst ? nmse : worst;
		} else if (memcmp(a.data, r.data, mp_tensor_nbytes(&a))) {
			snprintf(why, sizeof why, "output %zu: %s values differ", k, mp_dtype_name(a.dtype));
			failed = 1;
		}
		mp_tensor_reset(&a);
		mp_tensor_reset(&r);
	}
	if (!failed)
		snprintf(why, sizeof why, "NMSE %.3g", worst);
out:
	printf("%s %d - %s: %s\n", failed ? "not ok" : "ok", ++*tap, label, why);
	mp_exec_free(xc);
	mp_exec_free(xg);
	mp_batch_free(b);
	mp_graph_free(g);
	for (int k = 0; k < nb; k++)
		free(bufs[k]);
	free(path);
	return failed;
}

int main(void)
{
	struct mp_error e = { 0 };
	/* MPDBG_PARITY_CPU=1: the table on one CPU thread against all of them,
	 * to check the cases themselves where there is no GPU */
	bool self = getenv("MPDBG_PARITY_CPU") != NULL;
	if (!self && !mp_backend_cuda_present()) {
		printf("1..0 # SKIP no CUDA GPU here (or a build without CUDA)\n");
		return 0;
	}
	if ((self ? mp_backend_cpu_new(1, &gpu, &e) : mp_backend_cuda_new(0, &gpu, &e)) ||
	    mp_backend_cpu_new(0, &cpu, &e)) {
		printf("Bail out! %s\n", e.msg);
		return 1;
	}
	dir = mp_test_tmpdir();
	int tap = 0, failed = 0;
	static const int floats[] = { MP_F32, MP_BF16, MP_F16 };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct pcase *c = &cases[i];
		for (int f = 0; f < (c->floats ? 3 : 1); f++)
			failed += run_case(c, c->floats ? floats[f] : MP_F32, (int)i, &tap);
	}
	printf("# %d cases, %d failed, on %s against the CPU reference\n", tap, failed, mp_backend_device_name(gpu));
	printf("1..%d\n", tap);
	mp_backend_free(gpu);
	mp_backend_free(cpu);
	mp_test_rmtree(dir);
	free(dir);
	return failed ? 1 : 0;
}
