/* The stored-bytes ledger in the catalog (tenant/catalog-ledger.c): the
 * clone maps recorded with restore points and where they go when a point
 * is removed, the per-disk live/alert record, a tenant's total, and the
 * records dropped with their disk (checked in the LMDB files).
 *
 * Every disk here has 64 extents of ES bytes, so that a map is one
 * uint64_t: bit n = extent n. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <lmdb.h>

#include "fixture-catalog.h"

#define ES (UINT64_C(4) << 20)
#define NEXT 64

struct fixture {
	char dir[FIXTURE_DIR_LEN];
	char cat_dir[FIXTURE_CAT_DIR_LEN];
	struct tenant_catalog *cat;
	uint64_t tenant; /* "acme" */
	uint64_t disk;	 /* acme/vm/sda */
	uint64_t snap;	 /* the last snap id handed out */
};

static uint64_t new_tenant(struct fixture *f, const char *name)
{
	return fixture_tenant_add(f->cat, name, "default");
}

static uint64_t new_disk(struct fixture *f, uint64_t tenant, const char *name)
{
	uint64_t id = 0;

	assert_int_equal(
		fixture_disk_try(f->cat, tenant, "vm", name, ES * NEXT, &id),
		0);
	return id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_catalog_open("test-catalog-ledger", f->dir, f->cat_dir,
			     &f->cat);
	fixture_route_add(f->cat, "default");
	f->tenant = new_tenant(f, "acme");
	f->disk = new_disk(f, f->tenant, "sda");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_catalog_close(f->dir, f->cat);
	free(f);
	return 0;
}

static void to_bytes(uint64_t mask, uint8_t out[NEXT / 8])
{
	for (int i = 0; i < NEXT / 8; i++)
		out[i] = (uint8_t)(mask >> (8 * i));
}

/* Records a restore point of a disk whose allocation map is 'map', with
 * the clones made since the previous cut (0: none handed over). */
static uint64_t cut(struct fixture *f, uint64_t disk, uint64_t map,
		    uint64_t clones)
{
	struct tenant_rp rp = {.disk_id = disk,
			       .snap_id = ++f->snap,
			       .trigger = TENANT_RP_CHECKPOINT,
			       .size = ES * NEXT};
	uint8_t m[NEXT / 8], c[NEXT / 8];

	to_bytes(map, m);
	to_bytes(clones, c);
	assert_int_equal(tenant_rp_add_cut(f->cat, "default", &rp, m, sizeof(m),
					   clones ? c : NULL,
					   clones ? sizeof(c) : 0),
			 0);
	return rp.id;
}

static void rp_remove(struct fixture *f, uint64_t disk, uint64_t rp_id)
{
	struct tenant_rp rp;

	assert_int_equal(tenant_rp_remove(f->cat, disk, rp_id, &rp), 0);
	assert_int_equal(rp.id, rp_id);
}

static struct tenant_ledger ledger(struct fixture *f, uint64_t disk)
{
	struct tenant_ledger l;

	memset(&l, 0xee, sizeof(l));
	assert_int_equal(tenant_disk_get_ledger(f->cat, disk, &l), 0);
	return l;
}

static uint64_t history(struct fixture *f, uint64_t disk)
{
	return ledger(f, disk).history;
}

/* Counts the keys of one of the catalog's databases that start with
 * prefix, reading the LMDB files themselves (the catalog is closed
 * meanwhile and reopened). */
static size_t raw_count(struct fixture *f, const char *db,
			const uint8_t *prefix, size_t plen)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = {.mv_size = plen, .mv_data = (void *)(uintptr_t)prefix}, v;
	MDB_dbi dbi;
	MDB_cursor_op op = MDB_SET_RANGE;
	size_t n = 0;

	tenant_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
	assert_int_equal(
		mdb_env_open(env, f->cat_dir, MDB_RDONLY | MDB_NOTLS, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, op) == 0 && k.mv_size >= plen &&
	       memcmp(k.mv_data, prefix, plen) == 0) {
		n++;
		op = MDB_NEXT;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	return n;
}

static void be64(uint8_t *p, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
}

/* The disk's ledger record ('l' + id) in "limits". */
static size_t ledger_records(struct fixture *f, uint64_t disk)
{
	uint8_t key[9] = {'l'};

	be64(key + 1, disk);
	return raw_count(f, "limits", key, sizeof(key));
}

/* The disk's restore point maps and clone maps in "rp_maps". */
static size_t map_records(struct fixture *f, uint64_t disk)
{
	uint8_t key[8];

	be64(key, disk);
	return raw_count(f, "rp_maps", key, sizeof(key));
}

/* ---- clone maps ---- */

/* Clones handed over at a cut are recorded with the previous point,
 * only for extents it held; the first point has none to keep them. */
static void test_clones_recorded(void **state)
{
	struct fixture *f = *state;
	struct tenant_rp rp = {.disk_id = f->disk, .snap_id = 100};
	uint8_t m = 1;
	uint64_t rp1, rp2;

	assert_int_equal(history(f, f->disk), 0);
	/* No older point: the store freed them with the last snapshot. */
	rp1 = cut(f, f->disk, 0x0f, 0x03);
	assert_int_equal(history(f, f->disk), 0);
	/* Extent 4 was not held by rp1: no clone of it can exist. */
	rp2 = cut(f, f->disk, 0x3f, 0x16);
	assert_int_equal(history(f, f->disk), 2 * ES);
	assert_int_equal(ledger(f, f->disk).live, 0);
	/* Removing the newest point leaves rp1's clones alone. */
	rp_remove(f, f->disk, rp2);
	assert_int_equal(history(f, f->disk), 2 * ES);
	/* A clone map needs its bytes. */
	assert_int_equal(
		tenant_rp_add_cut(f->cat, "default", &rp, &m, 1, NULL, 1),
		-EINVAL);
	assert_int_equal(history(f, f->disk), 2 * ES);
	/* The next cut's clones were for rp2, which is gone: they serve rp1
	 * where rp1 held the extent and has no clone of its own. */
	cut(f, f->disk, 0x3f, 0x2c);
	assert_int_equal(history(f, f->disk), 3 * ES);
	rp_remove(f, f->disk, rp1);
	assert_int_equal(history(f, f->disk), 0);
}

/* Removing the oldest point frees its clones: nothing older needs
 * them. */
static void test_remove_oldest(void **state)
{
	struct fixture *f = *state;
	uint64_t rp1, rp2, rp3;

	rp1 = cut(f, f->disk, 0xff, 0);
	rp2 = cut(f, f->disk, 0xff, 0x0f);
	assert_int_equal(history(f, f->disk), 4 * ES);
	rp_remove(f, f->disk, rp1);
	assert_int_equal(history(f, f->disk), 0);
	rp3 = cut(f, f->disk, 0xff, 0xf0);
	assert_int_equal(history(f, f->disk), 4 * ES);
	rp_remove(f, f->disk, rp3);
	assert_int_equal(history(f, f->disk), 4 * ES);
	rp_remove(f, f->disk, rp2);
	assert_int_equal(history(f, f->disk), 0);
	assert_int_equal(map_records(f, f->disk), 0);
}

/* With rp1, rp2, rp3: rp2's clones move to rp1 on its removal only for
 * extents rp1 held and has no clone of. */
static void test_clones_move(void **state)
{
	struct fixture *f = *state;
	uint64_t rp1, rp2, rp3;

	rp1 = cut(f, f->disk, 0x0f, 0);	   /* holds 0-3 */
	rp2 = cut(f, f->disk, 0x3f, 0x03); /* rp1: 0, 1 */
	rp3 = cut(f, f->disk, 0xff, 0x36); /* rp2: 1, 2, 4, 5 */
	assert_int_equal(history(f, f->disk), 6 * ES);
	/* 1: rp1 has its own clone (the content differs); 4, 5: rp1 did
	 * not hold them; 2 moves. */
	rp_remove(f, f->disk, rp2);
	assert_int_equal(history(f, f->disk), 3 * ES);
	/* rp3's own clones (handed over at the next cut) are separate. */
	cut(f, f->disk, 0xff, 0xc0);
	assert_int_equal(history(f, f->disk), 5 * ES);
	rp_remove(f, f->disk, rp3);
	/* 6, 7 were not held by rp1 either. */
	assert_int_equal(history(f, f->disk), 3 * ES);
	/* Everything left is rp1's: removing it frees it all. */
	rp_remove(f, f->disk, rp1);
	assert_int_equal(history(f, f->disk), 0);
}

/* A chain: clones hop down over several removals, and a removal in the
 * middle never touches the points around it. */
static void test_clones_chain(void **state)
{
	struct fixture *f = *state;
	uint64_t rp[5];

	rp[0] = cut(f, f->disk, 0xff, 0);
	rp[1] = cut(f, f->disk, 0xff, 0x01); /* rp0: 0 */
	rp[2] = cut(f, f->disk, 0xff, 0x02); /* rp1: 1 */
	rp[3] = cut(f, f->disk, 0xff, 0x04); /* rp2: 2 */
	rp[4] = cut(f, f->disk, 0xff, 0x01); /* rp3: 0 */
	assert_int_equal(history(f, f->disk), 4 * ES);
	rp_remove(f, f->disk, rp[2]); /* 2 -> rp1 */
	assert_int_equal(history(f, f->disk), 4 * ES);
	rp_remove(f, f->disk, rp[1]); /* 1, 2 -> rp0 */
	assert_int_equal(history(f, f->disk), 4 * ES);
	rp_remove(f, f->disk, rp[3]); /* 0: rp0 has its own */
	assert_int_equal(history(f, f->disk), 3 * ES);
	rp_remove(f, f->disk, rp[4]);
	assert_int_equal(history(f, f->disk), 3 * ES);
	rp_remove(f, f->disk, rp[0]);
	assert_int_equal(history(f, f->disk), 0);
	assert_int_equal(map_records(f, f->disk), 0);
}

/* ---- the per-disk record ---- */

static void test_live_and_alert(void **state)
{
	struct fixture *f = *state;
	struct tenant_ledger l;

	l = ledger(f, f->disk);
	assert_int_equal(l.live, 0);
	assert_int_equal(l.alert, TENANT_ALERT_NONE);
	assert_int_equal(l.alert_ms, 0);
	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 7 * ES), 0);
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk,
					       TENANT_ALERT_QUOTA_FULL, 1234),
			 0);
	l = ledger(f, f->disk);
	assert_int_equal(l.live, 7 * ES);
	assert_int_equal(l.alert, TENANT_ALERT_QUOTA_FULL);
	assert_int_equal(l.alert_ms, 1234);
	/* The alert keeps the time it was raised; live does not touch it. */
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk,
					       TENANT_ALERT_QUOTA_FULL, 9999),
			 0);
	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 8 * ES), 0);
	l = ledger(f, f->disk);
	assert_int_equal(l.live, 8 * ES);
	assert_int_equal(l.alert, TENANT_ALERT_QUOTA_FULL);
	assert_int_equal(l.alert_ms, 1234);
	/* Refused, and nothing changed. */
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk, 2, 5), -EINVAL);
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk, UINT32_MAX, 5),
			 -EINVAL);
	assert_int_equal(ledger(f, f->disk).alert, TENANT_ALERT_QUOTA_FULL);
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk + 99,
					       TENANT_ALERT_NONE, 0),
			 -ENOENT);
	assert_int_equal(tenant_disk_set_live(f->cat, f->disk + 99, 1),
			 -ENOENT);
	assert_int_equal(tenant_disk_get_ledger(f->cat, f->disk + 99, &l),
			 -ENOENT);
	assert_int_equal(tenant_disk_get_ledger(f->cat, f->disk, NULL),
			 -EINVAL);
	assert_int_equal(tenant_disk_set_live(NULL, f->disk, 1), -EINVAL);
	/* Cleared. */
	assert_int_equal(
		tenant_disk_set_alert(f->cat, f->disk, TENANT_ALERT_NONE, 2000),
		0);
	assert_int_equal(ledger(f, f->disk).alert, TENANT_ALERT_NONE);
	/* Kept across a reopen (raw_count closes and reopens). */
	assert_int_equal(ledger_records(f, f->disk), 1);
	l = ledger(f, f->disk);
	assert_int_equal(l.live, 8 * ES);
	assert_int_equal(l.alert, TENANT_ALERT_NONE);
}

/* ---- a tenant's total ---- */

struct open_set {
	uint64_t ids[4];
	int n;
	int calls;
};

static bool is_open(uint64_t disk_id, void *arg)
{
	struct open_set *s = arg;

	s->calls++;
	for (int i = 0; i < s->n; i++)
		if (s->ids[i] == disk_id)
			return true;
	return false;
}

static uint64_t total(struct fixture *f, uint64_t tenant, struct open_set *s)
{
	uint64_t bytes = 0xeeee;

	assert_int_equal(tenant_stored_bytes(f->cat, tenant, s ? is_open : NULL,
					     s, &bytes),
			 0);
	return bytes;
}

static void test_stored_bytes(void **state)
{
	struct fixture *f = *state;
	uint64_t sdb = new_disk(f, f->tenant, "sdb");
	uint64_t other = new_tenant(f, "globex");
	uint64_t odisk = new_disk(f, other, "sda");
	struct open_set s = {.ids = {f->disk}, .n = 1};
	struct open_set all = {.ids = {f->disk, sdb}, .n = 2};

	assert_int_equal(total(f, f->tenant, NULL), 0);
	/* sda: live 10, history 2; sdb: live 5, history 1. */
	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 10 * ES), 0);
	cut(f, f->disk, 0xff, 0);
	cut(f, f->disk, 0xff, 0x11);
	assert_int_equal(tenant_disk_set_live(f->cat, sdb, 5 * ES), 0);
	cut(f, sdb, 0x01, 0);
	cut(f, sdb, 0x01, 0x01);
	/* Another tenant's disk counts for it alone. */
	assert_int_equal(tenant_disk_set_live(f->cat, odisk, 100 * ES), 0);
	cut(f, odisk, 0x03, 0);
	cut(f, odisk, 0x03, 0x03);
	assert_int_equal(history(f, f->disk), 2 * ES);
	assert_int_equal(history(f, sdb), ES);
	assert_int_equal(total(f, f->tenant, NULL), 18 * ES);
	assert_int_equal(total(f, other, NULL), 102 * ES);
	/* An open disk's live bytes are the caller's; its history is not. */
	assert_int_equal(total(f, f->tenant, &s), 8 * ES);
	assert_int_equal(s.calls, 2);
	assert_int_equal(total(f, f->tenant, &all), 3 * ES);
	assert_int_equal(total(f, f->tenant + 99, NULL), 0);
	assert_int_equal(
		tenant_stored_bytes(f->cat, f->tenant, NULL, NULL, NULL),
		-EINVAL);
}

/* ---- records dropped with the disk ---- */

static void test_disk_remove(void **state)
{
	struct fixture *f = *state;
	uint64_t sdb = new_disk(f, f->tenant, "sdb");
	uint64_t rp1, rp2;

	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 3 * ES), 0);
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk,
					       TENANT_ALERT_QUOTA_FULL, 1),
			 0);
	assert_int_equal(tenant_disk_set_live(f->cat, sdb, ES), 0);
	rp1 = cut(f, f->disk, 0x07, 0);
	rp2 = cut(f, f->disk, 0x07, 0x07);
	/* Two maps and one clone map. */
	assert_int_equal(map_records(f, f->disk), 3);
	assert_int_equal(ledger_records(f, f->disk), 1);
	/* Restore points keep the disk. */
	assert_int_equal(tenant_disk_remove(f->cat, f->disk), -EBUSY);
	assert_int_equal(history(f, f->disk), 3 * ES);
	rp_remove(f, f->disk, rp2);
	rp_remove(f, f->disk, rp1);
	assert_int_equal(map_records(f, f->disk), 0);
	assert_int_equal(tenant_disk_remove(f->cat, f->disk), 0);
	assert_int_equal(ledger_records(f, f->disk), 0);
	/* The other disk's record stays, and so does its count. */
	assert_int_equal(ledger_records(f, sdb), 1);
	assert_int_equal(total(f, f->tenant, NULL), ES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clones_recorded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_remove_oldest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clones_move, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clones_chain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_live_and_alert, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stored_bytes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_disk_remove, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
