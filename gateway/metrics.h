/* havend's metrics: counters kept on the loop thread, served over HTTP
 * (libmicrohttpd) as Prometheus text at /metrics, readiness at /healthz
 * and live sessions as JSON at /status (havenctl status).
 *
 * The rest of havend only calls the gw_metrics_* hooks below; each is a
 * few additions to loop-thread state and is a no-op when metrics are off.
 * Labels are bounded: tenant, VM and disk names, route names, NBD command
 * and error names; never connection ids. */
#ifndef HAVEN_GW_METRICS_H
#define HAVEN_GW_METRICS_H

#include "gw.h"

struct gw_conn;
struct gw_request;

/* The file in the data directory where havend writes the address its
 * metrics endpoint listens on (HOST:PORT), for havenctl status. */
#define GW_METRICS_ADDR_FILE "havend.metrics"

/* Binds the endpoint of srv->cfg.metrics (nothing when it is ""); call
 * before gw_server_start().  A bind failure is fatal (-errno, after one
 * line on stderr) when the address was configured, a warning otherwise.
 * On failure no handle is left in the loop. */
int gw_metrics_start(struct gw_server *srv, uv_loop_t *loop);
/* Closes the endpoint and its handles (from gw_server_maybe_done); the
 * state is freed in the last close callback. */
void gw_metrics_stop(struct gw_server *srv);

/* Why a TLS handshake ended (haven_tls_handshakes_total{reason}). */
enum gw_metrics_tls {
	GW_MTLS_OK,
	GW_MTLS_NO_CERT,      /* no client certificate */
	GW_MTLS_UNKNOWN_CERT, /* unknown or revoked certificate */
	GW_MTLS_SUSPENDED,    /* the tenant is suspended */
	GW_MTLS_CATALOG,      /* the catalog could not say */
	GW_MTLS_TIMEOUT,      /* handshake timeout */
	GW_MTLS_PROTOCOL,     /* no common protocol version */
	GW_MTLS_CIPHER,	      /* no shared cipher suite */
	GW_MTLS_VERIFY,	      /* certificate verification failed */
	GW_MTLS_ALERT,	      /* the client sent an alert */
	GW_MTLS_OTHER,
	GW_MTLS_COUNT
};

/* ---- hooks (loop thread) ---- */

void gw_metrics_accepted(struct gw_server *srv);
void gw_metrics_tls(struct gw_server *srv, enum gw_metrics_tls why);
/* A failed SSL_do_handshake: the reason is read from OpenSSL's error
 * queue, which is left as it is for the log line. */
void gw_metrics_tls_failed(struct gw_server *srv);
/* A request header was decoded (any command, refused ones too). */
void gw_metrics_request(struct gw_conn *c, uint16_t cmd);
/* An error reply with this NBD error was sent. */
void gw_metrics_error(struct gw_conn *c, uint32_t nbd_err);
/* A request goes to the backend, and came back with result. */
void gw_metrics_submit(struct gw_request *rq);
void gw_metrics_done(struct gw_request *rq, int result);
/* Sets c->throttled and accounts the time it was set. */
void gw_metrics_throttle(struct gw_conn *c, bool on);

/* ---- shared by metrics.c and metrics-text.c ---- */

#define GW_METRICS_MAGIC 0x6861766du /* "havm" */
#define GW_MCMDS 10    /* NBD_CMD_READ..NBD_CMD_RESIZE, then "other" */
#define GW_MERRS 9     /* the NBD errors haven sends, then "other" */
#define GW_MOPS 6      /* enum storage_cmd */
#define GW_MBUCKETS 14 /* finite latency buckets */
#define GW_MRATE 6     /* one-second samples behind the rates */
#define GW_MHASH 64    /* tenant hash buckets */
#define GW_MOPERATORS "(operators)" /* tenant label of operator sessions */

extern const double gw_metrics_buckets[GW_MBUCKETS]; /* upper bounds, s */
extern const char *const gw_metrics_ops[GW_MOPS];
extern const char *const gw_metrics_tls_names[GW_MTLS_COUNT];
/* NBD_EPERM... by index, then "other". */
extern const uint32_t gw_metrics_errs[GW_MERRS - 1];

/* Counters of one tenant (id 0: all operators), kept for the life of the
 * process. */
struct gw_mtenant {
	struct gw_mtenant *next;
	uint64_t id;
	uint64_t read_bytes, written_bytes, zeroed_bytes;
	uint64_t requests[GW_MCMDS];
	uint64_t errors[GW_MERRS];
	uint64_t throttled_ns;
	/* Samples of written and read bytes, for /status rates. */
	uint64_t rate_ms[GW_MRATE], rate_in[GW_MRATE], rate_out[GW_MRATE];
	unsigned rate_n, rate_pos;
};

struct gw_mroute {
	struct gw_mroute *next;
	char name[TENANT_NAME_MAX + 1];
	unsigned inflight;
	uint64_t buckets[GW_MOPS][GW_MBUCKETS]; /* not cumulative */
	uint64_t count[GW_MOPS];
	uint64_t sum_ns[GW_MOPS];
};

/* What the catalog says of a disk's restore points. */
struct gw_mdisk {
	uint64_t tenant_id;
	char vm[TENANT_NAME_MAX + 1];
	char name[TENANT_NAME_MAX + 1];
	uint64_t count;
	uint64_t newest_ms; /* 0: none */
};

struct gw_metrics {
	uint32_t magic;
	struct gw_server *srv;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;	   /* MHD's epoll fd */
	uv_timer_t timer;  /* MHD's timeouts */
	uv_timer_t sample; /* rates, every second */
	unsigned handles;  /* open uv handles; freed at 0 */
	char addr[160];	   /* bound, HOST:PORT */
	char addr_file[1200];
	uint64_t started_s;
	struct gw_mtenant *tenants[GW_MHASH];
	struct gw_mroute *routes;
	uint64_t tls[GW_MTLS_COUNT];
	uint64_t accepted;
	/* Restore point facts, re-read when the catalog generation moved. */
	struct gw_mdisk *disks;
	size_t ndisks;
	uint64_t disks_gen;
	bool disks_valid;
};

/* A tenant's counters, created on first use (NULL if out of memory). */
struct gw_mtenant *gw_mtenant_get(struct gw_metrics *m, uint64_t id);
struct gw_mtenant *gw_mtenant_find(struct gw_metrics *m, uint64_t id);
/* Bytes per second written (in) and read (out) over the last few
 * seconds (now_ms: uv_now()). */
void gw_mtenant_rates(const struct gw_mtenant *t, uint64_t now_ms, double *in,
		      double *out);

/* ---- metrics-text.c: the documents (loop thread) ---- */

/* A growing text buffer; a failed allocation sets oom and stops it. */
struct gw_mbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void gw_mbuf_printf(struct gw_mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s escaped for a Prometheus label value or a JSON string. */
void gw_mbuf_escaped(struct gw_mbuf *b, const char *s);

/* The /metrics document; whether havend is ready (catalog open, every
 * route reachable), with the reason when not. */
void gw_metrics_render_prom(struct gw_server *srv, struct gw_mbuf *b);
bool gw_metrics_ready(struct gw_server *srv, char *why, size_t len);

/* ---- metrics-status.c ---- */

/* The /status JSON: live sessions per tenant with rates. */
void gw_metrics_render_status(struct gw_server *srv, struct gw_mbuf *b);

#endif
