/* The stored-bytes ledger of an open disk (storage/disk-ledger.c), run
 * against the memory and local backends, and rados when
 * HAVEN_TEST_CEPH_CONF names a test cluster (pool HAVEN_TEST_CEPH_POOL,
 * default "haven-test").
 *
 * Stored bytes are whole extents: the ones the disk holds (checked
 * against the objects the store really lists) plus the clones the latest
 * restore point got since it was cut.  Cuts are made the way havend's
 * cut_one() makes them: new snap context, ledger_cut, take_changed, map.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture-store.h"

#define ES (UINT32_C(64) << 10)
#define NEXT 40
#define DSIZE ((uint64_t)ES * NEXT - ES / 2) /* the last extent is partial */
#define LAST (NEXT - 1)

struct fx {
	const char *type; /* the backend */
	char dir[PATH_MAX];
	char ns[64];
	uint64_t id;
	struct storage_route route;
	struct storage_sync *sync;
	struct storage_store *st;
	struct storage_disk *d; /* the live disk */
	uint64_t size;
	struct fixture_cuts c;
	unsigned flags; /* of the requests run() submits and cost() prices */
};

static unsigned ns_counter;

/* (Re)opens the live disk with the current snap context and, if
 * with_cut, the latest cut's map as the ledger's cut map. */
static void live_open(struct fx *f, uint64_t size, bool with_cut)
{
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id,
		.size = size,
		.extent_size = ES,
		.snap = STORAGE_SNAP_HEAD,
		.snap_seq = f->c.nsnaps ? f->c.snaps[0] : 0,
		.snaps = f->c.snaps,
		.nsnaps = f->c.nsnaps,
		.cut_map = with_cut ? f->c.map : NULL,
		.cut_map_len = with_cut ? f->c.map_len : 0,
	};

	storage_disk_close(f->d);
	f->d = NULL;
	f->size = size;
	assert_int_equal(storage_disk_open(f->st, &p, &f->d), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->type = *state;
	snprintf(f->ns, sizeof(f->ns), "ledger-%ld-%u", (long)getpid(),
		 ++ns_counter);
	f->id = 0x2000 + ns_counter;
	fixture_route(&f->route, f->dir, f->type, "haven-ledger");
	fixture_store_open(&f->route, &f->sync, &f->st);
	live_open(f, DSIZE, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	storage_disk_close(f->d);
	if (strcmp(f->type, "rados") == 0)
		storage_disk_destroy(f->st, f->ns, f->id, f->size, ES);
	fixture_cuts_free(f->st, &f->c);
	storage_store_close(f->st);
	storage_sync_free(f->sync);
	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

/* ---- requests ---- */

struct treq {
	struct storage_req r;
	bool done;
	int result;
};

static void treq_done(struct storage_req *r, int result)
{
	struct treq *t = r->priv;

	t->result = result;
	t->done = true;
}

/* Runs a request to completion; a WRITE writes non-zero bytes. */
static void run(struct fx *f, enum storage_cmd cmd, uint64_t off, uint64_t len)
{
	uint8_t *buf = NULL;
	struct treq t = {0};

	if (cmd == STORAGE_WRITE) {
		buf = malloc(len);
		assert_non_null(buf);
		memset(buf, 0xa5, len);
	}
	t.r.cmd = cmd;
	t.r.flags = f->flags;
	t.r.off = off;
	t.r.len = len;
	t.r.buf = buf;
	t.r.done = treq_done;
	t.r.priv = &t;
	storage_disk_submit(f->d, &t.r);
	storage_sync_wait(f->sync, &t.done);
	assert_int_equal(t.result, 0);
	free(buf);
}

/* Writes whole extent n (up to the disk's end). */
static void write_ext(struct fx *f, uint64_t n)
{
	uint64_t off = n * ES;

	run(f, STORAGE_WRITE, off, f->size - off < ES ? f->size - off : ES);
}

static uint64_t cost(struct fx *f, enum storage_cmd cmd, uint64_t off,
		     uint64_t len)
{
	return storage_disk_write_cost(f->d, cmd, f->flags, off, len);
}

static uint64_t stored(struct fx *f)
{
	return storage_disk_stored_bytes(f->d);
}

/* Submits what write_cost() priced.  A write grows stored bytes by
 * exactly its price (the cases here are exact, not just bounds); zeros
 * may shrink them, the caller says by how much. */
static void run_priced(struct fx *f, enum storage_cmd cmd, uint64_t off,
		       uint64_t len, uint64_t want_cost)
{
	uint64_t before = stored(f);

	assert_int_equal(cost(f, cmd, off, len), want_cost);
	run(f, cmd, off, len);
	if (cmd == STORAGE_WRITE)
		assert_int_equal(stored(f), before + want_cost);
	else
		assert_true(stored(f) <= before + want_cost);
}

/* The live part must be what the store really holds: one object per
 * allocated extent. */
static void expect_objects(struct fx *f, uint64_t want)
{
	uint64_t objects = 0, bytes = 0;

	assert_int_equal(
		storage_disk_usage(f->st, f->ns, f->id, &objects, &bytes), 0);
	assert_int_equal(objects, want);
}

/* Cuts as havend's cut_one() does; keeps the clones handed over and the
 * new map. */
static void cut(struct fx *f)
{
	fixture_cut(f->st, f->d, &f->c);
}

/* The clones of the latest cut are exactly the extents in want[]. */
static void expect_clones(struct fx *f, const uint64_t *want, size_t nwant)
{
	uint64_t n, nexts = (f->size + ES - 1) / ES;
	size_t i, count = 0;

	assert_int_equal(f->c.clone_bytes, (uint64_t)nwant * ES);
	if (!nwant) {
		assert_null(f->c.clones);
		assert_int_equal(f->c.clones_len, 0);
		return;
	}
	assert_non_null(f->c.clones);
	assert_int_equal(f->c.clones_len, (nexts + 7) / 8);
	for (n = 0; n < f->c.clones_len * 8; n++) {
		bool bit = (f->c.clones[n / 8] >> (n % 8)) & 1, in = false;

		for (i = 0; i < nwant; i++)
			in = in || want[i] == n;
		assert_int_equal(bit, in);
		count += bit;
	}
	assert_int_equal(count, nwant);
}

/* ---- without a restore point ---- */

static void test_live_extents(void **state)
{
	struct fx *f = *state;

	assert_int_equal(stored(f), 0);
	expect_objects(f, 0);
	assert_int_equal(cost(f, STORAGE_READ, 0, ES), 0);
	assert_int_equal(cost(f, STORAGE_WRITE, 0, 0), 0);
	assert_int_equal(cost(f, STORAGE_WRITE, f->size, ES), 0);
	/* Each new extent costs one extent, however little of it is
	 * written. */
	run_priced(f, STORAGE_WRITE, 0, ES, ES);
	run_priced(f, STORAGE_WRITE, 5 * ES + 100, 10, ES);
	run_priced(f, STORAGE_WRITE, 9 * ES, 4096, ES);
	assert_int_equal(stored(f), 3 * ES);
	expect_objects(f, 3);
	/* Rewrites of allocated extents are free. */
	run_priced(f, STORAGE_WRITE, 5 * ES, ES, 0);
	run_priced(f, STORAGE_WRITE, 4096, 8192, 0);
	/* A range over 8 (new), 9 (held) and 10 (new). */
	run_priced(f, STORAGE_WRITE, 8 * ES + 1, 2 * ES, 2 * ES);
	assert_int_equal(stored(f), 5 * ES);
	expect_objects(f, 5);
	/* Zeroing or trimming a whole extent removes its object: no
	 * restore point keeps it, so stored bytes drop. */
	run_priced(f, STORAGE_ZERO, 5 * ES, ES, 0);
	assert_int_equal(stored(f), 4 * ES);
	run_priced(f, STORAGE_TRIM, 8 * ES, 2 * ES, 0);
	assert_int_equal(stored(f), 2 * ES);
	expect_objects(f, 2);
	/* Partial zeros keep the object; zeros over holes cost nothing. */
	run_priced(f, STORAGE_ZERO, 0, ES / 2, 0);
	run_priced(f, STORAGE_TRIM, 20 * ES, 3 * ES, 0);
	assert_int_equal(stored(f), 2 * ES);
	expect_objects(f, 2);
	/* Without a cut there is no clone map to hand over. */
	cut(f);
	expect_clones(f, NULL, 0);
	assert_int_equal(stored(f), 2 * ES);
}

/* ---- clones after a cut ---- */

static void test_clones(void **state)
{
	struct fx *f = *state;
	static const uint64_t first[] = {1, 2, 3};
	static const uint64_t second[] = {1, 4};

	for (uint64_t n = 0; n < 4; n++)
		write_ext(f, n);
	cut(f);
	expect_clones(f, NULL, 0);
	assert_int_equal(stored(f), 4 * ES);
	/* The first write to an extent the cut held clones it: one extent
	 * more; the second finds the clone made. */
	run_priced(f, STORAGE_WRITE, ES + 10, 10, ES);
	run_priced(f, STORAGE_WRITE, ES, ES, 0);
	/* 2 and 3 held (clones), 4 and 5 new. */
	run_priced(f, STORAGE_WRITE, 2 * ES, 4 * ES, 4 * ES);
	assert_int_equal(stored(f), 9 * ES);
	expect_objects(f, 6);
	/* A read changes nothing, even of an extent the cut held. */
	assert_int_equal(cost(f, STORAGE_READ, 0, 10), 0);
	assert_int_equal(cost(f, STORAGE_READ, 0, ES), 0);
	/* 5 was a hole at the cut: zeroing it frees it, no clone. */
	run_priced(f, STORAGE_ZERO, 5 * ES, ES, 0);
	assert_int_equal(stored(f), 8 * ES);
	/* No new extent and no new clone. */
	run_priced(f, STORAGE_WRITE, ES, 3 * ES, 0);
	assert_int_equal(cost(f, STORAGE_WRITE, 0, 5 * ES), ES);
	/* A hole at the cut: new, no clone. */
	run_priced(f, STORAGE_WRITE, 6 * ES, ES, ES);
	cut(f);
	/* The clones of the interval go to the catalog. */
	expect_clones(f, first, 3);
	assert_int_equal(stored(f), 6 * ES);
	expect_objects(f, 6);
	/* The new cut holds 0-4 and 6: clones counted afresh. */
	run_priced(f, STORAGE_WRITE, ES, 1, ES);
	run_priced(f, STORAGE_WRITE, 4 * ES, 1, ES);
	run_priced(f, STORAGE_WRITE, 5 * ES, 1, ES); /* a hole at the cut */
	run_priced(f, STORAGE_WRITE, 4 * ES, ES, 0);
	assert_int_equal(stored(f), 9 * ES);
	cut(f);
	expect_clones(f, second, 2);
	assert_int_equal(stored(f), 7 * ES);
}

/* Zeros and trims after a cut: a whole held extent moves from live to
 * clone (no growth), a partial one is cloned and kept. */
static void test_zero_after_cut(void **state)
{
	struct fx *f = *state;
	static const uint64_t want[] = {0, 1, 2, 3};

	for (uint64_t n = 0; n < 4; n++)
		write_ext(f, n);
	cut(f);
	run_priced(f, STORAGE_ZERO, 0, ES, 0);
	run_priced(f, STORAGE_TRIM, ES, ES, 0);
	assert_int_equal(stored(f), 4 * ES);
	expect_objects(f, 2);
	/* Zeros over what is now a hole: nothing. */
	run_priced(f, STORAGE_ZERO, 0, 2 * ES, 0);
	assert_int_equal(stored(f), 4 * ES);
	/* Partial zeros clone the extent and keep it. */
	run_priced(f, STORAGE_ZERO, 2 * ES + 5, 100, ES);
	assert_int_equal(stored(f), 5 * ES);
	expect_objects(f, 2);
	/* Once cloned, zeroing all of it only removes the live object. */
	run_priced(f, STORAGE_ZERO, 2 * ES, ES, 0);
	assert_int_equal(stored(f), 4 * ES);
	/* A range over 3 (whole) and a hole: the clone replaces it. */
	run_priced(f, STORAGE_TRIM, 3 * ES, 3 * ES, 0);
	assert_int_equal(stored(f), 4 * ES);
	expect_objects(f, 0);
	cut(f);
	expect_clones(f, want, 4);
	assert_int_equal(stored(f), 0);
}

/* ZERO with NO_HOLE writes zeros into the object instead of removing
 * it: after a cut, the clone comes on top of the live extent. */
static void test_zero_no_hole(void **state)
{
	struct fx *f = *state;
	static const uint64_t want[] = {0, 1};

	for (uint64_t n = 0; n < 3; n++)
		write_ext(f, n);
	f->flags = STORAGE_F_NO_HOLE;
	/* No restore point: zeros in place cost nothing. */
	run_priced(f, STORAGE_ZERO, 2 * ES, ES, 0);
	assert_int_equal(stored(f), 3 * ES);
	cut(f);
	run_priced(f, STORAGE_ZERO, 0, ES, ES);
	assert_int_equal(stored(f), 4 * ES);
	run_priced(f, STORAGE_ZERO, 0, ES, 0);
	run_priced(f, STORAGE_ZERO, ES + 1, 10, ES);
	/* Over a hole nothing is written. */
	run_priced(f, STORAGE_ZERO, 5 * ES, 2 * ES, 0);
	assert_int_equal(stored(f), 5 * ES);
	expect_objects(f, 3);
	cut(f);
	expect_clones(f, want, 2);
	assert_int_equal(stored(f), 3 * ES);
}

/* The last extent is partial: it counts whole, and zeroing it up to the
 * disk's end removes it. */
static void test_partial_last(void **state)
{
	struct fx *f = *state;
	uint64_t start = (uint64_t)LAST * ES, tail = f->size - start;
	static const uint64_t want[] = {LAST};

	run_priced(f, STORAGE_WRITE, f->size - 100, 100, ES);
	assert_int_equal(cost(f, STORAGE_WRITE, start, tail), 0);
	/* A range running past the end is priced up to the end. */
	assert_int_equal(cost(f, STORAGE_WRITE, start, 4 * ES), 0);
	assert_int_equal(cost(f, STORAGE_WRITE, start - ES, 4 * ES), ES);
	run_priced(f, STORAGE_ZERO, start, tail, 0);
	assert_int_equal(stored(f), 0);
	expect_objects(f, 0);
	write_ext(f, LAST);
	cut(f);
	/* Zeroing all that is left of it: the clone takes its place. */
	run_priced(f, STORAGE_ZERO, start, tail, 0);
	assert_int_equal(stored(f), ES);
	expect_objects(f, 0);
	cut(f);
	expect_clones(f, want, 1);
	assert_int_equal(f->c.clones_len, (NEXT + 7) / 8);
	/* Not held by this cut: a new write is live only. */
	run_priced(f, STORAGE_WRITE, start, 1, ES);
}

/* ---- reopening and growing ---- */

/* havend reopens a disk with its latest restore point's map: the
 * clones are counted again from there. */
static void test_reopen(void **state)
{
	struct fx *f = *state;
	static const uint64_t want[] = {0, 1};

	for (uint64_t n = 0; n < 3; n++)
		write_ext(f, n);
	cut(f);
	/* Without the cut map, the ledger sees no restore point. */
	live_open(f, f->size, false);
	assert_int_equal(stored(f), 3 * ES);
	assert_int_equal(cost(f, STORAGE_WRITE, ES, 1), 0);
	live_open(f, f->size, true);
	assert_int_equal(stored(f), 3 * ES);
	run_priced(f, STORAGE_WRITE, ES, 1, ES);
	run_priced(f, STORAGE_WRITE, ES, ES, 0);
	run_priced(f, STORAGE_WRITE, 7 * ES, 1, ES);
	run_priced(f, STORAGE_ZERO, 0, ES, 0);
	assert_int_equal(stored(f), 5 * ES);
	/* ZERO of 0 was a change too: it is kept by a clone. */
	cut(f);
	expect_clones(f, want, 2);
	assert_int_equal(stored(f), 3 * ES);
}

/* Extents past the cut map did not exist at the cut: no clone. */
static void test_grown(void **state)
{
	struct fx *f = *state;
	uint64_t big = (uint64_t)ES * (NEXT + 30);
	static const uint64_t want[] = {LAST};

	write_ext(f, 0);
	write_ext(f, LAST);
	cut(f);
	assert_int_equal(storage_disk_resize(f->d, big), 0);
	f->size = big;
	/* The old partial extent is held; the ones past it are new. */
	run_priced(f, STORAGE_WRITE, (uint64_t)LAST * ES, ES, ES);
	run_priced(f, STORAGE_WRITE, (uint64_t)(NEXT + 20) * ES, 1, ES);
	run_priced(f, STORAGE_WRITE, (uint64_t)(NEXT + 20) * ES, 1, 0);
	assert_int_equal(stored(f), 4 * ES);
	cut(f);
	expect_clones(f, want, 1);
	/* Reopened bigger than the map it is given: the same. */
	live_open(f, big + 64 * ES, true);
	run_priced(f, STORAGE_WRITE, (uint64_t)(NEXT + 20) * ES, 1, ES);
	run_priced(f, STORAGE_WRITE, big + 10 * ES, 1, ES);
	/* A shorter map: the extents it does not cover were not held. */
	f->c.map_len = 1;
	live_open(f, f->size, true);
	run_priced(f, STORAGE_WRITE, 0, 1, ES);
	run_priced(f, STORAGE_WRITE, (uint64_t)(NEXT + 20) * ES, 1, 0);
	run_priced(f, STORAGE_WRITE, (uint64_t)LAST * ES, 1, 0);
}

/* A disk without a map (a view) has no ledger to cut. */
static void test_view(void **state)
{
	struct fx *f = *state;
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id,
		.size = f->size,
		.extent_size = ES,
	};
	struct storage_disk *v = NULL;
	uint8_t *clones = (uint8_t *)1;
	size_t len = 1;
	uint64_t bytes = 1;

	write_ext(f, 0);
	cut(f);
	p.snap = f->c.snaps[0];
	assert_int_equal(storage_disk_open(f->st, &p, &v), 0);
	assert_int_equal(storage_disk_write_cost(v, STORAGE_WRITE, 0, 0, ES),
			 0);
	assert_int_equal(storage_disk_ledger_cut(v, &clones, &len, &bytes),
			 -ENODATA);
	assert_null(clones);
	assert_int_equal(len, 0);
	assert_int_equal(bytes, 0);
	storage_disk_close(v);
}

static char backends[][8] = {"memory", "local", "rados"};

int main(void)
{
	int failed = 0;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
#define T(fn)                                                                  \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown,          \
						 backends[i])
		const struct CMUnitTest tests[] = {
			T(test_live_extents),	T(test_clones),
			T(test_zero_after_cut), T(test_zero_no_hole),
			T(test_partial_last),	T(test_reopen),
			T(test_grown),		T(test_view),
		};
#undef T

		if (strcmp(backends[i], "rados") == 0 &&
		    !getenv("HAVEN_TEST_CEPH_CONF"))
			continue;
		failed += cmocka_run_group_tests_name(backends[i], tests, NULL,
						      NULL);
	}
	return failed ? 1 : 0;
}
