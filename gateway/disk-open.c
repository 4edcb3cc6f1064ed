/* Opening a live disk after a crash, off the loop.
 *
 * A disk closed cleanly opens from the allocation map saved in the
 * catalog, in microseconds, on the loop.  After a crash there is no saved
 * map: the open lists the disk's objects and probes the store for the
 * clones of its latest restore point (storage/disk-ledger.c), seconds
 * for a big Ceph disk.  That runs here, on a libuv pool thread, while
 * the loop serves everybody else.
 *
 * Meanwhile the disk is shared like any other (struct gw_disk, sd NULL,
 * opening): sessions that open it finish their handshake and wait before
 * their first request (gw_tx_can_read), havenctl's requests that need it
 * are retried, and nothing else looks at its disk layer.  What changed
 * in the catalog meanwhile (a restore point removed, the disk resized) is
 * applied once the open is done.  A failed open is logged, and the
 * disk's sessions get every request refused with the reason.
 *
 * Stopping does not wait for the open: gw_disk_open_cancel_all() raises
 * the disk's open_cancel, which the listing looks at between objects and
 * the clone probe between batches, so the job ends within one batch with
 * -ECANCELED.  Nothing was written then (no header, no saved map: the
 * store is as the crash left it), and the next start lists it again.
 *
 * The pool thread only touches what the job owns (its copies of the
 * parameters, the new storage_disk) and the route's store, which stays
 * open until no open runs (gw_server_maybe_done waits for them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

struct open_job {
	uv_work_t work;
	struct gw_server *srv;
	struct gw_disk *d;
	struct storage_store *st;
	struct storage_disk_params p; /* its pointers into this job */
	char ns[TENANT_NAME_MAX + 1];
	uint64_t *snaps;
	uint8_t *cut_map;
	struct storage_disk *sd;
	int err;
	uint64_t started_ms; /* loop time */
};

static void open_work(uv_work_t *w)
{
	struct open_job *oj = w->data;

	/* Cancelled while it waited for a pool thread. */
	oj->err = atomic_load(oj->p.cancel)
			  ? -ECANCELED
			  : storage_disk_open(oj->st, &oj->p, &oj->sd);
}

/* What the catalog changed while the disk opened. */
static int catch_up(struct gw_server *srv, struct gw_disk *d,
		    const struct open_job *oj)
{
	struct tenant_disk td;
	int r = 0;

	/* A restore point removed meanwhile left the snap context. */
	if (d->nsnaps != oj->p.nsnaps ||
	    (d->nsnaps &&
	     memcmp(d->snaps, oj->snaps, d->nsnaps * sizeof(*d->snaps))))
		r = storage_disk_set_snapc(oj->sd, d->seq, d->snaps, d->nsnaps);
	if (r == 0 && tenant_disk_get_by_id(srv->cat, d->key_id, &td) == 0 &&
	    td.size > storage_disk_size(oj->sd))
		r = storage_disk_resize(oj->sd, td.size);
	return r;
}

static void open_failed(struct gw_server *srv, struct gw_disk *d, int err,
			uint64_t ms)
{
	d->open_err = err < 0 ? err : -EIO;
	d->failed_ms = uv_now(srv->loop);
	if (err == -ECANCELED) {
		snprintf(d->open_why, sizeof(d->open_why),
			 "gateway stopping before disk '%.100s' was open",
			 d->label);
		gw_log(GW_LOG_INFO,
		       "event=disk_open_cancelled disk=%s map=listed "
		       "ms=%" PRIu64
		       " sessions=%u effect=\"nothing written, the next "
		       "start lists the store again\"",
		       d->label, ms, d->refs);
		return;
	}
	snprintf(d->open_why, sizeof(d->open_why),
		 "storage for disk '%.100s' unavailable: %s "
		 "(reconnect to try again)",
		 d->label, strerror(-d->open_err));
	gw_log(GW_LOG_ERROR,
	       "event=disk_open_failed disk=%s map=listed ms=%" PRIu64
	       " error=\"%s\" sessions=%u",
	       d->label, ms, strerror(-d->open_err), d->refs);
}

static void open_after(uv_work_t *w, int status)
{
	struct open_job *oj = w->data;
	struct gw_server *srv = oj->srv;
	struct gw_disk *d = oj->d;
	uint64_t ms = uv_now(srv->loop) - oj->started_ms;
	int err = status < 0 ? status : oj->err;

	srv->disks_opening--;
	d->opening = false;
	if (err == 0)
		err = catch_up(srv, d, oj);
	if (err < 0) {
		storage_disk_close(oj->sd);
		open_failed(srv, d, err, ms);
	} else {
		d->sd = oj->sd;
		gw_log(GW_LOG_INFO,
		       "event=disk_open disk=%s size=%" PRIu64
		       " restore_points=%u map=listed ms=%" PRIu64
		       " sessions=%u",
		       d->label, storage_disk_size(d->sd), d->nsnaps, ms,
		       d->refs);
	}
	if (d->refs == 0) {
		/* Nobody waits for it any more (sessions gone, a request
		 * that retries): close it, its map saved for the next
		 * open.  A failed one stays, answering with its error for
		 * a while (gw_exports_expire_failed), unless stopping. */
		if (!d->open_err || d->open_err == -ECANCELED)
			gw_disk_release(srv, d);
	} else {
		if (d->sd)
			gw_rp_write_header(srv, d);
		gw_conn_resume_disk(srv, d);
	}
	free(oj->snaps);
	free(oj->cut_map);
	free(oj);
	/* havenctl's requests that waited for the open. */
	if (srv->req_retry && !srv->draining)
		gw_rp_run_requests(srv);
	gw_server_flush_dirty(srv);
	gw_server_maybe_done(srv);
}

int gw_disk_open_async(struct gw_server *srv, struct gw_disk *d,
		       const struct storage_disk_params *p)
{
	struct open_job *oj = calloc(1, sizeof(*oj));
	size_t nsnaps = p->nsnaps;
	int r;

	if (!oj)
		return -ENOMEM;
	oj->p = *p;
	snprintf(oj->ns, sizeof(oj->ns), "%s", p->ns);
	oj->p.ns = oj->ns;
	/* The loop edits the disk's snap list meanwhile (drop_snap). */
	oj->snaps = malloc((nsnaps ? nsnaps : 1) * sizeof(*oj->snaps));
	oj->cut_map = malloc(p->cut_map_len ? p->cut_map_len : 1);
	if (!oj->snaps || !oj->cut_map) {
		r = -ENOMEM;
		goto fail;
	}
	if (nsnaps)
		memcpy(oj->snaps, p->snaps, nsnaps * sizeof(*oj->snaps));
	oj->p.snaps = oj->snaps;
	if (p->cut_map) {
		memcpy(oj->cut_map, p->cut_map, p->cut_map_len);
		oj->p.cut_map = oj->cut_map;
	}
	oj->p.saved_map = NULL;
	oj->p.map = NULL;
	oj->p.parent_map = NULL;
	/* Read by the pool thread; d outlives the job (an opening disk
	 * is freed only once its open is over). */
	atomic_init(&d->open_cancel, srv->draining);
	oj->p.cancel = &d->open_cancel;
	oj->srv = srv;
	oj->d = d;
	oj->st = d->store->st;
	oj->started_ms = uv_now(srv->loop);
	oj->work.data = oj;
	r = uv_queue_work(srv->loop, &oj->work, open_work, open_after);
	if (r < 0)
		goto fail;
	d->opening = true;
	srv->disks_opening++;
	return 0;
fail:
	free(oj->snaps);
	free(oj->cut_map);
	free(oj);
	return r;
}

void gw_disk_open_cancel_all(struct gw_server *srv)
{
	for (struct gw_disk *d = srv->disks; d; d = d->next) {
		if (!d->opening)
			continue;
		atomic_store(&d->open_cancel, true);
		gw_log(GW_LOG_INFO,
		       "event=disk_open_cancel disk=%s sessions=%u", d->label,
		       d->refs);
	}
}
