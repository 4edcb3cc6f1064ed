/* /status: what `havenctl status` shows.  Live sessions grouped by
 * tenant, each tenant with its rates over the last few seconds (from the
 * one-second samples of metrics.c), and the sessions themselves.  Unlike
 * /metrics this names connections: it is a view of now, not a time
 * series, so its size follows the sessions open. */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "conn.h"
#include "metrics.h"

static void str_field(struct gw_mbuf *b, const char *key, const char *v)
{
	gw_mbuf_printf(b, "\"%s\":\"", key);
	gw_mbuf_escaped(b, v);
	gw_mbuf_printf(b, "\"");
}

static void render_conn(struct gw_mbuf *b, const struct gw_conn *c,
			uint64_t now_ms)
{
	gw_mbuf_printf(b, "{\"conn\":%" PRIu64 ",", c->id);
	str_field(b, "site", c->ident.cred.site);
	gw_mbuf_printf(b, ",");
	str_field(b, "export", c->export_name);
	gw_mbuf_printf(b, ",");
	str_field(b, "peer", c->peer);
	gw_mbuf_printf(b,
		       ",\"seconds\":%.1f,\"requests\":%" PRIu64
		       ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
		       ",\"throttled\":%s,\"closing\":%s}",
		       now_ms > c->started_ms
			       ? (double)(now_ms - c->started_ms) / 1000.0
			       : 0.0,
		       c->requests, c->bytes_in, c->bytes_out,
		       c->throttled ? "true" : "false",
		       c->phase == GW_PHASE_CLOSING ? "true" : "false");
}

/* Disks the tenant's sessions have open, each counted once. */
static unsigned disks_in_use(const struct gw_server *srv,
			     const struct gw_load *l)
{
	unsigned n = 0;

	for (const struct gw_conn *c = srv->conns; c; c = c->next) {
		const struct gw_conn *o;

		if (c->load != l || !c->disk)
			continue;
		for (o = srv->conns; o != c; o = o->next)
			if (o->load == l && o->disk == c->disk)
				break;
		if (o == c)
			n++;
	}
	return n;
}

static void render_tenant(struct gw_server *srv, struct gw_mbuf *b,
			  const struct gw_load *l, uint64_t now_ms)
{
	const struct gw_mtenant *t =
		gw_mtenant_find(srv->metrics, l->tenant_id);
	const struct gw_conn *first = NULL;
	double in = 0, out = 0;
	bool comma = false;

	for (const struct gw_conn *c = srv->conns; c && !first; c = c->next)
		if (c->load == l)
			first = c;
	if (t)
		gw_mtenant_rates(t, uv_now(srv->loop), &in, &out);
	gw_mbuf_printf(b, "{");
	str_field(b, "tenant",
		  !first || l->tenant_id == 0 ? GW_MOPERATORS
					      : first->ident.tenant.name);
	gw_mbuf_printf(b,
		       ",\"sessions\":%u,\"disks_in_use\":%u,"
		       "\"in_bytes_per_second\":%.0f,"
		       "\"out_bytes_per_second\":%.0f,"
		       "\"written_bytes\":%" PRIu64 ",\"read_bytes\":%" PRIu64
		       ",\"throttled_seconds\":%.3f,\"connections\":[",
		       l->conns, disks_in_use(srv, l), in, out,
		       t ? t->written_bytes : 0, t ? t->read_bytes : 0,
		       t ? (double)t->throttled_ns / 1e9 : 0.0);
	for (const struct gw_conn *c = srv->conns; c; c = c->next) {
		if (c->load != l)
			continue;
		if (comma)
			gw_mbuf_printf(b, ",");
		comma = true;
		render_conn(b, c, now_ms);
	}
	gw_mbuf_printf(b, "]}");
}

void gw_metrics_render_status(struct gw_server *srv, struct gw_mbuf *b)
{
	uint64_t now_ms = uv_hrtime() / 1000000;
	unsigned open = 0;
	bool comma = false, ready;
	char why[256] = "";

	for (const struct gw_conn *c = srv->conns; c; c = c->next)
		open++;
	ready = gw_metrics_ready(srv, why, sizeof(why));
	gw_mbuf_printf(
		b, "{\"version\":\"%s\",\"time_ms\":%" PRIu64 ",\"ready\":%s,",
		HAVEN_VERSION, gw_now_ms(), ready ? "true" : "false");
	str_field(b, "not_ready_reason", ready ? "" : why);
	gw_mbuf_printf(b,
		       ",\"connections_open\":%u,"
		       "\"connections_accepted\":%" PRIu64 ",\"tenants\":[",
		       open, srv->metrics->accepted);
	for (const struct gw_load *l = srv->loads; l; l = l->next) {
		if (!l->conns)
			continue;
		if (comma)
			gw_mbuf_printf(b, ",");
		comma = true;
		render_tenant(srv, b, l, now_ms);
	}
	gw_mbuf_printf(b, "]}\n");
}
