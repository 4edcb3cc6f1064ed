/* Transmission-phase requests: header decoding, validation against what
 * the session negotiated, the one errno -> NBD error mapper, and reply
 * encoders.  Nothing here performs a request; gw_req_validate() only
 * decides whether one may be performed, so the connection can reject a
 * request (and drain a WRITE payload) before touching storage.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "nbd.h"

int gw_req_decode(const uint8_t hdr[NBD_REQUEST_SIZE], struct gw_req *req)
{
	if (gw_get32(hdr) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	req->flags = gw_get16(hdr + 4);
	req->type = gw_get16(hdr + 6);
	req->cookie = gw_get64(hdr + 8);
	req->offset = gw_get64(hdr + 16);
	req->length = gw_get32(hdr + 24);
	return 0;
}

/* Flags each command accepts.  FUA is accepted everywhere: proto.md
 * makes it valid on every command once NBD_FLAG_SEND_FUA is advertised,
 * and qemu-io sets it on commands that write nothing.  The others are
 * only meaningful on one command each. */
static uint16_t allowed_flags(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF;
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
		       NBD_CMD_FLAG_FAST_ZERO;
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	default:
		return NBD_CMD_FLAG_FUA;
	}
}

static const char *bad_flag_reason(uint16_t bad)
{
	if (bad & NBD_CMD_FLAG_DF)
		return "NBD_CMD_FLAG_DF is only valid on NBD_CMD_READ";
	if (bad & (NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO))
		return "NBD_CMD_FLAG_NO_HOLE and NBD_CMD_FLAG_FAST_ZERO are "
		       "only valid on NBD_CMD_WRITE_ZEROES";
	if (bad & NBD_CMD_FLAG_REQ_ONE)
		return "NBD_CMD_FLAG_REQ_ONE is only valid on "
		       "NBD_CMD_BLOCK_STATUS";
	return "unknown command flags";
}

static bool writes(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
	       type == NBD_CMD_WRITE_ZEROES;
}

static enum gw_verdict reject(uint32_t err, const char *reason,
			      uint32_t *nbd_err, const char **why)
{
	*nbd_err = err;
	*why = reason;
	return GW_REQ_ERROR;
}

/* Length and range rules for the commands that address the export. */
static enum gw_verdict check_range(const struct gw_req *req,
				   const struct gw_session_caps *caps,
				   uint32_t *nbd_err, const char **why)
{
	uint16_t t = req->type;

	if (req->length == 0)
		return reject(NBD_EINVAL, "zero-length request", nbd_err, why);
	if ((t == NBD_CMD_READ || t == NBD_CMD_WRITE) &&
	    req->length > caps->max_payload)
		return reject(NBD_EINVAL,
			      "request length exceeds the maximum payload",
			      nbd_err, why);
	/* Written this way round so offset + length cannot wrap. */
	if (req->offset > caps->size ||
	    req->length > caps->size - req->offset) {
		/* proto.md: ENOSPC for writes past the end, EINVAL for the
		 * rest; TRIM is advisory and counts as the rest. */
		if (t == NBD_CMD_WRITE || t == NBD_CMD_WRITE_ZEROES)
			return reject(NBD_ENOSPC,
				      "write past the end of the "
				      "export",
				      nbd_err, why);
		return reject(NBD_EINVAL, "request past the end of the export",
			      nbd_err, why);
	}
	return GW_REQ_OK;
}

enum gw_verdict gw_req_validate(const struct gw_req *req,
				const struct gw_session_caps *caps,
				uint32_t *nbd_err, const char **why)
{
	uint16_t bad;

	*nbd_err = NBD_SUCCESS;
	*why = NULL;
	switch (req->type) {
	case NBD_CMD_DISC:
		/* The connection finishes in-flight requests and closes. */
		return GW_REQ_OK;
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_FLUSH:
	case NBD_CMD_TRIM:
	case NBD_CMD_CACHE:
	case NBD_CMD_WRITE_ZEROES:
	case NBD_CMD_BLOCK_STATUS:
		break;
	case NBD_CMD_RESIZE:
		return reject(NBD_EINVAL, "NBD_CMD_RESIZE is not supported",
			      nbd_err, why);
	default:
		return reject(NBD_EINVAL, "unknown command", nbd_err, why);
	}

	bad = req->flags & (uint16_t)~allowed_flags(req->type);
	if (bad)
		return reject(NBD_EINVAL, bad_flag_reason(bad), nbd_err, why);
	if ((req->flags & NBD_CMD_FLAG_DF) && !caps->structured)
		return reject(NBD_EINVAL,
			      "NBD_CMD_FLAG_DF needs structured replies",
			      nbd_err, why);
	if (req->type == NBD_CMD_BLOCK_STATUS &&
	    (!caps->structured || !caps->base_allocation))
		return reject(NBD_EINVAL, "base:allocation was not negotiated",
			      nbd_err, why);
	if (writes(req->type) && caps->read_only)
		return reject(NBD_EPERM, "export is read-only", nbd_err, why);
	if (req->type == NBD_CMD_FLUSH) {
		if (req->offset || req->length)
			return reject(NBD_EINVAL,
				      "NBD_CMD_FLUSH with non-zero offset "
				      "or length",
				      nbd_err, why);
		return GW_REQ_OK;
	}
	return check_range(req, caps, nbd_err, why);
}

uint32_t gw_nbd_errno(int err)
{
	/* INT_MIN has no positive counterpart; it is no errno anyway. */
	if (err == INT_MIN)
		return NBD_EIO;
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return NBD_SUCCESS;
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case EIO:
		return NBD_EIO;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT: /* quota exhaustion must look like a full disk */
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
	case EOPNOTSUPP:
#endif
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

size_t gw_reply_simple(uint8_t *buf, uint64_t cookie, uint32_t err)
{
	gw_put32(buf, NBD_SIMPLE_REPLY_MAGIC);
	gw_put32(buf + 4, err);
	gw_put64(buf + 8, cookie);
	return NBD_SIMPLE_REPLY_SIZE;
}

size_t gw_reply_chunk(uint8_t *buf, uint16_t flags, uint16_t type,
		      uint64_t cookie, uint32_t payload_len)
{
	gw_put32(buf, NBD_STRUCTURED_REPLY_MAGIC);
	gw_put16(buf + 4, flags);
	gw_put16(buf + 6, type);
	gw_put64(buf + 8, cookie);
	gw_put32(buf + 16, payload_len);
	return NBD_CHUNK_SIZE;
}

size_t gw_reply_error_chunk(uint8_t *buf, uint64_t cookie, uint32_t err,
			    const char *msg)
{
	size_t len = msg ? strnlen(msg, NBD_MAX_STRING) : 0;

	gw_reply_chunk(buf, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie,
		       (uint32_t)(6 + len));
	gw_put32(buf + NBD_CHUNK_SIZE, err);
	gw_put16(buf + NBD_CHUNK_SIZE + 4, (uint16_t)len);
	if (len)
		memcpy(buf + NBD_CHUNK_SIZE + 6, msg, len);
	return NBD_CHUNK_SIZE + 6 + len;
}
