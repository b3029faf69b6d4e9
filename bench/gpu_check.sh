#!/usr/bin/env bash
# gpu_check.sh - what the GPU machine checks, in one go: the CUDA parity
# table, the ONNX conformance suite and both ../shared/models exports on the
# CUDA backend, the probe tests (test_paths: the planned path against the
# literal one), `mpdbg run --device cuda`, then the benchmarks beside
# PyTorch (bench_gpu.py, bench_probes.py).  A short summary goes to stdout,
# full logs to OUT_DIR.
#
# usage: bench/gpu_check.sh BIN_DIR SHARED_DIR OUT_DIR [all|checks|bench]
#   BIN_DIR holds mpdbg, conformance, test_parity, test_attention, test_fused, test_handpose,
#   test_policy_models, test_probes, test_paths, test_probe_gpu, bench_forward and
#   bench_probe_kernel (a build's, or copies).
set -u
bin=$1 shared=$2 out=$3 what=${4:-all}
export MP_SHARED=$shared
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

tap() { # name, then the command: its TAP summary
	local name=$1 rc
	shift
	"$@" > "$out/$name.log" 2>&1
	rc=$?
	printf '%-22s rc=%d  %s passed, %s failed  %s\n' "$name" "$rc" \
		"$(grep -c '^ok' "$out/$name.log")" "$(grep -c '^not ok' "$out/$name.log")" \
		"$(grep -m1 -E '^1\.\.0 # SKIP|^Bail out' "$out/$name.log")"
	grep '^not ok' "$out/$name.log" | head -20
}

if [ "$what" = all ] || [ "$what" = checks ]; then
	tap parity "$bin/test_parity"
	tap attention "$bin/test_attention"
	tap fused "$bin/test_fused"
	tap probe-gpu "$bin/test_probe_gpu"
	MPDBG_TEST_DEVICE=cuda tap conformance "$bin/conformance"
	{
		MPDBG_TEST_DEVICE=cuda "$bin/test_handpose"
		MPDBG_TEST_DEVICE=cuda "$bin/test_policy_models"
		"$bin/test_probes"
	} > "$out/models.log" 2>&1
	# the planned path against the node-by-node one, CUDA beside the CPU
	tap paths "$bin/test_paths"
	grep -E '^# .*planned path [0-9]+ runs' "$out/paths.log" | grep -i cuda | head -12
	printf '%-22s %s passed, %s failed\n' "models+probes" "$(grep -c '^ok' "$out/models.log")" \
		"$(grep -c '^not ok' "$out/models.log")"
	grep -B2 -A8 '^not ok' "$out/models.log" | head -40
	for p in fp32 bf16-autocast; do
		"$bin/mpdbg" run "$shared/models/handpose_ts.onnx" --data "$shared/models/batches" \
			--glob 'batch_*' --device cuda --policy $p --compare fp32 2>&1 | tail -8
	done > "$out/run.log"
	tail -20 "$out/run.log"
	# the hostile models on the CUDA backend: each must be refused (exit 2) with
	# a message naming the node, never a signal or a CUDA error
	if [ -d "$shared/hostile-repro" ]; then
		n=0 bad=0
		for f in "$shared"/hostile-repro/onnx-crash-* "$shared"/hostile-repro/cli_*.onnx; do
			n=$((n + 1))
			timeout 20 "$bin/mpdbg" run "$f" --synthetic --device cuda > "$out/h.out" 2>&1
			rc=$?
			{ echo "== $(basename "$f") rc=$rc"; cat "$out/h.out"; } >> "$out/hostile-cuda.log"
			[ $rc -eq 2 ] || echo "hostile-cuda: $(basename "$f") rc=$rc: $(tail -n 1 "$out/h.out")"
			if [ $rc -ne 2 ] && [ $rc -ne 0 ]; then bad=$((bad + 1)); fi
			if grep -q -i -E 'cuda error|illegal|sanitizer|runtime error' "$out/h.out"; then
				bad=$((bad + 1)); echo "hostile-cuda: $(basename "$f"): $(grep -m1 -i -E 'cuda error|illegal' "$out/h.out")"
			fi
		done
		printf '%-22s %d files, %d bad (exit 2 or 0 and no CUDA error expected)\n' hostile-cuda $n $bad
	fi
fi
[ "$what" = checks ] && exit 0
python3 "$(dirname "$0")/bench_gpu.py" --bench "$bin/bench_forward" --out "$out" 2>&1 | tee "$out/bench.log" | tail -20
# what the probes cost (issue 15): every probe, session, --compare, --literal beside
# bench_forward's whole step and PyTorch, batch 1 and 32, fp32 and bf16-autocast
python3 "$(dirname "$0")/bench_probes.py" --device cuda --mpdbg "$bin/mpdbg" --bench-forward "$bin/bench_forward" \
	--out "$out/bench_probes.md" > "$out/bench_probes.log" 2>&1
grep -A6 '^| ratio' "$out/bench_probes.log" | head -40
