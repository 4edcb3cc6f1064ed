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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *trigger_name(uint32_t t)
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

static void req_finish(struct gw_server *srv, struct tenant_req *req, int err,
		       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Frees a finished job and lets a stopping server finish. */
static void srv_done(struct gw_server *srv, void *job)
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
	srv_done(pj->srv, pj);
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
	int err;
	bool ready; /* flushed; may go to the catalog */
	struct storage_req flush;
};

void gw_rp_req_finish(struct gw_server *srv, struct tenant_req *req, int err,
		      const char *fmt, ...)
{
	va_list ap;
	char msg[200];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	req_finish(srv, req, err, "%s", msg);
}

static void cut_work(struct gw_job *j)
{
	struct cut_job *cj = (struct cut_job *)j;

	cj->err = tenant_rp_add(cj->srv->cat, cj->route, &cj->rp, cj->map,
				cj->map_len);
}

static void group_finish(struct cut_group *g)
{
	if (g->req.id) {
		if (g->err < 0)
			req_finish(g->srv, &g->req, g->err,
				   "restore point not recorded: %s",
				   strerror(-g->err));
		else
			req_finish(g->srv, &g->req, 0,
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
		       trigger_name(cj->rp.trigger), cj->rp.bytes_changed,
		       cj->rp.size);
		snprintf(g->rps + o, sizeof(g->rps) - o, "%s%s@%" PRIu64,
			 o ? ", " : "", d->label, cj->rp.id);
		g->done++;
		gw_rp_write_header(srv, d);
	}
	if (--g->pending == 0)
		group_finish(g);
	gw_disk_put(srv, d);
	free(cj->map);
	srv_done(srv, cj);
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
	d->last_cut_ms = now_ms();
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
	       n, trigger_name(trigger), (double)(uv_hrtime() - t0) / 1000.0);
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
static void refresh_intervals(struct gw_server *srv)
{
	struct tenant_disk td;
	struct tenant_info t;

	for (struct gw_disk *d = srv->disks; d; d = d->next) {
		if (d->snap != STORAGE_SNAP_HEAD ||
		    tenant_disk_get_by_id(srv->cat, d->key_id, &td) < 0 ||
		    tenant_get(srv->cat, td.tenant_id, &t) < 0)
			continue;
		d->interval_s = gw_rp_interval(&t, &td);
	}
}

uint32_t gw_rp_interval(const struct tenant_info *t,
			const struct tenant_disk *td)
{
	if (td->checkpoint_s)
		return td->checkpoint_s;
	return t->checkpoint_s ? t->checkpoint_s : TENANT_CHECKPOINT_DEFAULT;
}

void gw_rp_after_flush(struct gw_server *srv, struct gw_disk *d)
{
	if (!d->dirty || d->snap != STORAGE_SNAP_HEAD || d->clone ||
	    now_ms() - d->last_cut_ms < interval_ms(d))
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

/* ---- havenctl's requests ---- */

struct finish_job {
	struct gw_job job;
	struct gw_server *srv;
	struct tenant_req req;
};

static void finish_work(struct gw_job *j)
{
	struct finish_job *fj = (struct finish_job *)j;

	tenant_req_finish(fj->srv->cat, &fj->req);
}

static void busy_del(struct gw_server *srv, uint64_t id)
{
	for (unsigned i = 0; i < srv->nbusy; i++) {
		if (srv->busy[i] == id) {
			srv->busy[i] = srv->busy[--srv->nbusy];
			return;
		}
	}
}

void gw_rp_req_retry(struct gw_server *srv, uint64_t id)
{
	busy_del(srv, id);
	srv->req_retry = true;
}

static void finish_done(struct gw_job *j)
{
	struct finish_job *fj = (struct finish_job *)j;

	busy_del(fj->srv, fj->req.id);
	srv_done(fj->srv, fj);
}

static void req_finish(struct gw_server *srv, struct tenant_req *req, int err,
		       const char *fmt, ...)
{
	struct finish_job *fj;
	va_list ap;

	if (req->id == 0) {
		/* havend's own work (retention): nobody waits for an answer. */
		char msg[200];

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		gw_log(err < 0 ? GW_LOG_WARN : GW_LOG_INFO,
		       "event=retention result=\"%s\"", msg);
		return;
	}
	fj = calloc(1, sizeof(*fj));

	if (!fj) {
		busy_del(srv, req->id); /* retried at the next tick */
		return;
	}
	fj->srv = srv;
	fj->req = *req;
	fj->req.state = err < 0 ? TENANT_REQ_FAILED : TENANT_REQ_DONE;
	fj->req.error = err;
	va_start(ap, fmt);
	vsnprintf(fj->req.message, sizeof(fj->req.message), fmt, ap);
	va_end(ap);
	gw_log(err < 0 ? GW_LOG_WARN : GW_LOG_INFO,
	       "event=request_done id=%" PRIu64 " result=\"%s\"", req->id,
	       fj->req.message);
	fj->job.fn = finish_work;
	fj->job.done = finish_done;
	gw_chain_push(&srv->catalog_chain, &fj->job);
}

struct vm_disks {
	const char *vm;
	struct tenant_disk d[64];
	unsigned n;
};

static int pick_vm_disk(const struct tenant_disk *d, void *arg)
{
	struct vm_disks *v = arg;

	if (strcmp(d->vm, v->vm) != 0)
		return 0;
	if (v->n == sizeof(v->d) / sizeof(v->d[0]))
		return -E2BIG;
	v->d[v->n++] = *d;
	return 0;
}

/* Opens (or finds) the live disks a request names; each holds a ref. */
static int request_disks(struct gw_server *srv, const struct tenant_req *req,
			 struct gw_disk **out, unsigned *n)
{
	static struct vm_disks v; /* loop thread only; large */
	struct tenant_info t;
	unsigned i;
	int r;

	v.vm = req->vm;
	v.n = 0;
	if (req->disk_id) {
		r = tenant_disk_get_by_id(srv->cat, req->disk_id, &v.d[0]);
		v.n = r == 0;
	} else {
		r = tenant_disk_list(srv->cat, req->tenant_id, pick_vm_disk,
				     &v);
	}
	if (r < 0)
		return r;
	if (v.n == 0)
		return -ENOENT;
	r = tenant_get(srv->cat, v.d[0].tenant_id, &t);
	if (r < 0)
		return r;
	for (i = 0; i < v.n; i++) {
		r = gw_disk_open_live(srv, &t, &v.d[i], &out[i]);
		if (r < 0) {
			while (i-- > 0)
				gw_disk_put(srv, out[i]);
			return r;
		}
	}
	*n = v.n;
	return 0;
}

static void run_create(struct gw_server *srv, const struct tenant_req *req)
{
	struct gw_disk *disks[64];
	unsigned n = 0, i;
	int r;

	r = request_disks(srv, req, disks, &n);
	if (r < 0) {
		struct tenant_req copy = *req;

		req_finish(srv, &copy, r, "cannot open the disks: %s",
			   strerror(-r));
		return;
	}
	r = gw_rp_cut(srv, disks, n, TENANT_RP_MANUAL,
		      req->name[0] ? req->name : NULL, req);
	for (i = 0; i < n; i++)
		gw_disk_put(srv, disks[i]);
	if (r == -EAGAIN) {
		busy_del(srv, req->id); /* no snap id ready yet: next tick */
		srv->req_retry = true;
	} else if (r < 0) {
		struct tenant_req copy = *req;

		req_finish(srv, &copy, r, "cannot cut: %s", strerror(-r));
	}
}

static bool busy_has(const struct gw_server *srv, uint64_t id)
{
	for (unsigned i = 0; i < srv->nbusy; i++)
		if (srv->busy[i] == id)
			return true;
	return false;
}

static int run_one(const struct tenant_req *req, void *arg)
{
	struct gw_server *srv = arg;

	if (busy_has(srv, req->id) ||
	    srv->nbusy == sizeof(srv->busy) / sizeof(srv->busy[0]))
		return 0;
	srv->busy[srv->nbusy++] = req->id;
	gw_log(GW_LOG_INFO, "event=request id=%" PRIu64 " type=%u", req->id,
	       req->type);
	switch (req->type) {
	case TENANT_REQ_RP_CREATE:
		run_create(srv, req);
		break;
	case TENANT_REQ_RP_REMOVE:
		gw_rp_run_remove(srv, req);
		break;
	case TENANT_REQ_DISK_RESIZE:
		gw_rp_run_resize(srv, req);
		break;
	case TENANT_REQ_TEST_STOP:
		gw_dr_run_test_stop(srv, req);
		break;
	default: {
		struct tenant_req copy = *req;

		req_finish(srv, &copy, -EINVAL, "unknown request type %u",
			   req->type);
	}
	}
	return 0;
}

static void retry_deferred(struct gw_server *srv)
{
	struct gw_disk *list[64];
	unsigned n = 0;

	for (struct gw_disk *d = srv->disks; d && n < 64; d = d->next)
		if (d->deferred)
			list[n++] = d;
	for (unsigned i = 0; i < n; i++) {
		struct gw_disk *d = list[i];
		int r = gw_rp_cut(srv, &d, 1, TENANT_RP_SESSION_END, NULL,
				  NULL);

		if (r == -EAGAIN)
			continue;
		d->deferred = false;
		gw_conn_resume_disk(srv, d);
		gw_disk_put(srv, d);
	}
}

void gw_rp_run_requests(struct gw_server *srv)
{
	refresh_intervals(srv);
	srv->req_retry = false;
	retry_deferred(srv);
	if (srv->draining)
		return;
	tenant_req_list_pending(srv->cat, run_one, srv);
}

/* ---- the header object ---- */

struct header_ctx {
	char *buf;
	size_t len, cap;
};

static void hdr_add(struct header_ctx *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void hdr_add(struct header_ctx *h, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!h->buf)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(h->buf + h->len, h->cap - h->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < h->cap - h->len)
			break;
		char *nb = realloc(h->buf, h->cap * 2 + (size_t)n);

		if (!nb) {
			free(h->buf);
			h->buf = NULL;
			return;
		}
		h->buf = nb;
		h->cap = h->cap * 2 + (size_t)n;
	}
	h->len += (size_t)n;
}

static int hdr_rp(const struct tenant_rp *rp, void *arg)
{
	hdr_add(arg,
		"rp %" PRIu64 " snap %" PRIu64 " created_ms %" PRIu64
		" trigger %s size %" PRIu64 " changed %" PRIu64
		" group %" PRIu64 " name %s\n",
		rp->id, rp->snap_id, rp->created_ms, trigger_name(rp->trigger),
		rp->size, rp->bytes_changed, rp->group,
		rp->name[0] ? rp->name : "-");
	return 0;
}

struct header_write {
	struct storage_req req;
	struct gw_server *srv;
	struct gw_disk *d;
};

static void header_written(struct storage_req *r, int result)
{
	struct header_write *hw = r->priv;
	struct gw_disk *d = hw->d;

	if (result < 0)
		gw_log(GW_LOG_WARN,
		       "event=header_write_failed disk=%s "
		       "error=\"%s\"",
		       d->label, strerror(-result));
	/* The write held the disk open (a reference and a pending count),
	 * so a session that ends right away cannot close it under us. */
	d->cutting--;
	free(r->buf);
	gw_disk_put(hw->srv, d);
	srv_done(hw->srv, hw);
}

/* The header makes the data in the store self-describing: with the
 * catalog lost, every disk and restore point can be found again. */
void gw_rp_write_header(struct gw_server *srv, struct gw_disk *d)
{
	struct header_ctx h = {malloc(1024), 0, 1024};
	struct header_write *hw;
	struct tenant_disk td;

	if (d->snap != STORAGE_SNAP_HEAD || d->clone ||
	    tenant_disk_get_by_id(srv->cat, d->key_id, &td) < 0)
		return;
	hdr_add(&h,
		"haven-disk 1\nid %" PRIu64 "\nlabel %s\nsize %" PRIu64
		"\nextent_size %" PRIu32 "\nsnap_seq %" PRIu64 "\n",
		td.id, d->label, td.size, td.extent_size, td.snap_seq);
	tenant_rp_list(srv->cat, td.id, hdr_rp, &h);
	hw = calloc(1, sizeof(*hw));
	if (!h.buf || !hw) {
		free(h.buf);
		free(hw);
		return;
	}
	hw->srv = srv;
	hw->d = d;
	hw->req.buf = h.buf;
	hw->req.len = h.len;
	hw->req.done = header_written;
	hw->req.priv = hw;
	d->refs++;
	d->cutting++;
	storage_disk_write_header(d->sd, &hw->req);
}

/* ---- removal and resize ---- */

struct remove_job {
	struct gw_job job;
	struct gw_server *srv;
	struct tenant_req req;
	struct gw_store *store;
	struct tenant_rp rp;
	int err;
};

static void remove_work(struct gw_job *j)
{
	struct remove_job *rj = (struct remove_job *)j;
	uint64_t disk, rpid;

	rj->err = tenant_rp_remove(rj->srv->cat, rj->req.disk_id, rj->req.rp_id,
				   &rj->rp);
	if (rj->err < 0)
		return;
	/* Snap ids are pool-wide: release only what the catalog said this
	 * restore point owned, and nothing owns it any more. */
	if (tenant_snap_owner(rj->srv->cat, rj->store->route, rj->rp.snap_id,
			      &disk, &rpid) == -ENOENT)
		rj->err = storage_store_snap_remove(rj->store->st,
						    rj->rp.snap_id);
}

static void remove_done(struct gw_job *j)
{
	struct remove_job *rj = (struct remove_job *)j;
	struct gw_disk *d;

	if (rj->err < 0) {
		req_finish(rj->srv, &rj->req, rj->err,
			   "cannot remove restore point %" PRIu64 ": %s",
			   rj->req.rp_id, strerror(-rj->err));
	} else {
		req_finish(rj->srv, &rj->req, 0,
			   "removed restore point %" PRIu64, rj->req.rp_id);
		for (d = rj->srv->disks; d; d = d->next)
			if (d->key_id == rj->req.disk_id &&
			    d->snap == STORAGE_SNAP_HEAD)
				gw_rp_write_header(rj->srv, d);
	}
	srv_done(rj->srv, rj);
}

/* Drops a snap from an open live disk's context before it is released,
 * so no new write preserves data for it. */
static void drop_snap(struct gw_disk *d, uint64_t snap)
{
	unsigned i, o = 0;

	for (i = 0; i < d->nsnaps; i++)
		if (d->snaps[i] != snap)
			d->snaps[o++] = d->snaps[i];
	if (o == d->nsnaps)
		return;
	d->nsnaps = o;
	storage_disk_set_snapc(d->sd, d->seq, d->snaps, d->nsnaps);
}

void gw_rp_run_remove(struct gw_server *srv, const struct tenant_req *req)
{
	struct remove_job *rj = calloc(1, sizeof(*rj));
	struct tenant_req copy = *req;
	struct tenant_disk td;
	struct tenant_info t;
	struct tenant_rp rp;
	struct gw_disk *d;
	int r;

	r = rj ? 0 : -ENOMEM;
	if (r == 0)
		r = tenant_disk_get_by_id(srv->cat, req->disk_id, &td);
	if (r == 0)
		r = tenant_get(srv->cat, td.tenant_id, &t);
	if (r == 0)
		r = tenant_rp_get(srv->cat, req->disk_id, req->rp_id, &rp);
	if (r == 0)
		r = gw_server_store(srv, t.route, &rj->store);
	for (d = srv->disks; r == 0 && d; d = d->next)
		if (d->key_id == req->disk_id && d->snap == rp.snap_id)
			r = -EBUSY; /* exported right now */
	if (r < 0) {
		req_finish(srv, &copy, r,
			   "cannot remove restore point %" PRIu64 ": %s",
			   req->rp_id,
			   r == -EBUSY ? "it is open by a client"
				       : strerror(-r));
		free(rj);
		return;
	}
	for (d = srv->disks; d; d = d->next)
		if (d->key_id == req->disk_id && d->snap == STORAGE_SNAP_HEAD)
			drop_snap(d, rp.snap_id);
	rj->srv = srv;
	rj->req = *req;
	rj->job.fn = remove_work;
	rj->job.done = remove_done;
	gw_chain_push(&srv->catalog_chain, &rj->job);
}

struct resize_job {
	struct gw_job job;
	struct gw_server *srv;
	struct tenant_req req;
	int err;
};

static void resize_work(struct gw_job *j)
{
	struct resize_job *zj = (struct resize_job *)j;

	zj->err =
		tenant_disk_resize(zj->srv->cat, zj->req.disk_id, zj->req.size);
}

static void resize_done(struct gw_job *j)
{
	struct resize_job *zj = (struct resize_job *)j;
	struct gw_server *srv = zj->srv;
	struct gw_disk *d;
	int r = zj->err;

	for (d = srv->disks; r == 0 && d; d = d->next) {
		if (d->key_id != zj->req.disk_id ||
		    d->snap != STORAGE_SNAP_HEAD)
			continue;
		/* Open sessions keep the size they negotiated; new ones see
		 * the new size. */
		r = storage_disk_resize(d->sd, zj->req.size);
		gw_rp_write_header(srv, d);
	}
	if (r < 0)
		req_finish(srv, &zj->req, r, "cannot resize: %s", strerror(-r));
	else
		req_finish(srv, &zj->req, 0, "resized to %" PRIu64 " bytes",
			   zj->req.size);
	srv_done(srv, zj);
}

void gw_rp_run_resize(struct gw_server *srv, const struct tenant_req *req)
{
	struct resize_job *zj = calloc(1, sizeof(*zj));
	struct tenant_req copy = *req;

	if (!zj) {
		req_finish(srv, &copy, -ENOMEM, "out of memory");
		return;
	}
	zj->srv = srv;
	zj->req = *req;
	zj->job.fn = resize_work;
	zj->job.done = resize_done;
	gw_chain_push(&srv->catalog_chain, &zj->job);
}
