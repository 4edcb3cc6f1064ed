/* Unit tests of the disk layer (storage/disk.c): the allocation map and
 * what follows from it.  STATUS runs, a partial last extent, ZERO and
 * TRIM over a 1 TiB disk in well under a second, the map rebuilt from the
 * store at open, a restore-point view, destroy, and the parameters open
 * refuses; on the memory backend, destroy and reopen also on the local
 * one.  The fixture is in harness-disk.c.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness-disk.h"

static void test_status(void **state)
{
	struct fx *fx = *state;
	const uint64_t ext[] = {1, 2, 5};
	struct storage_extent e[16];
	size_t n;

	write_extents(fx, ext, 3);

	n = 16;
	status(fx, 0, DSIZE, e, &n);
	assert_int_equal(n, 5);
	expect_run(&e[0], ES, true);
	expect_run(&e[1], 2 * ES, false);
	expect_run(&e[2], 2 * ES, true);
	expect_run(&e[3], ES, false);
	expect_run(&e[4], 10 * ES, true);

	/* Unaligned start, end clipped at off + len. */
	n = 16;
	status(fx, ES + 100, 3 * ES, e, &n);
	assert_int_equal(n, 2);
	expect_run(&e[0], 2 * ES - 100, false);
	expect_run(&e[1], ES + 100, true);

	/* At most nextents runs. */
	n = 2;
	status(fx, 0, DSIZE, e, &n);
	assert_int_equal(n, 2);
	expect_run(&e[0], ES, true);
	expect_run(&e[1], 2 * ES, false);

	/* A length past the end is clipped to the disk. */
	n = 16;
	status(fx, 5 * ES + 1, DSIZE, e, &n);
	assert_int_equal(n, 2);
	expect_run(&e[0], ES - 1, false);
	expect_run(&e[1], 10 * ES, true);

	/* Zeroing updates the map at once. */
	assert_int_equal(req_run(fx, STORAGE_TRIM, 0, 2 * ES, ES, NULL), 0);
	n = 16;
	status(fx, 0, 4 * ES, e, &n);
	assert_int_equal(n, 3);
	expect_run(&e[0], ES, true);
	expect_run(&e[1], ES, false);
	expect_run(&e[2], 2 * ES, true);
}

/* A disk whose size is not a multiple of the extent size. */
static void test_partial_last_extent(void **state)
{
	struct fx *fx = *state;
	const uint64_t size = 2 * ES + 4096;
	unsigned char *data = malloc(4096), *zeros = calloc(1, 4096);
	struct storage_extent e[4];
	size_t n = 4;

	assert_non_null(data);
	assert_non_null(zeros);
	storage_disk_close(fx->d);
	assert_int_equal(disk_open(fx, size, ES, STORAGE_SNAP_HEAD, &fx->d), 0);
	assert_int_equal(storage_disk_size(fx->d), size);
	assert_int_equal(storage_disk_extent_size(fx->d), ES);
	fill_pattern(data, 4096, 1);
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 2 * ES, 4096, data), 0);
	status(fx, 0, size, e, &n);
	assert_int_equal(n, 2);
	expect_run(&e[0], 2 * ES, true);
	expect_run(&e[1], 4096, false);
	/* The tail extent is whole as far as the disk goes: removed. */
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 2 * ES, 4096, zeros), 0);
	assert_false(obj_exists(fx, 2));
	free(data);
	free(zeros);
}

static void test_huge_disk_zero_trim(void **state)
{
	struct fx *fx = *state;
	const uint64_t tib = UINT64_C(1) << 40;
	const uint32_t es = STORAGE_EXTENT_SIZE_DEFAULT;
	const uint64_t last = tib / es - 1;
	const uint64_t ext[] = {0, 100000, last};
	unsigned char data[4096];
	struct storage_extent e[4];
	struct timespec t0, t1;
	double secs;
	size_t i, n;

	storage_disk_close(fx->d);
	assert_int_equal(disk_open(fx, tib, es, STORAGE_SNAP_HEAD, &fx->d), 0);
	fill_pattern(data, sizeof(data), 5);

	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < 3; i++) {
			assert_int_equal(req_run(fx, STORAGE_WRITE, 0,
						 ext[i] * es + 512,
						 sizeof(data), data),
					 0);
			assert_true(obj_exists(fx, ext[i]));
		}
		assert_int_equal(count_objects(fx, ""), 3);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(req_run(fx, pass ? STORAGE_TRIM : STORAGE_ZERO,
					 STORAGE_F_FUA, 0, tib, NULL),
				 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		assert_true(secs < 1.0);
		assert_int_equal(count_objects(fx, ""), 0);
		n = 4;
		status(fx, 0, tib, e, &n);
		assert_int_equal(n, 1);
		expect_run(&e[0], tib, true);
	}
}

static void test_destroy(void **state)
{
	struct fx *fx = need_store(*state);
	const uint64_t ext[] = {0, 3, 15};
	char oid[STORAGE_OID_MAX];
	unsigned char hdr[16] = {1};
	struct storage_op op;

	write_extents(fx, ext, 3);
	assert_int_equal(storage_oid_header(oid, sizeof(oid), DISK_ID), 0);
	obj_write(fx, oid, hdr, sizeof(hdr));
	/* Another disk's object, which must survive. */
	assert_int_equal(storage_oid_extent(oid, sizeof(oid), DISK_ID + 1, 3),
			 0);
	obj_write(fx, oid, hdr, sizeof(hdr));
	storage_disk_close(fx->d);
	fx->d = NULL;

	assert_int_equal(count_objects(fx, ""), 5);
	assert_int_equal(storage_disk_destroy(fx->st, NS, DISK_ID, DSIZE, ES),
			 0);
	assert_int_equal(count_objects(fx, ""), 1);
	storage_op_init(&op, STORAGE_OP_STAT, NULL);
	snprintf(op.oid, sizeof(op.oid), "%s", oid);
	assert_int_equal(storage_op_run(fx->st, fx->io, &op), 0);
	/* Destroying again finds nothing and is not an error. */
	assert_int_equal(storage_disk_destroy(fx->st, NS, DISK_ID, DSIZE, ES),
			 0);
}

static void test_reopen_rebuilds_map(void **state)
{
	struct fx *fx = need_store(*state);
	const uint64_t ext[] = {1, 3, 4};
	char oid[STORAGE_OID_MAX];
	unsigned char data[64], *back = malloc(ES), *want;
	struct storage_extent e[16];
	size_t n = 16;

	assert_non_null(back);
	write_extents(fx, ext, 3);
	/* Names that are not extents of this disk must not count. */
	fill_pattern(data, sizeof(data), 1);
	assert_int_equal(storage_oid_header(oid, sizeof(oid), DISK_ID), 0);
	obj_write(fx, oid, data, sizeof(data));
	snprintf(oid, sizeof(oid), "%016" PRIx64 ".%016" PRIX64, DISK_ID,
		 UINT64_C(0xA));
	obj_write(fx, oid, data, sizeof(data));
	snprintf(oid, sizeof(oid), "%016" PRIx64 ".xyz", DISK_ID);
	obj_write(fx, oid, data, sizeof(data));
	assert_int_equal(storage_oid_extent(oid, sizeof(oid), DISK_ID, NEXT),
			 0);
	obj_write(fx, oid, data, sizeof(data)); /* past the end */

	storage_disk_close(fx->d);
	assert_int_equal(disk_open(fx, DSIZE, ES, STORAGE_SNAP_HEAD, &fx->d),
			 0);
	status(fx, 0, DSIZE, e, &n);
	assert_int_equal(n, 5);
	expect_run(&e[0], ES, true);
	expect_run(&e[1], ES, false);
	expect_run(&e[2], ES, true);
	expect_run(&e[3], 2 * ES, false);
	expect_run(&e[4], 11 * ES, true);
	want = malloc(ES);
	assert_non_null(want);
	fill_pattern(want, ES, 3);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 3 * ES, ES, back), 0);
	assert_memory_equal(back, want, ES);
	/* The rebuilt map drives zero detection: a zero write removes. */
	memset(back, 0, ES);
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 4 * ES, ES, back), 0);
	assert_false(obj_exists(fx, 4));
	free(want);
	free(back);
}

/* A restore-point view reads at its snap and refuses writes. */
static void test_snap_view(void **state)
{
	struct fx *fx = *state;
	unsigned char *v1 = malloc(ES), *v2 = malloc(ES), *back = malloc(ES);
	struct storage_disk *head = fx->d;
	struct storage_extent e[4];
	struct storage_op op;
	uint64_t snap;
	size_t n = 4;

	assert_non_null(v1);
	assert_non_null(v2);
	assert_non_null(back);
	fill_pattern(v1, ES, 1);
	fill_pattern(v2, ES, 2);
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, ES, ES, v1), 0);
	assert_int_equal(fx->st->be_ops->snap_create(fx->st->be, &snap), 0);
	/* After the snap, extent 1 is overwritten and extent 2 created
	 * through a writer carrying the snap in its context. */
	assert_int_equal(fx->st->be_ops->set_write_ctx(fx->io, snap, &snap, 1),
			 0);
	storage_op_init(&op, STORAGE_OP_WRITE, NULL);
	assert_int_equal(storage_oid_extent(op.oid, sizeof(op.oid), DISK_ID, 1),
			 0);
	op.buf = v2;
	op.len = ES;
	assert_int_equal(storage_op_run(fx->st, fx->io, &op), 0);
	assert_int_equal(storage_oid_extent(op.oid, sizeof(op.oid), DISK_ID, 2),
			 0);
	assert_int_equal(storage_op_run(fx->st, fx->io, &op), 0);

	assert_int_equal(disk_open(fx, DSIZE, ES, snap, &fx->d), 0);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, ES, ES, back), 0);
	assert_memory_equal(back, v1, ES);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 2 * ES, ES, back), 0);
	assert_true(is_zero(back, ES));
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 0, ES, v1), -EROFS);
	assert_int_equal(req_run(fx, STORAGE_ZERO, 0, 0, ES, NULL), -EROFS);
	assert_int_equal(req_run(fx, STORAGE_TRIM, 0, 0, ES, NULL), -EROFS);
	status(fx, 0, DSIZE, e, &n);
	assert_int_equal(n, 1);
	expect_run(&e[0], DSIZE, false);
	storage_disk_close(fx->d);

	fx->d = head;
	assert_int_equal(req_run(fx, STORAGE_READ, 0, ES, ES, back), 0);
	assert_memory_equal(back, v2, ES);
	free(v1);
	free(v2);
	free(back);
}

static void test_open_rejects_bad_params(void **state)
{
	struct fx *fx = *state;
	struct storage_disk *d = (struct storage_disk *)(uintptr_t)1;

	assert_int_equal(disk_open(fx, DSIZE, 3000, STORAGE_SNAP_HEAD, &d),
			 -EINVAL);
	assert_null(d);
	assert_int_equal(disk_open(fx, DSIZE, 3 * 4096, STORAGE_SNAP_HEAD, &d),
			 -EINVAL);
	assert_int_equal(storage_disk_destroy(fx->st, NS, DISK_ID, DSIZE, 100),
			 -EINVAL);
	storage_disk_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MEM(test_status),
		MEM(test_partial_last_extent),
		MEM(test_huge_disk_zero_trim),
		MEM(test_destroy),
		MEM(test_reopen_rebuilds_map),
		MEM(test_snap_view),
		MEM(test_open_rejects_bad_params),
		LOCAL(test_destroy),
		LOCAL(test_reopen_rebuilds_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
