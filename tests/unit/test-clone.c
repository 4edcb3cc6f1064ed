/* Writable clones of a restore point (storage/clone.c), run against the
 * memory and local backends, and rados when HAVEN_TEST_CEPH_CONF names a
 * test cluster (pool HAVEN_TEST_CEPH_POOL, default "haven-test").
 *
 * Every test writes v1 to a live disk, cuts a restore point, writes v2
 * and opens a clone at the cut.  A model of the clone (its bytes, and
 * which extents it holds of its own) is kept as requests are submitted;
 * the clone must read exactly the model while the live disk keeps
 * reading v2 and the restore point's view v1.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore.h"
#include "fixture-store.h"

#define ES (UINT32_C(64) << 10)
#define NEXT 32
#define DSIZE ((uint64_t)ES * NEXT - ES / 2) /* the last extent is partial */
#define NREQ 96

struct backend_case {
	const char *type;
};

struct fx {
	const struct backend_case *bc;
	char dir[PATH_MAX];
	char ns[64];
	uint64_t id, clone_id;
	struct storage_route route;
	struct storage_sync *sync;
	struct storage_store *st;
	struct storage_disk *live, *clone;
	uint64_t snap;
	uint8_t *map; /* the live disk's map at the cut */
	size_t map_len;
	uint8_t v1[DSIZE], v2[DSIZE]; /* the restore point; the live disk */
	bool v1_alloc[NEXT];
	uint8_t cm[DSIZE]; /* the clone */
	bool own[NEXT];	   /* extents the clone holds of its own */
	bool touched[NEXT];
	uint32_t rnd;
};

static unsigned ns_counter;

/* ---- data ---- */

static uint64_t ext_end(uint64_t n, uint64_t size)
{
	return (n + 1) * ES < size ? (n + 1) * ES : size;
}

/* Writes to the live disk and to its model; waits. */
static void live_write(struct fx *f, uint8_t *model, uint64_t off, uint64_t len,
		       unsigned seed)
{
	fixture_fill(model + off, len, seed);
	assert_int_equal(fixture_req_run(f->sync, f->live, STORAGE_WRITE, off,
					 len, model + off),
			 0);
}

/* ---- the clone's model ---- */

/* Which extents the clone owns after a mutation: data anywhere in an
 * extent makes it the clone's, and so do zeros over a parent extent
 * with data; zeros over a parent hole need nothing. */
static void model_apply(struct fx *f, enum storage_cmd cmd, uint64_t off,
			uint64_t len, const uint8_t *buf)
{
	uint64_t pos, n, end, piece;

	for (pos = off; pos < off + len; pos += piece) {
		n = pos / ES;
		end = ext_end(n, DSIZE);
		piece = (off + len < end ? off + len : end) - pos;
		f->touched[n] = true;
		if ((cmd == STORAGE_WRITE &&
		     !fixture_all_zero(buf + (pos - off), piece)) ||
		    f->v1_alloc[n])
			f->own[n] = true;
	}
	if (cmd == STORAGE_WRITE)
		memcpy(f->cm + off, buf, len);
	else
		memset(f->cm + off, 0, len);
}

static void clone_submit(struct fx *f, struct fixture_req *t,
			 enum storage_cmd cmd, uint64_t off, uint64_t len,
			 void *buf)
{
	model_apply(f, cmd, off, len, buf);
	fixture_req_submit(f->clone, t, cmd, off, len, buf);
}

static void clone_run(struct fx *f, enum storage_cmd cmd, uint64_t off,
		      uint64_t len, void *buf)
{
	struct fixture_req t;

	clone_submit(f, &t, cmd, off, len, buf);
	assert_int_equal(fixture_req_wait(f->sync, &t), 0);
}

static void clone_write(struct fx *f, uint64_t off, uint64_t len, unsigned seed,
			bool zeros)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	if (zeros)
		memset(buf, 0, len);
	else
		fixture_fill(buf, len, seed);
	clone_run(f, STORAGE_WRITE, off, len, buf);
	free(buf);
}

static uint64_t model_clone_bytes(const struct fx *f)
{
	uint64_t n, bytes = 0;

	for (n = 0; n < NEXT; n++)
		if (f->own[n])
			bytes += ext_end(n, DSIZE) - n * ES;
	return bytes;
}

/* ---- checks ---- */

static void expect_bytes(struct fx *f, struct storage_disk *d,
			 const uint8_t *image)
{
	uint8_t *buf = malloc(DSIZE);

	assert_non_null(buf);
	memset(buf, 0xee, DSIZE);
	assert_int_equal(
		fixture_req_run(f->sync, d, STORAGE_READ, 0, DSIZE, buf), 0);
	assert_memory_equal(buf, image, DSIZE);
	free(buf);
}

/* STATUS per extent: a hole reads as zeros; extents the clone never
 * touched are the restore point's exactly; with 'hole', that extent
 * must be reported as one. */
static void expect_status(struct fx *f, const bool *hole)
{
	struct storage_extent e[NEXT];
	uint64_t pos = 0, n, end;
	struct fixture_req t;
	size_t i;

	memset(&t, 0, sizeof(t));
	t.r.cmd = STORAGE_STATUS;
	t.r.len = DSIZE;
	t.r.extents = e;
	t.r.nextents = NEXT;
	t.r.done = fixture_req_done;
	t.r.priv = &t;
	storage_disk_submit(f->clone, &t.r);
	t.submitted = true;
	assert_int_equal(fixture_req_wait(f->sync, &t), 0);
	for (i = 0; i < t.r.nextents; i++) {
		end = pos + e[i].length;
		for (n = pos / ES; n * ES < end; n++) {
			if (!f->touched[n])
				assert_int_equal(e[i].hole, !f->v1_alloc[n]);
			if (hole && hole[n])
				assert_true(e[i].hole);
		}
		if (e[i].hole)
			assert_true(fixture_all_zero(f->cm + pos, end - pos));
		pos = end;
	}
	assert_int_equal(pos, DSIZE);
}

static void expect_view(struct fx *f)
{
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id,
		.size = DSIZE,
		.extent_size = ES,
		.snap = f->snap,
		.map = f->map,
		.map_len = f->map_len,
	};
	struct storage_disk *v = NULL;

	assert_int_equal(storage_disk_open(f->st, &p, &v), 0);
	expect_bytes(f, v, f->v1);
	storage_disk_close(v);
}

/* Neither the live disk nor the restore point saw a clone write. */
static void expect_parent(struct fx *f)
{
	expect_bytes(f, f->live, f->v2);
	expect_view(f);
}

static void expect_clone(struct fx *f)
{
	expect_bytes(f, f->clone, f->cm);
	expect_status(f, NULL);
	assert_int_equal(storage_disk_clone_bytes(f->clone),
			 model_clone_bytes(f));
}

static int count_obj(void *arg, const char *oid, uint64_t size)
{
	(void)oid;
	(void)size;
	++*(unsigned *)arg;
	return 0;
}

/* Objects named "<id>." in the namespace. */
static unsigned count_objects(struct fx *f, uint64_t id)
{
	char prefix[STORAGE_OID_MAX];
	unsigned n = 0;
	void *io = NULL;

	snprintf(prefix, sizeof(prefix), "%016llx.", (unsigned long long)id);
	assert_int_equal(f->st->be_ops->ioctx_open(f->st->be, f->ns, &io), 0);
	assert_int_equal(f->st->be_ops->list(io, prefix, count_obj, &n, NULL),
			 0);
	f->st->be_ops->ioctx_close(io);
	return n;
}

/* ---- fixture ---- */

static int clone_open(struct fx *f, struct storage_disk **out)
{
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->clone_id,
		.size = DSIZE,
		.extent_size = ES,
		.snap = STORAGE_SNAP_HEAD,
		.parent_id = f->id,
		.parent_snap = f->snap,
		.parent_map = f->map,
		.parent_map_len = f->map_len,
	};

	return storage_disk_open(f->st, &p, out);
}

/* v1: data in extents 0-5, 10, a partial extent 12 and the partial last
 * one; the rest holes.  The cut, then v2 over part of it and beyond. */
static void make_parent(struct fx *f)
{
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id,
		.size = DSIZE,
		.extent_size = ES,
		.snap = STORAGE_SNAP_HEAD,
	};
	uint64_t n;

	assert_int_equal(storage_disk_open(f->st, &p, &f->live), 0);
	live_write(f, f->v1, 0, 6 * ES, 1);
	live_write(f, f->v1, 10 * ES, ES, 2);
	live_write(f, f->v1, 12 * ES + 1000, 3000, 3);
	live_write(f, f->v1, (NEXT - 1) * ES, DSIZE - (NEXT - 1) * ES, 4);
	for (n = 0; n < NEXT; n++)
		f->v1_alloc[n] = n < 6 || n == 10 || n == 12 || n == NEXT - 1;

	assert_int_equal(storage_store_snap_create(f->st, &f->snap), 0);
	assert_int_equal(storage_disk_set_snapc(f->live, f->snap, &f->snap, 1),
			 0);
	assert_int_equal(storage_disk_map(f->live, &f->map, &f->map_len), 0);

	memcpy(f->v2, f->v1, DSIZE);
	live_write(f, f->v2, 100, 3 * ES, 5);
	live_write(f, f->v2, 8 * ES, 4 * ES, 6);
	live_write(f, f->v2, DSIZE - 5000, 5000, 7);
	memcpy(f->cm, f->v1, DSIZE);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->bc = *state;
	snprintf(f->ns, sizeof(f->ns), "clone-%ld-%u", (long)getpid(),
		 ++ns_counter);
	f->id = 0x1000 + ns_counter;
	f->clone_id = 0x8000 + ns_counter;
	f->rnd = 4321 + ns_counter;
	fixture_route(&f->route, f->dir, f->bc->type, "haven-clone");
	fixture_store_open(&f->route, &f->sync, &f->st);
	make_parent(f);
	assert_int_equal(clone_open(f, &f->clone), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	storage_disk_close(f->clone);
	storage_disk_close(f->live);
	storage_store_close(f->st);
	storage_sync_free(f->sync);
	fixture_rmtree(f->dir);
	free(f->map);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void test_reads_restore_point(void **state)
{
	struct fx *f = *state;

	/* Opening made nothing: the clone owns no extent yet. */
	assert_int_equal(count_objects(f, f->clone_id), 0);
	expect_clone(f);
	assert_int_equal(storage_disk_clone_bytes(f->clone), 0);
	expect_parent(f);
	assert_int_equal(count_objects(f, f->clone_id), 0);
}

static void test_writes(void **state)
{
	struct fx *f = *state;

	/* Partial pieces over parent data (copy-ups), one spanning two
	 * extents, over the partial parent extent 12, over parent holes
	 * (no copy-up), and into the partial last extent. */
	clone_write(f, 1000, 5000, 11, false);
	clone_write(f, 2 * ES - 300, 900, 12, false);
	clone_write(f, 12 * ES + 500, 100, 13, false);
	clone_write(f, 7 * ES + 4096, 512, 14, false);
	clone_write(f, DSIZE - 700, 600, 15, false);
	expect_clone(f);
	expect_parent(f);

	/* Whole extents: data over parent data and a hole, zeros over
	 * parent data; a whole-extent write over an extent just copied up. */
	clone_write(f, 3 * ES, ES, 16, false);
	clone_write(f, 20 * ES, 2 * ES, 17, false);
	clone_write(f, 4 * ES, ES, 0, true);
	clone_write(f, 0, ES, 18, false);
	expect_clone(f);

	/* Zeros: partial over parent data (a copy-up of zeros), partial
	 * and whole over owned extents, TRIM over a parent hole and the
	 * whole disk's tail. */
	clone_run(f, STORAGE_ZERO, 5 * ES + 100, 200, NULL);
	clone_run(f, STORAGE_ZERO, 1000, 2000, NULL);
	clone_run(f, STORAGE_TRIM, 20 * ES, ES, NULL);
	clone_run(f, STORAGE_TRIM, 14 * ES + 7, 2 * ES, NULL);
	clone_write(f, 10 * ES + 10, 20, 0, true);
	clone_run(f, STORAGE_ZERO, (NEXT - 2) * ES + 3,
		  DSIZE - (NEXT - 2) * ES - 3, NULL);
	expect_clone(f);
	expect_parent(f);
	assert_int_equal(
		fixture_req_run(f->sync, f->clone, STORAGE_FLUSH, 0, 0, NULL),
		0);
}

/* Many requests on an extent not copied up yet, all in flight at once:
 * every read sees exactly the requests submitted before it, and the end
 * is the requests applied in submission order. */
static void test_concurrent_copy_up(void **state)
{
	struct fx *f = *state;
	static const uint64_t targets[] = {1, 7, 12, NEXT - 1};
	uint8_t *bufs[NREQ], *want[NREQ];
	struct fixture_req t[NREQ];
	unsigned i, kind, left = NREQ;
	uint64_t n, start, end, off, len;

	for (i = 0; i < NREQ; i++) {
		n = targets[i % 4];
		start = n * ES;
		end = ext_end(n, DSIZE);
		kind = fixture_rnd(&f->rnd, 10);
		off = start + fixture_rnd(&f->rnd, (uint32_t)(end - start));
		len = 1 + fixture_rnd(&f->rnd, ES / 4);
		if (kind == 9) { /* across into the next extent */
			off = end - 100;
			len = 300;
		} else if (kind == 8) {
			off = start;
			len = end - start;
		}
		if (off + len > DSIZE)
			len = DSIZE - off;
		bufs[i] = malloc(len);
		want[i] = NULL;
		assert_non_null(bufs[i]);
		fixture_fill(bufs[i], len, 100 + i);
		if (kind < 2) {
			/* A read: the model as of now. */
			want[i] = malloc(len);
			assert_non_null(want[i]);
			memcpy(want[i], f->cm + off, len);
			fixture_req_submit(f->clone, &t[i], STORAGE_READ, off,
					   len, bufs[i]);
		} else if (kind == 2) {
			clone_submit(f, &t[i], STORAGE_ZERO, off, len, NULL);
		} else if (kind == 3) {
			memset(bufs[i], 0, len);
			clone_submit(f, &t[i], STORAGE_WRITE, off, len,
				     bufs[i]);
		} else {
			clone_submit(f, &t[i], STORAGE_WRITE, off, len,
				     bufs[i]);
		}
		t[i].left = &left;
	}
	/* All of them over before any check, so that a failing one leaves
	 * nothing in flight. */
	for (i = 0; i < NREQ; i++)
		fixture_req_wait(f->sync, &t[i]);
	for (i = 0; i < NREQ; i++) {
		assert_int_equal(t[i].result, 0);
		if (want[i])
			assert_memory_equal(bufs[i], want[i], t[i].r.len);
		free(bufs[i]);
		free(want[i]);
	}
	assert_int_equal(left, 0);
	expect_clone(f);
	expect_parent(f);
}

static void test_reopen_and_destroy(void **state)
{
	struct fx *f = *state;
	bool hole[NEXT] = {false};

	clone_write(f, 3 * ES + 17, 4000, 21, false);
	clone_write(f, 16 * ES, ES, 22, false);
	clone_run(f, STORAGE_TRIM, 10 * ES, ES, NULL);
	clone_run(f, STORAGE_ZERO, 0, ES, NULL);
	hole[0] = hole[10] = true;
	expect_status(f, hole);

	/* The extents it owns are in the store: a new open finds them,
	 * empty ones still holes. */
	storage_disk_close(f->clone);
	f->clone = NULL;
	assert_int_equal(clone_open(f, &f->clone), 0);
	expect_clone(f);
	expect_status(f, hole);
	assert_int_equal(count_objects(f, f->clone_id), 4);

	storage_disk_close(f->clone);
	f->clone = NULL;
	assert_int_equal(
		storage_disk_destroy(f->st, f->ns, f->clone_id, DSIZE, ES), 0);
	assert_int_equal(count_objects(f, f->clone_id), 0);
	expect_parent(f);

	/* A new clone at the same restore point starts from it again. */
	memcpy(f->cm, f->v1, DSIZE);
	memset(f->own, 0, sizeof(f->own));
	memset(f->touched, 0, sizeof(f->touched));
	assert_int_equal(clone_open(f, &f->clone), 0);
	expect_clone(f);
}

static void test_refusals(void **state)
{
	struct fx *f = *state;
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->clone_id + 1,
		.size = DSIZE,
		.extent_size = ES,
		.snap = STORAGE_SNAP_HEAD,
		.parent_id = f->id,
		.parent_snap = f->snap,
	};
	struct storage_disk *d = (struct storage_disk *)(uintptr_t)1;
	uint8_t byte = 1, buf[4096];

	/* A clone of the live head, of itself, with a snap context or as
	 * a snap view is not one. */
	p.parent_snap = STORAGE_SNAP_HEAD;
	assert_int_equal(storage_disk_open(f->st, &p, &d), -EINVAL);
	assert_null(d);
	p.parent_snap = f->snap;
	p.parent_id = p.id;
	assert_int_equal(storage_disk_open(f->st, &p, &d), -EINVAL);
	p.parent_id = f->id;
	p.snap_seq = f->snap;
	assert_int_equal(storage_disk_open(f->st, &p, &d), -EINVAL);
	p.snap_seq = 0;
	p.snap = f->snap;
	assert_int_equal(storage_disk_open(f->st, &p, &d), -EINVAL);
	p.snap = STORAGE_SNAP_HEAD;

	/* Never snapshotted, never resized. */
	assert_int_equal(storage_disk_set_snapc(f->clone, f->snap, &f->snap, 1),
			 -EOPNOTSUPP);
	assert_int_equal(storage_disk_resize(f->clone, DSIZE + ES),
			 -EOPNOTSUPP);

	/* A read-only clone reads the restore point (no parent map: every
	 * extent is read from the parent) and writes nothing. */
	p.read_only = true;
	assert_int_equal(storage_disk_open(f->st, &p, &d), 0);
	expect_bytes(f, d, f->v1);
	assert_int_equal(
		fixture_req_run(f->sync, d, STORAGE_WRITE, 0, 1, &byte),
		-EROFS);
	assert_int_equal(
		fixture_req_run(f->sync, d, STORAGE_READ, DSIZE - 1, 4096, buf),
		-EINVAL);
	assert_int_equal(storage_disk_clone_bytes(d), 0);
	storage_disk_close(d);
	assert_int_equal(storage_disk_clone_bytes(f->live), 0);
}

/* ---- failed copy-ups (memory only: the store's ops are wrapped) ---- */

static struct storage_backend fail_ops;
static const struct storage_env *fail_env;
static unsigned fail_reads, fail_writes; /* copy-up ops left to fail */

static void fail_submit(void *io, struct storage_op *op)
{
	bool copy_read = op->code == STORAGE_OP_READ &&
			 op->snap != STORAGE_SNAP_HEAD && op->len == ES;

	if ((copy_read && fail_reads) ||
	    (op->code == STORAGE_OP_WRITE_FULL && fail_writes)) {
		if (copy_read)
			fail_reads--;
		else
			fail_writes--;
		op->result = -EIO;
		fail_env->post(fail_env->ctx, &op->comp);
		return;
	}
	storage_backend_memory.submit(io, op);
}

/* A failed copy-up fails its request only: the extent still reads the
 * restore point, and the requests that waited for it go on in order. */
static void test_copy_up_fails(void **state)
{
	struct fx *f = *state;
	uint8_t a[100], b[200], c[ES], w[ES];
	struct fixture_req t[3];
	unsigned i;

	fail_ops = *f->st->be_ops;
	fail_ops.submit = fail_submit;
	f->st->be_ops = &fail_ops;
	fail_env = &f->st->env;

	fixture_fill(a, sizeof(a), 31);
	fixture_fill(b, sizeof(b), 32);
	fail_reads = 1;
	fixture_req_submit(f->clone, &t[0], STORAGE_WRITE, ES + 50, sizeof(a),
			   a);
	clone_submit(f, &t[1], STORAGE_WRITE, ES + 100, sizeof(b), b);
	memcpy(w, f->cm + ES, ES);
	fixture_req_submit(f->clone, &t[2], STORAGE_READ, ES, ES, c);
	for (i = 0; i < 3; i++)
		fixture_req_wait(f->sync, &t[i]);
	assert_int_equal(t[0].result, -EIO);
	assert_int_equal(t[1].result, 0);
	assert_int_equal(t[2].result, 0);
	assert_memory_equal(c, w, ES);

	fail_writes = 1;
	assert_int_equal(fixture_req_run(f->sync, f->clone, STORAGE_ZERO,
					 2 * ES + 1, 10, NULL),
			 -EIO);
	expect_clone(f);
	clone_run(f, STORAGE_ZERO, 2 * ES + 1, 10, NULL);
	expect_clone(f);
	expect_parent(f);
	assert_int_equal(fail_reads + fail_writes, 0);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Making a clone of a 1 TiB disk costs what making one of 1 GiB does. */
static void test_open_is_o1(void **state)
{
	struct fx *f = *state;
	const uint64_t tib = UINT64_C(1) << 40;
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id + 100,
		.size = tib,
		.extent_size = STORAGE_EXTENT_SIZE_DEFAULT,
		.snap = STORAGE_SNAP_HEAD,
	};
	struct storage_disk *big = NULL, *c = NULL;
	uint8_t data[4096], buf[8192], *map = NULL;
	uint64_t snap = 0, far = tib - STORAGE_EXTENT_SIZE_DEFAULT + 4096;
	size_t map_len = 0;
	double t0, ms;

	fixture_fill(data, sizeof(data), 9);
	assert_int_equal(storage_disk_open(f->st, &p, &big), 0);
	assert_int_equal(
		fixture_req_run(f->sync, big, STORAGE_WRITE, far, 4096, data),
		0);
	assert_int_equal(storage_store_snap_create(f->st, &snap), 0);
	assert_int_equal(storage_disk_set_snapc(big, snap, &snap, 1), 0);
	assert_int_equal(storage_disk_map(big, &map, &map_len), 0);

	p.id = f->id + 101;
	p.parent_id = f->id + 100;
	p.parent_snap = snap;
	p.parent_map = map;
	p.parent_map_len = map_len;
	t0 = now_ms();
	assert_int_equal(storage_disk_open(f->st, &p, &c), 0);
	ms = now_ms() - t0;
	print_message("clone open, 1 TiB (%s): %.2f ms\n", f->bc->type, ms);
	if (strcmp(f->bc->type, "memory") == 0)
		assert_true(ms < 50);

	/* It reads the restore point across the whole size, and a write
	 * near the end copies up one extent. */
	assert_int_equal(fixture_req_run(f->sync, c, STORAGE_READ, far - 4096,
					 8192, buf),
			 0);
	assert_true(fixture_all_zero(buf, 4096));
	assert_memory_equal(buf + 4096, data, 4096);
	assert_int_equal(
		fixture_req_run(f->sync, c, STORAGE_WRITE, far + 100, 10, data),
		0);
	assert_int_equal(
		fixture_req_run(f->sync, c, STORAGE_READ, far, 4096, buf), 0);
	assert_memory_equal(buf, data, 100);
	assert_memory_equal(buf + 100, data, 10);
	assert_memory_equal(buf + 110, data + 110, 4096 - 110);
	assert_int_equal(storage_disk_clone_bytes(c),
			 STORAGE_EXTENT_SIZE_DEFAULT);
	storage_disk_close(c);
	storage_disk_close(big);
	free(map);
}

static struct backend_case memory_case = {"memory"};
static struct backend_case local_case = {"local"};
static struct backend_case rados_case = {"rados"};

#define CASE(t, bc)                                                            \
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &(bc))
#define ALL(bc)                                                                \
	CASE(test_reads_restore_point, bc), CASE(test_writes, bc),             \
		CASE(test_concurrent_copy_up, bc),                             \
		CASE(test_reopen_and_destroy, bc), CASE(test_refusals, bc),    \
		CASE(test_open_is_o1, bc)

int main(void)
{
	const struct CMUnitTest mem[] = {ALL(memory_case),
					 CASE(test_copy_up_fails, memory_case)};
	const struct CMUnitTest local[] = {ALL(local_case)};
	const struct CMUnitTest rados[] = {ALL(rados_case)};
	int fails;

	fails = cmocka_run_group_tests_name("memory", mem, NULL, NULL);
	fails += cmocka_run_group_tests_name("local", local, NULL, NULL);
	if (getenv("HAVEN_TEST_CEPH_CONF"))
		fails +=
			cmocka_run_group_tests_name("rados", rados, NULL, NULL);
	return fails ? 1 : 0;
}
