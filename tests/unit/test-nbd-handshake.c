/* The handshake machine driven with byte transcripts, as a client would
 * send them: the greeting, the plaintext phase and STARTTLS, the old
 * style NBD_OPT_EXPORT_NAME, ABORT, protocol errors, and the machine fed
 * in pieces.  Every test compares the exact bytes the client would
 * receive; expected replies are built in harness-hs.c, not with the code
 * under test.  The options after TLS are in test-nbd-options.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness-hs.h"

/* ---- tests ---- */

static void test_greeting(void **state)
{
	struct t *t = *state;
	static const uint8_t g[] = {'N', 'B', 'D', 'M', 'A',  'G',
				    'I', 'C', 'I', 'H', 'A',  'V',
				    'E', 'O', 'P', 'T', 0x00, 0x03};

	put(&t->want, g, sizeof(g));
	assert_output(t);
}

static void test_bad_client_flags(void **state)
{
	struct t *t = *state;
	struct gw_hs *hs2;

	reset(&t->f.out);
	be(&t->in, 0x7, 4); /* bit 2 is unknown */
	feed_expect(t, GW_HS_CLOSE, 4);
	assert_non_null(strstr(gw_hs_reason(t->hs), "unknown bits"));
	assert_output(t);

	assert_int_equal(gw_hs_new(&fake_ops, &t->f, &hs2), 0);
	assert_int_equal(gw_hs_start(hs2), 0);
	reset(&t->f.out);
	gw_hs_free(t->hs);
	t->hs = hs2;
	be(&t->in, NBD_FLAG_C_NO_ZEROES, 4);
	feed_expect(t, GW_HS_CLOSE, 4);
	assert_non_null(strstr(gw_hs_reason(t->hs), "FIXED_NEWSTYLE"));
	assert_output(t);
}

static void test_options_before_tls(void **state)
{
	static const uint32_t opts[] = {
		NBD_OPT_LIST,
		NBD_OPT_INFO,
		NBD_OPT_GO,
		NBD_OPT_STRUCTURED_REPLY,
		NBD_OPT_LIST_META_CONTEXT,
		NBD_OPT_SET_META_CONTEXT,
		NBD_OPT_EXTENDED_HEADERS,
		NBD_OPT_PEEK_EXPORT,
		99,
	};
	struct t *t = *state;
	size_t n = 4;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		/* Payloads that would be valid after TLS must be skipped
		 * whole, or the next header would be misparsed. */
		opt_hdr(&t->in, opts[i], (uint32_t)(i * 10));
		fill(&t->in, 0xa5, i * 10);
		n += 16 + i * 10;
		rep_err(&t->want, opts[i], NBD_REP_ERR_TLS_REQD, TLS_REQD_MSG);
	}
	opt_go(&t->in, NBD_OPT_GO, "vm1/disk0", NULL, 0);
	n += 16 + 4 + 9 + 2;
	rep_err(&t->want, NBD_OPT_GO, NBD_REP_ERR_TLS_REQD, TLS_REQD_MSG);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	n += 16;
	rep_ack(&t->want, NBD_OPT_STARTTLS);
	feed_expect(t, GW_HS_STARTTLS, n);
	assert_output(t);
	assert_int_equal(t->f.lookups, 0);
}

static void test_export_name_before_tls(void **state)
{
	struct t *t = *state;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	opt_hdr(&t->in, NBD_OPT_EXPORT_NAME, 9);
	str(&t->in, "vm1/disk0");
	feed_expect(t, GW_HS_CLOSE, 20);
	assert_string_equal(gw_hs_reason(t->hs),
			    "NBD_OPT_EXPORT_NAME before TLS");
	assert_output(t);
	assert_int_equal(t->f.lookups, 0);
}

static void test_starttls_with_payload(void **state)
{
	struct t *t = *state;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 1);
	fill(&t->in, 0, 1);
	feed_expect(t, GW_HS_MORE, 21);
	rep_err(&t->want, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
		"NBD_OPT_STARTTLS takes no data");
	assert_output(t);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	feed_expect(t, GW_HS_STARTTLS, 16);
	rep_ack(&t->want, NBD_OPT_STARTTLS);
	assert_output(t);
}

static void test_starttls_pipelined(void **state)
{
	struct t *t = *state;
	size_t used;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	/* An injected plaintext option right behind STARTTLS. */
	opt_hdr(&t->in, NBD_OPT_STRUCTURED_REPLY, 0);
	feed_expect(t, GW_HS_STARTTLS, 20);
	rep_ack(&t->want, NBD_OPT_STARTTLS);
	assert_output(t);
	/* More input before TLS is up closes the connection. */
	opt_hdr(&t->in, NBD_OPT_STRUCTURED_REPLY, 0);
	assert_int_equal(gw_hs_feed(t->hs, t->in.b, t->in.n, &used),
			 GW_HS_CLOSE);
	assert_int_equal(used, 0);
	assert_output(t);
}

static void test_state_forgotten_at_starttls(void **state)
{
	struct t *t = *state;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	/* gw_hs_tls_up() before STARTTLS must not unlock anything. */
	gw_hs_tls_up(t->hs);
	opt_hdr(&t->in, NBD_OPT_STRUCTURED_REPLY, 0);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	feed_expect(t, GW_HS_STARTTLS, 36);
	rep_err(&t->want, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_TLS_REQD,
		TLS_REQD_MSG);
	rep_ack(&t->want, NBD_OPT_STARTTLS);
	assert_output(t);
	gw_hs_tls_up(t->hs);
	opt_go(&t->in, NBD_OPT_GO, "vm1/disk0", NULL, 0);
	feed_expect(t, GW_HS_READY, 31);
	rep_info_export(&t->want, NBD_OPT_GO, GIB, TFLAGS);
	rep_info_block(&t->want, NBD_OPT_GO, 4 * MIB);
	rep_ack(&t->want, NBD_OPT_GO);
	assert_output(t);
	assert_false(gw_hs_structured(t->hs));
	assert_false(gw_hs_base_allocation(t->hs, NULL));
	assert_int_equal(gw_hs_export(t->hs)->tflags, TFLAGS);
}

static void test_option_too_long_before_tls(void **state)
{
	struct t *t = *state;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	opt_hdr(&t->in, NBD_OPT_LIST, 4097);
	feed_expect(t, GW_HS_CLOSE, 20);
	assert_output(t);
	assert_non_null(strstr(gw_hs_reason(t->hs), "before TLS"));
}

static void export_name(struct t *t, uint32_t cflags, size_t zeros)
{
	to_tls(t, cflags);
	opt_hdr(&t->in, NBD_OPT_EXPORT_NAME, 9);
	str(&t->in, "vm1/disk0");
	feed_expect(t, GW_HS_READY, 25);
	be(&t->want, GIB, 8);
	be(&t->want, TFLAGS, 2);
	fill(&t->want, 0, zeros);
	assert_output(t);
	assert_true(t->f.last_go);
}

static void test_export_name_no_zeroes(void **state)
{
	export_name(*state, 3, 0);
}

static void test_export_name_zeroes(void **state)
{
	export_name(*state, 1, 124);
}

static void test_export_name_refused(void **state)
{
	struct t *t = *state;

	to_tls(t, 3);
	opt_hdr(&t->in, NBD_OPT_EXPORT_NAME, 4);
	str(&t->in, "nope");
	feed_expect(t, GW_HS_CLOSE, 20);
	assert_output(t);
	assert_non_null(strstr(gw_hs_reason(t->hs), "export not present"));
}

static void test_abort(void **state)
{
	struct t *t = *state;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	opt_hdr(&t->in, NBD_OPT_ABORT, 0);
	feed_expect(t, GW_HS_CLOSE, 20);
	rep_ack(&t->want, NBD_OPT_ABORT);
	assert_output(t);
	assert_string_equal(gw_hs_reason(t->hs), "client sent NBD_OPT_ABORT");
}

static void test_abort_after_tls(void **state)
{
	struct t *t = *state;

	to_tls(t, 3);
	opt_hdr(&t->in, NBD_OPT_ABORT, 0);
	feed_expect(t, GW_HS_CLOSE, 16);
	rep_ack(&t->want, NBD_OPT_ABORT);
	assert_output(t);
}

static void test_bad_magic(void **state)
{
	struct t *t = *state;

	reset(&t->f.out);
	be(&t->in, 3, 4);
	str(&t->in, "IHAVEOPX");
	be(&t->in, NBD_OPT_LIST, 4);
	be(&t->in, 0, 4);
	feed_expect(t, GW_HS_CLOSE, 20);
	assert_output(t);
	assert_string_equal(gw_hs_reason(t->hs), "bad option magic");
}

static void test_send_failure(void **state)
{
	struct t *t = *state;

	to_tls(t, 3);
	t->f.fail_send = 1;
	opt_hdr(&t->in, NBD_OPT_LIST, 0);
	feed_expect(t, GW_HS_CLOSE, 16);
	assert_non_null(strstr(gw_hs_reason(t->hs), "reply"));
}

/* A transcript touching every path, fed whole or in pieces. */
static void transcript(struct bytes *in)
{
	static const uint16_t reqs[] = {NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE};
	const char *q[] = {"base:allocation"};

	be(in, 3, 4);
	opt_hdr(in, NBD_OPT_LIST, 3);
	str(in, "abc");
	opt_hdr(in, NBD_OPT_STARTTLS, 2);
	str(in, "xy");
	opt_hdr(in, NBD_OPT_STARTTLS, 0);
	/* After TLS. */
	opt_hdr(in, NBD_OPT_LIST, 0);
	opt_hdr(in, 99, 100);
	fill(in, 7, 100);
	opt_hdr(in, NBD_OPT_STRUCTURED_REPLY, 0);
	opt_meta(in, NBD_OPT_LIST_META_CONTEXT, "vm1/disk0", NULL, 0);
	opt_meta(in, NBD_OPT_SET_META_CONTEXT, "vm1/disk0", q, 1);
	opt_go(in, NBD_OPT_INFO, "nope", reqs, 2);
	opt_go(in, NBD_OPT_INFO, "vm1/ro@rp1", reqs, 2);
	opt_go(in, NBD_OPT_GO, "vm1/disk0", reqs, 2);
	fill(in, 0x25, 28); /* the first request */
}

static void run(const struct bytes *in, size_t chunk, struct bytes *out,
		size_t *used_total, enum gw_hs_event *last)
{
	struct fake f = {0};
	struct gw_hs *hs;
	size_t off = 0, n, used;

	assert_int_equal(gw_hs_new(&fake_ops, &f, &hs), 0);
	assert_int_equal(gw_hs_start(hs), 0);
	*last = GW_HS_MORE;
	while (off < in->n) {
		n = in->n - off < chunk ? in->n - off : chunk;
		*last = gw_hs_feed(hs, in->b + off, n, &used);
		off += used;
		if (*last == GW_HS_STARTTLS)
			gw_hs_tls_up(hs);
		else if (*last != GW_HS_MORE)
			break;
	}
	*used_total = off;
	put(out, f.out.b, f.out.n);
	assert_true(gw_hs_base_allocation(hs, NULL));
	gw_hs_free(hs);
	free(f.out.b);
}

static void test_resumable(void **state)
{
	static const size_t chunks[] = {1, 2, 3, 7, 16, 17, 100};
	struct t *t = *state;
	struct bytes whole = {0}, part = {0};
	size_t used_whole, used;
	enum gw_hs_event ev_whole, ev;

	transcript(&t->in);
	run(&t->in, t->in.n, &whole, &used_whole, &ev_whole);
	assert_int_equal(ev_whole, GW_HS_READY);
	assert_int_equal(used_whole, t->in.n - 28);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		reset(&part);
		run(&t->in, chunks[i], &part, &used, &ev);
		assert_int_equal(ev, ev_whole);
		assert_int_equal(used, used_whole);
		assert_int_equal(part.n, whole.n);
		assert_memory_equal(part.b, whole.b, whole.n);
	}
	free(whole.b);
	free(part.b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_greeting),
		T(test_bad_client_flags),
		T(test_options_before_tls),
		T(test_export_name_before_tls),
		T(test_starttls_with_payload),
		T(test_starttls_pipelined),
		T(test_state_forgotten_at_starttls),
		T(test_option_too_long_before_tls),
		T(test_export_name_no_zeroes),
		T(test_export_name_zeroes),
		T(test_export_name_refused),
		T(test_abort),
		T(test_abort_after_tls),
		T(test_bad_magic),
		T(test_send_failure),
		T(test_resumable),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
