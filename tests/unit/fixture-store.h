/* The store fixture shared by the storage tests (fixture-store.c): the
 * route of a backend under test, a store opened on it, and requests to a
 * disk run to completion.  Test-only code. */
#ifndef HAVEN_TEST_FIXTURE_STORE_H
#define HAVEN_TEST_FIXTURE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
#include "storage.h"

/* Sets *route for backend TYPE: "local" gets a fresh directory
 * /tmp/NAME-XXXXXX, written to dir[PATH_MAX] (removed with
 * fixture_rmtree()); "rados" the cluster HAVEN_TEST_CEPH_CONF names and
 * the pool HAVEN_TEST_CEPH_POOL (default "haven-test"); others nothing
 * more.  route->type points at TYPE. */
void fixture_route(struct storage_route *route, char dir[PATH_MAX],
		   const char *type, const char *name);

/* A new sync env and the store of a route on it, both asserted. */
void fixture_store_open(const struct storage_route *route,
			struct storage_sync **sync, struct storage_store **st);

/* ---- requests: 'done' exactly once, never inside the submit call ---- */

struct fixture_req {
	struct storage_req r;
	int calls;
	int result;
	bool submitted;
	bool done;
	unsigned *left; /* decremented when done, unless NULL */
};

/* The 'done' of every fixture_req; asserts it was not called inline. */
void fixture_req_done(struct storage_req *r, int result);

/* Submits a request to a disk without waiting. */
void fixture_req_submit(struct storage_disk *d, struct fixture_req *t,
			enum storage_cmd cmd, uint64_t off, uint64_t len,
			void *buf);

/* Waits for a submitted request: its result, 'done' called once. */
int fixture_req_wait(struct storage_sync *sync, struct fixture_req *t);

/* Submits and waits: the result. */
int fixture_req_run(struct storage_sync *sync, struct storage_disk *d,
		    enum storage_cmd cmd, uint64_t off, uint64_t len,
		    void *buf);

/* ---- restore points, cut the way havend's cut_one() cuts them ---- */

#define FIXTURE_MAXSNAPS 8

/* A disk's restore points and what the latest cut gave. */
struct fixture_cuts {
	uint64_t snaps[FIXTURE_MAXSNAPS]; /* newest first, as in a snap context
					   */
	unsigned nsnaps;
	uint8_t *map; /* storage_disk_map() at the latest cut */
	size_t map_len;
	uint8_t *clones; /* what the latest cut's ledger_cut handed over */
	size_t clones_len;
	uint64_t clone_bytes;
	uint64_t changed; /* the latest cut's take_changed */
};

/* Cuts disk d of store st: a new snap made the disk's snap context, then
 * ledger_cut, take_changed and map, all asserted; c keeps what they gave. */
void fixture_cut(struct storage_store *st, struct storage_disk *d,
		 struct fixture_cuts *c);

/* Removes the snaps from the store and frees the maps. */
void fixture_cuts_free(struct storage_store *st, struct fixture_cuts *c);

/* ---- data ---- */

/* The next number below n of a test's own pseudo-random sequence. */
uint32_t fixture_rnd(uint32_t *state, uint32_t n);

/* Non-zero bytes, different for each seed. */
void fixture_fill(uint8_t *p, size_t len, unsigned seed);

bool fixture_all_zero(const uint8_t *p, uint64_t len);

#endif
