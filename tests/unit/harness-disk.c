/* What the disk layer tests share (test-disk.c, test-disk-map.c,
 * test-disk-flight.c): a fixture with a disk on the memory backend, the
 * local backend, or a wrapper backend that injects errors and holds
 * completions back; requests run through req_run(), which checks the
 * layer's promise to the gateway ('done' runs exactly once, never inside
 * storage_disk_submit()); and inspection of the store with STAT and
 * list() on an ioctx of the test's own.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness-disk.h"

/* ---- a wrapper backend: fails the Nth op, holds completions ---- */

struct wrap wrap_state;

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

int disk_open(struct fx *fx, uint64_t size, uint32_t es, uint64_t snap,
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

int fx_setup(void **state)
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

int fx_setup_local(void **state)
{
	struct storage_route route = {.type = "local"};
	struct fx *fx = calloc(1, sizeof(*fx));
	int ret;

	assert_non_null(fx);
	*state = fx;
	assert_int_equal(storage_sync_new(&fx->sync), 0);
	fixture_tmpdir(fx->dir, sizeof(fx->dir), "test-disk");
	route.path = fx->dir;
	ret = storage_store_open(&route, storage_sync_env(fx->sync), &fx->st);
	if (ret < 0) {
		/* Not there yet in this tree: the tests that need it skip. */
		fx->st = NULL;
		return 0;
	}
	return fx_finish(fx);
}

int fx_setup_wrap(void **state)
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

int fx_teardown(void **state)
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
	fixture_rmtree(fx->dir);
	free(fx);
	return 0;
}

/* For the tests that also run on the local backend: skips while this
 * tree's local backend cannot open a store.  Called in the first
 * initializer, before the test allocates anything. */
struct fx *need_store(struct fx *fx)
{
	if (!fx->st)
		skip();
	return fx;
}

void treq_done(struct storage_req *r, int result)
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
void barrier(struct fx *fx)
{
	const struct storage_env *env = storage_sync_env(fx->sync);
	struct sentinel s = {.c.fn = sentinel_fn};

	env->post(env->ctx, &s.c);
	storage_sync_wait(fx->sync, &s.done);
}

void req_start(struct fx *fx, struct treq *t, enum storage_cmd cmd,
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

int req_run(struct fx *fx, enum storage_cmd cmd, unsigned flags, uint64_t off,
	    uint64_t len, void *buf)
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

int obj_stat(struct fx *fx, uint64_t n, uint64_t *size)
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

bool obj_exists(struct fx *fx, uint64_t n)
{
	int ret = obj_stat(fx, n, NULL);

	assert_true(ret == 0 || ret == -ENOENT);
	return ret == 0;
}

void obj_write(struct fx *fx, const char *oid, const void *buf, uint64_t len)
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

unsigned count_objects(struct fx *fx, const char *prefix)
{
	unsigned n = 0;

	assert_int_equal(
		fx->st->be_ops->list(fx->io, prefix, count_cb, &n, NULL), 0);
	return n;
}

void fill_pattern(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + 1) % 251 + 1);
}

bool is_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Writes distinct data over the whole of each listed extent. */
void write_extents(struct fx *fx, const uint64_t *ext, size_t n)
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

void release_held(struct fx *fx)
{
	struct wrap *w = &wrap_state;
	unsigned i, n = w->nheld;

	w->nheld = 0;
	for (i = 0; i < n; i++)
		w->outer->post(w->outer->ctx, w->held[i]);
	barrier(fx);
}
void status(struct fx *fx, uint64_t off, uint64_t len, struct storage_extent *e,
	    size_t *n)
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

void expect_run(const struct storage_extent *e, uint64_t length, bool hole)
{
	assert_int_equal(e->length, length);
	assert_int_equal(e->hole, hole);
}
