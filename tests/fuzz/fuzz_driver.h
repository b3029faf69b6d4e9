/* fuzz_driver.h - what a fuzz target file gives the driver (fuzz_driver.c):
 * one input's run, its seeds, and what a seed must reach.
 *
 * Each target is built twice: with clang -fsanitize=fuzzer (-Dfuzz=true)
 * as a libFuzzer binary (LLVMFuzzerTestOneInput calls mp_fuzz_one), and
 * plainly with the driver's main(), a deterministic mutation run the test
 * suite makes (suite 'fuzz'): thousands of mutations of each seed, and a
 * crash, leak or sanitizer report fails the test. */
#ifndef MP_FUZZ_DRIVER_H
#define MP_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/* What one input reached: refused, accepted (loaded/parsed), or used to
 * the end (a model run, a session read through every reader). */
enum mp_fuzz_result { MP_FUZZ_REFUSED, MP_FUZZ_LOADED, MP_FUZZ_RAN, MP_FUZZ_NRESULTS };

struct mp_fuzz_target {
	const char *name;
	/* the result every seed must reach unmutated, or the run proves little */
	enum mp_fuzz_result seed_reaches;
	enum mp_fuzz_result (*one)(const uint8_t *data, size_t size);
	/* Up to cap seeds (malloc'd) into seeds/sizes; dir is a scratch folder
	 * that lives for the run.  Returns how many. */
	size_t (*seeds)(const char *dir, uint8_t **seeds, size_t *sizes, size_t cap);
};

/* Defined once in each target's file. */
extern const struct mp_fuzz_target mp_fuzz_target;

#endif
