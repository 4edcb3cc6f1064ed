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
 *
 * This file holds field collection, replies, the option dispatch and the
 * public API; nbd-options.c the options that name an export; nbd-hs.h
 * the state they share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd-hs.h"

/* ---- field collection and replies ---- */

void gw_hs__expect(struct gw_hs *hs, void *dst, size_t cap, size_t want)
{
	hs->dst = dst;
	hs->cap = cap;
	hs->got = 0;
	hs->want = want;
}

void gw_hs__next_option(struct gw_hs *hs)
{
	hs->phase = PH_OPT_HDR;
	gw_hs__expect(hs, hs->scratch, NBD_OPTION_HDR_SIZE,
		      NBD_OPTION_HDR_SIZE);
}

enum gw_hs_event gw_hs__closing(struct gw_hs *hs, const char *reason)
{
	hs->phase = PH_CLOSED;
	hs->reason = reason;
	return GW_HS_CLOSE;
}

int gw_hs__send_bytes(struct gw_hs *hs, const void *buf, size_t len)
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
int gw_hs__reply_hdr(struct gw_hs *hs, uint32_t type, size_t len)
{
	uint8_t h[NBD_OPTION_REPLY_HDR_SIZE];

	gw_put64(h, NBD_REP_MAGIC);
	gw_put32(h + 8, hs->opt);
	gw_put32(h + 12, type);
	gw_put32(h + 16, (uint32_t)len);
	return gw_hs__send_bytes(hs, h, sizeof(h));
}

int gw_hs__send_ack(struct gw_hs *hs)
{
	return gw_hs__reply_hdr(hs, NBD_REP_ACK, 0);
}

/* Every error reply carries a message: clients show it to the user. */
int gw_hs__send_error(struct gw_hs *hs, uint32_t rep, const char *msg)
{
	size_t len;

	if (!msg || !msg[0])
		msg = gw_nbd_rep_name(rep);
	len = strnlen(msg, GW_HS_MSG_MAX - 1);
	if (gw_hs__reply_hdr(hs, rep, len) < 0)
		return hs->send_err;
	return gw_hs__send_bytes(hs, msg, len);
}

/* Skips what is left of the option, then replies with the error.  The
 * message must outlive the skip: a static string or hs->msg. */
enum gw_hs_event gw_hs__fail(struct gw_hs *hs, uint32_t rep, const char *msg)
{
	if (msg != hs->msg)
		snprintf(hs->msg, sizeof(hs->msg), "%s", msg);
	hs->pend_rep = rep;
	hs->step = ST_SKIP;
	gw_hs__expect(hs, NULL, 0, hs->remain);
	return GW_HS_MORE;
}

static enum gw_hs_event finish_skip(struct gw_hs *hs)
{
	gw_hs__send_error(hs, hs->pend_rep, hs->msg);
	gw_hs__next_option(hs);
	return GW_HS_MORE;
}

/* ---- option dispatch ---- */

/* Field handlers inside an option payload; each one says what comes
 * next (GW_HS_MORE: another field was asked for). */
static enum gw_hs_event (*const step_fn[])(struct gw_hs *hs) = {
	[ST_SKIP] = finish_skip,
	[ST_NAME_LEN] = gw_hs__on_name_len,
	[ST_NAME] = gw_hs__on_name,
	[ST_NINFO] = gw_hs__on_info_count,
	[ST_INFO] = gw_hs__on_info_request,
	[ST_NQUERIES] = gw_hs__on_query_count,
	[ST_QUERY_LEN] = gw_hs__on_query_len,
	[ST_QUERY] = gw_hs__on_query,
	[ST_EXPORT_NAME] = gw_hs__finish_export_name,
};

/* FORCEDTLS: before TLS only STARTTLS and ABORT do anything. */
static enum gw_hs_event opt_before_tls(struct gw_hs *hs)
{
	if (hs->opt == NBD_OPT_EXPORT_NAME)
		return gw_hs__closing(hs, "NBD_OPT_EXPORT_NAME before TLS");
	/* The client is unauthenticated: a long payload is not worth
	 * reading, even by counting. */
	if (hs->remain > GW_HS_MAX_OPT_PRE_TLS) {
		snprintf(hs->reason_buf, sizeof(hs->reason_buf),
			 "%s with %u bytes of data before TLS (limit %u)",
			 gw_nbd_opt_name(hs->opt), hs->remain,
			 GW_HS_MAX_OPT_PRE_TLS);
		return gw_hs__closing(hs, hs->reason_buf);
	}
	if (hs->opt != NBD_OPT_STARTTLS)
		return gw_hs__fail(
			hs, NBD_REP_ERR_TLS_REQD,
			"TLS is required: send NBD_OPT_STARTTLS first");
	if (hs->remain)
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
				   "NBD_OPT_STARTTLS takes no data");
	gw_hs__send_ack(hs);
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
	gw_hs__reply_hdr(hs, NBD_REP_SERVER, 4 + nlen + dlen);
	gw_hs__send_bytes(hs, b, 4);
	gw_hs__send_bytes(hs, name, nlen);
	return gw_hs__send_bytes(hs, desc, dlen);
}

/* Options with no payload that are answered on the spot. */
static enum gw_hs_event opt_simple(struct gw_hs *hs)
{
	uint32_t rep;

	if (hs->remain) {
		snprintf(hs->msg, sizeof(hs->msg), "%s takes no data",
			 gw_nbd_opt_name(hs->opt));
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID, hs->msg);
	}
	if (hs->opt == NBD_OPT_STRUCTURED_REPLY) {
		if (hs->structured)
			return gw_hs__fail(
				hs, NBD_REP_ERR_INVALID,
				"structured replies already negotiated");
		hs->structured = true;
		gw_hs__send_ack(hs);
	} else {
		hs->in_list = true;
		rep = hs->ops->list(hs->arg, hs, list_emit);
		hs->in_list = false;
		if (rep)
			gw_hs__send_error(hs, rep, "cannot list exports");
		else
			gw_hs__send_ack(hs);
	}
	gw_hs__next_option(hs);
	return GW_HS_MORE;
}

static enum gw_hs_event opt_after_tls(struct gw_hs *hs)
{
	switch (hs->opt) {
	case NBD_OPT_EXPORT_NAME:
		if (hs->remain > NBD_MAX_STRING)
			return gw_hs__closing(
				hs, "NBD_OPT_EXPORT_NAME: export name "
				    "too long");
		hs->name_len = hs->remain;
		hs->step = ST_EXPORT_NAME;
		gw_hs__expect(hs, hs->name, NBD_MAX_STRING, hs->remain);
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
		return gw_hs__fail(hs, NBD_REP_ERR_UNSUP, hs->msg);
	}

	/* A failed SET_META_CONTEXT must not leave an older selection
	 * usable, so any SET clears it before anything is checked. */
	if (hs->opt == NBD_OPT_SET_META_CONTEXT)
		hs->meta_selected = false;
	if (hs->remain > GW_HS_MAX_OPT)
		return gw_hs__fail(hs, NBD_REP_ERR_TOO_BIG,
				   "option data too large");

	switch (hs->opt) {
	case NBD_OPT_STARTTLS:
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
				   "TLS is already active");
	case NBD_OPT_LIST:
	case NBD_OPT_STRUCTURED_REPLY:
		return opt_simple(hs);
	case NBD_OPT_SET_META_CONTEXT:
		if (!hs->structured)
			return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
					   "NBD_OPT_SET_META_CONTEXT needs "
					   "NBD_OPT_STRUCTURED_REPLY first");
		/* fall through */
	case NBD_OPT_LIST_META_CONTEXT:
		if (hs->remain < 8)
			return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
					   "option data too short");
		break;
	default: /* INFO, GO */
		if (hs->remain < 6)
			return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
					   "option data too short");
		break;
	}
	hs->step = ST_NAME_LEN;
	gw_hs__expect(hs, hs->scratch, 4, 4);
	return GW_HS_MORE;
}

static enum gw_hs_event on_opt_header(struct gw_hs *hs)
{
	if (gw_get64(hs->scratch) != NBD_IHAVEOPT)
		return gw_hs__closing(hs, "bad option magic");
	hs->opt = gw_get32(hs->scratch + 8);
	hs->remain = gw_get32(hs->scratch + 12);
	hs->phase = PH_OPT_DATA;
	/* Any payload is ignored: the connection is closed right after. */
	if (hs->opt == NBD_OPT_ABORT) {
		gw_hs__send_ack(hs);
		return gw_hs__closing(hs, "client sent NBD_OPT_ABORT");
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
		return gw_hs__closing(hs, hs->reason_buf);
	}
	if (!(f & NBD_FLAG_C_FIXED_NEWSTYLE))
		return gw_hs__closing(hs, "client did not set "
					  "NBD_FLAG_C_FIXED_NEWSTYLE");
	hs->no_zeroes = (f & NBD_FLAG_C_NO_ZEROES) != 0;
	gw_hs__next_option(hs);
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
		return gw_hs__closing(hs,
				      "internal error: bad handshake phase");
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
	r = gw_hs__send_bytes(hs, g, sizeof(g));
	if (r < 0) {
		gw_hs__closing(hs, "cannot send the greeting");
		return r;
	}
	hs->phase = PH_CFLAGS;
	gw_hs__expect(hs, hs->scratch, 4, 4);
	return 0;
}

static enum gw_hs_event to_event(struct gw_hs *hs, enum gw_hs_event ev)
{
	/* A reply that could not be queued ends the handshake whatever the
	 * option achieved: the client would wait for it forever. */
	if (hs->send_err && ev != GW_HS_CLOSE)
		return gw_hs__closing(hs, "cannot queue a handshake reply");
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
		gw_hs__closing(hs,
			       "bytes received before the greeting was sent");
		return GW_HS_CLOSE;
	case PH_WAIT_TLS:
		/* Plaintext after STARTTLS would be option injection
		 * (CVE-2021-3716): the connection must hand it to TLS. */
		gw_hs__closing(hs, "plaintext received after NBD_OPT_STARTTLS");
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
	gw_hs__forget_negotiation(hs);
	hs->tls = true;
	gw_hs__next_option(hs);
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
