/* Versioned, fixed-endian encodings of the catalog records.
 *
 * Every record starts with a header {u16 version, u16 length}, both
 * little-endian, where length counts the whole record including the
 * header.  Fields follow in a fixed order: integers little-endian and fixed
 * width, strings as a u16 byte count followed by the bytes (no NUL).  New
 * fields are only ever appended, so a decoder accepts records longer than
 * it knows and ignores the tail; a record that is shorter than its fields,
 * whose header disagrees with the buffer, or whose strings do not fit the
 * destination is corruption (-EIO).
 *
 * Decoders never assume alignment: LMDB hands out values at odd addresses.
 */
#ifndef HAVEN_TENANT_RECORD_H
#define HAVEN_TENANT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "tenant.h"

/* Version 2 appended checkpoint_s to tenants, checkpoint_s and snap_seq to
 * disks, and added restore point and request records.  Version 3 appended
 * pins to restore points and added policy, test and failover records. */
#define TENANT_REC_VERSION 3
/* Large enough for the biggest record (a route with three full paths). */
#define TENANT_REC_MAX 4096

/* Encoders write into buf (cap bytes) and set *len.  -EINVAL when a string
 * field of the struct is not NUL-terminated, -ENOSPC when cap is short. */
int tenant_rec_route_encode(const struct tenant_route *r, uint8_t *buf,
			    size_t cap, size_t *len);
int tenant_rec_route_decode(const void *buf, size_t len,
			    struct tenant_route *out);

int tenant_rec_tenant_encode(const struct tenant_info *t, uint8_t *buf,
			     size_t cap, size_t *len);
int tenant_rec_tenant_decode(const void *buf, size_t len,
			     struct tenant_info *out);

int tenant_rec_cred_encode(const struct tenant_cred *c, uint8_t *buf,
			   size_t cap, size_t *len);
int tenant_rec_cred_decode(const void *buf, size_t len,
			   struct tenant_cred *out);

int tenant_rec_disk_encode(const struct tenant_disk *d, uint8_t *buf,
			   size_t cap, size_t *len);
int tenant_rec_disk_decode(const void *buf, size_t len,
			   struct tenant_disk *out);

int tenant_rec_rp_encode(const struct tenant_rp *rp, uint8_t *buf, size_t cap,
			 size_t *len);
int tenant_rec_rp_decode(const void *buf, size_t len, struct tenant_rp *out);

int tenant_rec_req_encode(const struct tenant_req *q, uint8_t *buf, size_t cap,
			  size_t *len);
int tenant_rec_req_decode(const void *buf, size_t len, struct tenant_req *out);

/* A retention policy of a tenant or a disk (catalog database policies):
 * canonical ladder text and, for tenants, the immutability window. */
struct tenant_rec_policy {
	char policy[TENANT_RETENTION_TEXT_MAX];
	uint32_t immutable_days;
};

int tenant_rec_policy_encode(const struct tenant_rec_policy *p, uint8_t *buf,
			     size_t cap, size_t *len);
int tenant_rec_policy_decode(const void *buf, size_t len,
			     struct tenant_rec_policy *out);

int tenant_rec_test_encode(const struct tenant_test *t, uint8_t *buf,
			   size_t cap, size_t *len);
int tenant_rec_test_decode(const void *buf, size_t len,
			   struct tenant_test *out);

int tenant_rec_failover_encode(const struct tenant_failover *f, uint8_t *buf,
			       size_t cap, size_t *len);
int tenant_rec_failover_decode(const void *buf, size_t len,
			       struct tenant_failover *out);

/* Limits, disk bandwidth and usage (catalog database limits, schema 4)
 * are new record types whose fields were all there from their first
 * encoding, so they need no new record version. */
int tenant_rec_limits_encode(const struct tenant_limits *l, uint8_t *buf,
			     size_t cap, size_t *len);
int tenant_rec_limits_decode(const void *buf, size_t len,
			     struct tenant_limits *out);

/* Stored bytes as havend measured them, and when. */
struct tenant_rec_usage {
	uint64_t stored_bytes;
	uint64_t measured_ms;
};

int tenant_rec_usage_encode(const struct tenant_rec_usage *u, uint8_t *buf,
			    size_t cap, size_t *len);
int tenant_rec_usage_decode(const void *buf, size_t len,
			    struct tenant_rec_usage *out);
/* A disk's bandwidth limit, bytes per second. */
int tenant_rec_bandwidth_encode(uint64_t bw, uint8_t *buf, size_t cap,
				size_t *len);
int tenant_rec_bandwidth_decode(const void *buf, size_t len, uint64_t *out);

/* Audit log entries (catalog database audit).  The last 64 bytes of the
 * record are always prev and hash, whatever the version: fields added
 * later go before them, so a reader finds the chain at the same place and
 * the hash always covers every byte before it.  The encoder writes the
 * hash field as given; catalog-audit.c computes it over the first
 * len - TENANT_AUDIT_HASH_LEN bytes and patches it in. */
int tenant_rec_audit_encode(const struct tenant_audit *e, uint8_t *buf,
			    size_t cap, size_t *len);
int tenant_rec_audit_decode(const void *buf, size_t len,
			    struct tenant_audit *out);

/* Fixed-width helpers shared with the catalog's keys and meta values. */
void tenant_rec_put_be64(uint8_t *p, uint64_t v);
uint64_t tenant_rec_get_be64(const void *p);
void tenant_rec_put_le64(uint8_t *p, uint64_t v);
uint64_t tenant_rec_get_le64(const void *p);

#endif
