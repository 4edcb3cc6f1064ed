/* The documents of the metrics endpoint, rendered on the loop thread:
 * /metrics in the Prometheus text exposition format 0.0.4, /status as
 * JSON for havenctl status, and the readiness behind /healthz.
 *
 * Every family is written whole (HELP, TYPE, then all its samples), as
 * the format requires.  Series that exist for a tenant, disk or route
 * are written even at zero, so that a rate() sees the first increment;
 * limits are written only when set (no sample means unlimited).
 * Catalog listings are copied out first and read afterwards: LMDB does
 * not allow a second read transaction inside the first one's callback. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "conn.h"
#include "metrics.h"

/* ---- buffer and escaping ---- */

static void mbuf_grow(struct gw_mbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 16384;
	char *p;

	while (cap < b->len + need + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

void gw_mbuf_printf(struct gw_mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		mbuf_grow(b, (size_t)n);
		if (b->oom)
			return;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A label value or a JSON string body: backslash, double quote and
 * newline escaped (both formats accept that subset); other control
 * characters, which names never hold, become '?'. */
void gw_mbuf_escaped(struct gw_mbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			gw_mbuf_printf(b, "\\\\");
		else if (*s == '"')
			gw_mbuf_printf(b, "\\\"");
		else if (*s == '\n')
			gw_mbuf_printf(b, "\\n");
		else if ((unsigned char)*s < 0x20)
			gw_mbuf_printf(b, "?");
		else
			gw_mbuf_printf(b, "%c", *s);
	}
}

static void family(struct gw_mbuf *b, const char *name, const char *type,
		   const char *help)
{
	gw_mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		       type);
}

/* name{tenant="t"[,key="value"]} value */
static void sample_u(struct gw_mbuf *b, const char *name, const char *lname,
		     const char *lvalue, const char *k2, const char *v2,
		     uint64_t v)
{
	gw_mbuf_printf(b, "%s{%s=\"", name, lname);
	gw_mbuf_escaped(b, lvalue);
	if (k2) {
		gw_mbuf_printf(b, "\",%s=\"", k2);
		gw_mbuf_escaped(b, v2);
	}
	gw_mbuf_printf(b, "\"} %" PRIu64 "\n", v);
}

/* ---- what the catalog says ---- */

struct mt_row {
	uint64_t id;
	char name[TENANT_NAME_MAX + 1];
	bool operators;
	struct tenant_limits lim;
	uint64_t provisioned, stored;
	uint32_t ndisks;
	unsigned sessions;
	const struct gw_mtenant *mt;
};

struct rows {
	struct mt_row *v;
	size_t n, cap;
};

static struct mt_row *rows_add(struct rows *r)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct mt_row *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	memset(&r->v[r->n], 0, sizeof(r->v[0]));
	return &r->v[r->n++];
}

static int add_tenant(const struct tenant_info *t, void *arg)
{
	struct mt_row *row = rows_add(arg);

	if (!row)
		return -ENOMEM;
	row->id = t->id;
	snprintf(row->name, sizeof(row->name), "%s", t->name);
	return 0;
}

static const struct gw_mtenant zero_tenant;

/* The tenants of the catalog (and the operators, if any connected),
 * with their usage and limits. */
static int load_rows(struct gw_server *srv, struct rows *r)
{
	struct gw_metrics *m = srv->metrics;
	struct mt_row *row;
	struct gw_load *l;
	int err;

	err = tenant_list(srv->cat, add_tenant, r);
	if (err < 0)
		return err;
	for (size_t i = 0; i < r->n; i++) {
		row = &r->v[i];
		tenant_get_limits(srv->cat, row->id, &row->lim);
		tenant_get_provisioned(srv->cat, row->id, &row->provisioned,
				       &row->ndisks);
		gw_ledger_stored(srv, row->id, &row->stored);
	}
	if (gw_mtenant_find(m, 0)) {
		row = rows_add(r);
		if (!row)
			return -ENOMEM;
		row->operators = true;
		snprintf(row->name, sizeof(row->name), "%s", GW_MOPERATORS);
	}
	for (size_t i = 0; i < r->n; i++) {
		row = &r->v[i];
		row->mt = gw_mtenant_find(m, row->id);
		if (!row->mt)
			row->mt = &zero_tenant;
		l = gw_load_find(srv, row->id);
		row->sessions = l ? l->conns : 0;
	}
	return 0;
}

static const struct mt_row *row_by_id(const struct rows *r, uint64_t id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].id == id && !r->v[i].operators)
			return &r->v[i];
	return NULL;
}

struct disk_list {
	struct gw_mdisk *v;
	size_t n, cap;
	uint64_t *ids;
};

static int add_disk(const struct tenant_disk *d, void *arg)
{
	struct disk_list *dl = arg;

	if (dl->n == dl->cap) {
		size_t cap = dl->cap ? dl->cap * 2 : 16;
		struct gw_mdisk *v = realloc(dl->v, cap * sizeof(*v));
		uint64_t *ids = realloc(dl->ids, cap * sizeof(*ids));

		if (v)
			dl->v = v;
		if (ids)
			dl->ids = ids;
		if (!v || !ids)
			return -ENOMEM;
		dl->cap = cap;
	}
	memset(&dl->v[dl->n], 0, sizeof(dl->v[0]));
	dl->v[dl->n].tenant_id = d->tenant_id;
	snprintf(dl->v[dl->n].vm, sizeof(dl->v[0].vm), "%s", d->vm);
	snprintf(dl->v[dl->n].name, sizeof(dl->v[0].name), "%s", d->name);
	dl->ids[dl->n++] = d->id;
	return 0;
}

static int count_rp(const struct tenant_rp *rp, void *arg)
{
	struct gw_mdisk *d = arg;

	d->count++;
	if (rp->created_ms > d->newest_ms)
		d->newest_ms = rp->created_ms;
	return 0;
}

/* Restore point counts and ages change only with the catalog (a cut, a
 * removal), so they are re-read only when its generation moved. */
static void refresh_disks(struct gw_server *srv)
{
	struct gw_metrics *m = srv->metrics;
	struct disk_list dl = {0};
	uint64_t gen;

	if (tenant_catalog_generation(srv->cat, &gen) < 0 ||
	    (m->disks_valid && gen == m->disks_gen))
		return;
	if (tenant_disk_list(srv->cat, 0, add_disk, &dl) < 0) {
		free(dl.v);
		free(dl.ids);
		return;
	}
	for (size_t i = 0; i < dl.n; i++)
		tenant_rp_list(srv->cat, dl.ids[i], count_rp, &dl.v[i]);
	free(m->disks);
	free(dl.ids);
	m->disks = dl.v;
	m->ndisks = dl.n;
	m->disks_gen = gen;
	m->disks_valid = true;
}

/* ---- /metrics ---- */

static void render_process(struct gw_server *srv, struct gw_mbuf *b)
{
	struct gw_metrics *m = srv->metrics;
	unsigned hs = 0, tx = 0, closing = 0;
	char why[64];

	family(b, "haven_build_info", "gauge", "havend's version (always 1).");
	gw_mbuf_printf(b, "haven_build_info{version=\"%s\"} 1\n",
		       HAVEN_VERSION);
	family(b, "haven_start_time_seconds", "gauge",
	       "When havend started, in unix seconds.");
	gw_mbuf_printf(b, "haven_start_time_seconds %" PRIu64 "\n",
		       m->started_s);
	family(b, "haven_ready", "gauge",
	       "1 when the catalog is open and every route is reachable "
	       "(/healthz answers 200).");
	gw_mbuf_printf(b, "haven_ready %d\n",
		       gw_metrics_ready(srv, why, sizeof(why)) ? 1 : 0);
	family(b, "haven_connections_accepted_total", "counter",
	       "NBD connections accepted.");
	gw_mbuf_printf(b, "haven_connections_accepted_total %" PRIu64 "\n",
		       m->accepted);
	for (const struct gw_conn *c = srv->conns; c; c = c->next) {
		if (c->phase == GW_PHASE_TRANSMIT)
			tx++;
		else if (c->phase == GW_PHASE_CLOSING)
			closing++;
		else
			hs++;
	}
	family(b, "haven_connections_open", "gauge",
	       "NBD connections open, by phase.");
	gw_mbuf_printf(b,
		       "haven_connections_open{phase=\"handshake\"} %u\n"
		       "haven_connections_open{phase=\"transmission\"} %u\n"
		       "haven_connections_open{phase=\"closing\"} %u\n",
		       hs, tx, closing);
	family(b, "haven_tls_handshakes_total", "counter",
	       "TLS handshakes with their client authentication, by result "
	       "and reason.");
	for (unsigned i = 0; i < GW_MTLS_COUNT; i++)
		gw_mbuf_printf(b,
			       "haven_tls_handshakes_total{result=\"%s\","
			       "reason=\"%s\"} %" PRIu64 "\n",
			       i == GW_MTLS_OK ? "ok" : "failed",
			       gw_metrics_tls_names[i], m->tls[i]);
}

static void per_tenant(struct gw_mbuf *b, const struct rows *r,
		       const char *name, const char *type, const char *help,
		       size_t off)
{
	family(b, name, type, help);
	for (size_t i = 0; i < r->n; i++)
		sample_u(b, name, "tenant", r->v[i].name, NULL, NULL,
			 *(const uint64_t *)(const void *)((const char *)r->v[i]
								   .mt +
							   off));
}

static void render_tenant_counters(struct gw_mbuf *b, const struct rows *r)
{
	per_tenant(b, r, "haven_tenant_written_bytes_total", "counter",
		   "Bytes of NBD_CMD_WRITE payload written and acknowledged.",
		   offsetof(struct gw_mtenant, written_bytes));
	per_tenant(b, r, "haven_tenant_read_bytes_total", "counter",
		   "Bytes returned by successful NBD_CMD_READ requests.",
		   offsetof(struct gw_mtenant, read_bytes));
	per_tenant(b, r, "haven_tenant_zeroed_bytes_total", "counter",
		   "Bytes zeroed or trimmed (NBD_CMD_WRITE_ZEROES, "
		   "NBD_CMD_TRIM).",
		   offsetof(struct gw_mtenant, zeroed_bytes));
	family(b, "haven_tenant_requests_total", "counter",
	       "NBD requests received, by command.");
	for (size_t i = 0; i < r->n; i++)
		for (unsigned k = 0; k < GW_MCMDS; k++)
			sample_u(b, "haven_tenant_requests_total", "tenant",
				 r->v[i].name, "command",
				 k < GW_MCMDS - 1 ? gw_nbd_cmd_name((uint16_t)k)
						  : "other",
				 r->v[i].mt->requests[k]);
	family(b, "haven_tenant_errors_total", "counter",
	       "NBD error replies sent, by error.");
	for (size_t i = 0; i < r->n; i++)
		for (unsigned k = 0; k < GW_MERRS; k++)
			sample_u(b, "haven_tenant_errors_total", "tenant",
				 r->v[i].name, "error",
				 k < GW_MERRS - 1
					 ? gw_nbd_err_name(gw_metrics_errs[k])
					 : "other",
				 r->v[i].mt->errors[k]);
	family(b, "haven_tenant_throttled_seconds_total", "counter",
	       "Seconds sessions waited for a bandwidth limit (the tenant's "
	       "or a disk's), summed over sessions.");
	for (size_t i = 0; i < r->n; i++) {
		gw_mbuf_printf(b, "haven_tenant_throttled_seconds_total{"
				  "tenant=\"");
		gw_mbuf_escaped(b, r->v[i].name);
		gw_mbuf_printf(b, "\"} %.6f\n",
			       (double)r->v[i].mt->throttled_ns / 1e9);
	}
	family(b, "haven_tenant_sessions", "gauge", "NBD sessions open.");
	for (size_t i = 0; i < r->n; i++)
		sample_u(b, "haven_tenant_sessions", "tenant", r->v[i].name,
			 NULL, NULL, r->v[i].sessions);
}

/* A usage gauge, and its limit as another family when set. */
static void usage_pair(struct gw_mbuf *b, const struct rows *r,
		       const char *name, const char *help, const char *lname,
		       const char *lhelp, int which)
{
	uint64_t use, lim;

	family(b, name, "gauge", help);
	for (size_t i = 0; i < r->n; i++) {
		const struct mt_row *w = &r->v[i];

		if (w->operators)
			continue;
		use = which == 0   ? w->provisioned
		      : which == 1 ? w->ndisks
				   : w->stored;
		sample_u(b, name, "tenant", w->name, NULL, NULL, use);
	}
	family(b, lname, "gauge", lhelp);
	for (size_t i = 0; i < r->n; i++) {
		const struct mt_row *w = &r->v[i];

		lim = which == 0   ? w->lim.max_provisioned
		      : which == 1 ? w->lim.max_disks
				   : w->lim.max_stored;
		if (!w->operators && lim)
			sample_u(b, lname, "tenant", w->name, NULL, NULL, lim);
	}
}

static void render_quotas(struct gw_mbuf *b, const struct rows *r)
{
	usage_pair(b, r, "haven_tenant_provisioned_bytes",
		   "Sum of the tenant's disk sizes.",
		   "haven_tenant_quota_provisioned_bytes",
		   "max-provisioned (absent: unlimited).", 0);
	usage_pair(b, r, "haven_tenant_disks", "Disks of the tenant.",
		   "haven_tenant_quota_disks", "max-disks (absent: unlimited).",
		   1);
	usage_pair(b, r, "haven_tenant_stored_bytes",
		   "Bytes stored: live extents, restore point history and "
		   "clones (the ledger max-stored applies to).",
		   "haven_tenant_quota_stored_bytes",
		   "max-stored (absent: unlimited).", 2);
	family(b, "haven_tenant_quota_sessions", "gauge",
	       "max-sessions (absent: unlimited).");
	for (size_t i = 0; i < r->n; i++)
		if (!r->v[i].operators && r->v[i].lim.max_sessions)
			sample_u(b, "haven_tenant_quota_sessions", "tenant",
				 r->v[i].name, NULL, NULL,
				 r->v[i].lim.max_sessions);
	family(b, "haven_tenant_quota_bandwidth_bytes_per_second", "gauge",
	       "The tenant's bandwidth limit (absent: unlimited).");
	for (size_t i = 0; i < r->n; i++)
		if (!r->v[i].operators && r->v[i].lim.bandwidth)
			sample_u(
				b,
				"haven_tenant_quota_bandwidth_bytes_per_second",
				"tenant", r->v[i].name, NULL, NULL,
				r->v[i].lim.bandwidth);
}

static void disk_labels(struct gw_mbuf *b, const char *name,
			const struct mt_row *t, const struct gw_mdisk *d)
{
	gw_mbuf_printf(b, "%s{tenant=\"", name);
	gw_mbuf_escaped(b, t->name);
	gw_mbuf_printf(b, "\",vm=\"");
	gw_mbuf_escaped(b, d->vm);
	gw_mbuf_printf(b, "\",disk=\"");
	gw_mbuf_escaped(b, d->name);
	gw_mbuf_printf(b, "\"}");
}

static void render_disks(struct gw_server *srv, struct gw_mbuf *b,
			 const struct rows *r)
{
	struct gw_metrics *m = srv->metrics;
	uint64_t now = gw_now_ms();
	const struct mt_row *t;

	refresh_disks(srv);
	family(b, "haven_disk_restore_points", "gauge",
	       "Restore points of the disk.");
	for (size_t i = 0; i < m->ndisks; i++) {
		t = row_by_id(r, m->disks[i].tenant_id);
		if (!t)
			continue;
		disk_labels(b, "haven_disk_restore_points", t, &m->disks[i]);
		gw_mbuf_printf(b, " %" PRIu64 "\n", m->disks[i].count);
	}
	family(b, "haven_disk_rpo_age_seconds", "gauge",
	       "Seconds since the disk's newest restore point (absent: it "
	       "has none).");
	for (size_t i = 0; i < m->ndisks; i++) {
		const struct gw_mdisk *d = &m->disks[i];

		t = row_by_id(r, d->tenant_id);
		if (!t || !d->newest_ms)
			continue;
		disk_labels(b, "haven_disk_rpo_age_seconds", t, d);
		gw_mbuf_printf(b, " %.3f\n",
			       now > d->newest_ms
				       ? (double)(now - d->newest_ms) / 1000.0
				       : 0.0);
	}
}

struct route_names {
	char (*v)[TENANT_NAME_MAX + 1];
	size_t n, cap;
};

static int add_route(const struct tenant_route *tr, void *arg)
{
	struct route_names *rn = arg;

	if (rn->n == rn->cap) {
		size_t cap = rn->cap ? rn->cap * 2 : 8;
		void *v = realloc(rn->v, cap * sizeof(*rn->v));

		if (!v)
			return -ENOMEM;
		rn->v = v;
		rn->cap = cap;
	}
	snprintf(rn->v[rn->n++], sizeof(rn->v[0]), "%s", tr->name);
	return 0;
}

static const struct gw_mroute zero_route;

static const struct gw_mroute *mroute_find(struct gw_metrics *m,
					   const char *name)
{
	for (const struct gw_mroute *r = m->routes; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r;
	return &zero_route;
}

static void route_hist(struct gw_mbuf *b, const char *route,
		       const struct gw_mroute *r, unsigned op)
{
	const char *n = "haven_route_op_duration_seconds";
	uint64_t cum = 0;

	for (unsigned k = 0; k < GW_MBUCKETS; k++) {
		cum += r->buckets[op][k];
		gw_mbuf_printf(b, "%s_bucket{route=\"", n);
		gw_mbuf_escaped(b, route);
		gw_mbuf_printf(b, "\",op=\"%s\",le=\"%g\"} %" PRIu64 "\n",
			       gw_metrics_ops[op], gw_metrics_buckets[k], cum);
	}
	gw_mbuf_printf(b, "%s_bucket{route=\"", n);
	gw_mbuf_escaped(b, route);
	gw_mbuf_printf(b, "\",op=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
		       gw_metrics_ops[op], r->count[op]);
	gw_mbuf_printf(b, "%s_sum{route=\"", n);
	gw_mbuf_escaped(b, route);
	gw_mbuf_printf(b, "\",op=\"%s\"} %.9f\n", gw_metrics_ops[op],
		       (double)r->sum_ns[op] / 1e9);
	gw_mbuf_printf(b, "%s_count{route=\"", n);
	gw_mbuf_escaped(b, route);
	gw_mbuf_printf(b, "\",op=\"%s\"} %" PRIu64 "\n", gw_metrics_ops[op],
		       r->count[op]);
}

static void render_routes(struct gw_server *srv, struct gw_mbuf *b)
{
	struct route_names rn = {0};

	if (tenant_route_list(srv->cat, add_route, &rn) < 0)
		rn.n = 0;
	family(b, "haven_route_up", "gauge",
	       "1 when havend has the route's store open.");
	for (size_t i = 0; i < rn.n; i++) {
		bool up = false;

		for (const struct gw_store *s = srv->stores; s; s = s->next)
			if (strcmp(s->route, rn.v[i]) == 0 && s->st)
				up = true;
		sample_u(b, "haven_route_up", "route", rn.v[i], NULL, NULL, up);
	}
	family(b, "haven_route_inflight_ops", "gauge",
	       "Requests of NBD sessions at the route's backend now.");
	for (size_t i = 0; i < rn.n; i++)
		sample_u(b, "haven_route_inflight_ops", "route", rn.v[i], NULL,
			 NULL, mroute_find(srv->metrics, rn.v[i])->inflight);
	family(b, "haven_route_op_duration_seconds", "histogram",
	       "Backend time of NBD session requests, by operation.");
	for (size_t i = 0; i < rn.n; i++)
		for (unsigned op = 0; op < GW_MOPS; op++)
			route_hist(b, rn.v[i],
				   mroute_find(srv->metrics, rn.v[i]), op);
	free(rn.v);
}

void gw_metrics_render_prom(struct gw_server *srv, struct gw_mbuf *b)
{
	struct rows r = {0};

	render_process(srv, b);
	if (load_rows(srv, &r) == 0) {
		render_tenant_counters(b, &r);
		render_quotas(b, &r);
		render_disks(srv, b, &r);
	} else {
		b->oom = true; /* a partial document would read as zeros */
	}
	render_routes(srv, b);
	free(r.v);
}

/* ---- /healthz ---- */

bool gw_metrics_ready(struct gw_server *srv, char *why, size_t len)
{
	struct route_names rn = {0};
	struct gw_store *s;
	uint64_t gen;
	bool ok = false;
	int r;

	if (srv->draining) {
		snprintf(why, len, "stopping");
		return false;
	}
	if (!srv->cat || tenant_catalog_generation(srv->cat, &gen) < 0) {
		snprintf(why, len, "catalog not readable");
		return false;
	}
	if (!srv->ready) {
		snprintf(why, len, "starting: routes being opened");
		return false;
	}
	if (tenant_route_list(srv->cat, add_route, &rn) < 0) {
		snprintf(why, len, "catalog not readable (routes)");
		goto out;
	}
	for (size_t i = 0; i < rn.n; i++) {
		/* Opens a route added since the start, as a client would. */
		r = gw_server_store(srv, rn.v[i], &s);
		if (r < 0) {
			snprintf(why, len, "route %s: %s", rn.v[i],
				 r == -EAGAIN ? "connecting" : strerror(-r));
			goto out;
		}
	}
	ok = true;
out:
	free(rn.v);
	return ok;
}
