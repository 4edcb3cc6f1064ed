/* Unit tests of the disk layer (storage/disk.c) on the memory backend,
 * a few of them also on the local backend, and on a wrapper backend that
 * injects errors and holds completions back.
 *
 * Every request goes through req_run(), which checks the layer's promise
 * to the gateway: 'done' runs exactly once, never inside
 * storage_disk_submit().  What the store holds afterwards is checked
 * with STAT and list() on an ioctx of the test's own.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore.h"
#include "storage.h"

#define NS "tenant-a"
#define DISK_ID UINT64_C(0x2a)
#define ES (UINT32_C(64) << 10)
#define NEXT 16
#define DSIZE ((uint64_t)ES * NEXT)

/* ---- a wrapper backend: fails the Nth op, holds completions ---- */

struct wrap {
	void *inner;
	const struct storage_env *outer;
	struct storage_env inner_env;
	unsigned nops;	  /* ops submitted so far */
	unsigned fail_at; /* 1-based op number to fail with -EIO; 0: none */
	bool hold;	  /* keep completions until wrap_release() */
	struct storage_completion *held[4096];
	unsigned nheld, max_held;
	/* What the disk layer asked for, by opcode, and with FUA. */
	unsigned ncode[STORAGE_OP_SYNC + 1], nfua;
	enum storage_opcode last_code;
};

static struct wrap wrap_state;

static void wrap_post(void *ctx, struct storage_completion *c)
{
	struct wrap *w = ctx;

	if (w->hold) {
		assert_true(w->nheld < 4096);
		w->held[w->nheld++] = c;
		if (w->nheld > w->max_held)
			w->max_held = w->nheld;
		return;
	}
	w->outer->post(w->outer->ctx, c);
}

static int wrap_open(const struct storage_route *route,
		     const struct storage_env *env, void **be)
{
	struct wrap *w = &wrap_state;

	memset(w, 0, sizeof(*w));
	w->outer = env;
	w->inner_env.post = wrap_post;
	w->inner_env.ctx = w;
	*be = w;
	return storage_backend_memory.open(route, &w->inner_env, &w->inner);
}

static void wrap_close(void *be)
{
	struct wrap *w = be;

	storage_backend_memory.close(w->inner);
}

static int wrap_ioctx_open(void *be, const char *ns, void **io)
{
	struct wrap *w = be;

	return storage_backend_memory.ioctx_open(w->inner, ns, io);
}

static void wrap_submit(void *io, struct storage_op *op)
{
	struct wrap *w = &wrap_state;

	w->ncode[op->code]++;
	w->last_code = op->code;
	if (op->flags & STORAGE_OPF_FUA)
		w->nfua++;
	if (++w->nops == w->fail_at) {
		op->result = -EIO;
		wrap_post(w, &op->comp);
		return;
	}
	storage_backend_memory.submit(io, op);
}

static int wrap_snap_create(void *be, uint64_t *id)
{
	return storage_backend_memory.snap_create(((struct wrap *)be)->inner,
						  id);
}

static int wrap_snap_remove(void *be, uint64_t id)
{
	return storage_backend_memory.snap_remove(((struct wrap *)be)->inner,
						  id);
}

static const struct storage_backend wrap_backend = {
	.name = "wrap",
	.open = wrap_open,
	.close = wrap_close,
	.ioctx_open = wrap_ioctx_open,
	.ioctx_close = NULL, /* filled in at run time, see fx_setup_wrap */
	.set_write_ctx = NULL,
	.submit = wrap_submit,
	.list = NULL,
	.snap_create = wrap_snap_create,
	.snap_remove = wrap_snap_remove,
};

/* ---- fixture ---- */

struct fx {
	struct storage_sync *sync;
	struct storage_store *st;
	struct storage_store wrapped; /* the store when st == &wrapped */
	struct storage_backend wrap_ops;
	void *io; /* the test's own view of the namespace */
	struct storage_disk *d;
	char dir[64];
};

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int disk_open(struct fx *fx, uint64_t size, uint32_t es, uint64_t snap,
		     struct storage_disk **out)
{
	struct storage_disk_params p = {
		.ns = NS,
		.id = DISK_ID,
		.size = size,
		.extent_size = es,
		.snap = snap,
	};

	return storage_disk_open(fx->st, &p, out);
}

static int fx_finish(struct fx *fx)
{
	assert_int_equal(fx->st->be_ops->ioctx_open(fx->st->be, NS, &fx->io),
			 0);
	assert_int_equal(disk_open(fx, DSIZE, ES, STORAGE_SNAP_HEAD, &fx->d),
			 0);
	return 0;
}

static int fx_setup(void **state)
{
	struct storage_route route = {.type = "memory"};
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(storage_sync_new(&fx->sync), 0);
	assert_int_equal(
		storage_store_open(&route, storage_sync_env(fx->sync), &fx->st),
		0);
	*state = fx;
	return fx_finish(fx);
}

static int fx_setup_local(void **state)
{
	struct storage_route route = {.type = "local"};
	struct fx *fx = calloc(1, sizeof(*fx));
	int ret;

	assert_non_null(fx);
	*state = fx;
	assert_int_equal(storage_sync_new(&fx->sync), 0);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-disk-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	route.path = fx->dir;
	ret = storage_store_open(&route, storage_sync_env(fx->sync), &fx->st);
	if (ret < 0) {
		/* Not there yet in this tree: the tests that need it skip. */
		fx->st = NULL;
		return 0;
	}
	return fx_finish(fx);
}

static int fx_setup_wrap(void **state)
{
	struct storage_route route = {.type = "wrap"};
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(storage_sync_new(&fx->sync), 0);
	/* The ioctx and list calls need no interception; they go straight
	 * to the memory backend, whose ioctx the wrapper hands out. */
	fx->wrap_ops = wrap_backend;
	fx->wrap_ops.ioctx_close = storage_backend_memory.ioctx_close;
	fx->wrap_ops.set_write_ctx = storage_backend_memory.set_write_ctx;
	fx->wrap_ops.list = storage_backend_memory.list;
	fx->wrapped.be_ops = &fx->wrap_ops;
	fx->wrapped.env = *storage_sync_env(fx->sync);
	assert_int_equal(
		fx->wrap_ops.open(&route, &fx->wrapped.env, &fx->wrapped.be),
		0);
	fx->st = &fx->wrapped;
	*state = fx;
	return fx_finish(fx);
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;

	storage_disk_close(fx->d);
	if (fx->io)
		fx->st->be_ops->ioctx_close(fx->io);
	if (fx->st == &fx->wrapped)
		fx->wrap_ops.close(fx->wrapped.be);
	else
		storage_store_close(fx->st);
	storage_sync_free(fx->sync);
	if (fx->dir[0])
		nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* For the tests that also run on the local backend: skips while this
 * tree's local backend cannot open a store.  Called in the first
 * initializer, before the test allocates anything. */
static struct fx *need_store(struct fx *fx)
{
	if (!fx->st)
		skip();
	return fx;
}

/* ---- requests ---- */

struct batch {
	unsigned left;
	bool all_done;
};

struct treq {
	struct storage_req r;
	int calls;
	int result;
	bool submitted;
	bool inline_call;
	bool done;
	struct batch *batch;
};

static void treq_done(struct storage_req *r, int result)
{
	struct treq *t = r->priv;

	t->calls++;
	t->result = result;
	if (!t->submitted)
		t->inline_call = true;
	t->done = true;
	if (t->batch && --t->batch->left == 0)
		t->batch->all_done = true;
}

struct sentinel {
	struct storage_completion c;
	bool done;
};

static void sentinel_fn(struct storage_completion *c)
{
	((struct sentinel *)c)->done = true;
}

/* Runs every completion posted so far: any second 'done' would run. */
static void barrier(struct fx *fx)
{
	const struct storage_env *env = storage_sync_env(fx->sync);
	struct sentinel s = {.c.fn = sentinel_fn};

	env->post(env->ctx, &s.c);
	storage_sync_wait(fx->sync, &s.done);
}

static void req_start(struct fx *fx, struct treq *t, enum storage_cmd cmd,
		      unsigned flags, uint64_t off, uint64_t len, void *buf)
{
	memset(t, 0, sizeof(*t));
	t->r.cmd = cmd;
	t->r.flags = flags;
	t->r.off = off;
	t->r.len = len;
	t->r.buf = buf;
	t->r.done = treq_done;
	t->r.priv = t;
	storage_disk_submit(fx->d, &t->r);
	t->submitted = true;
	assert_false(t->inline_call);
	assert_int_equal(t->calls, 0);
}

static int req_run(struct fx *fx, enum storage_cmd cmd, unsigned flags,
		   uint64_t off, uint64_t len, void *buf)
{
	struct treq t;

	req_start(fx, &t, cmd, flags, off, len, buf);
	storage_sync_wait(fx->sync, &t.done);
	barrier(fx);
	assert_int_equal(t.calls, 1);
	assert_false(t.inline_call);
	return t.result;
}

/* ---- store inspection ---- */

static int obj_stat(struct fx *fx, uint64_t n, uint64_t *size)
{
	struct storage_op op;
	int ret;

	storage_op_init(&op, STORAGE_OP_STAT, NULL);
	assert_int_equal(storage_oid_extent(op.oid, sizeof(op.oid), DISK_ID, n),
			 0);
	ret = storage_op_run(fx->st, fx->io, &op);
	if (size)
		*size = op.size;
	return ret;
}

static bool obj_exists(struct fx *fx, uint64_t n)
{
	int ret = obj_stat(fx, n, NULL);

	assert_true(ret == 0 || ret == -ENOENT);
	return ret == 0;
}

static void obj_write(struct fx *fx, const char *oid, const void *buf,
		      uint64_t len)
{
	struct storage_op op;

	storage_op_init(&op, STORAGE_OP_WRITE, NULL);
	snprintf(op.oid, sizeof(op.oid), "%s", oid);
	op.buf = (void *)(uintptr_t)buf;
	op.len = len;
	assert_int_equal(storage_op_run(fx->st, fx->io, &op), 0);
}

static int count_cb(void *arg, const char *oid, uint64_t size)
{
	(void)oid;
	(void)size;
	(*(unsigned *)arg)++;
	return 0;
}

static unsigned count_objects(struct fx *fx, const char *prefix)
{
	unsigned n = 0;

	assert_int_equal(fx->st->be_ops->list(fx->io, prefix, count_cb, &n), 0);
	return n;
}

static void fill_pattern(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + 1) % 251 + 1);
}

static bool is_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Writes distinct data over the whole of each listed extent. */
static void write_extents(struct fx *fx, const uint64_t *ext, size_t n)
{
	unsigned char *buf = malloc(ES);
	size_t i;

	assert_non_null(buf);
	for (i = 0; i < n; i++) {
		fill_pattern(buf, ES, (unsigned)ext[i]);
		assert_int_equal(
			req_run(fx, STORAGE_WRITE, 0, ext[i] * ES, ES, buf), 0);
		assert_true(obj_exists(fx, ext[i]));
	}
	free(buf);
}

/* ---- tests ---- */

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

static void release_held(struct fx *fx)
{
	struct wrap *w = &wrap_state;
	unsigned i, n = w->nheld;

	w->nheld = 0;
	for (i = 0; i < n; i++)
		w->outer->post(w->outer->ctx, w->held[i]);
	barrier(fx);
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

static void status(struct fx *fx, uint64_t off, uint64_t len,
		   struct storage_extent *e, size_t *n)
{
	struct treq t;

	memset(&t, 0, sizeof(t));
	t.r.cmd = STORAGE_STATUS;
	t.r.off = off;
	t.r.len = len;
	t.r.extents = e;
	t.r.nextents = *n;
	t.r.done = treq_done;
	t.r.priv = &t;
	storage_disk_submit(fx->d, &t.r);
	t.submitted = true;
	storage_sync_wait(fx->sync, &t.done);
	barrier(fx);
	assert_int_equal(t.calls, 1);
	assert_false(t.inline_call);
	assert_int_equal(t.result, 0);
	*n = t.r.nextents;
}

static void expect_run(const struct storage_extent *e, uint64_t length,
		       bool hole)
{
	assert_int_equal(e->length, length);
	assert_int_equal(e->hole, hole);
}

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

#define MEM(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)
#define LOCAL(t) cmocka_unit_test_setup_teardown(t, fx_setup_local, fx_teardown)
#define WRAP(t) cmocka_unit_test_setup_teardown(t, fx_setup_wrap, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		MEM(test_unaligned_write_spans_extents),
		MEM(test_read_holes_creates_nothing),
		MEM(test_read_short_object),
		MEM(test_zero_write_detection),
		MEM(test_partial_zero_write),
		MEM(test_zero_detection_every_byte),
		WRAP(test_durability_ops),
		MEM(test_mixed_write),
		MEM(test_zero_and_trim),
		MEM(test_status),
		MEM(test_partial_last_extent),
		MEM(test_huge_disk_zero_trim),
		MEM(test_many_in_flight),
		MEM(test_never_inline),
		WRAP(test_backend_error),
		WRAP(test_bounded_in_flight),
		MEM(test_destroy),
		MEM(test_reopen_rebuilds_map),
		MEM(test_snap_view),
		MEM(test_open_rejects_bad_params),
		LOCAL(test_unaligned_write_spans_extents),
		LOCAL(test_read_holes_creates_nothing),
		LOCAL(test_zero_write_detection),
		LOCAL(test_partial_zero_write),
		LOCAL(test_destroy),
		LOCAL(test_reopen_rebuilds_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
