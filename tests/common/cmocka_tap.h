/* cmocka_tap.h - includes cmocka the way its header wants, and runs a group
 * with TAP output so meson (and .ci/run) count every test. */
#ifndef MP_CMOCKA_TAP_H
#define MP_CMOCKA_TAP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define MP_RUN_TESTS(tests)                                   \
	(cmocka_set_message_output(CM_OUTPUT_TAP),            \
	 cmocka_run_group_tests(tests, NULL, NULL))

#endif
