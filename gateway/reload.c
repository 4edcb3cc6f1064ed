/* SIGHUP: re-read haven.conf and the certificates while serving.
 *
 * Two phases, as in hitch: everything new is built first (the
 * configuration, then a TLS context from it and DIR/pki), and only if all
 * of it loads is it swapped in; a failure leaves the running gateway
 * exactly as it was, with one log line saying why.  Connections keep the
 * SSL context they started with (OpenSSL counts its references), so the
 * swap only affects new connections.  Keys a running gateway cannot
 * change (listen addresses, the Ceph client settings of routes already
 * connected) are logged as needing a restart and keep their running
 * values.  Live sessions are then rechecked: a session whose certificate
 * was revoked, whose tenant was suspended, or whose certificate no longer
 * verifies against the reloaded CA is closed; every other one goes on. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"

static void needs_restart(const char *section, const char *key, void *arg)
{
	(void)arg;
	gw_log(GW_LOG_WARN,
	       "event=reload_needs_restart key=%s.%s action=kept_running_value",
	       section, key);
}

/* The keys that need a restart keep their running values; the
 * gateway's in-flight totals must then still stay below the running
 * librados throttle. */
static int check_kept(const struct gw_config *cfg, char *err, size_t errlen)
{
	if (cfg->total_inflight_reqs >= cfg->ceph_inflight_ops ||
	    cfg->total_inflight_bytes >= cfg->ceph_inflight_bytes) {
		snprintf(err, errlen,
			 "[limits] total_inflight_requests/bytes must stay "
			 "below the running [ceph] objecter_inflight_ops/"
			 "op_bytes (%u/%" PRIu64 ") until a restart",
			 cfg->ceph_inflight_ops, cfg->ceph_inflight_bytes);
		return -EINVAL;
	}
	return 0;
}

static void refused(const char *why)
{
	char q[600];

	gw_log(GW_LOG_ERROR,
	       "event=reload_refused error=%s action=kept_running_config",
	       gw_log_quote(q, sizeof(q), why));
}

void gw_server_reload(struct gw_server *srv)
{
	static struct gw_config cfg; /* large; loop thread only */
	char err[1400], pki[1200];
	SSL_CTX *ctx = NULL;
	unsigned old_retention = srv->cfg.retention_interval;

	gw_log(GW_LOG_INFO, "event=reload reason=SIGHUP");
	if (gw_config_load(&cfg, srv->cfg.dir, err, sizeof(err)) < 0 ||
	    gw_config_override(&cfg, srv->opt_listen, srv->opt_log_level, err,
			       sizeof(err)) < 0) {
		refused(err);
		return;
	}
	gw_config_restart_keys(&srv->cfg, &cfg, needs_restart, NULL);
	gw_config_keep_restart_keys(&cfg, &srv->cfg);
	if (check_kept(&cfg, err, sizeof(err)) < 0) {
		refused(err);
		return;
	}
	snprintf(pki, sizeof(pki), "%s/pki", srv->cfg.dir);
	if (gw_tls_ctx_new(pki, &cfg, &ctx) < 0) {
		snprintf(err, sizeof(err),
			 "cannot load the TLS keys and certificates in %s",
			 pki);
		refused(err);
		return;
	}

	/* Everything loaded: switch over. */
	SSL_CTX_free(srv->ssl_ctx);
	srv->ssl_ctx = ctx;
	srv->cfg = cfg;
	if (cfg.retention_interval != old_retention) {
		uv_timer_set_repeat(&srv->retention,
				    (uint64_t)cfg.retention_interval * 1000);
		uv_timer_again(&srv->retention);
	}
	gw_rp_refresh_intervals(srv);
	gw_sched_refresh(srv);
	for (struct gw_conn *c = srv->conns, *n; c; c = n) {
		n = c->next;
		gw_conn_recheck(c);
	}
	gw_server_flush_dirty(srv);
	/* Logged under the old level, so that the line shows whatever the
	 * new one is. */
	gw_log(GW_LOG_INFO,
	       "event=reloaded log_level=%s min_protocol=%s "
	       "max_connections=%u handshake_timeout=%u",
	       cfg.log_level == GW_LOG_DEBUG  ? "debug"
	       : cfg.log_level == GW_LOG_INFO ? "info"
	       : cfg.log_level == GW_LOG_WARN ? "warn"
					      : "error",
	       cfg.tls_min_version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2",
	       cfg.max_connections, cfg.handshake_timeout);
	gw_log_set_level(cfg.log_level);
}
