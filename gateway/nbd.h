/* Internal: the NBD protocol machines of the gateway.  Pure code: no
 * sockets, no TLS, no storage.  The connection (conn.c) feeds them the
 * plaintext bytes it received and sends what they ask it to send.
 *
 * nbd-proto.h   wire constants and layouts (big-endian on the wire)
 * nbd-names.c   gw_nbd_*_name(): symbols for logs
 * nbd-handshake.c  fixed-newstyle option haggling, FORCEDTLS
 * nbd-request.c    request header parsing, validation, errno mapping,
 *                  reply encoders
 */
#ifndef HAVEN_GW_NBD_H
#define HAVEN_GW_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd-proto.h"

/* ---- nbd-names.c ---- */
const char *gw_nbd_opt_name(uint32_t opt);
const char *gw_nbd_cmd_name(uint16_t cmd);
const char *gw_nbd_rep_name(uint32_t rep);
const char *gw_nbd_err_name(uint32_t err);

/* ---- nbd-handshake.c ---- */

/* What the handshake learned about an export; filled by the lookup
 * callback (size, read_only, description) and completed by the
 * handshake (flags, block sizes). */
struct gw_export {
	uint64_t size;
	bool read_only;
	uint16_t tflags; /* transmission flags, set by the handshake */
	uint32_t min_block, pref_block, max_block;
	char description[256];
};

struct gw_hs;

/* Option payload limits.  Before TLS the client is unauthenticated and
 * any option longer than this closes the connection.  After TLS, known
 * options longer than GW_HS_MAX_OPT are skipped and answered with
 * NBD_REP_ERR_TOO_BIG; unknown ones are skipped whatever their length. */
#define GW_HS_MAX_OPT_PRE_TLS 4096u
#define GW_HS_MAX_OPT 65536u
/* Longest error message the lookup/list callbacks can hand back. */
#define GW_HS_MSG_MAX 256u

/* Callbacks into the connection.  'arg' is the connection. */
struct gw_hs_ops {
	/* Queues bytes for the client (plaintext before STARTTLS, TLS
	 * after).  Returns 0 or -errno (the machine then closes). */
	int (*send)(void *arg, const void *buf, size_t len);
	/* NBD_OPT_LIST after TLS: calls emit() once per export the client
	 * may see.  Returns 0, or an NBD_REP_ERR_* to send instead. */
	uint32_t (*list)(void *arg, struct gw_hs *hs,
			 int (*emit)(struct gw_hs *hs, const char *name,
				     const char *desc));
	/* INFO (go=false), GO and EXPORT_NAME (go=true) after TLS.  Fills
	 * exp->size, exp->read_only, exp->description and the preferred
	 * block size (the disk's extent size) and returns 0; or returns an
	 * NBD_REP_ERR_* with a message for the client in msg.  With go=true
	 * a successful lookup binds the export to the connection. */
	uint32_t (*lookup)(void *arg, const char *name, bool go,
			   struct gw_export *exp, char *msg, size_t msglen);
};

enum gw_hs_event {
	GW_HS_MORE,	/* everything consumed; feed more */
	GW_HS_STARTTLS, /* ACK queued: the bytes after 'consumed' are TLS */
	GW_HS_READY,	/* transmission starts at buf + consumed */
	GW_HS_CLOSE,	/* close the connection: gw_hs_reason() says why */
};

/* Allocates a machine; the greeting is queued by gw_hs_start(). */
int gw_hs_new(const struct gw_hs_ops *ops, void *arg, struct gw_hs **out);
void gw_hs_free(struct gw_hs *hs);
int gw_hs_start(struct gw_hs *hs);
/* Feeds received bytes.  *consumed tells how many were used; with
 * GW_HS_STARTTLS / GW_HS_READY / GW_HS_CLOSE the rest is not for this
 * machine. */
enum gw_hs_event gw_hs_feed(struct gw_hs *hs, const uint8_t *buf, size_t len,
			    size_t *consumed);
/* Call once the TLS handshake succeeded: every option state negotiated
 * before is forgotten (CVE-2021-3716) and options are now accepted. */
void gw_hs_tls_up(struct gw_hs *hs);
const char *gw_hs_reason(const struct gw_hs *hs);
/* Results, valid after GW_HS_READY. */
const struct gw_export *gw_hs_export(const struct gw_hs *hs);
const char *gw_hs_export_name(const struct gw_hs *hs);
bool gw_hs_structured(const struct gw_hs *hs);
/* True when base:allocation was selected for the export; *id set. */
bool gw_hs_base_allocation(const struct gw_hs *hs, uint32_t *id);

/* ---- nbd-request.c ---- */

struct gw_req {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* Decodes a 28-byte request header.  -EPROTO on a bad magic. */
int gw_req_decode(const uint8_t hdr[NBD_REQUEST_SIZE], struct gw_req *req);

/* What the session negotiated, as the validator needs it. */
struct gw_session_caps {
	uint64_t size;
	bool read_only;
	bool structured;
	bool base_allocation;
	uint32_t max_payload;
};

enum gw_verdict {
	GW_REQ_OK,
	GW_REQ_ERROR,	   /* reply *nbd_err; a WRITE payload is drained */
	GW_REQ_DISCONNECT, /* protocol violation the spec lets us drop */
};

/* Checks a request against the session; no side effects.  On
 * GW_REQ_ERROR *nbd_err is the NBD error and *why a short reason. */
enum gw_verdict gw_req_validate(const struct gw_req *req,
				const struct gw_session_caps *caps,
				uint32_t *nbd_err, const char **why);

/* The single errno -> NBD error mapper (0 stays 0; EDQUOT and EFBIG
 * become NBD_ENOSPC; unknown values NBD_EIO). */
uint32_t gw_nbd_errno(int err);

/* Reply encoders into a caller buffer; each returns the bytes written. */
size_t gw_reply_simple(uint8_t *buf, uint64_t cookie, uint32_t err);
size_t gw_reply_chunk(uint8_t *buf, uint16_t flags, uint16_t type,
		      uint64_t cookie, uint32_t payload_len);
/* An ERROR chunk (with DONE) carrying err and a message; buf must hold
 * NBD_CHUNK_SIZE + 6 + strlen(msg) bytes (msg truncated to 4096). */
size_t gw_reply_error_chunk(uint8_t *buf, uint64_t cookie, uint32_t err,
			    const char *msg);

#endif
