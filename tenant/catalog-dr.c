/* Catalog operations for DR: retention policies, pins and immutability of
 * restore points, failover tests and failovers.  Key layouts are in
 * catalog.c.
 *
 * Holders.  A restore point's pins count every reason to keep it beyond
 * its tier: one per `havenctl rp pin`, one per running test that uses
 * it, one per failover that was promoted from it.  Tests and failovers
 * take and drop their pins in the same transaction that records them,
 * and an operator's unpin may not drop a pin they account for, so a
 * point a running test reads can never be removed.
 *
 * Immutability is judged at removal time from the tenant's current
 * window: created_ms + immutable_days days.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

#define POLICY_KEY_LEN 9
#define FAILOVER_KEY_MAX (8 + TENANT_NAME_MAX)
#define MS_PER_DAY (86400ull * 1000)

static const char K_NEXT_TEST[] = "next_test_id";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void policy_key(uint8_t *k, char kind, uint64_t id)
{
	k[0] = (uint8_t)kind;
	tenant_rec_put_be64(k + 1, id);
}

static size_t failover_key(uint8_t *k, uint64_t tenant_id, const char *vm)
{
	size_t n = strlen(vm);

	tenant_rec_put_be64(k, tenant_id);
	memcpy(k + 8, vm, n);
	return 8 + n;
}

/* ---- policies ---- */

/* A missing policy is the default: keep all, no window. */
static int policy_get(struct tenant_txn *txn, char kind, uint64_t id,
		      struct tenant_rec_policy *out)
{
	uint8_t key[POLICY_KEY_LEN];
	struct tenant_val v;
	int rc;

	policy_key(key, kind, id);
	rc = tenant_db_get(txn, TENANT_DB_POLICIES, key, sizeof(key), &v);
	if (rc == -ENOENT) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return rc ? rc : tenant_rec_policy_decode(v.data, v.len, out);
}

static int policy_put(struct tenant_txn *txn, char kind, uint64_t id,
		      const struct tenant_rec_policy *p)
{
	uint8_t key[POLICY_KEY_LEN], buf[TENANT_REC_MAX];
	size_t len;
	int rc;

	policy_key(key, kind, id);
	/* Nothing to remember: the default takes no record. */
	if (!p->policy[0] && !p->immutable_days) {
		rc = tenant_db_del(txn, TENANT_DB_POLICIES, key, sizeof(key));
		return rc == -ENOENT ? 0 : rc;
	}
	rc = tenant_rec_policy_encode(p, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	return tenant_db_put(txn, TENANT_DB_POLICIES, key, sizeof(key), buf,
			     len, 0);
}

int tenant_txn_policy_forget(struct tenant_txn *txn, char kind, uint64_t id)
{
	static const struct tenant_rec_policy none;

	return policy_put(txn, kind, id, &none);
}

/* Canonical text of a ladder into p->policy ("" stays "" for disks:
 * inherit).  -EINVAL if it does not parse. */
static int canonical(const char *text, bool empty_ok,
		     struct tenant_rec_policy *p)
{
	struct tenant_retention r;

	if (!text || strnlen(text, TENANT_RETENTION_TEXT_MAX) ==
			     TENANT_RETENTION_TEXT_MAX)
		return -EINVAL;
	if (!text[0] && empty_ok) {
		p->policy[0] = '\0';
		return 0;
	}
	if (tenant_retention_parse(text, &r, NULL, 0))
		return -EINVAL;
	tenant_retention_format(&r, p->policy, sizeof(p->policy));
	return 0;
}

struct policy_arg {
	char kind;
	uint64_t id;
	struct tenant_rec_policy p;
};

static int policy_set_fn(struct tenant_txn *txn, void *arg)
{
	struct policy_arg *a = arg;
	struct tenant_info t;
	struct tenant_disk d;
	int rc;

	rc = a->kind == 't' ? tenant_txn_tenant_get(txn, a->id, &t)
			    : tenant_txn_disk_get(txn, a->id, &d);
	return rc ? rc : policy_put(txn, a->kind, a->id, &a->p);
}

static int policy_get_fn(struct tenant_txn *txn, void *arg)
{
	struct policy_arg *a = arg;
	struct tenant_info t;
	struct tenant_disk d;
	int rc;

	rc = a->kind == 't' ? tenant_txn_tenant_get(txn, a->id, &t)
			    : tenant_txn_disk_get(txn, a->id, &d);
	return rc ? rc : policy_get(txn, a->kind, a->id, &a->p);
}

int tenant_set_retention(struct tenant_catalog *cat, uint64_t tenant_id,
			 const char *policy, uint32_t immutable_days)
{
	struct policy_arg a = {.kind = 't', .id = tenant_id};

	if (!cat || immutable_days > TENANT_IMMUTABLE_DAYS_MAX ||
	    canonical(policy, false, &a.p))
		return -EINVAL;
	/* "none" is the default; storing it as "" keeps one spelling. */
	if (!strcmp(a.p.policy, "none"))
		a.p.policy[0] = '\0';
	a.p.immutable_days = immutable_days;
	return tenant_cat_write(cat, policy_set_fn, &a);
}

int tenant_get_retention(struct tenant_catalog *cat, uint64_t tenant_id,
			 char *policy, size_t len, uint32_t *immutable_days)
{
	struct policy_arg a = {.kind = 't', .id = tenant_id};
	int rc;

	if (!cat || (!policy && len))
		return -EINVAL;
	rc = tenant_cat_read(cat, policy_get_fn, &a);
	if (rc)
		return rc;
	if (policy && len)
		snprintf(policy, len, "%s",
			 a.p.policy[0] ? a.p.policy : "none");
	if (immutable_days)
		*immutable_days = a.p.immutable_days;
	return 0;
}

int tenant_disk_set_retention(struct tenant_catalog *cat, uint64_t disk_id,
			      const char *policy)
{
	struct policy_arg a = {.kind = 'd', .id = disk_id};

	if (!cat || canonical(policy, true, &a.p))
		return -EINVAL;
	return tenant_cat_write(cat, policy_set_fn, &a);
}

int tenant_disk_get_retention(struct tenant_catalog *cat, uint64_t disk_id,
			      char *policy, size_t len)
{
	struct policy_arg a = {.kind = 'd', .id = disk_id};
	int rc;

	if (!cat || !policy || !len)
		return -EINVAL;
	rc = tenant_cat_read(cat, policy_get_fn, &a);
	if (!rc)
		snprintf(policy, len, "%s", a.p.policy);
	return rc;
}

/* ---- pins and immutability ---- */

static int window_end(struct tenant_txn *txn, const struct tenant_disk *d,
		      const struct tenant_rp *rp, uint64_t *until)
{
	struct tenant_rec_policy p;
	int rc;

	rc = policy_get(txn, 't', d->tenant_id, &p);
	if (rc)
		return rc;
	*until = p.immutable_days
			 ? rp->created_ms + p.immutable_days * MS_PER_DAY
			 : 0;
	return 0;
}

int tenant_txn_rp_removable(struct tenant_txn *txn, const struct tenant_disk *d,
			    const struct tenant_rp *rp, uint64_t now)
{
	uint64_t until;
	int rc;

	rc = window_end(txn, d, rp, &until);
	if (rc)
		return rc;
	if (until > now)
		return -EPERM;
	return rp->pins ? -EBUSY : 0;
}

struct rp_arg {
	uint64_t disk_id;
	uint64_t rp_id;
	int delta;
	uint64_t until;
};

static int immutable_fn(struct tenant_txn *txn, void *arg)
{
	struct rp_arg *a = arg;
	struct tenant_disk d;
	struct tenant_rp rp;
	int rc;

	rc = tenant_txn_disk_get(txn, a->disk_id, &d);
	if (!rc)
		rc = tenant_txn_rp_get(txn, a->disk_id, a->rp_id, &rp);
	return rc ? rc : window_end(txn, &d, &rp, &a->until);
}

int tenant_rp_immutable_until(struct tenant_catalog *cat, uint64_t disk_id,
			      uint64_t rp_id, uint64_t *until_ms)
{
	struct rp_arg a = {.disk_id = disk_id, .rp_id = rp_id};
	int rc;

	if (!cat || !until_ms)
		return -EINVAL;
	rc = tenant_cat_read(cat, immutable_fn, &a);
	if (!rc)
		*until_ms = a.until;
	return rc;
}

/* Counts the holders of one restore point among running tests and
 * failovers. */
struct holders {
	uint64_t disk_id;
	uint64_t rp_id;
	uint32_t n;
	bool failovers;
};

static int count_holder(const struct tenant_val *k, const struct tenant_val *v,
			void *arg)
{
	struct holders *h = arg;
	struct tenant_failover f;
	struct tenant_test t;
	uint32_t i;
	int rc;

	(void)k;
	if (h->failovers) {
		rc = tenant_rec_failover_decode(v->data, v->len, &f);
		t.ndisks = f.ndisks;
		memcpy(t.disks, f.disks, sizeof(t.disks));
		t.state = TENANT_TEST_RUNNING;
	} else {
		rc = tenant_rec_test_decode(v->data, v->len, &t);
	}
	if (rc || t.state != TENANT_TEST_RUNNING)
		return rc;
	for (i = 0; i < t.ndisks; i++)
		if (t.disks[i].disk_id == h->disk_id &&
		    t.disks[i].rp_id == h->rp_id)
			h->n++;
	return 0;
}

static int dr_holders(struct tenant_txn *txn, uint64_t disk_id, uint64_t rp_id,
		      uint32_t *n)
{
	struct holders h = {.disk_id = disk_id, .rp_id = rp_id};
	int rc;

	rc = tenant_db_scan(txn, TENANT_DB_TESTS, NULL, 0, count_holder, &h);
	h.failovers = true;
	if (!rc)
		rc = tenant_db_scan(txn, TENANT_DB_FAILOVERS, NULL, 0,
				    count_holder, &h);
	*n = h.n;
	return rc;
}

static int pin_txn(struct tenant_txn *txn, uint64_t disk_id, uint64_t rp_id,
		   int delta, bool check_holders)
{
	struct tenant_rp rp;
	uint32_t dr;
	int rc;

	rc = tenant_txn_rp_get(txn, disk_id, rp_id, &rp);
	if (rc)
		return rc;
	if (delta > 0) {
		if (rp.pins == UINT32_MAX)
			return -EOVERFLOW;
		rp.pins++;
		return tenant_txn_rp_put(txn, &rp);
	}
	if (rp.pins == 0)
		return -EINVAL;
	if (check_holders) {
		rc = dr_holders(txn, disk_id, rp_id, &dr);
		if (rc)
			return rc;
		if (rp.pins <= dr)
			return -EBUSY;
	}
	rp.pins--;
	return tenant_txn_rp_put(txn, &rp);
}

static int pin_fn(struct tenant_txn *txn, void *arg)
{
	struct rp_arg *a = arg;

	return pin_txn(txn, a->disk_id, a->rp_id, a->delta, true);
}

int tenant_rp_pin(struct tenant_catalog *cat, uint64_t disk_id, uint64_t rp_id,
		  int delta)
{
	struct rp_arg a = {.disk_id = disk_id, .rp_id = rp_id, .delta = delta};

	if (!cat || (delta != 1 && delta != -1))
		return -EINVAL;
	return tenant_cat_write(cat, pin_fn, &a);
}

/* ---- tests and failovers ---- */

/* The disks of a test or failover, checked and cloned: each disk is the
 * tenant's, of the VM, listed once; each restore point exists and gets a
 * pin; each clone gets an id from the disk counter. */
static int dr_take(struct tenant_txn *txn, uint64_t tenant_id, const char *vm,
		   uint32_t n, uint64_t (*disks)[3])
{
	struct tenant_disk d;
	uint32_t i, j;
	int rc;

	if (n == 0 || n > 16)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (disks[j][0] == disks[i][0])
				return -EINVAL;
		rc = tenant_txn_disk_get(txn, disks[i][0], &d);
		if (rc)
			return rc;
		if (d.tenant_id != tenant_id || strcmp(d.vm, vm))
			return -EINVAL;
		rc = pin_txn(txn, disks[i][0], disks[i][1], 1, false);
		if (!rc)
			rc = tenant_meta_next_id(txn, "next_disk_id",
						 &disks[i][2]);
		if (rc)
			return rc;
	}
	return 0;
}

static bool vm_ok(const char *vm)
{
	return memchr(vm, '\0', TENANT_NAME_MAX + 1) && tenant_name_valid(vm);
}

static int test_put(struct tenant_txn *txn, const struct tenant_test *t,
		    unsigned flags)
{
	uint8_t key[8], buf[TENANT_REC_MAX];
	size_t len;
	int rc;

	rc = tenant_rec_test_encode(t, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	tenant_rec_put_be64(key, t->id);
	return tenant_db_put(txn, TENANT_DB_TESTS, key, sizeof(key), buf, len,
			     flags);
}

static int test_add_fn(struct tenant_txn *txn, void *arg)
{
	struct tenant_test *t = arg;
	struct tenant_info ti;
	uint64_t d[16][3];
	int rc;

	rc = tenant_txn_tenant_get(txn, t->tenant_id, &ti);
	if (rc)
		return rc;
	memcpy(d, t->disks, sizeof(d));
	rc = dr_take(txn, t->tenant_id, t->vm, t->ndisks, d);
	if (!rc)
		rc = tenant_meta_next_id(txn, K_NEXT_TEST, &t->id);
	if (rc)
		return rc;
	memcpy(t->disks, d, sizeof(d));
	rc = test_put(txn, t, TENANT_DB_NOOVERWRITE);
	return rc == -EEXIST ? -EIO : rc;
}

int tenant_test_add(struct tenant_catalog *cat, struct tenant_test *t)
{
	struct tenant_test tmp;
	int rc;

	if (!cat || !t)
		return -EINVAL;
	tmp = *t;
	if (!vm_ok(tmp.vm) || !memchr(tmp.note, '\0', sizeof(tmp.note)))
		return -EINVAL;
	tmp.state = TENANT_TEST_RUNNING;
	tmp.stopped_ms = 0;
	tmp.bytes_written = 0;
	if (!tmp.started_ms)
		tmp.started_ms = now_ms();
	rc = tenant_cat_write(cat, test_add_fn, &tmp);
	if (!rc)
		*t = tmp;
	return rc;
}

static int dec_test(const struct tenant_val *k, const struct tenant_val *v,
		    void *out)
{
	struct tenant_test *t = out;
	int rc;

	rc = tenant_rec_test_decode(v->data, v->len, t);
	if (!rc && (k->len != 8 || tenant_rec_get_be64(k->data) != t->id))
		rc = -EIO;
	return rc;
}

int tenant_test_get(struct tenant_catalog *cat, uint64_t id,
		    struct tenant_test *out)
{
	uint8_t key[8];

	if (!cat || !out)
		return -EINVAL;
	tenant_rec_put_be64(key, id);
	return tenant_cat_get(cat, TENANT_DB_TESTS, key, sizeof(key), dec_test,
			      out);
}

int tenant_test_list(struct tenant_catalog *cat,
		     int (*cb)(const struct tenant_test *t, void *arg),
		     void *arg)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_test)};
	const struct tenant_test *items;
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	rc = tenant_cat_collect(cat, TENANT_DB_TESTS, NULL, 0, dec_test, &v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(&items[i], arg);
	free(v.items);
	return rc;
}

static int test_finish_fn(struct tenant_txn *txn, void *arg)
{
	const struct tenant_test *in = arg;
	struct tenant_test t;
	uint8_t key[8];
	uint32_t i;
	int rc;

	tenant_rec_put_be64(key, in->id);
	rc = tenant_db_get_rec(txn, TENANT_DB_TESTS, key, sizeof(key), dec_test,
			       &t);
	if (rc)
		return rc;
	if (t.state != TENANT_TEST_RUNNING)
		return -EALREADY;
	t.state = in->state;
	t.stopped_ms = in->stopped_ms ? in->stopped_ms : now_ms();
	t.bytes_written = in->bytes_written;
	memcpy(t.note, in->note, sizeof(t.note));
	/* A test must always be stoppable: a restore point that somehow
	 * lost the pin (or vanished) is not a reason to keep it running. */
	for (i = 0; i < t.ndisks; i++) {
		rc = pin_txn(txn, t.disks[i].disk_id, t.disks[i].rp_id, -1,
			     false);
		if (rc && rc != -ENOENT && rc != -EINVAL)
			return rc;
		/* Its objects are gone: so is its cost. */
		rc = tenant_txn_ledger_forget(txn, t.disks[i].clone_id);
		if (rc)
			return rc;
	}
	return test_put(txn, &t, 0);
}

int tenant_test_finish(struct tenant_catalog *cat, const struct tenant_test *t)
{
	if (!cat || !t || !memchr(t->note, '\0', sizeof(t->note)) ||
	    (t->state != TENANT_TEST_STOPPED && t->state != TENANT_TEST_FAILED))
		return -EINVAL;
	return tenant_cat_write(cat, test_finish_fn, (void *)(uintptr_t)t);
}

static int failover_add_fn(struct tenant_txn *txn, void *arg)
{
	struct tenant_failover *f = arg;
	uint8_t key[FAILOVER_KEY_MAX], buf[TENANT_REC_MAX];
	struct tenant_info ti;
	struct tenant_val v;
	uint64_t d[16][3];
	size_t klen, len;
	int rc;

	rc = tenant_txn_tenant_get(txn, f->tenant_id, &ti);
	if (rc)
		return rc;
	klen = failover_key(key, f->tenant_id, f->vm);
	rc = tenant_db_get(txn, TENANT_DB_FAILOVERS, key, klen, &v);
	if (rc != -ENOENT)
		return rc ? rc : -EEXIST;
	memcpy(d, f->disks, sizeof(d));
	rc = dr_take(txn, f->tenant_id, f->vm, f->ndisks, d);
	if (rc)
		return rc;
	memcpy(f->disks, d, sizeof(d));
	rc = tenant_rec_failover_encode(f, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	return tenant_db_put(txn, TENANT_DB_FAILOVERS, key, klen, buf, len,
			     TENANT_DB_NOOVERWRITE);
}

int tenant_failover_add(struct tenant_catalog *cat, struct tenant_failover *f)
{
	struct tenant_failover tmp;
	int rc;

	if (!cat || !f)
		return -EINVAL;
	tmp = *f;
	if (!vm_ok(tmp.vm))
		return -EINVAL;
	if (!tmp.promoted_ms)
		tmp.promoted_ms = now_ms();
	rc = tenant_cat_write(cat, failover_add_fn, &tmp);
	if (!rc)
		*f = tmp;
	return rc;
}

static int dec_failover(const struct tenant_val *k, const struct tenant_val *v,
			void *out)
{
	(void)k;
	return tenant_rec_failover_decode(v->data, v->len, out);
}

int tenant_failover_get(struct tenant_catalog *cat, uint64_t tenant_id,
			const char *vm, struct tenant_failover *out)
{
	uint8_t key[FAILOVER_KEY_MAX];

	if (!cat || !out || !vm || !tenant_name_valid(vm))
		return -EINVAL;
	return tenant_cat_get(cat, TENANT_DB_FAILOVERS, key,
			      failover_key(key, tenant_id, vm), dec_failover,
			      out);
}
