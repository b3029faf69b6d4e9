/* fuzz_driver.c - the entry points of every fuzz target built with it: the
 * libFuzzer one, and (without MP_LIBFUZZER) a deterministic mutation driver
 * for the test suite.
 *
 *     fuzz_TARGET [ITERATIONS]        mutations of each seed, TAP
 *     fuzz_TARGET --replay FILE...    each file once (a crash libFuzzer
 *                                     saved, run without libFuzzer)
 *     fuzz_TARGET --write-seeds DIR   the seeds as files, a corpus for
 *                                     libFuzzer
 *
 * MP_FUZZ_SAVE=FILE keeps the input under way in FILE; MP_FUZZ_VERBOSE=1
 * has targets that support it say why an input was refused.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_driver.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_fuzz_target.one(data, size);
	return 0;
}

#ifndef MP_LIBFUZZER
/* xorshift64: the same mutations on every run and machine */
static uint64_t next(uint64_t *rng)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return *rng;
}

/* One mutation of seed into out (cap bytes); returns the new size.  Aimed
 * at binary formats: bit flips, boundary bytes, truncation, large numbers
 * where lengths and offsets live, duplicated chunks, varint runs, digits. */
static size_t mutate(uint64_t *rng, const uint8_t *seed, size_t n, uint8_t *out, size_t cap)
{
	size_t m = n < cap ? n : cap;
	memcpy(out, seed, m);
	int rounds = 1 + (int)(next(rng) % 4);
	for (int r = 0; r < rounds && m; r++) {
		size_t at = (size_t)(next(rng) % m);
		switch (next(rng) % 8) {
		case 0: out[at] ^= (uint8_t)(1u << (next(rng) % 8)); break;
		case 1: out[at] = (uint8_t[]){ 0x00, 0xFF, 0x80, 0x7F, 0x01 }[next(rng) % 5]; break;
		case 2: m = at; break;
		case 3: {
			uint64_t v = (uint64_t[]){ UINT64_MAX, 1ull << 62, 1ull << 32, 0x7FFFFFFF, 0 }[next(rng) % 5];
			size_t k = m - at < 8 ? m - at : 8;
			memcpy(out + at, &v, k);
			break;
		}
		case 4:
			if (m < cap) {
				size_t len = (size_t)(next(rng) % 64) + 1, src = (size_t)(next(rng) % m);
				if (src + len > m)
					len = m - src;
				if (m + len > cap)
					len = cap - m;
				memmove(out + at + len, out + at, m - at);
				memmove(out + at, out + src + (src >= at ? len : 0), len);
				m += len;
			}
			break;
		case 5:
			for (size_t k = at; k < m && k < at + 11; k++)
				out[k] = 0xFF;
			break;
		case 6:
			if (out[at] >= '0' && out[at] <= '9')
				out[at] = (uint8_t)('0' + next(rng) % 10);
			else
				out[at]++;
			break;
		default: out[at] = (uint8_t)next(rng); break;
		}
	}
	return m;
}

/* MP_FUZZ_SAVE=FILE: each input is written there before it runs, so that
 * after a crash FILE holds the input that made it (for --replay). */
static void save_input(const char *path, const uint8_t *d, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(d, 1, n, f);
		fclose(f);
	}
}

static int replay(int argc, char **argv)
{
	int tap = 0;
	for (int i = 2; i < argc; i++) {
		uint8_t *d;
		size_t n;
		bool ok = mp_test_read_file(argv[i], &d, &n);
		if (ok) {
			enum mp_fuzz_result r = mp_fuzz_target.one(d, n);
			printf("ok %d - %s: %s\n", ++tap, argv[i], r == MP_FUZZ_REFUSED ? "refused" : r == MP_FUZZ_LOADED ? "loaded" : "ran");
			free(d);
		} else {
			printf("not ok %d - %s: cannot read\n", ++tap, argv[i]);
		}
	}
	printf("1..%d\n", tap);
	return 0;
}

/* The seeds as files seed_N in dir, a corpus to start libFuzzer from. */
static int write_seeds(const char *dir)
{
	char *tmp = mp_test_tmpdir();
	uint8_t *seeds[8];
	size_t sizes[8], ns = tmp ? mp_fuzz_target.seeds(tmp, seeds, sizes, 8) : 0;
	for (size_t s = 0; s < ns; s++) {
		char name[32], *p;
		snprintf(name, sizeof name, "seed_%zu", s);
		p = mp_test_write(dir, name, seeds[s], sizes[s]);
		printf("%s\n", p ? p : "(cannot write)");
		free(p);
		free(seeds[s]);
	}
	mp_test_rmtree(tmp);
	free(tmp);
	return ns ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--replay"))
		return replay(argc, argv);
	if (argc > 2 && !strcmp(argv[1], "--write-seeds"))
		return write_seeds(argv[2]);
	long iters = argc > 1 ? atol(argv[1]) : 2000;
	char *dir = mp_test_tmpdir();
	uint8_t *seeds[8];
	size_t sizes[8], ns = dir ? mp_fuzz_target.seeds(dir, seeds, sizes, 8) : 0;
	if (!ns) {
		printf("Bail out! %s: no seeds\n", mp_fuzz_target.name);
		return 1;
	}
	size_t cap = 0;
	for (size_t s = 0; s < ns; s++)
		cap = sizes[s] + 4096 > cap ? sizes[s] + 4096 : cap;
	uint8_t *buf = malloc(cap);
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	const char *save = getenv("MP_FUZZ_SAVE");
	int tap = 0;
	for (size_t s = 0; s < ns; s++) {
		enum mp_fuzz_result seed = mp_fuzz_target.one(seeds[s], sizes[s]);
		int count[MP_FUZZ_NRESULTS] = { 0 };
		for (long i = 0; i < iters; i++) {
			size_t n = mutate(&rng, seeds[s], sizes[s], buf, cap);
			if (save)
				save_input(save, buf, n);
			count[mp_fuzz_target.one(buf, n)]++;
		}
		printf("%s %d - %s seed %zu (%zu bytes): %ld mutations, %d refused, %d loaded, %d ran\n",
		       seed >= mp_fuzz_target.seed_reaches ? "ok" : "not ok", ++tap, mp_fuzz_target.name, s, sizes[s],
		       iters, count[MP_FUZZ_REFUSED], count[MP_FUZZ_LOADED], count[MP_FUZZ_RAN]);
		free(seeds[s]);
	}
	printf("1..%d\n", tap);
	free(buf);
	mp_test_rmtree(dir);
	free(dir);
	return 0;
}
#endif
