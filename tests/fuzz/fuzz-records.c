/* libFuzzer harness for the catalog record decoders (tenant/record.c).
 *
 * The input is one record value as LMDB would hand it out, and every
 * decoder reads it: a record of one type is garbage to the others, which
 * is exactly what corruption looks like.  The copy starts at an odd
 * address, as LMDB values may, and ends where the input ends, so ASan
 * sees any read past the value.  Whatever decodes must survive a round
 * trip: encoding it succeeds, the encoding decodes to the same struct,
 * and encoding that again gives the same bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Untyped wrappers, so one function drives every record type without
 * calling a function through a pointer of the wrong type. */
#define CODEC(tag, type)                                                       \
	static int tag##_enc(const void *s, uint8_t *b, size_t cap,            \
			     size_t *len)                                      \
	{                                                                      \
		return tenant_rec_##tag##_encode(s, b, cap, len);              \
	}                                                                      \
	static int tag##_dec(const void *b, size_t len, void *s)               \
	{                                                                      \
		return tenant_rec_##tag##_decode(b, len, s);                   \
	}                                                                      \
	static type tag##_a, tag##_b

CODEC(route, struct tenant_route);
CODEC(tenant, struct tenant_info);
CODEC(cred, struct tenant_cred);
CODEC(disk, struct tenant_disk);
CODEC(rp, struct tenant_rp);
CODEC(req, struct tenant_req);
CODEC(audit, struct tenant_audit);

struct codec {
	int (*enc)(const void *s, uint8_t *b, size_t cap, size_t *len);
	int (*dec)(const void *b, size_t len, void *s);
	void *a, *b; /* two structs of the type */
	size_t size;
};

#define ENTRY(tag)                                                             \
	{                                                                      \
		tag##_enc, tag##_dec, &tag##_a, &tag##_b, sizeof(tag##_a)      \
	}

static const struct codec codecs[] = {
	ENTRY(route), ENTRY(tenant), ENTRY(cred),  ENTRY(disk),
	ENTRY(rp),    ENTRY(req),    ENTRY(audit),
};

/* decode(in) = a; encode(a) = e1; decode(e1) = b; encode(b) = e2; then
 * a == b and e1 == e2.  The decoders zero the whole struct before filling
 * it, so memcmp() compares the padding too, which stays 0. */
static void round_trip(const struct codec *c, const uint8_t *in, size_t len)
{
	static uint8_t e1[TENANT_REC_MAX], e2[TENANT_REC_MAX];
	size_t l1, l2;
	int rc;

	rc = c->dec(in, len, c->a);
	if (rc == -EIO)
		return;
	if (rc != 0)
		abort(); /* corruption is -EIO and nothing else */
	if (c->enc(c->a, e1, sizeof(e1), &l1) != 0)
		abort();
	/* What we write is always the current version, whole. */
	if (l1 < 4 || e1[0] != TENANT_REC_VERSION || e1[1] != 0 ||
	    (size_t)(e1[2] | e1[3] << 8) != l1)
		abort();
	if (c->dec(e1, l1, c->b) != 0 || memcmp(c->a, c->b, c->size) != 0)
		abort();
	if (c->enc(c->b, e2, sizeof(e2), &l2) != 0 || l2 != l1 ||
	    memcmp(e1, e2, l1) != 0)
		abort();
}

static void check_fixed_width(const uint8_t *p, size_t size)
{
	uint8_t b[8];

	if (size < 8)
		return;
	tenant_rec_put_be64(b, tenant_rec_get_be64(p));
	if (memcmp(b, p, 8) != 0)
		abort();
	tenant_rec_put_le64(b, tenant_rec_get_le64(p));
	if (memcmp(b, p, 8) != 0)
		abort();
	if (tenant_rec_get_be64(p) != __builtin_bswap64(tenant_rec_get_le64(p)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *mem;
	size_t i;

	mem = malloc(size + 1);
	if (!mem)
		return 0;
	memcpy(mem + 1, data, size);
	for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		round_trip(&codecs[i], mem + 1, size);
	check_fixed_width(mem + 1, size);
	free(mem);
	return 0;
}
