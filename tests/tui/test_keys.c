/* test_keys.c - the TUI's key table without a terminal to look at: each
 * action says what it did (handled, redraw, quit) and changes the state,
 * and the panes draw the state into a curses screen written to /dev/null
 * and read back.  The session: a tiny model (x -> Relu -> Neg), three
 * synthetic batches recorded through tui/run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cmocka_tap.h"
#include "onnxw.h"
#include "run.h"
#include "term.h"
#include "testutil.h"
#include "view.h"

static char *dir;

MP_TEST_TMPDIR_FIXTURES(dir)

static char *record_session(void)
{
	struct pbw m = onnx_chain_model();
	char *model = mp_test_write(dir, "chain.onnx", m.d, m.n), *db = mp_test_join(dir, "keys.db");
	pbw_free(&m);
	assert_non_null(model);
	struct mp_synth_options so = { .random = true, .seed = 3 };
	struct mp_policy pol = { 0 };
	struct mp_probe_options po;
	struct mp_error e = { 0 };
	struct mp_run *run;
	mp_probe_options_init(&po);
	assert_int_equal(mp_policy_set_base(&pol, "bf16", &e), MP_OK);
	struct mp_run_setup s = { .model = model, .synthetic = &so, .some_batches = true, .batches = 3,
		                  .device = "cpu", .threads = 1, .policy = &pol, .probes = &po };
	assert_int_equal(mp_run_open(&s, &run, &e), MP_OK);
	char *argv[] = { "mpdbg", "run", model, NULL };
	assert_int_equal(mp_run_record(run, db, 3, argv, &e), MP_OK);
	for (size_t i = 0; i < mp_run_count(run); i++) {
		bool stop = true;
		assert_int_equal(mp_run_batch(run, i, NULL, NULL, &stop, &e), MP_OK);
	}
	assert_int_equal(mp_run_finish(run, MP_OK, NULL, &e), MP_OK);
	mp_run_free(run);
	free(model);
	return db;
}

static unsigned keys(struct mp_app *a, const char *s)
{
	unsigned f = 0;
	for (; *s; s++)
		f = mp_app_key(a, *s == '\n' ? '\r' : *s);
	return f;
}

/* A screen line as the panes left it. */
static const char *line(int y, char *buf, int n)
{
	mvinnstr(y, 0, buf, n - 1);
	return buf;
}

static void test_keys(void **state)
{
	(void)state;
	char *db = record_session(), buf[256];
	struct mp_error e = { 0 };
	struct mp_view *v;
	struct mp_app a = { 0 };
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *scr = newterm("xterm", out, in);
	assert_non_null(scr);
	set_term(scr);
	resizeterm(30, 100);
	assert_int_equal(mp_view_open(db, &v, &e), MP_OK);
	a.model_label = "chain.onnx";
	assert_int_equal(mp_app_init(&a, v, &e), MP_OK);
	assert_int_equal(a.sel_node, 0);

	mp_app_draw(&a);
	assert_non_null(strstr(line(0, buf, sizeof buf), "batch 1/3"));
	assert_non_null(strstr(buf, "[replay]"));
	assert_non_null(strstr(line(LINES - 1, buf, sizeof buf), "q quit"));

	assert_int_equal(mp_app_key(&a, 'j'), MP_KEY_HANDLED | MP_KEY_REDRAW);
	assert_int_equal(a.sel_node, 1);
	assert_int_equal(mp_app_key(&a, 'k'), MP_KEY_HANDLED | MP_KEY_REDRAW);
	assert_int_equal(a.sel_node, 0);
	assert_int_equal(mp_app_key(&a, 'n'), MP_KEY_HANDLED | MP_KEY_REDRAW);
	assert_int_equal(a.batch, 1);
	keys(&a, "pp");
	assert_int_equal(a.batch, 0);
	assert_string_equal(a.msg, "this is the first batch");
	mp_app_draw(&a);
	assert_non_null(strstr(line(LINES - 1, buf, sizeof buf), "this is the first batch"));

	/* a breakpoint on the selected node, shown in its flag column */
	keys(&a, "b");
	assert_true(a.bp[0]);
	assert_string_equal(a.msg, "breakpoint on /relu");

	/* the help takes the next key, whatever it is */
	keys(&a, "?");
	assert_true(a.help);
	mp_app_draw(&a);
	assert_int_equal(mp_app_key(&a, 'q'), MP_KEY_HANDLED | MP_KEY_REDRAW);
	assert_false(a.help);

	/* the prompt: typed, accepted, its command's flags passed on */
	keys(&a, "g3\n");
	assert_int_equal(a.batch, 2);
	keys(&a, "B");
	assert_int_equal(a.prompt_kind, 'B');
	assert_string_equal(a.prompt, "nan inf mismatch ");
	assert_int_equal(mp_app_key(&a, 27), MP_KEY_HANDLED | MP_KEY_REDRAW); /* Esc */
	assert_int_equal(a.prompt_kind, 0);
	keys(&a, ":goto /neg\n");
	assert_int_equal(a.sel_node, 1);
	assert_int_equal(keys(&a, ":bogus\n"), MP_KEY_HANDLED | MP_KEY_REDRAW);
	assert_true(a.msg_error);
	assert_int_equal(keys(&a, ":quit\n"), MP_KEY_QUIT);
	assert_int_equal(mp_app_key(&a, 'q'), MP_KEY_QUIT);

	endwin();
	delscreen(scr);
	fclose(out);
	fclose(in);
	a.v = NULL;
	mp_app_free(&a);
	mp_view_free(v);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
