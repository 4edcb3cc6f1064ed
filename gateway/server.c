/* The server: listener, signals, the catalog watch, the stores of the
 * routes in use, and the graceful stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "metrics.h"

#define DRAIN_DEADLINE_MS 30000
#define READY_MAX_MS 5000

void gw_server_flush_dirty(struct gw_server *srv)
{
	while (srv->dirty) {
		struct gw_conn *c = srv->dirty;

		srv->dirty = c->dirty_next;
		gw_conn_flush(c);
	}
}

static void after_completions(void *arg)
{
	gw_server_flush_dirty(arg);
}

#define ROUTE_RETRY_MS 5000

static void fault_log(bool error, const char *msg)
{
	char q[640];

	gw_log(error ? GW_LOG_ERROR : GW_LOG_WARN, "event=%s detail=%s",
	       error ? "fault_file_refused" : "fault_file",
	       gw_log_quote(q, sizeof(q), msg));
}

/* Tests only: HAVEN_FAULT_FILE names a rules file for the fault injector
 * (storage/fault.c), which then wraps the store of every route opened
 * from now on.  Never set in production; havend says so loudly. */
static void route_fault(struct storage_route *sr, const char *route)
{
	const char *f = getenv("HAVEN_FAULT_FILE");

	if (!f || !*f)
		return;
	sr->fault_file = f;
	sr->fault_log = fault_log;
	gw_log(GW_LOG_WARN, "event=fault_injection route=%s file=%s", route, f);
}

struct open_job {
	struct gw_job job;
	struct gw_server *srv;
	struct gw_store *s;
	struct tenant_route tr;
	struct storage_store *st;
	int err;
	unsigned repaired; /* header objects written again */
};

/* Header objects are written after the catalog: a crash in between
 * leaves one behind, until the disk is next opened.  Before the route's
 * store is handed to the loop (so no disk of it is open and nothing else
 * writes its headers), every header that differs from the catalog is
 * written again. */
struct repair_ctx {
	struct open_job *oj;
	struct storage_store *st; /* blocking ops: a store of its own */
	const struct tenant_info *t;
	unsigned fixed;
};

static int repair_disk(const struct tenant_disk *td, void *arg)
{
	struct repair_ctx *rc = arg;
	char label[3 * (TENANT_NAME_MAX + 1)];
	void *cur = NULL;
	size_t len, curlen = 0;
	char *text;
	int r;

	snprintf(label, sizeof(label), "%s/%s/%s", rc->t->name, td->vm,
		 td->name);
	text = gw_header_text(rc->oj->srv->cat, td, label, &len);
	if (!text)
		return 0;
	r = storage_header_read(rc->st, rc->t->ns, td->id, &cur, &curlen);
	if (r == 0 && curlen == len && memcmp(cur, text, len) == 0)
		r = 1; /* up to date */
	/* A disk never written has no header: none to repair. */
	else if (r == 0)
		r = storage_header_write(rc->st, rc->t->ns, td->id, text, len);
	if (r == 0)
		rc->fixed++;
	free(cur);
	free(text);
	return 0;
}

static int repair_tenant(const struct tenant_info *t, void *arg)
{
	struct repair_ctx *rc = arg;

	if (strcmp(t->route, rc->oj->tr.name) != 0)
		return 0;
	rc->t = t;
	return tenant_disk_list(rc->oj->srv->cat, t->id, repair_disk, rc);
}

static void log_repaired(const char *route, unsigned n)
{
	if (n)
		gw_log(GW_LOG_WARN,
		       "event=headers_repaired route=%s disks=%u "
		       "reason=\"behind the catalog after a crash\"",
		       route, n);
}

static void repair_headers(struct open_job *oj, const struct storage_route *sr)
{
	struct repair_ctx rc = {.oj = oj};
	struct storage_sync *sync = NULL;

	if (storage_sync_new(&sync) == 0 &&
	    storage_store_open(sr, storage_sync_env(sync), &rc.st) == 0) {
		tenant_list(oj->srv->cat, repair_tenant, &rc);
		storage_store_close(rc.st);
	}
	storage_sync_free(sync);
	oj->repaired = rc.fixed;
}

static void open_work(struct gw_job *j)
{
	struct open_job *oj = (struct open_job *)j;
	struct storage_route sr = {
		.type = oj->tr.type,
		.path = oj->tr.path,
		.ceph_conf = oj->tr.ceph_conf,
		.pool = oj->tr.pool,
		.client_id = oj->tr.client_id[0] ? oj->tr.client_id : NULL,
		.keyring = oj->tr.keyring[0] ? oj->tr.keyring : NULL,
		.op_timeout = oj->srv->cfg.ceph_op_timeout,
		.mon_op_timeout = oj->srv->cfg.ceph_mon_op_timeout,
		.mount_timeout = oj->srv->cfg.ceph_mount_timeout,
		.inflight_ops = oj->srv->cfg.ceph_inflight_ops,
		.inflight_bytes = oj->srv->cfg.ceph_inflight_bytes,
	};

	route_fault(&sr, oj->tr.name);
	/* Connecting to a Ceph cluster can take seconds (or time out when
	 * it is down), so it never happens on the loop. */
	oj->err = storage_store_open(&sr, &oj->srv->env, &oj->st);
	if (oj->err == 0)
		repair_headers(oj, &sr);
}

static void open_done(struct gw_job *j)
{
	struct open_job *oj = (struct open_job *)j;
	struct gw_store *s = oj->s;

	s->opening = false;
	s->tried_ms = uv_now(oj->srv->loop);
	s->err = oj->err;
	if (oj->err < 0) {
		gw_log(GW_LOG_ERROR,
		       "event=route_open_failed route=%s type=%s error=\"%s\"",
		       s->route, oj->tr.type, strerror(-oj->err));
	} else {
		s->st = oj->st;
		gw_log(GW_LOG_INFO, "event=route_open route=%s type=%s",
		       s->route, oj->tr.type);
		log_repaired(s->route, oj->repaired);
		gw_rp_pool_refill(oj->srv, s);
	}
	free(oj);
	gw_server_check_ready(s->srv);
	gw_server_maybe_done(s->srv);
}

static struct gw_store *store_find(struct gw_server *srv, const char *route)
{
	for (struct gw_store *s = srv->stores; s; s = s->next)
		if (strcmp(s->route, route) == 0)
			return s;
	return NULL;
}

/* Starts opening a route's store in the background. */
static void store_start(struct gw_server *srv, struct gw_store *s,
			const struct tenant_route *tr)
{
	struct open_job *oj = calloc(1, sizeof(*oj));

	if (!oj)
		return;
	oj->srv = srv;
	oj->s = s;
	oj->tr = *tr;
	oj->job.fn = open_work;
	oj->job.done = open_done;
	s->opening = true;
	gw_chain_push(&srv->route_chain, &oj->job);
}

int gw_server_store(struct gw_server *srv, const char *route,
		    struct gw_store **out)
{
	struct storage_route sr = {0};
	struct tenant_route tr;
	struct gw_store *s;
	int r;

	s = store_find(srv, route);
	if (s && s->st) {
		*out = s;
		return 0;
	}
	if (s &&
	    (s->opening || uv_now(srv->loop) - s->tried_ms < ROUTE_RETRY_MS))
		return s->opening ? -EAGAIN : s->err;
	r = tenant_route_get(srv->cat, route, &tr);
	if (r < 0)
		return r;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->srv = srv;
		snprintf(s->route, sizeof(s->route), "%s", route);
		s->next = srv->stores;
		srv->stores = s;
	}
	if (strcmp(tr.type, "rados") == 0) {
		/* Opened off the loop; the client is told to come back. */
		store_start(srv, s, &tr);
		return -EAGAIN;
	}
	sr.type = tr.type;
	sr.path = tr.path;
	route_fault(&sr, route);
	r = storage_store_open(&sr, &srv->env, &s->st);
	s->tried_ms = uv_now(srv->loop);
	s->err = r;
	if (r < 0) {
		gw_log(GW_LOG_ERROR,
		       "event=route_open_failed route=%s type=%s error=\"%s\"",
		       route, tr.type, strerror(-r));
		return r;
	}
	gw_log(GW_LOG_INFO, "event=route_open route=%s type=%s", route,
	       tr.type);
	{
		/* A local store: file reads, quick enough on the loop, and
		 * before the caller opens any disk of it. */
		struct open_job oj = {.srv = srv, .s = s, .tr = tr};

		repair_headers(&oj, &sr);
		log_repaired(route, oj.repaired);
	}
	gw_rp_pool_refill(srv, s);
	*out = s;
	return 0;
}

static int open_route(const struct tenant_route *tr, void *arg)
{
	struct gw_server *srv = arg;
	struct gw_store *s;

	gw_server_store(srv, tr->name, &s);
	return 0;
}

/* Opens every route at start-up, so Ceph connections are ready before
 * the first client asks. */
void gw_server_open_routes(struct gw_server *srv)
{
	tenant_route_list(srv->cat, open_route, srv);
}

void gw_server_close_stores(struct gw_server *srv)
{
	while (srv->stores) {
		struct gw_store *s = srv->stores;

		srv->stores = s->next;
		if (s->st)
			storage_store_close(s->st);
		free(s);
	}
}

static void on_connection(uv_stream_t *l, int status)
{
	struct gw_listener *li = l->data;
	struct gw_server *srv = li->srv;

	if (status < 0) {
		gw_log(GW_LOG_WARN, "event=listen_error error=%s",
		       uv_strerror(status));
		return;
	}
	if (!srv->ready) {
		/* Not accepted yet: libuv keeps it (and the backlog) until
		 * the routes are open. */
		li->waiting = true;
		return;
	}
	gw_conn_accept(srv, l);
	gw_server_flush_dirty(srv);
}

/* Ready once every route's first open attempt finished (Ceph connects
 * in the background), or after a few seconds whatever happened, so a
 * cluster that is down delays nobody else for long. */
static void become_ready(struct gw_server *srv)
{
	if (srv->ready || !srv->listening)
		return;
	srv->ready = true;
	uv_timer_stop(&srv->ready_timer);
	for (unsigned i = 0; i < srv->nlisteners; i++)
		gw_log(GW_LOG_INFO, "event=listening addr=%s",
		       srv->cfg.listen[i]);
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		struct gw_listener *li = &srv->listeners[i];

		if (li->waiting) {
			li->waiting = false;
			gw_conn_accept(srv, (uv_stream_t *)&li->tcp);
		}
	}
	gw_server_flush_dirty(srv);
}

static void ready_timeout(uv_timer_t *t)
{
	become_ready(t->data);
}

void gw_server_check_ready(struct gw_server *srv)
{
	for (struct gw_store *s = srv->stores; s; s = s->next)
		if (s->opening)
			return;
	become_ready(srv);
}

static bool any_deferred(const struct gw_server *srv)
{
	for (const struct gw_disk *d = srv->disks; d; d = d->next)
		if (d->deferred)
			return true;
	return false;
}

/* Notices havenctl's changes: a revoked certificate, a suspended tenant
 * or a removed disk closes the sessions that depend on it.  Every
 * GW_WATCH_INTERVAL_MS, and at once when havenctl rings (bell.c). */
void gw_server_watch(struct gw_server *srv)
{
	uint64_t gen;

	gw_audit_tick(srv);
	if (srv->draining) {
		if (any_deferred(srv))
			gw_rp_run_requests(srv);
		if (uv_now(srv->loop) - srv->drain_started >
		    DRAIN_DEADLINE_MS) {
			gw_log(GW_LOG_WARN, "event=drain_deadline");
			for (struct gw_conn *c = srv->conns; c; c = c->next)
				gw_conn_close(c, "drain deadline");
		}
		return;
	}
	gw_exports_expire_failed(srv);
	if (tenant_catalog_generation(srv->cat, &gen) < 0)
		return;
	if (gen == srv->generation) {
		if (srv->req_retry || any_deferred(srv))
			gw_rp_run_requests(srv);
		return;
	}
	srv->generation = gen;
	gw_sched_refresh(srv);
	gw_rp_run_requests(srv);
	for (struct gw_conn *c = srv->conns, *n; c; c = n) {
		n = c->next;
		gw_conn_recheck(c);
	}
	gw_server_flush_dirty(srv);
}

static void watch(uv_timer_t *t)
{
	gw_server_watch(t->data);
}

struct lease_job {
	struct gw_job job;
	struct gw_server *srv;
	uint64_t tenant_id;
	char name[TENANT_NAME_MAX + 1];
	int err;
};

static void lease_work(struct gw_job *j)
{
	struct lease_job *lj = (struct lease_job *)j;

	lj->err =
		tenant_set_state(lj->srv->cat, lj->tenant_id, TENANT_SUSPENDED);
	if (!lj->err)
		gw_audit_append_sync(lj->srv, lj->name, "tenant.suspend",
				     "reason=lease_expired");
}

static void lease_done(struct gw_job *j)
{
	struct lease_job *lj = (struct lease_job *)j;

	gw_log(lj->err < 0 ? GW_LOG_ERROR : GW_LOG_WARN,
	       "event=lease_expired tenant=%s action=suspended result=%s",
	       lj->name, lj->err < 0 ? strerror(-lj->err) : "ok");
	free(lj);
}

/* A tenant past its lease end is suspended (its sessions then close at
 * the next catalog check); a log line says so. */
static int check_lease(const struct tenant_info *t, void *arg)
{
	struct gw_server *srv = arg;
	struct tenant_limits lim;
	struct lease_job *lj;

	if (t->state != TENANT_ACTIVE ||
	    tenant_get_limits(srv->cat, t->id, &lim) < 0 || !lim.lease_until ||
	    (uint64_t)time(NULL) < lim.lease_until)
		return 0;
	lj = calloc(1, sizeof(*lj));
	if (!lj)
		return 0;
	lj->srv = srv;
	lj->tenant_id = t->id;
	snprintf(lj->name, sizeof(lj->name), "%s", t->name);
	lj->job.fn = lease_work;
	lj->job.done = lease_done;
	gw_chain_push(&srv->catalog_chain, &lj->job);
	return 0;
}

static void retention_tick(uv_timer_t *t)
{
	struct gw_server *srv = t->data;

	tenant_list(srv->cat, check_lease, srv);
	gw_dr_retention_pass(srv);
	gw_server_flush_dirty(srv);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct gw_server *srv = s->data;

	if (signum == SIGHUP) {
		if (!srv->draining)
			gw_server_reload(srv);
		return;
	}
	gw_server_stop(srv, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void close_listeners(struct gw_server *srv)
{
	for (unsigned i = 0; i < srv->nlisteners; i++)
		uv_close((uv_handle_t *)&srv->listeners[i].tcp, NULL);
	srv->nlisteners = 0;
	srv->listening = false;
}

static int listen_one(struct gw_server *srv, const char *addr)
{
	struct gw_listener *li = &srv->listeners[srv->nlisteners];
	struct sockaddr_storage ss;
	char host[GW_HOSTPORT_MAX];
	int port, r;

	r = gw_parse_hostport(addr, host, sizeof(host), &port);
	if (r < 0)
		return r;
	if (strchr(host, ':'))
		r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	else
		r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	if (r < 0)
		return r;
	uv_tcp_init(srv->loop, &li->tcp);
	li->tcp.data = li;
	li->srv = srv;
	li->waiting = false;
	srv->nlisteners++;
	/* An IPv6 wildcard listens on IPv6 only, so that "0.0.0.0:P, [::]:P"
	 * works as two listeners. */
	r = uv_tcp_bind(&li->tcp, (struct sockaddr *)&ss,
			strchr(host, ':') ? UV_TCP_IPV6ONLY : 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&li->tcp, 511, on_connection);
	if (r < 0)
		gw_log(GW_LOG_ERROR, "event=listen_failed addr=%s error=\"%s\"",
		       addr, uv_strerror(r));
	return r;
}

/* Every address or none: a gateway missing one of its addresses would
 * look up but not be reachable where clients expect it. */
static int listen_on(struct gw_server *srv)
{
	int r;

	for (unsigned i = 0; i < srv->cfg.nlisten; i++) {
		r = listen_one(srv, srv->cfg.listen[i]);
		if (r < 0) {
			close_listeners(srv);
			return r;
		}
	}
	srv->listening = true;
	return 0;
}

int gw_server_start(struct gw_server *srv, uv_loop_t *loop)
{
	int r;

	srv->magic = GW_SERVER_MAGIC;
	srv->loop = loop;
	gw_chain_init(&srv->catalog_chain, loop);
	gw_chain_init(&srv->snap_chain, loop);
	gw_chain_init(&srv->route_chain, loop);
	gw_sched_init(srv);
	r = gw_queue_init(&srv->queue, loop, after_completions, srv);
	if (r < 0)
		return r;
	srv->env.post = gw_queue_post;
	srv->env.ctx = &srv->queue;
	uv_signal_init(loop, &srv->sigterm);
	uv_signal_init(loop, &srv->sigint);
	uv_signal_init(loop, &srv->sighup);
	srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv;
	uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
	uv_signal_start(&srv->sigint, on_signal, SIGINT);
	uv_signal_start(&srv->sighup, on_signal, SIGHUP);
	uv_timer_init(loop, &srv->watch);
	srv->watch.data = srv;
	tenant_catalog_generation(srv->cat, &srv->generation);
	uv_timer_start(&srv->watch, watch, GW_WATCH_INTERVAL_MS,
		       GW_WATCH_INTERVAL_MS);
	gw_bell_open(srv);
	uv_timer_init(loop, &srv->retention);
	srv->retention.data = srv;
	uv_timer_start(&srv->retention, retention_tick,
		       (uint64_t)srv->cfg.retention_interval * 1000,
		       (uint64_t)srv->cfg.retention_interval * 1000);
	uv_timer_init(loop, &srv->ready_timer);
	srv->ready_timer.data = srv;
	r = listen_on(srv);
	if (r < 0) {
		srv->draining = true;
		gw_server_maybe_done(srv);
		return r;
	}
	gw_server_open_routes(srv);
	uv_timer_start(&srv->ready_timer, ready_timeout, READY_MAX_MS, 0);
	gw_server_check_ready(srv);
	return 0;
}

void gw_server_stop(struct gw_server *srv, const char *why)
{
	if (srv->draining)
		return;
	gw_log(GW_LOG_INFO, "event=stopping reason=%s", why);
	gw_audit_flush(srv);
	srv->draining = true;
	srv->drain_started = uv_now(srv->loop);
	/* An open after a crash can list a big store for minutes. */
	gw_disk_open_cancel_all(srv);
	if (srv->listening)
		close_listeners(srv);
	for (struct gw_conn *c = srv->conns, *n; c; c = n) {
		n = c->next;
		gw_conn_drain(c);
	}
	gw_server_flush_dirty(srv);
	gw_server_maybe_done(srv);
}

/* Once stopping and the last connection is gone, closes the remaining
 * handles so uv_run() returns. */
void gw_server_maybe_done(struct gw_server *srv)
{
	if (!srv->draining || srv->conns)
		return;
	if (uv_is_closing((uv_handle_t *)&srv->watch))
		return;
	/* Restore points being recorded, or waiting for a snap id, finish
	 * first (the drain deadline bounds the wait). */
	/* A disk opening on a pool thread uses its store: wait for it
	 * (cancelled, it stops within one listing or probe batch). */
	if (srv->disks_opening)
		return;
	if (!gw_rp_idle(srv) ||
	    (any_deferred(srv) &&
	     uv_now(srv->loop) - srv->drain_started <= DRAIN_DEADLINE_MS))
		return;
	gw_exports_close_all(srv);
	gw_server_close_stores(srv);
	uv_close((uv_handle_t *)&srv->watch, NULL);
	gw_bell_close(srv);
	uv_close((uv_handle_t *)&srv->retention, NULL);
	uv_close((uv_handle_t *)&srv->throttle, NULL);
	uv_close((uv_handle_t *)&srv->ready_timer, NULL);
	uv_close((uv_handle_t *)&srv->sigterm, NULL);
	uv_close((uv_handle_t *)&srv->sigint, NULL);
	uv_close((uv_handle_t *)&srv->sighup, NULL);
	gw_queue_close(&srv->queue);
	gw_metrics_stop(srv);
	gw_log(GW_LOG_INFO, "event=stopped");
}
