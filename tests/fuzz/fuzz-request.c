/* libFuzzer harness for request decoding and validation
 * (nbd-request.c).  Input: the 28-byte request header; 13 bytes of
 * session capabilities (u64 size, a flags byte: bit 0 read-only, bit 1
 * structured, bit 2 base:allocation; u32 max payload); a u32 errno; the
 * rest is an error message for the encoder (make-corpus.py writes it).
 * Checks invariants that must hold for any input rather than exact
 * verdicts (the unit tests do that).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_verdict(const struct gw_req *r,
			  const struct gw_session_caps *caps)
{
	enum gw_verdict v;
	const char *why;
	uint32_t err;

	v = gw_req_validate(r, caps, &err, &why);
	if (v == GW_REQ_ERROR && (err == 0 || !why || !why[0]))
		abort();
	if (v != GW_REQ_OK || r->type == NBD_CMD_DISC ||
	    r->type == NBD_CMD_FLUSH)
		return;
	/* Anything accepted lies inside the export and the limits. */
	if (r->offset > caps->size || r->length > caps->size - r->offset)
		abort();
	if (r->length == 0)
		abort();
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) &&
	    r->length > caps->max_payload)
		abort();
	if (caps->read_only && r->type != NBD_CMD_READ &&
	    r->type != NBD_CMD_CACHE && r->type != NBD_CMD_BLOCK_STATUS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[NBD_CHUNK_SIZE + 6 + NBD_MAX_STRING];
	static char msg[NBD_MAX_STRING + 64];
	struct gw_session_caps caps;
	struct gw_req r;
	size_t mlen;
	int e;

	if (size < NBD_REQUEST_SIZE + 17)
		return 0;
	/* Only a good magic decodes; validate every header anyway, as if
	 * the magic had been right. */
	if ((gw_req_decode(data, &r) == 0) !=
	    (gw_get32(data) == NBD_REQUEST_MAGIC))
		abort();
	r.flags = gw_get16(data + 4);
	r.type = gw_get16(data + 6);
	r.cookie = gw_get64(data + 8);
	r.offset = gw_get64(data + 16);
	r.length = gw_get32(data + 24);
	data += NBD_REQUEST_SIZE;
	size -= NBD_REQUEST_SIZE;

	caps.size = gw_get64(data);
	caps.read_only = data[8] & 1;
	caps.structured = data[8] & 2;
	caps.base_allocation = data[8] & 4;
	caps.max_payload = gw_get32(data + 9);
	check_verdict(&r, &caps);

	e = (int)gw_get32(data + 13);
	if (gw_nbd_err_name(gw_nbd_errno(e))[5] == '?')
		abort(); /* the mapper only produces known NBD errors */
	data += 17;
	size -= 17;
	mlen = size < sizeof(msg) - 1 ? size : sizeof(msg) - 1;
	memcpy(msg, data, mlen);
	msg[mlen] = '\0';
	if (gw_reply_error_chunk(buf, r.cookie, gw_nbd_errno(e), msg) >
	    sizeof(buf))
		abort();
	(void)gw_nbd_cmd_name(r.type);
	return 0;
}
