/* The catalog: one LMDB environment shared by havend and havenctl.
 *
 * This is the only file that includes <lmdb.h>; every MDB_* error is
 * turned into a negative errno here, in from_lmdb(), and the rest of the
 * catalog (catalog-ops.c, catalog-rp.c, catalog-req.c, catalog-dr.c)
 * reaches LMDB only through the helpers declared in tenant-int.h.  Nothing is
 * cached between calls: every read function runs its own short read
 * transaction, so a committed change by another process is seen by the next
 * call.  Values are copied out of LMDB through the decoders in record.c, never
 * cast (LMDB values are not aligned).
 *
 * Named databases:
 *   meta            "schema", "generation", "next_tenant_id",
 *                   "next_disk_id", "next_req_id" -> u64 little-endian;
 *                   "next_rp_id" | disk id (be64) -> u64, per disk
 *   routes          name -> route record
 *   tenants         id (be64) -> tenant record
 *   tenant_by_name  name -> id (be64)
 *   creds           pin (32 bytes) -> cred record
 *   disks           tenant id (be64) | vm | NUL | name -> disk record
 *   disk_by_id      disk id (be64) -> key in disks
 *   rps             disk id (be64) | rp id (be64) -> restore point record
 *   rp_maps         disk id (be64) | rp id (be64) -> allocation map bytes
 *                   (rp id 0: the live map saved at a clean close; with a
 *                   trailing 'c': a clone map; see catalog-ledger.c)
 *   snaps           route | NUL | snap id (be64) -> disk id | rp id (be64)
 *   snap_pool       route | NUL | snap id (be64) -> empty
 *   reqs            request id (be64) -> request record
 *   policies        't' | tenant id (be64) or 'd' | disk id (be64) ->
 *                   policy record (retention ladder, immutable days)
 *   tests           test id (be64) -> failover test record
 *   failovers       tenant id (be64) | vm -> failover record
 *   limits          't' | tenant id (be64) -> limits record;
 *                   'u' | tenant id (be64) -> usage record (stored bytes);
 *                   'b' | disk id (be64) -> disk bandwidth record
 *   audit           seq (be64) -> audit entry (catalog-audit.c); its head,
 *                   "audit_head" in meta, is u64 count | SHA-256
 * Big-endian ids make memcmp order numeric order.  The disks key separates
 * VM and disk with a NUL, which sorts below every name character, so the
 * key order is exactly (tenant, vm, name); the route keys use the same
 * trick, so "route | NUL" is a prefix that no other route shares.
 *
 * Schema 2 added rps, rp_maps, snaps, snap_pool, reqs and next_req_id.  A
 * schema 1 catalog is upgraded in place by the first open; records are
 * not rewritten, because record version 2 only appended fields.  Schema 3
 * added policies, tests, failovers and next_test_id ("next_disk_id" also
 * numbers the clones of tests and failovers, whose objects are named like
 * a disk's); restore point records gained pins in record version 3.
 * Schema 4 added limits (quotas, bandwidth, weight, lease end, usage); no
 * counter and no record changed, so its upgrade only creates the database.
 * A tenant or disk without a limits record has no limits.
 *
 * The audit database came later without a new schema version: an older
 * binary refuses a newer schema outright, but a database it does not know
 * is invisible to it, so old havend and havenctl keep working on a catalog
 * that has one (their changes just go unrecorded).  A catalog made by an
 * older binary lacks it; the first open by a binary that knows it creates
 * it, taking the writer lock once like an upgrade ('late' below).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

#define SCHEMA_VERSION 4
/* Every process maps the same size, so nobody ever has to grow the map
 * under another's feet; it is address space only, the file grows as used. */
#define MAP_SIZE ((size_t)1 << 30)
/* Named databases LMDB may open: ours (TENANT_DB_COUNT) with room for
 * later schemas, since an older binary's limit must not refuse a newer
 * catalog it can still read. */
#define MAX_DBS 32
/* open_schema() asks for a write transaction to upgrade an old schema. */
#define NEED_UPGRADE 1

static const char K_SCHEMA[] = "schema";
static const char K_GEN[] = "generation";
static const char K_NEXT_TENANT[] = "next_tenant_id";
static const char K_NEXT_DISK[] = "next_disk_id";
static const char K_NEXT_REQ[] = "next_req_id";
static const char K_NEXT_TEST[] = "next_test_id";

/* Indexed by enum tenant_db; 'since' is the schema that added it. */
static const struct {
	const char *name;
	unsigned since;
	bool late; /* may be missing from a catalog of its schema */
} db_names[TENANT_DB_COUNT] = {
	[TENANT_DB_META] = {"meta", 1},
	[TENANT_DB_ROUTES] = {"routes", 1},
	[TENANT_DB_TENANTS] = {"tenants", 1},
	[TENANT_DB_TENANT_BY_NAME] = {"tenant_by_name", 1},
	[TENANT_DB_CREDS] = {"creds", 1},
	[TENANT_DB_DISKS] = {"disks", 1},
	[TENANT_DB_DISK_BY_ID] = {"disk_by_id", 1},
	[TENANT_DB_RPS] = {"rps", 2},
	[TENANT_DB_RP_MAPS] = {"rp_maps", 2},
	[TENANT_DB_SNAPS] = {"snaps", 2},
	[TENANT_DB_SNAP_POOL] = {"snap_pool", 2},
	[TENANT_DB_REQS] = {"reqs", 2},
	[TENANT_DB_POLICIES] = {"policies", 3},
	[TENANT_DB_TESTS] = {"tests", 3},
	[TENANT_DB_FAILOVERS] = {"failovers", 3},
	[TENANT_DB_LIMITS] = {"limits", 4},
	[TENANT_DB_AUDIT] = {"audit", 4, true},
};

struct tenant_catalog {
	MDB_env *env;
	MDB_dbi dbi[TENANT_DB_COUNT];
	/* tenant_audit_attach(): appended by the next write, then done. */
	struct tenant_audit *audit;
	bool *audit_done;
	/* tenant_catalog_on_change(): told after each committed change. */
	void (*on_change)(void *arg);
	void *on_change_arg;
};

struct tenant_txn {
	struct tenant_catalog *cat;
	MDB_txn *txn;
};

static int from_lmdb(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case MDB_PAGE_FULL:
	case MDB_CURSOR_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
	case MDB_TLS_FULL:
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_DBS_FULL:
		return -EMFILE;
	case MDB_BAD_VALSIZE:
	case MDB_BAD_DBI:
	case MDB_BAD_RSLOT:
	case MDB_BAD_TXN:
		return -EINVAL;
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return -EPROTO;
	case MDB_PAGE_NOTFOUND:
	case MDB_CORRUPTED:
	case MDB_PANIC:
	case MDB_INVALID:
		return -EIO;
	default:
		/* LMDB passes system errors through as positive errno. */
		return rc > 0 ? -rc : -EIO;
	}
}

static MDB_val mval(const void *p, size_t len)
{
	MDB_val v = {.mv_size = len, .mv_data = (void *)(uintptr_t)p};

	return v;
}

/* Another process may have grown the map (an older havenctl with a
 * different size); adopt its size and try once more. */
static int txn_begin(struct tenant_catalog *cat, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(cat->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(cat->env, 0);
		if (!rc)
			rc = mdb_txn_begin(cat->env, NULL, flags, txn);
	}
	return from_lmdb(rc);
}

int tenant_db_get(struct tenant_txn *txn, enum tenant_db db, const void *key,
		  size_t klen, struct tenant_val *val)
{
	MDB_val k = mval(key, klen), v;
	int rc;

	rc = from_lmdb(mdb_get(txn->txn, txn->cat->dbi[db], &k, &v));
	if (!rc) {
		val->data = v.mv_data;
		val->len = v.mv_size;
	}
	return rc;
}

int tenant_db_put(struct tenant_txn *txn, enum tenant_db db, const void *key,
		  size_t klen, const void *val, size_t vlen, unsigned flags)
{
	MDB_val k = mval(key, klen), v = mval(val, vlen);
	unsigned mflags = flags & TENANT_DB_NOOVERWRITE ? MDB_NOOVERWRITE : 0;

	return from_lmdb(mdb_put(txn->txn, txn->cat->dbi[db], &k, &v, mflags));
}

int tenant_db_del(struct tenant_txn *txn, enum tenant_db db, const void *key,
		  size_t klen)
{
	MDB_val k = mval(key, klen);

	return from_lmdb(mdb_del(txn->txn, txn->cat->dbi[db], &k, NULL));
}

int tenant_meta_get(struct tenant_txn *txn, const void *key, size_t klen,
		    uint64_t *v)
{
	struct tenant_val val;
	int rc = tenant_db_get(txn, TENANT_DB_META, key, klen, &val);

	if (rc)
		return rc;
	if (val.len != 8)
		return -EIO;
	*v = tenant_rec_get_le64(val.data);
	return 0;
}

int tenant_meta_put(struct tenant_txn *txn, const void *key, size_t klen,
		    uint64_t v)
{
	uint8_t b[8];

	tenant_rec_put_le64(b, v);
	return tenant_db_put(txn, TENANT_DB_META, key, klen, b, sizeof(b), 0);
}

int tenant_meta_next_id(struct tenant_txn *txn, const char *name, uint64_t *id)
{
	int rc = tenant_meta_get(txn, name, strlen(name), id);

	if (rc)
		return rc == -ENOENT ? -EIO : rc;
	return tenant_meta_put(txn, name, strlen(name), *id + 1);
}

/* A change: the generation is bumped, and an attached audit entry is
 * appended, in the change's own transaction. */
static int change_tail(struct tenant_txn *t)
{
	struct tenant_catalog *cat = t->cat;
	uint64_t gen;
	int rc;

	if (cat->audit && !*cat->audit_done) {
		rc = tenant_txn_audit_append(t, cat->audit);
		if (rc)
			return rc;
	}
	rc = tenant_meta_get(t, K_GEN, strlen(K_GEN), &gen);
	return rc ? rc : tenant_meta_put(t, K_GEN, strlen(K_GEN), gen + 1);
}

static int cat_write(struct tenant_catalog *cat, tenant_txn_fn fn, void *arg,
		     bool change)
{
	struct tenant_txn t = {.cat = cat};
	int rc;

	rc = txn_begin(cat, 0, &t.txn);
	if (rc)
		return rc;
	rc = fn(&t, arg);
	if (!rc && change)
		rc = change_tail(&t);
	if (rc)
		goto out;
	rc = from_lmdb(mdb_txn_commit(t.txn));
	t.txn = NULL;
	if (!rc && change && cat->audit)
		*cat->audit_done = true;
	if (!rc && change && cat->on_change)
		cat->on_change(cat->on_change_arg);
out:
	if (t.txn)
		mdb_txn_abort(t.txn);
	return rc;
}

/* Runs fn in one write transaction and bumps the generation in the same
 * transaction, so a reader never sees a change without its generation. */
int tenant_cat_write(struct tenant_catalog *cat, tenant_txn_fn fn, void *arg)
{
	return cat_write(cat, fn, arg, true);
}

int tenant_cat_write_nogen(struct tenant_catalog *cat, tenant_txn_fn fn,
			   void *arg)
{
	return cat_write(cat, fn, arg, false);
}

void tenant_audit_attach(struct tenant_catalog *cat, struct tenant_audit *e,
			 bool *appended)
{
	if (!cat)
		return;
	cat->audit = e && appended ? e : NULL;
	cat->audit_done = cat->audit ? appended : NULL;
}

void tenant_catalog_on_change(struct tenant_catalog *cat, void (*fn)(void *arg),
			      void *arg)
{
	if (!cat)
		return;
	cat->on_change = fn;
	cat->on_change_arg = arg;
}

int tenant_cat_read(struct tenant_catalog *cat, tenant_txn_fn fn, void *arg)
{
	struct tenant_txn t = {.cat = cat};
	int rc;

	rc = txn_begin(cat, MDB_RDONLY, &t.txn);
	if (rc)
		return rc;
	rc = fn(&t, arg);
	mdb_txn_abort(t.txn);
	return rc;
}

/* ---- open / close ---- */

static int init_meta(struct tenant_txn *t)
{
	static const char *const counters[] = {K_NEXT_TENANT, K_NEXT_DISK,
					       K_NEXT_REQ, K_NEXT_TEST};
	size_t i;
	int rc;

	rc = tenant_meta_put(t, K_SCHEMA, strlen(K_SCHEMA), SCHEMA_VERSION);
	if (!rc)
		rc = tenant_meta_put(t, K_GEN, strlen(K_GEN), 0);
	/* Tenant id 0 means "operator" in credentials, and 0 means "none"
	 * in requests, so every id starts at 1. */
	for (i = 0; !rc && i < sizeof(counters) / sizeof(counters[0]); i++)
		rc = tenant_meta_put(t, counters[i], strlen(counters[i]), 1);
	return rc;
}

/* Schema 1 -> 2 -> 3 -> 4: the new databases are created by open_dbs();
 * only the counters each schema added are missing from meta (schema 4
 * added none). */
static int upgrade_meta(struct tenant_txn *t, uint64_t schema)
{
	int rc = 0;

	if (schema < 2)
		rc = tenant_meta_put(t, K_NEXT_REQ, strlen(K_NEXT_REQ), 1);
	if (!rc && schema < 3)
		rc = tenant_meta_put(t, K_NEXT_TEST, strlen(K_NEXT_TEST), 1);
	if (!rc)
		rc = tenant_meta_put(t, K_SCHEMA, strlen(K_SCHEMA),
				     SCHEMA_VERSION);
	return rc;
}

static int open_dbs(struct tenant_catalog *cat, MDB_txn *txn, unsigned dflags)
{
	int i, rc;

	for (i = TENANT_DB_META + 1; i < TENANT_DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i].name, dflags, &cat->dbi[i]);
		/* A late database is created by a writing pass. */
		if (rc == MDB_NOTFOUND && db_names[i].late)
			return NEED_UPGRADE;
		/* Same schema version but a database missing: not ours. */
		if (rc == MDB_NOTFOUND)
			return -EPROTO;
		if (rc)
			return from_lmdb(rc);
	}
	return 0;
}

/* Reads the schema, creating it (create) or upgrading an older one
 * (write) on the way; a read-only pass that finds an older schema returns
 * NEED_UPGRADE without changing anything. */
static int schema_check(struct tenant_txn *t, bool create, bool write)
{
	uint64_t schema;
	int rc;

	rc = tenant_meta_get(t, K_SCHEMA, strlen(K_SCHEMA), &schema);
	if (rc == -ENOENT && create)
		return init_meta(t);
	if (rc)
		return rc;
	if (schema < 1 || schema > SCHEMA_VERSION)
		return -EPROTO;
	if (schema == SCHEMA_VERSION)
		return 0;
	return write ? upgrade_meta(t, schema) : NEED_UPGRADE;
}

/* Opens every named database once, for the life of the environment.  Only
 * a creating open or an upgrade takes the writer lock; a plain open
 * (havend at start-up) reads, so it never waits behind a havenctl write. */
static int schema_txn(struct tenant_catalog *cat, bool create, bool write)
{
	unsigned dflags = write ? MDB_CREATE : 0;
	struct tenant_txn t = {.cat = cat};
	int rc;

	rc = txn_begin(cat, write ? 0 : MDB_RDONLY, &t.txn);
	if (rc)
		return rc;
	rc = mdb_dbi_open(t.txn, "meta", create ? MDB_CREATE : 0,
			  &cat->dbi[TENANT_DB_META]);
	if (rc) {
		rc = from_lmdb(rc);
		goto out;
	}
	rc = schema_check(&t, create, write);
	if (rc)
		goto out;
	rc = open_dbs(cat, t.txn, dflags);
	if (rc)
		goto out;
	/* Committing a read transaction is what keeps its dbi handles open
	 * for the environment. */
	rc = from_lmdb(mdb_txn_commit(t.txn));
	t.txn = NULL;
out:
	if (t.txn)
		mdb_txn_abort(t.txn);
	return rc;
}

static int open_schema(struct tenant_catalog *cat, bool create)
{
	int rc = schema_txn(cat, create, create);

	/* An older catalog needs its new databases created, which takes
	 * the writer lock once; a newer havenctl may have upgraded it
	 * meanwhile, which the second pass simply finds done. */
	if (rc == NEED_UPGRADE)
		rc = schema_txn(cat, false, true);
	return rc;
}

int tenant_catalog_open(const char *dir, unsigned flags,
			struct tenant_catalog **out)
{
	bool create = flags & TENANT_CATALOG_CREATE;
	struct tenant_catalog *cat = NULL;
	char path[PATH_MAX];
	struct stat st;
	int dead, rc;

	if (!dir || !out || (flags & ~TENANT_CATALOG_CREATE))
		return -EINVAL;
	*out = NULL;
	if (create && mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	rc = snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (rc < 0 || (size_t)rc >= sizeof(path))
		return -ENAMETOOLONG;
	/* mdb_env_open() would create an empty environment; without CREATE
	 * a missing catalog is an error the operator must see. */
	if (!create && stat(path, &st))
		return -errno;

	cat = calloc(1, sizeof(*cat));
	if (!cat)
		return -ENOMEM;
	rc = from_lmdb(mdb_env_create(&cat->env));
	if (rc) {
		cat->env = NULL;
		goto out;
	}
	rc = from_lmdb(mdb_env_set_maxdbs(cat->env, MAX_DBS));
	if (!rc)
		rc = from_lmdb(mdb_env_set_mapsize(cat->env, MAP_SIZE));
	if (!rc)
		rc = from_lmdb(mdb_env_open(cat->env, dir, MDB_NOTLS, 0600));
	if (rc)
		goto out;
	/* Clear reader slots left by processes that died mid-read. */
	rc = from_lmdb(mdb_reader_check(cat->env, &dead));
	if (!rc)
		rc = open_schema(cat, create);
out:
	if (rc)
		tenant_catalog_close(cat);
	else
		*out = cat;
	return rc;
}

void tenant_catalog_close(struct tenant_catalog *cat)
{
	if (!cat)
		return;
	if (cat->env)
		mdb_env_close(cat->env);
	free(cat);
}

static int generation_fn(struct tenant_txn *t, void *arg)
{
	return tenant_meta_get(t, K_GEN, strlen(K_GEN), arg);
}

int tenant_catalog_generation(struct tenant_catalog *cat, uint64_t *gen)
{
	if (!cat || !gen)
		return -EINVAL;
	return tenant_cat_read(cat, generation_fn, gen);
}

/* ---- scanning ---- */

int tenant_db_last(struct tenant_txn *txn, enum tenant_db db,
		   struct tenant_val *key, struct tenant_val *val)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	rc = from_lmdb(mdb_cursor_open(txn->txn, txn->cat->dbi[db], &cur));
	if (rc)
		return rc;
	rc = from_lmdb(mdb_cursor_get(cur, &k, &v, MDB_LAST));
	if (!rc) {
		key->data = k.mv_data;
		key->len = k.mv_size;
		val->data = v.mv_data;
		val->len = v.mv_size;
	}
	mdb_cursor_close(cur);
	return rc;
}

static bool has_prefix(const MDB_val *k, const void *prefix, size_t plen)
{
	return !plen ||
	       (k->mv_size >= plen && !memcmp(k->mv_data, prefix, plen));
}

int tenant_db_scan(struct tenant_txn *txn, enum tenant_db db,
		   const void *prefix, size_t plen, tenant_scan_fn cb,
		   void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k = mval(prefix, plen), v;
	struct tenant_val key, val;
	int rc;

	rc = from_lmdb(mdb_cursor_open(txn->txn, txn->cat->dbi[db], &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	/* Keys are sorted, so the first one outside the prefix ends the
	 * range. */
	while (!rc && has_prefix(&k, prefix, plen)) {
		key.data = k.mv_data;
		key.len = k.mv_size;
		val.data = v.mv_data;
		val.len = v.mv_size;
		rc = cb(&key, &val, arg);
		if (rc)
			goto out;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	rc = rc == MDB_NOTFOUND ? 0 : from_lmdb(rc);
out:
	mdb_cursor_close(cur);
	return rc;
}

int tenant_db_get_rec(struct tenant_txn *txn, enum tenant_db db,
		      const void *key, size_t klen, tenant_decode_fn decode,
		      void *out)
{
	struct tenant_val k = {.data = key, .len = klen}, v;
	int rc;

	rc = tenant_db_get(txn, db, key, klen, &v);
	return rc ? rc : decode(&k, &v, out);
}

static int stop_at_first(const struct tenant_val *k, const struct tenant_val *v,
			 void *arg)
{
	(void)k;
	(void)v;
	(void)arg;
	return 1;
}

int tenant_db_any(struct tenant_txn *txn, enum tenant_db db, const void *prefix,
		  size_t plen)
{
	return tenant_db_scan(txn, db, prefix, plen, stop_at_first, NULL);
}

struct collect {
	tenant_decode_fn decode;
	struct tenant_vec *v;
};

static int collect_one(const struct tenant_val *key,
		       const struct tenant_val *val, void *arg)
{
	struct collect *c = arg;
	struct tenant_vec *v = c->v;
	void *p;
	int rc;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;

		p = realloc(v->items, cap * v->size);
		if (!p)
			return -ENOMEM;
		v->items = p;
		v->cap = cap;
	}
	rc = c->decode(key, val, (char *)v->items + v->n * v->size);
	if (rc == TENANT_SKIP)
		return 0;
	if (!rc)
		v->n++;
	return rc;
}

int tenant_db_collect(struct tenant_txn *txn, enum tenant_db db,
		      const void *prefix, size_t plen, tenant_decode_fn decode,
		      struct tenant_vec *v)
{
	struct collect c = {.decode = decode, .v = v};

	return tenant_db_scan(txn, db, prefix, plen, collect_one, &c);
}

struct collect_arg {
	enum tenant_db db;
	const void *prefix;
	size_t plen;
	tenant_decode_fn decode;
	struct tenant_vec *v;
};

static int collect_fn(struct tenant_txn *t, void *arg)
{
	struct collect_arg *a = arg;

	return tenant_db_collect(t, a->db, a->prefix, a->plen, a->decode, a->v);
}

int tenant_cat_collect(struct tenant_catalog *cat, enum tenant_db db,
		       const void *prefix, size_t plen, tenant_decode_fn decode,
		       struct tenant_vec *v)
{
	struct collect_arg a = {.db = db,
				.prefix = prefix,
				.plen = plen,
				.decode = decode,
				.v = v};

	return tenant_cat_read(cat, collect_fn, &a);
}

struct get_arg {
	enum tenant_db db;
	const void *key;
	size_t klen;
	tenant_decode_fn decode;
	void *out;
};

static int get_fn(struct tenant_txn *t, void *arg)
{
	struct get_arg *a = arg;

	return tenant_db_get_rec(t, a->db, a->key, a->klen, a->decode, a->out);
}

int tenant_cat_get(struct tenant_catalog *cat, enum tenant_db db,
		   const void *key, size_t klen, tenant_decode_fn decode,
		   void *out)
{
	struct get_arg a = {.db = db,
			    .key = key,
			    .klen = klen,
			    .decode = decode,
			    .out = out};

	return tenant_cat_read(cat, get_fn, &a);
}
