/* The catalog's restore point side: checkpoint settings, disk growth,
 * restore points and their maps, snap id ownership and pools, and the
 * upgrade of a catalog written before any of this existed.  The requests
 * between havenctl and havend are in test-catalog-req.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "harness-catalog-rp.h"

static struct tenant_disk get_disk(struct tenant_catalog *cat, uint64_t id)
{
	struct tenant_disk d;

	assert_int_equal(tenant_disk_get_by_id(cat, id, &d), 0);
	return d;
}

static struct tenant_rp make_rp(uint64_t disk, uint64_t snap, const char *name)
{
	struct tenant_rp rp = {0};

	rp.disk_id = disk;
	rp.snap_id = snap;
	rp.trigger = TENANT_RP_CHECKPOINT;
	rp.size = 1ull << 30;
	rp.bytes_changed = snap * 4096;
	snprintf(rp.name, sizeof(rp.name), "%s", name);
	return rp;
}

/* The id of the restore point a spec names, or the error. */
static int64_t find(struct tenant_catalog *cat, uint64_t disk, const char *spec)
{
	struct tenant_rp rp;
	int rc = tenant_rp_find(cat, disk, spec, &rp);

	return rc ? rc : (int64_t)rp.id;
}

/* The restore point that owns a snap id of route "default", or the
 * error. */
static int64_t owner(struct tenant_catalog *cat, uint64_t snap)
{
	uint64_t disk, rp;
	int rc = tenant_snap_owner(cat, "default", snap, &disk, &rp);

	return rc ? rc : (int64_t)rp;
}

/* tenant_rp_add() of a restore point without a map. */
static int try_rp(struct tenant_catalog *cat, const char *route, uint64_t disk,
		  uint64_t snap, const char *name)
{
	struct tenant_rp rp = make_rp(disk, snap, name);

	return tenant_rp_add(cat, route, &rp, NULL, 0);
}

/* Adds a restore point with a one-byte map equal to its snap id. */
static uint64_t add_rp(struct tenant_catalog *cat, uint64_t disk, uint64_t snap,
		       const char *name)
{
	struct tenant_rp rp = make_rp(disk, snap, name);
	uint8_t map = (uint8_t)snap;

	assert_int_equal(tenant_rp_add(cat, "default", &rp, &map, 1), 0);
	return rp.id;
}

static int collect_rp(const struct tenant_rp *rp, void *arg)
{
	struct ids *ids = arg;

	ids->v[ids->n++] = rp->id;
	return 0;
}

static int collect_snap(uint64_t snap_id, void *arg)
{
	struct ids *ids = arg;

	ids->v[ids->n++] = snap_id;
	return 0;
}

static struct ids rp_ids(struct tenant_catalog *cat, uint64_t disk)
{
	struct ids ids = {0};

	assert_int_equal(tenant_rp_list(cat, disk, collect_rp, &ids), 0);
	return ids;
}

static struct ids pool_ids(struct tenant_catalog *cat, const char *route)
{
	struct ids ids = {0};

	assert_int_equal(tenant_snap_pool_list(cat, route, collect_snap, &ids),
			 0);
	return ids;
}

/* ---- settings ---- */

static void test_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct tenant_info t = {0};
	struct tenant_disk d;
	uint64_t g = fixture_generation(f->cat);

	assert_int_equal(tenant_get(f->cat, f->tenant, &t), 0);
	assert_int_equal(t.checkpoint_s, 0);
	assert_int_equal(tenant_set_checkpoint(f->cat, f->tenant, 1), -EINVAL);
	assert_int_equal(tenant_set_checkpoint(f->cat, f->tenant,
					       TENANT_CHECKPOINT_MIN - 1),
			 -EINVAL);
	assert_int_equal(tenant_set_checkpoint(f->cat, 999, 60), -ENOENT);
	assert_int_equal(fixture_generation(f->cat), g);

	assert_int_equal(
		tenant_set_checkpoint(f->cat, f->tenant, TENANT_CHECKPOINT_MIN),
		0);
	assert_int_equal(tenant_set_checkpoint(f->cat, f->tenant, 900), 0);
	assert_int_equal(fixture_generation(f->cat), g + 2);
	assert_int_equal(tenant_get_by_name(f->cat, "acme", &t), 0);
	assert_int_equal(t.checkpoint_s, 900);
	/* Nothing else of the tenant changed. */
	assert_string_equal(t.route, "default");
	assert_int_equal(t.state, TENANT_ACTIVE);
	assert_int_equal(tenant_set_checkpoint(f->cat, f->tenant, 0), 0);
	assert_int_equal(tenant_get(f->cat, f->tenant, &t), 0);
	assert_int_equal(t.checkpoint_s, 0);

	assert_int_equal(tenant_disk_set_checkpoint(f->cat, f->disk, 4),
			 -EINVAL);
	assert_int_equal(tenant_disk_set_checkpoint(f->cat, 999, 30), -ENOENT);
	assert_int_equal(tenant_disk_set_checkpoint(f->cat, f->disk, 30), 0);
	d = get_disk(f->cat, f->disk);
	assert_int_equal(d.checkpoint_s, 30);
	assert_int_equal(d.size, 1ull << 30);
	assert_int_equal(tenant_disk_get(f->cat, f->tenant, "vm", "sda", &d),
			 0);
	assert_int_equal(d.checkpoint_s, 30);
	assert_int_equal(tenant_disk_set_checkpoint(f->cat, f->disk, 0), 0);
	assert_int_equal(get_disk(f->cat, f->disk).checkpoint_s, 0);

	/* Intervals given at creation follow the same rule. */
	memset(&t, 0, sizeof(t));
	strcpy(t.name, "fast");
	strcpy(t.route, "default");
	t.checkpoint_s = 2;
	assert_int_equal(tenant_add(f->cat, &t), -EINVAL);
	t.checkpoint_s = 10;
	assert_int_equal(tenant_add(f->cat, &t), 0);
	assert_int_equal(tenant_get(f->cat, t.id, &t), 0);
	assert_int_equal(t.checkpoint_s, 10);
}

static void test_resize(void **state)
{
	struct fixture *f = *state;
	uint64_t g = fixture_generation(f->cat);

	assert_int_equal(tenant_disk_resize(f->cat, f->disk, 1ull << 29),
			 -EINVAL);
	assert_int_equal(tenant_disk_resize(f->cat, f->disk, 1ull << 30),
			 -EINVAL);
	assert_int_equal(tenant_disk_resize(f->cat, f->disk, (1ull << 31) + 1),
			 -EINVAL);
	assert_int_equal(tenant_disk_resize(f->cat, f->disk, 0), -EINVAL);
	assert_int_equal(tenant_disk_resize(f->cat, 999, 1ull << 31), -ENOENT);
	assert_int_equal(get_disk(f->cat, f->disk).size, 1ull << 30);
	assert_int_equal(fixture_generation(f->cat), g);

	assert_int_equal(
		tenant_disk_resize(f->cat, f->disk, (1ull << 30) + 512), 0);
	assert_int_equal(get_disk(f->cat, f->disk).size, (1ull << 30) + 512);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(get_disk(f->cat, f->disk).extent_size, 4 << 20);
}

/* ---- restore points ---- */

static void test_rp_add_list_get(void **state)
{
	struct fixture *f = *state;
	struct tenant_rp rp, got;
	uint64_t disk2, owner_disk, owner_rp, g;
	uint8_t map[3] = {0x0f, 0x00, 0x81}, *m = NULL;
	struct ids ids;
	size_t len;

	disk2 = fixture_disk_add(f->cat, f->tenant, "vm", "sdb");
	for (uint64_t s = 10; s <= 14; s++)
		assert_int_equal(tenant_snap_pool_add(f->cat, "default", s), 0);
	assert_int_equal(get_disk(f->cat, f->disk).snap_seq, 0);
	assert_int_equal(
		tenant_rp_list(f->cat, 999, collect_rp, (struct ids[1]){0}),
		-ENOENT);
	assert_int_equal(rp_ids(f->cat, f->disk).n, 0);

	g = fixture_generation(f->cat);
	rp = make_rp(f->disk, 10, "before-upgrade");
	rp.trigger = TENANT_RP_MANUAL;
	rp.group = 77;
	assert_int_equal(tenant_rp_add(f->cat, "default", &rp, map, 3), 0);
	assert_int_equal(rp.id, 1);
	assert_true(rp.created_ms > 1600000000000ull);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(add_rp(f->cat, f->disk, 12, ""), 2);
	/* Ids are per disk. */
	assert_int_equal(add_rp(f->cat, disk2, 11, ""), 1);
	/* A lower snap id is recorded but never lowers snap_seq. */
	assert_int_equal(add_rp(f->cat, f->disk, 13, "x"), 3);
	assert_int_equal(get_disk(f->cat, f->disk).snap_seq, 13);
	rp = make_rp(f->disk, 5, "");
	assert_int_equal(tenant_rp_add(f->cat, "default", &rp, NULL, 0), 0);
	assert_int_equal(rp.id, 4);
	assert_int_equal(get_disk(f->cat, f->disk).snap_seq, 13);
	assert_int_equal(get_disk(f->cat, disk2).snap_seq, 11);

	ids = rp_ids(f->cat, f->disk);
	assert_int_equal(ids.n, 4);
	for (size_t i = 0; i < ids.n; i++)
		assert_int_equal(ids.v[i], i + 1);
	ids = rp_ids(f->cat, disk2);
	assert_int_equal(ids.n, 1);

	assert_int_equal(tenant_rp_get(f->cat, f->disk, 1, &got), 0);
	assert_int_equal(got.disk_id, f->disk);
	assert_int_equal(got.snap_id, 10);
	assert_int_equal(got.trigger, TENANT_RP_MANUAL);
	assert_int_equal(got.group, 77);
	assert_int_equal(got.bytes_changed, 10 * 4096);
	assert_string_equal(got.name, "before-upgrade");
	assert_int_equal(tenant_rp_get(f->cat, f->disk, 9, &got), -ENOENT);
	assert_int_equal(tenant_rp_get(f->cat, f->disk, 0, &got), -ENOENT);
	assert_int_equal(tenant_rp_get(f->cat, 999, 1, &got), -ENOENT);

	assert_int_equal(tenant_rp_map(f->cat, f->disk, 1, &m, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(m, map, 3);
	free(m);
	assert_int_equal(tenant_rp_map(f->cat, f->disk, 4, &m, &len), 0);
	assert_int_equal(len, 0);
	assert_null(m);
	assert_int_equal(tenant_rp_map(f->cat, f->disk, 9, &m, &len), -ENOENT);

	/* Every used id has its owner; the pool kept only the unused one
	 * (5 never was in it). */
	assert_int_equal(tenant_snap_owner(f->cat, "default", 11, &owner_disk,
					   &owner_rp),
			 0);
	assert_int_equal(owner_disk, disk2);
	assert_int_equal(owner_rp, 1);
	assert_int_equal(
		tenant_snap_owner(f->cat, "default", 5, &owner_disk, &owner_rp),
		0);
	assert_int_equal(owner_rp, 4);
	assert_int_equal(owner(f->cat, 14), -ENOENT);
	ids = pool_ids(f->cat, "default");
	assert_int_equal(ids.n, 1);
	assert_int_equal(ids.v[0], 14);
}

static void test_rp_find(void **state)
{
	struct fixture *f = *state;
	struct tenant_rp rp;

	assert_int_equal(find(f->cat, f->disk, "latest"), -ENOENT);
	assert_int_equal(find(f->cat, 999, "latest"), -ENOENT);
	add_rp(f->cat, f->disk, 3, "monday");
	add_rp(f->cat, f->disk, 4, "");
	add_rp(f->cat, f->disk, 7, "tuesday");
	add_rp(f->cat, f->disk, 8, "");

	assert_int_equal(tenant_rp_find(f->cat, f->disk, "latest", &rp), 0);
	assert_int_equal(rp.id, 4);
	assert_int_equal(rp.snap_id, 8);
	assert_int_equal(tenant_rp_find(f->cat, f->disk, "2", &rp), 0);
	assert_int_equal(rp.snap_id, 4);
	assert_int_equal(find(f->cat, f->disk, "tuesday"), 3);
	assert_int_equal(find(f->cat, f->disk, "monday"), 1);
	assert_int_equal(find(f->cat, f->disk, "friday"), -ENOENT);
	assert_int_equal(find(f->cat, f->disk, "5"), -ENOENT);
	assert_int_equal(find(f->cat, f->disk, "0"), -ENOENT);
	assert_int_equal(find(f->cat, f->disk, "99999999999999999999999"),
			 -ENOENT);
	assert_int_equal(find(f->cat, f->disk, ""), -EINVAL);
	assert_int_equal(find(f->cat, f->disk, "Bad"), -EINVAL);
	assert_int_equal(find(f->cat, f->disk, "-1"), -EINVAL);

	/* Names that would read as an id or "latest" are refused, so a
	 * spec never changes meaning. */
	assert_int_equal(try_rp(f->cat, "default", f->disk, 20, "latest"),
			 -EINVAL);
	assert_int_equal(try_rp(f->cat, "default", f->disk, 20, "7"), -EINVAL);
	assert_int_equal(try_rp(f->cat, "default", f->disk, 20, "7a"), 0);
	assert_int_equal(find(f->cat, f->disk, "7a"), 5);
}

/* A refused restore point leaves no trace: not in the pool's state, not
 * in snap_seq, not in maps, ids or the generation. */
static void test_rp_add_atomic(void **state)
{
	struct fixture *f = *state;
	uint64_t other, g;
	struct tenant_rp rp;
	uint8_t map = 0xff, *m = NULL;
	size_t len;

	fixture_route_add(f->cat, "other");
	other = fixture_disk_add(f->cat,
				 fixture_tenant_add(f->cat, "globex", "other"),
				 "vm", "sda");
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 20), 0);
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 21), 0);
	add_rp(f->cat, f->disk, 20, "daily");
	g = fixture_generation(f->cat);

	rp = make_rp(f->disk, 21, "daily");
	assert_int_equal(tenant_rp_add(f->cat, "default", &rp, &map, 1),
			 -EEXIST);
	assert_int_equal(rp.id, 0);
	/* The snap id is owned already (by restore point 1). */
	assert_int_equal(try_rp(f->cat, "default", f->disk, 20, ""), -EEXIST);
	/* Another tenant's route, an unknown disk, an unknown route. */
	assert_int_equal(try_rp(f->cat, "default", other, 21, ""), -EINVAL);
	assert_int_equal(try_rp(f->cat, "other", f->disk, 21, ""), -EINVAL);
	assert_int_equal(try_rp(f->cat, "nowhere", f->disk, 21, ""), -EINVAL);
	assert_int_equal(try_rp(f->cat, "default", 999, 21, ""), -ENOENT);
	/* Arguments that cannot be right. */
	assert_int_equal(try_rp(f->cat, "default", f->disk, 0, ""), -EINVAL);
	rp = make_rp(f->disk, 21, "");
	rp.trigger = 0;
	assert_int_equal(tenant_rp_add(f->cat, "default", &rp, NULL, 0),
			 -EINVAL);
	rp.trigger = TENANT_RP_SESSION_END + 2;
	assert_int_equal(tenant_rp_add(f->cat, "default", &rp, NULL, 0),
			 -EINVAL);
	assert_int_equal(try_rp(f->cat, "default", f->disk, 21, "Bad Name"),
			 -EINVAL);
	rp = make_rp(f->disk, 21, "");
	assert_int_equal(tenant_rp_add(f->cat, "default", &rp, NULL, 4),
			 -EINVAL);

	assert_int_equal(fixture_generation(f->cat), g);
	assert_int_equal(get_disk(f->cat, f->disk).snap_seq, 20);
	assert_int_equal(get_disk(f->cat, other).snap_seq, 0);
	assert_int_equal(pool_ids(f->cat, "default").n, 1);
	assert_int_equal(pool_ids(f->cat, "default").v[0], 21);
	assert_int_equal(owner(f->cat, 21), -ENOENT);
	assert_int_equal(rp_ids(f->cat, f->disk).n, 1);
	assert_int_equal(rp_ids(f->cat, other).n, 0);
	assert_int_equal(tenant_rp_map(f->cat, f->disk, 2, &m, &len), -ENOENT);

	/* The failures consumed no id. */
	assert_int_equal(add_rp(f->cat, f->disk, 21, "weekly"), 2);
	assert_int_equal(get_disk(f->cat, f->disk).snap_seq, 21);
	assert_int_equal(pool_ids(f->cat, "default").n, 0);
}

static void test_rp_remove(void **state)
{
	struct fixture *f = *state;
	uint64_t owner_disk, owner_rp, g;
	struct tenant_rp rp;
	uint8_t *m = NULL;
	size_t len;

	add_rp(f->cat, f->disk, 30, "a");
	add_rp(f->cat, f->disk, 31, "b");
	add_rp(f->cat, f->disk, 32, "");
	g = fixture_generation(f->cat);

	assert_int_equal(tenant_disk_remove(f->cat, f->disk), -EBUSY);
	assert_int_equal(fixture_generation(f->cat), g);

	assert_int_equal(tenant_rp_remove(f->cat, f->disk, 3, &rp), 0);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(rp.id, 3);
	assert_int_equal(rp.snap_id, 32);
	assert_int_equal(owner(f->cat, 32), -ENOENT);
	assert_int_equal(tenant_rp_map(f->cat, f->disk, 3, &m, &len), -ENOENT);
	assert_int_equal(tenant_rp_get(f->cat, f->disk, 3, &rp), -ENOENT);
	assert_int_equal(tenant_rp_remove(f->cat, f->disk, 3, &rp), -ENOENT);
	assert_int_equal(tenant_rp_remove(f->cat, 999, 1, &rp), -ENOENT);
	/* Removing never lowers snap_seq, and the newest id is not reused. */
	assert_int_equal(get_disk(f->cat, f->disk).snap_seq, 32);
	assert_int_equal(add_rp(f->cat, f->disk, 33, ""), 4);
	assert_int_equal(find(f->cat, f->disk, "latest"), 4);

	/* Removing a name frees it. */
	assert_int_equal(tenant_rp_remove(f->cat, f->disk, 1, NULL), 0);
	assert_int_equal(add_rp(f->cat, f->disk, 34, "a"), 5);
	assert_int_equal(tenant_snap_owner(f->cat, "default", 31, &owner_disk,
					   &owner_rp),
			 0);
	assert_int_equal(owner_rp, 2);

	assert_int_equal(tenant_rp_remove(f->cat, f->disk, 2, NULL), 0);
	assert_int_equal(tenant_rp_remove(f->cat, f->disk, 4, NULL), 0);
	assert_int_equal(tenant_disk_remove(f->cat, f->disk), -EBUSY);
	assert_int_equal(tenant_rp_remove(f->cat, f->disk, 5, NULL), 0);
	assert_int_equal(rp_ids(f->cat, f->disk).n, 0);
	assert_int_equal(tenant_disk_remove(f->cat, f->disk), 0);
	assert_int_equal(
		tenant_rp_list(f->cat, f->disk, collect_rp, (struct ids[1]){0}),
		-ENOENT);
	assert_int_equal(find(f->cat, f->disk, "latest"), -ENOENT);
}

static void test_snap_pool(void **state)
{
	struct fixture *f = *state;
	uint64_t g;
	struct ids ids;

	fixture_route_add(f->cat, "default-b");
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 9), 0);
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 3), 0);
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 300), 0);
	assert_int_equal(tenant_snap_pool_add(f->cat, "default-b", 4), 0);
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 9), -EEXIST);
	assert_int_equal(tenant_snap_pool_add(f->cat, "nowhere", 1), -ENOENT);
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 0), -EINVAL);
	assert_int_equal(tenant_snap_pool_add(f->cat, "Bad", 1), -EINVAL);
	/* An id a restore point owns cannot go back to the pool. */
	add_rp(f->cat, f->disk, 50, "");
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 50), -EEXIST);

	/* Ascending ids, and "default" does not see "default-b". */
	ids = pool_ids(f->cat, "default");
	assert_int_equal(ids.n, 3);
	assert_int_equal(ids.v[0], 3);
	assert_int_equal(ids.v[1], 9);
	assert_int_equal(ids.v[2], 300);
	ids = pool_ids(f->cat, "default-b");
	assert_int_equal(ids.n, 1);
	assert_int_equal(ids.v[0], 4);
	assert_int_equal(pool_ids(f->cat, "other").n, 0);

	g = fixture_generation(f->cat);
	assert_int_equal(tenant_snap_pool_remove(f->cat, "default", 9), 0);
	assert_int_equal(tenant_snap_pool_remove(f->cat, "default", 9),
			 -ENOENT);
	assert_int_equal(tenant_snap_pool_remove(f->cat, "default-b", 3),
			 -ENOENT);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	ids = pool_ids(f->cat, "default");
	assert_int_equal(ids.n, 2);
	assert_int_equal(ids.v[1], 300);
}

/* ---- persistence ---- */

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	uint64_t owner_disk, owner_rp;
	struct tenant_req r = make_req(TENANT_REQ_RP_REMOVE, f->disk);
	struct tenant_info t;
	struct tenant_rp rp;
	uint8_t *m = NULL;
	size_t len;

	assert_int_equal(tenant_set_checkpoint(f->cat, f->tenant, 120), 0);
	assert_int_equal(tenant_disk_set_checkpoint(f->cat, f->disk, 15), 0);
	assert_int_equal(tenant_disk_resize(f->cat, f->disk, 1ull << 31), 0);
	add_rp(f->cat, f->disk, 61, "first");
	add_rp(f->cat, f->disk, 62, "");
	assert_int_equal(tenant_rp_remove(f->cat, f->disk, 2, NULL), 0);
	assert_int_equal(tenant_snap_pool_add(f->cat, "default", 70), 0);
	assert_int_equal(tenant_req_add(f->cat, &r), 0);
	tenant_catalog_close(f->cat);
	f->cat = NULL;

	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	assert_int_equal(get_disk(f->cat, f->disk).checkpoint_s, 15);
	assert_int_equal(get_disk(f->cat, f->disk).size, 1ull << 31);
	assert_int_equal(get_disk(f->cat, f->disk).snap_seq, 62);
	assert_int_equal(tenant_rp_find(f->cat, f->disk, "first", &rp), 0);
	assert_int_equal(rp.snap_id, 61);
	assert_int_equal(tenant_rp_map(f->cat, f->disk, 1, &m, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(m[0], 61);
	free(m);
	assert_int_equal(tenant_snap_owner(f->cat, "default", 61, &owner_disk,
					   &owner_rp),
			 0);
	assert_int_equal(pool_ids(f->cat, "default").v[0], 70);
	assert_int_equal(pending(f->cat).v[0], r.id);
	/* The counters survived too: id 2 stays used. */
	assert_int_equal(add_rp(f->cat, f->disk, 63, ""), 3);
	assert_int_equal(tenant_get(f->cat, f->tenant, &t), 0);
	assert_int_equal(t.checkpoint_s, 120);
}

/* ---- a catalog from before restore points ---- */

/* Record version 1 and schema 1, written byte by byte the way the first
 * release did, so the test does not depend on today's encoders.  This is
 * the one place outside catalog.c that speaks LMDB: nothing else could
 * produce an old catalog. */
struct v1buf {
	uint8_t b[512];
	size_t n;
};

static void v1_uint(struct v1buf *v, uint64_t x, size_t width)
{
	for (size_t i = 0; i < width; i++, x >>= 8)
		v->b[v->n++] = (uint8_t)x;
}

static void v1_str(struct v1buf *v, const char *s)
{
	v1_uint(v, strlen(s), 2);
	memcpy(v->b + v->n, s, strlen(s));
	v->n += strlen(s);
}

static void v1_begin(struct v1buf *v)
{
	v->n = 0;
	v1_uint(v, 1, 2);
	v1_uint(v, 0, 2);
}

static void v1_end(struct v1buf *v)
{
	v->b[2] = (uint8_t)v->n;
	v->b[3] = (uint8_t)(v->n >> 8);
}

static void be64(uint8_t *p, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
}

static void put(MDB_txn *txn, const char *db, const void *k, size_t klen,
		const void *v, size_t vlen)
{
	MDB_val key = {.mv_size = klen, .mv_data = (void *)(uintptr_t)k};
	MDB_val val = {.mv_size = vlen, .mv_data = (void *)(uintptr_t)v};
	MDB_dbi dbi;

	assert_int_equal(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
	if (klen)
		assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
}

static void put_meta(MDB_txn *txn, const char *name, uint64_t x)
{
	struct v1buf v = {0};

	v1_uint(&v, x, 8);
	put(txn, "meta", name, strlen(name), v.b, 8);
}

static void v1_records(MDB_txn *txn)
{
	static const uint8_t disk_key[] = {0, 0,   0,	0, 0,	0,   0,
					   1, 'v', 'm', 0, 's', 'd', 'a'};
	struct v1buf v;
	uint8_t id[8];

	v1_begin(&v);
	v1_str(&v, "default");
	v1_str(&v, "local");
	v1_str(&v, "/srv/haven");
	for (int i = 0; i < 4; i++)
		v1_str(&v, "");
	v1_end(&v);
	put(txn, "routes", "default", 7, v.b, v.n);

	be64(id, 1);
	v1_begin(&v);
	v1_uint(&v, 1, 8);
	v1_str(&v, "acme");
	v1_str(&v, "default");
	v1_str(&v, "acme");
	v1_uint(&v, TENANT_SUSPENDED, 4);
	v1_uint(&v, 1700000000, 8);
	v1_end(&v);
	put(txn, "tenants", id, 8, v.b, v.n);
	put(txn, "tenant_by_name", "acme", 4, id, 8);

	v1_begin(&v);
	v1_uint(&v, 1, 8);
	v1_uint(&v, 1, 8);
	v1_str(&v, "vm");
	v1_str(&v, "sda");
	v1_uint(&v, 1ull << 30, 8);
	v1_uint(&v, 4 << 20, 4);
	v1_uint(&v, 1700000001, 8);
	v1_end(&v);
	put(txn, "disks", disk_key, sizeof(disk_key), v.b, v.n);
	put(txn, "disk_by_id", id, 8, disk_key, sizeof(disk_key));
	put(txn, "creds", NULL, 0, NULL, 0);
}

static void write_v1_catalog(const char *dir, uint64_t schema)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;

	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	put_meta(txn, "schema", schema);
	put_meta(txn, "generation", 5);
	put_meta(txn, "next_tenant_id", 2);
	put_meta(txn, "next_disk_id", 2);
	v1_records(txn);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_upgrade_schema1(void **state)
{
	struct fixture *f = *state;
	struct tenant_catalog *cat = NULL;
	struct tenant_req r = make_req(TENANT_REQ_RP_CREATE, 1);
	struct tenant_info t;
	struct tenant_disk d;
	char dir[160];

	snprintf(dir, sizeof(dir), "%s/old", f->dir);
	write_v1_catalog(dir, 1);
	/* A plain open (havend's) upgrades it in place. */
	assert_int_equal(tenant_catalog_open(dir, 0, &cat), 0);
	assert_int_equal(fixture_generation(cat), 5);
	assert_int_equal(tenant_get_by_name(cat, "acme", &t), 0);
	assert_int_equal(t.id, 1);
	assert_int_equal(t.state, TENANT_SUSPENDED);
	assert_int_equal(t.created, 1700000000);
	assert_int_equal(t.checkpoint_s, 0);
	assert_int_equal(tenant_disk_get(cat, 1, "vm", "sda", &d), 0);
	assert_int_equal(d.size, 1ull << 30);
	assert_int_equal(d.created, 1700000001);
	assert_int_equal(d.checkpoint_s, 0);
	assert_int_equal(d.snap_seq, 0);

	/* Everything new works on it, and old records take new fields. */
	assert_int_equal(add_rp(cat, 1, 7, ""), 1);
	assert_int_equal(get_disk(cat, 1).snap_seq, 7);
	assert_int_equal(get_disk(cat, 1).created, 1700000001);
	assert_int_equal(tenant_set_checkpoint(cat, 1, 30), 0);
	assert_int_equal(tenant_req_add(cat, &r), 0);
	assert_int_equal(r.id, 1);
	assert_int_equal(fixture_tenant_add(cat, "globex", "default"), 2);
	tenant_catalog_close(cat);

	assert_int_equal(tenant_catalog_open(dir, 0, &cat), 0);
	assert_int_equal(tenant_get(cat, 1, &t), 0);
	assert_int_equal(t.checkpoint_s, 30);
	assert_int_equal(pending(cat).n, 1);
	tenant_catalog_close(cat);

	/* A catalog from a newer release is refused, not guessed at. */
	snprintf(dir, sizeof(dir), "%s/new", f->dir);
	write_v1_catalog(dir, 5);
	cat = (void *)1;
	assert_int_equal(tenant_catalog_open(dir, 0, &cat), -EPROTO);
	assert_null(cat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_checkpoints, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rp_add_list_get, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rp_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rp_add_atomic, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rp_remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snap_pool, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_schema1, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
