/* Catalog operations on routes, tenants, credentials and disks.
 *
 * Every public function validates its arguments, then runs one read or
 * write transaction through tenant-int.h (catalog.c owns LMDB).  Lists
 * copy every record out and end the transaction before the first
 * callback runs.  The key layouts are described in catalog.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

#define DISK_KEY_MAX (8 + TENANT_NAME_MAX + 1 + TENANT_NAME_MAX)

static int dec_route(const struct tenant_val *k, const struct tenant_val *v,
		     void *out)
{
	(void)k;
	return tenant_rec_route_decode(v->data, v->len, out);
}

static int dec_tenant(const struct tenant_val *k, const struct tenant_val *v,
		      void *out)
{
	(void)k;
	return tenant_rec_tenant_decode(v->data, v->len, out);
}

static int dec_cred(const struct tenant_val *k, const struct tenant_val *v,
		    void *out)
{
	(void)k;
	return tenant_rec_cred_decode(v->data, v->len, out);
}

static int dec_disk(const struct tenant_val *k, const struct tenant_val *v,
		    void *out)
{
	(void)k;
	return tenant_rec_disk_decode(v->data, v->len, out);
}

/* Restore point intervals below the minimum would cut snapshots faster
 * than the backend can afford (every snap makes later writes clone). */
static bool checkpoint_valid(uint32_t s)
{
	return s == 0 || s >= TENANT_CHECKPOINT_MIN;
}

/* ---- routes ---- */

static bool route_type_valid(const char *t)
{
	return !strcmp(t, "local") || !strcmp(t, "memory") ||
	       !strcmp(t, "rados");
}

static int route_add_fn(struct tenant_txn *txn, void *arg)
{
	const struct tenant_route *r = arg;
	uint8_t buf[TENANT_REC_MAX];
	size_t len;
	int rc;

	rc = tenant_rec_route_encode(r, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	return tenant_db_put(txn, TENANT_DB_ROUTES, r->name, strlen(r->name),
			     buf, len, TENANT_DB_NOOVERWRITE);
}

int tenant_route_add(struct tenant_catalog *cat, const struct tenant_route *r)
{
	if (!cat || !r || !tenant_name_valid(r->name) ||
	    !memchr(r->type, '\0', sizeof(r->type)) ||
	    !route_type_valid(r->type))
		return -EINVAL;
	return tenant_cat_write(cat, route_add_fn, (void *)(uintptr_t)r);
}

int tenant_route_get(struct tenant_catalog *cat, const char *name,
		     struct tenant_route *out)
{
	if (!cat || !out || !tenant_name_valid(name))
		return -EINVAL;
	return tenant_cat_get(cat, TENANT_DB_ROUTES, name, strlen(name),
			      dec_route, out);
}

int tenant_route_list(struct tenant_catalog *cat,
		      int (*cb)(const struct tenant_route *r, void *arg),
		      void *arg)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_route)};
	const struct tenant_route *items;
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	rc = tenant_cat_collect(cat, TENANT_DB_ROUTES, NULL, 0, dec_route, &v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(&items[i], arg);
	free(v.items);
	return rc;
}

/* ---- tenants ---- */

int tenant_txn_tenant_get(struct tenant_txn *txn, uint64_t id,
			  struct tenant_info *out)
{
	struct tenant_val v;
	uint8_t key[8];
	int rc;

	tenant_rec_put_be64(key, id);
	rc = tenant_db_get(txn, TENANT_DB_TENANTS, key, sizeof(key), &v);
	if (rc)
		return rc;
	rc = tenant_rec_tenant_decode(v.data, v.len, out);
	/* The key is the truth; a record claiming another id is corrupt. */
	if (!rc && out->id != id)
		rc = -EIO;
	return rc;
}

int tenant_txn_tenant_put(struct tenant_txn *txn, const struct tenant_info *t)
{
	uint8_t key[8], buf[TENANT_REC_MAX];
	size_t len;
	int rc;

	rc = tenant_rec_tenant_encode(t, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	tenant_rec_put_be64(key, t->id);
	return tenant_db_put(txn, TENANT_DB_TENANTS, key, sizeof(key), buf, len,
			     0);
}

/* Two tenants writing into the same namespace of the same route would see
 * each other's objects, so a namespace belongs to one tenant per route. */
static int ns_in_use(struct tenant_txn *txn, const struct tenant_info *t)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_info)};
	const struct tenant_info *items;
	size_t i;
	int rc;

	rc = tenant_db_collect(txn, TENANT_DB_TENANTS, NULL, 0, dec_tenant, &v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		if (!strcmp(items[i].route, t->route) &&
		    !strcmp(items[i].ns, t->ns))
			rc = -EEXIST;
	free(v.items);
	return rc;
}

static int tenant_add_fn(struct tenant_txn *txn, void *arg)
{
	struct tenant_info *t = arg;
	struct tenant_val v;
	uint8_t key[8];
	int rc;

	rc = tenant_db_get(txn, TENANT_DB_ROUTES, t->route, strlen(t->route),
			   &v);
	if (!rc)
		rc = ns_in_use(txn, t);
	if (!rc)
		rc = tenant_meta_next_id(txn, "next_tenant_id", &t->id);
	if (rc)
		return rc;
	tenant_rec_put_be64(key, t->id);
	rc = tenant_db_put(txn, TENANT_DB_TENANT_BY_NAME, t->name,
			   strlen(t->name), key, sizeof(key),
			   TENANT_DB_NOOVERWRITE);
	return rc ? rc : tenant_txn_tenant_put(txn, t);
}

int tenant_add(struct tenant_catalog *cat, struct tenant_info *t)
{
	struct tenant_info tmp;
	int rc;

	if (!cat || !t)
		return -EINVAL;
	tmp = *t;
	if (!tenant_name_valid(tmp.name) || !tenant_name_valid(tmp.route) ||
	    (tmp.state != TENANT_ACTIVE && tmp.state != TENANT_SUSPENDED) ||
	    !checkpoint_valid(tmp.checkpoint_s))
		return -EINVAL;
	if (!tmp.ns[0])
		memcpy(tmp.ns, tmp.name, sizeof(tmp.ns));
	if (!tenant_name_valid(tmp.ns))
		return -EINVAL;
	tmp.created = (uint64_t)time(NULL);
	rc = tenant_cat_write(cat, tenant_add_fn, &tmp);
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

static int tenant_get_fn(struct tenant_txn *txn, void *arg)
{
	struct tenant_get_arg *a = arg;
	struct tenant_val v;
	int rc;

	if (a->name) {
		rc = tenant_db_get(txn, TENANT_DB_TENANT_BY_NAME, a->name,
				   strlen(a->name), &v);
		if (rc)
			return rc;
		if (v.len != 8)
			return -EIO;
		a->id = tenant_rec_get_be64(v.data);
	}
	return tenant_txn_tenant_get(txn, a->id, a->out);
}

int tenant_get(struct tenant_catalog *cat, uint64_t id, struct tenant_info *out)
{
	struct tenant_get_arg a = {.id = id, .out = out};

	if (!cat || !out)
		return -EINVAL;
	return tenant_cat_read(cat, tenant_get_fn, &a);
}

int tenant_get_by_name(struct tenant_catalog *cat, const char *name,
		       struct tenant_info *out)
{
	struct tenant_get_arg a = {.name = name, .out = out};

	if (!cat || !out || !tenant_name_valid(name))
		return -EINVAL;
	return tenant_cat_read(cat, tenant_get_fn, &a);
}

int tenant_list(struct tenant_catalog *cat,
		int (*cb)(const struct tenant_info *t, void *arg), void *arg)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_info)};
	const struct tenant_info *items;
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	rc = tenant_cat_collect(cat, TENANT_DB_TENANTS, NULL, 0, dec_tenant,
				&v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(&items[i], arg);
	free(v.items);
	return rc;
}

struct tenant_change {
	uint64_t id;
	uint32_t state;
	bool remove;
};

/* A tenant with disks or credentials left cannot go: its objects would
 * be orphaned and its sites would authenticate as nobody. */
static int tenant_in_use(struct tenant_txn *txn, uint64_t id)
{
	struct tenant_vec c = {.size = sizeof(struct tenant_cred)};
	const struct tenant_cred *creds;
	uint8_t prefix[8];
	size_t i;
	int rc;

	tenant_rec_put_be64(prefix, id);
	rc = tenant_db_any(txn, TENANT_DB_DISKS, prefix, sizeof(prefix));
	if (rc)
		return rc > 0 ? -EBUSY : rc;
	rc = tenant_db_collect(txn, TENANT_DB_CREDS, NULL, 0, dec_cred, &c);
	creds = c.items;
	for (i = 0; !rc && i < c.n; i++)
		if (!creds[i].operator_role && creds[i].tenant_id == id)
			rc = -EBUSY;
	free(c.items);
	return rc;
}

static int tenant_change_fn(struct tenant_txn *txn, void *arg)
{
	const struct tenant_change *ch = arg;
	struct tenant_info t;
	uint8_t key[8];
	int rc;

	rc = tenant_txn_tenant_get(txn, ch->id, &t);
	if (rc)
		return rc;
	if (!ch->remove) {
		t.state = ch->state;
		return tenant_txn_tenant_put(txn, &t);
	}
	rc = tenant_in_use(txn, ch->id);
	if (rc)
		return rc;
	tenant_rec_put_be64(key, ch->id);
	rc = tenant_db_del(txn, TENANT_DB_TENANTS, key, sizeof(key));
	if (!rc)
		rc = tenant_db_del(txn, TENANT_DB_TENANT_BY_NAME, t.name,
				   strlen(t.name));
	if (!rc)
		rc = tenant_txn_policy_forget(txn, 't', ch->id);
	if (!rc)
		rc = tenant_txn_limits_forget(txn, 't', ch->id);
	return rc == -ENOENT ? -EIO : rc;
}

int tenant_set_state(struct tenant_catalog *cat, uint64_t id, uint32_t state)
{
	struct tenant_change ch = {.id = id, .state = state};

	if (!cat || (state != TENANT_ACTIVE && state != TENANT_SUSPENDED))
		return -EINVAL;
	return tenant_cat_write(cat, tenant_change_fn, &ch);
}

int tenant_remove(struct tenant_catalog *cat, uint64_t id)
{
	struct tenant_change ch = {.id = id, .remove = true};

	if (!cat)
		return -EINVAL;
	return tenant_cat_write(cat, tenant_change_fn, &ch);
}

/* ---- credentials ---- */

/* A credential is live until it is revoked or its certificate expires:
 * an expired site certificate must not block issuing its replacement. */
static bool cred_live(const struct tenant_cred *c, uint64_t now)
{
	return c->not_after == 0 || c->not_after > now;
}

static int site_in_use(struct tenant_txn *txn, const struct tenant_cred *c)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_cred)};
	uint64_t now = (uint64_t)time(NULL);
	const struct tenant_cred *items;
	size_t i;
	int rc;

	rc = tenant_db_collect(txn, TENANT_DB_CREDS, NULL, 0, dec_cred, &v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		if (items[i].tenant_id == c->tenant_id &&
		    items[i].operator_role == c->operator_role &&
		    !strcmp(items[i].site, c->site) &&
		    cred_live(&items[i], now))
			rc = -EEXIST;
	free(v.items);
	return rc;
}

static int cred_add_fn(struct tenant_txn *txn, void *arg)
{
	const struct tenant_cred *c = arg;
	uint8_t buf[TENANT_REC_MAX];
	struct tenant_info t;
	struct tenant_val v;
	size_t len;
	int rc;

	if (!c->operator_role) {
		rc = tenant_txn_tenant_get(txn, c->tenant_id, &t);
		if (rc)
			return rc;
	}
	rc = tenant_db_get(txn, TENANT_DB_CREDS, c->pin, TENANT_PIN_LEN, &v);
	if (!rc)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	rc = site_in_use(txn, c);
	if (!rc)
		rc = tenant_rec_cred_encode(c, buf, sizeof(buf), &len);
	if (!rc)
		rc = tenant_db_put(txn, TENANT_DB_CREDS, c->pin, TENANT_PIN_LEN,
				   buf, len, TENANT_DB_NOOVERWRITE);
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
	return tenant_cat_write(cat, cred_add_fn, (void *)(uintptr_t)c);
}

int tenant_cred_lookup(struct tenant_catalog *cat,
		       const uint8_t pin[TENANT_PIN_LEN],
		       struct tenant_cred *out)
{
	if (!cat || !pin || !out)
		return -EINVAL;
	return tenant_cat_get(cat, TENANT_DB_CREDS, pin, TENANT_PIN_LEN,
			      dec_cred, out);
}

int tenant_cred_list(struct tenant_catalog *cat,
		     int (*cb)(const struct tenant_cred *c, void *arg),
		     void *arg)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_cred)};
	const struct tenant_cred *items;
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	rc = tenant_cat_collect(cat, TENANT_DB_CREDS, NULL, 0, dec_cred, &v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(&items[i], arg);
	free(v.items);
	return rc;
}

static int cred_revoke_fn(struct tenant_txn *txn, void *arg)
{
	return tenant_db_del(txn, TENANT_DB_CREDS, arg, TENANT_PIN_LEN);
}

int tenant_cred_revoke(struct tenant_catalog *cat,
		       const uint8_t pin[TENANT_PIN_LEN])
{
	if (!cat || !pin)
		return -EINVAL;
	return tenant_cat_write(cat, cred_revoke_fn, (void *)(uintptr_t)pin);
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

static int disk_put_key(struct tenant_txn *txn, const uint8_t *key, size_t klen,
			const struct tenant_disk *d)
{
	uint8_t buf[TENANT_REC_MAX];
	size_t len;
	int rc;

	rc = tenant_rec_disk_encode(d, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	return tenant_db_put(txn, TENANT_DB_DISKS, key, klen, buf, len, 0);
}

static int disk_add_fn(struct tenant_txn *txn, void *arg)
{
	struct tenant_disk *d = arg;
	uint8_t key[DISK_KEY_MAX], idkey[8];
	struct tenant_info t;
	size_t klen;
	int rc;

	rc = tenant_txn_tenant_get(txn, d->tenant_id, &t);
	if (!rc)
		rc = tenant_txn_quota_check(txn, d->tenant_id, 0, d->size,
					    true);
	if (rc)
		return rc;
	klen = disk_key(key, d->tenant_id, d->vm, d->name);
	rc = tenant_db_put(txn, TENANT_DB_DISKS, key, klen, "", 0,
			   TENANT_DB_NOOVERWRITE);
	if (!rc)
		rc = tenant_meta_next_id(txn, "next_disk_id", &d->id);
	/* Overwrite the placeholder that claimed the key above. */
	if (!rc)
		rc = disk_put_key(txn, key, klen, d);
	if (rc)
		return rc;
	tenant_rec_put_be64(idkey, d->id);
	return tenant_db_put(txn, TENANT_DB_DISK_BY_ID, idkey, sizeof(idkey),
			     key, klen, TENANT_DB_NOOVERWRITE);
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
	    tmp.size == 0 || !extent_size_valid(tmp.extent_size) ||
	    !checkpoint_valid(tmp.checkpoint_s))
		return -EINVAL;
	tmp.created = (uint64_t)time(NULL);
	rc = tenant_cat_write(cat, disk_add_fn, &tmp);
	if (!rc)
		*d = tmp;
	return rc;
}

struct disk_get_arg {
	uint64_t id;
	struct tenant_disk *out;
};

static int disk_get_fn(struct tenant_txn *txn, void *arg)
{
	struct disk_get_arg *a = arg;

	return tenant_txn_disk_get(txn, a->id, a->out);
}

int tenant_disk_get(struct tenant_catalog *cat, uint64_t tenant_id,
		    const char *vm, const char *name, struct tenant_disk *out)
{
	uint8_t key[DISK_KEY_MAX];

	if (!cat || !out || !tenant_name_valid(vm) || !tenant_name_valid(name))
		return -EINVAL;
	return tenant_cat_get(cat, TENANT_DB_DISKS, key,
			      disk_key(key, tenant_id, vm, name), dec_disk,
			      out);
}

/* Finds a disk by id through disk_by_id; returns its key in disks too. */
static int disk_by_id(struct tenant_txn *txn, uint64_t id, uint8_t *key,
		      size_t *klen, struct tenant_disk *out)
{
	struct tenant_val v;
	uint8_t idkey[8];
	int rc;

	tenant_rec_put_be64(idkey, id);
	rc = tenant_db_get(txn, TENANT_DB_DISK_BY_ID, idkey, sizeof(idkey), &v);
	if (rc)
		return rc;
	if (v.len < 9 || v.len > DISK_KEY_MAX)
		return -EIO;
	memcpy(key, v.data, v.len);
	*klen = v.len;
	rc = tenant_db_get(txn, TENANT_DB_DISKS, key, *klen, &v);
	if (!rc)
		rc = tenant_rec_disk_decode(v.data, v.len, out);
	/* A dangling index entry is corruption, not "no such disk". */
	if (rc == -ENOENT || (!rc && out->id != id))
		rc = -EIO;
	return rc;
}

int tenant_txn_disk_get(struct tenant_txn *txn, uint64_t id,
			struct tenant_disk *out)
{
	uint8_t key[DISK_KEY_MAX];
	size_t klen;

	return disk_by_id(txn, id, key, &klen, out);
}

int tenant_txn_disk_put(struct tenant_txn *txn, const struct tenant_disk *d)
{
	uint8_t key[DISK_KEY_MAX];
	struct tenant_disk old;
	size_t klen;
	int rc;

	rc = disk_by_id(txn, d->id, key, &klen, &old);
	if (rc)
		return rc;
	/* The key is made of these; changing them would need a new key. */
	if (old.tenant_id != d->tenant_id || strcmp(old.vm, d->vm) ||
	    strcmp(old.name, d->name))
		return -EINVAL;
	return disk_put_key(txn, key, klen, d);
}

int tenant_disk_get_by_id(struct tenant_catalog *cat, uint64_t id,
			  struct tenant_disk *out)
{
	struct disk_get_arg a = {.id = id, .out = out};

	if (!cat || !out)
		return -EINVAL;
	return tenant_cat_read(cat, disk_get_fn, &a);
}

int tenant_disk_list(struct tenant_catalog *cat, uint64_t tenant_id,
		     int (*cb)(const struct tenant_disk *d, void *arg),
		     void *arg)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_disk)};
	const struct tenant_disk *items;
	uint8_t prefix[8];
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	tenant_rec_put_be64(prefix, tenant_id);
	rc = tenant_cat_collect(cat, TENANT_DB_DISKS, prefix,
				tenant_id ? sizeof(prefix) : 0, dec_disk, &v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(&items[i], arg);
	free(v.items);
	return rc;
}

static int disk_remove_fn(struct tenant_txn *txn, void *arg)
{
	uint64_t id = *(const uint64_t *)arg;
	uint8_t key[DISK_KEY_MAX], idkey[8];
	struct tenant_disk d;
	size_t klen;
	int rc;

	rc = disk_by_id(txn, id, key, &klen, &d);
	if (!rc)
		rc = tenant_txn_rp_forget_disk(txn, id);
	if (!rc)
		rc = tenant_db_del(txn, TENANT_DB_DISKS, key, klen);
	tenant_rec_put_be64(idkey, id);
	if (!rc)
		rc = tenant_db_del(txn, TENANT_DB_DISK_BY_ID, idkey,
				   sizeof(idkey));
	if (!rc)
		rc = tenant_txn_policy_forget(txn, 'd', id);
	if (!rc)
		rc = tenant_txn_limits_forget(txn, 'd', id);
	return rc;
}

int tenant_disk_remove(struct tenant_catalog *cat, uint64_t id)
{
	if (!cat)
		return -EINVAL;
	return tenant_cat_write(cat, disk_remove_fn, &id);
}

/* ---- settings ---- */

struct setting {
	uint64_t id;
	uint64_t value;
};

static int tenant_checkpoint_fn(struct tenant_txn *txn, void *arg)
{
	const struct setting *s = arg;
	struct tenant_info t;
	int rc;

	rc = tenant_txn_tenant_get(txn, s->id, &t);
	if (rc)
		return rc;
	t.checkpoint_s = (uint32_t)s->value;
	return tenant_txn_tenant_put(txn, &t);
}

int tenant_set_checkpoint(struct tenant_catalog *cat, uint64_t tenant_id,
			  uint32_t seconds)
{
	struct setting s = {.id = tenant_id, .value = seconds};

	if (!cat || !checkpoint_valid(seconds))
		return -EINVAL;
	return tenant_cat_write(cat, tenant_checkpoint_fn, &s);
}

static int disk_checkpoint_fn(struct tenant_txn *txn, void *arg)
{
	const struct setting *s = arg;
	struct tenant_disk d;
	int rc;

	rc = tenant_txn_disk_get(txn, s->id, &d);
	if (rc)
		return rc;
	d.checkpoint_s = (uint32_t)s->value;
	return tenant_txn_disk_put(txn, &d);
}

int tenant_disk_set_checkpoint(struct tenant_catalog *cat, uint64_t disk_id,
			       uint32_t seconds)
{
	struct setting s = {.id = disk_id, .value = seconds};

	if (!cat || !checkpoint_valid(seconds))
		return -EINVAL;
	return tenant_cat_write(cat, disk_checkpoint_fn, &s);
}

/* Shrinking would cut data out from under existing restore points and
 * the replicating VM, so only growth is allowed. */
static int disk_resize_fn(struct tenant_txn *txn, void *arg)
{
	const struct setting *s = arg;
	struct tenant_disk d;
	int rc;

	rc = tenant_txn_disk_get(txn, s->id, &d);
	if (rc)
		return rc;
	if (s->value <= d.size)
		return -EINVAL;
	rc = tenant_txn_quota_check(txn, d.tenant_id, d.size, s->value, false);
	if (rc)
		return rc;
	d.size = s->value;
	return tenant_txn_disk_put(txn, &d);
}

int tenant_disk_resize(struct tenant_catalog *cat, uint64_t disk_id,
		       uint64_t new_size)
{
	struct setting s = {.id = disk_id, .value = new_size};

	if (!cat || new_size == 0 || new_size % 512)
		return -EINVAL;
	return tenant_cat_write(cat, disk_resize_fn, &s);
}
