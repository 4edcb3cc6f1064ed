/* A client connection: the socket, TLS through the connection BIO, the
 * option phase and the life cycle.  Requests are in transmission.c.
 *
 * Bytes flow socket -> input buffer -> SSL_read (through the connection
 * BIO of tls.c) -> protocol machines, and protocol replies -> out buffer
 * -> SSL_write -> next socket write -> uv_write (conn-out.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "conn.h"
#include "metrics.h"

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

#define IN_CAP (256u * 1024)

static const char *tenant_of(const struct gw_conn *c)
{
	return c->identified ? c->ident.who : "-";
}

ssize_t gw_conn_read_plain(struct gw_conn *c, void *buf, size_t len)
{
	int n, e;

	if (c->left_len > 0) {
		size_t k = len < c->left_len ? len : c->left_len;

		memcpy(buf, c->left + c->left_off, k);
		c->left_off += k;
		c->left_len -= k;
		return (ssize_t)k;
	}
	n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (c->io.renegotiation)
		return -EPERM;
	if (n > 0) {
		c->bytes_in += (size_t)n;
		return n;
	}
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
		return -ECONNRESET;
	return -EPROTO;
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct gw_conn *c = h->data;
	struct gw_tls_io *io = &c->io;

	(void)hint;
	/* The buffer exists only while bytes are waiting, so an idle
	 * connection holds none. */
	if (!io->buf) {
		io->buf = malloc(IN_CAP);
		io->cap = io->buf ? IN_CAP : 0;
		io->off = io->len = 0;
	} else if (io->off > 0) {
		memmove(io->buf, io->buf + io->off, io->len - io->off);
		io->len -= io->off;
		io->off = 0;
	}
	*b = uv_buf_init((char *)io->buf + io->len,
			 (unsigned)(io->cap - io->len));
}

/* Frees the input buffer once everything in it was consumed. */
static void in_release(struct gw_conn *c)
{
	if (c->io.buf && c->io.off == c->io.len) {
		free(c->io.buf);
		c->io.buf = NULL;
		c->io.off = c->io.len = c->io.cap = 0;
	}
}

static void identify(struct gw_conn *c);
static void options_under_tls(struct gw_conn *c);
static void start_tls(struct gw_conn *c, const uint8_t *rest, size_t len);

static void enter_transmission(struct gw_conn *c)
{
	const struct gw_export *e = gw_hs_export(c->hs);
	char q[NBD_MAX_STRING + 8];

	c->exp = *e;
	c->structured = gw_hs_structured(c->hs);
	c->base_alloc = gw_hs_base_allocation(c->hs, &c->meta_id);
	snprintf(c->export_name, sizeof(c->export_name), "%s",
		 gw_hs_export_name(c->hs));
	gw_hs_free(c->hs);
	c->hs = NULL;
	uv_timer_stop(&c->timer);
	c->phase = GW_PHASE_TRANSMIT;
	c->started_ms = now_ms();
	/* Operators share one budget (tenant 0). */
	c->load = gw_load_get(
		c->srv, c->ident.cred.operator_role ? 0 : c->ident.tenant.id);
	gw_log(GW_LOG_INFO,
	       "event=session_start conn=%" PRIu64 " tenant=%s site=%s "
	       "export=%s size=%" PRIu64 " read_only=%d structured=%d",
	       c->id, tenant_of(c), c->ident.cred.site,
	       gw_log_quote(q, sizeof(q), c->export_name), c->exp.size,
	       c->exp.read_only, c->structured);
	gw_tx_pump(c);
	gw_conn_update_reading(c);
}

static void handle_hs_event(struct gw_conn *c, enum gw_hs_event ev,
			    const uint8_t *rest, size_t len)
{
	switch (ev) {
	case GW_HS_MORE:
		break;
	case GW_HS_STARTTLS:
		start_tls(c, rest, len);
		break;
	case GW_HS_READY:
		if (len > 0) {
			c->left = malloc(len);
			if (!c->left) {
				gw_conn_close(c, "out of memory");
				return;
			}
			memcpy(c->left, rest, len);
			c->left_off = 0;
			c->left_len = len;
		}
		enter_transmission(c);
		break;
	case GW_HS_CLOSE:
		gw_conn_close(c, gw_hs_reason(c->hs));
		break;
	}
}

static void feed_plain(struct gw_conn *c)
{
	struct gw_tls_io *io = &c->io;
	size_t used = 0;
	enum gw_hs_event ev;

	ev = gw_hs_feed(c->hs, io->buf + io->off, io->len - io->off, &used);
	io->off += used;
	/* After STARTTLS the rest stays in the buffer: OpenSSL reads it as
	 * TLS records, never as options. */
	handle_hs_event(c, ev, NULL, 0);
}

static void start_tls(struct gw_conn *c, const uint8_t *rest, size_t len)
{
	BIO *bio;

	(void)rest;
	(void)len;
	/* The ACK goes out in plaintext before anything TLS. */
	if (gw_conn_flush_out(c) < 0) {
		gw_conn_close(c, "cannot send");
		return;
	}
	c->ssl = SSL_new(c->srv->ssl_ctx);
	bio = c->ssl ? gw_tls_io_bio(&c->io) : NULL;
	if (!bio) {
		gw_conn_close(c, "out of memory for TLS");
		return;
	}
	SSL_set_bio(c->ssl, bio, bio); /* one reference, both ways */
	SSL_set_accept_state(c->ssl);
	c->phase = GW_PHASE_TLS_HS;
	/* Bytes the client pipelined after STARTTLS are still in the input
	 * buffer: they are TLS records (or an attack) for OpenSSL. */
	if (c->io.len > c->io.off)
		options_under_tls(c);
}

static void tls_handshake(struct gw_conn *c)
{
	char err[256];
	int r = SSL_do_handshake(c->ssl);

	if (r == 1) {
		identify(c);
		return;
	}
	if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) {
		gw_conn_mark_dirty(c);
		return;
	}
	gw_audit_tls_fail(c->srv, c->peer, c->ssl);
	gw_conn_wp_send(c); /* deliver the alert */
	gw_metrics_tls_failed(c->srv);
	gw_tls_error(err, sizeof(err));
	gw_log(GW_LOG_WARN,
	       "event=tls_handshake_failed conn=%" PRIu64
	       " peer=%s error=\"%s\"",
	       c->id, c->peer, err);
	gw_conn_close(c, "TLS handshake failed");
}

static void identify(struct gw_conn *c)
{
	X509 *x = SSL_get0_peer_certificate(c->ssl);
	char hex[2 * TENANT_PIN_LEN + 1] = "-";
	struct tenant_cred cred;
	int r;

	if (!x || tenant_spki_pin(x, cred.pin) < 0) {
		gw_metrics_tls(c->srv, GW_MTLS_NO_CERT);
		gw_conn_close(c, "no client certificate");
		return;
	}
	tenant_pin_hex(cred.pin, hex);
	r = tenant_cred_lookup(c->srv->cat, cred.pin, &c->ident.cred);
	if (r == 0 && !c->ident.cred.operator_role) {
		r = tenant_get(c->srv->cat, c->ident.cred.tenant_id,
			       &c->ident.tenant);
		if (r == 0 && c->ident.tenant.state != TENANT_ACTIVE)
			r = -EACCES;
	}
	if (r < 0) {
		gw_log(GW_LOG_WARN,
		       "event=auth_failed conn=%" PRIu64 " peer=%s pin=%s "
		       "reason=%s",
		       c->id, c->peer, hex,
		       r == -ENOENT   ? "unknown_or_revoked_certificate"
		       : r == -EACCES ? "tenant_suspended"
				      : "catalog_error");
		gw_metrics_tls(c->srv, r == -ENOENT   ? GW_MTLS_UNKNOWN_CERT
				       : r == -EACCES ? GW_MTLS_SUSPENDED
						      : GW_MTLS_CATALOG);
		gw_conn_wp_send(c);
		gw_audit_cert_refused(
			c->srv, c->peer, x, hex,
			r == -EACCES ? c->ident.tenant.name : NULL, r);
		gw_conn_close(c, "client certificate not authorised");
		return;
	}
	if (c->ident.cred.operator_role)
		snprintf(c->ident.who, sizeof(c->ident.who), "operator:%s",
			 c->ident.cred.site);
	else
		snprintf(c->ident.who, sizeof(c->ident.who), "%s",
			 c->ident.tenant.name);
	c->identified = true;
	c->phase = GW_PHASE_OPTIONS;
	gw_metrics_tls(c->srv, GW_MTLS_OK);
	gw_hs_tls_up(c->hs);
	gw_log(GW_LOG_INFO,
	       "event=tls_established conn=%" PRIu64 " peer=%s tenant=%s "
	       "site=%s version=%s cipher=%s",
	       c->id, c->peer, c->ident.who, c->ident.cred.site,
	       SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	gw_conn_mark_dirty(c);
}

static void options_under_tls(struct gw_conn *c)
{
	uint8_t buf[16384];

	if (c->phase == GW_PHASE_TLS_HS)
		tls_handshake(c);
	while (c->phase == GW_PHASE_OPTIONS) {
		ssize_t n = gw_conn_read_plain(c, buf, sizeof(buf));
		size_t used = 0;
		enum gw_hs_event ev;

		if (n == 0)
			break;
		if (n < 0) {
			gw_conn_close(
				c, n == -ECONNRESET
					   ? "client closed during options"
				   : n == -EPERM ? "TLS renegotiation refused"
						 : "TLS error during options");
			return;
		}
		ev = gw_hs_feed(c->hs, buf, (size_t)n, &used);
		handle_hs_event(c, ev, buf + used, (size_t)n - used);
	}
	if (c->phase == GW_PHASE_TRANSMIT)
		gw_tx_pump(c);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct gw_conn *c = s->data;

	(void)b;
	if (nread == 0)
		goto out;
	if (nread < 0) {
		gw_conn_close(c, nread == UV_EOF ? "client disconnected"
						 : "socket read failed");
		goto out;
	}
	c->io.len += (size_t)nread;
	if (c->phase == GW_PHASE_CLOSING)
		goto out;
	if (c->phase == GW_PHASE_PLAIN) {
		c->bytes_in += (uint64_t)nread;
		feed_plain(c);
	} else if (c->phase == GW_PHASE_TRANSMIT) {
		gw_tx_pump(c);
	} else {
		options_under_tls(c);
	}
	gw_conn_update_reading(c);
out:
	in_release(c);
	gw_server_flush_dirty(c->srv);
}

void gw_conn_update_reading(struct gw_conn *c)
{
	bool want = c->phase != GW_PHASE_CLOSING && !c->disc && !c->draining &&
		    !c->throttled &&
		    (c->phase != GW_PHASE_TRANSMIT || gw_tx_can_read(c));

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) ==
		    0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

/* ---- hs callbacks ---- */

static int hs_send(void *arg, const void *buf, size_t len)
{
	return gw_conn_send(arg, buf, len);
}

static uint32_t hs_list(void *arg, struct gw_hs *hs,
			int (*emit)(struct gw_hs *hs, const char *name,
				    const char *desc))
{
	struct gw_conn *c = arg;

	return gw_exports_list(c->srv, &c->ident, hs, emit);
}

static uint32_t hs_lookup(void *arg, const char *name, bool go,
			  struct gw_export *exp, char *msg, size_t msglen)
{
	struct gw_conn *c = arg;
	char q[NBD_MAX_STRING + 8];
	uint32_t r;

	r = gw_exports_lookup(c->srv, &c->ident, name, go, exp,
			      go ? &c->disk : NULL, &c->disk_id, msg, msglen);
	if (r != 0)
		gw_log(GW_LOG_INFO,
		       "event=export_refused conn=%" PRIu64 " tenant=%s "
		       "export=%s reply=%s",
		       c->id, tenant_of(c), gw_log_quote(q, sizeof(q), name),
		       gw_nbd_rep_name(r));
	return r;
}

static const struct gw_hs_ops hs_ops = {
	.send = hs_send,
	.list = hs_list,
	.lookup = hs_lookup,
};

/* ---- life cycle ---- */

static void tcp_closed(uv_handle_t *h);

static void handshake_timeout(uv_timer_t *t)
{
	struct gw_conn *c = t->data;

	if (c->phase == GW_PHASE_CLOSING) {
		/* A graceful close that the client does not let finish. */
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, tcp_closed);
		return;
	}
	if (c->phase == GW_PHASE_TLS_HS)
		gw_metrics_tls(c->srv, GW_MTLS_TIMEOUT);
	gw_conn_close(c, "handshake timeout");
	gw_server_flush_dirty(c->srv);
}

void gw_conn_accept(struct gw_server *srv, uv_stream_t *listener)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	struct gw_conn *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->magic = GW_CONN_MAGIC;
	c->srv = srv;
	c->id = ++srv->next_conn_id;
	c->io.out = gw_conn_wp_append;
	c->io.arg = c;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	srv->nconns++;
	r = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (r < 0) {
		gw_log(GW_LOG_WARN, "event=accept_failed error=%s",
		       uv_strerror(r));
		c->phase = GW_PHASE_CLOSING;
		uv_close((uv_handle_t *)&c->tcp, tcp_closed);
		return;
	}
	gw_metrics_accepted(srv);
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0) {
		char host[INET6_ADDRSTRLEN] = "?";
		int port;

		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(a, host, sizeof(host));
			port = ntohs(a->sin6_port);
			snprintf(c->peer, sizeof(c->peer), "[%s]:%d", host,
				 port);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			uv_ip4_name(a, host, sizeof(host));
			port = ntohs(a->sin_port);
			snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
		}
	}
	gw_log(GW_LOG_DEBUG, "event=accept conn=%" PRIu64 " peer=%s", c->id,
	       c->peer);
	if (srv->nconns > srv->cfg.max_connections) {
		gw_conn_close(c, "connection limit reached");
		return;
	}
	if (gw_hs_new(&hs_ops, c, &c->hs) < 0 || gw_hs_start(c->hs) < 0) {
		gw_conn_close(c, "out of memory");
		return;
	}
	uv_timer_start(&c->timer, handshake_timeout,
		       (uint64_t)srv->cfg.handshake_timeout * 1000, 0);
	gw_conn_update_reading(c);
	gw_conn_flush(c);
}

static void conn_free(struct gw_conn *c)
{
	struct gw_server *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	gw_tx_free_pending(c);
	gw_load_put(srv, c->load);
	if (c->disk && c->wrote)
		gw_rp_session_end(srv, c->disk);
	if (c->disk)
		gw_disk_put(srv, c->disk);
	gw_hs_free(c->hs);
	SSL_free(c->ssl); /* frees the BIO */
	free(c->io.buf);
	free(c->wp);
	free(c->left);
	free(c->out);
	c->magic = 0;
	free(c);
	gw_server_maybe_done(srv);
}

static void handle_closed(uv_handle_t *h)
{
	struct gw_conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

/* The timer outlives the socket so that it can cut off a graceful close
 * that never finishes; it goes once the socket is gone. */
static void tcp_closed(uv_handle_t *h)
{
	struct gw_conn *c = h->data;

	uv_close((uv_handle_t *)&c->timer, handle_closed);
	handle_closed(h);
}

static void shutdown_done(uv_shutdown_t *req, int status)
{
	struct gw_conn *c = req->data;

	(void)status;
	free(req);
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, tcp_closed);
}

/* Closes the handles once nothing is in flight.  Pending replies are
 * written first (uv_shutdown waits for them); a client that never reads
 * them is cut off by the timer. */
void gw_conn_maybe_finish(struct gw_conn *c)
{
	uv_shutdown_t *sd;

	if (c->phase != GW_PHASE_CLOSING) {
		if ((c->disc || c->draining) && c->inflight == 0) {
			if (c->disc && c->ssl)
				SSL_shutdown(c->ssl); /* close_notify */
			gw_conn_close(c, c->disc ? "client sent NBD_CMD_DISC"
						 : "gateway stopping");
		}
		return;
	}
	if (c->inflight > 0 || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	gw_conn_flush_out(c);
	sd = malloc(sizeof(*sd));
	if (sd) {
		sd->data = c;
		if (uv_shutdown(sd, (uv_stream_t *)&c->tcp, shutdown_done) == 0)
			return;
		free(sd);
	}
	uv_close((uv_handle_t *)&c->tcp, tcp_closed);
}

/* What the end of this session means for restore points (the cut itself
 * is logged as event=rp_cut once recorded). */
static const char *session_rp(const struct gw_conn *c)
{
	const struct gw_disk *d = c->disk;

	if (!c->wrote || !d)
		return "none";
	if (d->clone || d->snap != STORAGE_SNAP_HEAD)
		return "none";
	if (d->writers > 1)
		return "with_the_last_writer";
	return d->dirty ? "cut_at_session_end" : "none";
}

void gw_conn_close(struct gw_conn *c, const char *why)
{
	char q[NBD_MAX_STRING + 8];

	if (c->phase == GW_PHASE_CLOSING)
		return;
	c->close_reason = why;
	gw_metrics_throttle(c, false); /* accounts a wait cut short */
	if (c->started_ms)
		gw_log(GW_LOG_INFO,
		       "event=session_end conn=%" PRIu64 " tenant=%s export=%s "
		       "reason=\"%s\" requests=%" PRIu64 " bytes_in=%" PRIu64
		       " bytes_out=%" PRIu64 " duration_ms=%" PRIu64
		       " restore_point=%s",
		       c->id, tenant_of(c),
		       gw_log_quote(q, sizeof(q), c->export_name), why,
		       c->requests, c->bytes_in, c->bytes_out,
		       now_ms() - c->started_ms, session_rp(c));
	else
		gw_log(GW_LOG_INFO,
		       "event=close conn=%" PRIu64 " peer=%s tenant=%s "
		       "reason=\"%s\"",
		       c->id, c->peer, tenant_of(c), why);
	c->phase = GW_PHASE_CLOSING;
	gw_conn_update_reading(c);
	uv_timer_stop(&c->timer);
	/* Give pending replies a few seconds to leave. */
	uv_timer_start(&c->timer, handshake_timeout, 5000, 0);
	gw_conn_maybe_finish(c);
}

void gw_conn_drain(struct gw_conn *c)
{
	if (c->phase != GW_PHASE_TRANSMIT) {
		gw_conn_close(c, "gateway stopping");
		return;
	}
	c->draining = true;
	gw_conn_update_reading(c);
	gw_conn_maybe_finish(c);
}

void gw_conn_recheck(struct gw_conn *c)
{
	struct tenant_cred cred;
	struct tenant_info t;

	if (!c->identified || c->phase == GW_PHASE_CLOSING)
		return;
	if (tenant_cred_lookup(c->srv->cat, c->ident.cred.pin, &cred) ==
	    -ENOENT) {
		gw_conn_close(c, "client certificate revoked");
		return;
	}
	if (c->ssl && gw_tls_peer_verify(c->srv->ssl_ctx, c->ssl) < 0) {
		gw_conn_close(c, "client certificate no longer trusted");
		return;
	}
	if (!c->ident.cred.operator_role &&
	    (tenant_get(c->srv->cat, c->ident.cred.tenant_id, &t) == -ENOENT ||
	     t.state != TENANT_ACTIVE)) {
		gw_conn_close(c, "tenant suspended or removed");
		return;
	}
	/* Whatever changed (disk removed, VM failed over, test stopped),
	 * the session ends when its export no longer means the disk it has
	 * open. */
	if (c->phase == GW_PHASE_TRANSMIT &&
	    !gw_exports_same(c->srv, &c->ident, c->export_name, c->disk)) {
		gw_log(GW_LOG_INFO, "event=export_gone conn=%" PRIu64, c->id);
		gw_conn_close(c, "export no longer available");
	}
}

void gw_conn_resume_disk(struct gw_server *srv, const struct gw_disk *d)
{
	for (struct gw_conn *c = srv->conns; c; c = c->next) {
		if (c->disk != d || c->phase != GW_PHASE_TRANSMIT)
			continue;
		gw_tx_pump(c);
		gw_conn_update_reading(c);
	}
}
