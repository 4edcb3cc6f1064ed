/* The stored-bytes ledger after a crash (storage/disk-ledger.c): a disk
 * reopened without a saved map, after changes since its latest restore
 * point, must count exactly what a disk that never crashed counts.
 *
 * Every test runs the same requests and cuts on two disks, each in a
 * store of its own: "kept" stays open throughout, "crashed" is dropped
 * without a clean close (and on the local backend its store is closed
 * and opened again, as a new havend would) and reopened the way havend
 * does it after a kill -9: a listed map, the latest restore point's map
 * and snap.  Then stored bytes, the price of every extent, the clone map
 * the next cut hands over and its bytes_changed are compared.  Run
 * against the memory and local backends, and rados when
 * HAVEN_TEST_CEPH_CONF names a test cluster (pool HAVEN_TEST_CEPH_POOL,
 * default "haven-test").  Cuts are made the way havend's cut_one()
 * makes them: new snap context, ledger_cut, take_changed, map.
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
#define NEXT 24
#define DSIZE ((uint64_t)ES * NEXT - ES / 2) /* the last extent is partial */
#define LAST (NEXT - 1)

/* One disk in a store of its own, and what its cuts gave. */
struct side {
	uint64_t id; /* of its disk: the two share a pool on rados */
	char dir[PATH_MAX];
	struct storage_route route;
	struct storage_sync *sync;
	struct storage_store *st;
	struct storage_disk *d;
	struct fixture_cuts c;
};

struct fx {
	const char *type;
	char ns[64];
	struct side s[2]; /* kept, crashed */
};

enum { KEPT, CRASHED };

static unsigned ns_counter;

static void store_close(struct side *s)
{
	storage_store_close(s->st);
	storage_sync_free(s->sync);
	s->st = NULL;
	s->sync = NULL;
}

/* The side's live disk as havend opens it: with the snap context, and
 * the latest cut's map and snap; never with a saved map, so the map is
 * listed. */
static struct storage_disk_params live_params(struct fx *f, struct side *s)
{
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = s->id,
		.size = DSIZE,
		.extent_size = ES,
		.snap = STORAGE_SNAP_HEAD,
		.snap_seq = s->c.nsnaps ? s->c.snaps[0] : 0,
		.snaps = s->c.snaps,
		.nsnaps = s->c.nsnaps,
		.cut_map = s->c.map,
		.cut_map_len = s->c.map_len,
		.cut_snap = s->c.nsnaps ? s->c.snaps[0] : 0,
	};

	return p;
}

static void live_open(struct fx *f, struct side *s)
{
	struct storage_disk_params p = live_params(f, s);

	assert_int_equal(storage_disk_open(s->st, &p, &s->d), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->type = *state;
	snprintf(f->ns, sizeof(f->ns), "crash-%ld-%u", (long)getpid(),
		 ++ns_counter);
	for (int i = 0; i < 2; i++) {
		struct side *s = &f->s[i];

		s->id = 0x3000 + 2 * ns_counter + (unsigned)i;
		fixture_route(&s->route, s->dir, f->type, "haven-crash");
		fixture_store_open(&s->route, &s->sync, &s->st);
		live_open(f, s);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 2; i++) {
		struct side *s = &f->s[i];

		storage_disk_close(s->d);
		if (strcmp(f->type, "rados") == 0)
			storage_disk_destroy(s->st, f->ns, s->id, DSIZE, ES);
		fixture_cuts_free(s->st, &s->c);
		store_close(s);
		fixture_rmtree(s->dir);
	}
	free(f);
	return 0;
}

/* ---- requests and cuts, on both sides ---- */

/* The same request on both disks; a WRITE writes non-zero bytes. */
static void run(struct fx *f, enum storage_cmd cmd, uint64_t off, uint64_t len)
{
	uint8_t *buf = NULL;

	if (cmd == STORAGE_WRITE) {
		buf = malloc(len);
		assert_non_null(buf);
		fixture_fill(buf, len, 1);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(fixture_req_run(f->s[i].sync, f->s[i].d, cmd,
						 off, len, buf),
				 0);
	free(buf);
}

static void write_ext(struct fx *f, uint64_t n)
{
	uint64_t off = n * ES;

	run(f, STORAGE_WRITE, off, DSIZE - off < ES ? DSIZE - off : ES);
}

static void cut(struct fx *f)
{
	for (int i = 0; i < 2; i++)
		fixture_cut(f->s[i].st, f->s[i].d, &f->s[i].c);
}

/* kill -9: no cut, no saved map; a new process opens the store again. */
static void crash(struct fx *f)
{
	struct side *s = &f->s[CRASHED];

	storage_disk_close(s->d);
	s->d = NULL;
	/* The memory store dies with its process: keep it. */
	if (strcmp(f->type, "memory") != 0) {
		store_close(s);
		fixture_store_open(&s->route, &s->sync, &s->st);
	}
	live_open(f, s);
}

/* ---- what a user of the ledger sees ---- */

static uint64_t stored(struct fx *f, int side)
{
	return storage_disk_stored_bytes(f->s[side].d);
}

static void expect_same_ledger(struct fx *f)
{
	struct storage_disk *k = f->s[KEPT].d, *c = f->s[CRASHED].d;
	static const enum storage_cmd cmds[] = {STORAGE_WRITE, STORAGE_ZERO};

	assert_int_equal(storage_disk_stored_bytes(c),
			 storage_disk_stored_bytes(k));
	/* The price of changing each extent: the same clone bits. */
	for (uint64_t n = 0; n < NEXT; n++) {
		for (size_t i = 0; i < 2; i++) {
			uint64_t off = n * ES;
			uint64_t len = DSIZE - off < ES ? DSIZE - off : ES;

			assert_int_equal(
				storage_disk_write_cost(c, cmds[i], 0, off, 1),
				storage_disk_write_cost(k, cmds[i], 0, off, 1));
			assert_int_equal(storage_disk_write_cost(c, cmds[i], 0,
								 off, len),
					 storage_disk_write_cost(k, cmds[i], 0,
								 off, len));
		}
	}
}

static void expect_same_cut(struct fx *f)
{
	const struct fixture_cuts *k = &f->s[KEPT].c, *c = &f->s[CRASHED].c;

	assert_int_equal(c->clone_bytes, k->clone_bytes);
	assert_int_equal(c->clones_len, k->clones_len);
	if (k->clones_len)
		assert_memory_equal(c->clones, k->clones, k->clones_len);
	else
		assert_null(c->clones);
	assert_int_equal(c->changed, k->changed);
	assert_int_equal(stored(f, CRASHED), stored(f, KEPT));
}

/* ---- tests ---- */

/* Changes of every kind since the latest restore point, a crash, and
 * the next cut hands over exactly the clones a living havend would. */
static void test_crash_after_changes(void **state)
{
	struct fx *f = *state;

	for (uint64_t n = 0; n < 10; n++)
		write_ext(f, n);
	write_ext(f, LAST);
	cut(f); /* A */
	/* Changed after A only: a clone for A, none for B. */
	write_ext(f, 4);
	cut(f); /* B, the latest */
	assert_int_equal(f->s[KEPT].c.clone_bytes, ES);
	write_ext(f, 0);			   /* rewritten */
	run(f, STORAGE_WRITE, ES + 100, 10);	   /* partly */
	run(f, STORAGE_WRITE, ES + 200, 10);	   /* twice */
	run(f, STORAGE_ZERO, 2 * ES, ES);	   /* removed */
	run(f, STORAGE_TRIM, 3 * ES + 4096, 4096); /* punched */
	run(f, STORAGE_ZERO, (uint64_t)LAST * ES, DSIZE - (uint64_t)LAST * ES);
	write_ext(f, 12); /* new: live only */
	write_ext(f, 13);
	/* 11 extents live (0-9 but 2, 12, 13) and the clones of 0, 1, 2,
	 * 3 and LAST. */
	assert_int_equal(stored(f, KEPT), (10 - 1 + 2 + 5) * (uint64_t)ES);

	crash(f);
	expect_same_ledger(f);
	/* Rewriting what was cloned before the crash costs nothing. */
	assert_int_equal(storage_disk_write_cost(f->s[CRASHED].d, STORAGE_WRITE,
						 0, 0, ES),
			 0);
	/* What B held and nothing changed since: the first change clones. */
	assert_int_equal(storage_disk_write_cost(f->s[CRASHED].d, STORAGE_WRITE,
						 0, 5 * ES, 1),
			 ES);

	write_ext(f, 0);
	write_ext(f, 5);
	run(f, STORAGE_TRIM, 12 * ES, ES);
	expect_same_ledger(f);
	cut(f); /* C: hands over the clones that preserve B */
	assert_int_equal(f->s[KEPT].c.clone_bytes, 6 * (uint64_t)ES);
	expect_same_cut(f);
	expect_same_ledger(f);
	/* And from there on the two go on alike. */
	write_ext(f, 6);
	write_ext(f, 2);
	cut(f);
	expect_same_cut(f);
}

/* A crash right after a cut: nothing changed, nothing is counted. */
static void test_crash_right_after_cut(void **state)
{
	struct fx *f = *state;

	write_ext(f, 1);
	write_ext(f, 7);
	cut(f);
	crash(f);
	expect_same_ledger(f);
	assert_int_equal(stored(f, CRASHED), 2 * (uint64_t)ES);
	write_ext(f, 7);
	write_ext(f, 8);
	cut(f);
	assert_int_equal(f->s[CRASHED].c.clone_bytes, ES);
	expect_same_cut(f);
}

/* Before any restore point there are no clones; everything the store
 * holds counts as changed for the first restore point. */
static void test_crash_before_any_cut(void **state)
{
	struct fx *f = *state;

	write_ext(f, 0);
	write_ext(f, 3);
	run(f, STORAGE_WRITE, (uint64_t)LAST * ES, 100);
	crash(f);
	expect_same_ledger(f);
	assert_int_equal(stored(f, CRASHED), 3 * (uint64_t)ES);
	cut(f);
	expect_same_cut(f);
	assert_int_equal(f->s[CRASHED].c.changed, 2 * (uint64_t)ES + ES / 2);
}

/* Two crashes in a row: the clones found again are found again. */
static void test_crash_twice(void **state)
{
	struct fx *f = *state;

	for (uint64_t n = 0; n < 6; n++)
		write_ext(f, n);
	cut(f);
	write_ext(f, 1);
	run(f, STORAGE_ZERO, 4 * ES, ES);
	crash(f);
	write_ext(f, 2);
	crash(f);
	expect_same_ledger(f);
	assert_int_equal(stored(f, CRASHED), (5 + 3) * (uint64_t)ES);
	cut(f);
	expect_same_cut(f);
}

/* An open after a crash given up on (havend stopping) returns
 * -ECANCELED and no disk, and changed nothing: the next open finds the
 * same map and the same clones. */
static void test_crash_open_cancelled(void **state)
{
	struct fx *f = *state;
	struct side *s = &f->s[CRASHED];
	struct storage_disk_params p;
	atomic_bool cancel;
	struct storage_disk *d = (void *)&p;

	for (uint64_t n = 0; n < 4; n++)
		write_ext(f, n);
	cut(f);
	write_ext(f, 1);
	write_ext(f, 6);
	p = live_params(f, s);
	atomic_init(&cancel, true);
	p.cancel = &cancel;
	storage_disk_close(s->d);
	s->d = NULL;
	assert_int_equal(storage_disk_open(s->st, &p, &d), -ECANCELED);
	assert_null(d);
	crash(f);
	expect_same_ledger(f);
	assert_int_equal(stored(f, CRASHED), (5 + 1) * (uint64_t)ES);
	cut(f);
	expect_same_cut(f);
}

#define T(fn, b)                                                               \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, b)
#define BACKEND_TESTS(b)                                                       \
	T(test_crash_after_changes, b), T(test_crash_right_after_cut, b),      \
		T(test_crash_before_any_cut, b), T(test_crash_twice, b),       \
		T(test_crash_open_cancelled, b)

int main(void)
{
	static char mem[] = "memory", loc[] = "local", rad[] = "rados";
	const struct CMUnitTest tests[] = {BACKEND_TESTS(mem),
					   BACKEND_TESTS(loc)};
	const struct CMUnitTest rados_tests[] = {BACKEND_TESTS(rad)};
	int r;

	r = cmocka_run_group_tests_name("memory+local", tests, NULL, NULL);
#ifdef HAVE_RADOS
	if (getenv("HAVEN_TEST_CEPH_CONF"))
		r |= cmocka_run_group_tests_name("rados", rados_tests, NULL,
						 NULL);
#else
	(void)rados_tests;
#endif
	return r;
}
