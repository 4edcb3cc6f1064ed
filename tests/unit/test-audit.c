/* The audit trail in the catalog: appends chain by hash and list in order
 * with their filters; an entry attached to a change is committed with it
 * or not at all; verification passes on an intact log and names the first
 * bad entry when one was modified (with or without a recomputed hash),
 * removed from the middle or the end, or moved, the tampering done with
 * raw LMDB as an attacker with the file would, or its head damaged;
 * appends go on after tampering; a catalog without the audit database
 * (made by an older binary) gets one at open and keeps its schema
 * version. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <lmdb.h>
#include <openssl/evp.h>

#include "record.h"
#include "fixture-catalog.h"

struct fixture {
	char dir[FIXTURE_DIR_LEN];
	char cat_dir[FIXTURE_CAT_DIR_LEN];
	struct tenant_catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_catalog_open("test-audit", f->dir, f->cat_dir, &f->cat);
	fixture_route_add(f->cat, "default");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_catalog_close(f->dir, f->cat);
	free(f);
	return 0;
}

static void entry(struct tenant_audit *e, const char *tenant,
		  const char *action, const char *detail)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->actor, sizeof(e->actor), "havenctl:test(1000)");
	snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
	snprintf(e->action, sizeof(e->action), "%s", action);
	snprintf(e->result, sizeof(e->result), "ok");
	snprintf(e->detail, sizeof(e->detail), "%s", detail);
}

static void append(struct tenant_catalog *cat, const char *tenant,
		   const char *action, const char *detail,
		   struct tenant_audit *out)
{
	struct tenant_audit e;

	entry(&e, tenant, action, detail);
	assert_int_equal(tenant_audit_append(cat, &e), 0);
	if (out)
		*out = e;
}

/* Entries 1..3: tenant.add acme, cert.issue acme, auth.fail. */
static void append3(struct tenant_catalog *cat, struct tenant_audit *e)
{
	append(cat, "acme", "tenant.add", "tenant add acme", &e[0]);
	append(cat, "acme", "cert.issue", "cert issue acme --site hq", &e[1]);
	append(cat, "", "auth.fail", "peer=127.0.0.1 reason=unknown", &e[2]);
}

struct listing {
	struct tenant_audit e[16];
	size_t n;
};

static int collect(const struct tenant_audit *e, void *arg)
{
	struct listing *l = arg;

	if (l->n < 16)
		l->e[l->n] = *e;
	l->n++;
	return 0;
}

static size_t list(struct tenant_catalog *cat, uint64_t since,
		   const char *tenant, struct listing *l)
{
	struct tenant_audit_filter f = {.since_ms = since, .tenant = tenant};

	memset(l, 0, sizeof(*l));
	assert_int_equal(tenant_audit_list(cat, &f, collect, l), 0);
	return l->n;
}

static struct tenant_audit_check verify(struct tenant_catalog *cat)
{
	struct tenant_audit_check c;

	assert_int_equal(tenant_audit_verify(cat, &c), 0);
	return c;
}

static void test_append_and_verify(void **state)
{
	struct fixture *f = *state;
	struct tenant_audit e[3], zero = {0};
	struct tenant_audit_check c;
	struct listing l;
	uint64_t gen0, gen1;

	c = verify(f->cat);
	assert_true(c.ok);
	assert_int_equal(c.count, 0);

	assert_int_equal(tenant_catalog_generation(f->cat, &gen0), 0);
	append3(f->cat, e);
	/* The log's own appends are no change havend must react to. */
	assert_int_equal(tenant_catalog_generation(f->cat, &gen1), 0);
	assert_int_equal(gen0, gen1);

	assert_int_equal(e[0].seq, 1);
	assert_int_equal(e[2].seq, 3);
	assert_memory_equal(e[0].prev, zero.prev, sizeof(zero.prev));
	assert_memory_equal(e[1].prev, e[0].hash, sizeof(e[0].hash));
	assert_memory_equal(e[2].prev, e[1].hash, sizeof(e[1].hash));
	assert_true(e[0].time_ms > 1700000000000ull);

	assert_int_equal(list(f->cat, 0, NULL, &l), 3);
	assert_string_equal(l.e[0].action, "tenant.add");
	assert_string_equal(l.e[1].detail, "cert issue acme --site hq");
	assert_string_equal(l.e[2].action, "auth.fail");
	assert_string_equal(l.e[2].tenant, "");
	assert_string_equal(l.e[1].actor, "havenctl:test(1000)");
	assert_memory_equal(l.e[2].hash, e[2].hash, sizeof(e[2].hash));

	c = verify(f->cat);
	assert_true(c.ok);
	assert_int_equal(c.count, 3);
	assert_memory_equal(c.head, e[2].hash, sizeof(c.head));

	/* A reopened catalog continues the chain. */
	tenant_catalog_close(f->cat);
	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	append(f->cat, "globex", "tenant.add", "tenant add globex", &e[0]);
	assert_int_equal(e[0].seq, 4);
	assert_memory_equal(e[0].prev, e[2].hash, sizeof(e[2].hash));
	c = verify(f->cat);
	assert_true(c.ok);
	assert_int_equal(c.count, 4);
}

static void test_filters(void **state)
{
	struct fixture *f = *state;
	struct tenant_audit e;
	struct listing l;

	entry(&e, "acme", "tenant.add", "old");
	e.time_ms = 1000;
	assert_int_equal(tenant_audit_append(f->cat, &e), 0);
	entry(&e, "globex", "tenant.add", "new");
	e.time_ms = 5000;
	assert_int_equal(tenant_audit_append(f->cat, &e), 0);
	entry(&e, "acme", "disk.create", "newer");
	e.time_ms = 9000;
	assert_int_equal(tenant_audit_append(f->cat, &e), 0);

	assert_int_equal(list(f->cat, 0, "acme", &l), 2);
	assert_string_equal(l.e[0].detail, "old");
	assert_string_equal(l.e[1].detail, "newer");
	assert_int_equal(list(f->cat, 5000, NULL, &l), 2);
	assert_string_equal(l.e[0].detail, "new");
	assert_int_equal(list(f->cat, 5001, "acme", &l), 1);
	assert_string_equal(l.e[0].detail, "newer");
	assert_int_equal(list(f->cat, 0, "initech", &l), 0);
	assert_int_equal(list(f->cat, 10000, NULL, &l), 0);
}

/* An attached entry goes with the next change that commits, and only
 * with that one. */
static void test_attach(void **state)
{
	struct fixture *f = *state;
	struct tenant_info t = {0}, dup = {0};
	struct tenant_audit e;
	bool done = false;
	struct listing l;

	entry(&e, "acme", "tenant.add", "tenant add acme");
	tenant_audit_attach(f->cat, &e, &done);
	strcpy(t.name, "acme");
	strcpy(t.route, "default");
	strcpy(t.ns, "acme");
	assert_int_equal(tenant_add(f->cat, &t), 0);
	assert_true(done);
	assert_int_equal(e.seq, 1);
	assert_int_equal(list(f->cat, 0, NULL, &l), 1);
	assert_string_equal(l.e[0].detail, "tenant add acme");
	/* Later writes of the same command carry no second entry. */
	assert_int_equal(tenant_set_state(f->cat, t.id, TENANT_SUSPENDED), 0);
	assert_int_equal(list(f->cat, 0, NULL, &l), 1);

	/* A change that fails takes its entry with it. */
	entry(&e, "acme", "tenant.add", "tenant add acme (again)");
	done = false;
	tenant_audit_attach(f->cat, &e, &done);
	dup = t;
	assert_int_equal(tenant_add(f->cat, &dup), -EEXIST);
	assert_false(done);
	assert_int_equal(list(f->cat, 0, NULL, &l), 1);
	/* A route that does not exist: refused inside the transaction. */
	strcpy(dup.name, "globex");
	strcpy(dup.ns, "globex");
	strcpy(dup.route, "nowhere");
	assert_int_equal(tenant_add(f->cat, &dup), -ENOENT);
	assert_false(done);
	assert_int_equal(list(f->cat, 0, NULL, &l), 1);
	tenant_audit_attach(f->cat, NULL, NULL);
	strcpy(dup.route, "default");
	assert_int_equal(tenant_add(f->cat, &dup), 0);
	assert_false(done);
	assert_int_equal(list(f->cat, 0, NULL, &l), 1);
	assert_true(verify(f->cat).ok);
}

/* ---- tampering, with raw LMDB ---- */

struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi audit, meta;
};

static void raw_open(struct fixture *f, struct raw *r)
{
	tenant_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(mdb_env_create(&r->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(r->env, 32), 0);
	assert_int_equal(mdb_env_set_mapsize(r->env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(r->env, f->cat_dir, MDB_NOTLS, 0600), 0);
	assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
	assert_int_equal(mdb_dbi_open(r->txn, "audit", 0, &r->audit), 0);
	assert_int_equal(mdb_dbi_open(r->txn, "meta", 0, &r->meta), 0);
}

static void raw_close(struct fixture *f, struct raw *r)
{
	assert_int_equal(mdb_txn_commit(r->txn), 0);
	mdb_env_close(r->env);
	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
}

static MDB_val seq_key(uint8_t *buf, uint64_t seq)
{
	MDB_val k = {.mv_size = 8, .mv_data = buf};

	tenant_rec_put_be64(buf, seq);
	return k;
}

/* Copies entry seq's record into buf; returns its length. */
static size_t raw_get(struct raw *r, uint64_t seq, uint8_t *buf)
{
	uint8_t kb[8];
	MDB_val k = seq_key(kb, seq), v;

	assert_int_equal(mdb_get(r->txn, r->audit, &k, &v), 0);
	memcpy(buf, v.mv_data, v.mv_size);
	return v.mv_size;
}

static void raw_put(struct raw *r, uint64_t seq, uint8_t *buf, size_t len)
{
	uint8_t kb[8];
	MDB_val k = seq_key(kb, seq), v = {.mv_size = len, .mv_data = buf};

	assert_int_equal(mdb_put(r->txn, r->audit, &k, &v, 0), 0);
}

static void raw_del(struct raw *r, uint64_t seq)
{
	uint8_t kb[8];
	MDB_val k = seq_key(kb, seq);

	assert_int_equal(mdb_del(r->txn, r->audit, &k, NULL), 0);
}

/* Replaces the first occurrence of from with to (same length). */
static void patch(uint8_t *buf, size_t len, const char *from, const char *to)
{
	size_t n = strlen(from), i;

	assert_int_equal(strlen(to), n);
	for (i = 0; i + n <= len; i++) {
		if (!memcmp(buf + i, from, n)) {
			memcpy(buf + i, to, n);
			return;
		}
	}
	fail_msg("'%s' not in the record", from);
}

static void rehash(uint8_t *buf, size_t len)
{
	unsigned int n;

	assert_int_equal(EVP_Digest(buf, len - TENANT_AUDIT_HASH_LEN,
				    buf + len - TENANT_AUDIT_HASH_LEN, &n,
				    EVP_sha256(), NULL),
			 1);
}

static void expect_broken(struct tenant_catalog *cat, uint64_t seq,
			  const char *why)
{
	struct tenant_audit_check c = verify(cat);

	assert_false(c.ok);
	if (c.bad_seq != seq || !strstr(c.why, why))
		fail_msg("expected entry %llu '%s', got entry %llu '%s'",
			 (unsigned long long)seq, why,
			 (unsigned long long)c.bad_seq, c.why);
}

static void test_tamper_modify(void **state)
{
	struct fixture *f = *state;
	struct tenant_audit e[3];
	uint8_t buf[TENANT_REC_MAX], orig[TENANT_REC_MAX];
	struct raw r;
	size_t len;

	append3(f->cat, e);
	raw_open(f, &r);
	len = raw_get(&r, 2, buf);
	memcpy(orig, buf, len);
	patch(buf, len, "--site hq", "--site xx");
	raw_put(&r, 2, buf, len);
	raw_close(f, &r);
	expect_broken(f->cat, 2, "modified");

	/* An attacker who recomputes the entry's hash breaks the link from
	 * the next one. */
	raw_open(f, &r);
	rehash(buf, len);
	raw_put(&r, 2, buf, len);
	raw_close(f, &r);
	expect_broken(f->cat, 3, "does not follow entry 2");

	/* Changing the newest entry and its hash leaves the head behind. */
	raw_open(f, &r);
	raw_put(&r, 2, orig, len);
	len = raw_get(&r, 3, buf);
	patch(buf, len, "unknown", "UNKNOWN");
	rehash(buf, len);
	raw_put(&r, 3, buf, len);
	raw_close(f, &r);
	expect_broken(f->cat, 3, "head");
}

static void test_tamper_remove(void **state)
{
	struct fixture *f = *state;
	struct tenant_audit e[3];
	struct raw r;

	append3(f->cat, e);
	raw_open(f, &r);
	raw_del(&r, 2);
	raw_close(f, &r);
	expect_broken(f->cat, 2, "missing");

	/* The first entry. */
	raw_open(f, &r);
	raw_del(&r, 1);
	raw_close(f, &r);
	expect_broken(f->cat, 1, "missing");
}

static void test_tamper_truncate(void **state)
{
	struct fixture *f = *state;
	struct tenant_audit e[3], more;
	struct raw r;

	append3(f->cat, e);
	raw_open(f, &r);
	raw_del(&r, 3);
	raw_close(f, &r);
	expect_broken(f->cat, 3, "tail cut off");

	/* The log still takes entries, after the head; the gap stays. */
	append(f->cat, "acme", "disk.create", "disk create acme/vm/d", &more);
	assert_int_equal(more.seq, 4);
	assert_memory_equal(more.prev, e[2].hash, sizeof(more.prev));
	expect_broken(f->cat, 3, "missing");

	/* Removing the head record as well is still caught... */
	raw_open(f, &r);
	raw_del(&r, 4);
	{
		MDB_val k = {.mv_size = 10, .mv_data = (void *)"audit_head"};

		assert_int_equal(mdb_del(r.txn, r.meta, &k, NULL), 0);
	}
	raw_close(f, &r);
	expect_broken(f->cat, 2, "head record missing");
}

/* A head that does not even decode is reported, and appends go on from
 * the newest entry. */
static void test_damaged_head(void **state)
{
	struct fixture *f = *state;
	MDB_val k = {.mv_size = 10, .mv_data = (void *)"audit_head"};
	MDB_val v = {.mv_size = 3, .mv_data = (void *)"bad"};
	struct tenant_audit e[3], more;
	struct raw r;

	append3(f->cat, e);
	raw_open(f, &r);
	assert_int_equal(mdb_put(r.txn, r.meta, &k, &v, 0), 0);
	raw_close(f, &r);
	expect_broken(f->cat, 4, "head record damaged");
	append(f->cat, "acme", "tenant.suspend", "tenant suspend acme", &more);
	assert_int_equal(more.seq, 4);
	assert_memory_equal(more.prev, e[2].hash, sizeof(more.prev));
	/* The append rewrote the head: the chain is whole again. */
	assert_true(verify(f->cat).ok);
}

static void test_tamper_reorder(void **state)
{
	struct fixture *f = *state;
	struct tenant_audit e[3];
	uint8_t b2[TENANT_REC_MAX], b3[TENANT_REC_MAX];
	struct raw r;
	size_t l2, l3;

	append3(f->cat, e);
	raw_open(f, &r);
	l2 = raw_get(&r, 2, b2);
	l3 = raw_get(&r, 3, b3);
	raw_put(&r, 2, b3, l3);
	raw_put(&r, 3, b2, l2);
	raw_close(f, &r);
	expect_broken(f->cat, 2, "moved");
}

/* What an older havenctl init leaves: schema 4 without the audit
 * database. */
static void test_catalog_without_audit_db(void **state)
{
	struct fixture *f = *state;
	struct tenant_audit e;
	MDB_val k = {.mv_size = 6, .mv_data = (void *)"schema"}, v;
	struct raw r;

	raw_open(f, &r);
	assert_int_equal(mdb_drop(r.txn, r.audit, 1), 0);
	assert_int_equal(mdb_txn_commit(r.txn), 0);
	mdb_env_close(r.env);

	/* A plain open (havend's) creates it. */
	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	assert_true(verify(f->cat).ok);
	append(f->cat, "", "auth.fail", "peer=::1", &e);
	assert_int_equal(e.seq, 1);
	assert_true(verify(f->cat).ok);

	/* The schema version stays, so older binaries still open it. */
	raw_open(f, &r);
	assert_int_equal(mdb_get(r.txn, r.meta, &k, &v), 0);
	assert_int_equal(v.mv_size, 8);
	assert_int_equal(tenant_rec_get_le64(v.mv_data), 4);
	raw_close(f, &r);
}

static void test_record(void **state)
{
	struct tenant_audit e, got;
	uint8_t buf[TENANT_REC_MAX];
	size_t len;

	(void)state;
	entry(&e, "acme", "cert.revoke", "pin=abc");
	e.seq = 7;
	e.time_ms = 123;
	memset(e.prev, 0xaa, sizeof(e.prev));
	memset(e.hash, 0xbb, sizeof(e.hash));
	assert_int_equal(tenant_rec_audit_encode(&e, buf, sizeof(buf), &len),
			 0);
	assert_int_equal(tenant_rec_audit_decode(buf, len, &got), 0);
	assert_memory_equal(&got, &e, sizeof(e));
	/* The chain is the last 64 bytes. */
	assert_int_equal(buf[len - 33], 0xaa);
	assert_int_equal(buf[len - 32], 0xbb);
	assert_int_equal(tenant_rec_audit_decode(buf, len - 1, &got), -EIO);
	assert_int_equal(tenant_rec_audit_decode(buf, 20, &got), -EIO);
	memset(e.detail, 'x', sizeof(e.detail)); /* no terminator */
	assert_int_equal(tenant_rec_audit_encode(&e, buf, sizeof(buf), &len),
			 -EINVAL);
}

/* A text that does not fit ends in "... (N more bytes)", on a character
 * boundary; one that fits stays as it is. */
static void test_cut(void **state)
{
	char s[32], text[64];
	size_t i;

	(void)state;
	/* "a" and 31 "é": 63 bytes. */
	text[0] = 'a';
	for (i = 1; i + 1 < sizeof(text); i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[63] = '\0';

	snprintf(s, sizeof(s), "%.31s", "0123456789012345678901234567890");
	tenant_audit_cut(s, sizeof(s), 31);
	assert_string_equal(s, "0123456789012345678901234567890");

	/* Room for 12 bytes before the mark; the 12th is half an "é". */
	snprintf(s, sizeof(s), "%.31s", text);
	tenant_audit_cut(s, sizeof(s), strlen(text));
	assert_string_equal(s, "a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			       "... (52 more bytes)");

	/* One byte too many is cut too. */
	snprintf(s, sizeof(s), "%.31s", "0123456789012345678901234567890x");
	tenant_audit_cut(s, sizeof(s), 32);
	assert_string_equal(s, "012345678901... (20 more bytes)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_and_verify, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_modify, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tamper_remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tamper_truncate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tamper_reorder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_head, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_without_audit_db,
						setup, teardown),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
