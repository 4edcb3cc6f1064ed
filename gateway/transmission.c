/* The transmission phase: request headers are read, validated
 * (nbd-request.c), executed on the disk layer and answered.  A WRITE
 * payload is decrypted straight into the request's buffer.  A connection
 * stops reading its socket while its in-flight requests hold more than the
 * configured bytes, so memory per connection stays bounded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "metrics.h"

#define STATUS_MAX_RUNS 1024

static uint8_t drain_buf[65536]; /* loop thread only */

bool gw_tx_can_read(const struct gw_conn *c)
{
	const struct gw_config *cfg = &c->srv->cfg;
	const struct gw_load *t = c->load, *all = &c->srv->load;
	size_t t_bytes = 0;
	unsigned t_ops = 0;

	if (c->rx != GW_RX_HEADER)
		return true; /* a payload must be consumed to progress */
	/* A restore point waits for a snap id: hold the disk's writers so
	 * the cut still falls between the same two writes. */
	if (c->disk && (c->disk->deferred || c->disk->opening))
		return false;
	if (t)
		gw_fair_share(c->srv, t, &t_bytes, &t_ops);
	/* Three bounds: the connection's, its tenant's (all connections
	 * together; its fair share while others are busy too) and the
	 * gateway's, the last kept below librados' own throttle so that a
	 * submission never blocks the loop. */
	return c->inflight < cfg->conn_inflight_reqs &&
	       c->inflight_bytes < cfg->conn_inflight_bytes &&
	       uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) <
		       cfg->conn_inflight_bytes &&
	       (!t || (t->ops < t_ops && t->bytes < t_bytes)) &&
	       all->ops < cfg->total_inflight_reqs &&
	       all->bytes < cfg->total_inflight_bytes;
}

static void charge(struct gw_conn *c, int64_t bytes, int ops)
{
	struct gw_load *all = &c->srv->load;

	c->inflight_bytes += (size_t)bytes;
	c->inflight += (unsigned)ops;
	all->bytes += (size_t)bytes;
	all->ops += (unsigned)ops;
	if (c->load) {
		c->load->bytes += (size_t)bytes;
		c->load->ops += (unsigned)ops;
		gw_fair_touch(c->srv, c->load);
	}
}

/* Returns budget; connections of the tenant (or any, when the gateway
 * was at its bound) that paused for it read again. */
static void uncharge(struct gw_conn *c, size_t bytes, unsigned ops)
{
	struct gw_server *srv = c->srv;
	bool was_full = !gw_tx_can_read(c) || srv->load.paused;

	c->inflight_bytes -= bytes;
	c->inflight -= ops;
	srv->load.bytes -= bytes;
	srv->load.ops -= ops;
	if (c->load) {
		c->load->bytes -= bytes;
		c->load->ops -= ops;
		gw_fair_touch(srv, c->load);
	}
	if (!was_full)
		return;
	srv->load.paused = false;
	for (struct gw_conn *o = srv->conns; o; o = o->next) {
		if (o == c || o->reading || o->phase != GW_PHASE_TRANSMIT)
			continue;
		gw_tx_pump(o);
		gw_conn_update_reading(o);
	}
}

static void req_free(struct gw_request *rq)
{
	if (!rq)
		return;
	if (rq->reserved)
		gw_ledger_release(rq->conn->load, rq->reserved);
	rq->magic = 0;
	free(rq->buf);
	free(rq->extents);
	free(rq);
}

void gw_tx_free_pending(struct gw_conn *c)
{
	if (c->cur) {
		uncharge(c, c->cur->req.length, 0);
		req_free(c->cur);
		c->cur = NULL;
	}
}

static void reply_error(struct gw_conn *c, const struct gw_req *req,
			uint32_t err, const char *why)
{
	uint8_t buf[NBD_CHUNK_SIZE + 6 + 256];
	char msg[256];
	size_t n;

	gw_metrics_error(c, err);
	/* With structured replies a READ must never get a simple reply, and
	 * the error chunk carries a message the client can show. */
	if (c->structured) {
		snprintf(msg, sizeof(msg), "%s", why ? why : "");
		n = gw_reply_error_chunk(buf, req->cookie, err, msg);
	} else {
		n = gw_reply_simple(buf, req->cookie, err);
	}
	gw_conn_send(c, buf, n);
}

static void reply_read(struct gw_conn *c, struct gw_request *rq)
{
	uint8_t hdr[NBD_CHUNK_SIZE + 8];
	size_t n;

	if (c->structured) {
		n = gw_reply_chunk(hdr, NBD_REPLY_FLAG_DONE,
				   NBD_REPLY_TYPE_OFFSET_DATA, rq->req.cookie,
				   rq->req.length + 8);
		gw_put64(hdr + n, rq->req.offset);
		n += 8;
	} else {
		n = gw_reply_simple(hdr, rq->req.cookie, 0);
	}
	gw_conn_send2(c, hdr, n, rq->buf, rq->req.length);
}

static void reply_status(struct gw_conn *c, struct gw_request *rq)
{
	size_t runs = rq->sreq.nextents;
	size_t plen = 4 + 8 * runs;
	uint8_t *buf = malloc(NBD_CHUNK_SIZE + plen);
	size_t n, i, out = 0;
	uint8_t *p;

	if (!buf) {
		reply_error(c, &rq->req, NBD_ENOMEM, "out of memory");
		return;
	}
	p = buf + NBD_CHUNK_SIZE;
	gw_put32(p, c->meta_id);
	p += 4;
	for (i = 0; i < runs; i++) {
		uint64_t len = rq->sreq.extents[i].length;

		/* Lengths are 32-bit on the wire; a longer run ends the
		 * answer (clients ask again from where it stops). */
		if (len > UINT32_C(0xfffff000)) {
			len = UINT32_C(0xfffff000);
			runs = i + 1;
		}
		gw_put32(p, (uint32_t)len);
		gw_put32(p + 4, rq->sreq.extents[i].hole
					? NBD_STATE_HOLE | NBD_STATE_ZERO
					: 0);
		p += 8;
		out++;
	}
	plen = 4 + 8 * out;
	n = gw_reply_chunk(buf, NBD_REPLY_FLAG_DONE,
			   NBD_REPLY_TYPE_BLOCK_STATUS, rq->req.cookie,
			   (uint32_t)plen);
	gw_conn_send(c, buf, n + plen);
	free(buf);
}

static void req_done(struct storage_req *sr, int result)
{
	struct gw_request *rq = sr->priv;
	struct gw_conn *c = rq->conn;
	char q[NBD_MAX_STRING + 8];
	uint8_t buf[NBD_SIMPLE_REPLY_SIZE];

	if (rq->magic != GW_REQUEST_MAGIC || c->magic != GW_CONN_MAGIC)
		abort(); /* a completion for a freed request: a bug */
	gw_metrics_done(rq, result);
	gw_sched_done(c->srv);
	uncharge(c,
		 rq->req.type == NBD_CMD_READ || rq->req.type == NBD_CMD_WRITE
			 ? rq->req.length
			 : 0,
		 1);
	if (c->phase == GW_PHASE_CLOSING) {
		req_free(rq);
		gw_conn_maybe_finish(c);
		return;
	}
	if (result < 0) {
		gw_log(GW_LOG_WARN,
		       "event=request_failed conn=%" PRIu64 " tenant=%s "
		       "export=%s cmd=%s offset=%" PRIu64 " length=%" PRIu32
		       " error=\"%s\"",
		       c->id, c->ident.who,
		       gw_log_quote(q, sizeof(q), c->export_name),
		       gw_nbd_cmd_name(rq->req.type), rq->req.offset,
		       rq->req.length, strerror(-result));
		reply_error(c, &rq->req, gw_nbd_errno(result),
			    strerror(-result));
	} else if (rq->req.type == NBD_CMD_READ) {
		reply_read(c, rq);
	} else if (rq->req.type == NBD_CMD_BLOCK_STATUS) {
		reply_status(c, rq);
	} else if (rq->req.type == NBD_CMD_FLUSH) {
		gw_conn_send(c, buf, gw_reply_simple(buf, rq->req.cookie, 0));
		/* Everything acknowledged is durable now: a good moment for a
		 * checkpoint restore point. */
		gw_rp_after_flush(c->srv, c->disk);
	} else {
		gw_conn_send(c, buf, gw_reply_simple(buf, rq->req.cookie, 0));
	}
	req_free(rq);
	gw_conn_mark_dirty(c);
	if (c->disc || c->draining) {
		gw_conn_maybe_finish(c);
		return;
	}
	gw_tx_pump(c);
	gw_conn_update_reading(c);
}

/* Limits are enforced between requests: a request admitted is read
 * whole, the next waits for tokens. */
static bool bandwidth_ok(struct gw_conn *c)
{
	return (!c->load || gw_bucket_ok(&c->load->bw)) &&
	       (!c->disk || gw_bucket_ok(&c->disk->bw));
}

static void take_tokens(struct gw_conn *c, uint64_t n)
{
	if (c->load)
		gw_bucket_take(&c->load->bw, n);
	if (c->disk)
		gw_bucket_take(&c->disk->bw, n);
}

static struct gw_request *req_new(struct gw_conn *c, const struct gw_req *req,
				  size_t bufsize)
{
	struct gw_request *rq = calloc(1, sizeof(*rq));

	if (!rq)
		return NULL;
	rq->magic = GW_REQUEST_MAGIC;
	rq->conn = c;
	rq->req = *req;
	if (bufsize) {
		rq->buf = malloc(bufsize);
		if (!rq->buf) {
			free(rq);
			return NULL;
		}
	}
	rq->sreq.priv = rq;
	rq->sreq.done = req_done;
	rq->sreq.off = req->offset;
	rq->sreq.len = req->length;
	rq->sreq.buf = rq->buf;
	if (req->flags & NBD_CMD_FLAG_FUA)
		rq->sreq.flags |= STORAGE_F_FUA;
	return rq;
}

static void submit(struct gw_conn *c, struct gw_request *rq,
		   enum storage_cmd cmd)
{
	if (cmd == STORAGE_WRITE || cmd == STORAGE_ZERO ||
	    cmd == STORAGE_TRIM) {
		/* The next restore point has something to keep; the session
		 * end cuts one once the last writer of the disk leaves. */
		c->disk->dirty = true;
		if (!c->wrote) {
			c->wrote = true;
			c->disk->writers++;
		}
	}
	rq->sreq.cmd = cmd;
	charge(c, 0, 1);
	c->requests++;
	gw_sched_submit(c->srv, c->load, rq);
}

/* The stored-bytes quota, checked once the whole request is here and
 * before any of it is applied.  False: refused and answered. */
static bool quota_ok(struct gw_conn *c, struct gw_request *rq,
		     enum storage_cmd cmd)
{
	char why[256];

	if (gw_ledger_admit(c, cmd, rq->sreq.flags, rq->req.offset,
			    rq->req.length, &rq->reserved, why,
			    sizeof(why)) == 0)
		return true;
	gw_log(GW_LOG_WARN,
	       "event=request_refused conn=%" PRIu64 " tenant=%s cmd=%s "
	       "offset=%" PRIu64 " length=%" PRIu32 " error=NBD_ENOSPC "
	       "reason=\"%s\"",
	       c->id, c->ident.who, gw_nbd_cmd_name(rq->req.type),
	       rq->req.offset, rq->req.length, why);
	c->requests++;
	if (cmd == STORAGE_WRITE)
		uncharge(c, rq->req.length, 0);
	reply_error(c, &rq->req, NBD_ENOSPC, why);
	req_free(rq);
	return false;
}

/* Executes a valid request.  Returns -ENOMEM when it cannot. */
static int dispatch(struct gw_conn *c, const struct gw_req *req)
{
	uint8_t buf[NBD_SIMPLE_REPLY_SIZE];
	struct gw_request *rq;
	enum storage_cmd cmd;

	switch (req->type) {
	case NBD_CMD_CACHE:
		/* Advisory; the data is where it is. */
		c->requests++;
		gw_conn_send(c, buf, gw_reply_simple(buf, req->cookie, 0));
		return 0;
	case NBD_CMD_WRITE:
		rq = req_new(c, req, req->length);
		if (!rq)
			return -ENOMEM;
		charge(c, req->length, 0);
		take_tokens(c, req->length);
		c->cur = rq;
		c->rx = GW_RX_PAYLOAD;
		return 0;
	case NBD_CMD_READ:
		rq = req_new(c, req, req->length);
		if (!rq)
			return -ENOMEM;
		charge(c, req->length, 0);
		take_tokens(c, req->length);
		submit(c, rq, STORAGE_READ);
		return 0;
	case NBD_CMD_BLOCK_STATUS:
		rq = req_new(c, req, 0);
		if (!rq)
			return -ENOMEM;
		rq->sreq.nextents =
			req->flags & NBD_CMD_FLAG_REQ_ONE ? 1 : STATUS_MAX_RUNS;
		rq->extents = calloc(rq->sreq.nextents, sizeof(*rq->extents));
		if (!rq->extents) {
			req_free(rq);
			return -ENOMEM;
		}
		rq->sreq.extents = rq->extents;
		submit(c, rq, STORAGE_STATUS);
		return 0;
	case NBD_CMD_FLUSH:
		cmd = STORAGE_FLUSH;
		break;
	case NBD_CMD_TRIM:
		cmd = STORAGE_TRIM;
		break;
	case NBD_CMD_WRITE_ZEROES:
		cmd = STORAGE_ZERO;
		break;
	default:
		return -EINVAL; /* validation let through a command we lack */
	}
	rq = req_new(c, req, 0);
	if (!rq)
		return -ENOMEM;
	if (req->flags & NBD_CMD_FLAG_NO_HOLE)
		rq->sreq.flags |= STORAGE_F_NO_HOLE;
	if (cmd == STORAGE_FLUSH || quota_ok(c, rq, cmd))
		submit(c, rq, cmd);
	return 0;
}

static void handle_header(struct gw_conn *c)
{
	struct gw_session_caps caps = {
		.size = c->exp.size,
		.read_only = c->exp.read_only,
		.structured = c->structured,
		.base_allocation = c->base_alloc,
		.max_payload = GW_NBD_MAX_PAYLOAD,
	};
	const char *why = NULL;
	enum gw_verdict v;
	uint32_t err = 0;
	struct gw_req req;

	if (gw_req_decode(c->hdr, &req) < 0) {
		gw_conn_close(c, "bad request magic");
		return;
	}
	gw_metrics_request(c, req.type);
	v = gw_req_validate(&req, &caps, &err, &why);
	/* A disk whose open failed refuses everything but DISC. */
	if (v == GW_REQ_OK && req.type != NBD_CMD_DISC &&
	    (err = gw_disk_refusal(c->disk, &why)) != 0)
		v = GW_REQ_ERROR;
	switch (v) {
	case GW_REQ_DISCONNECT:
		gw_conn_close(c, why ? why : "protocol violation");
		return;
	case GW_REQ_ERROR:
		gw_log(GW_LOG_INFO,
		       "event=request_refused conn=%" PRIu64 " tenant=%s "
		       "cmd=%s offset=%" PRIu64 " length=%" PRIu32
		       " error=%s reason=\"%s\"",
		       c->id, c->ident.who, gw_nbd_cmd_name(req.type),
		       req.offset, req.length, gw_nbd_err_name(err),
		       why ? why : "");
		c->requests++;
		if (req.type == NBD_CMD_WRITE && req.length > 0) {
			/* The client may still be sending the payload: answer
			 * only once it has all been read (and dropped), or a
			 * client that matches replies early gets confused. */
			c->drain = req.length;
			c->rx = GW_RX_DRAIN;
			c->drain_req = req;
			c->drain_err = err;
			c->drain_why = why;
			return;
		}
		reply_error(c, &req, err, why);
		return;
	case GW_REQ_OK:
		break;
	}
	if (req.type == NBD_CMD_DISC) {
		c->disc = true;
		gw_conn_update_reading(c);
		gw_conn_maybe_finish(c);
		return;
	}
	if (dispatch(c, &req) < 0)
		reply_error(c, &req, NBD_ENOMEM, "out of memory");
}

static void payload_complete(struct gw_conn *c)
{
	struct gw_request *rq = c->cur;

	c->cur = NULL;
	c->rx = GW_RX_HEADER;
	if (quota_ok(c, rq, STORAGE_WRITE))
		submit(c, rq, STORAGE_WRITE);
}

static bool can_go_on(const struct gw_conn *c)
{
	return c->phase == GW_PHASE_TRANSMIT && !c->disc && !c->draining;
}

void gw_tx_pump(struct gw_conn *c)
{
	ssize_t n;

	while (can_go_on(c)) {
		switch (c->rx) {
		case GW_RX_HEADER:
			if (!gw_tx_can_read(c)) {
				c->srv->load.paused = true;
				return;
			}
			if (!bandwidth_ok(c)) {
				gw_metrics_throttle(c, true);
				gw_sched_throttled(c->srv);
				return;
			}
			gw_metrics_throttle(c, false);
			n = gw_conn_read_plain(c, c->hdr + c->hdr_have,
					       NBD_REQUEST_SIZE - c->hdr_have);
			if (n > 0) {
				c->hdr_have += (size_t)n;
				if (c->hdr_have == NBD_REQUEST_SIZE) {
					c->hdr_have = 0;
					handle_header(c);
				}
			}
			break;
		case GW_RX_PAYLOAD:
			n = gw_conn_read_plain(c, c->cur->buf + c->cur->have,
					       c->cur->req.length -
						       c->cur->have);
			if (n > 0) {
				c->cur->have += (uint64_t)n;
				if (c->cur->have == c->cur->req.length)
					payload_complete(c);
			}
			break;
		case GW_RX_DRAIN:
		default:
			n = gw_conn_read_plain(c, drain_buf,
					       c->drain < sizeof(drain_buf)
						       ? c->drain
						       : sizeof(drain_buf));
			if (n > 0) {
				c->drain -= (uint64_t)n;
				if (c->drain == 0) {
					c->rx = GW_RX_HEADER;
					reply_error(c, &c->drain_req,
						    c->drain_err, c->drain_why);
				}
			}
			break;
		}
		if (n == 0)
			return;
		if (n < 0) {
			gw_conn_close(
				c, n == -ECONNRESET ? "client disconnected"
				   : n == -EPERM ? "TLS renegotiation refused"
						 : "TLS error");
			return;
		}
	}
}

struct gw_load *gw_load_find(struct gw_server *srv, uint64_t tenant_id)
{
	for (struct gw_load *l = srv->loads; l; l = l->next)
		if (l->tenant_id == tenant_id)
			return l;
	return NULL;
}

static void load_limits(struct gw_server *srv, struct gw_load *l)
{
	struct tenant_limits lim;

	if (l->tenant_id == 0 ||
	    tenant_get_limits(srv->cat, l->tenant_id, &lim) < 0)
		return;
	l->weight = lim.weight;
	gw_bucket_set(&l->bw, lim.bandwidth);
	gw_ledger_refresh(srv, l);
}

struct gw_load *gw_load_get(struct gw_server *srv, uint64_t tenant_id)
{
	struct gw_load *l = gw_load_find(srv, tenant_id);

	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return NULL;
		l->tenant_id = tenant_id;
		l->next = srv->loads;
		srv->loads = l;
		load_limits(srv, l);
	}
	l->conns++;
	return l;
}

void gw_sched_refresh(struct gw_server *srv)
{
	uint64_t bw;

	for (struct gw_load *l = srv->loads; l; l = l->next)
		load_limits(srv, l);
	for (struct gw_disk *d = srv->disks; d; d = d->next)
		if (d->snap == STORAGE_SNAP_HEAD && !d->clone &&
		    tenant_disk_get_bandwidth(srv->cat, d->key_id, &bw) == 0)
			gw_bucket_set(&d->bw, bw);
}

void gw_load_put(struct gw_server *srv, struct gw_load *l)
{
	struct gw_load **pp;

	if (!l || --l->conns > 0)
		return;
	gw_sched_forget(srv, l);
	for (pp = &srv->loads; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	free(l);
}
