/* Internal header of havend.  One libuv loop thread owns every structure
 * here; other threads only reach it through gw_queue_post(). */
#ifndef HAVEN_GW_H
#define HAVEN_GW_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "nbd.h"
#include "storage.h"
#include "tenant.h"

#define GW_SERVER_MAGIC 0x68617673u  /* "havs" */
#define GW_CONN_MAGIC 0x68617663u    /* "havc" */
#define GW_REQUEST_MAGIC 0x68617672u /* "havr" */

/* ---- log.c ---- */

enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };

void gw_log_set_level(enum gw_log_level level);
int gw_log_parse_level(const char *s, enum gw_log_level *out);
/* One logfmt line on stderr: "ts=... level=... " followed by fmt, which
 * holds more key=value pairs. */
void gw_log(enum gw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Wall-clock time in unix milliseconds (restore points, tests). */
uint64_t gw_now_ms(void);
/* Quotes a value for logfmt into buf (always NUL-terminated). */
const char *gw_log_quote(char *buf, size_t len, const char *s);

/* A token bucket (sched.c). */
struct gw_bucket {
	uint64_t rate; /* bytes per second; 0: unlimited */
	int64_t tokens;
	uint64_t last_ns;
};

/* ---- config.c ---- */

#define GW_LISTEN_MAX 8
#define GW_HOSTPORT_MAX 64

/* Every setting of haven.conf (see havend(8) and config.c's key table for
 * sections, bounds and defaults). */
struct gw_config {
	char dir[1024];
	/* [gateway] */
	char listen[GW_LISTEN_MAX][GW_HOSTPORT_MAX]; /* HOST:PORT each */
	unsigned nlisten;
	unsigned preferred_block;    /* advertised; 0: the extent size */
	unsigned retention_interval; /* seconds between retention passes */
	/* [tls] */
	int tls_min_version; /* TLS1_2_VERSION or TLS1_3_VERSION */
	char tls_ciphers[512];
	char tls_ciphersuites[256];
	unsigned handshake_timeout; /* seconds */
	/* [limits] */
	unsigned max_connections;
	unsigned max_sessions_per_tenant;
	unsigned conn_inflight_reqs; /* backpressure bounds per connection */
	uint64_t conn_inflight_bytes;
	unsigned tenant_inflight_reqs; /* ... per tenant */
	uint64_t tenant_inflight_bytes;
	unsigned total_inflight_reqs; /* ... for the gateway */
	uint64_t total_inflight_bytes;
	/* [ceph]: applied to each route's cluster handle when it opens */
	unsigned ceph_op_timeout;
	unsigned ceph_mon_op_timeout;
	unsigned ceph_mount_timeout;
	unsigned ceph_inflight_ops;
	uint64_t ceph_inflight_bytes;
	/* [restore_points] */
	unsigned checkpoint_interval; /* when tenant and disk set none */
	bool checkpoint_interval_set; /* by haven.conf, not the default */
	/* [metrics] */
	char metrics[GW_HOSTPORT_MAX]; /* HOST:PORT of /metrics; "": off */
	bool metrics_set; /* given by the admin (a bind failure is fatal) */
	/* [log] */
	enum gw_log_level log_level;
};

/* The built-in defaults, for data directory dir. */
void gw_config_defaults(struct gw_config *cfg, const char *dir);
/* Loads DIR/haven.conf over the defaults.  On error, writes one line to
 * err naming the file, line and key. */
int gw_config_load(struct gw_config *cfg, const char *dir, char *err,
		   size_t errlen);
/* Parses INI text over what cfg holds already (gw_config_load sets the
 * defaults first); name stands for the file in error messages, which
 * name it, the line and the key. */
int gw_config_parse_string(struct gw_config *cfg, const char *text,
			   const char *name, char *err, size_t errlen);
int gw_parse_hostport(const char *s, char *host, size_t hostlen, int *port);
/* Sets the metrics address: HOST:PORT, or "off".  -EINVAL otherwise. */
int gw_config_metrics(struct gw_config *cfg, const char *value);
/* Applies the command line's --listen and --log-level over cfg; on error,
 * one line in err. */
int gw_config_override(struct gw_config *cfg, const char *listen,
		       const char *level, char *err, size_t errlen);
/* Writes the whole configuration, every key with its value, as INI. */
void gw_config_print(const struct gw_config *cfg, FILE *f);
/* For a reload: calls fn for each key whose value differs between a and b
 * and that a running havend cannot change (it keeps a's value). */
void gw_config_restart_keys(
	const struct gw_config *a, const struct gw_config *b,
	void (*fn)(const char *section, const char *key, void *arg), void *arg);
/* Copies the keys a running havend cannot change from old into cfg. */
void gw_config_keep_restart_keys(struct gw_config *cfg,
				 const struct gw_config *old);

/* ---- rp-interval.c (linked by havend and havenctl) ---- */

/* Where a disk's restore point interval comes from, first match wins. */
enum gw_rp_interval_from {
	GW_RP_INTERVAL_DISK,	/* the disk's own --checkpoint */
	GW_RP_INTERVAL_TENANT,	/* the tenant's --checkpoint */
	GW_RP_INTERVAL_CONF,	/* [restore_points] checkpoint_interval */
	GW_RP_INTERVAL_DEFAULT, /* TENANT_CHECKPOINT_DEFAULT */
};

/* The restore point interval, in seconds, that havend under cfg uses for
 * disk td of tenant t (td NULL: a disk of t without its own interval);
 * where it comes from in *from unless from is NULL. */
uint32_t gw_rp_interval_of(const struct gw_config *cfg,
			   const struct tenant_info *t,
			   const struct tenant_disk *td,
			   enum gw_rp_interval_from *from);
/* "disk", "tenant", "haven.conf" or "default". */
const char *gw_rp_interval_from_name(enum gw_rp_interval_from from);

/* ---- loop.c: the completion queue ---- */

struct gw_queue {
	uv_mutex_t lock;
	struct storage_completion *head, *tail;
	uv_async_t async;
	void (*after)(void *arg); /* runs after each drain (flushes) */
	void *arg;
};

int gw_queue_init(struct gw_queue *q, uv_loop_t *loop, void (*after)(void *arg),
		  void *arg);
/* Thread-safe; the storage_env post function. */
void gw_queue_post(void *q, struct storage_completion *c);
void gw_queue_close(struct gw_queue *q);

/* ---- tls.c ---- */

/* Builds a server context from DIR/pki and the [tls] settings: protocol
 * floor, AEAD suites, client certificate required and verified against
 * the haven CA.  Connections keep the context they started with. */
int gw_tls_ctx_new(const char *pki_dir, const struct gw_config *cfg,
		   SSL_CTX **out);
/* 0 if the session's client certificate still verifies against the CA
 * of ctx (after a reload changed it), else -EPERM. */
int gw_tls_peer_verify(SSL_CTX *ctx, SSL *ssl);
/* Drains OpenSSL's error queue into one line. */
const char *gw_tls_error(char *buf, size_t len);

/* A connection's transport as OpenSSL sees it: received bytes in
 * buf[off..len), and a function that takes the records to send. */
struct gw_tls_io {
	uint8_t *buf;
	size_t off, len, cap;
	int (*out)(void *arg, const void *data, size_t len);
	void *arg;
	/* Set by tls.c when the client tries to renegotiate (TLS 1.2). */
	bool renegotiation;
};

int gw_tls_io_init(void);
void gw_tls_io_exit(void);
/* A BIO over io (used for both directions); io must outlive it. */
BIO *gw_tls_io_bio(struct gw_tls_io *io);

/* ---- exports.c: disks shared by the connections that opened them ---- */

struct gw_server;

struct gw_store;

struct gw_disk {
	struct gw_disk *next;
	uint64_t key_id; /* catalog disk id */
	uint64_t tenant_id;
	uint64_t snap; /* STORAGE_SNAP_HEAD for the live disk */
	unsigned refs;
	/* NULL while the open runs on a pool thread (opening) or after it
	 * failed (open_err): nothing may touch the disk layer then. */
	struct storage_disk *sd;
	bool opening;
	/* Set on the loop when havend stops: the pool thread opening the
	 * disk gives up (disk-open.c). */
	atomic_bool open_cancel;
	int open_err;	    /* the open failed: requests are refused */
	uint64_t failed_ms; /* when (loop time); reopened a while later */
	char open_why[160]; /* what its sessions are told */
	struct gw_store *store;
	char label[200]; /* tenant/vm/disk for logs */
	char ns[TENANT_NAME_MAX + 1];
	/* Live disks only: the write snap context and what cuts need. */
	uint64_t seq;
	uint64_t *snaps; /* newest first */
	unsigned nsnaps;
	uint64_t last_cut_ms;
	uint32_t interval_s;
	bool dirty;	     /* writes since the last restore point */
	unsigned writers;    /* open connections that wrote */
	unsigned cutting;    /* cuts and header writes under way */
	bool deferred;	     /* a session-end cut waits for a snap id */
	bool clone;	     /* a writable clone: no restore points */
	bool quota_alert;    /* writes refused: stored-bytes quota full */
	struct gw_bucket bw; /* the disk's own bandwidth limit */
};

struct gw_identity {
	struct tenant_cred cred;
	struct tenant_info tenant; /* unset for operators */
	char who[96];		   /* tenant name or "operator:<site>" */
};

uint32_t gw_exports_list(struct gw_server *srv, const struct gw_identity *id,
			 struct gw_hs *hs,
			 int (*emit)(struct gw_hs *hs, const char *name,
				     const char *desc));
/* Resolves an export name for an identity; with go, opens the disk and
 * returns it with a reference in *diskp.  Returns 0 or NBD_REP_ERR_*. */
uint32_t gw_exports_lookup(struct gw_server *srv, const struct gw_identity *id,
			   const char *name, bool go, struct gw_export *exp,
			   struct gw_disk **diskp, uint64_t *disk_id, char *msg,
			   size_t msglen);
void gw_disk_put(struct gw_server *srv, struct gw_disk *d);
/* True while an export name still means the disk a session has open
 * (false once it was removed, its VM failed over, its test stopped). */
bool gw_exports_same(struct gw_server *srv, const struct gw_identity *id,
		     const char *name, const struct gw_disk *d);
/* The shared live disk (opened if needed); holds a reference. */
int gw_disk_open_live(struct gw_server *srv, const struct tenant_info *t,
		      const struct tenant_disk *td, struct gw_disk **out);
void gw_exports_close_all(struct gw_server *srv);
/* NBD_SUCCESS when requests may run on the session's disk now; else the
 * NBD error and the reason (its open failed). */
uint32_t gw_disk_refusal(const struct gw_disk *d, const char **why);

/* ---- disk-open.c: opening a live disk after a crash, off the loop ---- */

/* Starts opening d (created with sd NULL) on a pool thread with the
 * parameters p (copied, with everything they point to); d->opening
 * until it finishes on the loop.  Its sessions wait meanwhile. */
int gw_disk_open_async(struct gw_server *srv, struct gw_disk *d,
		       const struct storage_disk_params *p);
/* Stopping: every open running gives up at its next batch and ends as
 * failed with -ECANCELED, having written nothing. */
void gw_disk_open_cancel_all(struct gw_server *srv);
/* Frees a disk no session holds any more (exports.c). */
void gw_disk_release(struct gw_server *srv, struct gw_disk *d);
/* Forgets the disks whose open failed long enough ago: the next session
 * tries again, and nothing accumulates (exports.c; the watch timer). */
void gw_exports_expire_failed(struct gw_server *srv);

/* ---- writer.c: catalog writes and blocking calls off the loop ---- */

/* A job runs work() on a libuv pool thread, then done() on the loop.
 * Jobs of one gw_chain run one at a time, in submission order, so catalog
 * writes commit in the order the loop decided them. */
struct gw_job {
	uv_work_t work;
	struct gw_job *next;
	struct gw_chain *chain;
	void (*fn)(struct gw_job *j);	/* pool thread */
	void (*done)(struct gw_job *j); /* loop thread; frees the job */
};

struct gw_chain {
	uv_loop_t *loop;
	struct gw_job *head, *tail;
	bool running;
};

void gw_chain_init(struct gw_chain *ch, uv_loop_t *loop);
void gw_chain_push(struct gw_chain *ch, struct gw_job *j);
bool gw_chain_idle(const struct gw_chain *ch);

/* ---- auth-audit.c: refused logins in the audit trail ---- */

#define GW_AUDIT_PEERS 64

struct gw_audit_peer {
	char addr[48]; /* without the port */
	unsigned logged, dropped;
};

/* What the current window (a minute) recorded and held back. */
struct gw_audit_limit {
	uint64_t window_start; /* loop time */
	unsigned logged;
	unsigned npeers;
	struct gw_audit_peer peers[GW_AUDIT_PEERS];
	uint64_t suppressed;
	unsigned pending; /* appends not done yet */
};

/* Records a refused login of peer ("HOST:PORT"): tenant may be NULL,
 * reason is a symbol, more holds key=value pairs (may be NULL).  Rate
 * limited; appended off the loop. */
void gw_audit_auth_fail(struct gw_server *srv, const char *peer,
			const char *tenant, const char *reason,
			const char *more);
/* A verified certificate that maps to no live credential (tenant NULL)
 * or to a suspended tenant: err is what identify() got (-ENOENT,
 * -EACCES, or a catalog error). */
void gw_audit_cert_refused(struct gw_server *srv, const char *peer, X509 *x,
			   const char *pin_hex, const char *tenant, int err);
/* A failed handshake: recorded if the client certificate was refused or
 * missing.  Call before gw_tls_error(). */
void gw_audit_tls_fail(struct gw_server *srv, const char *peer, SSL *ssl);
/* Closes the window when its minute is over (the catalog watch), or now
 * (stopping): one summary entry if failures were held back. */
void gw_audit_tick(struct gw_server *srv);
void gw_audit_flush(struct gw_server *srv);
/* Records a change havend made itself (actor "havend"), right after it;
 * pool threads only (a catalog write).  Failures are logged. */
void gw_audit_append_sync(struct gw_server *srv, const char *tenant,
			  const char *action, const char *detail);

/* ---- rp.c: restore points ---- */

/* The route's snap id pool, filled ahead of time off the loop. */
struct gw_store {
	struct gw_store *next;
	struct gw_server *srv;
	char route[TENANT_NAME_MAX + 1];
	struct storage_store *st; /* NULL until opened */
	bool opening;
	uint64_t tried_ms; /* last attempt (loop time) */
	int err;	   /* its result */
	uint64_t pool[32];
	unsigned npool;
	bool refilling;
	bool released; /* stale ids of an earlier run released */
};

/* Cuts one restore point of each disk at this instant (a consistency
 * group when n > 1).  -EAGAIN if the snap id pool is short (retry). */
int gw_rp_cut(struct gw_server *srv, struct gw_disk **disks, unsigned n,
	      uint32_t trigger, const char *name, const struct tenant_req *req);
/* The snap context of a disk from its restore points in the catalog
 * (newest first, malloc'ed) and the time of the newest one. */
int gw_rp_load_snapc(struct gw_server *srv, const struct tenant_disk *td,
		     uint64_t **snaps, unsigned *n, uint64_t *last_ms);
void gw_rp_run_remove(struct gw_server *srv, const struct tenant_req *req);
/* The restore point interval of a disk, in seconds (gw_rp_interval_of
 * under the running configuration). */
uint32_t gw_rp_interval(const struct gw_server *srv,
			const struct tenant_info *t,
			const struct tenant_disk *td);
void gw_rp_run_resize(struct gw_server *srv, const struct tenant_req *req);
/* Triggers, called by connections. */
void gw_rp_after_flush(struct gw_server *srv, struct gw_disk *d);
void gw_rp_session_end(struct gw_server *srv, struct gw_disk *d);
/* Runs havenctl's pending requests. */
void gw_rp_run_requests(struct gw_server *srv);
void gw_rp_pool_refill(struct gw_server *srv, struct gw_store *s);
/* A disk's header object text from the catalog (malloc'ed; NULL on
 * error).  Any thread. */
char *gw_header_text(struct tenant_catalog *cat, const struct tenant_disk *td,
		     const char *label, size_t *len);
/* Rewrites a live disk's header object from the catalog. */
void gw_rp_write_header(struct gw_server *srv, struct gw_disk *d);
bool gw_rp_idle(struct gw_server *srv);
/* Shared by rp.c and rp-req.c. */
void gw_rp_refresh_intervals(struct gw_server *srv);
const char *gw_rp_trigger_name(uint32_t trigger);
/* Frees a finished job and lets a stopping server finish. */
void gw_rp_job_free(struct gw_server *srv, void *job);
/* Answers a havenctl request (req->id 0: only logs). */
void gw_rp_req_finish(struct gw_server *srv, struct tenant_req *req, int err,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Requests are run once; one that must wait calls this to be run again at
 * the next tick. */
void gw_rp_req_retry(struct gw_server *srv, uint64_t id);

/* ---- dr.c: retention and failover tests ---- */

void gw_dr_run_test_stop(struct gw_server *srv, const struct tenant_req *req);
/* Applies every disk's retention policy once. */
void gw_dr_retention_pass(struct gw_server *srv);

/* ---- transmission.c: in-flight budgets ---- */

/* ---- sched.c: fair turns and bandwidth ---- */

void gw_bucket_set(struct gw_bucket *b, uint64_t rate);
/* Refills; true when the holder may start another request. */
bool gw_bucket_ok(struct gw_bucket *b);
void gw_bucket_take(struct gw_bucket *b, uint64_t n);

struct gw_request;

/* What is in flight for a tenant (all its connections) or the gateway,
 * and the tenant's queue for the backend. */
struct gw_load {
	struct gw_load *next;
	uint64_t tenant_id; /* 0: operators */
	unsigned conns;
	size_t bytes;
	unsigned ops;
	bool paused; /* server total: some connection waits for budget */
	uint32_t weight;
	struct gw_bucket bw;
	struct gw_request *qhead, *qtail;
	int64_t deficit;
	bool in_rr;
	struct gw_load *rr_next;
	uint64_t active_ms; /* loop time of its last request start or end */
	/* The stored-bytes ledger (ledger.c), when max_stored is set. */
	uint64_t max_stored;
	uint64_t stored_base; /* catalog part: history + closed disks */
	uint64_t open_sig;    /* which disks were open, left out of it */
	uint64_t reserved;    /* admitted mutations not yet submitted */
};

/* Requests at the backend at once, across tenants. */
#define GW_SCHED_MAX 64

int gw_sched_init(struct gw_server *srv);
void gw_sched_submit(struct gw_server *srv, struct gw_load *l,
		     struct gw_request *rq);
void gw_sched_done(struct gw_server *srv);
void gw_sched_forget(struct gw_server *srv, struct gw_load *l);
void gw_sched_throttled(struct gw_server *srv);
/* Re-reads the limits of every tenant with sessions and of open disks. */
void gw_sched_refresh(struct gw_server *srv);

/* The in-flight bounds per tenant and for the gateway are [limits] in
 * haven.conf; the gateway's stay below the [ceph] librados throttle that
 * rados.c sets, so that a submission never blocks the loop. */
/* While several tenants have requests in flight, the gateway's in-flight
 * work is shared among them by weight (sched.c, gw_fair_share): a tenant
 * at its share stops reading, however many connections it has. */
#define GW_FAIR_BYTES ((size_t)64 << 20)
#define GW_FAIR_OPS 256u
#define GW_FAIR_MIN_BYTES ((size_t)4 << 20)
#define GW_FAIR_MIN_OPS 16u
/* A tenant counts as active this long after its last request ended. */
#define GW_FAIR_IDLE_MS 200

/* The in-flight bounds of a tenant now: its fair share under contention,
 * else [limits] tenant_inflight_*. */
void gw_fair_share(struct gw_server *srv, const struct gw_load *l,
		   size_t *bytes, unsigned *ops);
/* A request of the tenant started or ended (keeps it active). */
void gw_fair_touch(struct gw_server *srv, struct gw_load *l);

struct gw_load *gw_load_get(struct gw_server *srv, uint64_t tenant_id);
struct gw_load *gw_load_find(struct gw_server *srv, uint64_t tenant_id);
void gw_load_put(struct gw_server *srv, struct gw_load *l);

/* ---- ledger.c: the stored-bytes quota ---- */

/* Re-reads the catalog part of a tenant's ledger (after any change). */
void gw_ledger_refresh(struct gw_server *srv, struct gw_load *l);
/* Any tenant's stored bytes now (with or without sessions or quota). */
int gw_ledger_stored(struct gw_server *srv, uint64_t tenant_id,
		     uint64_t *bytes);
/* The tenant's stored bytes now: catalog part + open disks + reserved
 * (the catalog part read again if the tenant's open disks changed). */
uint64_t gw_ledger_total(struct gw_server *srv, struct gw_load *l);
struct gw_conn;
/* Admits a WRITE, WRITE_ZEROES or TRIM of the connection's disk, or
 * refuses it (-ENOSPC, with the reason in why) when it would take the
 * tenant over its stored-bytes quota; *reserved is what the caller gives
 * back with gw_ledger_release() once the request was submitted. */
int gw_ledger_admit(struct gw_conn *c, enum storage_cmd cmd, unsigned flags,
		    uint64_t off, uint64_t len, uint64_t *reserved, char *why,
		    size_t whylen);
void gw_ledger_release(struct gw_load *l, uint64_t reserved);
/* Writes the live bytes of a disk that is closing (or of every open live
 * disk: d NULL) to the catalog, off the loop. */
void gw_ledger_persist(struct gw_server *srv, struct gw_disk *d);

/* ---- server.c ---- */

struct gw_conn;

struct gw_server {
	uint32_t magic;
	uv_loop_t *loop;
	struct gw_config cfg;
	struct tenant_catalog *cat;
	const char *opt_listen, *opt_log_level; /* command line overrides */
	SSL_CTX *ssl_ctx;			/* for new connections */
	struct gw_listener {
		uv_tcp_t tcp;
		struct gw_server *srv;
		bool waiting; /* a connection waits for ready */
	} listeners[GW_LISTEN_MAX];
	unsigned nlisteners;
	bool listening;
	unsigned nconns;
	struct gw_queue queue;
	struct storage_env env;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t watch; /* catalog generation, drain deadline */
	struct gw_bell {
		uv_poll_t poll;
		int fd;
		bool on; /* bound and polled */
		char path[108];
	} bell; /* bell.c: havenctl's "look now" */
	uv_timer_t retention;
	uint64_t generation;
	struct gw_conn *conns; /* doubly linked */
	struct gw_conn *dirty; /* connections with output to flush */
	struct gw_disk *disks;
	unsigned disks_opening; /* disk opens on pool threads */
	struct gw_store *stores;
	struct gw_chain catalog_chain; /* catalog writes, in order */
	struct gw_chain snap_chain;    /* snap id allocation and release */
	struct gw_chain route_chain;   /* opening Ceph connections */
	struct gw_audit_limit audit;   /* refused logins (auth-audit.c) */
	int lock_fd;		       /* flock on DIR/havend.lock */
	uint64_t busy[64];	       /* requests being run */
	unsigned nbusy;
	bool req_retry;			    /* a request waits for a snap id */
	struct gw_job *cut_head, *cut_tail; /* cuts waiting for a flush */
	struct gw_load load;		    /* the whole gateway */
	struct gw_load *loads;		    /* per tenant with sessions */
	struct gw_load *rr_head, *rr_tail;  /* tenants with queued requests */
	unsigned sched_inflight;
	uv_timer_t throttle;
	uv_timer_t ready_timer;
	bool ready; /* routes opened: accepting connections */
	uint64_t next_conn_id;
	bool draining;
	uint64_t drain_started;
	/* Fair shares (sched.c), recomputed once per loop iteration. */
	uint64_t fair_at;
	unsigned fair_tenants;
	uint64_t fair_weight;
	struct gw_metrics *metrics; /* metrics.c; NULL when off */
};

int gw_server_start(struct gw_server *srv, uv_loop_t *loop);
void gw_server_stop(struct gw_server *srv, const char *why);
/* The route's store.  Local stores open on first use; Ceph stores open
 * in the background: -EAGAIN while connecting, and the error of the last
 * attempt for a few seconds after a failure. */
int gw_server_store(struct gw_server *srv, const char *route,
		    struct gw_store **out);
void gw_server_open_routes(struct gw_server *srv);
void gw_server_check_ready(struct gw_server *srv);
void gw_server_close_stores(struct gw_server *srv);
void gw_server_maybe_done(struct gw_server *srv);
/* Flushes the output of every connection marked dirty. */
void gw_server_flush_dirty(struct gw_server *srv);
/* How often havend looks at the catalog without being told. */
#define GW_WATCH_INTERVAL_MS 250
/* One look at the catalog: havenctl's changes and requests (the watch
 * timer's work, run early by the doorbell). */
void gw_server_watch(struct gw_server *srv);

/* ---- bell.c: havenctl's doorbell, DIR/havend.bell ---- */

#define GW_BELL_FILE "havend.bell"
/* Datagrams read per wake-up, at most, before the watch runs once. */
#define GW_BELL_DRAIN 64
/* Binds and polls the socket; a failure is logged, and havend relies on
 * the watch timer alone. */
void gw_bell_open(struct gw_server *srv);
/* Removes the socket file and closes the handle (with the loop's other
 * handles at the end of the drain). */
void gw_bell_close(struct gw_server *srv);

/* ---- reload.c ---- */

/* SIGHUP: re-reads haven.conf and the certificates.  New connections get
 * the new TLS context; live sessions are rechecked, and closed only if
 * their identity is no longer valid.  A configuration or certificate
 * that does not load is refused and the running one stays. */
void gw_server_reload(struct gw_server *srv);

/* ---- conn.c ---- */

/* Accepts one connection waiting on a listener. */
void gw_conn_accept(struct gw_server *srv, uv_stream_t *listener);
void gw_conn_close(struct gw_conn *c, const char *why);
void gw_conn_flush(struct gw_conn *c);
void gw_conn_mark_dirty(struct gw_conn *c);
/* Re-checks a live connection against the catalog after a change. */
void gw_conn_recheck(struct gw_conn *c);
/* Lets the sessions of a disk read requests again (after a hold). */
void gw_conn_resume_disk(struct gw_server *srv, const struct gw_disk *d);
/* Stop taking requests; close once the in-flight ones are answered. */
void gw_conn_drain(struct gw_conn *c);

#endif
