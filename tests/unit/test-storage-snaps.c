/* The object-store contract (storage/objstore.h) for snapshots, run
 * unchanged against every backend like test-storage-contract.c: reads at
 * a snap, snaps made before and after writes and removals, several snaps,
 * removing one in the middle, and invalid write contexts.
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

static void test_snap_basic(void **state)
{
	struct fixture *f = *state;
	uint64_t s1, s2;

	assert_int_equal(obj_write(f, "obj", 0, "version-1", 9), 0);
	s1 = snap_new(f);
	s2 = snap_new(f);
	assert_true(s2 > s1);
	set_ctx(f, &s1, 1);
	assert_int_equal(obj_write(f, "obj", 0, "version-2!", 10), 0);
	expect_obj(f, "obj", s1, "version-1", 9);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "version-2!", 10);
	/* A second write under the same context does not clone again. */
	assert_int_equal(obj_write(f, "obj", 0, "V3", 2), 0);
	expect_obj(f, "obj", s1, "version-1", 9);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "V3rsion-2!", 10);
}

static void test_snap_created_after(void **state)
{
	struct fixture *f = *state;
	uint64_t s1;

	s1 = snap_new(f);
	set_ctx(f, &s1, 1);
	assert_int_equal(obj_write(f, "late", 0, "new", 3), 0);
	expect_absent(f, "late", s1);
	expect_obj(f, "late", STORAGE_SNAP_HEAD, "new", 3);
	/* Created with ZERO or TRUNCATE: the same. */
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "z", 0, 10), 0);
	assert_int_equal(obj_op(f, STORAGE_OP_TRUNCATE, "t", 10, 0), 0);
	expect_absent(f, "z", s1);
	expect_absent(f, "t", s1);
}

static void test_snap_removed_after(void **state)
{
	struct fixture *f = *state;
	uint64_t s[2];

	assert_int_equal(obj_write(f, "obj", 0, "kept", 4), 0);
	s[0] = snap_new(f);
	set_ctx(f, s, 1);
	assert_int_equal(obj_op(f, STORAGE_OP_REMOVE, "obj", 0, 0), 0);
	expect_absent(f, "obj", STORAGE_SNAP_HEAD);
	expect_obj(f, "obj", s[0], "kept", 4);
	/* Recreated after a second snap: s1 has it, s2 does not. */
	s[1] = snap_new(f);
	set_ctx(f, s, 2);
	assert_int_equal(obj_write(f, "obj", 0, "again", 5), 0);
	expect_obj(f, "obj", s[0], "kept", 4);
	expect_absent(f, "obj", s[1]);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "again", 5);
}

static void test_snap_three(void **state)
{
	struct fixture *f = *state;
	uint64_t s[3];

	assert_int_equal(obj_write(f, "obj", 0, "aaaaaaaa", 8), 0);
	s[0] = snap_new(f);
	set_ctx(f, s, 1);
	assert_int_equal(obj_write(f, "obj", 2, "bb", 2), 0);
	s[1] = snap_new(f);
	set_ctx(f, s, 2);
	assert_int_equal(obj_op(f, STORAGE_OP_ZERO, "obj", 5, 1), 0);
	s[2] = snap_new(f);
	set_ctx(f, s, 3);
	assert_int_equal(obj_op(f, STORAGE_OP_TRUNCATE, "obj", 3, 0), 0);
	assert_int_equal(obj_write(f, "obj", 0, "c", 1), 0);

	expect_obj(f, "obj", s[0], "aaaaaaaa", 8);
	expect_obj(f, "obj", s[1], "aabbaaaa", 8);
	expect_obj(f, "obj", s[2], "aabba\0aa", 8);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "cab", 3);
}

#define NSNAPS 60

static void test_snap_many(void **state)
{
	struct fixture *f = *state;
	uint64_t s[NSNAPS];
	char want[NSNAPS + 1][NSNAPS + 8];
	size_t len[NSNAPS + 1];
	unsigned i;

	memset(want, 0, sizeof(want));
	strcpy(want[0], "start");
	len[0] = 5;
	assert_int_equal(obj_write(f, "obj", 0, want[0], len[0]), 0);
	for (i = 0; i < NSNAPS; i++) {
		s[i] = snap_new(f);
		if (i)
			assert_true(s[i] > s[i - 1]);
		set_ctx(f, s, i + 1);
		/* Each write changes one byte and grows by one. */
		memcpy(want[i + 1], want[i], len[i]);
		want[i + 1][i] = (char)('A' + i % 26);
		len[i + 1] = len[i] + 1;
		assert_int_equal(
			obj_write(f, "obj", 0, want[i + 1], len[i + 1]), 0);
	}
	for (i = 0; i < NSNAPS; i++)
		expect_obj(f, "obj", s[i], want[i], len[i]);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, want[NSNAPS], len[NSNAPS]);
}

static void test_snap_remove_middle(void **state)
{
	struct fixture *f = *state;
	const struct storage_backend *be = f->st->be_ops;
	uint64_t s[3], live[2];

	assert_int_equal(obj_write(f, "obj", 0, "one", 3), 0);
	assert_int_equal(obj_write(f, "still", 0, "same", 4), 0);
	s[0] = snap_new(f);
	set_ctx(f, s, 1);
	assert_int_equal(obj_write(f, "obj", 0, "two", 3), 0);
	s[1] = snap_new(f);
	set_ctx(f, s, 2);
	assert_int_equal(obj_write(f, "obj", 0, "three", 5), 0);
	s[2] = snap_new(f);
	set_ctx(f, s, 3);
	assert_int_equal(obj_write(f, "obj", 0, "four", 4), 0);

	assert_int_equal(be->snap_remove(f->st->be, s[1]), 0);
	live[0] = s[0];
	live[1] = s[2];
	set_ctx(f, live, 2);
	expect_obj(f, "obj", s[0], "one", 3);
	expect_obj(f, "obj", s[2], "three", 5);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "foure", 5);
	/* Writing after the removal keeps the remaining snaps intact. */
	assert_int_equal(obj_write(f, "obj", 0, "5", 1), 0);
	expect_obj(f, "obj", s[0], "one", 3);
	expect_obj(f, "obj", s[2], "three", 5);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "5oure", 5);
	expect_obj(f, "still", s[0], "same", 4);
	expect_obj(f, "still", s[2], "same", 4);

	/* Removing the oldest too leaves the newest alone. */
	assert_int_equal(be->snap_remove(f->st->be, s[0]), 0);
	set_ctx(f, &s[2], 1);
	expect_obj(f, "obj", s[2], "three", 5);
	expect_obj(f, "obj", STORAGE_SNAP_HEAD, "5oure", 5);
}

static void test_snap_ctx_invalid(void **state)
{
	struct fixture *f = *state;
	const struct storage_backend *be = f->st->be_ops;
	uint64_t s[2], asc[2], dup[2];

	s[0] = snap_new(f);
	s[1] = snap_new(f);
	asc[0] = s[0];
	asc[1] = s[1];
	assert_int_equal(be->set_write_ctx(f->io, s[1], asc, 2), -EINVAL);
	dup[0] = dup[1] = s[1];
	assert_int_equal(be->set_write_ctx(f->io, s[1], dup, 2), -EINVAL);
	/* seq older than the newest snap. */
	assert_int_equal(be->set_write_ctx(f->io, s[0], &s[1], 1), -EINVAL);
	/* The rejected contexts left the previous (empty) one in place:
	 * writes do not clone. */
	assert_int_equal(obj_write(f, "obj", 0, "a", 1), 0);
	assert_int_equal(obj_write(f, "obj", 0, "b", 1), 0);
	expect_obj(f, "obj", s[1], "b", 1);
}

#define SNAP_TESTS(bc)                                                         \
	{                                                                      \
		T(test_snap_basic, bc), T(test_snap_created_after, bc),        \
			T(test_snap_removed_after, bc),                        \
			T(test_snap_three, bc), T(test_snap_many, bc),         \
			T(test_snap_remove_middle, bc),                        \
			T(test_snap_ctx_invalid, bc),                          \
	}

int main(void)
{
	int failed = 0;

	RUN_CONTRACT_GROUPS(SNAP_TESTS, failed);
	return failed ? 1 : 0;
}
