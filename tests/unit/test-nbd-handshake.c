/* The handshake machine driven with byte transcripts, as a client would
 * send them.  Every test compares the exact bytes the client would
 * receive; expected replies are built here with local helpers, not with
 * the code under test.
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

#include "nbd.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (1u << 20)
/* Transmission flags haven advertises, without and with SEND_DF. */
#define TFLAGS 0x0d6d
#define TFLAGS_DF 0x0ded
#define TFLAGS_RO 0x0d6f
#define TLS_REQD_MSG "TLS is required: send NBD_OPT_STARTTLS first"

/* ---- byte buffers ---- */

struct bytes {
	uint8_t *b;
	size_t n, cap;
};

static void put(struct bytes *x, const void *p, size_t n)
{
	if (x->n + n > x->cap) {
		x->cap = (x->n + n) * 2 + 64;
		x->b = realloc(x->b, x->cap);
		assert_non_null(x->b);
	}
	if (n)
		memcpy(x->b + x->n, p, n);
	x->n += n;
}

static void be(struct bytes *x, uint64_t v, int size)
{
	uint8_t t[8];

	for (int i = 0; i < size; i++)
		t[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
	put(x, t, (size_t)size);
}

static void str(struct bytes *x, const char *s)
{
	put(x, s, strlen(s));
}

static void fill(struct bytes *x, uint8_t c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(x, &c, 1);
}

static void reset(struct bytes *x)
{
	x->n = 0;
}

/* C->S: an option header; the caller appends 'len' payload bytes. */
static void opt_hdr(struct bytes *x, uint32_t opt, uint32_t len)
{
	str(x, "IHAVEOPT");
	be(x, opt, 4);
	be(x, len, 4);
}

/* C->S: INFO or GO with a name and info requests. */
static void opt_go(struct bytes *x, uint32_t opt, const char *name,
		   const uint16_t *req, int nreq)
{
	opt_hdr(x, opt, (uint32_t)(4 + strlen(name) + 2 + 2 * nreq));
	be(x, strlen(name), 4);
	str(x, name);
	be(x, (uint64_t)nreq, 2);
	for (int i = 0; i < nreq; i++)
		be(x, req[i], 2);
}

/* C->S: LIST_META_CONTEXT / SET_META_CONTEXT. */
static void opt_meta(struct bytes *x, uint32_t opt, const char *name,
		     const char **q, int nq)
{
	size_t len = 4 + strlen(name) + 4;

	for (int i = 0; i < nq; i++)
		len += 4 + strlen(q[i]);
	opt_hdr(x, opt, (uint32_t)len);
	be(x, strlen(name), 4);
	str(x, name);
	be(x, (uint64_t)nq, 4);
	for (int i = 0; i < nq; i++) {
		be(x, strlen(q[i]), 4);
		str(x, q[i]);
	}
}

/* S->C: an option reply header. */
static void rep_hdr(struct bytes *x, uint32_t opt, uint32_t type, size_t len)
{
	be(x, 0x0003e889045565a9, 8);
	be(x, opt, 4);
	be(x, type, 4);
	be(x, len, 4);
}

static void rep_ack(struct bytes *x, uint32_t opt)
{
	rep_hdr(x, opt, 1, 0);
}

static void rep_err(struct bytes *x, uint32_t opt, uint32_t type,
		    const char *msg)
{
	rep_hdr(x, opt, type, strlen(msg));
	str(x, msg);
}

static void rep_info_export(struct bytes *x, uint32_t opt, uint64_t size,
			    uint16_t tflags)
{
	rep_hdr(x, opt, 3, 12);
	be(x, 0, 2);
	be(x, size, 8);
	be(x, tflags, 2);
}

static void rep_info_block(struct bytes *x, uint32_t opt, uint32_t pref)
{
	rep_hdr(x, opt, 3, 14);
	be(x, 3, 2);
	be(x, 1, 4);
	be(x, pref, 4);
	be(x, 32 * MIB, 4);
}

static void rep_info_str(struct bytes *x, uint32_t opt, uint16_t type,
			 const char *s)
{
	rep_hdr(x, opt, 3, 2 + strlen(s));
	be(x, type, 2);
	str(x, s);
}

static void rep_meta(struct bytes *x, uint32_t opt, uint32_t id)
{
	rep_hdr(x, opt, 4, 4 + 15);
	be(x, id, 4);
	str(x, "base:allocation");
}

/* ---- fake connection ---- */

struct fake {
	struct bytes out;
	int fail_send;
	int lookups;
	bool last_go;
};

static int fake_send(void *arg, const void *buf, size_t len)
{
	struct fake *f = arg;

	if (f->fail_send)
		return -EPIPE;
	put(&f->out, buf, len);
	return 0;
}

static uint32_t fake_list(void *arg, struct gw_hs *hs,
			  int (*emit)(struct gw_hs *hs, const char *name,
				      const char *desc))
{
	(void)arg;
	if (emit(hs, "vm1/disk0", "live disk") < 0 ||
	    emit(hs, "vm1/ro@rp1", NULL) < 0)
		return NBD_REP_ERR_PLATFORM;
	return 0;
}

static uint32_t fake_lookup(void *arg, const char *name, bool go,
			    struct gw_export *exp, char *msg, size_t msglen)
{
	struct fake *f = arg;

	f->lookups++;
	f->last_go = go;
	if (strcmp(name, "vm1/disk0") == 0) {
		exp->size = GIB;
		exp->pref_block = 4 * MIB;
		snprintf(exp->description, sizeof(exp->description),
			 "live disk");
		return 0;
	}
	if (strcmp(name, "vm1/ro@rp1") == 0) {
		exp->size = GIB;
		exp->read_only = true;
		return 0; /* no preferred size: the default 4096 applies */
	}
	snprintf(msg, msglen, "export not present");
	return NBD_REP_ERR_UNKNOWN;
}

static const struct gw_hs_ops fake_ops = {
	.send = fake_send,
	.list = fake_list,
	.lookup = fake_lookup,
};

struct t {
	struct fake f;
	struct gw_hs *hs;
	struct bytes in, want;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(gw_hs_new(&fake_ops, &t->f, &t->hs), 0);
	assert_int_equal(gw_hs_start(t->hs), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	gw_hs_free(t->hs);
	free(t->f.out.b);
	free(t->in.b);
	free(t->want.b);
	free(t);
	return 0;
}

/* Feeds t->in whole and checks the event and how much was used. */
static void feed_expect(struct t *t, enum gw_hs_event ev, size_t consumed)
{
	size_t used = 12345;

	assert_int_equal(gw_hs_feed(t->hs, t->in.b, t->in.n, &used), ev);
	assert_int_equal(used, consumed);
	reset(&t->in);
}

/* The same, when the whole of t->in belongs to the handshake. */
static void feed_all(struct t *t, enum gw_hs_event ev)
{
	feed_expect(t, ev, t->in.n);
}

static void assert_output(struct t *t)
{
	assert_int_equal(t->f.out.n, t->want.n);
	assert_memory_equal(t->f.out.b, t->want.b, t->want.n);
	reset(&t->f.out);
	reset(&t->want);
}

/* Client flags, STARTTLS, TLS up: the state every post-TLS test needs. */
static void to_tls(struct t *t, uint32_t cflags)
{
	reset(&t->f.out);
	be(&t->in, cflags, 4);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	feed_expect(t, GW_HS_STARTTLS, 20);
	rep_ack(&t->want, NBD_OPT_STARTTLS);
	assert_output(t);
	gw_hs_tls_up(t->hs);
}

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
		T(test_list),
		T(test_info_and_go),
		T(test_go_read_only),
		T(test_unsupported_options),
		T(test_option_limits),
		T(test_option_too_long_before_tls),
		T(test_nul_in_name),
		T(test_list_meta_context),
		T(test_meta_lengths),
		T(test_set_meta_context),
		T(test_go_other_export_drops_meta),
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
