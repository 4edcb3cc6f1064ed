/* The catalog: one LMDB environment shared by havend and havenctl.
 *
 * This is the only file that includes <lmdb.h>; every MDB_* error is
 * turned into a negative errno here, in from_lmdb().  Nothing is cached
 * between calls: every read function runs its own short read transaction,
 * so a committed change by another process is seen by the next call.
 * Values are copied out of LMDB through the decoders in record.c, never
 * cast (LMDB values are not aligned).
 *
 * Named databases:
 *   meta            "schema", "generation", "next_tenant_id",
 *                   "next_disk_id" -> u64 little-endian
 *   routes          name -> route record
 *   tenants         id (be64) -> tenant record
 *   tenant_by_name  name -> id (be64)
 *   creds           pin (32 bytes) -> cred record
 *   disks           tenant id (be64) | vm | NUL | name -> disk record
 *   disk_by_id      disk id (be64) -> key in disks
 * Big-endian ids make memcmp order numeric order.  The disks key separates
 * VM and disk with a NUL, which sorts below every name character, so the
 * key order is exactly (tenant, vm, name).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>

#include "record.h"
#include "tenant.h"

#define SCHEMA_VERSION 1
/* Every process maps the same size, so nobody ever has to grow the map
 * under another's feet; it is address space only, the file grows as used. */
#define MAP_SIZE ((size_t)1 << 30)
#define MAX_DBS 16
#define DISK_KEY_MAX (8 + TENANT_NAME_MAX + 1 + TENANT_NAME_MAX)

static const char K_SCHEMA[] = "schema";
static const char K_GEN[] = "generation";
static const char K_NEXT_TENANT[] = "next_tenant_id";
static const char K_NEXT_DISK[] = "next_disk_id";

struct tenant_catalog {
	MDB_env *env;
	MDB_dbi meta;
	MDB_dbi routes;
	MDB_dbi tenants;
	MDB_dbi tenant_by_name;
	MDB_dbi creds;
	MDB_dbi disks;
	MDB_dbi disk_by_id;
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

static int db_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
		  MDB_val *val)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)(uintptr_t)key};

	return from_lmdb(mdb_get(txn, dbi, &k, val));
}

static int db_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
		  const void *val, size_t vlen, unsigned flags)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)(uintptr_t)key};
	MDB_val v = {.mv_size = vlen, .mv_data = (void *)(uintptr_t)val};

	return from_lmdb(mdb_put(txn, dbi, &k, &v, flags));
}

static int db_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)(uintptr_t)key};

	return from_lmdb(mdb_del(txn, dbi, &k, NULL));
}

static int meta_get(struct tenant_catalog *cat, MDB_txn *txn, const char *name,
		    uint64_t *v)
{
	MDB_val val;
	int rc = db_get(txn, cat->meta, name, strlen(name), &val);

	if (rc)
		return rc;
	if (val.mv_size != 8)
		return -EIO;
	*v = tenant_rec_get_le64(val.mv_data);
	return 0;
}

static int meta_put(struct tenant_catalog *cat, MDB_txn *txn, const char *name,
		    uint64_t v)
{
	uint8_t b[8];

	tenant_rec_put_le64(b, v);
	return db_put(txn, cat->meta, name, strlen(name), b, sizeof(b), 0);
}

/* Takes the next value of an id counter and advances it. */
static int meta_next_id(struct tenant_catalog *cat, MDB_txn *txn,
			const char *name, uint64_t *id)
{
	int rc = meta_get(cat, txn, name, id);

	if (rc)
		return rc == -ENOENT ? -EIO : rc;
	return meta_put(cat, txn, name, *id + 1);
}

typedef int (*txn_fn)(struct tenant_catalog *cat, MDB_txn *txn, void *arg);

/* Runs fn in one write transaction and bumps the generation in the same
 * transaction, so a reader never sees a change without its generation. */
static int run_write(struct tenant_catalog *cat, txn_fn fn, void *arg)
{
	MDB_txn *txn = NULL;
	uint64_t gen;
	int rc;

	rc = txn_begin(cat, 0, &txn);
	if (rc)
		return rc;
	rc = fn(cat, txn, arg);
	if (rc)
		goto out;
	rc = meta_get(cat, txn, K_GEN, &gen);
	if (rc)
		goto out;
	rc = meta_put(cat, txn, K_GEN, gen + 1);
	if (rc)
		goto out;
	rc = from_lmdb(mdb_txn_commit(txn));
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

static int run_read(struct tenant_catalog *cat, txn_fn fn, void *arg)
{
	MDB_txn *txn = NULL;
	int rc;

	rc = txn_begin(cat, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	rc = fn(cat, txn, arg);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- open / close ---- */

static int init_meta(struct tenant_catalog *cat, MDB_txn *txn)
{
	int rc;

	rc = meta_put(cat, txn, K_SCHEMA, SCHEMA_VERSION);
	if (!rc)
		rc = meta_put(cat, txn, K_GEN, 0);
	/* Tenant id 0 means "operator" in credentials, so ids start at 1. */
	if (!rc)
		rc = meta_put(cat, txn, K_NEXT_TENANT, 1);
	if (!rc)
		rc = meta_put(cat, txn, K_NEXT_DISK, 1);
	return rc;
}

static int open_dbs(struct tenant_catalog *cat, MDB_txn *txn, unsigned dflags)
{
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{"routes", &cat->routes},
		{"tenants", &cat->tenants},
		{"tenant_by_name", &cat->tenant_by_name},
		{"creds", &cat->creds},
		{"disks", &cat->disks},
		{"disk_by_id", &cat->disk_by_id},
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_dbi_open(txn, dbs[i].name, dflags, dbs[i].dbi);
		/* Same schema version but a database missing: not ours. */
		if (rc == MDB_NOTFOUND)
			return -EPROTO;
		if (rc)
			return from_lmdb(rc);
	}
	return 0;
}

/* Opens every named database once, for the life of the environment.  Only
 * a creating open takes the writer lock; a plain open (havend at start-up)
 * reads, so it never waits behind a havenctl write. */
static int open_schema(struct tenant_catalog *cat, bool create)
{
	unsigned dflags = create ? MDB_CREATE : 0;
	MDB_txn *txn = NULL;
	uint64_t schema;
	int rc;

	rc = txn_begin(cat, create ? 0 : MDB_RDONLY, &txn);
	if (rc)
		return rc;
	rc = mdb_dbi_open(txn, "meta", dflags, &cat->meta);
	if (rc) {
		rc = from_lmdb(rc);
		goto out;
	}
	rc = meta_get(cat, txn, K_SCHEMA, &schema);
	if (rc == -ENOENT && create)
		rc = init_meta(cat, txn);
	else if (!rc && schema != SCHEMA_VERSION)
		rc = -EPROTO;
	if (rc)
		goto out;
	rc = open_dbs(cat, txn, dflags);
	if (rc)
		goto out;
	/* Committing a read transaction is what keeps its dbi handles open
	 * for the environment. */
	rc = from_lmdb(mdb_txn_commit(txn));
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
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

static int generation_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	return meta_get(cat, txn, K_GEN, arg);
}

int tenant_catalog_generation(struct tenant_catalog *cat, uint64_t *gen)
{
	if (!cat || !gen)
		return -EINVAL;
	return run_read(cat, generation_fn, gen);
}

/* ---- scanning ---- */

/* Lists copy every record out and end the transaction before the first
 * callback runs, so a callback may call back into the catalog (even
 * write) and never holds a reader slot while it works. */
enum rec_kind { REC_ROUTE, REC_TENANT, REC_CRED, REC_DISK };

union list_cb {
	int (*route)(const struct tenant_route *r, void *arg);
	int (*tenant)(const struct tenant_info *t, void *arg);
	int (*cred)(const struct tenant_cred *c, void *arg);
	int (*disk)(const struct tenant_disk *d, void *arg);
};

struct collect {
	enum rec_kind kind;
	void *items;
	size_t n;
	size_t cap;
	const uint8_t *prefix;
	size_t plen;
};

static size_t rec_size(enum rec_kind k)
{
	switch (k) {
	case REC_ROUTE:
		return sizeof(struct tenant_route);
	case REC_TENANT:
		return sizeof(struct tenant_info);
	case REC_CRED:
		return sizeof(struct tenant_cred);
	default:
		return sizeof(struct tenant_disk);
	}
}

static int rec_decode(enum rec_kind k, const MDB_val *v, void *out)
{
	switch (k) {
	case REC_ROUTE:
		return tenant_rec_route_decode(v->mv_data, v->mv_size, out);
	case REC_TENANT:
		return tenant_rec_tenant_decode(v->mv_data, v->mv_size, out);
	case REC_CRED:
		return tenant_rec_cred_decode(v->mv_data, v->mv_size, out);
	default:
		return tenant_rec_disk_decode(v->mv_data, v->mv_size, out);
	}
}

static int rec_call(enum rec_kind k, union list_cb cb, const void *item,
		    void *arg)
{
	switch (k) {
	case REC_ROUTE:
		return cb.route(item, arg);
	case REC_TENANT:
		return cb.tenant(item, arg);
	case REC_CRED:
		return cb.cred(item, arg);
	default:
		return cb.disk(item, arg);
	}
}

static int collect_add(struct collect *c, const MDB_val *v)
{
	size_t size = rec_size(c->kind);
	void *p;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;

		p = realloc(c->items, cap * size);
		if (!p)
			return -ENOMEM;
		c->items = p;
		c->cap = cap;
	}
	return rec_decode(c->kind, v, (char *)c->items + c->n++ * size);
}

static int scan_txn(MDB_txn *txn, MDB_dbi dbi, struct collect *c)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {.mv_size = c->plen,
		     .mv_data = (void *)(uintptr_t)c->prefix};
	MDB_val v;
	int rc;

	rc = from_lmdb(mdb_cursor_open(txn, dbi, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, c->plen ? MDB_SET_RANGE : MDB_FIRST);
	while (!rc) {
		/* Keys are sorted, so the first one outside the prefix
		 * ends the range. */
		if (c->plen && (k.mv_size < c->plen ||
				memcmp(k.mv_data, c->prefix, c->plen)))
			break;
		rc = collect_add(c, &v);
		if (rc)
			goto out;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	rc = rc == MDB_NOTFOUND ? 0 : from_lmdb(rc);
out:
	mdb_cursor_close(cur);
	return rc;
}

struct scan_arg {
	MDB_dbi dbi;
	struct collect *c;
};

static int scan_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	struct scan_arg *a = arg;

	(void)cat;
	return scan_txn(txn, a->dbi, a->c);
}

/* Lists the records of dbi whose keys start with prefix (all of them when
 * plen is 0), in key order; a non-zero callback result stops the list and
 * is returned. */
static int list(struct tenant_catalog *cat, MDB_dbi dbi, enum rec_kind kind,
		const uint8_t *prefix, size_t plen, union list_cb cb, void *arg)
{
	struct collect c = {.kind = kind, .prefix = prefix, .plen = plen};
	struct scan_arg a = {.dbi = dbi, .c = &c};
	size_t i, size = rec_size(kind);
	int rc;

	rc = run_read(cat, scan_fn, &a);
	for (i = 0; !rc && i < c.n; i++)
		rc = rec_call(kind, cb, (char *)c.items + i * size, arg);
	free(c.items);
	return rc;
}

/* One record by its exact key. */
struct get_arg {
	MDB_dbi dbi;
	enum rec_kind kind;
	const void *key;
	size_t klen;
	void *out;
};

static int get_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	struct get_arg *a = arg;
	MDB_val v;
	int rc;

	(void)cat;
	rc = db_get(txn, a->dbi, a->key, a->klen, &v);
	return rc ? rc : rec_decode(a->kind, &v, a->out);
}

/* ---- routes ---- */

static bool route_type_valid(const char *t)
{
	return !strcmp(t, "local") || !strcmp(t, "memory") ||
	       !strcmp(t, "rados");
}

static int route_add_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	const struct tenant_route *r = arg;
	uint8_t buf[TENANT_REC_MAX];
	size_t len;
	int rc;

	rc = tenant_rec_route_encode(r, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	return db_put(txn, cat->routes, r->name, strlen(r->name), buf, len,
		      MDB_NOOVERWRITE);
}

int tenant_route_add(struct tenant_catalog *cat, const struct tenant_route *r)
{
	if (!cat || !r || !tenant_name_valid(r->name) ||
	    !memchr(r->type, '\0', sizeof(r->type)) ||
	    !route_type_valid(r->type))
		return -EINVAL;
	return run_write(cat, route_add_fn, (void *)(uintptr_t)r);
}

int tenant_route_get(struct tenant_catalog *cat, const char *name,
		     struct tenant_route *out)
{
	struct get_arg a = {.kind = REC_ROUTE, .key = name, .out = out};

	if (!cat || !out || !tenant_name_valid(name))
		return -EINVAL;
	a.dbi = cat->routes;
	a.klen = strlen(name);
	return run_read(cat, get_fn, &a);
}

int tenant_route_list(struct tenant_catalog *cat,
		      int (*cb)(const struct tenant_route *r, void *arg),
		      void *arg)
{
	union list_cb u = {.route = cb};

	if (!cat || !cb)
		return -EINVAL;
	return list(cat, cat->routes, REC_ROUTE, NULL, 0, u, arg);
}

/* ---- tenants ---- */

static int tenant_get_txn(struct tenant_catalog *cat, MDB_txn *txn, uint64_t id,
			  struct tenant_info *out)
{
	uint8_t key[8];
	MDB_val v;
	int rc;

	tenant_rec_put_be64(key, id);
	rc = db_get(txn, cat->tenants, key, sizeof(key), &v);
	if (rc)
		return rc;
	rc = tenant_rec_tenant_decode(v.mv_data, v.mv_size, out);
	/* The key is the truth; a record claiming another id is corrupt. */
	if (!rc && out->id != id)
		rc = -EIO;
	return rc;
}

/* Two tenants writing into the same namespace of the same route would see
 * each other's objects, so a namespace belongs to one tenant per route. */
static int ns_in_use(struct tenant_catalog *cat, MDB_txn *txn,
		     const struct tenant_info *t)
{
	struct collect c = {.kind = REC_TENANT};
	const struct tenant_info *items;
	size_t i;
	int rc;

	rc = scan_txn(txn, cat->tenants, &c);
	items = c.items;
	for (i = 0; !rc && i < c.n; i++)
		if (!strcmp(items[i].route, t->route) &&
		    !strcmp(items[i].ns, t->ns))
			rc = -EEXIST;
	free(c.items);
	return rc;
}

static int tenant_add_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	struct tenant_info *t = arg;
	uint8_t key[8], buf[TENANT_REC_MAX];
	size_t len;
	MDB_val v;
	int rc;

	rc = db_get(txn, cat->routes, t->route, strlen(t->route), &v);
	if (!rc)
		rc = ns_in_use(cat, txn, t);
	if (!rc)
		rc = meta_next_id(cat, txn, K_NEXT_TENANT, &t->id);
	if (rc)
		return rc;
	tenant_rec_put_be64(key, t->id);
	rc = db_put(txn, cat->tenant_by_name, t->name, strlen(t->name), key,
		    sizeof(key), MDB_NOOVERWRITE);
	if (!rc)
		rc = tenant_rec_tenant_encode(t, buf, sizeof(buf), &len);
	if (!rc)
		rc = db_put(txn, cat->tenants, key, sizeof(key), buf, len,
			    MDB_NOOVERWRITE);
	return rc;
}

int tenant_add(struct tenant_catalog *cat, struct tenant_info *t)
{
	struct tenant_info tmp;
	int rc;

	if (!cat || !t)
		return -EINVAL;
	tmp = *t;
	if (!tenant_name_valid(tmp.name) || !tenant_name_valid(tmp.route) ||
	    (tmp.state != TENANT_ACTIVE && tmp.state != TENANT_SUSPENDED))
		return -EINVAL;
	if (!tmp.ns[0])
		memcpy(tmp.ns, tmp.name, sizeof(tmp.ns));
	if (!tenant_name_valid(tmp.ns))
		return -EINVAL;
	tmp.created = (uint64_t)time(NULL);
	rc = run_write(cat, tenant_add_fn, &tmp);
	/* The caller's struct changes only once the tenant really exists. */
	if (!rc)
		*t = tmp;
	return rc;
}

struct tenant_get_arg {
	uint64_t id;
	const char *name;
	struct tenant_info *out;
};

static int tenant_get_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	struct tenant_get_arg *a = arg;
	MDB_val v;
	int rc;

	if (a->name) {
		rc = db_get(txn, cat->tenant_by_name, a->name, strlen(a->name),
			    &v);
		if (rc)
			return rc;
		if (v.mv_size != 8)
			return -EIO;
		a->id = tenant_rec_get_be64(v.mv_data);
	}
	return tenant_get_txn(cat, txn, a->id, a->out);
}

int tenant_get(struct tenant_catalog *cat, uint64_t id, struct tenant_info *out)
{
	struct tenant_get_arg a = {.id = id, .out = out};

	if (!cat || !out)
		return -EINVAL;
	return run_read(cat, tenant_get_fn, &a);
}

int tenant_get_by_name(struct tenant_catalog *cat, const char *name,
		       struct tenant_info *out)
{
	struct tenant_get_arg a = {.name = name, .out = out};

	if (!cat || !out || !tenant_name_valid(name))
		return -EINVAL;
	return run_read(cat, tenant_get_fn, &a);
}

int tenant_list(struct tenant_catalog *cat,
		int (*cb)(const struct tenant_info *t, void *arg), void *arg)
{
	union list_cb u = {.tenant = cb};

	if (!cat || !cb)
		return -EINVAL;
	return list(cat, cat->tenants, REC_TENANT, NULL, 0, u, arg);
}

struct tenant_change {
	uint64_t id;
	uint32_t state;
	bool remove;
};

/* A tenant with disks or credentials left cannot go: its objects would
 * be orphaned and its sites would authenticate as nobody. */
static int tenant_in_use(struct tenant_catalog *cat, MDB_txn *txn, uint64_t id)
{
	uint8_t prefix[8];
	struct collect d = {.kind = REC_DISK, .prefix = prefix, .plen = 8};
	struct collect c = {.kind = REC_CRED};
	const struct tenant_cred *creds;
	size_t i;
	int rc;

	tenant_rec_put_be64(prefix, id);
	rc = scan_txn(txn, cat->disks, &d);
	if (!rc && d.n)
		rc = -EBUSY;
	if (!rc)
		rc = scan_txn(txn, cat->creds, &c);
	creds = c.items;
	for (i = 0; !rc && i < c.n; i++)
		if (!creds[i].operator_role && creds[i].tenant_id == id)
			rc = -EBUSY;
	free(d.items);
	free(c.items);
	return rc;
}

static int tenant_change_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	const struct tenant_change *ch = arg;
	uint8_t key[8], buf[TENANT_REC_MAX];
	struct tenant_info t;
	size_t len;
	int rc;

	rc = tenant_get_txn(cat, txn, ch->id, &t);
	if (rc)
		return rc;
	tenant_rec_put_be64(key, ch->id);
	if (ch->remove) {
		rc = tenant_in_use(cat, txn, ch->id);
		if (!rc)
			rc = db_del(txn, cat->tenants, key, sizeof(key));
		if (!rc)
			rc = db_del(txn, cat->tenant_by_name, t.name,
				    strlen(t.name));
		return rc == -ENOENT ? -EIO : rc;
	}
	t.state = ch->state;
	rc = tenant_rec_tenant_encode(&t, buf, sizeof(buf), &len);
	if (!rc)
		rc = db_put(txn, cat->tenants, key, sizeof(key), buf, len, 0);
	return rc;
}

int tenant_set_state(struct tenant_catalog *cat, uint64_t id, uint32_t state)
{
	struct tenant_change ch = {.id = id, .state = state};

	if (!cat || (state != TENANT_ACTIVE && state != TENANT_SUSPENDED))
		return -EINVAL;
	return run_write(cat, tenant_change_fn, &ch);
}

int tenant_remove(struct tenant_catalog *cat, uint64_t id)
{
	struct tenant_change ch = {.id = id, .remove = true};

	if (!cat)
		return -EINVAL;
	return run_write(cat, tenant_change_fn, &ch);
}

/* ---- credentials ---- */

/* A credential is live until it is revoked or its certificate expires:
 * an expired site certificate must not block issuing its replacement. */
static bool cred_live(const struct tenant_cred *c, uint64_t now)
{
	return c->not_after == 0 || c->not_after > now;
}

static int site_in_use(struct tenant_catalog *cat, MDB_txn *txn,
		       const struct tenant_cred *c)
{
	struct collect col = {.kind = REC_CRED};
	uint64_t now = (uint64_t)time(NULL);
	const struct tenant_cred *items;
	size_t i;
	int rc;

	rc = scan_txn(txn, cat->creds, &col);
	items = col.items;
	for (i = 0; !rc && i < col.n; i++)
		if (items[i].tenant_id == c->tenant_id &&
		    items[i].operator_role == c->operator_role &&
		    !strcmp(items[i].site, c->site) &&
		    cred_live(&items[i], now))
			rc = -EEXIST;
	free(col.items);
	return rc;
}

static int cred_add_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	const struct tenant_cred *c = arg;
	struct tenant_info t;
	uint8_t buf[TENANT_REC_MAX];
	size_t len;
	MDB_val v;
	int rc;

	if (!c->operator_role) {
		rc = tenant_get_txn(cat, txn, c->tenant_id, &t);
		if (rc)
			return rc;
	}
	rc = db_get(txn, cat->creds, c->pin, TENANT_PIN_LEN, &v);
	if (!rc)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	rc = site_in_use(cat, txn, c);
	if (!rc)
		rc = tenant_rec_cred_encode(c, buf, sizeof(buf), &len);
	if (!rc)
		rc = db_put(txn, cat->creds, c->pin, TENANT_PIN_LEN, buf, len,
			    MDB_NOOVERWRITE);
	return rc;
}

int tenant_cred_add(struct tenant_catalog *cat, const struct tenant_cred *c)
{
	static const uint8_t zero[TENANT_PIN_LEN];

	if (!cat || !c || !tenant_name_valid(c->site) ||
	    !memcmp(c->pin, zero, sizeof(zero)))
		return -EINVAL;
	/* Operators belong to no tenant; tenant credentials to exactly one. */
	if (c->operator_role != (c->tenant_id == 0))
		return -EINVAL;
	return run_write(cat, cred_add_fn, (void *)(uintptr_t)c);
}

int tenant_cred_lookup(struct tenant_catalog *cat,
		       const uint8_t pin[TENANT_PIN_LEN],
		       struct tenant_cred *out)
{
	struct get_arg a = {.kind = REC_CRED,
			    .key = pin,
			    .klen = TENANT_PIN_LEN,
			    .out = out};

	if (!cat || !pin || !out)
		return -EINVAL;
	a.dbi = cat->creds;
	return run_read(cat, get_fn, &a);
}

int tenant_cred_list(struct tenant_catalog *cat,
		     int (*cb)(const struct tenant_cred *c, void *arg),
		     void *arg)
{
	union list_cb u = {.cred = cb};

	if (!cat || !cb)
		return -EINVAL;
	return list(cat, cat->creds, REC_CRED, NULL, 0, u, arg);
}

static int cred_revoke_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	return db_del(txn, cat->creds, arg, TENANT_PIN_LEN);
}

int tenant_cred_revoke(struct tenant_catalog *cat,
		       const uint8_t pin[TENANT_PIN_LEN])
{
	if (!cat || !pin)
		return -EINVAL;
	return run_write(cat, cred_revoke_fn, (void *)(uintptr_t)pin);
}

/* ---- disks ---- */

static size_t disk_key(uint8_t *key, uint64_t tenant_id, const char *vm,
		       const char *name)
{
	size_t vl = strlen(vm), nl = strlen(name);

	tenant_rec_put_be64(key, tenant_id);
	memcpy(key + 8, vm, vl);
	key[8 + vl] = '\0';
	memcpy(key + 9 + vl, name, nl);
	return 9 + vl + nl;
}

static int disk_add_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	struct tenant_disk *d = arg;
	uint8_t key[DISK_KEY_MAX], idkey[8], buf[TENANT_REC_MAX];
	struct tenant_info t;
	size_t klen, len;
	int rc;

	rc = tenant_get_txn(cat, txn, d->tenant_id, &t);
	if (rc)
		return rc;
	klen = disk_key(key, d->tenant_id, d->vm, d->name);
	rc = db_put(txn, cat->disks, key, klen, "", 0, MDB_NOOVERWRITE);
	if (!rc)
		rc = meta_next_id(cat, txn, K_NEXT_DISK, &d->id);
	if (!rc)
		rc = tenant_rec_disk_encode(d, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	/* Overwrite the placeholder that claimed the key above. */
	rc = db_put(txn, cat->disks, key, klen, buf, len, 0);
	tenant_rec_put_be64(idkey, d->id);
	if (!rc)
		rc = db_put(txn, cat->disk_by_id, idkey, sizeof(idkey), key,
			    klen, MDB_NOOVERWRITE);
	return rc;
}

static bool extent_size_valid(uint32_t e)
{
	return e >= 4096 && (e & (e - 1)) == 0;
}

int tenant_disk_add(struct tenant_catalog *cat, struct tenant_disk *d)
{
	struct tenant_disk tmp;
	int rc;

	if (!cat || !d)
		return -EINVAL;
	tmp = *d;
	if (!tenant_name_valid(tmp.vm) || !tenant_name_valid(tmp.name) ||
	    tmp.size == 0 || !extent_size_valid(tmp.extent_size))
		return -EINVAL;
	tmp.created = (uint64_t)time(NULL);
	rc = run_write(cat, disk_add_fn, &tmp);
	if (!rc)
		*d = tmp;
	return rc;
}

static int disk_get_key(struct tenant_catalog *cat, MDB_txn *txn,
			const void *key, size_t klen, struct tenant_disk *out)
{
	MDB_val v;
	int rc = db_get(txn, cat->disks, key, klen, &v);

	return rc ? rc : tenant_rec_disk_decode(v.mv_data, v.mv_size, out);
}

int tenant_disk_get(struct tenant_catalog *cat, uint64_t tenant_id,
		    const char *vm, const char *name, struct tenant_disk *out)
{
	uint8_t key[DISK_KEY_MAX];
	struct get_arg a = {.kind = REC_DISK, .key = key, .out = out};

	if (!cat || !out || !tenant_name_valid(vm) || !tenant_name_valid(name))
		return -EINVAL;
	a.dbi = cat->disks;
	a.klen = disk_key(key, tenant_id, vm, name);
	return run_read(cat, get_fn, &a);
}

static int disk_by_id_txn(struct tenant_catalog *cat, MDB_txn *txn, uint64_t id,
			  uint8_t *key, size_t *klen, struct tenant_disk *out)
{
	uint8_t idkey[8];
	MDB_val v;
	int rc;

	tenant_rec_put_be64(idkey, id);
	rc = db_get(txn, cat->disk_by_id, idkey, sizeof(idkey), &v);
	if (rc)
		return rc;
	if (v.mv_size < 9 || v.mv_size > DISK_KEY_MAX)
		return -EIO;
	memcpy(key, v.mv_data, v.mv_size);
	*klen = v.mv_size;
	rc = disk_get_key(cat, txn, key, *klen, out);
	/* A dangling index entry is corruption, not "no such disk". */
	if (rc == -ENOENT || (!rc && out->id != id))
		rc = -EIO;
	return rc;
}

struct disk_id_arg {
	uint64_t id;
	struct tenant_disk *out;
};

static int disk_get_by_id_fn(struct tenant_catalog *cat, MDB_txn *txn,
			     void *arg)
{
	struct disk_id_arg *a = arg;
	uint8_t key[DISK_KEY_MAX];
	size_t klen;

	return disk_by_id_txn(cat, txn, a->id, key, &klen, a->out);
}

int tenant_disk_get_by_id(struct tenant_catalog *cat, uint64_t id,
			  struct tenant_disk *out)
{
	struct disk_id_arg a = {.id = id, .out = out};

	if (!cat || !out)
		return -EINVAL;
	return run_read(cat, disk_get_by_id_fn, &a);
}

int tenant_disk_list(struct tenant_catalog *cat, uint64_t tenant_id,
		     int (*cb)(const struct tenant_disk *d, void *arg),
		     void *arg)
{
	union list_cb u = {.disk = cb};
	uint8_t prefix[8];

	if (!cat || !cb)
		return -EINVAL;
	tenant_rec_put_be64(prefix, tenant_id);
	return list(cat, cat->disks, REC_DISK, prefix, tenant_id ? 8 : 0, u,
		    arg);
}

static int disk_remove_fn(struct tenant_catalog *cat, MDB_txn *txn, void *arg)
{
	uint64_t id = *(const uint64_t *)arg;
	uint8_t key[DISK_KEY_MAX], idkey[8];
	struct tenant_disk d;
	size_t klen;
	int rc;

	rc = disk_by_id_txn(cat, txn, id, key, &klen, &d);
	if (rc)
		return rc;
	rc = db_del(txn, cat->disks, key, klen);
	tenant_rec_put_be64(idkey, id);
	if (!rc)
		rc = db_del(txn, cat->disk_by_id, idkey, sizeof(idkey));
	return rc;
}

int tenant_disk_remove(struct tenant_catalog *cat, uint64_t id)
{
	if (!cat)
		return -EINVAL;
	return run_write(cat, disk_remove_fn, &id);
}
