/* Unit tests of the disk layer (storage/disk.c): the data path.  Writes
 * and reads across extents, holes, short objects, zero detection (every
 * byte of a piece counts), and ZERO/TRIM, on the memory backend and the
 * first few also on the local backend.  The map, sizes, views and destroy
 * are in test-disk-map.c; requests in flight and backend errors in
 * test-disk-flight.c; the fixture in harness-disk.c.
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

static void test_unaligned_write_spans_extents(void **state)
{
	struct fx *fx = need_store(*state);
	const uint64_t off = ES - 1000, len = (uint64_t)ES + 2000;
	unsigned char *data, *back;

	data = malloc(len);
	back = malloc(4 * ES);
	assert_non_null(data);
	assert_non_null(back);
	fill_pattern(data, len, 3);

	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, off, len, data), 0);
	memset(back, 0xaa, 4 * ES);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 0, 4 * ES, back), 0);
	assert_true(is_zero(back, off));
	assert_memory_equal(back + off, data, len);
	assert_true(is_zero(back + off + len, 4 * ES - off - len));

	/* An unaligned read inside the written range. */
	memset(back, 0, len);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, off + 7, len - 20, back),
			 0);
	assert_memory_equal(back, data + 7, len - 20);

	assert_true(obj_exists(fx, 0));
	assert_true(obj_exists(fx, 1));
	assert_true(obj_exists(fx, 2));
	assert_false(obj_exists(fx, 3));
	free(data);
	free(back);
}

static void test_read_holes_creates_nothing(void **state)
{
	struct fx *fx = need_store(*state);
	unsigned char *back = malloc(DSIZE);

	assert_non_null(back);
	memset(back, 0xaa, DSIZE);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 0, DSIZE, back), 0);
	assert_true(is_zero(back, DSIZE));
	memset(back, 0xaa, 300);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 3 * ES - 100, 300, back),
			 0);
	assert_true(is_zero(back, 300));
	assert_int_equal(count_objects(fx, ""), 0);
	free(back);
}

/* A short object (written only at its start) reads as zeros past its
 * end: the padding of a short READ. */
static void test_read_short_object(void **state)
{
	struct fx *fx = *state;
	unsigned char data[100], back[400];
	uint64_t size = 0;

	fill_pattern(data, sizeof(data), 9);
	assert_int_equal(
		req_run(fx, STORAGE_WRITE, 0, 5 * ES, sizeof(data), data), 0);
	assert_int_equal(obj_stat(fx, 5, &size), 0);
	assert_int_equal(size, sizeof(data));
	memset(back, 0xaa, sizeof(back));
	assert_int_equal(
		req_run(fx, STORAGE_READ, 0, 5 * ES + 50, sizeof(back), back),
		0);
	assert_memory_equal(back, data + 50, 50);
	assert_true(is_zero(back + 50, sizeof(back) - 50));
}

static void test_zero_write_detection(void **state)
{
	struct fx *fx = need_store(*state);
	unsigned char *zeros = calloc(1, 2 * ES), *back = malloc(ES);
	const uint64_t ext[] = {1};

	assert_non_null(zeros);
	assert_non_null(back);

	/* Zeros over holes store nothing, whole or partial. */
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 0, ES, zeros), 0);
	assert_int_equal(req_run(fx, STORAGE_WRITE, STORAGE_F_FUA, 2 * ES + 5,
				 ES, zeros),
			 0);
	assert_int_equal(count_objects(fx, ""), 0);

	/* A whole-extent zero write over data removes the object. */
	write_extents(fx, ext, 1);
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, ES, ES, zeros), 0);
	assert_false(obj_exists(fx, 1));
	memset(back, 0xaa, ES);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, ES, ES, back), 0);
	assert_true(is_zero(back, ES));
	assert_int_equal(count_objects(fx, ""), 0);
	free(zeros);
	free(back);
}

static void test_partial_zero_write(void **state)
{
	struct fx *fx = need_store(*state);
	unsigned char *data = malloc(ES), *back = malloc(ES), zeros[500];
	const uint64_t ext[] = {2};

	assert_non_null(data);
	assert_non_null(back);
	memset(zeros, 0, sizeof(zeros));
	write_extents(fx, ext, 1);
	fill_pattern(data, ES, 2);

	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 2 * ES + 100,
				 sizeof(zeros), zeros),
			 0);
	assert_true(obj_exists(fx, 2));
	memset(data + 100, 0, sizeof(zeros));
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 2 * ES, ES, back), 0);
	assert_memory_equal(back, data, ES);
	free(data);
	free(back);
}

/* One write that is data in extent 0, zeros over all of extent 1 (which
 * held data) and zeros over part of extent 2 (a hole). */
static void test_mixed_write(void **state)
{
	struct fx *fx = *state;
	const uint64_t ext[] = {1};
	unsigned char *buf = calloc(1, 3 * ES), *back = malloc(3 * ES);

	assert_non_null(buf);
	assert_non_null(back);
	write_extents(fx, ext, 1);
	fill_pattern(buf, ES, 4);
	assert_int_equal(
		req_run(fx, STORAGE_WRITE, STORAGE_F_FUA, 0, 2 * ES + 10, buf),
		0);
	assert_true(obj_exists(fx, 0));
	assert_false(obj_exists(fx, 1));
	assert_false(obj_exists(fx, 2));
	memset(back, 0xaa, 3 * ES);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 0, 3 * ES, back), 0);
	assert_memory_equal(back, buf, 3 * ES);
	free(buf);
	free(back);
}

static void test_zero_and_trim(void **state)
{
	struct fx *fx = *state;
	const uint64_t ext[] = {0, 1, 2, 3, 4};
	unsigned char *data = malloc(ES), *back = malloc(ES);
	uint64_t size = 0;

	assert_non_null(data);
	assert_non_null(back);
	write_extents(fx, ext, 5);

	assert_int_equal(req_run(fx, STORAGE_ZERO, 0, 0, ES, NULL), 0);
	assert_false(obj_exists(fx, 0));
	assert_int_equal(req_run(fx, STORAGE_TRIM, STORAGE_F_FUA, ES, ES, NULL),
			 0);
	assert_false(obj_exists(fx, 1));

	/* NO_HOLE keeps the object (RADOS-style zeroing to the end may
	 * shorten it; the range reads as zeros either way). */
	assert_int_equal(
		req_run(fx, STORAGE_ZERO, STORAGE_F_NO_HOLE, 2 * ES, ES, NULL),
		0);
	assert_int_equal(obj_stat(fx, 2, &size), 0);
	assert_true(size <= ES);
	memset(back, 0xaa, ES);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 2 * ES, ES, back), 0);
	assert_true(is_zero(back, ES));

	/* Partial ZERO and TRIM zero just their range. */
	assert_int_equal(
		req_run(fx, STORAGE_ZERO, STORAGE_F_FUA, 3 * ES + 10, 20, NULL),
		0);
	assert_int_equal(req_run(fx, STORAGE_TRIM, 0, 4 * ES - 30, 40, NULL),
			 0);
	assert_true(obj_exists(fx, 3));
	assert_true(obj_exists(fx, 4));
	fill_pattern(data, ES, 3);
	memset(data + 10, 0, 20);
	memset(data + ES - 30, 0, 30);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 3 * ES, ES, back), 0);
	assert_memory_equal(back, data, ES);
	fill_pattern(data, ES, 4);
	memset(data, 0, 10);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 4 * ES, ES, back), 0);
	assert_memory_equal(back, data, ES);

	/* Over holes nothing is created, NO_HOLE included. */
	assert_int_equal(req_run(fx, STORAGE_ZERO, STORAGE_F_NO_HOLE, 8 * ES,
				 2 * ES, NULL),
			 0);
	assert_int_equal(req_run(fx, STORAGE_TRIM, 0, 10 * ES + 1, 5, NULL), 0);
	assert_int_equal(count_objects(fx, ""), 3);
	free(data);
	free(back);
}

/* Zero detection must look at every byte: one non-zero byte anywhere
 * makes the piece data. */
static void test_zero_detection_every_byte(void **state)
{
	struct fx *fx = *state;
	const size_t pos[] = {0, 1, 15, 16, 17, 4095, ES / 2, ES - 2, ES - 1};
	unsigned char *buf = calloc(1, ES), *back = malloc(ES);
	size_t i;

	assert_non_null(buf);
	assert_non_null(back);
	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		buf[pos[i]] = 0x5a;
		assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 3 * ES, ES, buf),
				 0);
		assert_true(obj_exists(fx, 3));
		memset(back, 0, ES);
		assert_int_equal(req_run(fx, STORAGE_READ, 0, 3 * ES, ES, back),
				 0);
		assert_memory_equal(back, buf, ES);
		buf[pos[i]] = 0;
		/* And all zeros again removes it. */
		assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 3 * ES, ES, buf),
				 0);
		assert_false(obj_exists(fx, 3));
	}
	/* Short pieces too: 1 and 17 bytes at the end of an extent. */
	buf[16] = 1;
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 4 * ES - 17, 17, buf),
			 0);
	assert_true(obj_exists(fx, 3));
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 5 * ES - 1, 1, buf + 16),
			 0);
	assert_true(obj_exists(fx, 4));
	free(buf);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MEM(test_unaligned_write_spans_extents),
		MEM(test_read_holes_creates_nothing),
		MEM(test_read_short_object),
		MEM(test_zero_write_detection),
		MEM(test_partial_zero_write),
		MEM(test_zero_detection_every_byte),
		MEM(test_mixed_write),
		MEM(test_zero_and_trim),
		LOCAL(test_unaligned_write_spans_extents),
		LOCAL(test_read_holes_creates_nothing),
		LOCAL(test_zero_write_detection),
		LOCAL(test_partial_zero_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
