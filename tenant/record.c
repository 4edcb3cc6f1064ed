/* Encoding and decoding of catalog records; the format is described in
 * record.h.  Writers and readers walk the fields in the same order through
 * a small cursor that remembers the first failure, so each record's
 * function reads like the field list it implements. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "record.h"

#define HDR_LEN 4
#define CRED_F_OPERATOR (1u << 0)

struct wcur {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	int err;
};

struct rcur {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	uint64_t version; /* of the record being read */
	int err;
};

void tenant_rec_put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t tenant_rec_get_be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

void tenant_rec_put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t tenant_rec_get_le64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static void w_bytes(struct wcur *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (w->cap - w->pos < n) {
		w->err = -ENOSPC;
		return;
	}
	memcpy(w->buf + w->pos, p, n);
	w->pos += n;
}

static void w_uint(struct wcur *w, uint64_t v, size_t width)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < width; i++, v >>= 8)
		b[i] = (uint8_t)v;
	w_bytes(w, b, width);
}

/* Strings come from fixed char arrays; one that fills its array without a
 * terminator is a caller bug we refuse instead of reading past it. */
static void w_str(struct wcur *w, const char *s, size_t field_size)
{
	size_t n = strnlen(s, field_size);

	if (n == field_size) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	w_uint(w, n, 2);
	w_bytes(w, s, n);
}

static void w_begin(struct wcur *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->pos = 0;
	w->err = 0;
	w_uint(w, TENANT_REC_VERSION, 2);
	w_uint(w, 0, 2); /* length, patched by w_end() */
}

static int w_end(struct wcur *w, size_t *len)
{
	if (w->err)
		return w->err;
	if (w->pos > UINT16_MAX)
		return -ENOSPC;
	w->buf[2] = (uint8_t)w->pos;
	w->buf[3] = (uint8_t)(w->pos >> 8);
	*len = w->pos;
	return 0;
}

static uint64_t r_uint(struct rcur *r, size_t width)
{
	uint64_t v = 0;
	size_t i;

	if (r->err)
		return 0;
	if (r->len - r->pos < width) {
		r->err = -EIO;
		return 0;
	}
	for (i = width; i > 0; i--)
		v = (v << 8) | r->buf[r->pos + i - 1];
	r->pos += width;
	return v;
}

static void r_bytes(struct rcur *r, void *out, size_t n)
{
	if (r->err)
		return;
	if (r->len - r->pos < n) {
		r->err = -EIO;
		return;
	}
	memcpy(out, r->buf + r->pos, n);
	r->pos += n;
}

/* A string that does not fit its destination, or that hides a NUL, can
 * only come from corruption: our encoders never produce one. */
static void r_str(struct rcur *r, char *out, size_t field_size)
{
	size_t n = (size_t)r_uint(r, 2);

	out[0] = '\0';
	if (r->err)
		return;
	if (n >= field_size || r->len - r->pos < n ||
	    memchr(r->buf + r->pos, '\0', n)) {
		r->err = -EIO;
		return;
	}
	memcpy(out, r->buf + r->pos, n);
	out[n] = '\0';
	r->pos += n;
}

/* Reads the header.  Like every other step of the cursor, a failure is
 * remembered and makes the steps after it do nothing, so a decoder just
 * reads its fields and returns r.err: a record that fails here decodes
 * to all zeros. */
static void r_begin(struct rcur *r, const void *buf, size_t len)
{
	uint64_t version, reclen;

	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->err = 0;
	r->version = 0;
	version = r_uint(r, 2);
	reclen = r_uint(r, 2);
	if (r->err)
		return;
	/* Newer versions only append fields, so any version >= 1 decodes;
	 * the header's length must match what LMDB gave us exactly. */
	if (version < 1 || reclen != len) {
		r->err = -EIO;
		return;
	}
	r->version = version;
}

int tenant_rec_route_encode(const struct tenant_route *rt, uint8_t *buf,
			    size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_str(&w, rt->name, sizeof(rt->name));
	w_str(&w, rt->type, sizeof(rt->type));
	w_str(&w, rt->path, sizeof(rt->path));
	w_str(&w, rt->ceph_conf, sizeof(rt->ceph_conf));
	w_str(&w, rt->pool, sizeof(rt->pool));
	w_str(&w, rt->client_id, sizeof(rt->client_id));
	w_str(&w, rt->keyring, sizeof(rt->keyring));
	return w_end(&w, len);
}

int tenant_rec_route_decode(const void *buf, size_t len,
			    struct tenant_route *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	r_str(&r, out->name, sizeof(out->name));
	r_str(&r, out->type, sizeof(out->type));
	r_str(&r, out->path, sizeof(out->path));
	r_str(&r, out->ceph_conf, sizeof(out->ceph_conf));
	r_str(&r, out->pool, sizeof(out->pool));
	r_str(&r, out->client_id, sizeof(out->client_id));
	r_str(&r, out->keyring, sizeof(out->keyring));
	return r.err;
}

int tenant_rec_tenant_encode(const struct tenant_info *t, uint8_t *buf,
			     size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, t->id, 8);
	w_str(&w, t->name, sizeof(t->name));
	w_str(&w, t->route, sizeof(t->route));
	w_str(&w, t->ns, sizeof(t->ns));
	w_uint(&w, t->state, 4);
	w_uint(&w, t->created, 8);
	/* Version 2. */
	w_uint(&w, t->checkpoint_s, 4);
	return w_end(&w, len);
}

int tenant_rec_tenant_decode(const void *buf, size_t len,
			     struct tenant_info *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->id = r_uint(&r, 8);
	r_str(&r, out->name, sizeof(out->name));
	r_str(&r, out->route, sizeof(out->route));
	r_str(&r, out->ns, sizeof(out->ns));
	out->state = (uint32_t)r_uint(&r, 4);
	out->created = r_uint(&r, 8);
	/* A version 1 record ends here and keeps the defaults (0); a newer
	 * one that ends here was truncated. */
	if (r.version >= 2)
		out->checkpoint_s = (uint32_t)r_uint(&r, 4);
	return r.err;
}

int tenant_rec_cred_encode(const struct tenant_cred *c, uint8_t *buf,
			   size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_bytes(&w, c->pin, TENANT_PIN_LEN);
	w_uint(&w, c->tenant_id, 8);
	w_uint(&w, c->operator_role ? CRED_F_OPERATOR : 0, 4);
	w_str(&w, c->site, sizeof(c->site));
	w_uint(&w, c->serial, 8);
	w_uint(&w, c->issued, 8);
	w_uint(&w, c->not_after, 8);
	return w_end(&w, len);
}

int tenant_rec_cred_decode(const void *buf, size_t len, struct tenant_cred *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	r_bytes(&r, out->pin, TENANT_PIN_LEN);
	out->tenant_id = r_uint(&r, 8);
	out->operator_role = (r_uint(&r, 4) & CRED_F_OPERATOR) != 0;
	r_str(&r, out->site, sizeof(out->site));
	out->serial = r_uint(&r, 8);
	out->issued = r_uint(&r, 8);
	out->not_after = r_uint(&r, 8);
	return r.err;
}

int tenant_rec_disk_encode(const struct tenant_disk *d, uint8_t *buf,
			   size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, d->id, 8);
	w_uint(&w, d->tenant_id, 8);
	w_str(&w, d->vm, sizeof(d->vm));
	w_str(&w, d->name, sizeof(d->name));
	w_uint(&w, d->size, 8);
	w_uint(&w, d->extent_size, 4);
	w_uint(&w, d->created, 8);
	/* Version 2. */
	w_uint(&w, d->checkpoint_s, 4);
	w_uint(&w, d->snap_seq, 8);
	return w_end(&w, len);
}

int tenant_rec_disk_decode(const void *buf, size_t len, struct tenant_disk *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->id = r_uint(&r, 8);
	out->tenant_id = r_uint(&r, 8);
	r_str(&r, out->vm, sizeof(out->vm));
	r_str(&r, out->name, sizeof(out->name));
	out->size = r_uint(&r, 8);
	out->extent_size = (uint32_t)r_uint(&r, 4);
	out->created = r_uint(&r, 8);
	if (r.version >= 2) {
		out->checkpoint_s = (uint32_t)r_uint(&r, 4);
		out->snap_seq = r_uint(&r, 8);
	}
	return r.err;
}

/* Restore points and requests appeared in version 2: every field is
 * there from the start. */
int tenant_rec_rp_encode(const struct tenant_rp *rp, uint8_t *buf, size_t cap,
			 size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, rp->disk_id, 8);
	w_uint(&w, rp->id, 8);
	w_uint(&w, rp->snap_id, 8);
	w_uint(&w, rp->created_ms, 8);
	w_uint(&w, rp->trigger, 4);
	w_uint(&w, rp->size, 8);
	w_uint(&w, rp->bytes_changed, 8);
	w_uint(&w, rp->group, 8);
	w_str(&w, rp->name, sizeof(rp->name));
	/* Version 3. */
	w_uint(&w, rp->pins, 4);
	return w_end(&w, len);
}

int tenant_rec_rp_decode(const void *buf, size_t len, struct tenant_rp *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->disk_id = r_uint(&r, 8);
	out->id = r_uint(&r, 8);
	out->snap_id = r_uint(&r, 8);
	out->created_ms = r_uint(&r, 8);
	out->trigger = (uint32_t)r_uint(&r, 4);
	out->size = r_uint(&r, 8);
	out->bytes_changed = r_uint(&r, 8);
	out->group = r_uint(&r, 8);
	r_str(&r, out->name, sizeof(out->name));
	if (r.version >= 3)
		out->pins = (uint32_t)r_uint(&r, 4);
	return r.err;
}

int tenant_rec_req_encode(const struct tenant_req *q, uint8_t *buf, size_t cap,
			  size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, q->id, 8);
	w_uint(&w, q->type, 4);
	w_uint(&w, q->state, 4);
	w_uint(&w, q->created_ms, 8);
	w_uint(&w, q->tenant_id, 8);
	w_str(&w, q->vm, sizeof(q->vm));
	w_uint(&w, q->disk_id, 8);
	w_uint(&w, q->rp_id, 8);
	w_uint(&w, q->size, 8);
	w_str(&w, q->name, sizeof(q->name));
	/* Two's complement on the wire, like every other field. */
	w_uint(&w, (uint32_t)q->error, 4);
	w_str(&w, q->message, sizeof(q->message));
	return w_end(&w, len);
}

int tenant_rec_req_decode(const void *buf, size_t len, struct tenant_req *out)
{
	struct rcur r;
	uint32_t err;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->id = r_uint(&r, 8);
	out->type = (uint32_t)r_uint(&r, 4);
	out->state = (uint32_t)r_uint(&r, 4);
	out->created_ms = r_uint(&r, 8);
	out->tenant_id = r_uint(&r, 8);
	r_str(&r, out->vm, sizeof(out->vm));
	out->disk_id = r_uint(&r, 8);
	out->rp_id = r_uint(&r, 8);
	out->size = r_uint(&r, 8);
	r_str(&r, out->name, sizeof(out->name));
	err = (uint32_t)r_uint(&r, 4);
	out->error = err > INT32_MAX ? -(int32_t)(UINT32_MAX - err) - 1
				     : (int32_t)err;
	r_str(&r, out->message, sizeof(out->message));
	return r.err;
}

/* Policies, tests and failovers appeared in version 3. */
int tenant_rec_policy_encode(const struct tenant_rec_policy *p, uint8_t *buf,
			     size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_str(&w, p->policy, sizeof(p->policy));
	w_uint(&w, p->immutable_days, 4);
	return w_end(&w, len);
}

int tenant_rec_policy_decode(const void *buf, size_t len,
			     struct tenant_rec_policy *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	r_str(&r, out->policy, sizeof(out->policy));
	out->immutable_days = (uint32_t)r_uint(&r, 4);
	return r.err;
}

/* The disks of a test or failover: a count, then that many triples.  A
 * count beyond the array can only be corruption. */
#define DR_DISKS_MAX 16

static void w_dr_disks(struct wcur *w, uint32_t n, const uint64_t (*d)[3])
{
	uint32_t i;

	if (n > DR_DISKS_MAX) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	w_uint(w, n, 4);
	for (i = 0; i < n; i++) {
		w_uint(w, d[i][0], 8);
		w_uint(w, d[i][1], 8);
		w_uint(w, d[i][2], 8);
	}
}

static uint32_t r_dr_disks(struct rcur *r, uint64_t (*d)[3])
{
	uint32_t n = (uint32_t)r_uint(r, 4), i;

	if (r->err)
		return 0;
	if (n > DR_DISKS_MAX) {
		r->err = -EIO;
		return 0;
	}
	for (i = 0; i < n; i++) {
		d[i][0] = r_uint(r, 8);
		d[i][1] = r_uint(r, 8);
		d[i][2] = r_uint(r, 8);
	}
	return n;
}

/* The disks arrays of tests and failovers are {disk_id, rp_id, clone_id}
 * triples of u64; copying them through a plain array keeps one codec. */
static void disks_out(uint64_t (*d)[3], const void *src, uint32_t n)
{
	memcpy(d, src, (size_t)n * sizeof(d[0]));
}

int tenant_rec_test_encode(const struct tenant_test *t, uint8_t *buf,
			   size_t cap, size_t *len)
{
	uint64_t d[DR_DISKS_MAX][3];
	struct wcur w;

	_Static_assert(sizeof(t->disks) == sizeof(d), "disk triples");
	disks_out(d, t->disks, DR_DISKS_MAX);
	w_begin(&w, buf, cap);
	w_uint(&w, t->id, 8);
	w_uint(&w, t->tenant_id, 8);
	w_str(&w, t->vm, sizeof(t->vm));
	w_uint(&w, t->state, 4);
	w_uint(&w, t->started_ms, 8);
	w_uint(&w, t->stopped_ms, 8);
	w_uint(&w, t->rp_created_ms, 8);
	w_uint(&w, t->bytes_written, 8);
	w_dr_disks(&w, t->ndisks, d);
	w_str(&w, t->note, sizeof(t->note));
	return w_end(&w, len);
}

int tenant_rec_test_decode(const void *buf, size_t len, struct tenant_test *out)
{
	uint64_t d[DR_DISKS_MAX][3] = {{0}};
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->id = r_uint(&r, 8);
	out->tenant_id = r_uint(&r, 8);
	r_str(&r, out->vm, sizeof(out->vm));
	out->state = (uint32_t)r_uint(&r, 4);
	out->started_ms = r_uint(&r, 8);
	out->stopped_ms = r_uint(&r, 8);
	out->rp_created_ms = r_uint(&r, 8);
	out->bytes_written = r_uint(&r, 8);
	out->ndisks = r_dr_disks(&r, d);
	r_str(&r, out->note, sizeof(out->note));
	memcpy(out->disks, d, sizeof(out->disks));
	return r.err;
}

int tenant_rec_failover_encode(const struct tenant_failover *f, uint8_t *buf,
			       size_t cap, size_t *len)
{
	uint64_t d[DR_DISKS_MAX][3];
	struct wcur w;

	_Static_assert(sizeof(f->disks) == sizeof(d), "disk triples");
	disks_out(d, f->disks, DR_DISKS_MAX);
	w_begin(&w, buf, cap);
	w_uint(&w, f->tenant_id, 8);
	w_str(&w, f->vm, sizeof(f->vm));
	w_uint(&w, f->promoted_ms, 8);
	w_dr_disks(&w, f->ndisks, d);
	return w_end(&w, len);
}

int tenant_rec_failover_decode(const void *buf, size_t len,
			       struct tenant_failover *out)
{
	uint64_t d[DR_DISKS_MAX][3] = {{0}};
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->tenant_id = r_uint(&r, 8);
	r_str(&r, out->vm, sizeof(out->vm));
	out->promoted_ms = r_uint(&r, 8);
	out->ndisks = r_dr_disks(&r, d);
	memcpy(out->disks, d, sizeof(out->disks));
	return r.err;
}

/* Limits, usage and disk bandwidth appeared with catalog schema 4 as new
 * record types (record version 3 headers): every field is there from the
 * start, and later fields will be appended as usual. */
int tenant_rec_limits_encode(const struct tenant_limits *l, uint8_t *buf,
			     size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, l->max_provisioned, 8);
	w_uint(&w, l->max_stored, 8);
	w_uint(&w, l->max_disks, 4);
	w_uint(&w, l->max_sessions, 4);
	w_uint(&w, l->bandwidth, 8);
	w_uint(&w, l->weight, 4);
	w_uint(&w, l->lease_until, 8);
	return w_end(&w, len);
}

int tenant_rec_limits_decode(const void *buf, size_t len,
			     struct tenant_limits *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->max_provisioned = r_uint(&r, 8);
	out->max_stored = r_uint(&r, 8);
	out->max_disks = (uint32_t)r_uint(&r, 4);
	out->max_sessions = (uint32_t)r_uint(&r, 4);
	out->bandwidth = r_uint(&r, 8);
	out->weight = (uint32_t)r_uint(&r, 4);
	out->lease_until = r_uint(&r, 8);
	return r.err;
}

int tenant_rec_usage_encode(const struct tenant_rec_usage *u, uint8_t *buf,
			    size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, u->stored_bytes, 8);
	w_uint(&w, u->measured_ms, 8);
	return w_end(&w, len);
}

int tenant_rec_usage_decode(const void *buf, size_t len,
			    struct tenant_rec_usage *out)
{
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	out->stored_bytes = r_uint(&r, 8);
	out->measured_ms = r_uint(&r, 8);
	return r.err;
}

int tenant_rec_bandwidth_encode(uint64_t bw, uint8_t *buf, size_t cap,
				size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, bw, 8);
	return w_end(&w, len);
}

int tenant_rec_bandwidth_decode(const void *buf, size_t len, uint64_t *out)
{
	struct rcur r;

	*out = 0;
	r_begin(&r, buf, len);
	*out = r_uint(&r, 8);
	return r.err;
}

int tenant_rec_audit_encode(const struct tenant_audit *e, uint8_t *buf,
			    size_t cap, size_t *len)
{
	struct wcur w;

	w_begin(&w, buf, cap);
	w_uint(&w, e->seq, 8);
	w_uint(&w, e->time_ms, 8);
	w_str(&w, e->actor, sizeof(e->actor));
	w_str(&w, e->tenant, sizeof(e->tenant));
	w_str(&w, e->action, sizeof(e->action));
	w_str(&w, e->result, sizeof(e->result));
	w_str(&w, e->detail, sizeof(e->detail));
	w_bytes(&w, e->prev, sizeof(e->prev));
	w_bytes(&w, e->hash, sizeof(e->hash));
	return w_end(&w, len);
}

int tenant_rec_audit_decode(const void *buf, size_t len,
			    struct tenant_audit *out)
{
	const size_t chain = 2 * TENANT_AUDIT_HASH_LEN;
	const uint8_t *b = buf;
	struct rcur r;

	memset(out, 0, sizeof(*out));
	r_begin(&r, buf, len);
	if (r.err)
		return r.err;
	if (len < HDR_LEN + chain)
		return -EIO;
	/* The fields end where the chain begins. */
	r.len = len - chain;
	out->seq = r_uint(&r, 8);
	out->time_ms = r_uint(&r, 8);
	r_str(&r, out->actor, sizeof(out->actor));
	r_str(&r, out->tenant, sizeof(out->tenant));
	r_str(&r, out->action, sizeof(out->action));
	r_str(&r, out->result, sizeof(out->result));
	r_str(&r, out->detail, sizeof(out->detail));
	memcpy(out->prev, b + len - chain, TENANT_AUDIT_HASH_LEN);
	memcpy(out->hash, b + len - TENANT_AUDIT_HASH_LEN,
	       TENANT_AUDIT_HASH_LEN);
	return r.err;
}
