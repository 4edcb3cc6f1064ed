/* The options of the handshake that name an export: NBD_OPT_INFO and
 * NBD_OPT_GO, NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT,
 * NBD_OPT_EXPORT_NAME.  Each handler below collects one field of the
 * option's payload (nbd-handshake.c feeds them through its step table)
 * and says what comes next; the answer is sent once the whole payload
 * has been consumed.
 */
#include <stdio.h>
#include <string.h>

#include "nbd-hs.h"

/* ---- negotiated state ---- */

void gw_hs__forget_negotiation(struct gw_hs *hs)
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
	gw_hs__reply_hdr(hs, NBD_REP_INFO, 2 + len);
	gw_hs__send_bytes(hs, t, 2);
	gw_hs__send_bytes(hs, data, len);
}

static enum gw_hs_event finish_info(struct gw_hs *hs)
{
	struct gw_export *e = &hs->exp;
	uint8_t b[12];
	uint32_t rep;

	rep = lookup(hs, hs->opt == NBD_OPT_GO, e);
	if (rep) {
		gw_hs__send_error(hs, rep, hs->msg);
		gw_hs__next_option(hs);
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
	gw_hs__send_ack(hs);

	if (hs->opt == NBD_OPT_GO) {
		bind_export(hs);
		return GW_HS_READY;
	}
	gw_hs__next_option(hs);
	return GW_HS_MORE;
}

enum gw_hs_event gw_hs__on_info_count(struct gw_hs *hs)
{
	hs->count = gw_get16(hs->scratch);
	hs->info_mask = 0;
	if (hs->remain != 2 * hs->count)
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
				   "number of info requests inconsistent with "
				   "option length");
	if (hs->count == 0)
		return finish_info(hs);
	hs->step = ST_INFO;
	gw_hs__expect(hs, hs->scratch, 2, 2);
	return GW_HS_MORE;
}

enum gw_hs_event gw_hs__on_info_request(struct gw_hs *hs)
{
	uint16_t t = gw_get16(hs->scratch);

	/* Unknown info types are ignored, as proto.md requires. */
	if (t < 32)
		hs->info_mask |= 1u << t;
	if (--hs->count == 0)
		return finish_info(hs);
	gw_hs__expect(hs, hs->scratch, 2, 2);
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
	gw_hs__reply_hdr(hs, NBD_REP_META_CONTEXT, 4 + sizeof(ctx) - 1);
	gw_hs__send_bytes(hs, b, 4);
	gw_hs__send_bytes(hs, ctx, sizeof(ctx) - 1);
}

static enum gw_hs_event finish_meta(struct gw_hs *hs)
{
	struct gw_export e;
	uint32_t rep;

	if (hs->remain)
		return gw_hs__fail(
			hs, NBD_REP_ERR_INVALID,
			"trailing data after the meta context queries");
	rep = lookup(hs, false, &e);
	if (rep) {
		gw_hs__send_error(hs, rep, hs->msg);
	} else if (hs->opt == NBD_OPT_LIST_META_CONTEXT) {
		/* The id in LIST replies is reserved: proto.md says 0. */
		if (!hs->had_queries || hs->meta_hit)
			send_meta_context(hs, 0);
		gw_hs__send_ack(hs);
	} else {
		if (hs->meta_hit) {
			send_meta_context(hs, GW_NBD_META_ID_BASE_ALLOCATION);
			hs->meta_selected = true;
			memcpy(hs->meta_export, hs->name, hs->name_len + 1);
		}
		gw_hs__send_ack(hs);
	}
	gw_hs__next_option(hs);
	return GW_HS_MORE;
}

enum gw_hs_event gw_hs__on_query_count(struct gw_hs *hs)
{
	hs->count = gw_get32(hs->scratch);
	hs->had_queries = hs->count != 0;
	hs->meta_hit = false;
	if (hs->count > hs->remain / 4)
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
				   "number of queries inconsistent with option "
				   "length");
	if (hs->count == 0)
		return finish_meta(hs);
	hs->step = ST_QUERY_LEN;
	gw_hs__expect(hs, hs->scratch, 4, 4);
	return GW_HS_MORE;
}

enum gw_hs_event gw_hs__on_query_len(struct gw_hs *hs)
{
	uint32_t len = gw_get32(hs->scratch);

	/* Each query still to come needs at least its length field. */
	if (len > hs->remain - 4 * (hs->count - 1))
		return gw_hs__fail(
			hs, NBD_REP_ERR_INVALID,
			"query length inconsistent with option length");
	if (len > NBD_MAX_STRING)
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID, "query too long");
	hs->query_len = len;
	hs->step = ST_QUERY;
	gw_hs__expect(hs, hs->query, sizeof(hs->query), len);
	return GW_HS_MORE;
}

enum gw_hs_event gw_hs__on_query(struct gw_hs *hs)
{
	match_query(hs);
	if (--hs->count == 0)
		return finish_meta(hs);
	hs->step = ST_QUERY_LEN;
	gw_hs__expect(hs, hs->scratch, 4, 4);
	return GW_HS_MORE;
}

/* ---- export names (INFO, GO and the meta context options) ---- */

enum gw_hs_event gw_hs__on_name_len(struct gw_hs *hs)
{
	uint32_t len = gw_get32(hs->scratch);
	/* What must follow the name: u16 count for INFO/GO, u32 count for
	 * the meta options.  The option header check made remain >= tail. */
	uint32_t tail =
		(hs->opt == NBD_OPT_INFO || hs->opt == NBD_OPT_GO) ? 2 : 4;

	if (len > hs->remain - tail)
		return gw_hs__fail(
			hs, NBD_REP_ERR_INVALID,
			"export name length inconsistent with option "
			"length");
	if (len > NBD_MAX_STRING)
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
				   "export name too long");
	hs->name_len = len;
	hs->step = ST_NAME;
	gw_hs__expect(hs, hs->name, NBD_MAX_STRING, len);
	return GW_HS_MORE;
}

/* A NUL inside a name would make the C string the callbacks see name a
 * different export than the client asked for. */
static bool name_ok(struct gw_hs *hs)
{
	hs->name[hs->name_len] = '\0';
	return memchr(hs->name, '\0', hs->name_len) == NULL;
}

enum gw_hs_event gw_hs__on_name(struct gw_hs *hs)
{
	if (!name_ok(hs))
		return gw_hs__fail(hs, NBD_REP_ERR_INVALID,
				   "export name contains a NUL byte");
	if (hs->opt == NBD_OPT_INFO || hs->opt == NBD_OPT_GO) {
		hs->step = ST_NINFO;
		gw_hs__expect(hs, hs->scratch, 2, 2);
	} else {
		hs->step = ST_NQUERIES;
		gw_hs__expect(hs, hs->scratch, 4, 4);
	}
	return GW_HS_MORE;
}

/* NBD_OPT_EXPORT_NAME cannot carry an error: refusal is a hard close. */
enum gw_hs_event gw_hs__finish_export_name(struct gw_hs *hs)
{
	uint8_t b[NBD_EXPORT_NAME_REPLY_SIZE] = {0};
	struct gw_export *e = &hs->exp;

	if (!name_ok(hs))
		return gw_hs__closing(
			hs, "NBD_OPT_EXPORT_NAME: name contains a NUL "
			    "byte");
	if (lookup(hs, true, e)) {
		snprintf(hs->reason_buf, sizeof(hs->reason_buf),
			 "NBD_OPT_EXPORT_NAME refused: %s", hs->msg);
		return gw_hs__closing(hs, hs->reason_buf);
	}
	complete_export(hs, e);
	gw_put64(b, e->size);
	gw_put16(b + 8, e->tflags);
	gw_hs__send_bytes(hs, b,
			  hs->no_zeroes ? 10 : NBD_EXPORT_NAME_REPLY_SIZE);
	bind_export(hs);
	return GW_HS_READY;
}
