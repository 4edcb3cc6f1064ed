/* The stored-bytes quota: one ledger per tenant of what its data costs in
 * the store (live extents + restore point history + clones of tests and
 * failovers), and the check that refuses a mutation with NBD_ENOSPC
 * before anything of it is applied.
 *
 * The ledger has three parts:
 *   base      from the catalog (tenant/catalog-ledger.c): every disk's
 *             history (the clones its restore points keep) and the live
 *             bytes of the disks no session has open; re-read whenever
 *             the catalog changes (gw_sched_refresh) and after each cut;
 *   open      each open disk's own count (storage_disk_stored_bytes):
 *             allocated extents and the clones made since its latest
 *             restore point, exact at every submission;
 *   reserved  mutations admitted but still queued for the backend: their
 *             cost is held until they are submitted (sched.c), so queued
 *             requests cannot together overshoot the quota.
 * Costs are whole extents and err upwards (storage_disk_write_cost).
 *
 * Never silent: when the quota is full, writes that need space get
 * ENOSPC, the disk goes into the "quota-full" alert state that `disk
 * show` reports, and no restore point is dropped early to make room.
 * Writes that need no new space (overwriting what was already changed
 * since the latest restore point) still succeed.  The alert clears at the
 * next write admitted after the quota was raised or space was freed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "gw.h"

static bool disk_is_open(uint64_t disk_id, void *arg)
{
	struct gw_server *srv = arg;

	/* Disks and clones take their ids from one counter. */
	for (struct gw_disk *d = srv->disks; d; d = d->next)
		if (d->key_id == disk_id && d->snap == STORAGE_SNAP_HEAD &&
		    d->sd)
			return true;
	return false;
}

/* Mixes a disk id into the signature of a set of open disks: a sum of
 * these does not depend on the order of srv->disks. */
static uint64_t sig_of(uint64_t id)
{
	id += 0x9e3779b97f4a7c15ull;
	id = (id ^ (id >> 30)) * 0xbf58476d1ce4e5b9ull;
	id = (id ^ (id >> 27)) * 0x94d049bb133111ebull;
	return id ^ (id >> 31);
}

/* The tenant's open disks and clones, counted by the disk layer, and
 * the signature of which ones they are (if sig is not NULL). */
static uint64_t open_bytes(struct gw_server *srv, uint64_t tenant_id,
			   uint64_t *sig)
{
	uint64_t n = 0, s = 0;

	for (struct gw_disk *d = srv->disks; d; d = d->next) {
		/* One still opening (or failed) counts in the catalog's
		 * part, by the figure of its last close. */
		if (d->tenant_id != tenant_id || d->snap != STORAGE_SNAP_HEAD ||
		    !d->sd)
			continue;
		n += storage_disk_stored_bytes(d->sd);
		s += sig_of(d->key_id);
	}
	if (sig)
		*sig = s;
	return n;
}

void gw_ledger_refresh(struct gw_server *srv, struct gw_load *l)
{
	struct tenant_limits lim;
	uint64_t base;
	int r;

	if (l->tenant_id == 0)
		return;
	/* Even when the read fails: gw_ledger_total() must not retry (and
	 * log) at every write. */
	(void)open_bytes(srv, l->tenant_id, &l->open_sig);
	if (tenant_get_limits(srv->cat, l->tenant_id, &lim) < 0)
		return;
	l->max_stored = lim.max_stored;
	if (!l->max_stored)
		return;
	r = tenant_stored_bytes(srv->cat, l->tenant_id, disk_is_open, srv,
				&base);
	if (r < 0) {
		gw_log(GW_LOG_WARN,
		       "event=ledger_read_failed tenant_id=%" PRIu64
		       " error=\"%s\"",
		       l->tenant_id, strerror(-r));
		return; /* keep the last figure */
	}
	l->stored_base = base;
}

uint64_t gw_ledger_total(struct gw_server *srv, struct gw_load *l)
{
	uint64_t open, sig;

	open = open_bytes(srv, l->tenant_id, &sig);
	/* The base leaves out the disks open when it was read.  A disk
	 * opened since is counted from memory now: read the base again
	 * without it.  (A close keeps the signature: persist() moves its
	 * bytes into the base.)  The catalog generation does not tell, as
	 * havend's own ledger writes do not move it. */
	if (sig != l->open_sig) {
		gw_ledger_refresh(srv, l);
		open = open_bytes(srv, l->tenant_id, NULL);
	}
	return l->stored_base + l->reserved + open;
}

int gw_ledger_stored(struct gw_server *srv, uint64_t tenant_id, uint64_t *bytes)
{
	uint64_t base;
	int r;

	r = tenant_stored_bytes(srv->cat, tenant_id, disk_is_open, srv, &base);
	if (r < 0)
		return r;
	base += open_bytes(srv, tenant_id, NULL);
	*bytes = base;
	return 0;
}

void gw_ledger_release(struct gw_load *l, uint64_t reserved)
{
	if (!l || !reserved)
		return;
	l->reserved = l->reserved > reserved ? l->reserved - reserved : 0;
}

/* ---- catalog writes, in order with the other catalog writes ---- */

struct ledger_job {
	struct gw_job job;
	struct gw_server *srv;
	uint64_t tenant_id;
	uint64_t disk_id;
	uint64_t live;
	bool alert; /* an alert change rather than live bytes */
	bool clone; /* disk_id names a test or failover clone */
	uint32_t state;
	uint64_t when_ms;
};

static void ledger_work(struct gw_job *j)
{
	struct ledger_job *lj = (struct ledger_job *)j;
	int r;

	if (lj->alert)
		r = tenant_disk_set_alert(lj->srv->cat, lj->disk_id, lj->state,
					  lj->when_ms);
	else if (lj->clone)
		r = tenant_clone_set_live(lj->srv->cat, lj->disk_id, lj->live);
	else
		r = tenant_disk_set_live(lj->srv->cat, lj->disk_id, lj->live);
	/* A disk removed meanwhile has nothing left to record. */
	if (r < 0 && r != -ENOENT)
		gw_log(GW_LOG_WARN,
		       "event=ledger_write_failed disk_id=%" PRIu64
		       " error=\"%s\"",
		       lj->disk_id, strerror(-r));
}

static void ledger_done(struct gw_job *j)
{
	struct ledger_job *lj = (struct ledger_job *)j;
	struct gw_load *l;

	/* The live bytes of a disk that closed are in the catalog now:
	 * the base reads them from there again (these writes do not move
	 * the catalog generation, which would have re-read it). */
	if (!lj->alert && !disk_is_open(lj->disk_id, lj->srv)) {
		l = gw_load_find(lj->srv, lj->tenant_id);
		if (l && l->max_stored)
			gw_ledger_refresh(lj->srv, l);
	}
	gw_rp_job_free(lj->srv, lj);
}

static void ledger_push(struct gw_server *srv, struct ledger_job proto)
{
	struct ledger_job *lj = calloc(1, sizeof(*lj));

	if (!lj)
		return; /* best effort: the next pass writes it again */
	*lj = proto;
	lj->srv = srv;
	lj->job.fn = ledger_work;
	lj->job.done = ledger_done;
	gw_chain_push(&srv->catalog_chain, &lj->job);
}

void gw_ledger_persist(struct gw_server *srv, struct gw_disk *d)
{
	struct gw_disk *it;

	for (it = d ? d : srv->disks; it; it = d ? NULL : it->next) {
		if (it->snap != STORAGE_SNAP_HEAD || !it->sd)
			continue;
		/* With the clones made since the latest restore point:
		 * they are history only from the next cut on. */
		ledger_push(srv,
			    (struct ledger_job){
				    .tenant_id = it->tenant_id,
				    .disk_id = it->key_id,
				    .live = storage_disk_stored_bytes(it->sd),
				    .clone = it->clone,
			    });
	}
	/* A disk closing leaves the in-memory sum now, so the tenant's
	 * base holds it until the catalog has the figure. */
	if (d && d->snap == STORAGE_SNAP_HEAD && d->sd) {
		struct gw_load *l = gw_load_find(srv, d->tenant_id);

		if (l && l->max_stored) {
			l->stored_base += storage_disk_stored_bytes(d->sd);
			(void)open_bytes(srv, d->tenant_id, &l->open_sig);
		}
	}
}

static void set_alert(struct gw_server *srv, struct gw_disk *d, bool on)
{
	if (d->quota_alert == on || d->clone)
		return;
	d->quota_alert = on;
	gw_log(on ? GW_LOG_WARN : GW_LOG_INFO, "event=%s disk=%s",
	       on ? "quota_full" : "quota_ok", d->label);
	ledger_push(srv, (struct ledger_job){
				 .disk_id = d->key_id,
				 .alert = true,
				 .state = on ? TENANT_ALERT_QUOTA_FULL
					     : TENANT_ALERT_NONE,
				 .when_ms = gw_now_ms(),
			 });
}

static void fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1024 && u < 4) {
		x /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", x, units[u]);
}

int gw_ledger_admit(struct gw_conn *c, enum storage_cmd cmd, unsigned flags,
		    uint64_t off, uint64_t len, uint64_t *reserved, char *why,
		    size_t whylen)
{
	struct gw_server *srv = c->srv;
	struct gw_load *l = c->load;
	uint64_t cost, total;
	char used[32], limit[32];

	*reserved = 0;
	if (!l || !l->max_stored || !c->disk)
		return 0;
	cost = storage_disk_write_cost(c->disk->sd, cmd, flags, off, len);
	if (cost == 0)
		return 0;
	total = gw_ledger_total(srv, l);
	if (total + cost <= l->max_stored && total + cost >= total) {
		l->reserved += cost;
		*reserved = cost;
		set_alert(srv, c->disk, false);
		return 0;
	}
	fmt_size(total, used, sizeof(used));
	fmt_size(l->max_stored, limit, sizeof(limit));
	snprintf(why, whylen,
		 "stored-bytes quota of tenant %s is full (%s of %s used, "
		 "restore point history included); no history is removed "
		 "to make room",
		 c->ident.tenant.name, used, limit);
	set_alert(srv, c->disk, true);
	return -ENOSPC;
}
