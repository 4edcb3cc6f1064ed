/* The stored-bytes ledger in the catalog: what each disk costs in the
 * store, so that a tenant's stored bytes (live data + restore point
 * history + clones) can be summed without listing a pool.
 *
 * Two kinds of records, in existing databases (no schema change):
 *   rp_maps  disk id (be64) | rp id (be64) | 'c' -> the clone map of a
 *            restore point: u64 bytes (little-endian), then one bit per
 *            extent (LSB first) for each extent whose content as of this
 *            restore point the store keeps apart from the live disk (a
 *            RADOS clone, a file in the local store's .snaps/).
 *   limits   'l' | disk id (be64) -> ledger record: the disk's live bytes
 *            as havend last counted them, and its alert state.
 *   rp_maps  disk id (be64) | 0 (be64) -> the live disk's allocation map
 *            saved by havend at a clean close, taken (read and deleted)
 *            when it opens the disk again; absent after a crash, when
 *            havend lists the store instead.
 *
 * Who owns a clone.  A change to an extent after cut k preserves the
 * extent's content as of k in a clone; that clone also serves every
 * older restore point since the extent last changed.  It is recorded
 * with k (the newest point it serves; havend hands the bits over at the
 * next cut).  When k is removed, the clone lives on if the nearest older
 * surviving point j still sees the same content: j held the extent (its
 * allocation map) and no change after j was recorded with j.  Then the
 * bit moves to j; otherwise the store frees the clone and the bit goes.
 * By induction over removals, a bit recorded with j always means "the
 * extent changed after j while j held it", so the rule stays exact.
 *
 * The ledger records and the saved map are havend's own bookkeeping: no
 * admission or connection check reads them, so writing them does not
 * bump the catalog generation (which would make havend recheck every
 * connection).  Restore point clone maps change with restore points,
 * which do bump it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

#define CLONES_KEY_LEN 17
#define LEDGER_KEY_LEN 9
#define LEDGER_REC_VERSION 1
#define LEDGER_REC_LEN (4 + 8 + 4 + 8)

static void clones_key(uint8_t *k, uint64_t disk_id, uint64_t rp_id)
{
	tenant_rec_put_be64(k, disk_id);
	tenant_rec_put_be64(k + 8, rp_id);
	k[16] = 'c';
}

static void ledger_key(uint8_t *k, uint64_t disk_id)
{
	k[0] = 'l';
	tenant_rec_put_be64(k + 1, disk_id);
}

/* ---- clone maps ---- */

struct prev_arg {
	uint64_t before;
	uint64_t found;
};

static int prev_cb(const struct tenant_val *k, const struct tenant_val *v,
		   void *arg)
{
	struct prev_arg *a = arg;
	uint64_t id;

	(void)v;
	if (k->len != 16)
		return 0;
	id = tenant_rec_get_be64((const uint8_t *)k->data + 8);
	if (id < a->before)
		a->found = id;
	return 0;
}

/* The newest restore point of a disk older than 'before' (0: none). */
static int rp_before(struct tenant_txn *txn, uint64_t disk_id, uint64_t before,
		     uint64_t *id)
{
	struct prev_arg a = {.before = before};
	uint8_t prefix[8];
	int rc;

	tenant_rec_put_be64(prefix, disk_id);
	rc = tenant_db_scan(txn, TENANT_DB_RPS, prefix, sizeof(prefix), prev_cb,
			    &a);
	*id = a.found;
	return rc;
}

/* Sets in rp_id's clone map the bits of add that its allocation map
 * holds and its clone map lacks; *moved counts them. */
static int clones_merge(struct tenant_txn *txn, uint64_t disk_id,
			uint64_t rp_id, const uint8_t *add, size_t add_len,
			uint32_t extent_size, uint64_t *moved)
{
	uint8_t key[CLONES_KEY_LEN], mkey[16];
	struct tenant_val v, mv;
	uint8_t *val = NULL;
	size_t len, i;
	uint64_t bytes = 0, n = 0;
	int rc;

	*moved = 0;
	tenant_rec_put_be64(mkey, disk_id);
	tenant_rec_put_be64(mkey + 8, rp_id);
	rc = tenant_db_get(txn, TENANT_DB_RP_MAPS, mkey, sizeof(mkey), &mv);
	if (rc)
		return rc;
	clones_key(key, disk_id, rp_id);
	rc = tenant_db_get(txn, TENANT_DB_RP_MAPS, key, sizeof(key), &v);
	if (rc && rc != -ENOENT)
		return rc;
	if (rc == 0 && v.len < 8)
		return -EIO;
	len = rc == 0 && v.len - 8 > add_len ? v.len - 8 : add_len;
	val = calloc(8 + len, 1);
	if (!val)
		return -ENOMEM;
	if (rc == 0) {
		bytes = tenant_rec_get_le64(v.data);
		memcpy(val + 8, (const uint8_t *)v.data + 8, v.len - 8);
	}
	for (i = 0; i < add_len; i++) {
		/* A cut without a map (mv.len 0) held nothing we know of:
		 * an empty map keeps no clone. */
		uint8_t held = i < mv.len ? ((const uint8_t *)mv.data)[i] : 0;
		uint8_t b = add[i] & held & (uint8_t)~val[8 + i];

		val[8 + i] |= b;
		n += (uint64_t)__builtin_popcount(b);
	}
	bytes += n * extent_size;
	tenant_rec_put_le64(val, bytes);
	rc = n ? tenant_db_put(txn, TENANT_DB_RP_MAPS, key, sizeof(key), val,
			       8 + len, 0)
	       : 0;
	free(val);
	if (!rc)
		*moved = n;
	return rc;
}

int tenant_txn_clones_add(struct tenant_txn *txn, uint64_t disk_id,
			  uint64_t new_rp_id, uint32_t extent_size,
			  const uint8_t *clones, size_t len)
{
	uint64_t prev, moved;
	int rc;

	if (!clones || !len)
		return 0;
	rc = rp_before(txn, disk_id, new_rp_id, &prev);
	/* No older point left (all removed meanwhile): the store frees
	 * the clones with the last snapshot they served. */
	if (rc || !prev)
		return rc;
	return clones_merge(txn, disk_id, prev, clones, len, extent_size,
			    &moved);
}

int tenant_txn_clones_release(struct tenant_txn *txn, uint64_t disk_id,
			      uint64_t rp_id, uint32_t extent_size)
{
	uint8_t key[CLONES_KEY_LEN];
	struct tenant_val v;
	uint64_t prev, moved;
	uint8_t *copy;
	int rc;

	clones_key(key, disk_id, rp_id);
	rc = tenant_db_get(txn, TENANT_DB_RP_MAPS, key, sizeof(key), &v);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (v.len < 8)
		return -EIO;
	rc = rp_before(txn, disk_id, rp_id, &prev);
	if (!rc && prev && v.len > 8) {
		/* v points into the map, which the merge's put may move. */
		copy = malloc(v.len - 8);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, (const uint8_t *)v.data + 8, v.len - 8);
		rc = clones_merge(txn, disk_id, prev, copy, v.len - 8,
				  extent_size, &moved);
		free(copy);
	}
	if (!rc)
		rc = tenant_db_del(txn, TENANT_DB_RP_MAPS, key, sizeof(key));
	return rc;
}

struct hist_arg {
	uint64_t bytes;
};

static int hist_cb(const struct tenant_val *k, const struct tenant_val *v,
		   void *arg)
{
	struct hist_arg *a = arg;

	if (k->len != CLONES_KEY_LEN || ((const uint8_t *)k->data)[16] != 'c')
		return 0;
	if (v->len < 8)
		return -EIO;
	a->bytes += tenant_rec_get_le64(v->data);
	return 0;
}

static int txn_history(struct tenant_txn *txn, uint64_t disk_id,
		       uint64_t *bytes)
{
	struct hist_arg a = {0};
	uint8_t prefix[8];
	int rc;

	tenant_rec_put_be64(prefix, disk_id);
	rc = tenant_db_scan(txn, TENANT_DB_RP_MAPS, prefix, sizeof(prefix),
			    hist_cb, &a);
	*bytes = a.bytes;
	return rc;
}

/* ---- the per-disk record ---- */

static int ledger_get_txn(struct tenant_txn *txn, uint64_t disk_id,
			  struct tenant_ledger *out)
{
	uint8_t key[LEDGER_KEY_LEN];
	struct tenant_val v;
	const uint8_t *p;
	int rc;

	memset(out, 0, sizeof(*out));
	ledger_key(key, disk_id);
	rc = tenant_db_get(txn, TENANT_DB_LIMITS, key, sizeof(key), &v);
	if (rc == 0) {
		p = v.data;
		if (v.len < LEDGER_REC_LEN ||
		    (p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) !=
			    LEDGER_REC_VERSION)
			return -EIO;
		out->live = tenant_rec_get_le64(p + 4);
		out->alert = p[12] | p[13] << 8 | p[14] << 16 |
			     (uint32_t)p[15] << 24;
		out->alert_ms = tenant_rec_get_le64(p + 16);
	} else if (rc != -ENOENT) {
		return rc;
	}
	return txn_history(txn, disk_id, &out->history);
}

static int ledger_put_txn(struct tenant_txn *txn, uint64_t disk_id,
			  const struct tenant_ledger *l)
{
	uint8_t key[LEDGER_KEY_LEN], buf[LEDGER_REC_LEN];

	ledger_key(key, disk_id);
	buf[0] = LEDGER_REC_VERSION;
	buf[1] = buf[2] = buf[3] = 0;
	tenant_rec_put_le64(buf + 4, l->live);
	for (int i = 0; i < 4; i++)
		buf[12 + i] = (uint8_t)(l->alert >> (8 * i));
	tenant_rec_put_le64(buf + 16, l->alert_ms);
	return tenant_db_put(txn, TENANT_DB_LIMITS, key, sizeof(key), buf,
			     sizeof(buf), 0);
}

struct ledger_arg {
	uint64_t disk_id;
	struct tenant_ledger l;
	int what; /* 0: live, 1: alert */
};

static int ledger_read_fn(struct tenant_txn *txn, void *arg)
{
	struct ledger_arg *a = arg;
	struct tenant_disk d;
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	return rc ? rc : ledger_get_txn(txn, a->disk_id, &a->l);
}

int tenant_disk_get_ledger(struct tenant_catalog *cat, uint64_t disk_id,
			   struct tenant_ledger *out)
{
	struct ledger_arg a = {.disk_id = disk_id};
	int rc;

	if (!cat || !out)
		return -EINVAL;
	rc = tenant_cat_read(cat, ledger_read_fn, &a);
	if (!rc)
		*out = a.l;
	return rc;
}

static int ledger_write_fn(struct tenant_txn *txn, void *arg)
{
	struct ledger_arg *a = arg;
	struct tenant_ledger cur;
	struct tenant_disk d;
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (!rc)
		rc = ledger_get_txn(txn, a->disk_id, &cur);
	if (rc)
		return rc;
	if (a->what == 0) {
		if (cur.live == a->l.live)
			return TENANT_SKIP; /* nothing to write */
		cur.live = a->l.live;
	} else {
		if (cur.alert == a->l.alert)
			return TENANT_SKIP;
		cur.alert = a->l.alert;
		cur.alert_ms = a->l.alert_ms;
	}
	return ledger_put_txn(txn, a->disk_id, &cur);
}

static int ledger_write(struct tenant_catalog *cat, struct ledger_arg *a)
{
	int rc;

	if (!cat)
		return -EINVAL;
	rc = tenant_cat_write_nogen(cat, ledger_write_fn, a);
	return rc == TENANT_SKIP ? 0 : rc;
}

int tenant_disk_set_live(struct tenant_catalog *cat, uint64_t disk_id,
			 uint64_t live)
{
	struct ledger_arg a = {.disk_id = disk_id, .l.live = live, .what = 0};

	return ledger_write(cat, &a);
}

static int clone_live_fn(struct tenant_txn *txn, void *arg)
{
	struct ledger_arg *a = arg;
	struct tenant_ledger cur;
	int rc;

	/* A clone has no disk record; its ledger is its live bytes only. */
	rc = ledger_get_txn(txn, a->disk_id, &cur);
	if (rc)
		return rc;
	if (cur.live == a->l.live)
		return TENANT_SKIP;
	cur.live = a->l.live;
	return ledger_put_txn(txn, a->disk_id, &cur);
}

int tenant_clone_set_live(struct tenant_catalog *cat, uint64_t clone_id,
			  uint64_t live)
{
	struct ledger_arg a = {.disk_id = clone_id, .l.live = live};
	int rc;

	if (!cat || !clone_id)
		return -EINVAL;
	rc = tenant_cat_write_nogen(cat, clone_live_fn, &a);
	return rc == TENANT_SKIP ? 0 : rc;
}

int tenant_disk_set_alert(struct tenant_catalog *cat, uint64_t disk_id,
			  uint32_t alert, uint64_t when_ms)
{
	struct ledger_arg a = {.disk_id = disk_id,
			       .l.alert = alert,
			       .l.alert_ms = when_ms,
			       .what = 1};

	if (alert > TENANT_ALERT_QUOTA_FULL)
		return -EINVAL;
	return ledger_write(cat, &a);
}

int tenant_txn_ledger_forget(struct tenant_txn *txn, uint64_t disk_id)
{
	uint8_t key[LEDGER_KEY_LEN], skey[16];
	int rc;

	ledger_key(key, disk_id);
	rc = tenant_db_del(txn, TENANT_DB_LIMITS, key, sizeof(key));
	if (rc && rc != -ENOENT)
		return rc;
	tenant_rec_put_be64(skey, disk_id);
	tenant_rec_put_be64(skey + 8, 0);
	rc = tenant_db_del(txn, TENANT_DB_RP_MAPS, skey, sizeof(skey));
	return rc == -ENOENT ? 0 : rc;
}

/* ---- the live map saved at a clean close ---- */

struct saved_arg {
	uint64_t disk_id;
	const uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_len;
};

static void saved_key(uint8_t *k, uint64_t disk_id)
{
	/* Restore point ids start at 1: id 0 is free for this. */
	tenant_rec_put_be64(k, disk_id);
	tenant_rec_put_be64(k + 8, 0);
}

static int save_fn(struct tenant_txn *txn, void *arg)
{
	struct saved_arg *a = arg;
	struct tenant_disk d;
	uint8_t key[16];
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (rc)
		return rc;
	saved_key(key, a->disk_id);
	return tenant_db_put(txn, TENANT_DB_RP_MAPS, key, sizeof(key),
			     a->in_len ? a->in : (const uint8_t *)"", a->in_len,
			     0);
}

int tenant_disk_save_map(struct tenant_catalog *cat, uint64_t disk_id,
			 const uint8_t *map, size_t len)
{
	struct saved_arg a = {.disk_id = disk_id, .in = map, .in_len = len};

	if (!cat || (len && !map))
		return -EINVAL;
	return tenant_cat_write_nogen(cat, save_fn, &a);
}

static int take_fn(struct tenant_txn *txn, void *arg)
{
	struct saved_arg *a = arg;
	struct tenant_val v;
	uint8_t key[16];
	int rc;

	saved_key(key, a->disk_id);
	rc = tenant_db_get(txn, TENANT_DB_RP_MAPS, key, sizeof(key), &v);
	if (rc)
		return rc;
	a->out = malloc(v.len ? v.len : 1);
	if (!a->out)
		return -ENOMEM;
	memcpy(a->out, v.data, v.len);
	a->out_len = v.len;
	return tenant_db_del(txn, TENANT_DB_RP_MAPS, key, sizeof(key));
}

int tenant_disk_take_map(struct tenant_catalog *cat, uint64_t disk_id,
			 uint8_t **map, size_t *len)
{
	struct saved_arg a = {.disk_id = disk_id};
	int rc;

	if (!cat || !map || !len)
		return -EINVAL;
	rc = tenant_cat_write_nogen(cat, take_fn, &a);
	if (rc) {
		free(a.out);
		return rc;
	}
	*map = a.out;
	*len = a.out_len;
	return 0;
}

/* ---- a tenant's total ---- */

struct stored_arg {
	uint64_t tenant_id;
	bool (*is_open)(uint64_t disk_id, void *arg);
	void *open_arg;
	uint64_t total;
	struct tenant_txn *txn;
};

static int stored_cb(const struct tenant_val *k, const struct tenant_val *v,
		     void *arg)
{
	struct stored_arg *a = arg;
	struct tenant_ledger l;
	struct tenant_disk d;
	int rc;

	(void)k;
	rc = tenant_rec_disk_decode(v->data, v->len, &d);
	if (!rc)
		rc = ledger_get_txn(a->txn, d.id, &l);
	if (rc)
		return rc;
	a->total += l.history;
	if (!a->is_open || !a->is_open(d.id, a->open_arg))
		a->total += l.live;
	return 0;
}

/* The clones of a running test or of a failover: their live bytes as
 * havend last wrote them, unless open (then counted from memory). */
static int add_clone(struct stored_arg *a, uint64_t clone_id)
{
	struct tenant_ledger l;
	int rc;

	if (a->is_open && a->is_open(clone_id, a->open_arg))
		return 0;
	rc = ledger_get_txn(a->txn, clone_id, &l);
	if (!rc)
		a->total += l.live;
	return rc;
}

static int stored_test_cb(const struct tenant_val *k,
			  const struct tenant_val *v, void *arg)
{
	struct stored_arg *a = arg;
	struct tenant_test t;
	int rc;

	(void)k;
	rc = tenant_rec_test_decode(v->data, v->len, &t);
	if (rc || t.tenant_id != a->tenant_id || t.state != TENANT_TEST_RUNNING)
		return rc;
	for (uint32_t i = 0; !rc && i < t.ndisks && i < 16; i++)
		rc = add_clone(a, t.disks[i].clone_id);
	return rc;
}

static int stored_failover_cb(const struct tenant_val *k,
			      const struct tenant_val *v, void *arg)
{
	struct stored_arg *a = arg;
	struct tenant_failover f;
	int rc;

	(void)k;
	rc = tenant_rec_failover_decode(v->data, v->len, &f);
	for (uint32_t i = 0; !rc && i < f.ndisks && i < 16; i++)
		rc = add_clone(a, f.disks[i].clone_id);
	return rc;
}

static int stored_fn(struct tenant_txn *txn, void *arg)
{
	struct stored_arg *a = arg;
	uint8_t prefix[8];
	int rc;

	a->txn = txn;
	a->total = 0;
	tenant_rec_put_be64(prefix, a->tenant_id);
	rc = tenant_db_scan(txn, TENANT_DB_DISKS, prefix, sizeof(prefix),
			    stored_cb, a);
	if (!rc)
		rc = tenant_db_scan(txn, TENANT_DB_FAILOVERS, prefix,
				    sizeof(prefix), stored_failover_cb, a);
	/* Tests are keyed by their own id: all of them, filtered. */
	if (!rc)
		rc = tenant_db_scan(txn, TENANT_DB_TESTS, NULL, 0,
				    stored_test_cb, a);
	return rc;
}

int tenant_stored_bytes(struct tenant_catalog *cat, uint64_t tenant_id,
			bool (*is_open)(uint64_t disk_id, void *arg), void *arg,
			uint64_t *bytes)
{
	struct stored_arg a = {
		.tenant_id = tenant_id, .is_open = is_open, .open_arg = arg};
	int rc;

	if (!cat || !bytes)
		return -EINVAL;
	rc = tenant_cat_read(cat, stored_fn, &a);
	if (!rc)
		*bytes = a.total;
	return rc;
}
