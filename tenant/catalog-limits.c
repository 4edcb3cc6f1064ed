/* Tenant limits: quotas, bandwidth, weight, lease end, and the usage
 * havend measures.
 *
 * All of it lives in the database "limits" (schema 4), keyed by a kind
 * byte and a big-endian id: 't' + tenant id holds the limits record, 'u'
 * + tenant id the usage record, 'b' + disk id a disk's bandwidth ('l' + disk
 * id, the disk's ledger, belongs to catalog-ledger.c).  A
 * missing record means "no limit" (or "never measured"), so tenants from
 * older catalogs need no rewrite.
 *
 * Provisioned bytes and the disk count are never stored: they are summed
 * from the disks database inside the transaction that adds or grows a
 * disk, so two havenctl processes racing to create disks cannot both
 * pass the quota (LMDB has one writer at a time).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

#define LIMITS_KEY_LEN 9

static void limits_key(uint8_t *key, char kind, uint64_t id)
{
	key[0] = (uint8_t)kind;
	tenant_rec_put_be64(key + 1, id);
}

/* ---- provisioned bytes ---- */

struct provisioned {
	uint64_t bytes;
	uint32_t ndisks;
};

static int add_disk_size(const struct tenant_val *k, const struct tenant_val *v,
			 void *arg)
{
	struct provisioned *p = arg;
	struct tenant_disk d;
	int rc;

	(void)k;
	rc = tenant_rec_disk_decode(v->data, v->len, &d);
	if (rc)
		return rc;
	/* Sizes are below 2^63 (the CLI refuses more), so a sum that wraps
	 * can only come from corruption. */
	if (p->bytes + d.size < p->bytes)
		return -EIO;
	p->bytes += d.size;
	p->ndisks++;
	return 0;
}

static int txn_provisioned(struct tenant_txn *txn, uint64_t tenant_id,
			   struct provisioned *p)
{
	uint8_t prefix[8];

	memset(p, 0, sizeof(*p));
	tenant_rec_put_be64(prefix, tenant_id);
	return tenant_db_scan(txn, TENANT_DB_DISKS, prefix, sizeof(prefix),
			      add_disk_size, p);
}

static int txn_limits_get(struct tenant_txn *txn, uint64_t tenant_id,
			  struct tenant_limits *out)
{
	uint8_t key[LIMITS_KEY_LEN];
	struct tenant_val v;
	int rc;

	memset(out, 0, sizeof(*out));
	limits_key(key, 't', tenant_id);
	rc = tenant_db_get(txn, TENANT_DB_LIMITS, key, sizeof(key), &v);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : tenant_rec_limits_decode(v.data, v.len, out);
}

int tenant_txn_quota_check(struct tenant_txn *txn, uint64_t tenant_id,
			   uint64_t old_size, uint64_t new_size, bool new_disk)
{
	struct tenant_limits lim;
	struct provisioned p;
	uint64_t after;
	int rc;

	rc = txn_limits_get(txn, tenant_id, &lim);
	if (rc || (!lim.max_provisioned && !lim.max_disks))
		return rc;
	rc = txn_provisioned(txn, tenant_id, &p);
	if (rc)
		return rc;
	if (new_disk && lim.max_disks && p.ndisks >= lim.max_disks)
		return -EDQUOT;
	/* old_size is part of p.bytes already (0 for a new disk). */
	after = p.bytes - old_size + new_size;
	if (after < new_size)
		return -EDQUOT; /* would wrap: surely over any quota */
	if (lim.max_provisioned && after > lim.max_provisioned &&
	    after > p.bytes)
		return -EDQUOT;
	return 0;
}

struct prov_arg {
	uint64_t tenant_id;
	struct provisioned p;
};

static int provisioned_fn(struct tenant_txn *txn, void *arg)
{
	struct prov_arg *a = arg;
	struct tenant_info t;
	int rc;

	rc = tenant_txn_tenant_get(txn, a->tenant_id, &t);
	return rc ? rc : txn_provisioned(txn, a->tenant_id, &a->p);
}

int tenant_get_provisioned(struct tenant_catalog *cat, uint64_t tenant_id,
			   uint64_t *bytes, uint32_t *ndisks)
{
	struct prov_arg a = {.tenant_id = tenant_id};
	int rc;

	if (!cat || !bytes || !ndisks)
		return -EINVAL;
	rc = tenant_cat_read(cat, provisioned_fn, &a);
	if (!rc) {
		*bytes = a.p.bytes;
		*ndisks = a.p.ndisks;
	}
	return rc;
}

/* ---- limits ---- */

struct limits_arg {
	uint64_t id;
	struct tenant_limits *l;
};

static int set_limits_fn(struct tenant_txn *txn, void *arg)
{
	const struct limits_arg *a = arg;
	uint8_t key[LIMITS_KEY_LEN], buf[TENANT_REC_MAX];
	struct tenant_info t;
	size_t len;
	int rc;

	rc = tenant_txn_tenant_get(txn, a->id, &t);
	if (!rc)
		rc = tenant_rec_limits_encode(a->l, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	limits_key(key, 't', a->id);
	return tenant_db_put(txn, TENANT_DB_LIMITS, key, sizeof(key), buf, len,
			     0);
}

int tenant_set_limits(struct tenant_catalog *cat, uint64_t tenant_id,
		      const struct tenant_limits *l)
{
	struct tenant_limits tmp;
	struct limits_arg a = {.id = tenant_id, .l = &tmp};

	if (!cat || !l || l->weight > TENANT_WEIGHT_MAX)
		return -EINVAL;
	tmp = *l;
	return tenant_cat_write(cat, set_limits_fn, &a);
}

static int get_limits_fn(struct tenant_txn *txn, void *arg)
{
	struct limits_arg *a = arg;
	struct tenant_info t;
	int rc;

	rc = tenant_txn_tenant_get(txn, a->id, &t);
	return rc ? rc : txn_limits_get(txn, a->id, a->l);
}

int tenant_get_limits(struct tenant_catalog *cat, uint64_t tenant_id,
		      struct tenant_limits *out)
{
	struct limits_arg a = {.id = tenant_id, .l = out};

	if (!cat || !out)
		return -EINVAL;
	return tenant_cat_read(cat, get_limits_fn, &a);
}

/* ---- disk bandwidth ---- */

struct bw_arg {
	uint64_t disk_id;
	uint64_t bw;
};

static int set_bw_fn(struct tenant_txn *txn, void *arg)
{
	const struct bw_arg *a = arg;
	uint8_t key[LIMITS_KEY_LEN], buf[TENANT_REC_MAX];
	struct tenant_disk d;
	size_t len;
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (rc)
		return rc;
	limits_key(key, 'b', a->disk_id);
	/* No record is "no limit": 0 deletes rather than stores. */
	if (!a->bw) {
		rc = tenant_db_del(txn, TENANT_DB_LIMITS, key, sizeof(key));
		return rc == -ENOENT ? 0 : rc;
	}
	rc = tenant_rec_bandwidth_encode(a->bw, buf, sizeof(buf), &len);
	return rc ? rc
		  : tenant_db_put(txn, TENANT_DB_LIMITS, key, sizeof(key), buf,
				  len, 0);
}

int tenant_disk_set_bandwidth(struct tenant_catalog *cat, uint64_t disk_id,
			      uint64_t bandwidth)
{
	struct bw_arg a = {.disk_id = disk_id, .bw = bandwidth};

	if (!cat)
		return -EINVAL;
	return tenant_cat_write(cat, set_bw_fn, &a);
}

static int get_bw_fn(struct tenant_txn *txn, void *arg)
{
	struct bw_arg *a = arg;
	uint8_t key[LIMITS_KEY_LEN];
	struct tenant_disk d;
	struct tenant_val v;
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (rc)
		return rc;
	limits_key(key, 'b', a->disk_id);
	rc = tenant_db_get(txn, TENANT_DB_LIMITS, key, sizeof(key), &v);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : tenant_rec_bandwidth_decode(v.data, v.len, &a->bw);
}

int tenant_disk_get_bandwidth(struct tenant_catalog *cat, uint64_t disk_id,
			      uint64_t *bandwidth)
{
	struct bw_arg a = {.disk_id = disk_id};
	int rc;

	if (!cat || !bandwidth)
		return -EINVAL;
	rc = tenant_cat_read(cat, get_bw_fn, &a);
	if (!rc)
		*bandwidth = a.bw;
	return rc;
}

/* ---- usage ---- */

struct usage_arg {
	uint64_t id;
	struct tenant_rec_usage u;
};

static int set_usage_fn(struct tenant_txn *txn, void *arg)
{
	const struct usage_arg *a = arg;
	uint8_t key[LIMITS_KEY_LEN], buf[TENANT_REC_MAX];
	struct tenant_info t;
	size_t len;
	int rc;

	rc = tenant_txn_tenant_get(txn, a->id, &t);
	if (!rc)
		rc = tenant_rec_usage_encode(&a->u, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	limits_key(key, 'u', a->id);
	return tenant_db_put(txn, TENANT_DB_LIMITS, key, sizeof(key), buf, len,
			     0);
}

int tenant_set_usage(struct tenant_catalog *cat, uint64_t tenant_id,
		     uint64_t stored_bytes, uint64_t measured_ms)
{
	struct usage_arg a = {.id = tenant_id,
			      .u = {.stored_bytes = stored_bytes,
				    .measured_ms = measured_ms}};

	if (!cat)
		return -EINVAL;
	/* A measurement, read by no admission check: no generation bump. */
	return tenant_cat_write_nogen(cat, set_usage_fn, &a);
}

static int get_usage_fn(struct tenant_txn *txn, void *arg)
{
	struct usage_arg *a = arg;
	uint8_t key[LIMITS_KEY_LEN];
	struct tenant_info t;
	struct tenant_val v;
	int rc;

	rc = tenant_txn_tenant_get(txn, a->id, &t);
	if (rc)
		return rc;
	limits_key(key, 'u', a->id);
	rc = tenant_db_get(txn, TENANT_DB_LIMITS, key, sizeof(key), &v);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : tenant_rec_usage_decode(v.data, v.len, &a->u);
}

int tenant_get_usage(struct tenant_catalog *cat, uint64_t tenant_id,
		     uint64_t *stored_bytes, uint64_t *measured_ms)
{
	struct usage_arg a = {.id = tenant_id};
	int rc;

	if (!cat || !stored_bytes || !measured_ms)
		return -EINVAL;
	rc = tenant_cat_read(cat, get_usage_fn, &a);
	if (!rc) {
		*stored_bytes = a.u.stored_bytes;
		*measured_ms = a.u.measured_ms;
	}
	return rc;
}

/* ---- removal ---- */

static int del_if_any(struct tenant_txn *txn, char kind, uint64_t id)
{
	uint8_t key[LIMITS_KEY_LEN];
	int rc;

	limits_key(key, kind, id);
	rc = tenant_db_del(txn, TENANT_DB_LIMITS, key, sizeof(key));
	return rc == -ENOENT ? 0 : rc;
}

int tenant_txn_limits_forget(struct tenant_txn *txn, char kind, uint64_t id)
{
	int rc;

	if (kind == 'd') {
		rc = del_if_any(txn, 'b', id);
		return rc ? rc : tenant_txn_ledger_forget(txn, id);
	}
	if (kind != 't')
		return -EINVAL;
	rc = del_if_any(txn, 't', id);
	return rc ? rc : del_if_any(txn, 'u', id);
}
