/* The catalog's record encodings (tenant/record.c) underneath what
 * test-catalog.c checks through the catalog: round trips of every record
 * kind, corrupt and truncated records refused, version 1 records still
 * read, and the restore point and request records.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "tenant.h"

static void test_record_roundtrip(void **state)
{
	struct tenant_route r = {0}, r2;
	struct tenant_info t = {0}, t2;
	struct tenant_cred c = {0}, c2;
	struct tenant_disk d = {0}, d2;
	uint8_t buf[TENANT_REC_MAX];
	size_t len;

	(void)state;
	strcpy(r.name, "r");
	strcpy(r.type, "rados");
	memset(r.path, 'p', sizeof(r.path) - 1);
	memset(r.ceph_conf, 'c', sizeof(r.ceph_conf) - 1);
	memset(r.keyring, 'k', sizeof(r.keyring) - 1);
	strcpy(r.pool, "pool");
	strcpy(r.client_id, "client");
	assert_int_equal(tenant_rec_route_encode(&r, buf, sizeof(buf), &len),
			 0);
	assert_int_equal(tenant_rec_route_decode(buf, len, &r2), 0);
	assert_memory_equal(&r, &r2, sizeof(r));

	t.id = 0x0102030405060708ull;
	strcpy(t.name, "n");
	strcpy(t.route, "r");
	strcpy(t.ns, "ns");
	t.state = TENANT_SUSPENDED;
	t.created = 1700000000;
	t.checkpoint_s = 0x0a0b0c0d;
	assert_int_equal(tenant_rec_tenant_encode(&t, buf, sizeof(buf), &len),
			 0);
	/* Little-endian fields after the 4-byte header. */
	assert_int_equal(buf[0], TENANT_REC_VERSION);
	assert_int_equal(buf[2] | buf[3] << 8, len);
	assert_int_equal(buf[4], 0x08);
	assert_int_equal(buf[11], 0x01);
	assert_int_equal(tenant_rec_tenant_decode(buf, len, &t2), 0);
	assert_memory_equal(&t, &t2, sizeof(t));

	memset(c.pin, 0xab, sizeof(c.pin));
	c.tenant_id = 3;
	c.operator_role = false;
	strcpy(c.site, "s");
	c.serial = UINT64_MAX;
	c.issued = 1;
	c.not_after = 2;
	assert_int_equal(tenant_rec_cred_encode(&c, buf, sizeof(buf), &len), 0);
	assert_int_equal(tenant_rec_cred_decode(buf, len, &c2), 0);
	assert_memory_equal(&c, &c2, sizeof(c));

	d.id = 9;
	d.tenant_id = 3;
	strcpy(d.vm, "vm");
	strcpy(d.name, "sda");
	d.size = 1ull << 40;
	d.extent_size = 1u << 22;
	d.created = 5;
	d.checkpoint_s = 30;
	d.snap_seq = 0xfedcba9876543210ull;
	assert_int_equal(tenant_rec_disk_encode(&d, buf, sizeof(buf), &len), 0);
	assert_int_equal(tenant_rec_disk_decode(buf, len, &d2), 0);
	assert_memory_equal(&d, &d2, sizeof(d));

	/* Too small a buffer, and a string without its terminator. */
	assert_int_equal(tenant_rec_disk_encode(&d, buf, 10, &len), -ENOSPC);
	memset(d.vm, 'v', sizeof(d.vm));
	assert_int_equal(tenant_rec_disk_encode(&d, buf, sizeof(buf), &len),
			 -EINVAL);
}

static size_t sample_disk(uint8_t *buf, struct tenant_disk *d)
{
	size_t len;

	memset(d, 0, sizeof(*d));
	d->id = 42;
	d->tenant_id = 7;
	strcpy(d->vm, "web");
	strcpy(d->name, "root");
	d->size = 123456789;
	d->extent_size = 65536;
	d->created = 99;
	d->checkpoint_s = 7;
	d->snap_seq = 12;
	assert_int_equal(tenant_rec_disk_encode(d, buf, TENANT_REC_MAX, &len),
			 0);
	return len;
}

static void test_record_corrupt(void **state)
{
	uint8_t buf[TENANT_REC_MAX], copy[TENANT_REC_MAX];
	struct tenant_disk d, out;
	size_t len, i;

	(void)state;
	len = sample_disk(buf, &d);

	/* Every truncation is refused, whether or not the header's length
	 * is adjusted to match. */
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, len);
		assert_int_equal(tenant_rec_disk_decode(copy, i, &out), -EIO);
		if (i >= 4) {
			copy[2] = (uint8_t)i;
			copy[3] = (uint8_t)(i >> 8);
			assert_int_equal(tenant_rec_disk_decode(copy, i, &out),
					 -EIO);
		}
	}

	/* A newer writer appended fields: still decodes to the same disk. */
	memcpy(copy, buf, len);
	memset(copy + len, 0x5a, 12);
	copy[2] = (uint8_t)(len + 12);
	copy[0] = TENANT_REC_VERSION + 1;
	assert_int_equal(tenant_rec_disk_decode(copy, len + 12, &out), 0);
	assert_memory_equal(&out, &d, sizeof(d));
	/* ...but the header must account for those bytes. */
	copy[2] = (uint8_t)len;
	assert_int_equal(tenant_rec_disk_decode(copy, len + 12, &out), -EIO);

	/* Version 0 never existed. */
	memcpy(copy, buf, len);
	copy[0] = 0;
	assert_int_equal(tenant_rec_disk_decode(copy, len, &out), -EIO);

	/* The vm string (after header, id, tenant id) claims 64 bytes, or
	 * more than is left, or contains a NUL. */
	memcpy(copy, buf, len);
	copy[20] = 64;
	assert_int_equal(tenant_rec_disk_decode(copy, len, &out), -EIO);
	copy[20] = 0xff;
	copy[21] = 0xff;
	assert_int_equal(tenant_rec_disk_decode(copy, len, &out), -EIO);
	memcpy(copy, buf, len);
	assert_int_equal(copy[20], 3);
	copy[23] = '\0';
	assert_int_equal(tenant_rec_disk_decode(copy, len, &out), -EIO);

	/* Garbage of every small size is refused, never read past. */
	for (i = 0; i < 64; i++) {
		memset(copy, (int)(0x11 * (i & 0xf)), i);
		assert_int_equal(tenant_rec_cred_decode(
					 copy, i, &(struct tenant_cred){0}),
				 -EIO);
	}
}

/* Version 1 records, byte by byte as the first release wrote them: they
 * decode with the fields version 2 appended set to zero. */
static void test_record_v1(void **state)
{
	/* clang-format off */
	static const uint8_t tenant_v1[] = {
		1, 0, 43, 0,			/* version 1, 43 bytes */
		7, 0, 0, 0, 0, 0, 0, 0,		/* id 7 */
		4, 0, 'a', 'c', 'm', 'e',	/* name */
		7, 0, 'd', 'e', 'f', 'a', 'u', 'l', 't', /* route */
		2, 0, 'n', 's',			/* namespace */
		1, 0, 0, 0,			/* suspended */
		0xf1, 0x53, 0x65, 0, 0, 0, 0, 0, /* created 0x6553f1 */
	};
	static const uint8_t disk_v1[] = {
		1, 0, 49, 0,			/* version 1, 49 bytes */
		9, 0, 0, 0, 0, 0, 0, 0,		/* id 9 */
		7, 0, 0, 0, 0, 0, 0, 0,		/* tenant 7 */
		2, 0, 'v', 'm',			/* vm */
		3, 0, 's', 'd', 'a',		/* name */
		0, 0, 0, 0x40, 0, 0, 0, 0,	/* size 1 GiB */
		0, 0, 0x40, 0,			/* extent 4 MiB */
		5, 0, 0, 0, 0, 0, 0, 0,		/* created 5 */
	};
	/* clang-format on */
	uint8_t copy[64];
	struct tenant_info t;
	struct tenant_disk d;

	(void)state;
	memset(&t, 0xee, sizeof(t));
	assert_int_equal(sizeof(tenant_v1), 43);
	assert_int_equal(
		tenant_rec_tenant_decode(tenant_v1, sizeof(tenant_v1), &t), 0);
	assert_int_equal(t.id, 7);
	assert_string_equal(t.name, "acme");
	assert_string_equal(t.route, "default");
	assert_string_equal(t.ns, "ns");
	assert_int_equal(t.state, TENANT_SUSPENDED);
	assert_int_equal(t.created, 0x6553f1);
	assert_int_equal(t.checkpoint_s, 0);

	memset(&d, 0xee, sizeof(d));
	assert_int_equal(sizeof(disk_v1), 49);
	assert_int_equal(tenant_rec_disk_decode(disk_v1, sizeof(disk_v1), &d),
			 0);
	assert_int_equal(d.id, 9);
	assert_int_equal(d.tenant_id, 7);
	assert_string_equal(d.vm, "vm");
	assert_string_equal(d.name, "sda");
	assert_int_equal(d.size, 1ull << 30);
	assert_int_equal(d.extent_size, 4 << 20);
	assert_int_equal(d.created, 5);
	assert_int_equal(d.checkpoint_s, 0);
	assert_int_equal(d.snap_seq, 0);

	/* The same bytes labelled version 2 lack the version 2 fields. */
	memcpy(copy, disk_v1, sizeof(disk_v1));
	copy[0] = 2;
	assert_int_equal(tenant_rec_disk_decode(copy, sizeof(disk_v1), &d),
			 -EIO);
	memcpy(copy, tenant_v1, sizeof(tenant_v1));
	copy[0] = 2;
	assert_int_equal(tenant_rec_tenant_decode(copy, sizeof(tenant_v1), &t),
			 -EIO);
}

static void test_record_rp_req(void **state)
{
	struct tenant_rp rp = {0}, rp2;
	struct tenant_req q = {0}, q2;
	uint8_t buf[TENANT_REC_MAX];
	size_t len, i;

	(void)state;
	rp.disk_id = 3;
	rp.id = 4;
	rp.snap_id = 1ull << 40;
	rp.created_ms = 1700000000123ull;
	rp.trigger = TENANT_RP_SESSION_END;
	rp.size = 1ull << 33;
	rp.bytes_changed = 77;
	rp.group = 9;
	strcpy(rp.name, "nightly");
	assert_int_equal(tenant_rec_rp_encode(&rp, buf, sizeof(buf), &len), 0);
	assert_int_equal(tenant_rec_rp_decode(buf, len, &rp2), 0);
	assert_memory_equal(&rp, &rp2, sizeof(rp));
	for (i = 0; i < len; i++)
		assert_int_equal(tenant_rec_rp_decode(buf, i, &rp2), -EIO);

	q.id = 5;
	q.type = TENANT_REQ_RP_CREATE;
	q.state = TENANT_REQ_FAILED;
	q.created_ms = 1;
	q.tenant_id = 2;
	strcpy(q.vm, "web");
	q.rp_id = 8;
	q.size = 4096;
	strcpy(q.name, "n");
	memset(q.message, 'm', sizeof(q.message) - 1);
	for (int32_t err = -4095; err <= 1; err += 1024) {
		q.error = err == 1 ? INT32_MIN : err;
		assert_int_equal(
			tenant_rec_req_encode(&q, buf, sizeof(buf), &len), 0);
		assert_int_equal(tenant_rec_req_decode(buf, len, &q2), 0);
		assert_memory_equal(&q, &q2, sizeof(q));
	}
	for (i = 0; i < len; i++)
		assert_int_equal(tenant_rec_req_decode(buf, i, &q2), -EIO);
	memset(q.message, 'm', sizeof(q.message));
	assert_int_equal(tenant_rec_req_encode(&q, buf, sizeof(buf), &len),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_corrupt),
		cmocka_unit_test(test_record_v1),
		cmocka_unit_test(test_record_rp_req),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
