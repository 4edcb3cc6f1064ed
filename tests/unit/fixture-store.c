/* The store fixture: see fixture-store.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture-store.h"

void fixture_route(struct storage_route *route, char dir[PATH_MAX],
		   const char *type, const char *name)
{
	route->type = type;
	if (strcmp(type, "local") == 0) {
		fixture_tmpdir(dir, PATH_MAX, name);
		route->path = dir;
	} else if (strcmp(type, "rados") == 0) {
		route->ceph_conf = getenv("HAVEN_TEST_CEPH_CONF");
		route->pool = getenv("HAVEN_TEST_CEPH_POOL");
		if (!route->pool)
			route->pool = "haven-test";
	}
}

void fixture_store_open(const struct storage_route *route,
			struct storage_sync **sync, struct storage_store **st)
{
	assert_int_equal(storage_sync_new(sync), 0);
	assert_int_equal(storage_store_open(route, storage_sync_env(*sync), st),
			 0);
}

void fixture_req_done(struct storage_req *r, int result)
{
	struct fixture_req *t = r->priv;

	assert_true(t->submitted);
	t->calls++;
	t->result = result;
	t->done = true;
	if (t->left)
		--*t->left;
}

void fixture_req_submit(struct storage_disk *d, struct fixture_req *t,
			enum storage_cmd cmd, uint64_t off, uint64_t len,
			void *buf)
{
	memset(t, 0, sizeof(*t));
	t->r.cmd = cmd;
	t->r.off = off;
	t->r.len = len;
	t->r.buf = buf;
	t->r.done = fixture_req_done;
	t->r.priv = t;
	storage_disk_submit(d, &t->r);
	t->submitted = true;
	assert_int_equal(t->calls, 0);
}

int fixture_req_wait(struct storage_sync *sync, struct fixture_req *t)
{
	storage_sync_wait(sync, &t->done);
	assert_int_equal(t->calls, 1);
	return t->result;
}

int fixture_req_run(struct storage_sync *sync, struct storage_disk *d,
		    enum storage_cmd cmd, uint64_t off, uint64_t len, void *buf)
{
	struct fixture_req t;

	fixture_req_submit(d, &t, cmd, off, len, buf);
	return fixture_req_wait(sync, &t);
}

void fixture_cut(struct storage_store *st, struct storage_disk *d,
		 struct fixture_cuts *c)
{
	uint64_t snap = 0;

	assert_true(c->nsnaps < FIXTURE_MAXSNAPS);
	assert_int_equal(storage_store_snap_create(st, &snap), 0);
	memmove(c->snaps + 1, c->snaps, c->nsnaps * sizeof(c->snaps[0]));
	c->snaps[0] = snap;
	c->nsnaps++;
	assert_int_equal(storage_disk_set_snapc(d, snap, c->snaps, c->nsnaps),
			 0);
	free(c->clones);
	assert_int_equal(storage_disk_ledger_cut(d, &c->clones, &c->clones_len,
						 &c->clone_bytes),
			 0);
	c->changed = storage_disk_take_changed(d);
	free(c->map);
	assert_int_equal(storage_disk_map(d, &c->map, &c->map_len), 0);
}

void fixture_cuts_free(struct storage_store *st, struct fixture_cuts *c)
{
	for (unsigned i = 0; i < c->nsnaps; i++)
		storage_store_snap_remove(st, c->snaps[i]);
	free(c->map);
	free(c->clones);
	memset(c, 0, sizeof(*c));
}

uint32_t fixture_rnd(uint32_t *state, uint32_t n)
{
	*state = *state * 1103515245u + 12345u;
	return (*state >> 8) % n;
}

void fixture_fill(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)((i / 7 + seed * 31) % 251 + 1);
}

bool fixture_all_zero(const uint8_t *p, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}
