/* Restore points, cut on the loop thread.
 *
 * A cut switches the disk's write snap context to a snap id allocated
 * ahead of time: writes submitted before keep the old context and land in
 * the restore point, writes submitted after preserve it.  That is a few
 * microseconds on the loop.  Everything slow happens elsewhere: snap ids
 * come from a per-route pool refilled on the snap chain (a monitor round
 * trip on Ceph), and the catalog records the restore point on the
 * catalog chain, in cut order.  If havend dies between the two, the id is
 * still in the catalog's pool, and the next start releases it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw.h"

#define POOL_LOW 8
#define POOL_BATCH 16

const char *gw_rp_trigger_name(uint32_t t)
{
	switch (t) {
	case TENANT_RP_CHECKPOINT:
		return "checkpoint";
	case TENANT_RP_SESSION_END:
		return "session_end";
	case TENANT_RP_MANUAL:
		return "manual";
	default:
		return "unknown";
	}
}

/* Frees a finished job and lets a stopping server finish. */
void gw_rp_job_free(struct gw_server *srv, void *job)
{
	free(job);
	gw_server_maybe_done(srv);
}

/* ---- the snap id pool ---- */

struct pool_job {
	struct gw_job job;
	struct gw_server *srv;
	struct gw_store *s;
	bool release;
	uint64_t got[POOL_BATCH];
	unsigned ngot;
	unsigned released;
	int err;
};

static int release_one(uint64_t id, void *arg)
{
	struct pool_job *pj = arg;
	uint64_t disk, rp;
	int r;

	/* Only an id no restore point owns may go back to Ceph. */
	r = tenant_snap_owner(pj->srv->cat, pj->s->route, id, &disk, &rp);
	if (r == -ENOENT) {
		storage_store_snap_remove(pj->s->st, id);
		pj->released++;
	}
	tenant_snap_pool_remove(pj->srv->cat, pj->s->route, id);
	return 0;
}

static void pool_work(struct gw_job *j)
{
	struct pool_job *pj = (struct pool_job *)j;
	uint64_t id;
	int r;

	if (pj->release)
		tenant_snap_pool_list(pj->srv->cat, pj->s->route, release_one,
				      pj);
	while (pj->ngot < POOL_BATCH) {
		r = storage_store_snap_create(pj->s->st, &id);
		if (r == 0)
			r = tenant_snap_pool_add(pj->srv->cat, pj->s->route,
						 id);
		if (r < 0) {
			pj->err = r;
			break;
		}
		pj->got[pj->ngot++] = id;
	}
}

static void pool_done(struct gw_job *j)
{
	struct pool_job *pj = (struct pool_job *)j;
	struct gw_store *s = pj->s;

	s->refilling = false;
	if (pj->release)
		s->released = true;
	for (unsigned i = 0;
	     i < pj->ngot && s->npool < sizeof(s->pool) / sizeof(s->pool[0]);
	     i++)
		s->pool[s->npool++] = pj->got[i];
	if (pj->err < 0)
		gw_log(GW_LOG_WARN,
		       "event=snap_alloc_failed route=%s error=\"%s\"",
		       s->route, strerror(-pj->err));
	gw_log(GW_LOG_DEBUG,
	       "event=snap_pool route=%s allocated=%u released=%u pool=%u",
	       s->route, pj->ngot, pj->released, s->npool);
	gw_rp_job_free(pj->srv, pj);
}

void gw_rp_pool_refill(struct gw_server *srv, struct gw_store *s)
{
	struct pool_job *pj;

	if (s->refilling || s->npool >= POOL_LOW)
		return;
	pj = calloc(1, sizeof(*pj));
	if (!pj)
		return;
	pj->srv = srv;
	pj->s = s;
	pj->release = !s->released;
	pj->job.fn = pool_work;
	pj->job.done = pool_done;
	s->refilling = true;
	gw_chain_push(&srv->snap_chain, &pj->job);
}

/* ---- the live disk's snap context ---- */

struct snapc_ctx {
	uint64_t *snaps;
	unsigned n, cap;
	uint64_t last_ms;
};

static int collect_snap(const struct tenant_rp *rp, void *arg)
{
	struct snapc_ctx *sc = arg;

	if (sc->n == sc->cap) {
		unsigned cap = sc->cap ? sc->cap * 2 : 16;
		uint64_t *n = realloc(sc->snaps, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sc->snaps = n;
		sc->cap = cap;
	}
	sc->snaps[sc->n++] = rp->snap_id;
	if (rp->created_ms > sc->last_ms)
		sc->last_ms = rp->created_ms;
	return 0;
}

static int desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

int gw_rp_load_snapc(struct gw_server *srv, const struct tenant_disk *td,
		     uint64_t **snaps, unsigned *n, uint64_t *last_ms)
{
	struct snapc_ctx sc = {0};
	int r;

	r = tenant_rp_list(srv->cat, td->id, collect_snap, &sc);
	if (r < 0) {
		free(sc.snaps);
		return r;
	}
	/* RADOS wants the context newest first. */
	if (sc.n)
		qsort(sc.snaps, sc.n, sizeof(*sc.snaps), desc);
	*snaps = sc.snaps;
	*n = sc.n;
	*last_ms = sc.last_ms;
	return 0;
}

/* ---- cutting ---- */

/* One cut shared by the disks of a consistency group, so a request is
 * answered once every disk's restore point is in the catalog. */
struct cut_group {
	struct gw_server *srv;
	unsigned pending;
	unsigned done;
	int err;
	struct tenant_req req; /* req.id 0: no request to answer */
	char rps[160];
};

struct cut_job {
	struct gw_job job;
	struct gw_server *srv;
	struct gw_disk *d;
	struct cut_group *grp;
	struct tenant_rp rp;
	char route[TENANT_NAME_MAX + 1];
	uint8_t *map;
	size_t map_len;
	uint8_t *clones; /* made since the previous cut (ledger) */
	size_t clones_len;
	uint64_t live; /* the disk's live bytes at the cut */
	int err;
	bool ready; /* flushed; may go to the catalog */
	struct storage_req flush;
};

static void cut_work(struct gw_job *j)
{
	struct cut_job *cj = (struct cut_job *)j;

	cj->err = tenant_rp_add_cut(cj->srv->cat, cj->route, &cj->rp, cj->map,
				    cj->map_len, cj->clones, cj->clones_len);
	/* Best effort: the next cut, retention pass or close writes it
	 * again, and the ledger of an open disk is counted in memory. */
	if (cj->err == 0)
		(void)tenant_disk_set_live(cj->srv->cat, cj->rp.disk_id,
					   cj->live);
}

static void group_finish(struct cut_group *g)
{
	if (g->req.id) {
		if (g->err < 0)
			gw_rp_req_finish(g->srv, &g->req, g->err,
					 "restore point not recorded: %s",
					 strerror(-g->err));
		else
			gw_rp_req_finish(g->srv, &g->req, 0,
					 "created restore point%s %s",
					 g->done > 1 ? "s" : "", g->rps);
	}
	free(g);
}

static void cut_done(struct gw_job *j)
{
	struct cut_job *cj = (struct cut_job *)j;
	struct gw_server *srv = cj->srv;
	struct cut_group *g = cj->grp;
	struct gw_disk *d = cj->d;
	size_t o = strlen(g->rps);
	struct gw_load *l;

	d->cutting--;
	if (cj->err < 0) {
		gw_log(GW_LOG_ERROR,
		       "event=rp_record_failed disk=%s snap=%" PRIu64
		       " error=\"%s\"",
		       d->label, cj->rp.snap_id, strerror(-cj->err));
		if (g->err == 0)
			g->err = cj->err;
	} else {
		gw_log(GW_LOG_INFO,
		       "event=rp_cut disk=%s rp=%" PRIu64 " snap=%" PRIu64
		       " trigger=%s bytes_changed=%" PRIu64 " size=%" PRIu64,
		       d->label, cj->rp.id, cj->rp.snap_id,
		       gw_rp_trigger_name(cj->rp.trigger), cj->rp.bytes_changed,
		       cj->rp.size);
		snprintf(g->rps + o, sizeof(g->rps) - o, "%s%s@%" PRIu64,
			 o ? ", " : "", d->label, cj->rp.id);
		g->done++;
		gw_rp_write_header(srv, d);
	}
	if (--g->pending == 0)
		group_finish(g);
	l = gw_load_find(srv, d->tenant_id);
	if (l)
		gw_ledger_refresh(srv, l);
	gw_disk_put(srv, d);
	free(cj->map);
	free(cj->clones);
	gw_rp_job_free(srv, cj);
}

/* Cuts reach the catalog in the order they were made, whatever order
 * their flushes finish in, so restore point ids follow snap ids. */
static void release_cuts(struct gw_server *srv)
{
	while (srv->cut_head) {
		struct cut_job *cj = (struct cut_job *)srv->cut_head;

		if (!cj->ready)
			return;
		srv->cut_head = cj->job.next;
		if (!srv->cut_head)
			srv->cut_tail = NULL;
		if (cj->err < 0)
			cut_done(&cj->job); /* not durable: not recorded */
		else
			gw_chain_push(&srv->catalog_chain, &cj->job);
	}
}

static void cut_flushed(struct storage_req *r, int result)
{
	struct cut_job *cj = r->priv;

	/* A failed flush means the restore point is not durable: it is not
	 * recorded, and its snap id stays in the catalog's pool, to be
	 * released at the next start. */
	if (result < 0)
		cj->err = result;
	cj->ready = true;
	release_cuts(cj->srv);
}

static int cut_one(struct gw_server *srv, struct gw_disk *d, uint64_t snap,
		   uint32_t trigger, const char *name, struct cut_group *g,
		   uint64_t group_id)
{
	struct gw_load *l;
	uint64_t *snaps;
	struct cut_job *cj;
	int r;

	cj = calloc(1, sizeof(*cj));
	snaps = malloc((d->nsnaps + 1) * sizeof(*snaps));
	if (!cj || !snaps) {
		free(cj);
		free(snaps);
		return -ENOMEM;
	}
	snaps[0] = snap;
	if (d->nsnaps)
		memcpy(snaps + 1, d->snaps, d->nsnaps * sizeof(*snaps));
	r = storage_disk_set_snapc(d->sd, snap, snaps, d->nsnaps + 1);
	if (r < 0) {
		free(cj);
		free(snaps);
		return r;
	}
	/* From here on, every write preserves the restore point. */
	free(d->snaps);
	d->snaps = snaps;
	d->nsnaps++;
	d->seq = snap;
	d->dirty = false;
	d->last_cut_ms = gw_now_ms();
	d->cutting++;
	d->refs++;

	cj->srv = srv;
	cj->d = d;
	cj->grp = g;
	snprintf(cj->route, sizeof(cj->route), "%s", d->store->route);
	cj->rp.disk_id = d->key_id;
	cj->rp.snap_id = snap;
	cj->rp.created_ms = d->last_cut_ms;
	cj->rp.trigger = trigger;
	cj->rp.size = storage_disk_size(d->sd);
	/* The ledger's clones first: they are the changed extents the
	 * previous cut held, so before take_changed() forgets them. */
	{
		uint64_t clone_bytes;

		if (storage_disk_ledger_cut(d->sd, &cj->clones, &cj->clones_len,
					    &clone_bytes) < 0) {
			cj->clones = NULL;
			cj->clones_len = 0;
		}
		cj->live = storage_disk_stored_bytes(d->sd);
		/* Until the catalog has them, the tenant's ledger holds them
		 * here (the refresh after the cut re-reads it all). */
		l = gw_load_find(srv, d->tenant_id);
		if (l && l->max_stored)
			l->stored_base += clone_bytes;
	}
	cj->rp.bytes_changed = storage_disk_take_changed(d->sd);
	cj->rp.group = group_id;
	if (name)
		snprintf(cj->rp.name, sizeof(cj->rp.name), "%s", name);
	if (storage_disk_map(d->sd, &cj->map, &cj->map_len) < 0) {
		/* Without a map the view reports everything as data. */
		cj->map = NULL;
		cj->map_len = 0;
	}
	cj->job.fn = cut_work;
	cj->job.done = cut_done;
	g->pending++;
	/* A restore point is recorded only once what it holds is durable
	 * (the local store acknowledges writes before fdatasync). */
	cj->flush.cmd = STORAGE_FLUSH;
	cj->flush.done = cut_flushed;
	cj->flush.priv = cj;
	cj->job.next = NULL;
	if (srv->cut_tail)
		srv->cut_tail->next = &cj->job;
	else
		srv->cut_head = &cj->job;
	srv->cut_tail = &cj->job;
	storage_disk_submit(d->sd, &cj->flush);
	return 0;
}

int gw_rp_cut(struct gw_server *srv, struct gw_disk **disks, unsigned n,
	      uint32_t trigger, const char *name, const struct tenant_req *req)
{
	struct gw_store *s = disks[0]->store;
	uint64_t t0 = uv_hrtime();
	struct cut_group *g;
	unsigned i;
	int r = 0;

	for (i = 1; i < n; i++)
		if (disks[i]->store != s)
			return -EXDEV; /* one tenant, one route */
	if (s->npool < n) {
		gw_rp_pool_refill(srv, s);
		return -EAGAIN;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->srv = srv;
	if (req)
		g->req = *req;
	g->pending = 1; /* held until every disk is queued */
	/* All disks switch in this loop iteration: one instant for the
	 * group.  The first snap id doubles as the group's id. */
	for (i = 0; i < n && r == 0; i++)
		r = cut_one(srv, disks[i], s->pool[i], trigger, name, g,
			    n > 1 ? s->pool[0] : 0);
	memmove(s->pool, s->pool + i, (s->npool - i) * sizeof(s->pool[0]));
	s->npool -= i;
	/* What the loop spent cutting: the figure that must stay in
	 * microseconds whatever the disk's size. */
	gw_log(GW_LOG_INFO, "event=rp_switch disks=%u trigger=%s cut_us=%.1f",
	       n, gw_rp_trigger_name(trigger),
	       (double)(uv_hrtime() - t0) / 1000.0);
	if (r < 0 && g->err == 0)
		g->err = r;
	if (--g->pending == 0)
		group_finish(g);
	gw_rp_pool_refill(srv, s);
	return r;
}

static uint64_t interval_ms(const struct gw_disk *d)
{
	return (uint64_t)d->interval_s * 1000;
}

/* havenctl may have changed intervals: refresh the open disks. */
void gw_rp_refresh_intervals(struct gw_server *srv)
{
	struct tenant_disk td;
	struct tenant_info t;

	for (struct gw_disk *d = srv->disks; d; d = d->next) {
		if (d->snap != STORAGE_SNAP_HEAD ||
		    tenant_disk_get_by_id(srv->cat, d->key_id, &td) < 0 ||
		    tenant_get(srv->cat, td.tenant_id, &t) < 0)
			continue;
		d->interval_s = gw_rp_interval(srv, &t, &td);
	}
}

uint32_t gw_rp_interval(const struct gw_server *srv,
			const struct tenant_info *t,
			const struct tenant_disk *td)
{
	return gw_rp_interval_of(&srv->cfg, t, td, NULL);
}

void gw_rp_after_flush(struct gw_server *srv, struct gw_disk *d)
{
	if (!d->dirty || d->snap != STORAGE_SNAP_HEAD || d->clone ||
	    gw_now_ms() - d->last_cut_ms < interval_ms(d))
		return;
	gw_rp_cut(srv, &d, 1, TENANT_RP_CHECKPOINT, NULL, NULL);
}

void gw_rp_session_end(struct gw_server *srv, struct gw_disk *d)
{
	if (d->writers > 0 && --d->writers > 0)
		return;
	if (!d->dirty || d->snap != STORAGE_SNAP_HEAD || d->deferred ||
	    d->clone)
		return;
	if (gw_rp_cut(srv, &d, 1, TENANT_RP_SESSION_END, NULL, NULL) != -EAGAIN)
		return;
	/* No snap id ready yet: keep the disk open and cut at the next
	 * tick, so the session's restore point is not lost. */
	gw_log(GW_LOG_INFO, "event=rp_deferred disk=%s reason=no_snap_id_ready",
	       d->label);
	d->deferred = true;
	d->refs++;
}

bool gw_rp_idle(struct gw_server *srv)
{
	for (const struct gw_disk *d = srv->disks; d; d = d->next)
		if (d->cutting)
			return false;
	return gw_chain_idle(&srv->catalog_chain) &&
	       gw_chain_idle(&srv->snap_chain) &&
	       gw_chain_idle(&srv->route_chain);
}
