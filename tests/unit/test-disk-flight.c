/* Unit tests of the disk layer (storage/disk.c): requests in flight, on
 * the memory backend and on a wrapper backend that injects errors and
 * holds completions back.  What reaches the backend for FUA and FLUSH,
 * many requests at once, completions never inline, a backend error
 * failing its request once, and at most 16 object ops per request.  The
 * fixture is in harness-disk.c.
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

/* What reaches the backend for FUA, FLUSH and zeroing with FUA. */
static void test_durability_ops(void **state)
{
	struct fx *fx = *state;
	unsigned char *buf = calloc(1, 2 * ES);
	struct wrap *w = &wrap_state;
	struct treq t;

	assert_non_null(buf);
	fill_pattern(buf, ES, 1);
	memset(w->ncode, 0, sizeof(w->ncode));
	w->nfua = 0;
	assert_int_equal(
		req_run(fx, STORAGE_WRITE, STORAGE_F_FUA, 100, ES, buf), 0);
	assert_int_equal(w->ncode[STORAGE_OP_WRITE], 2);
	assert_int_equal(w->nfua, 2);
	assert_int_equal(w->ncode[STORAGE_OP_SYNC], 0);

	/* Without FUA, no FUA. */
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 100, ES, buf), 0);
	assert_int_equal(w->nfua, 2);

	assert_int_equal(req_run(fx, STORAGE_FLUSH, 0, 0, 0, NULL), 0);
	assert_int_equal(w->ncode[STORAGE_OP_SYNC], 1);
	assert_int_equal(w->last_code, STORAGE_OP_SYNC);

	/* ZERO with FUA: the removals, then a SYNC once they completed
	 * (SYNC covers only the ops completed before it). */
	w->hold = true;
	req_start(fx, &t, STORAGE_ZERO, STORAGE_F_FUA, 0, 2 * ES, NULL);
	assert_int_equal(w->nheld, 2);
	assert_int_equal(w->ncode[STORAGE_OP_REMOVE], 2);
	assert_int_equal(w->ncode[STORAGE_OP_SYNC], 1);
	release_held(fx);
	assert_int_equal(w->ncode[STORAGE_OP_SYNC], 2);
	assert_false(t.done);
	release_held(fx);
	w->hold = false;
	barrier(fx);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.result, 0);
	assert_false(obj_exists(fx, 0));
	assert_false(obj_exists(fx, 1));

	/* Even over holes: an earlier removal may not be durable yet. */
	assert_int_equal(req_run(fx, STORAGE_TRIM, STORAGE_F_FUA, 0, ES, NULL),
			 0);
	assert_int_equal(w->ncode[STORAGE_OP_SYNC], 3);
	assert_int_equal(
		req_run(fx, STORAGE_WRITE, STORAGE_F_FUA, 0, ES, buf + ES), 0);
	assert_int_equal(w->ncode[STORAGE_OP_SYNC], 4);
	assert_int_equal(w->ncode[STORAGE_OP_WRITE], 4);
	free(buf);
}

static void test_many_in_flight(void **state)
{
	struct fx *fx = *state;
	enum { NREQ = 48, LEN = 3 * 4096 + 17 };
	struct treq *t = calloc(NREQ, sizeof(*t));
	unsigned char *data = malloc((size_t)NREQ * LEN);
	unsigned char *back = malloc((size_t)NREQ * LEN);
	struct batch b = {.left = NREQ};
	int i;

	assert_non_null(t);
	assert_non_null(data);
	assert_non_null(back);
	/* Requests 21845 bytes apart: many straddle an extent boundary. */
	for (i = 0; i < NREQ; i++) {
		fill_pattern(data + (size_t)i * LEN, LEN, (unsigned)i);
		req_start(fx, &t[i], STORAGE_WRITE, 0, (uint64_t)i * 21845, LEN,
			  data + (size_t)i * LEN);
		t[i].batch = &b;
	}
	storage_sync_wait(fx->sync, &b.all_done);
	memset(back, 0, (size_t)NREQ * LEN);
	b.left = NREQ;
	b.all_done = false;
	for (i = 0; i < NREQ; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].result, 0);
		req_start(fx, &t[i], STORAGE_READ, 0, (uint64_t)i * 21845, LEN,
			  back + (size_t)i * LEN);
		t[i].batch = &b;
	}
	storage_sync_wait(fx->sync, &b.all_done);
	barrier(fx);
	for (i = 0; i < NREQ; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].result, 0);
	}
	assert_memory_equal(back, data, (size_t)NREQ * LEN);
	free(t);
	free(data);
	free(back);
}

/* Requests that need no I/O still complete later, never inline. */
static void test_never_inline(void **state)
{
	struct fx *fx = *state;
	struct storage_extent e[2];
	unsigned char buf[512];
	struct treq t[5];
	struct batch b = {.left = 5};
	int i;

	memset(buf, 0, sizeof(buf));
	req_start(fx, &t[0], STORAGE_READ, 0, 0, sizeof(buf), buf);
	req_start(fx, &t[1], STORAGE_ZERO, 0, 0, DSIZE, NULL);
	req_start(fx, &t[2], STORAGE_WRITE, 0, 0, sizeof(buf), buf);
	req_start(fx, &t[3], STORAGE_FLUSH, 0, 0, 0, NULL);
	memset(&t[4], 0, sizeof(t[4]));
	t[4].r.cmd = STORAGE_STATUS;
	t[4].r.len = DSIZE;
	t[4].r.extents = e;
	t[4].r.nextents = 2;
	t[4].r.done = treq_done;
	t[4].r.priv = &t[4];
	storage_disk_submit(fx->d, &t[4].r);
	t[4].submitted = true;
	for (i = 0; i < 5; i++) {
		assert_int_equal(t[i].calls, 0);
		t[i].batch = &b;
	}
	storage_sync_wait(fx->sync, &b.all_done);
	barrier(fx);
	for (i = 0; i < 5; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_false(t[i].inline_call);
		assert_int_equal(t[i].result, 0);
	}
	assert_int_equal(t[4].r.nextents, 1);
	assert_int_equal(count_objects(fx, ""), 0);
}

static void test_backend_error(void **state)
{
	struct fx *fx = *state;
	unsigned char *data = malloc(3 * ES), *back = malloc(3 * ES);
	uint64_t ext[40];
	unsigned i;

	assert_non_null(data);
	assert_non_null(back);
	fill_pattern(data, 3 * ES, 8);

	/* The second of three WRITE ops fails. */
	wrap_state.nops = 0;
	wrap_state.fail_at = 2;
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 100, 2 * ES, data),
			 -EIO);
	assert_int_equal(wrap_state.nops, 3);

	/* A READ failing; then the same read succeeding. */
	wrap_state.nops = 0;
	wrap_state.fail_at = 1;
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 0, 3 * ES, back), -EIO);
	wrap_state.fail_at = 0;
	assert_int_equal(req_run(fx, STORAGE_WRITE, 0, 0, 3 * ES, data), 0);
	assert_int_equal(req_run(fx, STORAGE_READ, 0, 0, 3 * ES, back), 0);
	assert_memory_equal(back, data, 3 * ES);

	/* A ZERO over more extents than fit in flight fails early: the
	 * request waits for what it started and completes once. */
	storage_disk_close(fx->d);
	assert_int_equal(
		disk_open(fx, 64 * (uint64_t)ES, ES, STORAGE_SNAP_HEAD, &fx->d),
		0);
	for (i = 0; i < 40; i++)
		ext[i] = i;
	write_extents(fx, ext, 40);
	wrap_state.nops = 0;
	wrap_state.fail_at = 5;
	assert_int_equal(
		req_run(fx, STORAGE_ZERO, 0, 0, 64 * (uint64_t)ES, NULL), -EIO);
	/* Nothing is issued after the error, so the tail stays. */
	assert_true(wrap_state.nops >= 16 && wrap_state.nops < 40);
	assert_true(obj_exists(fx, 39));
	assert_false(obj_exists(fx, 3));
	assert_true(obj_exists(fx, 4)); /* its REMOVE failed */
	/* The failed REMOVE left the extent marked allocated. */
	wrap_state.fail_at = 0;
	assert_int_equal(req_run(fx, STORAGE_TRIM, 0, 4 * ES, ES, NULL), 0);
	assert_false(obj_exists(fx, 4));
	free(data);
	free(back);
}

/* A request never has more than 16 object ops in flight. */
static void test_bounded_in_flight(void **state)
{
	struct fx *fx = *state;
	const uint64_t size = 64 * (uint64_t)ES;
	unsigned char *back = malloc(size), *want = malloc(ES);
	uint64_t ext[2 * NEXT];
	unsigned rounds = 0, i;
	struct treq t;

	assert_non_null(back);
	assert_non_null(want);
	storage_disk_close(fx->d);
	assert_int_equal(disk_open(fx, size, ES, STORAGE_SNAP_HEAD, &fx->d), 0);
	for (i = 0; i < NEXT; i++) {
		ext[i] = i;
		ext[NEXT + i] = 40 + i;
	}

	for (int pass = 0; pass < 2; pass++) {
		write_extents(fx, ext, 2 * NEXT);
		wrap_state.hold = true;
		wrap_state.max_held = 0;
		rounds = 0;
		if (pass == 0)
			req_start(fx, &t, STORAGE_TRIM, 0, 0, size, NULL);
		else
			req_start(fx, &t, STORAGE_READ, 0, 0, size, back);
		assert_int_equal(wrap_state.nheld, 16);
		while (!t.done) {
			assert_true(wrap_state.nheld > 0);
			release_held(fx);
			rounds++;
		}
		wrap_state.hold = false;
		barrier(fx);
		assert_int_equal(t.calls, 1);
		assert_int_equal(t.result, 0);
		assert_int_equal(wrap_state.max_held, 16);
		assert_true(rounds >= 2);
		if (pass == 0)
			assert_int_equal(count_objects(fx, ""), 0);
	}
	/* After the TRIM nothing was left; the READ saw the rewritten data. */
	fill_pattern(want, ES, 0);
	assert_memory_equal(back, want, ES);
	fill_pattern(want, ES, 55);
	assert_memory_equal(back + 55 * (size_t)ES, want, ES);
	assert_true(is_zero(back + 16 * (size_t)ES, 24 * (size_t)ES));
	assert_int_equal(count_objects(fx, ""), 2 * NEXT);
	free(back);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		WRAP(test_durability_ops),    MEM(test_many_in_flight),
		MEM(test_never_inline),	      WRAP(test_backend_error),
		WRAP(test_bounded_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
