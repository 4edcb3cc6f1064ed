/* A connection's output: protocol replies are appended to an out buffer,
 * encrypted by SSL_write into the next socket write, and sent with
 * uv_write.  Output is coalesced: the connection is flushed once per
 * loop event (gw_conn_mark_dirty + the server's flush pass), so many small
 * replies share TLS records and write calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "conn.h"
#include "metrics.h"

/* ---- output ---- */

static int out_append(struct gw_conn *c, const void *buf, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *n;

		while (cap < c->out_len + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

#define WP_MIN 16384u

static void write_done(uv_write_t *req, int status)
{
	struct gw_write *w = (struct gw_write *)req;
	struct gw_conn *c = req->data;

	free(w);
	if (status < 0) {
		if (status != UV_ECANCELED)
			gw_conn_close(c, "socket write failed");
		return;
	}
	/* A connection paused because its replies piled up resumes once
	 * the client reads them. */
	if (c->phase == GW_PHASE_TRANSMIT && !c->reading) {
		gw_tx_pump(c);
		gw_conn_update_reading(c);
		gw_server_flush_dirty(c->srv);
	}
}

/* Appends bytes to the next socket write (OpenSSL's records, or the
 * plaintext of the phase before STARTTLS). */
int gw_conn_wp_append(void *arg, const void *buf, size_t len)
{
	struct gw_conn *c = arg;
	size_t have = c->wp ? c->wp->len : 0;

	if (have + len > c->wp_cap) {
		size_t cap = c->wp_cap ? c->wp_cap : WP_MIN;
		struct gw_write *n;

		while (cap < have + len)
			cap *= 2;
		n = realloc(c->wp, sizeof(*n) + cap);
		if (!n)
			return -ENOMEM;
		if (!c->wp)
			n->len = 0;
		c->wp = n;
		c->wp_cap = cap;
	}
	memcpy(c->wp->data + c->wp->len, buf, len);
	c->wp->len += len;
	return 0;
}

int gw_conn_wp_send(struct gw_conn *c)
{
	struct gw_write *w = c->wp;
	uv_buf_t b;
	int r;

	if (!w || w->len == 0)
		return 0;
	c->wp = NULL;
	c->wp_cap = 0;
	w->req.data = c;
	b = uv_buf_init((char *)w->data, (unsigned)w->len);
	c->bytes_out += w->len;
	r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
	if (r < 0)
		free(w);
	return r;
}

static int tls_write(struct gw_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	/* The BIO never refuses, so SSL_write never waits for the socket;
	 * partial writes only split the buffer into records. */
	while (len > 0) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
		int n = SSL_write(c->ssl, p, chunk);

		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int gw_conn_flush_out(struct gw_conn *c)
{
	int r = 0;

	if (c->out_len) {
		if (c->ssl && c->phase != GW_PHASE_PLAIN)
			r = tls_write(c, c->out, c->out_len);
		else
			r = gw_conn_wp_append(c, c->out, c->out_len);
		c->out_len = 0;
	}
	return r ? r : gw_conn_wp_send(c);
}

void gw_conn_flush(struct gw_conn *c)
{
	c->dirty = false;
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (gw_conn_flush_out(c) < 0)
		gw_conn_close(c, "cannot send");
}

void gw_conn_mark_dirty(struct gw_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->srv->dirty;
	c->srv->dirty = c;
}

int gw_conn_send(struct gw_conn *c, const void *buf, size_t len)
{
	gw_conn_mark_dirty(c);
	return out_append(c, buf, len);
}

int gw_conn_send2(struct gw_conn *c, const void *hdr, size_t hlen,
		  const void *data, size_t dlen)
{
	int r;

	gw_conn_mark_dirty(c);
	if (dlen < 65536 || !c->ssl) {
		r = out_append(c, hdr, hlen);
		return r ? r : out_append(c, data, dlen);
	}
	/* Large read replies are encrypted straight from the request
	 * buffer instead of being copied into the output buffer first. */
	r = out_append(c, hdr, hlen);
	if (r == 0)
		r = tls_write(c, c->out, c->out_len);
	c->out_len = 0;
	return r ? r : tls_write(c, data, dlen);
}

/* ---- input ---- */
