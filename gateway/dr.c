/* Disaster-recovery work of havend: stopping failover tests (their clone
 * objects go only once no session uses them) and applying retention
 * policies on a timer.  Starting a test and promoting a VM are catalog
 * changes that havenctl makes itself; havend serves the clones they
 * name (exports.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"

/* ---- failover test stop ---- */

struct stop_job {
	struct gw_job job;
	struct gw_server *srv;
	struct tenant_req req;
	struct tenant_test test;
	struct tenant_route route;
	char ns[TENANT_NAME_MAX + 1];
	int err;
};

/* On a pool thread: measure and delete the clones through a store of
 * our own (blocking calls need a sync env), then record the result. */
static void stop_work(struct gw_job *j)
{
	struct stop_job *sj = (struct stop_job *)j;
	struct storage_route sr = {
		.type = sj->route.type,
		.path = sj->route.path,
		.ceph_conf = sj->route.ceph_conf,
		.pool = sj->route.pool,
		.client_id =
			sj->route.client_id[0] ? sj->route.client_id : NULL,
		.keyring = sj->route.keyring[0] ? sj->route.keyring : NULL,
		.op_timeout = sj->srv->cfg.ceph_op_timeout,
		.mon_op_timeout = sj->srv->cfg.ceph_mon_op_timeout,
		.mount_timeout = sj->srv->cfg.ceph_mount_timeout,
		.inflight_ops = sj->srv->cfg.ceph_inflight_ops,
		.inflight_bytes = sj->srv->cfg.ceph_inflight_bytes,
	};
	struct storage_store *st = NULL;
	struct storage_sync *sync = NULL;
	uint64_t objects, bytes, total = 0;
	int r;

	r = storage_sync_new(&sync);
	if (r == 0)
		r = storage_store_open(&sr, storage_sync_env(sync), &st);
	for (uint32_t i = 0; r == 0 && i < sj->test.ndisks && i < 16; i++) {
		struct tenant_disk td;
		uint64_t id = sj->test.disks[i].clone_id;

		r = tenant_disk_get_by_id(sj->srv->cat,
					  sj->test.disks[i].disk_id, &td);
		if (r < 0)
			break;
		if (storage_disk_usage(st, sj->ns, id, &objects, &bytes) == 0)
			total += bytes;
		r = storage_disk_destroy(st, sj->ns, id, td.size,
					 td.extent_size);
	}
	if (r == 0) {
		sj->test.state = TENANT_TEST_STOPPED;
		sj->test.stopped_ms = gw_now_ms();
		sj->test.bytes_written = total;
		snprintf(sj->test.note, sizeof(sj->test.note), "%s",
			 sj->req.name);
		r = tenant_test_finish(sj->srv->cat, &sj->test);
	}
	storage_store_close(st);
	storage_sync_free(sync);
	sj->err = r;
}

static void stop_done(struct gw_job *j)
{
	struct stop_job *sj = (struct stop_job *)j;
	struct gw_server *srv = sj->srv;

	if (sj->err < 0)
		gw_rp_req_finish(srv, &sj->req, sj->err,
				 "cannot stop test %" PRIu64 ": %s",
				 sj->test.id, strerror(-sj->err));
	else
		gw_rp_req_finish(srv, &sj->req, 0,
				 "stopped test %" PRIu64 " of %s after %" PRIu64
				 " s; %" PRIu64 " bytes written by the test",
				 sj->test.id, sj->test.vm,
				 (sj->test.stopped_ms - sj->test.started_ms) /
					 1000,
				 sj->test.bytes_written);
	free(sj);
	gw_server_maybe_done(srv);
}

static bool clone_in_use(struct gw_server *srv, const struct tenant_test *t)
{
	bool used = false;

	for (uint32_t i = 0; i < t->ndisks && i < 16; i++) {
		uint64_t id = t->disks[i].clone_id;

		for (struct gw_conn *c = srv->conns, *n; c; c = n) {
			n = c->next;
			if (c->disk && c->disk->key_id == id && c->disk->clone)
				gw_conn_close(c, "failover test stopped");
		}
		for (struct gw_disk *d = srv->disks; d; d = d->next)
			if (d->clone && d->key_id == id)
				used = true;
	}
	return used;
}

void gw_dr_run_test_stop(struct gw_server *srv, const struct tenant_req *req)
{
	struct tenant_req copy = *req;
	struct stop_job *sj;
	struct tenant_info t;
	int r;

	sj = calloc(1, sizeof(*sj));
	r = sj ? tenant_test_get(srv->cat, req->rp_id, &sj->test) : -ENOMEM;
	if (r == 0 && sj->test.state != TENANT_TEST_RUNNING)
		r = -EALREADY;
	if (r == 0)
		r = tenant_get(srv->cat, sj->test.tenant_id, &t);
	if (r == 0)
		r = tenant_route_get(srv->cat, t.route, &sj->route);
	if (r < 0) {
		gw_rp_req_finish(srv, &copy, r,
				 "cannot stop test %" PRIu64 ": %s", req->rp_id,
				 r == -EALREADY ? "it is not running"
						: strerror(-r));
		free(sj);
		return;
	}
	/* Sessions on the clones are closed first; the objects go once the
	 * last one has let go (the next tick tries again). */
	if (clone_in_use(srv, &sj->test)) {
		gw_server_flush_dirty(srv);
		gw_rp_req_retry(srv, req->id);
		free(sj);
		return;
	}
	sj->srv = srv;
	sj->req = *req;
	snprintf(sj->ns, sizeof(sj->ns), "%s", t.ns);
	sj->job.fn = stop_work;
	sj->job.done = stop_done;
	gw_chain_push(&srv->snap_chain, &sj->job);
}

/* ---- retention ---- */

struct rp_vec {
	struct tenant_rp *v;
	size_t n, cap;
};

static int collect(const struct tenant_rp *rp, void *arg)
{
	struct rp_vec *rv = arg;

	if (rv->n == rv->cap) {
		size_t cap = rv->cap ? rv->cap * 2 : 32;
		struct tenant_rp *n = realloc(rv->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rv->v = n;
		rv->cap = cap;
	}
	rv->v[rv->n++] = *rp;
	return 0;
}

static int policy_of(struct gw_server *srv, const struct tenant_disk *td,
		     struct tenant_retention *pol, uint32_t *immutable_days)
{
	char text[256], err[128];
	int r;

	r = tenant_get_retention(srv->cat, td->tenant_id, text, sizeof(text),
				 immutable_days);
	if (r < 0)
		return r;
	if (tenant_disk_get_retention(srv->cat, td->id, err, sizeof(err)) ==
		    0 &&
	    err[0])
		snprintf(text, sizeof(text), "%s", err);
	return tenant_retention_parse(text, pol, err, sizeof(err));
}

static int prune_disk(const struct tenant_disk *td, void *arg)
{
	struct gw_server *srv = arg;
	struct tenant_retention pol;
	struct tenant_rp_fate *fates;
	struct rp_vec rv = {0};
	uint32_t days = 0;

	if (policy_of(srv, td, &pol, &days) < 0 ||
	    tenant_rp_list(srv->cat, td->id, collect, &rv) < 0 || rv.n == 0) {
		free(rv.v);
		return 0;
	}
	fates = calloc(rv.n, sizeof(*fates));
	if (fates) {
		tenant_retention_plan(&pol, days, rv.v, rv.n, gw_now_ms(),
				      fates);
		for (size_t i = 0; i < rv.n; i++) {
			struct tenant_req req = {0};

			if (fates[i].keep)
				continue;
			/* The same path as `havenctl rp remove`, so an open
			 * disk drops the snap from its context first. */
			req.type = TENANT_REQ_RP_REMOVE;
			req.disk_id = td->id;
			req.rp_id = rv.v[i].id;
			gw_log(GW_LOG_INFO,
			       "event=retention_expire disk_id=%" PRIu64
			       " rp=%" PRIu64,
			       td->id, rv.v[i].id);
			gw_rp_run_remove(srv, &req);
		}
	}
	free(fates);
	free(rv.v);
	return 0;
}

void gw_dr_retention_pass(struct gw_server *srv)
{
	if (srv->draining)
		return;
	tenant_disk_list(srv->cat, 0, prune_disk, srv);
	/* `tenant show` and `disk show` read the ledger from the catalog. */
	gw_ledger_persist(srv, NULL);
}
