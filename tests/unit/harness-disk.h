/* The disk layer tests' harness (harness-disk.c).  Test-only code. */
#ifndef HAVEN_TEST_HARNESS_DISK_H
#define HAVEN_TEST_HARNESS_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
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
	bool hold;	  /* keep completions until release_held() */
	struct storage_completion *held[4096];
	unsigned nheld, max_held;
	/* What the disk layer asked for, by opcode, and with FUA. */
	unsigned ncode[STORAGE_OP_SYNC + 1], nfua;
	enum storage_opcode last_code;
};

/* The one wrapper of the test running (set up by fx_setup_wrap). */
extern struct wrap wrap_state;

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

/* cmocka setups: disk DISK_ID of DSIZE bytes in NS on the memory, the
 * local or the wrapper backend; one teardown for all three. */
int fx_setup(void **state);
int fx_setup_local(void **state);
int fx_setup_wrap(void **state);
int fx_teardown(void **state);

#define MEM(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)
#define LOCAL(t) cmocka_unit_test_setup_teardown(t, fx_setup_local, fx_teardown)
#define WRAP(t) cmocka_unit_test_setup_teardown(t, fx_setup_wrap, fx_teardown)

/* For the tests that also run on the local backend: skips while this
 * tree's local backend cannot open a store.  Called in the first
 * initializer, before the test allocates anything. */
struct fx *need_store(struct fx *fx);

/* Opens disk DISK_ID in NS with this size, extent size and snap. */
int disk_open(struct fx *fx, uint64_t size, uint32_t es, uint64_t snap,
	      struct storage_disk **out);

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

/* The 'done' of every request here: counts calls, notes inline ones. */
void treq_done(struct storage_req *r, int result);

/* Runs every completion posted so far: any second 'done' would run. */
void barrier(struct fx *fx);

/* Submits without waiting; asserts 'done' did not run inline. */
void req_start(struct fx *fx, struct treq *t, enum storage_cmd cmd,
	       unsigned flags, uint64_t off, uint64_t len, void *buf);

/* Submits, waits, and checks 'done' ran exactly once, later: its result. */
int req_run(struct fx *fx, enum storage_cmd cmd, unsigned flags, uint64_t off,
	    uint64_t len, void *buf);

/* Posts the completions the wrapper held back, and runs them. */
void release_held(struct fx *fx);

/* STATUS of [off, off + len) into e[0..*n); *n becomes the runs used. */
void status(struct fx *fx, uint64_t off, uint64_t len, struct storage_extent *e,
	    size_t *n);
void expect_run(const struct storage_extent *e, uint64_t length, bool hole);

/* ---- store inspection ---- */

int obj_stat(struct fx *fx, uint64_t n, uint64_t *size);
bool obj_exists(struct fx *fx, uint64_t n);
void obj_write(struct fx *fx, const char *oid, const void *buf, uint64_t len);
unsigned count_objects(struct fx *fx, const char *prefix);
void fill_pattern(unsigned char *p, size_t len, unsigned seed);
bool is_zero(const unsigned char *p, size_t len);

/* Writes distinct data over the whole of each listed extent. */
void write_extents(struct fx *fx, const uint64_t *ext, size_t n);

#endif
