/* The options of the handshake after TLS, driven with byte transcripts
 * as a client would send them: LIST, INFO and GO with their information
 * requests, unsupported options, option length limits, names, and the
 * meta contexts (LIST/SET_META_CONTEXT, base:allocation).  Every test
 * compares the exact bytes the client would receive; expected replies
 * are built in harness-hs.c, not with the code under test.
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

static void test_list(void **state)
{
	struct t *t = *state;

	to_tls(t, 3);
	opt_hdr(&t->in, NBD_OPT_LIST, 0);
	opt_hdr(&t->in, NBD_OPT_LIST, 2);
	fill(&t->in, 'x', 2);
	feed_expect(t, GW_HS_MORE, 34);
	rep_hdr(&t->want, NBD_OPT_LIST, 2, 4 + 9 + 9);
	be(&t->want, 9, 4);
	str(&t->want, "vm1/disk0live disk");
	rep_hdr(&t->want, NBD_OPT_LIST, 2, 4 + 10);
	be(&t->want, 10, 4);
	str(&t->want, "vm1/ro@rp1");
	rep_ack(&t->want, NBD_OPT_LIST);
	rep_err(&t->want, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
		"NBD_OPT_LIST takes no data");
	assert_output(t);
}

static void test_info_and_go(void **state)
{
	static const uint16_t reqs[] = {NBD_INFO_NAME, 77, NBD_INFO_DESCRIPTION,
					NBD_INFO_BLOCK_SIZE};
	struct t *t = *state;
	const struct gw_export *e;

	to_tls(t, 3);
	opt_go(&t->in, NBD_OPT_INFO, "vm1/disk0", NULL, 0);
	feed_expect(t, GW_HS_MORE, 31);
	rep_info_export(&t->want, NBD_OPT_INFO, GIB, TFLAGS);
	rep_info_block(&t->want, NBD_OPT_INFO, 4 * MIB);
	rep_ack(&t->want, NBD_OPT_INFO);
	assert_output(t);
	assert_false(t->f.last_go);

	opt_go(&t->in, NBD_OPT_GO, "nope", NULL, 0);
	feed_expect(t, GW_HS_MORE, 26);
	rep_err(&t->want, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN,
		"export not present");
	assert_output(t);

	opt_go(&t->in, NBD_OPT_GO, "vm1/disk0", reqs, 4);
	fill(&t->in, 0x25, 3); /* transmission bytes: not ours */
	feed_expect(t, GW_HS_READY, 39);
	rep_info_export(&t->want, NBD_OPT_GO, GIB, TFLAGS);
	rep_info_block(&t->want, NBD_OPT_GO, 4 * MIB);
	rep_info_str(&t->want, NBD_OPT_GO, NBD_INFO_NAME, "vm1/disk0");
	rep_info_str(&t->want, NBD_OPT_GO, NBD_INFO_DESCRIPTION, "live disk");
	rep_ack(&t->want, NBD_OPT_GO);
	assert_output(t);
	assert_true(t->f.last_go);
	e = gw_hs_export(t->hs);
	assert_int_equal(e->size, GIB);
	assert_int_equal(e->tflags, TFLAGS);
	assert_int_equal(e->min_block, 1);
	assert_int_equal(e->pref_block, 4 * MIB);
	assert_int_equal(e->max_block, 32 * MIB);
	assert_string_equal(gw_hs_export_name(t->hs), "vm1/disk0");
}

static void test_go_read_only(void **state)
{
	static const uint16_t reqs[] = {NBD_INFO_DESCRIPTION};
	struct t *t = *state;

	to_tls(t, 3);
	opt_go(&t->in, NBD_OPT_GO, "vm1/ro@rp1", reqs, 1);
	feed_expect(t, GW_HS_READY, 16 + 4 + 10 + 2 + 2);
	/* Empty description: not sent even though it was asked for. */
	rep_info_export(&t->want, NBD_OPT_GO, GIB, TFLAGS_RO);
	rep_info_block(&t->want, NBD_OPT_GO, 4096);
	rep_ack(&t->want, NBD_OPT_GO);
	assert_output(t);
	assert_true(gw_hs_export(t->hs)->read_only);
}

static void test_unsupported_options(void **state)
{
	struct t *t = *state;

	to_tls(t, 3);
	opt_hdr(&t->in, 99, 100);
	fill(&t->in, 0xff, 100);
	opt_hdr(&t->in, NBD_OPT_EXTENDED_HEADERS, 0);
	opt_hdr(&t->in, 1000, 70000);
	fill(&t->in, 0, 70000);
	opt_hdr(&t->in, NBD_OPT_STRUCTURED_REPLY, 0);
	opt_hdr(&t->in, NBD_OPT_STRUCTURED_REPLY, 0);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	feed_expect(t, GW_HS_MORE, 6 * 16 + 100 + 70000);
	rep_err(&t->want, 99, NBD_REP_ERR_UNSUP, "option 99 is not supported");
	rep_err(&t->want, NBD_OPT_EXTENDED_HEADERS, NBD_REP_ERR_UNSUP,
		"NBD_OPT_EXTENDED_HEADERS is not supported");
	rep_err(&t->want, 1000, NBD_REP_ERR_UNSUP,
		"option 1000 is not supported");
	rep_ack(&t->want, NBD_OPT_STRUCTURED_REPLY);
	rep_err(&t->want, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
		"structured replies already negotiated");
	rep_err(&t->want, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
		"TLS is already active");
	assert_output(t);
}

static void test_option_limits(void **state)
{
	struct t *t = *state;
	struct bytes name = {0};

	reset(&t->f.out);
	be(&t->in, 3, 4);
	opt_hdr(&t->in, NBD_OPT_LIST, 4096); /* at the limit: skipped */
	fill(&t->in, 0, 4096);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	feed_expect(t, GW_HS_STARTTLS, 4 + 16 + 4096 + 16);
	rep_err(&t->want, NBD_OPT_LIST, NBD_REP_ERR_TLS_REQD, TLS_REQD_MSG);
	rep_ack(&t->want, NBD_OPT_STARTTLS);
	assert_output(t);
	gw_hs_tls_up(t->hs);

	/* After TLS: a known option over 64 KiB is skipped, not read. */
	opt_hdr(&t->in, NBD_OPT_GO, 70000);
	fill(&t->in, 0, 70000);
	/* Export name over 4096 bytes, consistent with the option. */
	opt_hdr(&t->in, NBD_OPT_GO, 4 + 4097 + 2);
	be(&t->in, 4097, 4);
	fill(&t->in, 'a', 4097);
	be(&t->in, 0, 2);
	/* Name length running past the option. */
	opt_hdr(&t->in, NBD_OPT_INFO, 10);
	be(&t->in, 5, 4);
	str(&t->in, "abcd");
	be(&t->in, 0, 2);
	/* Info request count disagreeing with the option length. */
	opt_hdr(&t->in, NBD_OPT_INFO, 4 + 1 + 2 + 2);
	be(&t->in, 1, 4);
	str(&t->in, "a");
	be(&t->in, 2, 2);
	be(&t->in, NBD_INFO_NAME, 2);
	/* Too short to hold a name length and a count. */
	opt_hdr(&t->in, NBD_OPT_GO, 5);
	fill(&t->in, 0, 5);
	/* A 4096-byte name is legal: it reaches the lookup. */
	fill(&name, 'b', 4096);
	put(&name, "", 1);
	opt_go(&t->in, NBD_OPT_GO, (const char *)name.b, NULL, 0);
	feed_expect(t, GW_HS_MORE, 6 * 16 + 70000 + 4103 + 10 + 9 + 5 + 4102);
	rep_err(&t->want, NBD_OPT_GO, NBD_REP_ERR_TOO_BIG,
		"option data too large");
	rep_err(&t->want, NBD_OPT_GO, NBD_REP_ERR_INVALID,
		"export name too long");
	rep_err(&t->want, NBD_OPT_INFO, NBD_REP_ERR_INVALID,
		"export name length inconsistent with option length");
	rep_err(&t->want, NBD_OPT_INFO, NBD_REP_ERR_INVALID,
		"number of info requests inconsistent with option length");
	rep_err(&t->want, NBD_OPT_GO, NBD_REP_ERR_INVALID,
		"option data too short");
	rep_err(&t->want, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN,
		"export not present");
	assert_output(t);
	assert_int_equal(t->f.lookups, 1);
	free(name.b);
}

static void test_nul_in_name(void **state)
{
	struct t *t = *state;

	to_tls(t, 3);
	opt_hdr(&t->in, NBD_OPT_GO, 4 + 10 + 2);
	be(&t->in, 10, 4);
	put(&t->in, "vm1/disk0\0", 10);
	be(&t->in, 0, 2);
	feed_expect(t, GW_HS_MORE, 32);
	rep_err(&t->want, NBD_OPT_GO, NBD_REP_ERR_INVALID,
		"export name contains a NUL byte");
	assert_output(t);
	assert_int_equal(t->f.lookups, 0);
}

static void test_list_meta_context(void **state)
{
	const char *base[] = {"base:"};
	const char *exact[] = {"base:allocation", "base:"};
	const char *other[] = {"qemu:dirty-bitmap:b0", "base:alloc"};
	struct t *t = *state;

	to_tls(t, 3);
	/* LIST works without structured replies. */
	opt_meta(&t->in, NBD_OPT_LIST_META_CONTEXT, "vm1/disk0", NULL, 0);
	opt_meta(&t->in, NBD_OPT_LIST_META_CONTEXT, "vm1/disk0", base, 1);
	opt_meta(&t->in, NBD_OPT_LIST_META_CONTEXT, "vm1/disk0", exact, 2);
	opt_meta(&t->in, NBD_OPT_LIST_META_CONTEXT, "vm1/disk0", other, 2);
	opt_meta(&t->in, NBD_OPT_LIST_META_CONTEXT, "gone", NULL, 0);
	feed_expect(t, GW_HS_MORE,
		    5 * 24 + 9 * 4 + 4 + 9 + 4 + 15 + 4 + 5 + 4 + 20 + 4 + 10);
	for (int i = 0; i < 3; i++) {
		rep_meta(&t->want, NBD_OPT_LIST_META_CONTEXT, 0);
		rep_ack(&t->want, NBD_OPT_LIST_META_CONTEXT);
	}
	rep_ack(&t->want, NBD_OPT_LIST_META_CONTEXT);
	rep_err(&t->want, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_UNKNOWN,
		"export not present");
	assert_output(t);
}

static void test_meta_lengths(void **state)
{
	struct t *t = *state;

	to_tls(t, 3);
	/* One query whose length runs past the option. */
	opt_hdr(&t->in, NBD_OPT_LIST_META_CONTEXT, 4 + 1 + 4 + 4 + 3);
	be(&t->in, 1, 4);
	str(&t->in, "a");
	be(&t->in, 1, 4);
	be(&t->in, 15, 4);
	str(&t->in, "bas");
	/* Two queries announced, room for one length field. */
	opt_hdr(&t->in, NBD_OPT_LIST_META_CONTEXT, 4 + 0 + 4 + 4);
	be(&t->in, 0, 4);
	be(&t->in, 2, 4);
	be(&t->in, 0, 4);
	/* Trailing bytes after the last query. */
	opt_hdr(&t->in, NBD_OPT_LIST_META_CONTEXT, 4 + 0 + 4 + 2);
	be(&t->in, 0, 4);
	be(&t->in, 0, 4);
	be(&t->in, 0, 2);
	feed_expect(t, GW_HS_MORE, 3 * 16 + 16 + 12 + 10);
	rep_err(&t->want, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_INVALID,
		"query length inconsistent with option length");
	rep_err(&t->want, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_INVALID,
		"number of queries inconsistent with option length");
	rep_err(&t->want, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_INVALID,
		"trailing data after the meta context queries");
	assert_output(t);
	assert_int_equal(t->f.lookups, 0);
}

static void test_set_meta_context(void **state)
{
	const char *q[] = {"x-foo:bar", "base:allocation"};
	const char *none[] = {"base:"};
	struct t *t = *state;
	uint32_t id = 99;

	to_tls(t, 3);
	opt_meta(&t->in, NBD_OPT_SET_META_CONTEXT, "vm1/disk0", q, 2);
	feed_expect(t, GW_HS_MORE, 16 + 4 + 9 + 4 + 13 + 19);
	rep_err(&t->want, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID,
		"NBD_OPT_SET_META_CONTEXT needs NBD_OPT_STRUCTURED_REPLY "
		"first");
	assert_output(t);

	opt_hdr(&t->in, NBD_OPT_STRUCTURED_REPLY, 0);
	opt_meta(&t->in, NBD_OPT_SET_META_CONTEXT, "vm1/disk0", q, 2);
	/* "base:" selects nothing with SET, and replaces the selection. */
	opt_meta(&t->in, NBD_OPT_SET_META_CONTEXT, "vm1/disk0", none, 1);
	feed_all(t, GW_HS_MORE);
	rep_ack(&t->want, NBD_OPT_STRUCTURED_REPLY);
	rep_meta(&t->want, NBD_OPT_SET_META_CONTEXT, 1);
	rep_ack(&t->want, NBD_OPT_SET_META_CONTEXT);
	rep_ack(&t->want, NBD_OPT_SET_META_CONTEXT);
	assert_output(t);
	assert_false(gw_hs_base_allocation(t->hs, &id));

	opt_meta(&t->in, NBD_OPT_SET_META_CONTEXT, "vm1/disk0", q, 2);
	opt_go(&t->in, NBD_OPT_INFO, "vm1/ro@rp1", NULL, 0); /* keeps it */
	opt_go(&t->in, NBD_OPT_GO, "vm1/disk0", NULL, 0);
	feed_all(t, GW_HS_READY);
	rep_meta(&t->want, NBD_OPT_SET_META_CONTEXT, 1);
	rep_ack(&t->want, NBD_OPT_SET_META_CONTEXT);
	rep_info_export(&t->want, NBD_OPT_INFO, GIB, TFLAGS_RO | 0x80);
	rep_info_block(&t->want, NBD_OPT_INFO, 4096);
	rep_ack(&t->want, NBD_OPT_INFO);
	rep_info_export(&t->want, NBD_OPT_GO, GIB, TFLAGS_DF);
	rep_info_block(&t->want, NBD_OPT_GO, 4 * MIB);
	rep_ack(&t->want, NBD_OPT_GO);
	assert_output(t);
	assert_true(gw_hs_structured(t->hs));
	assert_true(gw_hs_base_allocation(t->hs, &id));
	assert_int_equal(id, GW_NBD_META_ID_BASE_ALLOCATION);
}

static void test_go_other_export_drops_meta(void **state)
{
	const char *q[] = {"base:allocation"};
	struct t *t = *state;

	to_tls(t, 3);
	opt_hdr(&t->in, NBD_OPT_STRUCTURED_REPLY, 0);
	opt_meta(&t->in, NBD_OPT_SET_META_CONTEXT, "vm1/disk0", q, 1);
	opt_go(&t->in, NBD_OPT_GO, "vm1/ro@rp1", NULL, 0);
	feed_all(t, GW_HS_READY);
	rep_ack(&t->want, NBD_OPT_STRUCTURED_REPLY);
	rep_meta(&t->want, NBD_OPT_SET_META_CONTEXT, 1);
	rep_ack(&t->want, NBD_OPT_SET_META_CONTEXT);
	rep_info_export(&t->want, NBD_OPT_GO, GIB, TFLAGS_RO | 0x80);
	rep_info_block(&t->want, NBD_OPT_GO, 4096);
	rep_ack(&t->want, NBD_OPT_GO);
	assert_output(t);
	assert_false(gw_hs_base_allocation(t->hs, NULL));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_list),
		T(test_info_and_go),
		T(test_go_read_only),
		T(test_unsupported_options),
		T(test_option_limits),
		T(test_nul_in_name),
		T(test_list_meta_context),
		T(test_meta_lengths),
		T(test_set_meta_context),
		T(test_go_other_export_drops_meta),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
