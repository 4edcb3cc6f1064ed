/* libFuzzer harness for the handshake machine (nbd-handshake.c).
 *
 * The first input byte chooses where the rest is split in two, so every
 * run also exercises resuming in the middle of a field.  Each part is
 * fed as the connection would: after GW_HS_STARTTLS the machine is told
 * TLS is up and the remaining bytes are fed again (here they stand for
 * the decrypted stream); after READY or CLOSE nothing more is fed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	size_t bytes;
	uint8_t last;
};

static int fz_send(void *arg, const void *buf, size_t len)
{
	struct sink *s = arg;

	/* Touch every byte so ASan sees reads of whatever was queued. */
	for (size_t i = 0; i < len; i++)
		s->last ^= ((const uint8_t *)buf)[i];
	s->bytes += len;
	return 0;
}

static uint32_t fz_list(void *arg, struct gw_hs *hs,
			int (*emit)(struct gw_hs *hs, const char *name,
				    const char *desc))
{
	(void)arg;
	if (emit(hs, "vm1/disk0", "live disk") < 0)
		return NBD_REP_ERR_PLATFORM;
	if (emit(hs, "vm1/ro@rp1", NULL) < 0)
		return NBD_REP_ERR_PLATFORM;
	return 0;
}

static uint32_t fz_lookup(void *arg, const char *name, bool go,
			  struct gw_export *exp, char *msg, size_t msglen)
{
	(void)arg;
	(void)go;
	if (strcmp(name, "vm1/disk0") == 0 || strcmp(name, "") == 0) {
		exp->size = UINT64_C(1) << 30;
		exp->pref_block = 4u << 20;
		snprintf(exp->description, sizeof(exp->description), "disk");
		return 0;
	}
	if (strcmp(name, "vm1/ro@rp1") == 0) {
		exp->size = UINT64_C(1) << 30;
		exp->read_only = true;
		/* A long description checks the machine's own bound. */
		memset(exp->description, 'd', sizeof(exp->description));
		return 0;
	}
	snprintf(msg, msglen, "export not present");
	return NBD_REP_ERR_UNKNOWN;
}

static const struct gw_hs_ops fz_ops = {
	.send = fz_send,
	.list = fz_list,
	.lookup = fz_lookup,
};

/* Feeds one part; returns false once the machine is finished. */
static bool feed(struct gw_hs *hs, const uint8_t *p, size_t n)
{
	enum gw_hs_event ev;
	size_t used;

	while (n > 0) {
		ev = gw_hs_feed(hs, p, n, &used);
		if (used > n)
			abort();
		p += used;
		n -= used;
		if (ev == GW_HS_STARTTLS) {
			gw_hs_tls_up(hs);
			continue;
		}
		if (ev != GW_HS_MORE) {
			if (ev == GW_HS_CLOSE && gw_hs_reason(hs)[0] == '\0')
				abort(); /* every close must say why */
			return false;
		}
		if (n != 0)
			abort(); /* MORE means everything was used */
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sink s = {0};
	struct gw_hs *hs;
	size_t cut;

	if (size < 1)
		return 0;
	cut = data[0];
	data++;
	size--;
	if (cut > size)
		cut = size;
	if (gw_hs_new(&fz_ops, &s, &hs) < 0)
		return 0;
	if (gw_hs_start(hs) == 0 && feed(hs, data, cut))
		feed(hs, data + cut, size - cut);
	/* The accessors must be safe in any state. */
	(void)gw_hs_export(hs)->tflags;
	(void)strlen(gw_hs_export_name(hs));
	(void)gw_hs_structured(hs);
	(void)gw_hs_base_allocation(hs, NULL);
	gw_hs_free(hs);
	return 0;
}
