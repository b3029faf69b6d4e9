#!/usr/bin/env bash
# pack_for_gpu.sh - packs what bench/gpu_check.sh needs on the GPU machine
# (which has no compilers' libraries, no cmocka, and no ../shared) into
# .devrun/ (ignored by git; name it in the device tool's `carry`):
#   run.tar.xz     the executables of BUILD_DIR (stripped)
#   libs.tar.xz    the shared libraries they load that the GPU machine lacks
#                  (cuBLAS: 600 MB, minutes to compress): made when missing
#                  or with PACK_LIBS=1, else kept from the last time
#   shared.tar.xz  ../shared/models and ../shared/onnx-backend-tests
# usage: [PACK_XZ_LEVEL=N (9)] [PACK_LIBS=1] bench/pack_for_gpu.sh [BUILD_DIR (build-cuda)]
# There: mkdir -p /tmp/r /tmp/s && tar xJf .devrun/run.tar.xz -C /tmp/r &&
#        tar xJf .devrun/libs.tar.xz -C /tmp/r && tar xJf .devrun/shared.tar.xz -C /tmp/s &&
#        LD_LIBRARY_PATH=/tmp/r/libs bench/gpu_check.sh /tmp/r/bin /tmp/s $OUT
set -eu
b=${1:-build-cuda}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rm -rf .devrun/bin .devrun/libs
mkdir -p .devrun/bin
exes="$b/mpdbg $b/tests/conformance $b/tests/test_parity $b/tests/test_attention $b/tests/test_fused $b/tests/test_handpose $b/tests/test_policy_models
      $b/tests/test_probes $b/tests/test_paths $b/bench/bench_forward $b/tests/test_hostile $b/tests/test_probe_gpu
      $b/bench/bench_probe_kernel"
cp $exes .devrun/bin/
strip .devrun/bin/*
tar cf - -C .devrun bin | xz -${PACK_XZ_LEVEL:-9} -T0 > .devrun/run.tar.xz
if [ "${PACK_LIBS:-0}" = 1 ] || [ ! -f .devrun/libs.tar.xz ]; then
	../shared/device/pack-libs.sh .devrun/libs $exes > /dev/null
	# the GPU machine has these (Ubuntu 24.04): only what it lacks travels
	rm -f .devrun/libs/libopenblas.so.* .devrun/libs/libgfortran.so.* .devrun/libs/libquadmath.so.* \
	      .devrun/libs/libsqlite3.so.* .devrun/libs/libcrypto.so.* .devrun/libs/libnvrtc*
	tar cf - -C .devrun libs | xz -${PACK_XZ_LEVEL:-9} -T0 > .devrun/libs.tar.xz
fi
rm -rf .devrun/bin .devrun/libs
[ -f .devrun/shared.tar.xz ] || tar cf - -C ../shared models onnx-backend-tests | xz -9 -T0 > .devrun/shared.tar.xz
ls -la .devrun
