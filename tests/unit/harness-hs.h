/* The handshake tests' harness (harness-hs.c): byte buffers, option and
 * reply builders, and a fake connection.  Test-only code. */
#ifndef HAVEN_TEST_HARNESS_HS_H
#define HAVEN_TEST_HARNESS_HS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (1u << 20)

#define TFLAGS 0x0d6d
#define TFLAGS_DF 0x0ded
#define TFLAGS_RO 0x0d6f
#define TLS_REQD_MSG "TLS is required: send NBD_OPT_STARTTLS first"

/* ---- byte buffers ---- */

struct bytes {
	uint8_t *b;
	size_t n, cap;
};

/* ---- fake connection ---- */

/* What the handshake sent, and how its callbacks were called. */
struct fake {
	struct bytes out;
	int fail_send;
	int lookups;
	bool last_go;
};

/* One test's state: the fake, its handshake, what the client sends and
 * what it must receive. */
struct t {
	struct fake f;
	struct gw_hs *hs;
	struct bytes in, want;
};

/* Exports "vm1/disk0" (1 GiB, 4 MiB preferred) and "vm1/ro@rp1" (read
 * only); any other name is unknown. */
extern const struct gw_hs_ops fake_ops;

/* Appends bytes; a big-endian integer of 'size' bytes; a string without
 * its NUL; n bytes of c.  reset() empties a buffer and keeps its memory. */
void put(struct bytes *x, const void *p, size_t n);
void be(struct bytes *x, uint64_t v, int size);
void str(struct bytes *x, const char *s);
void fill(struct bytes *x, uint8_t c, size_t n);
void reset(struct bytes *x);
/* ---- what the client sends, and the replies it must get ---- */

void opt_hdr(struct bytes *x, uint32_t opt, uint32_t len);
void opt_go(struct bytes *x, uint32_t opt, const char *name,
	    const uint16_t *req, int nreq);
void opt_meta(struct bytes *x, uint32_t opt, const char *name, const char **q,
	      int nq);
void rep_hdr(struct bytes *x, uint32_t opt, uint32_t type, size_t len);
void rep_ack(struct bytes *x, uint32_t opt);
void rep_err(struct bytes *x, uint32_t opt, uint32_t type, const char *msg);
void rep_info_export(struct bytes *x, uint32_t opt, uint64_t size,
		     uint16_t tflags);
void rep_info_block(struct bytes *x, uint32_t opt, uint32_t pref);
void rep_info_str(struct bytes *x, uint32_t opt, uint16_t type, const char *s);
void rep_meta(struct bytes *x, uint32_t opt, uint32_t id);
/* ---- one handshake on the fake ---- */

/* A started handshake: the greeting waits in t->f.out. */
int setup(void **state);
int teardown(void **state);
void feed_expect(struct t *t, enum gw_hs_event ev, size_t consumed);
void feed_all(struct t *t, enum gw_hs_event ev);
void assert_output(struct t *t);
void to_tls(struct t *t, uint32_t cflags);

#endif
