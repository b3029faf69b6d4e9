/* op.h - operator ids (generated from ops.def), their families, and the
 * typed parameter struct of each family. */
#ifndef MP_OP_H
#define MP_OP_H

#include <stdbool.h>
#include <stdint.h>

#include "dtype.h"
#include "tensor.h"

enum mp_op {
	MP_OP_NONE = 0, /* an op mpdbg does not know */
#define MP_OP(id, name, family, since, flags) MP_OP_##id,
#include "ops.def"
#undef MP_OP
	MP_OP_COUNT
};

#define MP_FAMILIES(X)                                                              \
	X(unary) X(binary) X(variadic) X(where) X(cast) X(reduce) X(argreduce)      \
	X(softmax) X(cumulative) X(topk) X(matmul) X(gemm) X(einsum) X(conv)        \
	X(pool) X(norm) X(view) X(shape) X(fill) X(transpose) X(concat) X(split)    \
	X(slice) X(expand) X(pad) X(gather) X(scatter) X(trilu) X(resize) X(select)

enum mp_op_family {
#define X(f) MP_FAMILY_##f,
	MP_FAMILIES(X)
#undef X
	MP_FAMILY_COUNT
};

/* Per-op traits, one bit each; set in ops.def's flags column. */
enum mp_op_flag {
	MP_OPF_AUTOCAST_LOW = 1u << 0,  /* autocast: inputs to the low type (PyTorch's lower-precision list) */
	MP_OPF_AUTOCAST_FP32 = 1u << 1, /* autocast: inputs to fp32 (PyTorch's fp32 list) */
	MP_OPF_STRICT = 1u << 2,        /* mixed float inputs are a mismatch, not promoted */
	/* a float unary (not IsNaN/IsInf, Clip, Not, BitwiseNot) or
	 * Add/Sub/Mul/Div: a step a fused elementwise group may hold */
	MP_OPF_FUSABLE = 1u << 3,
	/* its f32 result written straight as bf16/f16 is bit for bit the f32
	 * value cast: one rounding of an f32 result (not Pow, which computes in
	 * f64, nor the normalisations that sum in f64; not IsNaN/IsInf) */
	MP_OPF_NARROWS = 1u << 4,
	MP_OPF_MOVES_DATA = 1u << 5,    /* only moves or casts its data input */
	MP_OPF_HOST_ONLY = 1u << 6,     /* reads only the input's shape; runs on the host */
};

struct mp_op_info {
	const char *name; /* ONNX op_type */
	enum mp_op_family family;
	int since;        /* first opset of the default domain that has it */
	unsigned flags;   /* enum mp_op_flag bits */
};

/* Info of an op; MP_OP_NONE and out-of-range ids get a "?" entry. */
const struct mp_op_info *mp_op_info(enum mp_op op);
const char *mp_op_name(enum mp_op op);
/* Whether the op has the trait; false for MP_OP_NONE and out-of-range ids. */
bool mp_op_has(enum mp_op op, enum mp_op_flag flag);
/* The op with this ONNX op_type in the default domain, or MP_OP_NONE. */
enum mp_op mp_op_lookup(const char *onnx_name);

/* ---- parameters, one struct per family ----
 *
 * Fields under "resolved" are filled by shape inference from the actual
 * inputs (axes given as tensors, negative axes, auto padding) so kernels read
 * one normalised form whatever the opset. */

enum { MP_MAX_SPATIAL = MP_MAX_DIMS - 2 };

struct mp_unary_params {
	float alpha, beta, gamma; /* Elu, Selu, Celu, LeakyRelu, HardSigmoid, ThresholdedRelu; Shrink: lambd, bias */
	bool gelu_tanh;           /* Gelu approximate="tanh" */
	bool detect_negative, detect_positive; /* IsInf */
	/* Clip: attributes before opset 11; resolved from inputs from 11 on */
	bool has_min, has_max;
	double min, max;
};

struct mp_binary_params {
	bool fmod;       /* Mod */
	bool shift_left; /* BitShift */
	int64_t legacy_axis; /* opset < 7: B aligned at this axis of A; -1 none */
	/* resolved: B read with this shape (opset < 7 broadcasting and PRelu slopes) */
	bool b_view;
	int b_ndim;
	int64_t b_shape[MP_MAX_DIMS];
};

struct mp_variadic_params {
	int unused;
};

struct mp_where_params {
	int unused;
};

struct mp_cast_params {
	enum mp_dtype to; /* CastLike: resolved from input 1 */
	bool saturate;
};

struct mp_reduce_params {
	bool keepdims;
	bool noop_with_empty_axes;
	bool axes_input; /* axes arrive as input 1 (opset 13+ for ReduceSum, 18+ for the rest) */
	int naxes;
	int64_t axes[MP_MAX_DIMS];
	/* resolved */
	uint32_t mask; /* bit d: dim d is reduced */
};

struct mp_argreduce_params {
	int64_t axis;
	bool keepdims;
	bool select_last_index;
	int axis_resolved;
};

struct mp_softmax_params {
	int64_t axis;
	bool coerce_2d; /* opset < 13: dims from axis on are one flattened row */
	int axis_resolved;
};

struct mp_cumulative_params {
	bool exclusive, reverse;
	int axis_resolved; /* from input 1 */
};

struct mp_topk_params {
	int64_t axis;
	bool largest, sorted;
	int64_t k_attr; /* opset < 10 */
	bool k_input;
	int axis_resolved;
	int64_t k_resolved;
};

struct mp_matmul_params {
	int unused;
};

struct mp_gemm_params {
	float alpha, beta;
	bool trans_a, trans_b;
	bool broadcast_c; /* opset < 7 had a `broadcast` attribute */
};

enum { MP_EINSUM_MAX_OPERANDS = 8, MP_EINSUM_MAX_LETTERS = 52 };

struct mp_einsum_params {
	int noperands;
	/* per operand: its subscripts as letter ids; -1 marks "..." */
	int nsub[MP_EINSUM_MAX_OPERANDS];
	int8_t sub[MP_EINSUM_MAX_OPERANDS][MP_MAX_DIMS + 1];
	int nout;
	int8_t out[MP_MAX_DIMS + 1];
	bool explicit_out;
};

enum mp_auto_pad { MP_PAD_NOTSET, MP_PAD_SAME_UPPER, MP_PAD_SAME_LOWER, MP_PAD_VALID };

struct mp_conv_params {
	enum mp_auto_pad auto_pad;
	int64_t group;
	int nkernel, nstrides, ndilations, npads, noutput_padding, noutput_shape;
	int64_t kernel_shape[MP_MAX_SPATIAL];
	int64_t strides[MP_MAX_SPATIAL];
	int64_t dilations[MP_MAX_SPATIAL];
	int64_t pads[2 * MP_MAX_SPATIAL];
	int64_t output_padding[MP_MAX_SPATIAL]; /* ConvTranspose */
	int64_t output_shape[MP_MAX_SPATIAL];   /* ConvTranspose */
	/* resolved, for nspatial dims */
	int nspatial;
	int64_t k[MP_MAX_SPATIAL], stride[MP_MAX_SPATIAL], dilation[MP_MAX_SPATIAL];
	int64_t pad_begin[MP_MAX_SPATIAL], pad_end[MP_MAX_SPATIAL];
	int64_t out_pad[MP_MAX_SPATIAL]; /* ConvTranspose: output_padding */
};

struct mp_pool_params {
	enum mp_auto_pad auto_pad;
	bool ceil_mode, count_include_pad;
	int64_t p; /* LpPool */
	int nkernel, nstrides, ndilations, npads;
	int64_t kernel_shape[MP_MAX_SPATIAL];
	int64_t strides[MP_MAX_SPATIAL];
	int64_t dilations[MP_MAX_SPATIAL];
	int64_t pads[2 * MP_MAX_SPATIAL];
	int64_t storage_order;
	/* resolved */
	int nspatial;
	int64_t k[MP_MAX_SPATIAL], stride[MP_MAX_SPATIAL], dilation[MP_MAX_SPATIAL];
	int64_t pad_begin[MP_MAX_SPATIAL], pad_end[MP_MAX_SPATIAL];
};

struct mp_norm_params {
	float epsilon;
	float momentum;     /* BatchNormalization in training mode */
	bool training;      /* BatchNormalization: use the batch's statistics */
	int64_t axis;       /* LayerNormalization, RMSNormalization, LpNormalization */
	int64_t num_groups; /* GroupNormalization */
	int64_t p;          /* LpNormalization */
	bool stash_f32;     /* LayerNormalization stash_type == 1 */
	bool legacy_group_scale; /* GroupNormalization-18: scale and bias per group */
	int naxes;          /* MeanVarianceNormalization */
	int64_t axes[MP_MAX_DIMS];
	float alpha, beta, bias; /* LRN */
	int64_t size;            /* LRN */
	/* resolved */
	int axis_resolved;
	uint32_t mask;
};

struct mp_view_params {
	bool allowzero;  /* Reshape */
	int64_t axis;    /* Flatten */
	bool axes_input; /* Squeeze / Unsqueeze from opset 13 */
	int naxes;
	int64_t axes[MP_MAX_DIMS];
	float ratio;     /* Dropout */
	/* resolved */
	bool write_mask; /* Dropout with its mask output requested */
};

struct mp_shape_params {
	int64_t start, end;
	bool has_end;
};

struct mp_fill_params {
	struct mp_tensor value; /* Constant; ConstantOfShape's fill (1 element) */
	bool has_value;
	enum mp_dtype dtype;    /* EyeLike; HannWindow's output_datatype */
	bool has_dtype;
	bool periodic;          /* HannWindow */
	int64_t k;              /* EyeLike */
	int64_t axis;           /* OneHot */
	/* resolved */
	int axis_resolved;
	int64_t depth;
};

struct mp_transpose_params {
	int nperm;
	int64_t perm[MP_MAX_DIMS];
	int64_t blocksize; /* DepthToSpace, SpaceToDepth */
	bool crd;          /* DepthToSpace mode="CRD" */
	/* resolved: out[i] = in[perm_resolved[i]] */
	int perm_resolved[MP_MAX_DIMS];
};

struct mp_concat_params {
	int64_t axis;
	int axis_resolved;
};

struct mp_split_params {
	int64_t axis;
	int nsplit;          /* attribute `split` before opset 13 */
	const int64_t *split;
	int64_t num_outputs; /* opset 18 */
	int axis_resolved;
};

struct mp_slice_params {
	/* opset < 10: attributes */
	int nstarts, nends, naxes;
	int64_t starts[MP_MAX_DIMS], ends[MP_MAX_DIMS], axes[MP_MAX_DIMS];
	/* resolved, one entry per data dim */
	int64_t start[MP_MAX_DIMS], step[MP_MAX_DIMS];
};

struct mp_expand_params {
	int unused;
};

enum mp_pad_mode { MP_PADMODE_CONSTANT, MP_PADMODE_REFLECT, MP_PADMODE_EDGE, MP_PADMODE_WRAP };

struct mp_pad_params {
	enum mp_pad_mode mode;
	int npads; /* opset < 11: attribute */
	int64_t pads[2 * MP_MAX_DIMS];
	float value;
	/* resolved */
	int64_t begin[MP_MAX_DIMS], end[MP_MAX_DIMS];
	double constant;
};

struct mp_gather_params {
	int64_t axis;
	int64_t batch_dims; /* GatherND */
	int axis_resolved;
};

enum mp_reduction { MP_REDUCE_NONE, MP_REDUCE_ADD, MP_REDUCE_MUL, MP_REDUCE_MAX, MP_REDUCE_MIN };

struct mp_scatter_params {
	int64_t axis;
	enum mp_reduction reduction;
	int axis_resolved;
};

struct mp_trilu_params {
	bool upper;
	int64_t k_resolved;
};

enum mp_resize_mode { MP_RESIZE_NEAREST, MP_RESIZE_LINEAR, MP_RESIZE_CUBIC };
enum mp_resize_coord {
	MP_COORD_HALF_PIXEL, MP_COORD_HALF_PIXEL_SYMMETRIC, MP_COORD_PYTORCH_HALF_PIXEL,
	MP_COORD_ALIGN_CORNERS, MP_COORD_ASYMMETRIC, MP_COORD_TF_CROP_AND_RESIZE,
	MP_COORD_TF_HALF_PIXEL_FOR_NN,
};
enum mp_resize_nearest { MP_NEAREST_ROUND_PREFER_FLOOR, MP_NEAREST_ROUND_PREFER_CEIL,
	MP_NEAREST_FLOOR, MP_NEAREST_CEIL };
enum mp_resize_aspect { MP_ASPECT_STRETCH, MP_ASPECT_NOT_LARGER, MP_ASPECT_NOT_SMALLER };

struct mp_resize_params {
	enum mp_resize_mode mode;
	enum mp_resize_coord coord;
	enum mp_resize_nearest nearest;
	enum mp_resize_aspect aspect;
	float cubic_coeff_a;
	bool exclude_outside;
	bool antialias;
	float extrapolation_value;
	int naxes;
	int64_t axes[MP_MAX_DIMS];
	int nscales_attr; /* Upsample-7: scales attribute */
	float scales_attr[MP_MAX_DIMS];
	/* resolved, one per data dim */
	double scale[MP_MAX_DIMS];
	double roi_start[MP_MAX_DIMS], roi_end[MP_MAX_DIMS];
};

struct mp_select_params {
	int64_t axis; /* Compress */
	bool has_axis;
	int axis_resolved;
};

#endif
