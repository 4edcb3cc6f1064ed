/* havenctl's requests to a running havend (restore points, resize, test
 * stop), and the header objects that make a disk's data self-describing.
 * The cuts themselves are in rp.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

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
	gw_rp_job_free(fj->srv, fj);
}

void gw_rp_req_finish(struct gw_server *srv, struct tenant_req *req, int err,
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
	for (i = 0; i < v.n && r == 0; i++)
		r = gw_disk_open_live(srv, &t, &v.d[i], &out[i]);
	if (r < 0)
		i--;
	/* Disks opening after a crash (all of them started): not yet. */
	for (unsigned k = 0; r == 0 && k < i; k++)
		if (out[k]->opening)
			r = -EINPROGRESS;
	if (r < 0) {
		while (i-- > 0)
			gw_disk_put(srv, out[i]);
		return r;
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
	if (r == -EINPROGRESS) {
		/* A disk opens (after a crash): cut once it is open. */
		busy_del(srv, req->id);
		srv->req_retry = true;
		return;
	}
	if (r < 0) {
		struct tenant_req copy = *req;

		gw_rp_req_finish(srv, &copy, r, "cannot open the disks: %s",
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

		gw_rp_req_finish(srv, &copy, r, "cannot cut: %s", strerror(-r));
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

		gw_rp_req_finish(srv, &copy, -EINVAL, "unknown request type %u",
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
	gw_rp_refresh_intervals(srv);
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
		rp->id, rp->snap_id, rp->created_ms,
		gw_rp_trigger_name(rp->trigger), rp->size, rp->bytes_changed,
		rp->group, rp->name[0] ? rp->name : "-");
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
	gw_rp_job_free(hw->srv, hw);
}

/* The header makes the data in the store self-describing: with the
 * catalog lost, every disk and restore point can be found again. */
char *gw_header_text(struct tenant_catalog *cat, const struct tenant_disk *td,
		     const char *label, size_t *len)
{
	struct header_ctx h = {malloc(1024), 0, 1024};

	hdr_add(&h,
		"haven-disk 1\nid %" PRIu64 "\nlabel %s\nsize %" PRIu64
		"\nextent_size %" PRIu32 "\nsnap_seq %" PRIu64 "\n",
		td->id, label, td->size, td->extent_size, td->snap_seq);
	if (tenant_rp_list(cat, td->id, hdr_rp, &h) < 0) {
		free(h.buf);
		return NULL;
	}
	*len = h.len;
	return h.buf;
}

void gw_rp_write_header(struct gw_server *srv, struct gw_disk *d)
{
	struct header_ctx h = {NULL, 0, 0};
	struct header_write *hw;
	struct tenant_disk td;

	if (d->snap != STORAGE_SNAP_HEAD || d->clone || !d->sd ||
	    tenant_disk_get_by_id(srv->cat, d->key_id, &td) < 0)
		return;
	h.buf = gw_header_text(srv->cat, &td, d->label, &h.len);
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
		gw_rp_req_finish(rj->srv, &rj->req, rj->err,
				 "cannot remove restore point %" PRIu64 ": %s",
				 rj->req.rp_id, strerror(-rj->err));
	} else {
		gw_rp_req_finish(rj->srv, &rj->req, 0,
				 "removed restore point %" PRIu64,
				 rj->req.rp_id);
		for (d = rj->srv->disks; d; d = d->next)
			if (d->key_id == rj->req.disk_id &&
			    d->snap == STORAGE_SNAP_HEAD)
				gw_rp_write_header(rj->srv, d);
	}
	gw_rp_job_free(rj->srv, rj);
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
	/* One still opening takes the context when it is open. */
	if (d->sd)
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
		gw_rp_req_finish(srv, &copy, r,
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
		/* One still opening takes the size when it is open. */
		if (d->key_id != zj->req.disk_id ||
		    d->snap != STORAGE_SNAP_HEAD || !d->sd)
			continue;
		/* Open sessions keep the size they negotiated; new ones see
		 * the new size. */
		r = storage_disk_resize(d->sd, zj->req.size);
		gw_rp_write_header(srv, d);
	}
	if (r < 0)
		gw_rp_req_finish(srv, &zj->req, r, "cannot resize: %s",
				 strerror(-r));
	else
		gw_rp_req_finish(srv, &zj->req, 0,
				 "resized to %" PRIu64 " bytes", zj->req.size);
	gw_rp_job_free(srv, zj);
}

void gw_rp_run_resize(struct gw_server *srv, const struct tenant_req *req)
{
	struct resize_job *zj = calloc(1, sizeof(*zj));
	struct tenant_req copy = *req;

	if (!zj) {
		gw_rp_req_finish(srv, &copy, -ENOMEM, "out of memory");
		return;
	}
	zj->srv = srv;
	zj->req = *req;
	zj->job.fn = resize_work;
	zj->job.done = resize_done;
	gw_chain_push(&srv->catalog_chain, &zj->job);
}
