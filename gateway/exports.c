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
#include <time.h>

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

/* Operators also see the clones of running failover tests. */
static int list_test(const struct tenant_test *t, void *arg)
{
	struct list_ctx *lc = arg;
	char name[3 * (TENANT_NAME_MAX + 1) + 32], desc[96];
	struct tenant_info ti;
	struct tenant_disk d;

	if (t->state != TENANT_TEST_RUNNING ||
	    tenant_get(lc->cat, t->tenant_id, &ti) < 0)
		return 0;
	for (uint32_t i = 0; i < t->ndisks && i < 16; i++) {
		if (tenant_disk_get_by_id(lc->cat, t->disks[i].disk_id, &d) < 0)
			continue;
		snprintf(name, sizeof(name), "%s/%s/%s@test-%" PRIu64, ti.name,
			 d.vm, d.name, t->id);
		snprintf(desc, sizeof(desc),
			 "failover test %" PRIu64
			 ": writable clone of restore point %" PRIu64,
			 t->id, t->disks[i].rp_id);
		if (lc->emit(lc->hs, name, desc) < 0)
			return -EIO;
	}
	return 0;
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
	if (id->cred.operator_role &&
	    tenant_test_list(srv->cat, list_test, &lc) < 0)
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

/* A disk whose open failed answers for it this long; then it is tried
 * again. */
#define OPEN_RETRY_MS 5000

/* A new shared disk.  async: the disk layer opens on a pool thread
 * (disk-open.c); the disk is returned opening, with sd NULL. */
static struct gw_disk *disk_new(struct gw_server *srv,
				const struct tenant_info *t,
				const struct tenant_disk *td,
				struct storage_disk_params *p, bool async)
{
	struct gw_store *s;
	struct gw_disk *d;
	int r;

	r = gw_server_store(srv, t->route, &s);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	p->ns = t->ns;
	p->id = td->id;
	p->extent_size = td->extent_size;
	d->store = s;
	r = async ? gw_disk_open_async(srv, d, p)
		  : storage_disk_open(s->st, p, &d->sd);
	if (r < 0) {
		free(d);
		errno = -r;
		return NULL;
	}
	d->key_id = td->id;
	d->tenant_id = t->id;
	d->snap = p->snap;
	d->refs = 1;
	snprintf(d->ns, sizeof(d->ns), "%s", t->ns);
	snprintf(d->label, sizeof(d->label), "%s/%s/%s", t->name, td->vm,
		 td->name);
	d->next = srv->disks;
	srv->disks = d;
	return d;
}

static bool disk_unlink(struct gw_server *srv, struct gw_disk *d)
{
	for (struct gw_disk **pp = &srv->disks; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			return true;
		}
	}
	return false;
}

/* A disk whose open failed answers for it until OPEN_RETRY_MS have
 * passed; then it is forgotten (the next session opens it again) and its
 * sessions keep it until they end. */
static bool failed_expire(struct gw_server *srv, struct gw_disk *d)
{
	if (!d->open_err || d->opening ||
	    uv_now(srv->loop) - d->failed_ms < OPEN_RETRY_MS)
		return false;
	gw_log(GW_LOG_INFO,
	       "event=disk_failed_forget disk=%s sessions=%u error=\"%s\"",
	       d->label, d->refs, strerror(-d->open_err));
	disk_unlink(srv, d);
	if (!d->refs)
		gw_disk_release(srv, d);
	return true;
}

void gw_exports_expire_failed(struct gw_server *srv)
{
	for (struct gw_disk *d = srv->disks, *n; d; d = n) {
		n = d->next;
		failed_expire(srv, d);
	}
}

/* The live disk if shared already (with a new reference); a failed
 * open answers with its error for a while. */
static int live_find(struct gw_server *srv, uint64_t id, struct gw_disk **out)
{
	struct gw_disk *d = disk_find(srv, id, STORAGE_SNAP_HEAD);

	*out = NULL;
	if (d && d->open_err)
		return failed_expire(srv, d) ? 0 : d->open_err;
	if (d) {
		d->refs++;
		*out = d;
	}
	return 0;
}

int gw_disk_open_live(struct gw_server *srv, const struct tenant_info *t,
		      const struct tenant_disk *td, struct gw_disk **out)
{
	struct storage_disk_params p = {
		.size = td->size,
		.snap = STORAGE_SNAP_HEAD,
		.snap_seq = td->snap_seq,
	};
	uint64_t *snaps = NULL, last_ms = 0;
	struct tenant_rp latest;
	uint8_t *cut_map = NULL, *saved = NULL;
	struct gw_store *store;
	struct gw_disk *d;
	unsigned n = 0;
	int r;

	r = live_find(srv, td->id, out);
	if (r < 0 || *out)
		return r;
	/* Every writer carries the disk's current snap context, or a
	 * restore point would silently take later writes. */
	r = gw_rp_load_snapc(srv, td, &snaps, &n, &last_ms);
	if (r < 0)
		return r;
	p.snaps = snaps;
	p.nsnaps = n;
	if (n && snaps[0] > p.snap_seq)
		p.snap_seq = snaps[0];
	/* The ledger counts what changes after the latest restore point
	 * as clones of what it held; after a crash (no saved map) the open
	 * asks the store which of them it cloned for that snap already. */
	if (n && tenant_rp_find(srv->cat, td->id, "latest", &latest) == 0 &&
	    tenant_rp_map(srv->cat, td->id, latest.id, &cut_map,
			  &p.cut_map_len) == 0) {
		p.cut_map = cut_map;
		p.cut_snap = latest.snap_id;
	}
	/* The map saved at the last clean close spares a listing of the
	 * store.  Taking it deletes it before anything is written, so a
	 * crash from here on leaves no stale map: the next open lists.  Only
	 * once the route's store is there: a Ceph route still connecting
	 * must not cost it.  With the map the open is quick and done here;
	 * without, the listing and the clone probe take seconds for a big
	 * Ceph disk and run on a pool thread, the sessions waiting. */
	if (gw_server_store(srv, t->route, &store) == 0 &&
	    tenant_disk_take_map(srv->cat, td->id, &saved, &p.saved_map_len) ==
		    0)
		p.saved_map = saved;
	d = disk_new(srv, t, td, &p, !p.saved_map);
	free(cut_map);
	free(saved);
	if (!d) {
		free(snaps);
		return -errno;
	}
	d->snaps = snaps;
	d->nsnaps = n;
	d->seq = p.snap_seq;
	d->last_cut_ms = last_ms;
	d->interval_s = gw_rp_interval(srv, t, td);
	/* The interval counts from the newest restore point, or from now. */
	if (!d->last_cut_ms)
		d->last_cut_ms = (uint64_t)time(NULL) * 1000;
	gw_log(GW_LOG_INFO,
	       "event=%s disk=%s size=%" PRIu64 " restore_points=%u map=%s",
	       d->opening ? "disk_opening" : "disk_open", d->label, td->size, n,
	       p.saved_map ? "saved" : "listed");
	/* An opening disk writes it once open. */
	if (d->sd)
		gw_rp_write_header(srv, d);
	*out = d;
	return 0;
}

/* A read-only view of a restore point, shared like live disks. */
static int disk_open_rp(struct gw_server *srv, const struct tenant_info *t,
			const struct tenant_disk *td,
			const struct tenant_rp *rp, struct gw_disk **out)
{
	struct storage_disk_params p = {
		.size = rp->size,
		.read_only = true,
		.snap = rp->snap_id,
	};
	uint8_t *map = NULL;
	struct gw_disk *d;
	size_t len = 0;

	d = disk_find(srv, td->id, rp->snap_id);
	if (d) {
		d->refs++;
		*out = d;
		return 0;
	}
	if (tenant_rp_map(srv->cat, td->id, rp->id, &map, &len) == 0) {
		p.map = map;
		p.map_len = len;
	}
	d = disk_new(srv, t, td, &p, false);
	free(map);
	if (!d)
		return -errno;
	snprintf(d->label + strlen(d->label),
		 sizeof(d->label) - strlen(d->label), "@%" PRIu64, rp->id);
	gw_log(GW_LOG_INFO, "event=rp_open disk=%s snap=%" PRIu64, d->label,
	       rp->snap_id);
	*out = d;
	return 0;
}

/* Every request of the disk is over: its map is exactly what the store
 * holds (or errs on the safe side), for the next open.  Synchronous, so
 * that a reopen right after cannot race a late save. */
static void save_map(struct gw_server *srv, struct gw_disk *d)
{
	uint8_t *map = NULL;
	size_t len = 0;
	int r;

	if (d->snap != STORAGE_SNAP_HEAD || d->clone || !d->sd)
		return;
	r = storage_disk_map(d->sd, &map, &len);
	if (r == 0)
		r = tenant_disk_save_map(srv->cat, d->key_id, map, len);
	/* A disk removed meanwhile needs no map. */
	if (r < 0 && r != -ENOENT)
		gw_log(GW_LOG_WARN,
		       "event=map_save_failed disk=%s error=\"%s\" "
		       "effect=\"the next open lists the store\"",
		       d->label, strerror(-r));
	free(map);
}

void gw_disk_release(struct gw_server *srv, struct gw_disk *d)
{
	disk_unlink(srv, d);
	if (d->sd) {
		gw_log(GW_LOG_INFO, "event=disk_close disk=%s", d->label);
		gw_ledger_persist(srv, d);
		save_map(srv, d);
		storage_disk_close(d->sd);
	}
	free(d->snaps);
	free(d);
}

void gw_disk_put(struct gw_server *srv, struct gw_disk *d)
{
	if (!d || --d->refs > 0)
		return;
	/* An opening disk closes when its open finishes (disk-open.c); a
	 * failed one stays listed, answering with its error, for a while
	 * (gw_exports_expire_failed). */
	if (d->opening)
		return;
	if (d->open_err && disk_find(srv, d->key_id, d->snap) == d)
		return;
	gw_disk_release(srv, d);
}

/* Stopping: every session is gone and no open runs any more. */
void gw_exports_close_all(struct gw_server *srv)
{
	while (srv->disks)
		gw_disk_release(srv, srv->disks);
}

uint32_t gw_disk_refusal(const struct gw_disk *d, const char **why)
{
	if (!d || d->sd)
		return NBD_SUCCESS;
	*why = d->open_why;
	return NBD_EIO;
}

/* What an export name means for an identity. */
struct target {
	struct tenant_info t;
	struct tenant_disk td;
	struct tenant_rp rp;	 /* rp.id 0: the live disk */
	uint64_t clone_id;	 /* non-zero: a writable clone of rp */
	uint64_t failed_over_ms; /* the live disk of a failed-over VM */
};

static void describe(const struct gw_server *srv, const struct target *tg,
		     struct gw_export *exp)
{
	const char *what = tg->clone_id ? "writable clone of restore point"
					: "restore point";

	memset(exp, 0, sizeof(*exp));
	exp->size = tg->rp.id ? tg->rp.size : tg->td.size;
	exp->read_only = tg->rp.id != 0 && tg->clone_id == 0;
	/* Clients size their writes by this.  Extent-sized writes mean one
	 * object operation each, but on small machines a write that fits
	 * the CPU cache from decryption to the store is faster (measured:
	 * 256 KiB beat 4 MiB by 20% into the local store, 10% into Ceph). */
	exp->pref_block = srv->cfg.preferred_block && srv->cfg.preferred_block <
							      tg->td.extent_size
				  ? srv->cfg.preferred_block
				  : tg->td.extent_size;
	if (tg->rp.id)
		snprintf(exp->description, sizeof(exp->description),
			 "haven disk %.36s/%.36s/%.36s %s %" PRIu64, tg->t.name,
			 tg->td.vm, tg->td.name, what, tg->rp.id);
	else
		snprintf(exp->description, sizeof(exp->description),
			 "haven disk %.36s/%.36s/%.36s", tg->t.name, tg->td.vm,
			 tg->td.name);
}

/* A writable clone (test failover or failover), shared like a disk. */
static int disk_open_clone(struct gw_server *srv, const struct target *tg,
			   struct gw_disk **out)
{
	struct storage_disk_params p = {
		.size = tg->rp.size,
		.snap = STORAGE_SNAP_HEAD,
		.parent_id = tg->td.id,
		.parent_snap = tg->rp.snap_id,
	};
	struct tenant_disk cd = tg->td;
	uint8_t *map = NULL;
	struct gw_disk *d;
	size_t len = 0;

	d = disk_find(srv, tg->clone_id, STORAGE_SNAP_HEAD);
	if (d) {
		d->refs++;
		*out = d;
		return 0;
	}
	if (tenant_rp_map(srv->cat, tg->td.id, tg->rp.id, &map, &len) == 0) {
		p.parent_map = map;
		p.parent_map_len = len;
	}
	cd.id = tg->clone_id; /* the clone's objects are named by its id */
	d = disk_new(srv, &tg->t, &cd, &p, false);
	free(map);
	if (!d)
		return -errno;
	d->clone = true;
	snprintf(d->label + strlen(d->label),
		 sizeof(d->label) - strlen(d->label), "@clone-%" PRIu64,
		 tg->clone_id);
	gw_log(GW_LOG_INFO, "event=clone_open disk=%s rp=%" PRIu64, d->label,
	       tg->rp.id);
	*out = d;
	return 0;
}

/* "@test-ID" of an operator: the running test's clone of this disk. */
static int resolve_test(struct gw_server *srv, const char *spec,
			struct target *tg)
{
	struct tenant_test test;
	char *end;
	unsigned long long id;
	int r;

	id = strtoull(spec + 5, &end, 10);
	if (*end || end == spec + 5)
		return -ENOENT;
	r = tenant_test_get(srv->cat, id, &test);
	if (r < 0)
		return r;
	if (test.state != TENANT_TEST_RUNNING || test.tenant_id != tg->t.id ||
	    strcmp(test.vm, tg->td.vm) != 0)
		return -ENOENT;
	for (uint32_t i = 0; i < test.ndisks && i < 16; i++) {
		if (test.disks[i].disk_id != tg->td.id)
			continue;
		tg->clone_id = test.disks[i].clone_id;
		return tenant_rp_get(srv->cat, tg->td.id, test.disks[i].rp_id,
				     &tg->rp);
	}
	return -ENOENT;
}

/* A failed-over VM: tenants are refused, operators get the clone. */
static int resolve_failover(struct gw_server *srv, const struct gw_identity *id,
			    struct target *tg)
{
	struct tenant_failover f;
	int r;

	r = tenant_failover_get(srv->cat, tg->t.id, tg->td.vm, &f);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (!id->cred.operator_role) {
		tg->failed_over_ms = f.promoted_ms;
		return 0;
	}
	for (uint32_t i = 0; i < f.ndisks && i < 16; i++) {
		if (f.disks[i].disk_id != tg->td.id)
			continue;
		tg->clone_id = f.disks[i].clone_id;
		return tenant_rp_get(srv->cat, tg->td.id, f.disks[i].rp_id,
				     &tg->rp);
	}
	return 0;
}

static int resolve(struct gw_server *srv, const struct gw_identity *id,
		   const char *name, struct target *tg)
{
	char base[NBD_MAX_STRING + 1];
	const char *at = strchr(name, '@');
	struct name_parts p;
	int r;

	memset(tg, 0, sizeof(*tg));
	if (strlen(name) >= sizeof(base))
		return -ENOENT;
	snprintf(base, sizeof(base), "%s", name);
	if (at)
		base[at - name] = '\0';
	if (id->cred.operator_role) {
		if (!split_name(base, 3, &p))
			return -ENOENT;
		r = tenant_get_by_name(srv->cat, p.tenant, &tg->t);
		if (r < 0)
			return r;
	} else {
		if (!split_name(base, 2, &p))
			return -ENOENT;
		tg->t = id->tenant;
	}
	r = tenant_disk_get(srv->cat, tg->t.id, p.vm, p.disk, &tg->td);
	if (r < 0)
		return r;
	if (!at)
		return resolve_failover(srv, id, tg);
	/* Test clones are for operators; to a tenant they do not exist. */
	if (strncmp(at + 1, "test-", 5) == 0)
		return id->cred.operator_role ? resolve_test(srv, at + 1, tg)
					      : -ENOENT;
	return tenant_rp_find(srv->cat, tg->td.id, at + 1, &tg->rp);
}

/* A tenant over its concurrent session limit (its own, else the
 * gateway's [limits] max_sessions_per_tenant) is refused at GO. */
static bool session_limit_reached(struct gw_server *srv,
				  const struct tenant_info *t, char *msg,
				  size_t msglen)
{
	struct gw_load *l = gw_load_find(srv, t->id);
	unsigned max = srv->cfg.max_sessions_per_tenant;
	struct tenant_limits lim;

	if (!l)
		return false;
	if (tenant_get_limits(srv->cat, t->id, &lim) == 0 && lim.max_sessions &&
	    lim.max_sessions < max)
		max = lim.max_sessions;
	if (l->conns < max)
		return false;
	snprintf(msg, msglen,
		 "session limit reached: tenant '%.64s' may have %u "
		 "concurrent sessions",
		 t->name, max);
	return true;
}

uint32_t gw_exports_lookup(struct gw_server *srv, const struct gw_identity *id,
			   const char *name, bool go, struct gw_export *exp,
			   struct gw_disk **diskp, uint64_t *disk_id, char *msg,
			   size_t msglen)
{
	struct target tg;
	int r;

	r = resolve(srv, id, name, &tg);
	if (r == -ENOENT || r == -EINVAL) {
		snprintf(msg, msglen, "export '%.200s' not present", name);
		return NBD_REP_ERR_UNKNOWN;
	}
	if (r < 0) {
		snprintf(msg, msglen, "catalog unavailable, try again later");
		return NBD_REP_ERR_SHUTDOWN;
	}
	if (tg.failed_over_ms) {
		snprintf(msg, msglen,
			 "VM '%.64s' is failed over: replication into it is "
			 "stopped (ask your provider)",
			 tg.td.vm);
		return NBD_REP_ERR_POLICY;
	}
	if (srv->draining) {
		snprintf(msg, msglen, "gateway is stopping, try again later");
		return NBD_REP_ERR_SHUTDOWN;
	}
	describe(srv, &tg, exp);
	if (!go)
		return 0;
	if (!id->cred.operator_role &&
	    session_limit_reached(srv, &tg.t, msg, msglen))
		return NBD_REP_ERR_POLICY;
	r = tg.clone_id ? disk_open_clone(srv, &tg, diskp)
	    : tg.rp.id	? disk_open_rp(srv, &tg.t, &tg.td, &tg.rp, diskp)
			: gw_disk_open_live(srv, &tg.t, &tg.td, diskp);
	if (r < 0) {
		gw_log(GW_LOG_ERROR,
		       "event=disk_open_failed tenant=%s disk=%s/%s "
		       "error=\"%s\"",
		       tg.t.name, tg.td.vm, tg.td.name, strerror(-r));
		if (r == -EAGAIN)
			snprintf(
				msg, msglen,
				"storage for '%.200s' is connecting, try again "
				"in a few seconds",
				name);
		else
			snprintf(msg, msglen,
				 "storage for '%.200s' unavailable: %s", name,
				 strerror(-r));
		return NBD_REP_ERR_SHUTDOWN;
	}
	*disk_id = tg.clone_id ? tg.clone_id : tg.td.id;
	if (id->cred.operator_role)
		gw_log(GW_LOG_INFO,
		       "event=operator_open site=%s export=%s/%s/%s%s%s",
		       id->cred.site, tg.t.name, tg.td.vm, tg.td.name,
		       strchr(name, '@') ? "@" : "",
		       strchr(name, '@') ? strchr(name, '@') + 1 : "");
	return 0;
}

bool gw_exports_same(struct gw_server *srv, const struct gw_identity *id,
		     const char *name, const struct gw_disk *d)
{
	struct target tg;
	uint64_t key, snap;

	if (resolve(srv, id, name, &tg) < 0 || tg.failed_over_ms)
		return false;
	key = tg.clone_id ? tg.clone_id : tg.td.id;
	snap = tg.rp.id && !tg.clone_id ? tg.rp.snap_id : STORAGE_SNAP_HEAD;
	return d && d->key_id == key && d->snap == snap;
}
