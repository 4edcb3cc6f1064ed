/* The object-store contract (storage/objstore.h), one suite run unchanged
 * against every backend: memory, local (a fresh directory per test),
 * local inside the fault injector, and rados when HAVEN_TEST_CEPH_CONF
 * names a test cluster.  Here: plain object I/O, listing, namespaces,
 * durability, WRITE_FULL, asynchronous submission, persistence and the
 * backend registry; the snapshots are in test-storage-snaps.c.
 *
 * Tests only use the ops table, a sync env and storage_op_run(), as the
 * disk layer does.
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

#include "harness-contract.h"

/* ---- plain object I/O ---- */

static void test_write_read(void **state)
{
	struct fixture *f = *state;
	char buf[8192], want[8192];

	memset(want, 0, sizeof(want));
	memcpy(want, "hello", 5);
	memcpy(want + 4096, "world", 5);
	assert_int_equal(obj_write(f, "obj", 0, "hello", 5), 0);
	assert_int_equal(obj_write(f, "obj", 4096, "world", 5), 0);
	/* The hole between the writes reads as zeros. */
	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(
		obj_read(f, "obj", STORAGE_SNAP_HEAD, 0, buf, sizeof(buf)),
		4101);
	assert_memory_equal(buf, want, 4101);
	/* Overwrite in the middle, read at an offset. */
	assert_int_equal(obj_write(f, "obj", 4098, "RL", 2), 0);
	assert_int_equal(obj_read(f, "obj", STORAGE_SNAP_HEAD, 4096, buf, 5),
			 5);
	assert_memory_equal(buf, "woRLd", 5);
}

static void test_read_missing(void **state)
{
	struct fixture *f = *state;

	expect_absent(f, "nothing", STORAGE_SNAP_HEAD);
}

static void test_short_read(void **state)
{
	struct fixture *f = *state;
	char data[100], buf[200];
	int i;

	for (i = 0; i < 100; i++)
		data[i] = (char)i;
	assert_int_equal(obj_write(f, "obj", 0, data, 100), 0);
	assert_int_equal(obj_read(f, "obj", STORAGE_SNAP_HEAD, 50, buf, 200),
			 50);
	assert_memory_equal(buf, data + 50, 50);
	assert_int_equal(obj_read(f, "obj", STORAGE_SNAP_HEAD, 100, buf, 10),
			 0);
	assert_int_equal(obj_read(f, "obj", STORAGE_SNAP_HEAD, 5000, buf, 10),
			 0);
}

static void test_zero(void **state)
{
	struct fixture *f = *state;
	char *want = malloc(21000), *buf = malloc(21000);

	assert_non_null(want);
	assert_non_null(buf);
	memset(want, 0xaa, 8192);
	assert_int_equal(obj_write(f, "obj", 0, want, 8192), 0);
	/* Inside. */
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "obj", 1000, 2000), 0);
	memset(want + 1000, 0, 2000);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, want, 8192);
	/* Past the end: nothing changes. */
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "obj", 20000, 1000), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, want, 8192);
	/* Reaching the end: RADOS truncates at the range's start. */
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "obj", 6000, 4000), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, want, 6000);
	/* A missing object stays missing. */
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "new", 4096, 4096), 0);
	expect_absent(f, "new", STORAGE_SNAP_HEAD);
	free(buf);
	free(want);
}

static void test_truncate(void **state)
{
	struct fixture *f = *state;
	char want[8192];

	memset(want, 0x33, sizeof(want));
	assert_int_equal(obj_write(f, "obj", 0, want, sizeof(want)), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_TRUNCATE, "obj", 100, 0), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, want, 100);
	/* Growing again must not bring the old bytes back. */
	assert_int_equal(obj_op(f, STORAGE_OP_TRUNCATE, "obj", 8192, 0), 0);
	memset(want + 100, 0, sizeof(want) - 100);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, want, 8192);
	assert_int_equal(obj_op(f, STORAGE_OP_TRUNCATE, "obj", 0, 0), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, want, 0);
}

static void test_remove(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(obj_write(f, "obj", 0, "x", 1), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "obj", 0, 0), 0);
	expect_absent(f, "obj", STORAGE_SNAP_HEAD);
	assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "obj", 0, 0), -ENOENT);
	assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "never", 0, 0), -ENOENT);
	/* It can be created again. */
	assert_int_equal(obj_write(f, "obj", 2, "y", 1), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "\0\0y", 3);
}

static void test_stat(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 1;

	assert_int_equal(obj_write(f, "obj", 0, "", 0), 0);
	assert_int_equal(obj_stat(f, "obj", STORAGE_SNAP_HEAD, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(obj_write(f, "obj", 12345, "z", 1), 0);
	assert_int_equal(obj_stat(f, "obj", STORAGE_SNAP_HEAD, &size), 0);
	assert_int_equal(size, 12346);
}

struct listing {
	char names[16][STORAGE_OID_MAX];
	uint64_t sizes[16];
	unsigned n;
	unsigned stop_after;
	atomic_bool *cancel; /* set once cancel_after objects were seen */
	unsigned cancel_after;
};

static int list_cb(void *arg, const char *oid, uint64_t size)
{
	struct listing *l = arg;

	assert_true(l->n < 16);
	snprintf(l->names[l->n], STORAGE_OID_MAX, "%s", oid);
	l->sizes[l->n] = size;
	l->n++;
	if (l->cancel && l->n == l->cancel_after)
		atomic_store(l->cancel, true);
	return l->n == l->stop_after ? 42 : 0;
}

static uint64_t listed_size(const struct listing *l, const char *oid)
{
	unsigned i, hits = 0;
	uint64_t size = UINT64_MAX;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], oid) == 0) {
			hits++;
			size = l->sizes[i];
		}
	}
	assert_true(hits <= 1);
	return size;
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	const struct storage_backend *be = f->st->be_ops;
	struct listing l;
	atomic_bool cancel;
	uint64_t s1;

	assert_int_equal(obj_write(f, "a.1", 0, "1", 1), 0);
	assert_int_equal(obj_write(f, "a.2", 0, "22", 2), 0);
	assert_int_equal(obj_write(f, "b.1", 0, "333", 3), 0);
	assert_int_equal(obj_write(f, "a.gone", 0, "4", 1), 0);
	/* Snapshot clones and removed objects are not HEAD objects. */
	s1 = snap_new(f);
	set_ctx(f, &s1, 1);
	assert_int_equal(obj_write(f, "a.2", 0, "XX", 2), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "a.gone", 0, 0), 0);

	memset(&l, 0, sizeof(l));
	assert_int_equal(be->list(f->io, "a.", list_cb, &l, NULL), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(listed_size(&l, "a.1"), 1);
	assert_int_equal(listed_size(&l, "a.2"), 2);

	memset(&l, 0, sizeof(l));
	assert_int_equal(be->list(f->io, "", list_cb, &l, NULL), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(listed_size(&l, "b.1"), 3);

	/* The callback's non-zero value stops the walk. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	assert_int_equal(be->list(f->io, "", list_cb, &l, NULL), 42);
	assert_int_equal(l.n, 1);

	/* A listing given up on (another thread sets the flag) stops at
	 * the next object, and one given up on before it starts lists
	 * nothing. */
	memset(&l, 0, sizeof(l));
	atomic_init(&cancel, false);
	l.cancel = &cancel;
	l.cancel_after = 1;
	assert_int_equal(be->list(f->io, "", list_cb, &l, &cancel), -ECANCELED);
	assert_int_equal(l.n, 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->list(f->io, "", list_cb, &l, &cancel), -ECANCELED);
	assert_int_equal(l.n, 0);
}

static void test_namespaces(void **state)
{
	struct fixture *f = *state;
	void *other = NULL, *mine = f->io;
	char ns[80];

	snprintf(ns, sizeof(ns), "%s-other", f->ns);
	assert_int_equal(f->st->be_ops->ioctx_open(f->st->be, ns, &other), 0);
	assert_int_equal(obj_write(f, "obj", 0, "mine", 4), 0);
	f->io = other;
	expect_absent(f, "obj", STORAGE_SNAP_HEAD);
	assert_int_equal(obj_write(f, "obj", 0, "theirs", 6), 0);
	f->io = mine;
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "mine", 4);
	f->st->be_ops->ioctx_close(other);
}

static void test_durability(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, STORAGE_OP_WRITE, "obj", 0, 3, "fua",
			     STORAGE_SNAP_HEAD, STORAGE_OPF_FUA, NULL),
			 0);
	assert_int_equal(obj_write(f, "obj2", 0, "late", 4), 0);
	assert_int_equal(obj_write(f, "obj3", 0, "gone soon", 9), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "obj3", 0, 4), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "obj3", 0, 0), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_SYNC, "", 0, 0), 0);
	/* A SYNC with nothing to do completes too. */
	assert_int_equal(obj_op(f, STORAGE_OP_SYNC, "", 0, 0), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "fua", 3);
	expect_obj(f, "obj2", STORAGE_SNAP_HEAD, "late", 4);
}

static int64_t obj_write_full(struct fixture *f, const char *oid,
			      const void *buf, uint64_t len)
{
	return run(f, STORAGE_OP_WRITE_FULL, oid, 0, len,
		   (void *)(uintptr_t)buf, STORAGE_SNAP_HEAD, 0, NULL);
}

static void test_write_full(void **state)
{
	struct fixture *f = *state;
	char big[10000];

	/* Creates the object. */
	assert_int_equal(obj_write_full(f, "obj", "first content", 13), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "first content", 13);
	/* A longer object replaced by a shorter one: nothing of the old
	 * content is left, not even past the new end. */
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(obj_write(f, "obj", 0, big, sizeof(big)), 0);
	assert_int_equal(obj_write_full(f, "obj", "short", 5), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "short", 5);
	/* Growing again does not bring old bytes back. */
	assert_int_equal(obj_write(f, "obj", 8, "x", 1), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "short\0\0\0x", 9);
	/* Empty content leaves an empty object, which exists. */
	assert_int_equal(obj_write_full(f, "obj", "", 0), 0);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "", 0);
	/* Plain writes and zeroes after a replace act on the new object. */
	assert_int_equal(obj_write_full(f, "obj", big, 4096), 0);
	assert_int_equal(obj_write(f, "obj", 100, "mid", 3), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "obj", 0, 10), 0);
	memcpy(big + 100, "mid", 3);
	memset(big, 0, 10);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, big, 4096);
	/* And it is durable without a SYNC: nothing is left dirty for it. */
	assert_int_equal(obj_op(f, STORAGE_OP_SYNC, "", 0, 0), 0);
}

static void test_write_full_snap(void **state)
{
	struct fixture *f = *state;
	uint64_t s[2];

	assert_int_equal(obj_write(f, "obj", 0, "version-1-long", 14), 0);
	s[0] = snap_new(f);
	set_ctx(f, s, 1);
	assert_int_equal(obj_write_full(f, "obj", "v2", 2), 0);
	assert_int_equal(obj_write_full(f, "new", "born", 4), 0);
	expect_obj(f, "obj", s[0], "version-1-long", 14);
	expect_absent(f, "new", s[0]);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "v2", 2);
	s[1] = snap_new(f);
	set_ctx(f, s, 2);
	assert_int_equal(obj_write_full(f, "obj", "version-3", 9), 0);
	expect_obj(f, "obj", s[0], "version-1-long", 14);
	expect_obj(f, "obj", s[1], "v2", 2);
	expect_obj(f, "new", s[1], "born", 4);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "version-3", 9);
	/* A writer without a context (the disk layer's header ioctx) makes
	 * no clone, and the clones already taken stay. */
	set_ctx(f, NULL, 0);
	assert_int_equal(obj_write_full(f, "obj", "v4", 2), 0);
	expect_obj(f, "obj", s[0], "version-1-long", 14);
	expect_obj(f, "obj", s[1], "v2", 2);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "v4", 2);
}

/* ---- asynchronous submission ---- */

struct batch {
	struct storage_op *ops;
	unsigned *runs; /* completions seen per op */
	unsigned n, done_count;
	bool done;
};

static void batch_done(struct storage_completion *c)
{
	struct storage_op *op = (struct storage_op *)c;
	struct batch *b = op->owner;
	unsigned i = (unsigned)(op - b->ops);

	assert_true(i < b->n);
	b->runs[i]++;
	b->done_count++;
	b->done = b->done_count == b->n;
}

static void batch_init(struct batch *b, unsigned n)
{
	memset(b, 0, sizeof(*b));
	b->ops = calloc(n, sizeof(*b->ops));
	b->runs = calloc(n, sizeof(*b->runs));
	assert_non_null(b->ops);
	assert_non_null(b->runs);
	b->n = n;
}

static struct storage_op *batch_op(struct batch *b, unsigned i,
				   enum storage_opcode code, const char *oid)
{
	struct storage_op *op = &b->ops[i];

	storage_op_init(op, code, batch_done);
	op->owner = b;
	snprintf(op->oid, sizeof(op->oid), "%s", oid);
	return op;
}

static void batch_free(struct batch *b)
{
	free(b->ops);
	free(b->runs);
}

static void test_order(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	struct storage_op *op;
	unsigned i, round;

	/* Repeated, so that a backend reordering ops would be caught. */
	for (round = 0; round < 50; round++) {
		batch_init(&b, 3);
		op = batch_op(&b, 0, STORAGE_OP_WRITE, "obj");
		op->buf = "first-version";
		op->len = 13;
		batch_op(&b, 1, STORAGE_OP_REMOVE, "obj");
		op = batch_op(&b, 2, STORAGE_OP_WRITE, "obj");
		op->buf = "last";
		op->len = 4;
		for (i = 0; i < 3; i++)
			storage_op_submit(f->st, f->io, &b.ops[i]);
		storage_sync_wait(f->sync, &b.done);
		for (i = 0; i < 3; i++) {
			assert_int_equal(b.runs[i], 1);
			/* REMOVE succeeds only if the first WRITE ran before
			 * it. */
			assert_int_equal(b.ops[i].result, 0);
		}
		expect_obj(f, "obj", STORAGE_SNAP_HEAD, "last", 4);
		assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "obj", 0, 0), 0);
		batch_free(&b);
	}
}

/* WRITE_FULL takes its place in the object's order like any op: what was
 * submitted before it is replaced, what comes after applies to it. */
static void test_write_full_order(void **state)
{
	struct fixture *f = *state;
	static const char long_data[] = "a long first version of the object";
	struct batch b;
	struct storage_op *op;
	unsigned i, round;

	for (round = 0; round < 50; round++) {
		batch_init(&b, 4);
		op = batch_op(&b, 0, STORAGE_OP_WRITE, "obj");
		op->buf = (void *)(uintptr_t)long_data;
		op->len = sizeof(long_data) - 1;
		op = batch_op(&b, 1, STORAGE_OP_WRITE_FULL, "obj");
		op->buf = "full";
		op->len = 4;
		op = batch_op(&b, 2, STORAGE_OP_WRITE, "obj");
		op->buf = "++";
		op->off = 4;
		op->len = 2;
		batch_op(&b, 3, STORAGE_OP_STAT, "obj");
		for (i = 0; i < 4; i++)
			storage_op_submit(f->st, f->io, &b.ops[i]);
		storage_sync_wait(f->sync, &b.done);
		for (i = 0; i < 4; i++) {
			assert_int_equal(b.runs[i], 1);
			assert_int_equal(b.ops[i].result, 0);
		}
		assert_int_equal(b.ops[3].size, 6);
		expect_obj(f, "obj", STORAGE_SNAP_HEAD, "full++", 6);
		assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "obj", 0, 0), 0);
		batch_free(&b);
	}
}

#define NCONC 512
#define NCONC_OBJS 64

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	static uint8_t data[NCONC][512];
	uint8_t want[8 * 512];
	struct storage_op *op;
	struct batch b;
	char oid[32];
	unsigned i, j;

	batch_init(&b, NCONC);
	for (i = 0; i < NCONC; i++) {
		/* Object i % 64, block i / 64: eight writes per object. */
		memset(data[i], (int)(i * 7 + 1), sizeof(data[i]));
		snprintf(oid, sizeof(oid), "c.%u", i % NCONC_OBJS);
		op = batch_op(&b, i, STORAGE_OP_WRITE, oid);
		op->off = (i / NCONC_OBJS) * 512;
		op->len = 512;
		op->buf = data[i];
		storage_op_submit(f->st, f->io, op);
	}
	storage_sync_wait(f->sync, &b.done);
	assert_int_equal(b.done_count, NCONC);
	for (i = 0; i < NCONC; i++) {
		assert_int_equal(b.runs[i], 1);
		assert_int_equal(b.ops[i].result, 0);
	}
	for (i = 0; i < NCONC_OBJS; i++) {
		for (j = 0; j < 8; j++)
			memcpy(want + j * 512, data[j * NCONC_OBJS + i], 512);
		snprintf(oid, sizeof(oid), "c.%u", i);
		expect_obj(f, oid, STORAGE_SNAP_HEAD, want, sizeof(want));
	}
	/* Nothing else was posted: a SYNC is the next completion. */
	assert_int_equal(obj_op(f, STORAGE_OP_SYNC, "", 0, 0), 0);
	assert_int_equal(b.done_count, NCONC);
	batch_free(&b);
}

/* ---- persistence ---- */

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	uint64_t s1, s2;
	struct listing l;

	if (!f->bc->persistent)
		skip();
	assert_int_equal(obj_write(f, "obj", 0, "before", 6), 0);
	assert_int_equal(obj_write(f, "gone", 0, "x", 1), 0);
	assert_int_equal(obj_write_full(f, "full", "replaced-long", 13), 0);
	assert_int_equal(obj_write_full(f, "full", "kept", 4), 0);
	s1 = snap_new(f);
	set_ctx(f, &s1, 1);
	assert_int_equal(obj_write(f, "obj", 0, "AFTER!!", 7), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "gone", 0, 0), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_SYNC, "", 0, 0), 0);

	store_close(f);
	assert_int_equal(store_open(f), 0);

	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "AFTER!!", 7);
	expect_obj(f, "obj", s1, "before", 6);
	expect_obj(f, "gone", s1, "x", 1);
	expect_absent(f, "gone", STORAGE_SNAP_HEAD);
	/* WRITE_FULL needed no SYNC; its temp file is not an object. */
	expect_obj(f, "full", STORAGE_SNAP_HEAD, "kept", 4);
	memset(&l, 0, sizeof(l));
	assert_int_equal(f->st->be_ops->list(f->io, "", list_cb, &l, NULL), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(listed_size(&l, "obj"), 7);
	assert_int_equal(listed_size(&l, "full"), 4);
	/* Ids keep increasing across restarts, and the clone state is
	 * remembered: writing under the same context does not clone again. */
	s2 = snap_new(f);
	assert_true(s2 > s1);
	set_ctx(f, &s1, 1);
	assert_int_equal(obj_write(f, "obj", 0, "again", 5), 0);
	expect_obj(f, "obj", s1, "before", 6);
}

/* ---- the registry ---- */

static void test_registry(void **state)
{
	struct storage_route route = {.type = "nonesuch"};
	struct storage_store *st = (struct storage_store *)1;
	struct storage_sync *sync = NULL;
	char oid[STORAGE_OID_MAX];

	(void)state;
	assert_int_equal(storage_sync_new(&sync), 0);
	assert_int_equal(
		storage_store_open(&route, storage_sync_env(sync), &st),
		-ENOENT);
	assert_null(st);
	/* The local backend needs a directory. */
	route.type = "local";
	assert_int_equal(
		storage_store_open(&route, storage_sync_env(sync), &st),
		-EINVAL);
	storage_sync_free(sync);

	assert_int_equal(storage_oid_extent(oid, sizeof(oid), 0xab, 3), 0);
	assert_string_equal(oid, "00000000000000ab.0000000000000003");
	assert_int_equal(storage_oid_header(oid, sizeof(oid), 0xab), 0);
	assert_string_equal(oid, "00000000000000ab.header");
	assert_int_equal(storage_oid_extent(oid, 33, 1, 2), -ENAMETOOLONG);
	assert_int_equal(storage_oid_extent(oid, 34, 1, 2), 0);
}

#define CONTRACT_TESTS(bc)                                                     \
	{                                                                      \
		T(test_write_read, bc), T(test_read_missing, bc),              \
			T(test_short_read, bc), T(test_zero, bc),              \
			T(test_truncate, bc), T(test_remove, bc),              \
			T(test_stat, bc), T(test_list, bc),                    \
			T(test_namespaces, bc), T(test_durability, bc),        \
			T(test_order, bc), T(test_concurrent, bc),             \
			T(test_reopen, bc), T(test_write_full, bc),            \
			T(test_write_full_snap, bc),                           \
			T(test_write_full_order, bc),                          \
	}

int main(void)
{
	const struct CMUnitTest registry_tests[] = {
		cmocka_unit_test(test_registry),
	};
	int failed;

	failed = cmocka_run_group_tests_name("registry", registry_tests, NULL,
					     NULL);
	RUN_CONTRACT_GROUPS(CONTRACT_TESTS, failed);
	return failed ? 1 : 0;
}
