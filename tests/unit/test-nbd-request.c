/* Request decoding, validation, the errno -> NBD mapping and the reply
 * encoders, checked against tables and exact bytes.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nbd.h"

#define MIB (1u << 20)
#define SIZE (UINT64_C(1) << 30)

#define FUA NBD_CMD_FLAG_FUA
#define NO_HOLE NBD_CMD_FLAG_NO_HOLE
#define DF NBD_CMD_FLAG_DF
#define REQ_ONE NBD_CMD_FLAG_REQ_ONE
#define FAST_ZERO NBD_CMD_FLAG_FAST_ZERO

enum caps_kind {
	RW,	/* writable, simple replies */
	RW_SR,	/* writable, structured replies, no meta context */
	RW_ALL, /* writable, structured replies, base:allocation */
	RO_ALL, /* read-only, structured replies, base:allocation */
};

static const struct gw_session_caps caps_table[] = {
	[RW] = {SIZE, false, false, false, 32 * MIB},
	[RW_SR] = {SIZE, false, true, false, 32 * MIB},
	[RW_ALL] = {SIZE, false, true, true, 32 * MIB},
	[RO_ALL] = {SIZE, true, true, true, 32 * MIB},
};

struct vcase {
	int line;
	uint16_t type;
	uint16_t flags;
	uint64_t offset;
	uint32_t length;
	enum caps_kind caps;
	enum gw_verdict verdict;
	uint32_t err;
};

#define OK GW_REQ_OK, 0
#define ERR(e) GW_REQ_ERROR, NBD_##e
#define C(...)                                                                 \
	{                                                                      \
		__LINE__, __VA_ARGS__                                          \
	}

static const struct vcase vcases[] = {
	/* Plain successes, including FUA wherever a client may put it. */
	C(NBD_CMD_READ, 0, 0, 4096, RW, OK),
	C(NBD_CMD_READ, FUA, 0, 4096, RW, OK),
	C(NBD_CMD_READ, DF, 0, 4096, RW_SR, OK),
	C(NBD_CMD_WRITE, FUA, SIZE - 512, 512, RW, OK),
	C(NBD_CMD_FLUSH, 0, 0, 0, RW, OK),
	C(NBD_CMD_FLUSH, FUA, 0, 0, RW, OK),
	C(NBD_CMD_FLUSH, 0, 0, 0, RO_ALL, OK),
	C(NBD_CMD_TRIM, FUA, 0, 8 * MIB, RW, OK),
	C(NBD_CMD_CACHE, 0, 0, 64 * MIB, RW, OK),
	C(NBD_CMD_CACHE, FUA, 0, 1, RO_ALL, OK),
	C(NBD_CMD_WRITE_ZEROES, FUA | NO_HOLE | FAST_ZERO, 0, 128 * MIB, RW,
	  OK),
	/* Zeroing is not bound by the maximum payload. */
	C(NBD_CMD_WRITE_ZEROES, 0, 0, (uint32_t)SIZE, RW, OK),
	C(NBD_CMD_BLOCK_STATUS, REQ_ONE, 0, (uint32_t)SIZE, RW_ALL, OK),
	C(NBD_CMD_BLOCK_STATUS, FUA, SIZE - 1, 1, RO_ALL, OK),
	C(NBD_CMD_READ, 0, 0, 4096, RO_ALL, OK),
	C(NBD_CMD_DISC, 0, 0, 0, RW, OK),
	C(NBD_CMD_DISC, 0xffff, 5, 5, RO_ALL, OK),
	/* Unknown commands and RESIZE. */
	C(NBD_CMD_RESIZE, 0, 0, 0, RW, ERR(EINVAL)),
	C(9, 0, 0, 4096, RW, ERR(EINVAL)),
	C(0xffff, 0, 0, 0, RW_ALL, ERR(EINVAL)),
	/* Flags not valid for the command. */
	C(NBD_CMD_WRITE, DF, 0, 4096, RW_SR, ERR(EINVAL)),
	C(NBD_CMD_WRITE, NO_HOLE, 0, 4096, RW, ERR(EINVAL)),
	C(NBD_CMD_READ, REQ_ONE, 0, 4096, RW, ERR(EINVAL)),
	C(NBD_CMD_READ, FAST_ZERO, 0, 4096, RW, ERR(EINVAL)),
	C(NBD_CMD_TRIM, NO_HOLE, 0, 4096, RW, ERR(EINVAL)),
	C(NBD_CMD_BLOCK_STATUS, DF, 0, 4096, RW_ALL, ERR(EINVAL)),
	C(NBD_CMD_FLUSH, REQ_ONE, 0, 0, RW, ERR(EINVAL)),
	C(NBD_CMD_CACHE, DF, 0, 1, RW_SR, ERR(EINVAL)),
	C(NBD_CMD_READ, 1u << 5, 0, 4096, RW, ERR(EINVAL)),
	C(NBD_CMD_WRITE, 0x8000, 0, 4096, RW, ERR(EINVAL)),
	/* DF needs structured replies. */
	C(NBD_CMD_READ, DF, 0, 4096, RW, ERR(EINVAL)),
	/* Zero lengths. */
	C(NBD_CMD_READ, 0, 0, 0, RW, ERR(EINVAL)),
	C(NBD_CMD_WRITE, 0, 0, 0, RW, ERR(EINVAL)),
	C(NBD_CMD_TRIM, 0, 0, 0, RW, ERR(EINVAL)),
	C(NBD_CMD_WRITE_ZEROES, 0, 0, 0, RW, ERR(EINVAL)),
	C(NBD_CMD_BLOCK_STATUS, 0, 0, 0, RW_ALL, ERR(EINVAL)),
	C(NBD_CMD_CACHE, 0, 0, 0, RW, ERR(EINVAL)),
	/* Maximum payload, for READ and WRITE only. */
	C(NBD_CMD_READ, 0, 0, 32 * MIB, RW, OK),
	C(NBD_CMD_READ, 0, 0, 32 * MIB + 1, RW, ERR(EINVAL)),
	C(NBD_CMD_WRITE, 0, 0, 32 * MIB + 1, RW, ERR(EINVAL)),
	C(NBD_CMD_TRIM, 0, 0, 32 * MIB + 1, RW, OK),
	/* Past the end, and offset + length wrapping around. */
	C(NBD_CMD_READ, 0, SIZE - 4095, 4096, RW, ERR(EINVAL)),
	C(NBD_CMD_READ, 0, UINT64_MAX, 2, RW, ERR(EINVAL)),
	C(NBD_CMD_READ, 0, SIZE, 1, RW, ERR(EINVAL)),
	C(NBD_CMD_TRIM, 0, SIZE - 1, 2, RW, ERR(EINVAL)),
	C(NBD_CMD_CACHE, 0, SIZE + 1, 1, RW, ERR(EINVAL)),
	C(NBD_CMD_BLOCK_STATUS, 0, SIZE, 1, RW_ALL, ERR(EINVAL)),
	C(NBD_CMD_WRITE, 0, SIZE - 511, 512, RW, ERR(ENOSPC)),
	C(NBD_CMD_WRITE, 0, UINT64_MAX - 10, 512, RW, ERR(ENOSPC)),
	C(NBD_CMD_WRITE_ZEROES, 0, SIZE, 1, RW, ERR(ENOSPC)),
	C(NBD_CMD_WRITE_ZEROES, 0, UINT64_MAX, UINT32_MAX, RW, ERR(ENOSPC)),
	/* Read-only exports: EPERM even when the range is also bad. */
	C(NBD_CMD_WRITE, 0, 0, 4096, RO_ALL, ERR(EPERM)),
	C(NBD_CMD_WRITE, 0, SIZE, 4096, RO_ALL, ERR(EPERM)),
	C(NBD_CMD_TRIM, 0, 0, 4096, RO_ALL, ERR(EPERM)),
	C(NBD_CMD_WRITE_ZEROES, 0, 0, 4096, RO_ALL, ERR(EPERM)),
	/* BLOCK_STATUS needs structured replies and base:allocation. */
	C(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, RW, ERR(EINVAL)),
	C(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, RW_SR, ERR(EINVAL)),
	/* FLUSH covers the whole export: offset and length must be 0. */
	C(NBD_CMD_FLUSH, 0, 4096, 0, RW, ERR(EINVAL)),
	C(NBD_CMD_FLUSH, 0, 0, 4096, RW, ERR(EINVAL)),
};

static void test_validate_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		const struct vcase *c = &vcases[i];
		struct gw_req r = {c->flags, c->type, 42, c->offset, c->length};
		uint32_t err = 12345;
		const char *why = "unset";
		enum gw_verdict v;

		v = gw_req_validate(&r, &caps_table[c->caps], &err, &why);
		if (v != c->verdict || err != c->err)
			fail_msg("line %d: verdict %d err %u, want %d err %u",
				 c->line, v, err, c->verdict, c->err);
		/* Every rejection explains itself. */
		if (v == GW_REQ_ERROR && (!why || !why[0]))
			fail_msg("line %d: no reason", c->line);
	}
}

static void test_validate_reasons(void **state)
{
	struct gw_req r = {DF, NBD_CMD_WRITE, 1, 0, 4096};
	uint32_t err;
	const char *why;

	(void)state;
	gw_req_validate(&r, &caps_table[RW_SR], &err, &why);
	assert_string_equal(why,
			    "NBD_CMD_FLAG_DF is only valid on NBD_CMD_READ");
	r = (struct gw_req){0, NBD_CMD_WRITE, 1, SIZE, 1};
	gw_req_validate(&r, &caps_table[RW], &err, &why);
	assert_string_equal(why, "write past the end of the export");
	r = (struct gw_req){0, NBD_CMD_BLOCK_STATUS, 1, 0, 1};
	gw_req_validate(&r, &caps_table[RW_SR], &err, &why);
	assert_string_equal(why, "base:allocation was not negotiated");
}

static void test_decode(void **state)
{
	static const uint8_t hdr[NBD_REQUEST_SIZE] = {
		0x25, 0x60, 0x95, 0x13, /* magic */
		0x00, 0x11,		/* flags */
		0x00, 0x06,		/* WRITE_ZEROES */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* cookie */
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, /* offset */
		0x08, 0x00, 0x00, 0x00,				/* length */
	};
	uint8_t bad[NBD_REQUEST_SIZE];
	struct gw_req r;

	(void)state;
	assert_int_equal(gw_req_decode(hdr, &r), 0);
	assert_int_equal(r.flags, FUA | FAST_ZERO);
	assert_int_equal(r.type, NBD_CMD_WRITE_ZEROES);
	assert_int_equal(r.cookie, UINT64_C(0x0102030405060708));
	assert_int_equal(r.offset, UINT64_C(0x100000200));
	assert_int_equal(r.length, 128 * MIB);
	memcpy(bad, hdr, sizeof(bad));
	bad[3] ^= 1;
	assert_int_equal(gw_req_decode(bad, &r), -EPROTO);
}

static void test_errno_map(void **state)
{
	static const struct {
		int err;
		uint32_t nbd;
	} map[] = {
		{0, 0},		  {EPERM, 1},	 {EROFS, 1},
		{EIO, 5},	  {ENOMEM, 12},	 {EINVAL, 22},
		{ENOSPC, 28},	  {EDQUOT, 28},	 {EFBIG, 28},
		{EOVERFLOW, 75},  {ENOTSUP, 95}, {EOPNOTSUPP, 95},
		{ESHUTDOWN, 108}, {ENOENT, 5},	 {EAGAIN, 5},
		{EPROTO, 5},	  {100000, 5},	 {INT_MAX, 5},
		{INT_MIN, 5},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		assert_int_equal(gw_nbd_errno(map[i].err), map[i].nbd);
		if (map[i].err != INT_MIN)
			assert_int_equal(gw_nbd_errno(-map[i].err), map[i].nbd);
	}
}

static void test_reply_simple(void **state)
{
	static const uint8_t want[] = {
		0x67, 0x44, 0x66, 0x98, 0x00, 0x00, 0x00, 0x1c,
		0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x01,
	};
	uint8_t buf[32];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(
		gw_reply_simple(buf, UINT64_C(0xdeadbeef00000001), NBD_ENOSPC),
		16);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[16], 0xee);
}

static void test_reply_chunk(void **state)
{
	static const uint8_t want[] = {
		0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x0c,
	};
	uint8_t buf[32];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(gw_reply_chunk(buf, NBD_REPLY_FLAG_DONE,
					NBD_REPLY_TYPE_BLOCK_STATUS, 7, 12),
			 20);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[20], 0xee);
}

static void test_reply_error_chunk(void **state)
{
	static const uint8_t want[] = {
		0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x80, 0x01,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
		0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x16,
		0x00, 0x05, 'b',  'a',	'd',  ' ',  'x',
	};
	static uint8_t big[NBD_CHUNK_SIZE + 6 + NBD_MAX_STRING + 16];
	static char msg[NBD_MAX_STRING + 11];
	uint8_t buf[64];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(gw_reply_error_chunk(buf, 9, NBD_EINVAL, "bad x"),
			 sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[sizeof(want)], 0xee);

	/* An empty message still makes a valid 6-byte payload. */
	assert_int_equal(gw_reply_error_chunk(buf, 9, NBD_EIO, ""), 26);
	assert_int_equal(buf[19], 6);
	assert_int_equal(buf[24], 0);
	assert_int_equal(buf[25], 0);

	/* Messages are cut at the protocol's 4096-byte string limit. */
	memset(msg, 'm', sizeof(msg) - 1);
	assert_int_equal(gw_reply_error_chunk(big, 1, NBD_EIO, msg),
			 NBD_CHUNK_SIZE + 6 + NBD_MAX_STRING);
	assert_int_equal(big[16] << 24 | big[17] << 16 | big[18] << 8 | big[19],
			 6 + NBD_MAX_STRING);
	assert_int_equal(big[24] << 8 | big[25], NBD_MAX_STRING);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(gw_nbd_opt_name(NBD_OPT_GO), "NBD_OPT_GO");
	assert_string_equal(gw_nbd_opt_name(NBD_OPT_EXTENDED_HEADERS),
			    "NBD_OPT_EXTENDED_HEADERS");
	assert_string_equal(gw_nbd_opt_name(99), "NBD_OPT_?");
	assert_string_equal(gw_nbd_cmd_name(NBD_CMD_WRITE), "NBD_CMD_WRITE");
	assert_string_equal(gw_nbd_cmd_name(NBD_CMD_BLOCK_STATUS),
			    "NBD_CMD_BLOCK_STATUS");
	assert_string_equal(gw_nbd_cmd_name(42), "NBD_CMD_?");
	assert_string_equal(gw_nbd_rep_name(NBD_REP_ACK), "NBD_REP_ACK");
	assert_string_equal(gw_nbd_rep_name(NBD_REP_ERR_TLS_REQD),
			    "NBD_REP_ERR_TLS_REQD");
	assert_string_equal(gw_nbd_rep_name(NBD_REP_ERR_TOO_BIG),
			    "NBD_REP_ERR_TOO_BIG");
	assert_string_equal(gw_nbd_rep_name(0x80000063), "NBD_REP_ERR_?");
	assert_string_equal(gw_nbd_rep_name(63), "NBD_REP_?");
	assert_string_equal(gw_nbd_err_name(NBD_ENOSPC), "NBD_ENOSPC");
	assert_string_equal(gw_nbd_err_name(NBD_ESHUTDOWN), "NBD_ESHUTDOWN");
	assert_string_equal(gw_nbd_err_name(7), "NBD_E?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_table),
		cmocka_unit_test(test_validate_reasons),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_errno_map),
		cmocka_unit_test(test_reply_simple),
		cmocka_unit_test(test_reply_chunk),
		cmocka_unit_test(test_reply_error_chunk),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
