/* The fixed-newstyle handshake in FORCEDTLS mode, as a resumable state
 * machine.  The connection feeds it whatever bytes arrived; the machine
 * collects one wire field at a time into fixed buffers, so a message may
 * be split anywhere and the output is the same as if it came whole.
 *
 * Memory is bounded by design: the only variable-length data ever kept
 * is one export name (at most NBD_MAX_STRING bytes) plus the name the
 * meta context was selected for; everything else (unknown payloads,
 * info requests, meta queries) is consumed by counting.  Replies to an
 * option are sent only once its whole payload has been consumed, so an
 * error never leaves the stream out of step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd.h"

enum phase {
	PH_INIT,     /* gw_hs_start() not called yet */
	PH_CFLAGS,   /* collecting the 4-byte client flags */
	PH_OPT_HDR,  /* collecting a 16-byte option header */
	PH_OPT_DATA, /* inside an option payload, see enum step */
	PH_WAIT_TLS, /* STARTTLS acknowledged, waiting for gw_hs_tls_up() */
	PH_READY,
	PH_CLOSED,
};

/* Which field of the option payload is being collected. */
enum step {
	ST_SKIP,	/* discard the rest, then send the pending error */
	ST_NAME_LEN,	/* INFO, GO, meta options: u32 export name length */
	ST_NAME,	/* the export name */
	ST_NINFO,	/* INFO/GO: u16 number of info requests */
	ST_INFO,	/* INFO/GO: one u16 info request */
	ST_NQUERIES,	/* meta options: u32 number of queries */
	ST_QUERY_LEN,	/* meta options: u32 query length */
	ST_QUERY,	/* the query; only a prefix is kept */
	ST_EXPORT_NAME, /* EXPORT_NAME: the whole payload is the name */
};

/* Long enough to hold "base:allocation", the longest query we match. */
#define QUERY_KEEP 16

struct gw_hs {
	const struct gw_hs_ops *ops;
	void *arg;
	enum phase phase;
	bool tls;
	bool no_zeroes;
	bool structured;
	bool in_list; /* emit() is only valid inside ops->list */
	int send_err; /* first failure of ops->send; closes the machine */

	/* The field being collected: 'want' more bytes are expected; the
	 * first 'cap' bytes of the field are stored at 'dst', the rest are
	 * only counted. */
	uint8_t *dst;
	size_t cap;
	size_t got;
	size_t want;
	uint8_t scratch[NBD_OPTION_HDR_SIZE];

	uint32_t opt;	 /* option being parsed */
	uint32_t remain; /* its payload bytes not yet consumed */
	enum step step;
	uint32_t count;	    /* info requests or queries still to come */
	uint32_t info_mask; /* bit n set: NBD_INFO n was requested */
	bool had_queries;   /* the meta option carried at least one query */
	bool meta_hit;	    /* a query matched base:allocation */
	uint32_t pend_rep;  /* error sent once ST_SKIP has finished */
	char msg[GW_HS_MSG_MAX];

	char name[NBD_MAX_STRING + 1];
	uint32_t name_len;
	char query[QUERY_KEEP];
	uint32_t query_len;

	/* Negotiated state; all of it is forgotten at STARTTLS. */
	bool meta_selected;
	char meta_export[NBD_MAX_STRING + 1];
	struct gw_export exp;

	const char *reason;
	char reason_buf[GW_HS_MSG_MAX + 64];
};

/* ---- field collection and replies ---- */

static void expect(struct gw_hs *hs, void *dst, size_t cap, size_t want)
{
	hs->dst = dst;
	hs->cap = cap;
	hs->got = 0;
	hs->want = want;
}

static void next_option(struct gw_hs *hs)
{
	hs->phase = PH_OPT_HDR;
	expect(hs, hs->scratch, NBD_OPTION_HDR_SIZE, NBD_OPTION_HDR_SIZE);
}

static enum gw_hs_event closing(struct gw_hs *hs, const char *reason)
{
	hs->phase = PH_CLOSED;
	hs->reason = reason;
	return GW_HS_CLOSE;
}

static int send_bytes(struct gw_hs *hs, const void *buf, size_t len)
{
	int r;

	/* After one failure nothing more is sent: the connection is being
	 * torn down and a partial reply sequence is worthless. */
	if (hs->send_err)
		return hs->send_err;
	if (len == 0)
		return 0;
	r = hs->ops->send(hs->arg, buf, len);
	if (r < 0)
		hs->send_err = r;
	return r;
}

/* Sends the 20-byte reply header; the caller sends 'len' payload bytes. */
static int reply_hdr(struct gw_hs *hs, uint32_t type, size_t len)
{
	uint8_t h[NBD_OPTION_REPLY_HDR_SIZE];

	gw_put64(h, NBD_REP_MAGIC);
	gw_put32(h + 8, hs->opt);
	gw_put32(h + 12, type);
	gw_put32(h + 16, (uint32_t)len);
	return send_bytes(hs, h, sizeof(h));
}

static int send_ack(struct gw_hs *hs)
{
	return reply_hdr(hs, NBD_REP_ACK, 0);
}

/* Every error reply carries a message: clients show it to the user. */
static int send_error(struct gw_hs *hs, uint32_t rep, const char *msg)
{
	size_t len;

	if (!msg || !msg[0])
		msg = gw_nbd_rep_name(rep);
	len = strnlen(msg, GW_HS_MSG_MAX - 1);
	if (reply_hdr(hs, rep, len) < 0)
		return hs->send_err;
	return send_bytes(hs, msg, len);
}

/* Skips what is left of the option, then replies with the error.  The
 * message must outlive the skip: a static string or hs->msg. */
static enum gw_hs_event fail(struct gw_hs *hs, uint32_t rep, const char *msg)
{
	if (msg != hs->msg)
		snprintf(hs->msg, sizeof(hs->msg), "%s", msg);
	hs->pend_rep = rep;
	hs->step = ST_SKIP;
	expect(hs, NULL, 0, hs->remain);
	return GW_HS_MORE;
}

static enum gw_hs_event finish_skip(struct gw_hs *hs)
{
	send_error(hs, hs->pend_rep, hs->msg);
	next_option(hs);
	return GW_HS_MORE;
}

/* ---- negotiated state ---- */

static void forget_negotiation(struct gw_hs *hs)
{
	hs->structured = false;
	hs->meta_selected = false;
	hs->meta_export[0] = '\0';
	hs->name[0] = '\0';
	hs->name_len = 0;
	hs->info_mask = 0;
	memset(&hs->exp, 0, sizeof(hs->exp));
}

static bool usable_pref_block(uint32_t b)
{
	/* proto.md: a power of two, at least 512, at most the maximum. */
	return b >= 512 && b <= GW_NBD_MAX_PAYLOAD && (b & (b - 1)) == 0;
}

static void complete_export(struct gw_hs *hs, struct gw_export *e)
{
	e->description[sizeof(e->description) - 1] = '\0';
	e->tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
		    NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
		    NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO |
		    NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE;
	if (hs->structured)
		e->tflags |= NBD_FLAG_SEND_DF;
	if (e->read_only)
		e->tflags |= NBD_FLAG_READ_ONLY;
	e->min_block = GW_NBD_MIN_BLOCK;
	e->max_block = GW_NBD_MAX_PAYLOAD;
	if (!usable_pref_block(e->pref_block))
		e->pref_block = GW_NBD_PREF_BLOCK_DEFAULT;
}

/* Calls ops->lookup; on refusal hs->msg holds the client message. */
static uint32_t lookup(struct gw_hs *hs, bool go, struct gw_export *e)
{
	uint32_t rep;

	memset(e, 0, sizeof(*e));
	hs->msg[0] = '\0';
	rep = hs->ops->lookup(hs->arg, hs->name, go, e, hs->msg,
			      sizeof(hs->msg));
	hs->msg[sizeof(hs->msg) - 1] = '\0';
	/* A callback returning a non-error reply type is a bug; refusing
	 * is the only safe reading of it. */
	if (rep && !(rep & NBD_REP_FLAG_ERROR))
		rep = NBD_REP_ERR_UNKNOWN;
	return rep;
}

/* GO and EXPORT_NAME: base:allocation stays selected only for the
 * export SET_META_CONTEXT named (proto.md). */
static void bind_export(struct gw_hs *hs)
{
	if (hs->meta_selected && strcmp(hs->meta_export, hs->name) != 0)
		hs->meta_selected = false;
	hs->phase = PH_READY;
}

/* ---- NBD_OPT_INFO / NBD_OPT_GO ---- */

static void send_info(struct gw_hs *hs, uint16_t type, const void *data,
		      size_t len)
{
	uint8_t t[2];

	gw_put16(t, type);
	reply_hdr(hs, NBD_REP_INFO, 2 + len);
	send_bytes(hs, t, 2);
	send_bytes(hs, data, len);
}

static enum gw_hs_event finish_info(struct gw_hs *hs)
{
	struct gw_export *e = &hs->exp;
	uint8_t b[12];
	uint32_t rep;

	rep = lookup(hs, hs->opt == NBD_OPT_GO, e);
	if (rep) {
		send_error(hs, rep, hs->msg);
		next_option(hs);
		return GW_HS_MORE;
	}
	complete_export(hs, e);

	gw_put64(b, e->size);
	gw_put16(b + 8, e->tflags);
	send_info(hs, NBD_INFO_EXPORT, b, 10);
	/* Always advertised, never required: the kernel client never asks
	 * but qemu and libnbd honour it, and the preferred size is what
	 * makes them send extent-sized writes. */
	gw_put32(b, e->min_block);
	gw_put32(b + 4, e->pref_block);
	gw_put32(b + 8, e->max_block);
	send_info(hs, NBD_INFO_BLOCK_SIZE, b, 12);
	if (hs->info_mask & (1u << NBD_INFO_NAME))
		send_info(hs, NBD_INFO_NAME, hs->name, hs->name_len);
	if ((hs->info_mask & (1u << NBD_INFO_DESCRIPTION)) && e->description[0])
		send_info(hs, NBD_INFO_DESCRIPTION, e->description,
			  strlen(e->description));
	send_ack(hs);

	if (hs->opt == NBD_OPT_GO) {
		bind_export(hs);
		return GW_HS_READY;
	}
	next_option(hs);
	return GW_HS_MORE;
}

static enum gw_hs_event on_info_count(struct gw_hs *hs)
{
	hs->count = gw_get16(hs->scratch);
	hs->info_mask = 0;
	if (hs->remain != 2 * hs->count)
		return fail(hs, NBD_REP_ERR_INVALID,
			    "number of info requests inconsistent with "
			    "option length");
	if (hs->count == 0)
		return finish_info(hs);
	hs->step = ST_INFO;
	expect(hs, hs->scratch, 2, 2);
	return GW_HS_MORE;
}

static enum gw_hs_event on_info_request(struct gw_hs *hs)
{
	uint16_t t = gw_get16(hs->scratch);

	/* Unknown info types are ignored, as proto.md requires. */
	if (t < 32)
		hs->info_mask |= 1u << t;
	if (--hs->count == 0)
		return finish_info(hs);
	expect(hs, hs->scratch, 2, 2);
	return GW_HS_MORE;
}

/* ---- NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT ---- */

static bool query_is(const struct gw_hs *hs, const char *s)
{
	size_t n = strlen(s);

	return hs->query_len == n && memcmp(hs->query, s, n) == 0;
}

static void match_query(struct gw_hs *hs)
{
	/* base:allocation is the only context.  LIST also takes the bare
	 * namespace "base:" to mean every context in it; SET only selects
	 * by exact name.  Anything else selects nothing and is no error. */
	if (query_is(hs, NBD_META_BASE_ALLOCATION) ||
	    (hs->opt == NBD_OPT_LIST_META_CONTEXT && query_is(hs, "base:")))
		hs->meta_hit = true;
}

static void send_meta_context(struct gw_hs *hs, uint32_t id)
{
	static const char ctx[] = NBD_META_BASE_ALLOCATION;
	uint8_t b[4];

	gw_put32(b, id);
	reply_hdr(hs, NBD_REP_META_CONTEXT, 4 + sizeof(ctx) - 1);
	send_bytes(hs, b, 4);
	send_bytes(hs, ctx, sizeof(ctx) - 1);
}

static enum gw_hs_event finish_meta(struct gw_hs *hs)
{
	struct gw_export e;
	uint32_t rep;

	if (hs->remain)
		return fail(hs, NBD_REP_ERR_INVALID,
			    "trailing data after the meta context queries");
	rep = lookup(hs, false, &e);
	if (rep) {
		send_error(hs, rep, hs->msg);
	} else if (hs->opt == NBD_OPT_LIST_META_CONTEXT) {
		/* The id in LIST replies is reserved: proto.md says 0. */
		if (!hs->had_queries || hs->meta_hit)
			send_meta_context(hs, 0);
		send_ack(hs);
	} else {
		if (hs->meta_hit) {
			send_meta_context(hs, GW_NBD_META_ID_BASE_ALLOCATION);
			hs->meta_selected = true;
			memcpy(hs->meta_export, hs->name, hs->name_len + 1);
		}
		send_ack(hs);
	}
	next_option(hs);
	return GW_HS_MORE;
}

static enum gw_hs_event on_query_count(struct gw_hs *hs)
{
	hs->count = gw_get32(hs->scratch);
	hs->had_queries = hs->count != 0;
	hs->meta_hit = false;
	if (hs->count > hs->remain / 4)
		return fail(hs, NBD_REP_ERR_INVALID,
			    "number of queries inconsistent with option "
			    "length");
	if (hs->count == 0)
		return finish_meta(hs);
	hs->step = ST_QUERY_LEN;
	expect(hs, hs->scratch, 4, 4);
	return GW_HS_MORE;
}

static enum gw_hs_event on_query_len(struct gw_hs *hs)
{
	uint32_t len = gw_get32(hs->scratch);

	/* Each query still to come needs at least its length field. */
	if (len > hs->remain - 4 * (hs->count - 1))
		return fail(hs, NBD_REP_ERR_INVALID,
			    "query length inconsistent with option length");
	if (len > NBD_MAX_STRING)
		return fail(hs, NBD_REP_ERR_INVALID, "query too long");
	hs->query_len = len;
	hs->step = ST_QUERY;
	expect(hs, hs->query, sizeof(hs->query), len);
	return GW_HS_MORE;
}

static enum gw_hs_event on_query(struct gw_hs *hs)
{
	match_query(hs);
	if (--hs->count == 0)
		return finish_meta(hs);
	hs->step = ST_QUERY_LEN;
	expect(hs, hs->scratch, 4, 4);
	return GW_HS_MORE;
}

/* ---- export names (INFO, GO and the meta context options) ---- */

static enum gw_hs_event on_name_len(struct gw_hs *hs)
{
	uint32_t len = gw_get32(hs->scratch);
	/* What must follow the name: u16 count for INFO/GO, u32 count for
	 * the meta options.  The option header check made remain >= tail. */
	uint32_t tail =
		(hs->opt == NBD_OPT_INFO || hs->opt == NBD_OPT_GO) ? 2 : 4;

	if (len > hs->remain - tail)
		return fail(hs, NBD_REP_ERR_INVALID,
			    "export name length inconsistent with option "
			    "length");
	if (len > NBD_MAX_STRING)
		return fail(hs, NBD_REP_ERR_INVALID, "export name too long");
	hs->name_len = len;
	hs->step = ST_NAME;
	expect(hs, hs->name, NBD_MAX_STRING, len);
	return GW_HS_MORE;
}

/* A NUL inside a name would make the C string the callbacks see name a
 * different export than the client asked for. */
static bool name_ok(struct gw_hs *hs)
{
	hs->name[hs->name_len] = '\0';
	return memchr(hs->name, '\0', hs->name_len) == NULL;
}

static enum gw_hs_event on_name(struct gw_hs *hs)
{
	if (!name_ok(hs))
		return fail(hs, NBD_REP_ERR_INVALID,
			    "export name contains a NUL byte");
	if (hs->opt == NBD_OPT_INFO || hs->opt == NBD_OPT_GO) {
		hs->step = ST_NINFO;
		expect(hs, hs->scratch, 2, 2);
	} else {
		hs->step = ST_NQUERIES;
		expect(hs, hs->scratch, 4, 4);
	}
	return GW_HS_MORE;
}

/* NBD_OPT_EXPORT_NAME cannot carry an error: refusal is a hard close. */
static enum gw_hs_event finish_export_name(struct gw_hs *hs)
{
	uint8_t b[NBD_EXPORT_NAME_REPLY_SIZE] = {0};
	struct gw_export *e = &hs->exp;

	if (!name_ok(hs))
		return closing(hs, "NBD_OPT_EXPORT_NAME: name contains a NUL "
				   "byte");
	if (lookup(hs, true, e)) {
		snprintf(hs->reason_buf, sizeof(hs->reason_buf),
			 "NBD_OPT_EXPORT_NAME refused: %s", hs->msg);
		return closing(hs, hs->reason_buf);
	}
	complete_export(hs, e);
	gw_put64(b, e->size);
	gw_put16(b + 8, e->tflags);
	send_bytes(hs, b, hs->no_zeroes ? 10 : NBD_EXPORT_NAME_REPLY_SIZE);
	bind_export(hs);
	return GW_HS_READY;
}

/* ---- option dispatch ---- */

/* Field handlers inside an option payload; each one says what comes
 * next (GW_HS_MORE: another field was asked for). */
static enum gw_hs_event (*const step_fn[])(struct gw_hs *hs) = {
	[ST_SKIP] = finish_skip,
	[ST_NAME_LEN] = on_name_len,
	[ST_NAME] = on_name,
	[ST_NINFO] = on_info_count,
	[ST_INFO] = on_info_request,
	[ST_NQUERIES] = on_query_count,
	[ST_QUERY_LEN] = on_query_len,
	[ST_QUERY] = on_query,
	[ST_EXPORT_NAME] = finish_export_name,
};

/* FORCEDTLS: before TLS only STARTTLS and ABORT do anything. */
static enum gw_hs_event opt_before_tls(struct gw_hs *hs)
{
	if (hs->opt == NBD_OPT_EXPORT_NAME)
		return closing(hs, "NBD_OPT_EXPORT_NAME before TLS");
	/* The client is unauthenticated: a long payload is not worth
	 * reading, even by counting. */
	if (hs->remain > GW_HS_MAX_OPT_PRE_TLS) {
		snprintf(hs->reason_buf, sizeof(hs->reason_buf),
			 "%s with %u bytes of data before TLS (limit %u)",
			 gw_nbd_opt_name(hs->opt), hs->remain,
			 GW_HS_MAX_OPT_PRE_TLS);
		return closing(hs, hs->reason_buf);
	}
	if (hs->opt != NBD_OPT_STARTTLS)
		return fail(hs, NBD_REP_ERR_TLS_REQD,
			    "TLS is required: send NBD_OPT_STARTTLS first");
	if (hs->remain)
		return fail(hs, NBD_REP_ERR_INVALID,
			    "NBD_OPT_STARTTLS takes no data");
	send_ack(hs);
	hs->phase = PH_WAIT_TLS;
	return GW_HS_STARTTLS;
}

/* Handed to ops->list: one NBD_REP_SERVER per export. */
static int list_emit(struct gw_hs *hs, const char *name, const char *desc)
{
	uint8_t b[4];
	size_t nlen, dlen;

	if (!hs->in_list || !name)
		return -EINVAL;
	nlen = strlen(name);
	if (nlen > NBD_MAX_STRING)
		return -EINVAL;
	dlen = desc ? strnlen(desc, NBD_MAX_STRING) : 0;
	gw_put32(b, (uint32_t)nlen);
	reply_hdr(hs, NBD_REP_SERVER, 4 + nlen + dlen);
	send_bytes(hs, b, 4);
	send_bytes(hs, name, nlen);
	return send_bytes(hs, desc, dlen);
}

/* Options with no payload that are answered on the spot. */
static enum gw_hs_event opt_simple(struct gw_hs *hs)
{
	uint32_t rep;

	if (hs->remain) {
		snprintf(hs->msg, sizeof(hs->msg), "%s takes no data",
			 gw_nbd_opt_name(hs->opt));
		return fail(hs, NBD_REP_ERR_INVALID, hs->msg);
	}
	if (hs->opt == NBD_OPT_STRUCTURED_REPLY) {
		if (hs->structured)
			return fail(hs, NBD_REP_ERR_INVALID,
				    "structured replies already negotiated");
		hs->structured = true;
		send_ack(hs);
	} else {
		hs->in_list = true;
		rep = hs->ops->list(hs->arg, hs, list_emit);
		hs->in_list = false;
		if (rep)
			send_error(hs, rep, "cannot list exports");
		else
			send_ack(hs);
	}
	next_option(hs);
	return GW_HS_MORE;
}

static enum gw_hs_event opt_after_tls(struct gw_hs *hs)
{
	switch (hs->opt) {
	case NBD_OPT_EXPORT_NAME:
		if (hs->remain > NBD_MAX_STRING)
			return closing(hs, "NBD_OPT_EXPORT_NAME: export name "
					   "too long");
		hs->name_len = hs->remain;
		hs->step = ST_EXPORT_NAME;
		expect(hs, hs->name, NBD_MAX_STRING, hs->remain);
		return GW_HS_MORE;
	case NBD_OPT_STARTTLS:
	case NBD_OPT_LIST:
	case NBD_OPT_STRUCTURED_REPLY:
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		break;
	default:
		/* EXTENDED_HEADERS too: clients fall back when refused. */
		if (strcmp(gw_nbd_opt_name(hs->opt), "NBD_OPT_?") == 0)
			snprintf(hs->msg, sizeof(hs->msg),
				 "option %u is not supported", hs->opt);
		else
			snprintf(hs->msg, sizeof(hs->msg),
				 "%s is not supported",
				 gw_nbd_opt_name(hs->opt));
		return fail(hs, NBD_REP_ERR_UNSUP, hs->msg);
	}

	/* A failed SET_META_CONTEXT must not leave an older selection
	 * usable, so any SET clears it before anything is checked. */
	if (hs->opt == NBD_OPT_SET_META_CONTEXT)
		hs->meta_selected = false;
	if (hs->remain > GW_HS_MAX_OPT)
		return fail(hs, NBD_REP_ERR_TOO_BIG, "option data too large");

	switch (hs->opt) {
	case NBD_OPT_STARTTLS:
		return fail(hs, NBD_REP_ERR_INVALID, "TLS is already active");
	case NBD_OPT_LIST:
	case NBD_OPT_STRUCTURED_REPLY:
		return opt_simple(hs);
	case NBD_OPT_SET_META_CONTEXT:
		if (!hs->structured)
			return fail(hs, NBD_REP_ERR_INVALID,
				    "NBD_OPT_SET_META_CONTEXT needs "
				    "NBD_OPT_STRUCTURED_REPLY first");
		/* fall through */
	case NBD_OPT_LIST_META_CONTEXT:
		if (hs->remain < 8)
			return fail(hs, NBD_REP_ERR_INVALID,
				    "option data too short");
		break;
	default: /* INFO, GO */
		if (hs->remain < 6)
			return fail(hs, NBD_REP_ERR_INVALID,
				    "option data too short");
		break;
	}
	hs->step = ST_NAME_LEN;
	expect(hs, hs->scratch, 4, 4);
	return GW_HS_MORE;
}

static enum gw_hs_event on_opt_header(struct gw_hs *hs)
{
	if (gw_get64(hs->scratch) != NBD_IHAVEOPT)
		return closing(hs, "bad option magic");
	hs->opt = gw_get32(hs->scratch + 8);
	hs->remain = gw_get32(hs->scratch + 12);
	hs->phase = PH_OPT_DATA;
	/* Any payload is ignored: the connection is closed right after. */
	if (hs->opt == NBD_OPT_ABORT) {
		send_ack(hs);
		return closing(hs, "client sent NBD_OPT_ABORT");
	}
	return hs->tls ? opt_after_tls(hs) : opt_before_tls(hs);
}

static enum gw_hs_event on_client_flags(struct gw_hs *hs)
{
	uint32_t f = gw_get32(hs->scratch);

	/* proto.md: the server MUST close on flags it does not know. */
	if (f & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
		snprintf(hs->reason_buf, sizeof(hs->reason_buf),
			 "client flags 0x%08x have unknown bits", f);
		return closing(hs, hs->reason_buf);
	}
	if (!(f & NBD_FLAG_C_FIXED_NEWSTYLE))
		return closing(hs, "client did not set "
				   "NBD_FLAG_C_FIXED_NEWSTYLE");
	hs->no_zeroes = (f & NBD_FLAG_C_NO_ZEROES) != 0;
	next_option(hs);
	return GW_HS_MORE;
}

static enum gw_hs_event on_field(struct gw_hs *hs)
{
	switch (hs->phase) {
	case PH_CFLAGS:
		return on_client_flags(hs);
	case PH_OPT_HDR:
		return on_opt_header(hs);
	case PH_OPT_DATA:
		return step_fn[hs->step](hs);
	default:
		return closing(hs, "internal error: bad handshake phase");
	}
}

/* ---- public API ---- */

int gw_hs_new(const struct gw_hs_ops *ops, void *arg, struct gw_hs **out)
{
	struct gw_hs *hs;

	*out = NULL;
	if (!ops || !ops->send || !ops->list || !ops->lookup)
		return -EINVAL;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	hs->ops = ops;
	hs->arg = arg;
	hs->phase = PH_INIT;
	*out = hs;
	return 0;
}

void gw_hs_free(struct gw_hs *hs)
{
	free(hs);
}

int gw_hs_start(struct gw_hs *hs)
{
	uint8_t g[NBD_GREETING_SIZE];
	int r;

	if (hs->phase != PH_INIT)
		return -EINVAL;
	gw_put64(g, NBD_MAGIC);
	gw_put64(g + 8, NBD_IHAVEOPT);
	gw_put16(g + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	r = send_bytes(hs, g, sizeof(g));
	if (r < 0) {
		closing(hs, "cannot send the greeting");
		return r;
	}
	hs->phase = PH_CFLAGS;
	expect(hs, hs->scratch, 4, 4);
	return 0;
}

static enum gw_hs_event to_event(struct gw_hs *hs, enum gw_hs_event ev)
{
	/* A reply that could not be queued ends the handshake whatever the
	 * option achieved: the client would wait for it forever. */
	if (hs->send_err && ev != GW_HS_CLOSE)
		return closing(hs, "cannot queue a handshake reply");
	return ev;
}

enum gw_hs_event gw_hs_feed(struct gw_hs *hs, const uint8_t *buf, size_t len,
			    size_t *consumed)
{
	size_t off = 0, take, keep;
	enum gw_hs_event ev;

	*consumed = 0;
	switch (hs->phase) {
	case PH_INIT:
		closing(hs, "bytes received before the greeting was sent");
		return GW_HS_CLOSE;
	case PH_WAIT_TLS:
		/* Plaintext after STARTTLS would be option injection
		 * (CVE-2021-3716): the connection must hand it to TLS. */
		closing(hs, "plaintext received after NBD_OPT_STARTTLS");
		return GW_HS_CLOSE;
	case PH_READY:
		return GW_HS_READY;
	case PH_CLOSED:
		return GW_HS_CLOSE;
	default:
		break;
	}
	for (;;) {
		if (hs->want == 0) {
			ev = on_field(hs);
			if (ev != GW_HS_MORE || hs->send_err) {
				*consumed = off;
				return to_event(hs, ev);
			}
			continue;
		}
		if (off == len)
			break;
		take = len - off < hs->want ? len - off : hs->want;
		if (hs->got < hs->cap) {
			keep = hs->cap - hs->got < take ? hs->cap - hs->got
							: take;
			memcpy(hs->dst + hs->got, buf + off, keep);
		}
		hs->got += take;
		hs->want -= take;
		off += take;
		if (hs->phase == PH_OPT_DATA)
			hs->remain -= (uint32_t)take;
	}
	*consumed = off;
	return GW_HS_MORE;
}

void gw_hs_tls_up(struct gw_hs *hs)
{
	/* Only meaningful right after STARTTLS; anywhere else it would
	 * unlock the post-TLS options over plaintext. */
	if (hs->phase != PH_WAIT_TLS)
		return;
	forget_negotiation(hs);
	hs->tls = true;
	next_option(hs);
}

const char *gw_hs_reason(const struct gw_hs *hs)
{
	return hs->reason ? hs->reason : "";
}

const struct gw_export *gw_hs_export(const struct gw_hs *hs)
{
	return &hs->exp;
}

const char *gw_hs_export_name(const struct gw_hs *hs)
{
	return hs->name;
}

bool gw_hs_structured(const struct gw_hs *hs)
{
	return hs->structured;
}

bool gw_hs_base_allocation(const struct gw_hs *hs, uint32_t *id)
{
	if (!hs->meta_selected)
		return false;
	if (id)
		*id = GW_NBD_META_ID_BASE_ALLOCATION;
	return true;
}
