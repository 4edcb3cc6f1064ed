/* The metrics endpoint: counters and the HTTP server that serves them.
 *
 * Threading.  Every counter lives on the libuv loop thread and is a plain
 * integer: the hooks are called where the loop already is (accept, the
 * handshake, request decode, backend submit and completion).  The HTTP
 * server is libmicrohttpd, but without a thread of its own: it runs in
 * "external event loop" mode with epoll (MHD_USE_EPOLL), and the loop
 * watches MHD's one epoll descriptor with a uv_poll_t and its timeouts
 * with a uv_timer_t, calling MHD_run() when either fires.  MHD_run()
 * never blocks (its sockets are non-blocking), and the access handler it
 * calls renders /metrics, /healthz and /status right there, on the loop
 * thread.  So no lock, no atomic and no snapshot is needed, every scrape
 * sees the counters of that instant (a test can compare them exactly),
 * and a loop that is stuck shows as a scrape that times out, which is
 * what a monitoring system should see.  The cost is that rendering runs
 * on the loop: it reads the catalog (tenants, limits, and restore points
 * only when the catalog changed since the last scrape), a few
 * milliseconds for thousands of disks, once per scrape interval.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "metrics.h"

#define CONN_LIMIT 16	/* HTTP connections at once: scrapers, havenctl */
#define CONN_TIMEOUT 10 /* seconds an idle HTTP connection may stay */
#define SAMPLE_MS 1000

const double gw_metrics_buckets[GW_MBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1,	0.25,  0.5,    1,     2.5,  5,	   10,
};
const char *const gw_metrics_ops[GW_MOPS] = {
	"read", "write", "zero", "trim", "flush", "block_status",
};
const char *const gw_metrics_tls_names[GW_MTLS_COUNT] = {
	"none",
	"no_client_certificate",
	"unknown_or_revoked_certificate",
	"tenant_suspended",
	"catalog_error",
	"timeout",
	"protocol_version",
	"no_shared_cipher",
	"certificate_verify_failed",
	"alert_received",
	"tls_error",
};
const uint32_t gw_metrics_errs[GW_MERRS - 1] = {
	NBD_EPERM,  NBD_EIO,	   NBD_ENOMEM,	NBD_EINVAL,
	NBD_ENOSPC, NBD_EOVERFLOW, NBD_ENOTSUP, NBD_ESHUTDOWN,
};

/* ---- counters ---- */

struct gw_mtenant *gw_mtenant_find(struct gw_metrics *m, uint64_t id)
{
	for (struct gw_mtenant *t = m->tenants[id % GW_MHASH]; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

struct gw_mtenant *gw_mtenant_get(struct gw_metrics *m, uint64_t id)
{
	struct gw_mtenant *t = gw_mtenant_find(m, id);

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->id = id;
	/* A first sample of zeros now, so rates count from the start. */
	t->rate_ms[0] = uv_now(m->srv->loop);
	t->rate_n = t->rate_pos = 1;
	t->next = m->tenants[id % GW_MHASH];
	m->tenants[id % GW_MHASH] = t;
	return t;
}

void gw_mtenant_rates(const struct gw_mtenant *t, uint64_t now_ms, double *in,
		      double *out)
{
	unsigned oldest;
	double dt;

	*in = *out = 0;
	if (t->rate_n == 0)
		return;
	/* From the oldest sample (up to GW_MRATE - 1 seconds back) to the
	 * counters of now. */
	oldest = (t->rate_pos + GW_MRATE - t->rate_n) % GW_MRATE;
	dt = (double)(now_ms - t->rate_ms[oldest]) / 1000.0;
	if (dt < 0.2)
		return;
	*in = (double)(t->written_bytes - t->rate_in[oldest]) / dt;
	*out = (double)(t->read_bytes - t->rate_out[oldest]) / dt;
}

/* Every second: a sample of each tenant's byte counters, so /status can
 * give rates over the last few seconds. */
static void sample(uv_timer_t *tm)
{
	struct gw_metrics *m = tm->data;
	uint64_t now = uv_now(tm->loop);

	for (unsigned i = 0; i < GW_MHASH; i++) {
		for (struct gw_mtenant *t = m->tenants[i]; t; t = t->next) {
			t->rate_ms[t->rate_pos] = now;
			t->rate_in[t->rate_pos] = t->written_bytes;
			t->rate_out[t->rate_pos] = t->read_bytes;
			t->rate_pos = (t->rate_pos + 1) % GW_MRATE;
			if (t->rate_n < GW_MRATE)
				t->rate_n++;
		}
	}
}

static struct gw_mtenant *conn_tenant(struct gw_conn *c)
{
	struct gw_metrics *m = c->srv->metrics;

	if (!m || !c->identified)
		return NULL;
	return gw_mtenant_get(
		m, c->ident.cred.operator_role ? 0 : c->ident.tenant.id);
}

static struct gw_mroute *route_get(struct gw_metrics *m, const char *name)
{
	struct gw_mroute *r;

	for (r = m->routes; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->next = m->routes;
	m->routes = r;
	return r;
}

static struct gw_mroute *request_route(struct gw_request *rq)
{
	const struct gw_disk *d = rq->conn->disk;
	struct gw_metrics *m = rq->conn->srv->metrics;

	if (!m || !d || !d->store)
		return NULL;
	return route_get(m, d->store->route);
}

void gw_metrics_accepted(struct gw_server *srv)
{
	if (srv->metrics)
		srv->metrics->accepted++;
}

void gw_metrics_tls(struct gw_server *srv, enum gw_metrics_tls why)
{
	if (srv->metrics && why < GW_MTLS_COUNT)
		srv->metrics->tls[why]++;
}

void gw_metrics_tls_failed(struct gw_server *srv)
{
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_REASON(e);
	enum gw_metrics_tls why = GW_MTLS_OTHER;

	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		why = GW_MTLS_OTHER;
	else if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
		 reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
		 reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
		why = GW_MTLS_PROTOCOL;
	else if (reason == SSL_R_NO_SHARED_CIPHER)
		why = GW_MTLS_CIPHER;
	else if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		why = GW_MTLS_VERIFY;
	else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		why = GW_MTLS_NO_CERT;
	else if (reason >= SSL_AD_REASON_OFFSET)
		why = GW_MTLS_ALERT;
	gw_metrics_tls(srv, why);
}

void gw_metrics_request(struct gw_conn *c, uint16_t cmd)
{
	struct gw_mtenant *t = conn_tenant(c);

	if (t)
		t->requests[cmd < GW_MCMDS - 1 ? cmd : GW_MCMDS - 1]++;
}

void gw_metrics_error(struct gw_conn *c, uint32_t nbd_err)
{
	struct gw_mtenant *t = conn_tenant(c);
	unsigned i;

	if (!t)
		return;
	for (i = 0; i < GW_MERRS - 1; i++)
		if (gw_metrics_errs[i] == nbd_err)
			break;
	t->errors[i]++;
}

void gw_metrics_submit(struct gw_request *rq)
{
	struct gw_mroute *r = request_route(rq);

	rq->submit_ns = uv_hrtime();
	if (r)
		r->inflight++;
}

void gw_metrics_done(struct gw_request *rq, int result)
{
	struct gw_mroute *r = request_route(rq);
	struct gw_mtenant *t = conn_tenant(rq->conn);
	unsigned op = (unsigned)rq->sreq.cmd, b;
	uint64_t ns = uv_hrtime() - rq->submit_ns;

	if (r && op < GW_MOPS) {
		if (r->inflight)
			r->inflight--;
		for (b = 0; b < GW_MBUCKETS; b++)
			if ((double)ns <= gw_metrics_buckets[b] * 1e9)
				break;
		if (b < GW_MBUCKETS)
			r->buckets[op][b]++;
		r->count[op]++;
		r->sum_ns[op] += ns;
	}
	if (!t || result < 0)
		return;
	if (rq->sreq.cmd == STORAGE_READ)
		t->read_bytes += rq->req.length;
	else if (rq->sreq.cmd == STORAGE_WRITE)
		t->written_bytes += rq->req.length;
	else if (rq->sreq.cmd == STORAGE_ZERO || rq->sreq.cmd == STORAGE_TRIM)
		t->zeroed_bytes += rq->req.length;
}

void gw_metrics_throttle(struct gw_conn *c, bool on)
{
	uint64_t now = uv_hrtime();
	struct gw_mtenant *t;

	if (on && !c->throttled)
		c->throttled_since = now;
	if (!on && c->throttled) {
		t = conn_tenant(c);
		if (t)
			t->throttled_ns += now - c->throttled_since;
	}
	c->throttled = on;
}

/* ---- HTTP ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[300];
	char q[320];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	gw_log(GW_LOG_WARN, "event=metrics_http_error error=%s",
	       gw_log_quote(q, sizeof(q), msg));
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *type, struct gw_mbuf *b)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	if (b->oom) {
		free(b->p);
		return MHD_NO; /* MHD closes the connection */
	}
	resp = MHD_create_response_from_buffer(b->len, b->p,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(b->p);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	static int seen;
	struct gw_metrics *m = cls;
	struct gw_mbuf b = {0};
	char why[256];
	unsigned status = MHD_HTTP_OK;
	const char *type = "text/plain; charset=utf-8";

	(void)version;
	(void)upload;
	/* The first call only announces the request (MHD's protocol); the
	 * answer comes at the second, once any body was seen. */
	if (!*state) {
		*state = &seen;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body on a GET: ignored */
		return MHD_YES;
	}
	if (m->magic != GW_METRICS_MAGIC)
		abort();
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		gw_mbuf_printf(&b, "only GET and HEAD\n");
	} else if (strcmp(url, "/metrics") == 0) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		gw_metrics_render_prom(m->srv, &b);
	} else if (strcmp(url, "/healthz") == 0) {
		if (gw_metrics_ready(m->srv, why, sizeof(why))) {
			gw_mbuf_printf(&b, "ok\n");
		} else {
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
			gw_mbuf_printf(&b, "not ready: %s\n", why);
		}
	} else if (strcmp(url, "/status") == 0) {
		type = "application/json";
		gw_metrics_render_status(m->srv, &b);
	} else {
		status = MHD_HTTP_NOT_FOUND;
		gw_mbuf_printf(&b, "not found; try /metrics, /healthz or "
				   "/status\n");
	}
	return reply(conn, status, type, &b);
}

static void on_timer(uv_timer_t *t);

static void arm(struct gw_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES)
		uv_timer_start(&m->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&m->timer);
}

static void on_timer(uv_timer_t *t)
{
	struct gw_metrics *m = t->data;

	MHD_run(m->mhd);
	arm(m);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct gw_metrics *m = p->data;

	(void)status;
	(void)events;
	MHD_run(m->mhd);
	arm(m);
}

/* ---- start and stop ---- */

static int sockaddr_of(const char *hostport, struct sockaddr_storage *ss,
		       bool *v6, bool *loopback)
{
	char host[128];
	int port;

	if (gw_parse_hostport(hostport, host, sizeof(host), &port) < 0)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	*v6 = strchr(host, ':') != NULL;
	if (*v6) {
		if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) < 0)
			return -EINVAL;
		*loopback = strcmp(host, "::1") == 0;
	} else {
		if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) < 0)
			return -EINVAL;
		*loopback = strncmp(host, "127.", 4) == 0;
	}
	return 0;
}

/* DIR/havend.metrics says where to find us (havenctl status); written
 * whole under a temporary name, then renamed. */
static void write_addr_file(struct gw_metrics *m)
{
	char tmp[1300];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", m->addr_file);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", m->addr) < 0 || fclose(f) != 0 ||
	    rename(tmp, m->addr_file) < 0)
		gw_log(GW_LOG_WARN, "event=metrics_addr_file_failed path=%s",
		       m->addr_file);
}

static int bind_failed(struct gw_server *srv, const char *why)
{
	if (!srv->cfg.metrics_set) {
		gw_log(GW_LOG_WARN,
		       "event=metrics_listen_failed addr=%s error=\"%s\" "
		       "action=running_without_metrics",
		       srv->cfg.metrics, why);
		return 0;
	}
	fprintf(stderr, "havend: cannot serve metrics on %s: %s\n",
		srv->cfg.metrics, why);
	return -EADDRNOTAVAIL;
}

static struct MHD_Daemon *mhd_start(struct gw_metrics *m,
				    const struct sockaddr_storage *ss, bool v6)
{
	return MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0), 0,
		NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		m, MHD_OPTION_SOCK_ADDR, ss, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)CONN_TIMEOUT, MHD_OPTION_END);
}

int gw_metrics_start(struct gw_server *srv, uv_loop_t *loop)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	struct gw_metrics *m;
	bool v6, loopback;
	char host[128];
	int port, fd;

	char stale[1200];

	snprintf(stale, sizeof(stale), "%s/%s", srv->cfg.dir,
		 GW_METRICS_ADDR_FILE);
	unlink(stale); /* from an earlier run */
	if (!srv->cfg.metrics[0])
		return 0;
	if (sockaddr_of(srv->cfg.metrics, &ss, &v6, &loopback) < 0)
		return bind_failed(srv, "not an IP address and port");
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->magic = GW_METRICS_MAGIC;
	m->srv = srv;
	m->mhd = mhd_start(m, &ss, v6);
	info = m->mhd ? MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD)
		      : NULL;
	if (!info) {
		if (m->mhd)
			MHD_stop_daemon(m->mhd);
		free(m);
		return bind_failed(srv, "address in use or not available");
	}
	fd = info->epoll_fd;
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	gw_parse_hostport(srv->cfg.metrics, host, sizeof(host), &port);
	snprintf(m->addr, sizeof(m->addr), v6 ? "[%s]:%u" : "%s:%u", host,
		 info ? (unsigned)info->port : (unsigned)port);
	snprintf(m->addr_file, sizeof(m->addr_file), "%s/%s", srv->cfg.dir,
		 GW_METRICS_ADDR_FILE);
	m->started_s = (uint64_t)time(NULL);
	uv_poll_init(loop, &m->poll, fd);
	uv_timer_init(loop, &m->timer);
	uv_timer_init(loop, &m->sample);
	m->poll.data = m->timer.data = m->sample.data = m;
	m->handles = 3;
	uv_poll_start(&m->poll, UV_READABLE, on_poll);
	uv_timer_start(&m->sample, sample, 0, SAMPLE_MS);
	srv->metrics = m;
	write_addr_file(m);
	gw_log(loopback ? GW_LOG_INFO : GW_LOG_WARN,
	       "event=metrics_listening addr=%s%s", m->addr,
	       loopback ? "" : " note=\"reachable off-host, no auth\"");
	return 0;
}

static void closed(uv_handle_t *h)
{
	struct gw_metrics *m = h->data;

	if (--m->handles > 0)
		return;
	for (unsigned i = 0; i < GW_MHASH; i++) {
		while (m->tenants[i]) {
			struct gw_mtenant *t = m->tenants[i];

			m->tenants[i] = t->next;
			free(t);
		}
	}
	while (m->routes) {
		struct gw_mroute *r = m->routes;

		m->routes = r->next;
		free(r);
	}
	free(m->disks);
	m->magic = 0;
	free(m);
}

void gw_metrics_stop(struct gw_server *srv)
{
	struct gw_metrics *m = srv->metrics;

	if (!m)
		return;
	srv->metrics = NULL;
	unlink(m->addr_file);
	/* libuv drops the descriptor from its own epoll set now, before MHD
	 * closes it. */
	uv_poll_stop(&m->poll);
	MHD_stop_daemon(m->mhd);
	uv_close((uv_handle_t *)&m->poll, closed);
	uv_close((uv_handle_t *)&m->timer, closed);
	uv_close((uv_handle_t *)&m->sample, closed);
}
