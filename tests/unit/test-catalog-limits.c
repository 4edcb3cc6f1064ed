/* Tenant limits in the catalog: limits, disk bandwidth and usage records
 * (defaults, round trips, unknown ids), the provisioned quota and the disk
 * count enforced by disk add and resize (-EDQUOT with nothing changed, a
 * lowered quota only blocking growth), records dropped with their tenant
 * or disk, the generation bump, record codecs, and the in-place upgrade
 * of a schema 3 catalog. */
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

#include "record.h"
#include "fixture-catalog.h"

#define GIB (1ull << 30)

struct fixture {
	char dir[FIXTURE_DIR_LEN];
	char cat_dir[FIXTURE_CAT_DIR_LEN];
	struct tenant_catalog *cat;
	uint64_t tenant; /* "acme" */
	uint64_t other;	 /* "globex" */
};

static uint64_t add_tenant(struct tenant_catalog *cat, const char *name)
{
	return fixture_tenant_add(cat, name, "default");
}

static int add_disk(struct tenant_catalog *cat, uint64_t tenant,
		    const char *name, uint64_t size, uint64_t *id)
{
	return fixture_disk_try(cat, tenant, "vm", name, size, id);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_catalog_open("test-catalog-limits", f->dir, f->cat_dir,
			     &f->cat);
	fixture_route_add(f->cat, "default");
	f->tenant = add_tenant(f->cat, "acme");
	f->other = add_tenant(f->cat, "globex");
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

static uint64_t provisioned(struct tenant_catalog *cat, uint64_t tenant,
			    uint32_t *ndisks)
{
	uint64_t bytes = 0;
	uint32_t n = 0;

	assert_int_equal(tenant_get_provisioned(cat, tenant, &bytes, &n), 0);
	if (ndisks)
		*ndisks = n;
	return bytes;
}

static void test_limits_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct tenant_limits l, out;
	uint64_t g;

	/* Never set: everything unlimited. */
	memset(&out, 0xff, sizeof(out));
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, &out), 0);
	memset(&l, 0, sizeof(l));
	assert_memory_equal(&out, &l, sizeof(l));

	l.max_provisioned = 10 * GIB;
	l.max_stored = 20 * GIB;
	l.max_disks = 3;
	l.max_sessions = 2;
	l.bandwidth = 50 << 20;
	l.weight = 4;
	l.lease_until = 1900000000;
	g = fixture_generation(f->cat);
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, &out), 0);
	assert_memory_equal(&out, &l, sizeof(l));
	/* Per tenant: the other one is untouched. */
	assert_int_equal(tenant_get_limits(f->cat, f->other, &out), 0);
	assert_int_equal(out.max_disks, 0);
	assert_int_equal(out.bandwidth, 0);

	/* Back to unlimited. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, &out), 0);
	assert_memory_equal(&out, &l, sizeof(l));

	/* Bad arguments and unknown tenants, with nothing written. */
	g = fixture_generation(f->cat);
	l.weight = TENANT_WEIGHT_MAX + 1;
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), -EINVAL);
	l.weight = TENANT_WEIGHT_MAX;
	assert_int_equal(tenant_set_limits(f->cat, 999, &l), -ENOENT);
	assert_int_equal(tenant_get_limits(f->cat, 999, &out), -ENOENT);
	assert_int_equal(tenant_set_limits(NULL, f->tenant, &l), -EINVAL);
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, NULL), -EINVAL);
	assert_int_equal(fixture_generation(f->cat), g);
}

static void test_provisioned_quota(void **state)
{
	struct fixture *f = *state;
	struct tenant_limits l = {.max_provisioned = 10 * GIB};
	struct tenant_disk d;
	uint64_t a, b, g;
	uint32_t n;

	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "a", 8 * GIB, &a), 0);
	assert_int_equal(provisioned(f->cat, f->tenant, &n), 8 * GIB);
	assert_int_equal(n, 1);

	/* 8 + 4 > 10: refused, nothing written (no disk, no id taken, no
	 * generation). */
	g = fixture_generation(f->cat);
	assert_int_equal(add_disk(f->cat, f->tenant, "b", 4 * GIB, NULL),
			 -EDQUOT);
	assert_int_equal(fixture_generation(f->cat), g);
	assert_int_equal(tenant_disk_get(f->cat, f->tenant, "vm", "b", &d),
			 -ENOENT);
	assert_int_equal(provisioned(f->cat, f->tenant, &n), 8 * GIB);
	assert_int_equal(n, 1);

	/* Exactly up to the quota is allowed. */
	assert_int_equal(add_disk(f->cat, f->tenant, "b", 2 * GIB, &b), 0);
	assert_int_equal(provisioned(f->cat, f->tenant, NULL), 10 * GIB);
	/* Another tenant has its own (no) quota. */
	assert_int_equal(add_disk(f->cat, f->other, "big", 100 * GIB, NULL), 0);

	/* Growth over the quota is refused; the size stays. */
	assert_int_equal(tenant_disk_resize(f->cat, a, 8 * GIB + 512), -EDQUOT);
	assert_int_equal(tenant_disk_get_by_id(f->cat, a, &d), 0);
	assert_int_equal(d.size, 8 * GIB);

	/* Raise it: the same resize goes through. */
	l.max_provisioned = 11 * GIB;
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(tenant_disk_resize(f->cat, a, 9 * GIB), 0);
	assert_int_equal(provisioned(f->cat, f->tenant, NULL), 11 * GIB);

	/* Lowered below what is provisioned: accepted, existing disks stay,
	 * only growth is blocked; removing a disk makes room again. */
	l.max_provisioned = 5 * GIB;
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(tenant_disk_get_by_id(f->cat, a, &d), 0);
	assert_int_equal(d.size, 9 * GIB);
	assert_int_equal(tenant_disk_resize(f->cat, b, 3 * GIB), -EDQUOT);
	assert_int_equal(add_disk(f->cat, f->tenant, "c", 512, NULL), -EDQUOT);
	assert_int_equal(tenant_disk_remove(f->cat, a), 0);
	assert_int_equal(tenant_disk_resize(f->cat, b, 5 * GIB), 0);
	assert_int_equal(provisioned(f->cat, f->tenant, NULL), 5 * GIB);

	/* 0 is unlimited. */
	l.max_provisioned = 0;
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "c", 1000 * GIB, NULL), 0);
	assert_int_equal(tenant_get_provisioned(f->cat, 999, &g, &n), -ENOENT);
}

static void test_max_disks(void **state)
{
	struct fixture *f = *state;
	struct tenant_limits l = {.max_disks = 2};
	uint64_t a;
	uint32_t n;

	assert_int_equal(add_disk(f->cat, f->tenant, "a", GIB, &a), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "b", GIB, NULL), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "c", GIB, NULL), 0);
	/* Lowered below the count: only the next disk is refused. */
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "d", GIB, NULL), -EDQUOT);
	/* Growing an existing disk is not a new disk. */
	assert_int_equal(tenant_disk_resize(f->cat, a, 2 * GIB), 0);
	assert_int_equal(tenant_disk_remove(f->cat, a), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "d", GIB, NULL), -EDQUOT);
	l.max_disks = 3;
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "d", GIB, NULL), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "e", GIB, NULL), -EDQUOT);
	assert_int_equal(provisioned(f->cat, f->tenant, &n), 3 * GIB);
	assert_int_equal(n, 3);
	/* The other tenant is not limited. */
	assert_int_equal(add_disk(f->cat, f->other, "a", GIB, NULL), 0);
	assert_int_equal(add_disk(f->cat, f->other, "b", GIB, NULL), 0);
	assert_int_equal(add_disk(f->cat, f->other, "c", GIB, NULL), 0);
}

static void test_disk_bandwidth(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b, bw = 1;

	assert_int_equal(add_disk(f->cat, f->tenant, "a", GIB, &a), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "b", GIB, &b), 0);
	assert_int_equal(tenant_disk_get_bandwidth(f->cat, a, &bw), 0);
	assert_int_equal(bw, 0);
	assert_int_equal(tenant_disk_set_bandwidth(f->cat, a, 20 << 20), 0);
	assert_int_equal(tenant_disk_get_bandwidth(f->cat, a, &bw), 0);
	assert_int_equal(bw, 20 << 20);
	assert_int_equal(tenant_disk_get_bandwidth(f->cat, b, &bw), 0);
	assert_int_equal(bw, 0);
	/* 0 clears it (havend's refresh then sees 0, not an error). */
	assert_int_equal(tenant_disk_set_bandwidth(f->cat, a, 0), 0);
	assert_int_equal(tenant_disk_set_bandwidth(f->cat, a, 0), 0);
	assert_int_equal(tenant_disk_get_bandwidth(f->cat, a, &bw), 0);
	assert_int_equal(bw, 0);
	assert_int_equal(tenant_disk_set_bandwidth(f->cat, 999, 1), -ENOENT);
	assert_int_equal(tenant_disk_get_bandwidth(f->cat, 999, &bw), -ENOENT);
	assert_int_equal(tenant_disk_get_bandwidth(f->cat, a, NULL), -EINVAL);
}

static void test_usage(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 1, ms = 1;

	assert_int_equal(tenant_get_usage(f->cat, f->tenant, &bytes, &ms), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(ms, 0);
	assert_int_equal(tenant_set_usage(f->cat, f->tenant, 123456789, 42), 0);
	assert_int_equal(tenant_get_usage(f->cat, f->tenant, &bytes, &ms), 0);
	assert_int_equal(bytes, 123456789);
	assert_int_equal(ms, 42);
	assert_int_equal(tenant_get_usage(f->cat, f->other, &bytes, &ms), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(tenant_set_usage(f->cat, 999, 1, 1), -ENOENT);
	assert_int_equal(tenant_get_usage(f->cat, 999, &bytes, &ms), -ENOENT);
}

/* Entries in the limits database, read with LMDB directly. */
static size_t limits_entries(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0600),
			 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "limits", 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return st.ms_entries;
}

static void test_forget(void **state)
{
	struct fixture *f = *state;
	struct tenant_limits l = {.max_sessions = 1};
	uint64_t a;

	assert_int_equal(add_disk(f->cat, f->tenant, "a", GIB, &a), 0);
	assert_int_equal(tenant_disk_set_bandwidth(f->cat, a, 1 << 20), 0);
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(tenant_set_usage(f->cat, f->tenant, 1, 1), 0);
	assert_int_equal(tenant_set_limits(f->cat, f->other, &l), 0);
	assert_int_equal(limits_entries(f->cat_dir), 4);
	assert_int_equal(tenant_disk_remove(f->cat, a), 0);
	assert_int_equal(limits_entries(f->cat_dir), 3);
	assert_int_equal(tenant_remove(f->cat, f->tenant), 0);
	assert_int_equal(limits_entries(f->cat_dir), 1);
	assert_int_equal(tenant_get_limits(f->cat, f->other, &l), 0);
	assert_int_equal(l.max_sessions, 1);
}

static void test_records(void **state)
{
	struct tenant_limits l, lo;
	struct tenant_rec_usage u = {8, 9}, uo;
	uint8_t buf[TENANT_REC_MAX];
	uint64_t bw;
	size_t len;

	(void)state;
	/* Zeroed first: the struct has padding that memcmp would see. */
	memset(&l, 0, sizeof(l));
	l.max_provisioned = 1;
	l.max_stored = 2;
	l.max_disks = 3;
	l.max_sessions = 4;
	l.bandwidth = 5;
	l.weight = 6;
	l.lease_until = 7;
	assert_int_equal(tenant_rec_limits_encode(&l, buf, sizeof(buf), &len),
			 0);
	assert_int_equal(len, 4 + 8 + 8 + 4 + 4 + 8 + 4 + 8);
	assert_int_equal(tenant_rec_limits_decode(buf, len, &lo), 0);
	assert_memory_equal(&l, &lo, sizeof(l));
	/* Truncated or with a wrong length header: corruption. */
	assert_int_equal(tenant_rec_limits_decode(buf, len - 1, &lo), -EIO);
	assert_int_equal(tenant_rec_limits_encode(&l, buf, 10, &len), -ENOSPC);
	assert_int_equal(tenant_rec_usage_encode(&u, buf, sizeof(buf), &len),
			 0);
	assert_int_equal(tenant_rec_usage_decode(buf, len, &uo), 0);
	assert_memory_equal(&u, &uo, sizeof(u));
	assert_int_equal(
		tenant_rec_bandwidth_encode(77, buf, sizeof(buf), &len), 0);
	assert_int_equal(tenant_rec_bandwidth_decode(buf, len, &bw), 0);
	assert_int_equal(bw, 77);
	assert_int_equal(tenant_rec_bandwidth_decode(buf, 3, &bw), -EIO);
}

/* Turns the catalog into what schema 3 wrote: no limits database. */
static void make_schema3(const char *dir)
{
	MDB_val k = {.mv_size = 6, .mv_data = (void *)"schema"}, v;
	uint8_t three[8] = {3};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "limits", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	v.mv_size = 8;
	v.mv_data = three;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_upgrade_schema3(void **state)
{
	struct fixture *f = *state;
	struct tenant_limits l = {.max_disks = 1};

	assert_int_equal(add_disk(f->cat, f->tenant, "a", GIB, NULL), 0);
	tenant_catalog_close(f->cat);
	f->cat = NULL;
	make_schema3(f->cat_dir);
	/* A plain open (havend's) upgrades it; old tenants are unlimited. */
	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(l.max_disks, 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "b", GIB, NULL), 0);
	l.max_disks = 2;
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(add_disk(f->cat, f->tenant, "c", GIB, NULL), -EDQUOT);
	assert_int_equal(limits_entries(f->cat_dir), 1);
	tenant_catalog_close(f->cat);
	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(l.max_disks, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_limits_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_provisioned_quota, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_max_disks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_disk_bandwidth, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
		cmocka_unit_test(test_records),
		cmocka_unit_test_setup_teardown(test_upgrade_schema3, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
