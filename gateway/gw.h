/* Internal header of havend.  One libuv loop thread owns every structure
 * here; other threads only reach it through gw_queue_post(). */
#ifndef HAVEN_GW_H
#define HAVEN_GW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "nbd.h"
#include "storage.h"
#include "tenant.h"

#define GW_SERVER_MAGIC 0x68617673u /* "havs" */
#define GW_CONN_MAGIC 0x68617663u   /* "havc" */
#define GW_REQUEST_MAGIC 0x68617672u /* "havr" */

/* ---- log.c ---- */

enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };

void gw_log_set_level(enum gw_log_level level);
int gw_log_parse_level(const char *s, enum gw_log_level *out);
/* One logfmt line on stderr: "ts=... level=... " followed by fmt, which
 * holds more key=value pairs. */
void gw_log(enum gw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Quotes a value for logfmt into buf (always NUL-terminated). */
const char *gw_log_quote(char *buf, size_t len, const char *s);

/* ---- config.c ---- */

struct gw_config {
	char dir[1024];
	char listen[128];       /* HOST:PORT */
	unsigned handshake_timeout; /* seconds */
	enum gw_log_level log_level;
	size_t conn_inflight_bytes; /* backpressure bound per connection */
	unsigned conn_inflight_reqs;
};

/* Loads DIR/haven.conf over the defaults.  On error, writes one line to
 * err naming the file, line and key. */
int gw_config_load(struct gw_config *cfg, const char *dir, char *err,
		   size_t errlen);
int gw_parse_hostport(const char *s, char *host, size_t hostlen,
		      int *port);

/* ---- loop.c: the completion queue ---- */

struct gw_queue {
	uv_mutex_t lock;
	struct storage_completion *head, *tail;
	uv_async_t async;
	void (*after)(void *arg); /* runs after each drain (flushes) */
	void *arg;
};

int gw_queue_init(struct gw_queue *q, uv_loop_t *loop,
		  void (*after)(void *arg), void *arg);
/* Thread-safe; the storage_env post function. */
void gw_queue_post(void *q, struct storage_completion *c);
void gw_queue_close(struct gw_queue *q);

/* ---- tls.c ---- */

/* Builds the server context from DIR/pki: TLS 1.2 floor, AEAD suites,
 * client certificate required and verified against the haven CA. */
int gw_tls_ctx_new(const char *pki_dir, SSL_CTX **out);
/* Drains OpenSSL's error queue into one line. */
const char *gw_tls_error(char *buf, size_t len);

/* ---- exports.c: disks shared by the connections that opened them ---- */

struct gw_server;

struct gw_disk {
	struct gw_disk *next;
	uint64_t key_id;   /* catalog disk id */
	uint64_t snap;     /* STORAGE_SNAP_HEAD for the live disk */
	unsigned refs;
	struct storage_disk *sd;
	char label[200];   /* tenant/vm/disk for logs */
};

struct gw_identity {
	struct tenant_cred cred;
	struct tenant_info tenant; /* unset for operators */
	char who[96];              /* tenant name or "operator:<site>" */
};

uint32_t gw_exports_list(struct gw_server *srv, const struct gw_identity *id,
			 struct gw_hs *hs,
			 int (*emit)(struct gw_hs *hs, const char *name,
				     const char *desc));
/* Resolves an export name for an identity; with go, opens the disk and
 * returns it with a reference in *diskp.  Returns 0 or NBD_REP_ERR_*. */
uint32_t gw_exports_lookup(struct gw_server *srv, const struct gw_identity *id,
			   const char *name, bool go, struct gw_export *exp,
			   struct gw_disk **diskp, uint64_t *disk_id,
			   char *msg, size_t msglen);
void gw_disk_put(struct gw_server *srv, struct gw_disk *d);
void gw_exports_close_all(struct gw_server *srv);

/* ---- server.c ---- */

struct gw_conn;

struct gw_server {
	uint32_t magic;
	uv_loop_t *loop;
	struct gw_config cfg;
	struct tenant_catalog *cat;
	SSL_CTX *ssl_ctx;
	uv_tcp_t listener;
	bool listening;
	struct gw_queue queue;
	struct storage_env env;
	uv_signal_t sigterm, sigint;
	uv_timer_t watch; /* catalog generation, drain deadline */
	uint64_t generation;
	struct gw_conn *conns;  /* doubly linked */
	struct gw_conn *dirty;  /* connections with output to flush */
	struct gw_disk *disks;
	struct gw_store *stores;
	uint64_t next_conn_id;
	bool draining;
	uint64_t drain_started;
	char readbuf[256 * 1024]; /* shared: reads are consumed at once */
};

int gw_server_start(struct gw_server *srv, uv_loop_t *loop);
void gw_server_stop(struct gw_server *srv, const char *why);
/* The route's store, opened on first use. */
int gw_server_store(struct gw_server *srv, const char *route,
		    struct storage_store **out);
void gw_server_close_stores(struct gw_server *srv);
void gw_server_maybe_done(struct gw_server *srv);
/* Flushes the output of every connection marked dirty. */
void gw_server_flush_dirty(struct gw_server *srv);

/* ---- conn.c ---- */

void gw_conn_accept(struct gw_server *srv);
void gw_conn_close(struct gw_conn *c, const char *why);
void gw_conn_flush(struct gw_conn *c);
void gw_conn_mark_dirty(struct gw_conn *c);
/* Re-checks a live connection against the catalog after a change. */
void gw_conn_recheck(struct gw_conn *c);
/* Stop taking requests; close once the in-flight ones are answered. */
void gw_conn_drain(struct gw_conn *c);

#endif
