/* Catalog operations for restore points: checkpoint intervals and disk
 * growth, restore point records and their allocation maps, the ownership
 * index of snap ids, the pool of pre-allocated snap ids, and the requests
 * havenctl leaves for a running havend.  Key layouts are in catalog.c.
 *
 * Snap ids are pool-wide in RADOS and only the gateway may release them,
 * so the catalog is the authority on who owns one: tenant_rp_add() moves
 * an id out of the route's pool, into a restore point and the snaps
 * index, and raises the disk's snap_seq, all in one transaction.  A crash
 * at any point leaves the id either unused (in the pool) or owned, never
 * both and never neither.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

#define RP_KEY_LEN 16
#define SNAP_KEY_MAX (TENANT_NAME_MAX + 1 + 8)

/* Per disk: "next_rp_id" | disk id (be64) in meta.  A counter rather than
 * "highest id + 1" so that removing the newest restore point never lets
 * its id come back: havenctl and logs name restore points by id. */
static const char K_NEXT_RP[] = "next_rp_id";
#define NEXT_RP_KEY_LEN (sizeof(K_NEXT_RP) - 1 + 8)

static void rp_key(uint8_t *k, uint64_t disk_id, uint64_t rp_id)
{
	tenant_rec_put_be64(k, disk_id);
	tenant_rec_put_be64(k + 8, rp_id);
}

static size_t snap_key(uint8_t *k, const char *route, uint64_t snap_id)
{
	size_t n = strlen(route);

	memcpy(k, route, n);
	k[n] = '\0';
	tenant_rec_put_be64(k + n + 1, snap_id);
	return n + 1 + 8;
}

static void next_rp_key(uint8_t *k, uint64_t disk_id)
{
	memcpy(k, K_NEXT_RP, sizeof(K_NEXT_RP) - 1);
	tenant_rec_put_be64(k + sizeof(K_NEXT_RP) - 1, disk_id);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 0 is "no snapshot" (snap_seq of a fresh disk); the top two values are
 * RADOS' HEAD and SNAPDIR, never handed out by a monitor. */
static bool snap_id_valid(uint64_t id)
{
	return id != 0 && id < UINT64_MAX - 1;
}

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* tenant_rp_find() reads "latest" and decimal strings as ids, so a name
 * that looks like one would be unreachable (or change meaning later). */
static bool rp_name_valid(const char *s)
{
	return tenant_name_valid(s) && strcmp(s, "latest") && !all_digits(s);
}

/* ---- restore points ---- */

static int dec_rp(const struct tenant_val *k, const struct tenant_val *v,
		  void *out)
{
	struct tenant_rp *rp = out;
	int rc;

	rc = tenant_rec_rp_decode(v->data, v->len, rp);
	/* The key is the truth; a record claiming another one is corrupt. */
	if (!rc &&
	    (k->len != RP_KEY_LEN ||
	     tenant_rec_get_be64(k->data) != rp->disk_id ||
	     tenant_rec_get_be64((const uint8_t *)k->data + 8) != rp->id))
		rc = -EIO;
	return rc;
}

static int rp_get_txn(struct tenant_txn *txn, uint64_t disk_id, uint64_t rp_id,
		      struct tenant_rp *out)
{
	uint8_t key[RP_KEY_LEN];

	rp_key(key, disk_id, rp_id);
	return tenant_db_get_rec(txn, TENANT_DB_RPS, key, sizeof(key), dec_rp,
				 out);
}

int tenant_txn_rp_get(struct tenant_txn *txn, uint64_t disk_id, uint64_t rp_id,
		      struct tenant_rp *out)
{
	return rp_get_txn(txn, disk_id, rp_id, out);
}

int tenant_txn_rp_put(struct tenant_txn *txn, const struct tenant_rp *rp)
{
	uint8_t key[RP_KEY_LEN], buf[TENANT_REC_MAX];
	struct tenant_val v;
	size_t len;
	int rc;

	rp_key(key, rp->disk_id, rp->id);
	/* Only a rewrite: new records come through rp_store(). */
	rc = tenant_db_get(txn, TENANT_DB_RPS, key, sizeof(key), &v);
	if (!rc)
		rc = tenant_rec_rp_encode(rp, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	return tenant_db_put(txn, TENANT_DB_RPS, key, sizeof(key), buf, len, 0);
}

/* The route of a disk's tenant: where its snap ids live. */
static int disk_route(struct tenant_txn *txn, const struct tenant_disk *d,
		      char route[TENANT_NAME_MAX + 1])
{
	struct tenant_info t;
	int rc;

	rc = tenant_txn_tenant_get(txn, d->tenant_id, &t);
	if (rc)
		return rc == -ENOENT ? -EIO
				     : rc; /* a disk outlived its tenant */
	memcpy(route, t.route, sizeof(t.route));
	return 0;
}

int tenant_txn_rp_forget_disk(struct tenant_txn *txn, uint64_t disk_id)
{
	uint8_t prefix[8], key[NEXT_RP_KEY_LEN];
	int rc;

	tenant_rec_put_be64(prefix, disk_id);
	rc = tenant_db_any(txn, TENANT_DB_RPS, prefix, sizeof(prefix));
	if (rc)
		return rc > 0 ? -EBUSY : rc;
	next_rp_key(key, disk_id);
	rc = tenant_db_del(txn, TENANT_DB_META, key, sizeof(key));
	return rc == -ENOENT ? 0 : rc;
}

static int rp_next_id(struct tenant_txn *txn, uint64_t disk_id, uint64_t *id)
{
	uint8_t key[NEXT_RP_KEY_LEN];
	int rc;

	next_rp_key(key, disk_id);
	rc = tenant_meta_get(txn, key, sizeof(key), id);
	/* The counter is created by the disk's first restore point. */
	if (rc == -ENOENT) {
		*id = 1;
		rc = 0;
	}
	return rc ? rc : tenant_meta_put(txn, key, sizeof(key), *id + 1);
}

/* Finds a disk's restore point by name (m->name) or its newest one
 * (no name) during a scan of the disk's records. */
struct rp_match {
	const char *name;
	struct tenant_rp *out;
	bool found;
};

static int rp_match_cb(const struct tenant_val *k, const struct tenant_val *v,
		       void *arg)
{
	struct rp_match *m = arg;
	struct tenant_rp rp;
	int rc;

	rc = dec_rp(k, v, &rp);
	if (rc)
		return rc;
	if (m->name && strcmp(rp.name, m->name))
		return 0;
	*m->out = rp;
	m->found = true;
	/* Keys are in id order: the last one seen is the newest. */
	return m->name ? 1 : 0;
}

static int rp_match(struct tenant_txn *txn, uint64_t disk_id, const char *name,
		    struct tenant_rp *out)
{
	struct rp_match m = {.name = name, .out = out};
	uint8_t prefix[8];
	int rc;

	tenant_rec_put_be64(prefix, disk_id);
	rc = tenant_db_scan(txn, TENANT_DB_RPS, prefix, sizeof(prefix),
			    rp_match_cb, &m);
	if (rc < 0)
		return rc;
	return m.found ? 0 : -ENOENT;
}

struct rp_add_arg {
	const char *route;
	struct tenant_rp *rp;
	const uint8_t *map;
	size_t map_len;
	const uint8_t *clones;
	size_t clones_len;
};

/* Stores the record, its map and the ownership index entry of a restore
 * point whose id is already assigned. */
static int rp_store(struct tenant_txn *txn, const char *route,
		    const struct tenant_rp *rp, const uint8_t *map,
		    size_t map_len)
{
	uint8_t key[RP_KEY_LEN], skey[SNAP_KEY_MAX], buf[TENANT_REC_MAX];
	size_t len, slen;
	int rc;

	rc = tenant_rec_rp_encode(rp, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	rp_key(key, rp->disk_id, rp->id);
	rc = tenant_db_put(txn, TENANT_DB_RPS, key, sizeof(key), buf, len,
			   TENANT_DB_NOOVERWRITE);
	/* The counter is behind the records: corruption, not a caller's
	 * duplicate. */
	if (rc == -EEXIST)
		return -EIO;
	if (!rc)
		rc = tenant_db_put(txn, TENANT_DB_RP_MAPS, key, sizeof(key),
				   map_len ? map : (const uint8_t *)"", map_len,
				   0);
	if (rc)
		return rc;
	/* A snap id has one owner: a second one would lose its data the
	 * day the first restore point is removed and the id released. */
	slen = snap_key(skey, route, rp->snap_id);
	return tenant_db_put(txn, TENANT_DB_SNAPS, skey, slen, key, sizeof(key),
			     TENANT_DB_NOOVERWRITE);
}

static int rp_add_fn(struct tenant_txn *txn, void *arg)
{
	struct rp_add_arg *a = arg;
	struct tenant_rp *rp = a->rp, old;
	char route[TENANT_NAME_MAX + 1];
	uint8_t skey[SNAP_KEY_MAX];
	struct tenant_disk d;
	size_t slen;
	int rc;

	rc = tenant_txn_disk_get(txn, rp->disk_id, &d);
	if (!rc)
		rc = disk_route(txn, &d, route);
	if (rc)
		return rc;
	/* The snap id must come from the disk's own route, or the index
	 * would protect an id of another pool. */
	if (strcmp(route, a->route))
		return -EINVAL;
	if (rp->name[0]) {
		rc = rp_match(txn, rp->disk_id, rp->name, &old);
		if (rc != -ENOENT)
			return rc ? rc : -EEXIST;
	}
	rc = rp_next_id(txn, rp->disk_id, &rp->id);
	if (!rc)
		rc = rp_store(txn, route, rp, a->map, a->map_len);
	if (!rc)
		rc = tenant_txn_clones_add(txn, rp->disk_id, rp->id,
					   d.extent_size, a->clones,
					   a->clones_len);
	if (rc)
		return rc;
	/* havend may also cut with an id it allocated directly, so an id
	 * missing from the pool is fine. */
	slen = snap_key(skey, route, rp->snap_id);
	rc = tenant_db_del(txn, TENANT_DB_SNAP_POOL, skey, slen);
	if (rc && rc != -ENOENT)
		return rc;
	if (rp->snap_id <= d.snap_seq)
		return 0;
	d.snap_seq = rp->snap_id;
	return tenant_txn_disk_put(txn, &d);
}

int tenant_rp_add(struct tenant_catalog *cat, const char *route,
		  struct tenant_rp *rp, const uint8_t *map, size_t map_len)
{
	return tenant_rp_add_cut(cat, route, rp, map, map_len, NULL, 0);
}

int tenant_rp_add_cut(struct tenant_catalog *cat, const char *route,
		      struct tenant_rp *rp, const uint8_t *map, size_t map_len,
		      const uint8_t *clones, size_t clones_len)
{
	struct rp_add_arg a = {.route = route,
			       .map = map,
			       .map_len = map_len,
			       .clones = clones,
			       .clones_len = clones_len};
	struct tenant_rp tmp;
	int rc;

	if (!cat || !rp || !tenant_name_valid(route) || (map_len && !map) ||
	    (clones_len && !clones))
		return -EINVAL;
	tmp = *rp;
	if (!memchr(tmp.name, '\0', sizeof(tmp.name)) ||
	    (tmp.name[0] && !rp_name_valid(tmp.name)) ||
	    tmp.trigger < TENANT_RP_CHECKPOINT ||
	    tmp.trigger > TENANT_RP_MANUAL || !snap_id_valid(tmp.snap_id))
		return -EINVAL;
	if (!tmp.created_ms)
		tmp.created_ms = now_ms();
	/* Holders come through tenant_rp_pin() only. */
	tmp.pins = 0;
	a.rp = &tmp;
	rc = tenant_cat_write(cat, rp_add_fn, &a);
	/* The caller's struct changes only once the restore point exists. */
	if (!rc)
		*rp = tmp;
	return rc;
}

/* Reads of one disk's restore points fail with -ENOENT for an unknown
 * disk rather than looking like a disk without history. */
struct rp_read_arg {
	uint64_t disk_id;
	uint64_t rp_id;
	const char *name; /* find: NULL for "latest" */
	struct tenant_vec *v;
	struct tenant_rp *out;
	uint8_t **map;
	size_t *map_len;
};

static int rp_list_fn(struct tenant_txn *txn, void *arg)
{
	struct rp_read_arg *a = arg;
	struct tenant_disk d;
	uint8_t prefix[8];
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (rc)
		return rc;
	tenant_rec_put_be64(prefix, a->disk_id);
	return tenant_db_collect(txn, TENANT_DB_RPS, prefix, sizeof(prefix),
				 dec_rp, a->v);
}

int tenant_rp_list(struct tenant_catalog *cat, uint64_t disk_id,
		   int (*cb)(const struct tenant_rp *rp, void *arg), void *arg)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_rp)};
	struct rp_read_arg a = {.disk_id = disk_id, .v = &v};
	const struct tenant_rp *items;
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	rc = tenant_cat_read(cat, rp_list_fn, &a);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(&items[i], arg);
	free(v.items);
	return rc;
}

static int rp_get_fn(struct tenant_txn *txn, void *arg)
{
	struct rp_read_arg *a = arg;
	struct tenant_disk d;
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (rc)
		return rc;
	if (a->rp_id)
		return rp_get_txn(txn, a->disk_id, a->rp_id, a->out);
	return rp_match(txn, a->disk_id, a->name, a->out);
}

int tenant_rp_get(struct tenant_catalog *cat, uint64_t disk_id, uint64_t rp_id,
		  struct tenant_rp *out)
{
	struct rp_read_arg a = {.disk_id = disk_id, .rp_id = rp_id, .out = out};

	if (!cat || !out)
		return -EINVAL;
	if (!rp_id)
		return -ENOENT;
	return tenant_cat_read(cat, rp_get_fn, &a);
}

int tenant_rp_find(struct tenant_catalog *cat, uint64_t disk_id,
		   const char *spec, struct tenant_rp *out)
{
	struct rp_read_arg a = {.disk_id = disk_id, .out = out};
	char *end;

	if (!cat || !spec || !out)
		return -EINVAL;
	if (all_digits(spec)) {
		errno = 0;
		a.rp_id = strtoull(spec, &end, 10);
		/* Ids start at 1 and no disk gets near 2^64 of them. */
		if (errno || !a.rp_id)
			return -ENOENT;
	} else if (strcmp(spec, "latest")) {
		if (!rp_name_valid(spec))
			return -EINVAL;
		a.name = spec;
	}
	return tenant_cat_read(cat, rp_get_fn, &a);
}

static int rp_map_fn(struct tenant_txn *txn, void *arg)
{
	struct rp_read_arg *a = arg;
	struct tenant_val v;
	uint8_t key[RP_KEY_LEN];
	int rc;

	rp_key(key, a->disk_id, a->rp_id);
	rc = tenant_db_get(txn, TENANT_DB_RP_MAPS, key, sizeof(key), &v);
	if (rc)
		return rc;
	*a->map_len = v.len;
	if (!v.len)
		return 0;
	*a->map = malloc(v.len);
	if (!*a->map)
		return -ENOMEM;
	memcpy(*a->map, v.data, v.len);
	return 0;
}

/* A restore point cut without a map yields *map == NULL, *map_len == 0. */
int tenant_rp_map(struct tenant_catalog *cat, uint64_t disk_id, uint64_t rp_id,
		  uint8_t **map, size_t *map_len)
{
	struct rp_read_arg a = {.disk_id = disk_id, .rp_id = rp_id};
	uint8_t *p = NULL;
	size_t len = 0;
	int rc;

	if (!cat || !map || !map_len)
		return -EINVAL;
	a.map = &p;
	a.map_len = &len;
	rc = tenant_cat_read(cat, rp_map_fn, &a);
	if (rc) {
		free(p);
		return rc;
	}
	*map = p;
	*map_len = len;
	return 0;
}

static int rp_remove_fn(struct tenant_txn *txn, void *arg)
{
	struct rp_read_arg *a = arg;
	uint8_t key[RP_KEY_LEN], skey[SNAP_KEY_MAX];
	char route[TENANT_NAME_MAX + 1];
	struct tenant_disk d;
	struct tenant_val v;
	size_t slen;
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (!rc)
		rc = rp_get_txn(txn, a->disk_id, a->rp_id, a->out);
	/* Immutable and pinned points stay, whoever asks. */
	if (!rc)
		rc = tenant_txn_rp_removable(txn, &d, a->out, now_ms());
	if (!rc)
		rc = disk_route(txn, &d, route);
	if (rc)
		return rc;
	rp_key(key, a->disk_id, a->rp_id);
	slen = snap_key(skey, route, a->out->snap_id);
	rc = tenant_db_get(txn, TENANT_DB_SNAPS, skey, slen, &v);
	/* The snap id is about to be released by the caller: if another
	 * restore point owns it, releasing it would destroy that one. */
	if (!rc && (v.len != sizeof(key) || memcmp(v.data, key, sizeof(key))))
		return -EIO;
	if (!rc)
		rc = tenant_db_del(txn, TENANT_DB_SNAPS, skey, slen);
	if (rc && rc != -ENOENT)
		return rc;
	/* Its clones move to the next older point or are gone, which
	 * needs its own record still in place. */
	rc = tenant_txn_clones_release(txn, a->disk_id, a->rp_id,
				       d.extent_size);
	if (rc)
		return rc;
	rc = tenant_db_del(txn, TENANT_DB_RP_MAPS, key, sizeof(key));
	if (rc && rc != -ENOENT)
		return rc;
	return tenant_db_del(txn, TENANT_DB_RPS, key, sizeof(key));
}

int tenant_rp_remove(struct tenant_catalog *cat, uint64_t disk_id,
		     uint64_t rp_id, struct tenant_rp *out)
{
	struct tenant_rp tmp;
	struct rp_read_arg a = {
		.disk_id = disk_id, .rp_id = rp_id, .out = &tmp};
	int rc;

	if (!cat)
		return -EINVAL;
	rc = tenant_cat_write(cat, rp_remove_fn, &a);
	if (!rc && out)
		*out = tmp;
	return rc;
}

/* ---- snap ids ---- */

struct snap_arg {
	const char *route;
	uint64_t snap_id;
	uint64_t disk_id;
	uint64_t rp_id;
	bool add;
};

static int snap_owner_fn(struct tenant_txn *txn, void *arg)
{
	struct snap_arg *a = arg;
	uint8_t skey[SNAP_KEY_MAX];
	struct tenant_val v;
	int rc;

	rc = tenant_db_get(txn, TENANT_DB_SNAPS, skey,
			   snap_key(skey, a->route, a->snap_id), &v);
	if (rc)
		return rc;
	if (v.len != RP_KEY_LEN)
		return -EIO;
	a->disk_id = tenant_rec_get_be64(v.data);
	a->rp_id = tenant_rec_get_be64((const uint8_t *)v.data + 8);
	return 0;
}

int tenant_snap_owner(struct tenant_catalog *cat, const char *route,
		      uint64_t snap_id, uint64_t *disk_id, uint64_t *rp_id)
{
	struct snap_arg a = {.route = route, .snap_id = snap_id};
	int rc;

	if (!cat || !tenant_name_valid(route) || !disk_id || !rp_id)
		return -EINVAL;
	rc = tenant_cat_read(cat, snap_owner_fn, &a);
	if (!rc) {
		*disk_id = a.disk_id;
		*rp_id = a.rp_id;
	}
	return rc;
}

static int snap_pool_fn(struct tenant_txn *txn, void *arg)
{
	struct snap_arg *a = arg;
	uint8_t skey[SNAP_KEY_MAX];
	struct tenant_val v;
	size_t slen;
	int rc;

	slen = snap_key(skey, a->route, a->snap_id);
	if (!a->add)
		return tenant_db_del(txn, TENANT_DB_SNAP_POOL, skey, slen);
	rc = tenant_db_get(txn, TENANT_DB_ROUTES, a->route, strlen(a->route),
			   &v);
	if (rc)
		return rc;
	/* An id a restore point uses is not unused: a restart would
	 * release it and destroy the restore point. */
	rc = tenant_db_get(txn, TENANT_DB_SNAPS, skey, slen, &v);
	if (rc != -ENOENT)
		return rc ? rc : -EEXIST;
	return tenant_db_put(txn, TENANT_DB_SNAP_POOL, skey, slen, "", 0,
			     TENANT_DB_NOOVERWRITE);
}

int tenant_snap_pool_add(struct tenant_catalog *cat, const char *route,
			 uint64_t snap_id)
{
	struct snap_arg a = {.route = route, .snap_id = snap_id, .add = true};

	if (!cat || !tenant_name_valid(route) || !snap_id_valid(snap_id))
		return -EINVAL;
	return tenant_cat_write(cat, snap_pool_fn, &a);
}

int tenant_snap_pool_remove(struct tenant_catalog *cat, const char *route,
			    uint64_t snap_id)
{
	struct snap_arg a = {.route = route, .snap_id = snap_id};

	if (!cat || !tenant_name_valid(route))
		return -EINVAL;
	return tenant_cat_write(cat, snap_pool_fn, &a);
}

static int dec_pool(const struct tenant_val *k, const struct tenant_val *v,
		    void *out)
{
	(void)v;
	if (k->len < 9)
		return -EIO;
	*(uint64_t *)out =
		tenant_rec_get_be64((const uint8_t *)k->data + k->len - 8);
	return 0;
}

int tenant_snap_pool_list(struct tenant_catalog *cat, const char *route,
			  int (*cb)(uint64_t snap_id, void *arg), void *arg)
{
	struct tenant_vec v = {.size = sizeof(uint64_t)};
	uint8_t prefix[TENANT_NAME_MAX + 1];
	const uint64_t *ids;
	size_t i, plen;
	int rc;

	if (!cat || !cb || !tenant_name_valid(route))
		return -EINVAL;
	/* The NUL after the name keeps route "a" from listing "a-b". */
	plen = strlen(route) + 1;
	memcpy(prefix, route, plen);
	rc = tenant_cat_collect(cat, TENANT_DB_SNAP_POOL, prefix, plen,
				dec_pool, &v);
	ids = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(ids[i], arg);
	free(v.items);
	return rc;
}
