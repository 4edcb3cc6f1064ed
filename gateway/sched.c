/* Sharing the backend and the network among tenants.
 *
 * Fair turns: requests do not go to the disk layer directly but into
 * their tenant's queue; at most GW_SCHED_MAX are at the backend at once,
 * and the queues are served by deficit round robin, each tenant getting
 * a quantum proportional to its weight per turn.  When the backend keeps
 * up, queues stay empty and this costs nothing; when it is the
 * bottleneck, a tenant with many connections cannot starve one with few.
 *
 * Fair shares of the gateway: on a box whose CPU (TLS, copies) is the
 * bottleneck, backend queues never build and the turns above never act;
 * each connection then gets an equal part of the reading, so a tenant's
 * throughput follows its number of connections.  So while more than one
 * tenant has requests in flight, each may hold only its weight's share
 * of GW_FAIR_BYTES / GW_FAIR_OPS in flight, and a tenant at its share
 * stops reading its sockets.  All requests see about the same latency
 * through the gateway, so equal in-flight shares give equal throughput
 * (Little's law), whatever the connection counts.
 *
 * Bandwidth: token buckets per tenant and per disk.  A connection whose
 * bucket is empty stops reading its socket (never buffering), and a 10 ms
 * timer lets it read again as tokens come back. */
#include <stdlib.h>

#include "conn.h"
#include "metrics.h"

#define QUANTUM (1u << 20)
#define MIN_COST 4096u
#define TICK_MS 10

/* ---- fair shares of in-flight work ---- */

static bool fair_active(const struct gw_load *l, uint64_t now)
{
	return l->tenant_id &&
	       (l->ops > 0 || now - l->active_ms < GW_FAIR_IDLE_MS);
}

void gw_fair_touch(struct gw_server *srv, struct gw_load *l)
{
	l->active_ms = uv_now(srv->loop);
}

void gw_fair_share(struct gw_server *srv, const struct gw_load *l,
		   size_t *bytes, unsigned *ops)
{
	uint64_t now = uv_now(srv->loop), w;

	/* Once per loop iteration: uv_now() moves only between them. */
	if (srv->fair_at != now || !srv->fair_tenants) {
		srv->fair_at = now;
		srv->fair_tenants = 0;
		srv->fair_weight = 0;
		for (const struct gw_load *o = srv->loads; o; o = o->next) {
			if (!fair_active(o, now))
				continue;
			srv->fair_tenants++;
			srv->fair_weight += o->weight ? o->weight : 1;
		}
	}
	if (srv->fair_tenants < 2 || !l->tenant_id) {
		*bytes = (size_t)srv->cfg.tenant_inflight_bytes;
		*ops = srv->cfg.tenant_inflight_reqs;
		return;
	}
	w = l->weight ? l->weight : 1;
	*bytes = (size_t)(GW_FAIR_BYTES * w / srv->fair_weight);
	*ops = (unsigned)(GW_FAIR_OPS * w / srv->fair_weight);
	if (*bytes < GW_FAIR_MIN_BYTES)
		*bytes = GW_FAIR_MIN_BYTES;
	if (*ops < GW_FAIR_MIN_OPS)
		*ops = GW_FAIR_MIN_OPS;
}

/* ---- token buckets ---- */

void gw_bucket_set(struct gw_bucket *b, uint64_t rate)
{
	if (b->rate == rate)
		return;
	b->rate = rate;
	b->tokens = 0;
	b->last_ns = uv_hrtime();
}

static int64_t burst(const struct gw_bucket *b)
{
	/* A tenth of a second, and at least one large request, so that
	 * the average stays exact without long pauses. */
	int64_t n = (int64_t)(b->rate / 10);

	return n > (int64_t)(4u << 20) ? n : (int64_t)(4u << 20);
}

bool gw_bucket_ok(struct gw_bucket *b)
{
	uint64_t now;

	if (!b->rate)
		return true;
	now = uv_hrtime();
	b->tokens +=
		(int64_t)((double)(now - b->last_ns) * (double)b->rate / 1e9);
	b->last_ns = now;
	if (b->tokens > burst(b))
		b->tokens = burst(b);
	return b->tokens > 0;
}

void gw_bucket_take(struct gw_bucket *b, uint64_t n)
{
	if (b->rate)
		b->tokens -= (int64_t)n;
}

static void tick(uv_timer_t *t)
{
	struct gw_server *srv = t->data;
	bool waiting = false;

	for (struct gw_conn *c = srv->conns; c; c = c->next) {
		if (c->phase != GW_PHASE_TRANSMIT || c->reading)
			continue;
		gw_tx_pump(c);
		gw_conn_update_reading(c);
		if (!c->reading && c->throttled)
			waiting = true;
	}
	gw_server_flush_dirty(srv);
	if (!waiting)
		uv_timer_stop(t);
}

/* Called when a connection stops for lack of tokens. */
void gw_sched_throttled(struct gw_server *srv)
{
	if (!uv_is_active((uv_handle_t *)&srv->throttle))
		uv_timer_start(&srv->throttle, tick, TICK_MS, TICK_MS);
}

int gw_sched_init(struct gw_server *srv)
{
	srv->throttle.data = srv;
	return uv_timer_init(srv->loop, &srv->throttle);
}

/* ---- fair turns ---- */

static uint64_t cost(const struct gw_request *rq)
{
	uint64_t n =
		rq->req.type == NBD_CMD_READ || rq->req.type == NBD_CMD_WRITE
			? rq->req.length
			: 0;

	return n > MIN_COST ? n : MIN_COST;
}

static void rr_remove_head(struct gw_server *srv)
{
	struct gw_load *l = srv->rr_head;

	srv->rr_head = l->rr_next;
	if (!srv->rr_head)
		srv->rr_tail = NULL;
	l->rr_next = NULL;
	l->in_rr = false;
}

static void rr_append(struct gw_server *srv, struct gw_load *l)
{
	l->rr_next = NULL;
	l->in_rr = true;
	if (srv->rr_tail)
		srv->rr_tail->rr_next = l;
	else
		srv->rr_head = l;
	srv->rr_tail = l;
}

/* Once submitted, what a mutation adds is in the disk's own ledger
 * (storage_disk_stored_bytes), so its reservation ends. */
static void to_disk(struct gw_request *rq)
{
	struct gw_conn *c = rq->conn;

	gw_metrics_submit(rq);
	storage_disk_submit(c->disk->sd, &rq->sreq);
	gw_ledger_release(c->load, rq->reserved);
	rq->reserved = 0;
}

static void admit(struct gw_server *srv, struct gw_load *l)
{
	struct gw_request *rq = l->qhead;

	l->qhead = rq->qnext;
	if (!l->qhead)
		l->qtail = NULL;
	l->deficit -= (int64_t)cost(rq);
	srv->sched_inflight++;
	to_disk(rq);
}

static void run(struct gw_server *srv)
{
	while (srv->sched_inflight < GW_SCHED_MAX && srv->rr_head) {
		struct gw_load *l = srv->rr_head;

		if (!l->qhead) {
			rr_remove_head(srv);
			l->deficit = 0;
			continue;
		}
		if (l->deficit >= (int64_t)cost(l->qhead)) {
			admit(srv, l);
			continue;
		}
		/* Its turn is over: a new quantum, to the back. */
		l->deficit += (int64_t)QUANTUM * (l->weight ? l->weight : 1);
		rr_remove_head(srv);
		rr_append(srv, l);
	}
}

void gw_sched_submit(struct gw_server *srv, struct gw_load *l,
		     struct gw_request *rq)
{
	rq->qnext = NULL;
	if (!l) {
		/* Only before a session has its budget; never expected. */
		srv->sched_inflight++;
		to_disk(rq);
		return;
	}
	if (l->qtail)
		l->qtail->qnext = rq;
	else
		l->qhead = rq;
	l->qtail = rq;
	if (!l->in_rr) {
		l->deficit = (int64_t)QUANTUM * (l->weight ? l->weight : 1);
		rr_append(srv, l);
	}
	run(srv);
}

void gw_sched_done(struct gw_server *srv)
{
	srv->sched_inflight--;
	run(srv);
}

/* A tenant's budget goes away with its last session; it has nothing
 * queued then (every request of a session ends before the session). */
void gw_sched_forget(struct gw_server *srv, struct gw_load *l)
{
	struct gw_load **pp;

	if (!l->in_rr)
		return;
	for (pp = &srv->rr_head; *pp; pp = &(*pp)->rr_next) {
		if (*pp == l) {
			*pp = l->rr_next;
			break;
		}
	}
	srv->rr_tail = NULL;
	for (struct gw_load *x = srv->rr_head; x; x = x->rr_next)
		srv->rr_tail = x;
	l->in_rr = false;
}
