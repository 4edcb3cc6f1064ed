/* What the handshake tests share: byte buffers, builders of the options a
 * client sends and of the replies it must get back (written here, not
 * with the code under test), and a fake connection around one handshake
 * machine.  Used by test-nbd-handshake.c and test-nbd-options.c.
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

void put(struct bytes *x, const void *p, size_t n)
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

void be(struct bytes *x, uint64_t v, int size)
{
	uint8_t t[8];

	for (int i = 0; i < size; i++)
		t[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
	put(x, t, (size_t)size);
}

void str(struct bytes *x, const char *s)
{
	put(x, s, strlen(s));
}

void fill(struct bytes *x, uint8_t c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(x, &c, 1);
}

void reset(struct bytes *x)
{
	x->n = 0;
}

/* C->S: an option header; the caller appends 'len' payload bytes. */
void opt_hdr(struct bytes *x, uint32_t opt, uint32_t len)
{
	str(x, "IHAVEOPT");
	be(x, opt, 4);
	be(x, len, 4);
}

/* C->S: INFO or GO with a name and info requests. */
void opt_go(struct bytes *x, uint32_t opt, const char *name,
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
void opt_meta(struct bytes *x, uint32_t opt, const char *name, const char **q,
	      int nq)
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
void rep_hdr(struct bytes *x, uint32_t opt, uint32_t type, size_t len)
{
	be(x, 0x0003e889045565a9, 8);
	be(x, opt, 4);
	be(x, type, 4);
	be(x, len, 4);
}

void rep_ack(struct bytes *x, uint32_t opt)
{
	rep_hdr(x, opt, 1, 0);
}

void rep_err(struct bytes *x, uint32_t opt, uint32_t type, const char *msg)
{
	rep_hdr(x, opt, type, strlen(msg));
	str(x, msg);
}

void rep_info_export(struct bytes *x, uint32_t opt, uint64_t size,
		     uint16_t tflags)
{
	rep_hdr(x, opt, 3, 12);
	be(x, 0, 2);
	be(x, size, 8);
	be(x, tflags, 2);
}

void rep_info_block(struct bytes *x, uint32_t opt, uint32_t pref)
{
	rep_hdr(x, opt, 3, 14);
	be(x, 3, 2);
	be(x, 1, 4);
	be(x, pref, 4);
	be(x, 32 * MIB, 4);
}

void rep_info_str(struct bytes *x, uint32_t opt, uint16_t type, const char *s)
{
	rep_hdr(x, opt, 3, 2 + strlen(s));
	be(x, type, 2);
	str(x, s);
}

void rep_meta(struct bytes *x, uint32_t opt, uint32_t id)
{
	rep_hdr(x, opt, 4, 4 + 15);
	be(x, id, 4);
	str(x, "base:allocation");
}

/* ---- fake connection ---- */

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

const struct gw_hs_ops fake_ops = {
	.send = fake_send,
	.list = fake_list,
	.lookup = fake_lookup,
};

int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(gw_hs_new(&fake_ops, &t->f, &t->hs), 0);
	assert_int_equal(gw_hs_start(t->hs), 0);
	*state = t;
	return 0;
}

int teardown(void **state)
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
void feed_expect(struct t *t, enum gw_hs_event ev, size_t consumed)
{
	size_t used = 12345;

	assert_int_equal(gw_hs_feed(t->hs, t->in.b, t->in.n, &used), ev);
	assert_int_equal(used, consumed);
	reset(&t->in);
}

/* The same, when the whole of t->in belongs to the handshake. */
void feed_all(struct t *t, enum gw_hs_event ev)
{
	feed_expect(t, ev, t->in.n);
}

void assert_output(struct t *t)
{
	assert_int_equal(t->f.out.n, t->want.n);
	assert_memory_equal(t->f.out.b, t->want.b, t->want.n);
	reset(&t->f.out);
	reset(&t->want);
}

/* Client flags, STARTTLS, TLS up: the state every post-TLS test needs. */
void to_tls(struct t *t, uint32_t cflags)
{
	reset(&t->f.out);
	be(&t->in, cflags, 4);
	opt_hdr(&t->in, NBD_OPT_STARTTLS, 0);
	feed_expect(t, GW_HS_STARTTLS, 20);
	rep_ack(&t->want, NBD_OPT_STARTTLS);
	assert_output(t);
	gw_hs_tls_up(t->hs);
}
