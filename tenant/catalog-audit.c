/* The audit trail: an append-only, hash-chained log in the catalog.
 *
 * Database "audit" maps a big-endian sequence number (1, 2, ...) to an
 * entry record (record.c).  Each entry holds the hash of the entry before
 * it (zeros for entry 1) and its own hash, the SHA-256 of every byte of
 * its record before the hash field, so changing any field of an entry
 * breaks its own hash, and recomputing that hash breaks the link from the
 * next entry.  The meta key "audit_head" holds the count and the hash of
 * the newest entry: removing entries from the end leaves the head pointing
 * past them, which verification reports.  Someone who can write the
 * catalog can still rebuild the whole chain; the head hash that
 * `havenctl audit --verify` prints is what to keep elsewhere to catch
 * that.
 *
 * Appends never refuse because of what earlier entries look like: a log
 * that was tampered with keeps taking entries (after the highest seq it
 * has, linked to the head), and verification names the damage.  The only
 * reasons an append fails are the catalog's own (map full, I/O), and then
 * the change it records fails with it (tenant_audit_attach).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

static const char K_HEAD[] = "audit_head";
#define HEAD_LEN (8 + TENANT_AUDIT_HASH_LEN)
#define SEQ_KEY_LEN 8

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tenant_audit_cut(char *s, size_t cap, size_t whole)
{
	static const char mark[] = "... (%zu more bytes)";
	size_t keep;
	char room[64];

	if (whole < cap)
		return;
	/* Room for the mark with the most digits N can have. */
	keep = cap - 1 - (size_t)snprintf(room, sizeof(room), mark, whole);
	while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80)
		keep--;
	snprintf(s + keep, cap - keep, mark, whole - keep);
}

static int sha256(const void *data, size_t len,
		  uint8_t out[TENANT_AUDIT_HASH_LEN])
{
	unsigned int n = 0;

	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) ||
	    n != TENANT_AUDIT_HASH_LEN)
		return -EIO;
	return 0;
}

/* The head: count and hash of the newest entry.  found false (and zeros)
 * when the log never had one. */
struct head {
	bool found;
	uint64_t count;
	uint8_t hash[TENANT_AUDIT_HASH_LEN];
};

static int head_get(struct tenant_txn *txn, struct head *h)
{
	struct tenant_val v;
	int rc;

	memset(h, 0, sizeof(*h));
	rc = tenant_db_get(txn, TENANT_DB_META, K_HEAD, strlen(K_HEAD), &v);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (v.len != HEAD_LEN)
		return -EIO;
	h->found = true;
	h->count = tenant_rec_get_le64(v.data);
	memcpy(h->hash, (const uint8_t *)v.data + 8, TENANT_AUDIT_HASH_LEN);
	return 0;
}

static int head_put(struct tenant_txn *txn, uint64_t count,
		    const uint8_t hash[TENANT_AUDIT_HASH_LEN])
{
	uint8_t b[HEAD_LEN];

	tenant_rec_put_le64(b, count);
	memcpy(b + 8, hash, TENANT_AUDIT_HASH_LEN);
	return tenant_db_put(txn, TENANT_DB_META, K_HEAD, strlen(K_HEAD), b,
			     sizeof(b), 0);
}

/* Where the next entry goes: after the highest of the head's count and
 * the last key, linked to whichever of the two is newer. */
static int next_link(struct tenant_txn *txn, uint64_t *seq,
		     uint8_t prev[TENANT_AUDIT_HASH_LEN])
{
	struct tenant_val k, v;
	struct head h;
	uint64_t last = 0;
	int rc;

	/* A damaged head counts as none: the last entry still links on. */
	rc = head_get(txn, &h);
	if (rc == -EIO)
		memset(&h, 0, sizeof(h));
	else if (rc)
		return rc;
	*seq = h.count + 1;
	memcpy(prev, h.hash, TENANT_AUDIT_HASH_LEN);
	rc = tenant_db_last(txn, TENANT_DB_AUDIT, &k, &v);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (k.len == SEQ_KEY_LEN)
		last = tenant_rec_get_be64(k.data);
	if (last >= *seq && v.len >= TENANT_AUDIT_HASH_LEN) {
		*seq = last + 1;
		memcpy(prev,
		       (const uint8_t *)v.data + v.len - TENANT_AUDIT_HASH_LEN,
		       TENANT_AUDIT_HASH_LEN);
	}
	return 0;
}

int tenant_txn_audit_append(struct tenant_txn *txn, struct tenant_audit *e)
{
	uint8_t buf[TENANT_REC_MAX], key[SEQ_KEY_LEN];
	size_t len;
	int rc;

	rc = next_link(txn, &e->seq, e->prev);
	if (rc)
		return rc;
	if (!e->time_ms)
		e->time_ms = now_ms();
	memset(e->hash, 0, sizeof(e->hash));
	rc = tenant_rec_audit_encode(e, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	rc = sha256(buf, len - TENANT_AUDIT_HASH_LEN, e->hash);
	if (rc)
		return rc;
	memcpy(buf + len - TENANT_AUDIT_HASH_LEN, e->hash,
	       TENANT_AUDIT_HASH_LEN);
	tenant_rec_put_be64(key, e->seq);
	rc = tenant_db_put(txn, TENANT_DB_AUDIT, key, sizeof(key), buf, len,
			   TENANT_DB_NOOVERWRITE);
	return rc ? rc : head_put(txn, e->seq, e->hash);
}

static int append_fn(struct tenant_txn *txn, void *arg)
{
	return tenant_txn_audit_append(txn, arg);
}

int tenant_audit_append(struct tenant_catalog *cat, struct tenant_audit *e)
{
	if (!cat || !e)
		return -EINVAL;
	return tenant_cat_write_nogen(cat, append_fn, e);
}

/* ---- listing ---- */

struct list_arg {
	const struct tenant_audit_filter *f;
	struct tenant_vec v;
};

static int list_one(const struct tenant_val *k, const struct tenant_val *val,
		    void *arg)
{
	struct list_arg *a = arg;
	struct tenant_audit *e;
	void *p;
	int rc;

	(void)k;
	if (a->v.n == a->v.cap) {
		size_t cap = a->v.cap ? a->v.cap * 2 : 64;

		p = realloc(a->v.items, cap * sizeof(*e));
		if (!p)
			return -ENOMEM;
		a->v.items = p;
		a->v.cap = cap;
	}
	e = (struct tenant_audit *)a->v.items + a->v.n;
	rc = tenant_rec_audit_decode(val->data, val->len, e);
	if (rc)
		return rc;
	if (a->f && a->f->since_ms && e->time_ms < a->f->since_ms)
		return 0;
	if (a->f && a->f->tenant && strcmp(e->tenant, a->f->tenant) != 0)
		return 0;
	a->v.n++;
	return 0;
}

static int list_fn(struct tenant_txn *txn, void *arg)
{
	return tenant_db_scan(txn, TENANT_DB_AUDIT, NULL, 0, list_one, arg);
}

int tenant_audit_list(struct tenant_catalog *cat,
		      const struct tenant_audit_filter *f,
		      int (*cb)(const struct tenant_audit *e, void *arg),
		      void *arg)
{
	struct list_arg a = {.f = f,
			     .v = {.size = sizeof(struct tenant_audit)}};
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	rc = tenant_cat_read(cat, list_fn, &a);
	for (i = 0; !rc && i < a.v.n; i++)
		rc = cb((struct tenant_audit *)a.v.items + i, arg);
	free(a.v.items);
	return rc;
}

/* ---- verification ---- */

struct walk {
	struct tenant_audit_check *out;
	uint8_t prev[TENANT_AUDIT_HASH_LEN];
};

/* Stops the walk at entry seq with a reason. */
static int broken(struct walk *w, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int broken(struct walk *w, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	w->out->ok = false;
	w->out->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(w->out->why, sizeof(w->out->why), fmt, ap);
	va_end(ap);
	return 1;
}

static int check_one(const struct tenant_val *k, const struct tenant_val *v,
		     void *arg)
{
	struct walk *w = arg;
	uint64_t want = w->out->count + 1, seq;
	uint8_t h[TENANT_AUDIT_HASH_LEN];
	struct tenant_audit e;
	int rc;

	if (k->len != SEQ_KEY_LEN)
		return broken(w, want, "a key that is not a sequence number");
	seq = tenant_rec_get_be64(k->data);
	if (seq != want)
		return broken(w, want,
			      "missing (the next entry is %" PRIu64 ")", seq);
	if (tenant_rec_audit_decode(v->data, v->len, &e))
		return broken(w, seq, "record does not decode");
	if (e.seq != seq)
		return broken(w, seq, "holds entry %" PRIu64 " (moved)", e.seq);
	rc = sha256(v->data, v->len - TENANT_AUDIT_HASH_LEN, h);
	if (rc)
		return rc;
	if (memcmp(h, e.hash, sizeof(h)) != 0)
		return broken(w, seq, "hash mismatch (modified)");
	if (memcmp(e.prev, w->prev, sizeof(e.prev)) != 0)
		return broken(w, seq,
			      "does not follow entry %" PRIu64
			      " (previous hash differs)",
			      seq - 1);
	memcpy(w->prev, e.hash, sizeof(w->prev));
	w->out->count = seq;
	return 0;
}

/* The head must name the newest entry the walk found. */
static void check_head(struct walk *w, const struct head *h)
{
	struct tenant_audit_check *out = w->out;

	if (!h->found) {
		if (out->count)
			broken(w, out->count, "head record missing");
	} else if (h->count > out->count) {
		broken(w, out->count + 1,
		       "missing: the head says the log has %" PRIu64
		       " entries (tail cut off)",
		       h->count);
	} else if (h->count < out->count) {
		broken(w, h->count + 1,
		       "beyond the head, which says the log has %" PRIu64
		       " entries",
		       h->count);
	} else if (memcmp(h->hash, w->prev, sizeof(h->hash)) != 0) {
		broken(w, out->count, "does not match the head's hash");
	}
}

static int verify_fn(struct tenant_txn *txn, void *arg)
{
	struct tenant_audit_check *out = arg;
	struct walk w = {.out = out};
	struct head h;
	int rc;

	rc = tenant_db_scan(txn, TENANT_DB_AUDIT, NULL, 0, check_one, &w);
	memcpy(out->head, w.prev, sizeof(out->head));
	if (rc)
		return rc < 0 ? rc : 0;
	rc = head_get(txn, &h);
	if (rc == -EIO) {
		broken(&w, out->count + 1, "head record damaged");
		return 0;
	}
	if (rc)
		return rc;
	check_head(&w, &h);
	return 0;
}

int tenant_audit_verify(struct tenant_catalog *cat,
			struct tenant_audit_check *out)
{
	if (!cat || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->ok = true;
	return tenant_cat_read(cat, verify_fn, out);
}
