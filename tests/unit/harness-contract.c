/* What the object-store contract tests share: the backend cases, a
 * fixture with a fresh namespace (and directory, for local) per test, and
 * helpers that run one op to completion and check an object.  Used by
 * test-storage-contract.c and test-storage-snaps.c.
 */
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

#include "harness-contract.h"

static unsigned ns_counter;

struct backend_case memory_case = {"memory", false, false};
struct backend_case local_case = {"local", true, false};
struct backend_case fault_case = {"local", true, true};
struct backend_case rados_case = {"rados", true, false};

int store_open(struct fixture *f)
{
	int r;

	r = storage_store_open(&f->route, storage_sync_env(f->sync), &f->st);
	if (r < 0)
		return r;
	r = f->st->be_ops->ioctx_open(f->st->be, f->ns, &f->io);
	if (r < 0) {
		storage_store_close(f->st);
		f->st = NULL;
	}
	return r;
}

void store_close(struct fixture *f)
{
	if (f->io)
		f->st->be_ops->ioctx_close(f->io);
	f->io = NULL;
	storage_store_close(f->st);
	f->st = NULL;
}

int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->bc = *state;
	/* The injector without a rules file must be invisible. */
	if (f->bc->fault)
		f->route.fault_file = "/nonexistent/haven-fault-rules";
	/* A unique namespace per test keeps runs against a shared cluster
	 * apart. */
	snprintf(f->ns, sizeof(f->ns), "contract-%ld-%u", (long)getpid(),
		 ++ns_counter);
	fixture_route(&f->route, f->dir, f->bc->type, "haven-contract");
	assert_int_equal(storage_sync_new(&f->sync), 0);
	assert_int_equal(store_open(f), 0);
	*state = f;
	return 0;
}

int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f);
	storage_sync_free(f->sync);
	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

/* ---- helpers: one op, run to completion ---- */

int64_t run(struct fixture *f, enum storage_opcode code, const char *oid,
	    uint64_t off, uint64_t len, void *buf, uint64_t snap,
	    unsigned flags, uint64_t *size)
{
	struct storage_op op;
	int r;

	storage_op_init(&op, code, NULL);
	snprintf(op.oid, sizeof(op.oid), "%s", oid);
	op.off = off;
	op.len = len;
	op.buf = buf;
	op.snap = snap;
	op.flags = flags;
	r = storage_op_run(f->st, f->io, &op);
	if (r < 0)
		assert_int_equal(r, op.result);
	if (size)
		*size = op.size;
	return op.result;
}

int64_t obj_write(struct fixture *f, const char *oid, uint64_t off,
		  const void *buf, uint64_t len)
{
	return run(f, STORAGE_OP_WRITE, oid, off, len, (void *)(uintptr_t)buf,
		   STORAGE_SNAP_HEAD, 0, NULL);
}

int64_t obj_read(struct fixture *f, const char *oid, uint64_t snap,
		 uint64_t off, void *buf, uint64_t len)
{
	return run(f, STORAGE_OP_READ, oid, off, len, buf, snap, 0, NULL);
}

int64_t obj_op(struct fixture *f, enum storage_opcode code, const char *oid,
	       uint64_t off, uint64_t len)
{
	return run(f, code, oid, off, len, NULL, STORAGE_SNAP_HEAD, 0, NULL);
}

int64_t obj_stat(struct fixture *f, const char *oid, uint64_t snap,
		 uint64_t *size)
{
	return run(f, STORAGE_OP_STAT, oid, 0, 0, NULL, snap, 0, size);
}

/* Asserts that the object at snap is exactly 'len' bytes equal to 'want'. */
void expect_obj(struct fixture *f, const char *oid, uint64_t snap,
		const void *want, size_t len)
{
	char *got = malloc(len + 16);
	uint64_t size = 0;

	assert_non_null(got);
	assert_int_equal(obj_read(f, oid, snap, 0, got, len + 16), len);
	assert_memory_equal(got, want, len);
	assert_int_equal(obj_stat(f, oid, snap, &size), 0);
	assert_int_equal(size, len);
	free(got);
}

void expect_absent(struct fixture *f, const char *oid, uint64_t snap)
{
	char buf[8];
	uint64_t size;

	assert_int_equal(obj_read(f, oid, snap, 0, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(obj_stat(f, oid, snap, &size), -ENOENT);
}

uint64_t snap_new(struct fixture *f)
{
	uint64_t id = 0;

	assert_int_equal(f->st->be_ops->snap_create(f->st->be, &id), 0);
	assert_true(id > 0 && id < STORAGE_SNAP_HEAD);
	return id;
}

/* Makes snaps[0..n) (ascending ids) the write context, newest first. */
void set_ctx(struct fixture *f, const uint64_t *snaps, unsigned n)
{
	uint64_t desc[128];
	unsigned i;

	assert_true(n <= 128);
	for (i = 0; i < n; i++)
		desc[i] = snaps[n - 1 - i];
	assert_int_equal(
		f->st->be_ops->set_write_ctx(f->io, n ? desc[0] : 0, desc, n),
		0);
}
