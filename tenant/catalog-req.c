/* Requests from havenctl to a running havend, which owns the snap
 * context of the disks it serves: havenctl adds one and waits, havend
 * lists the pending ones, runs them and records the outcome.  Key layouts
 * are in catalog.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "tenant-int.h"
#include "tenant.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The same rule as catalog-rp.c: a restore point name must not read as
 * an id or as "latest". */
static bool rp_name_valid(const char *s)
{
	return tenant_name_valid(s) && strcmp(s, "latest") &&
	       strspn(s, "0123456789") != strlen(s);
}

/* ---- requests ---- */

/* What havenctl puts in a request must arrive whole: a restore point
 * name or a test stop's note in name (havenctl refuses longer ones up
 * front), and the VM as the catalog holds it.  havend copies a note into
 * the test's record, which must hold as much. */
#define FIELD_SIZE(type, f) sizeof(((struct type *)0)->f)
_Static_assert(FIELD_SIZE(tenant_req, name) > TENANT_NAME_MAX,
	       "a restore point name must fit tenant_req.name");
_Static_assert(FIELD_SIZE(tenant_req, name) == TENANT_REQ_NAME_MAX + 1 &&
		       FIELD_SIZE(tenant_test, note) > TENANT_REQ_NAME_MAX,
	       "a test stop's note must fit tenant_req.name and the test");
_Static_assert(FIELD_SIZE(tenant_req, vm) == FIELD_SIZE(tenant_disk, vm),
	       "a disk's VM must fit tenant_req.vm");

static bool req_valid(const struct tenant_req *r)
{
	if (!memchr(r->vm, '\0', sizeof(r->vm)) ||
	    !memchr(r->name, '\0', sizeof(r->name)))
		return false;
	switch (r->type) {
	case TENANT_REQ_RP_CREATE:
		if (r->name[0] && !rp_name_valid(r->name))
			return false;
		/* One disk, or every disk of one VM. */
		return r->disk_id || (r->tenant_id && tenant_name_valid(r->vm));
	case TENANT_REQ_RP_REMOVE:
		return r->disk_id && r->rp_id;
	case TENANT_REQ_DISK_RESIZE:
		return r->disk_id && r->size && r->size % 512 == 0;
	case TENANT_REQ_TEST_START:
	case TENANT_REQ_PROMOTE:
		/* The restore point spec: "" (latest), "latest", an id or a
		 * name, all of which are valid names. */
		return r->tenant_id && tenant_name_valid(r->vm) &&
		       (!r->name[0] || tenant_name_valid(r->name));
	case TENANT_REQ_TEST_STOP:
		return r->rp_id != 0; /* the test id; name is a free note */
	default:
		return false;
	}
}

static int dec_req(const struct tenant_val *k, const struct tenant_val *v,
		   void *out)
{
	struct tenant_req *r = out;
	int rc;

	rc = tenant_rec_req_decode(v->data, v->len, r);
	if (!rc && (k->len != 8 || tenant_rec_get_be64(k->data) != r->id))
		rc = -EIO;
	return rc;
}

static int dec_req_pending(const struct tenant_val *k,
			   const struct tenant_val *v, void *out)
{
	int rc = dec_req(k, v, out);

	if (!rc && ((struct tenant_req *)out)->state != TENANT_REQ_PENDING)
		rc = TENANT_SKIP;
	return rc;
}

static int req_put(struct tenant_txn *txn, const struct tenant_req *r,
		   unsigned flags)
{
	uint8_t key[8], buf[TENANT_REC_MAX];
	size_t len;
	int rc;

	rc = tenant_rec_req_encode(r, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	tenant_rec_put_be64(key, r->id);
	return tenant_db_put(txn, TENANT_DB_REQS, key, sizeof(key), buf, len,
			     flags);
}

static int req_get_txn(struct tenant_txn *txn, uint64_t id,
		       struct tenant_req *out)
{
	uint8_t key[8];

	tenant_rec_put_be64(key, id);
	return tenant_db_get_rec(txn, TENANT_DB_REQS, key, sizeof(key), dec_req,
				 out);
}

static int req_add_fn(struct tenant_txn *txn, void *arg)
{
	struct tenant_req *r = arg;
	int rc;

	rc = tenant_meta_next_id(txn, "next_req_id", &r->id);
	if (rc)
		return rc;
	rc = req_put(txn, r, TENANT_DB_NOOVERWRITE);
	return rc == -EEXIST ? -EIO : rc;
}

int tenant_req_add(struct tenant_catalog *cat, struct tenant_req *r)
{
	struct tenant_req tmp;
	int rc;

	if (!cat || !r)
		return -EINVAL;
	tmp = *r;
	if (!req_valid(&tmp))
		return -EINVAL;
	/* A new request has no outcome yet, whatever the caller left in
	 * the struct. */
	tmp.state = TENANT_REQ_PENDING;
	tmp.error = 0;
	tmp.message[0] = '\0';
	if (!tmp.created_ms)
		tmp.created_ms = now_ms();
	rc = tenant_cat_write(cat, req_add_fn, &tmp);
	if (!rc)
		*r = tmp;
	return rc;
}

int tenant_req_get(struct tenant_catalog *cat, uint64_t id,
		   struct tenant_req *out)
{
	uint8_t key[8];

	if (!cat || !out)
		return -EINVAL;
	tenant_rec_put_be64(key, id);
	return tenant_cat_get(cat, TENANT_DB_REQS, key, sizeof(key), dec_req,
			      out);
}

int tenant_req_list_pending(struct tenant_catalog *cat,
			    int (*cb)(const struct tenant_req *r, void *arg),
			    void *arg)
{
	struct tenant_vec v = {.size = sizeof(struct tenant_req)};
	const struct tenant_req *items;
	size_t i;
	int rc;

	if (!cat || !cb)
		return -EINVAL;
	/* Ids are allocated in order, so key order is age order. */
	rc = tenant_cat_collect(cat, TENANT_DB_REQS, NULL, 0, dec_req_pending,
				&v);
	items = v.items;
	for (i = 0; !rc && i < v.n; i++)
		rc = cb(&items[i], arg);
	free(v.items);
	return rc;
}

static int req_finish_fn(struct tenant_txn *txn, void *arg)
{
	const struct tenant_req *in = arg;
	struct tenant_req r;
	int rc;

	rc = req_get_txn(txn, in->id, &r);
	if (rc)
		return rc;
	r.state = in->state;
	r.error = in->error;
	memcpy(r.message, in->message, sizeof(r.message));
	return req_put(txn, &r, 0);
}

int tenant_req_finish(struct tenant_catalog *cat, const struct tenant_req *r)
{
	if (!cat || !r || !memchr(r->message, '\0', sizeof(r->message)))
		return -EINVAL;
	/* havenctl tells success from failure by the state alone, so the
	 * error must agree with it. */
	if (!(r->state == TENANT_REQ_DONE && r->error == 0) &&
	    !(r->state == TENANT_REQ_FAILED && r->error < 0))
		return -EINVAL;
	return tenant_cat_write(cat, req_finish_fn, (void *)(uintptr_t)r);
}

static int req_remove_fn(struct tenant_txn *txn, void *arg)
{
	uint8_t key[8];

	tenant_rec_put_be64(key, *(const uint64_t *)arg);
	return tenant_db_del(txn, TENANT_DB_REQS, key, sizeof(key));
}

int tenant_req_remove(struct tenant_catalog *cat, uint64_t id)
{
	if (!cat)
		return -EINVAL;
	return tenant_cat_write(cat, req_remove_fn, &id);
}
