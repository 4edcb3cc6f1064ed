/* The object-store contract tests' harness (harness-contract.c).
 * Test-only code. */
#ifndef HAVEN_TEST_HARNESS_CONTRACT_H
#define HAVEN_TEST_HARNESS_CONTRACT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "fixture-store.h"
#include "objstore.h"

struct backend_case {
	const char *type;
	bool persistent; /* data survives closing and reopening the store */
	bool fault;	 /* inside the fault injector, with no rules */
};

/* memory; local; local inside the fault injector; rados (run only when
 * HAVEN_TEST_CEPH_CONF names a test cluster). */
extern struct backend_case memory_case, local_case, fault_case, rados_case;

struct fixture {
	const struct backend_case *bc;
	char dir[PATH_MAX];
	char ns[64];
	struct storage_route route;
	struct storage_sync *sync;
	struct storage_store *st;
	void *io;
};

/* cmocka setup and teardown; the initial state is a backend case. */
int setup(void **state);
int teardown(void **state);

/* (Re)opens and closes the store and the test's ioctx. */
int store_open(struct fixture *f);
void store_close(struct fixture *f);

/* One op, run to completion: its result. */
int64_t run(struct fixture *f, enum storage_opcode code, const char *oid,
	    uint64_t off, uint64_t len, void *buf, uint64_t snap,
	    unsigned flags, uint64_t *size);
int64_t obj_write(struct fixture *f, const char *oid, uint64_t off,
		  const void *buf, uint64_t len);
int64_t obj_read(struct fixture *f, const char *oid, uint64_t snap,
		 uint64_t off, void *buf, uint64_t len);
int64_t obj_op(struct fixture *f, enum storage_opcode code, const char *oid,
	       uint64_t off, uint64_t len);
int64_t obj_stat(struct fixture *f, const char *oid, uint64_t snap,
		 uint64_t *size);
/* Asserts that the object at snap is exactly 'len' bytes equal to 'want'. */
void expect_obj(struct fixture *f, const char *oid, uint64_t snap,
		const void *want, size_t len);
void expect_absent(struct fixture *f, const char *oid, uint64_t snap);
/* A new snap id, asserted valid. */
uint64_t snap_new(struct fixture *f);
/* Makes snaps[0..n) (ascending ids) the write context, newest first. */
void set_ctx(struct fixture *f, const uint64_t *snaps, unsigned n);

/* One test, run on backend case bc. */
#define T(fn, bc)                                                              \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &(bc))

/* Runs LIST(bc), a braced list of T(fn, bc), as one group per backend
 * case and adds the failures to 'failed'.  The rados backend needs a
 * throwaway cluster (tests/integration starts one); without it, that
 * group is not run. */
#define RUN_CONTRACT_GROUPS(LIST, failed)                                      \
	do {                                                                   \
		const struct CMUnitTest memory_tests[] = LIST(memory_case);    \
		const struct CMUnitTest local_tests[] = LIST(local_case);      \
		const struct CMUnitTest fault_tests[] = LIST(fault_case);      \
		const struct CMUnitTest rados_tests[] = LIST(rados_case);      \
                                                                               \
		failed += cmocka_run_group_tests_name("memory", memory_tests,  \
						      NULL, NULL);             \
		failed += cmocka_run_group_tests_name("local", local_tests,    \
						      NULL, NULL);             \
		failed += cmocka_run_group_tests_name(                         \
			"fault(local)", fault_tests, NULL, NULL);              \
		if (getenv("HAVEN_TEST_CEPH_CONF"))                            \
			failed += cmocka_run_group_tests_name(                 \
				"rados", rados_tests, NULL, NULL);             \
	} while (0)

#endif
