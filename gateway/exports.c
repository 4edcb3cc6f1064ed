/* Export names, and the disks that connections share.
 *
 * A tenant names its exports "VM/DISK"; the tenant part always comes from
 * the client certificate, never from the name.  An operator certificate
 * names "TENANT/VM/DISK".  Whatever the reason a name does not resolve for
 * this identity (no such disk, another tenant's disk, bad syntax), the
 * answer is the same, so a tenant learns nothing about other tenants.
 *
 * One struct gw_disk per open disk, shared by every connection to it, so
 * there is one writer and one snap context per disk, and a FLUSH on any
 * connection covers the writes of all of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

struct name_parts {
	char tenant[TENANT_NAME_MAX + 1];
	char vm[TENANT_NAME_MAX + 1];
	char disk[TENANT_NAME_MAX + 1];
};

/* Splits "A/B" (ncomp 2) or "A/B/C" (ncomp 3) into valid names. */
static bool split_name(const char *name, int ncomp, struct name_parts *p)
{
	char *dst[3];
	const char *s = name;
	int i;

	if (ncomp == 3) {
		dst[0] = p->tenant;
		dst[1] = p->vm;
		dst[2] = p->disk;
	} else {
		dst[0] = p->vm;
		dst[1] = p->disk;
	}
	for (i = 0; i < ncomp; i++) {
		const char *end = strchr(s, '/');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		if ((i < ncomp - 1) != (end != NULL) || len > TENANT_NAME_MAX)
			return false;
		memcpy(dst[i], s, len);
		dst[i][len] = '\0';
		if (!tenant_name_valid(dst[i]))
			return false;
		s = end ? end + 1 : s + len;
	}
	return true;
}

struct list_ctx {
	struct gw_hs *hs;
	int (*emit)(struct gw_hs *hs, const char *name, const char *desc);
	bool with_tenant;
	struct tenant_catalog *cat;
};

static int list_one(const struct tenant_disk *d, void *arg)
{
	struct list_ctx *lc = arg;
	char name[3 * (TENANT_NAME_MAX + 1)];
	struct tenant_info t;

	if (lc->with_tenant) {
		if (tenant_get(lc->cat, d->tenant_id, &t) < 0)
			return 0;
		snprintf(name, sizeof(name), "%s/%s/%s", t.name, d->vm,
			 d->name);
	} else {
		snprintf(name, sizeof(name), "%s/%s", d->vm, d->name);
	}
	return lc->emit(lc->hs, name, "") < 0 ? -EIO : 0;
}

uint32_t gw_exports_list(struct gw_server *srv, const struct gw_identity *id,
			 struct gw_hs *hs,
			 int (*emit)(struct gw_hs *hs, const char *name,
				     const char *desc))
{
	struct list_ctx lc = {hs, emit, id->cred.operator_role, srv->cat};
	uint64_t tenant = id->cred.operator_role ? 0 : id->tenant.id;

	if (tenant_disk_list(srv->cat, tenant, list_one, &lc) < 0)
		return NBD_REP_ERR_SHUTDOWN;
	return 0;
}

static struct gw_disk *disk_find(struct gw_server *srv, uint64_t id,
				 uint64_t snap)
{
	for (struct gw_disk *d = srv->disks; d; d = d->next)
		if (d->key_id == id && d->snap == snap)
			return d;
	return NULL;
}

static int disk_open(struct gw_server *srv, const struct tenant_info *t,
		     const struct tenant_disk *td, struct gw_disk **out)
{
	struct storage_disk_params p = {
		.ns = t->ns,
		.id = td->id,
		.size = td->size,
		.extent_size = td->extent_size,
		.snap = STORAGE_SNAP_HEAD,
	};
	struct storage_store *st;
	struct gw_disk *d;
	int r;

	d = disk_find(srv, td->id, STORAGE_SNAP_HEAD);
	if (d) {
		d->refs++;
		*out = d;
		return 0;
	}
	r = gw_server_store(srv, t->route, &st);
	if (r < 0)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	r = storage_disk_open(st, &p, &d->sd);
	if (r < 0) {
		free(d);
		return r;
	}
	d->key_id = td->id;
	d->snap = STORAGE_SNAP_HEAD;
	d->refs = 1;
	snprintf(d->label, sizeof(d->label), "%s/%s/%s", t->name, td->vm,
		 td->name);
	d->next = srv->disks;
	srv->disks = d;
	gw_log(GW_LOG_INFO, "event=disk_open disk=%s size=%" PRIu64, d->label,
	       td->size);
	*out = d;
	return 0;
}

void gw_disk_put(struct gw_server *srv, struct gw_disk *d)
{
	struct gw_disk **pp;

	if (!d || --d->refs > 0)
		return;
	for (pp = &srv->disks; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	gw_log(GW_LOG_INFO, "event=disk_close disk=%s", d->label);
	storage_disk_close(d->sd);
	free(d);
}

void gw_exports_close_all(struct gw_server *srv)
{
	while (srv->disks) {
		srv->disks->refs = 1;
		gw_disk_put(srv, srv->disks);
	}
}

/* Finds the tenant and disk an identity means by a name. */
static int resolve(struct gw_server *srv, const struct gw_identity *id,
		   const char *name, struct tenant_info *t,
		   struct tenant_disk *td)
{
	struct name_parts p;
	int r;

	if (id->cred.operator_role) {
		if (!split_name(name, 3, &p))
			return -ENOENT;
		r = tenant_get_by_name(srv->cat, p.tenant, t);
		if (r < 0)
			return r;
	} else {
		if (!split_name(name, 2, &p))
			return -ENOENT;
		*t = id->tenant;
	}
	return tenant_disk_get(srv->cat, t->id, p.vm, p.disk, td);
}

uint32_t gw_exports_lookup(struct gw_server *srv, const struct gw_identity *id,
			   const char *name, bool go, struct gw_export *exp,
			   struct gw_disk **diskp, uint64_t *disk_id,
			   char *msg, size_t msglen)
{
	struct tenant_disk td;
	struct tenant_info t;
	int r;

	r = resolve(srv, id, name, &t, &td);
	if (r == -ENOENT || r == -EINVAL) {
		snprintf(msg, msglen, "export '%.200s' not present", name);
		return NBD_REP_ERR_UNKNOWN;
	}
	if (r < 0) {
		snprintf(msg, msglen, "catalog unavailable, try again later");
		return NBD_REP_ERR_SHUTDOWN;
	}
	if (srv->draining) {
		snprintf(msg, msglen, "gateway is stopping, try again later");
		return NBD_REP_ERR_SHUTDOWN;
	}
	memset(exp, 0, sizeof(*exp));
	exp->size = td.size;
	exp->read_only = false;
	exp->pref_block = td.extent_size;
	snprintf(exp->description, sizeof(exp->description),
		 "haven disk %.36s/%.36s/%.36s", t.name, td.vm, td.name);
	if (!go)
		return 0;
	r = disk_open(srv, &t, &td, diskp);
	if (r < 0) {
		gw_log(GW_LOG_ERROR,
		       "event=disk_open_failed tenant=%s disk=%s/%s error=\"%s\"",
		       t.name, td.vm, td.name, strerror(-r));
		snprintf(msg, msglen, "storage for '%.200s' unavailable: %s",
			 name, strerror(-r));
		return NBD_REP_ERR_SHUTDOWN;
	}
	*disk_id = td.id;
	if (id->cred.operator_role)
		gw_log(GW_LOG_INFO,
		       "event=operator_open site=%s export=%s/%s/%s",
		       id->cred.site, t.name, td.vm, td.name);
	return 0;
}
