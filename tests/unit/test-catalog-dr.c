/* The catalog's DR side: retention policies of tenants and disks, pins and
 * the immutability window of restore points (every removal path refuses),
 * failover tests and failovers (their pins, clone ids from the disk id
 * counter, atomicity), record version 3 and the upgrade of a schema 2
 * catalog. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <lmdb.h>

#include "record.h"
#include "fixture-catalog.h"

#define DAY_MS (86400ull * 1000)

struct fixture {
	char dir[FIXTURE_DIR_LEN];
	char cat_dir[FIXTURE_CAT_DIR_LEN];
	struct tenant_catalog *cat;
	uint64_t tenant; /* "acme" on route "default" */
	uint64_t sda;	 /* acme/vm/sda */
	uint64_t sdb;	 /* acme/vm/sdb */
	uint64_t other;	 /* acme/db/sda */
};

static uint64_t now_ms(void)
{
	return (uint64_t)time(NULL) * 1000;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_catalog_open("test-catalog-dr", f->dir, f->cat_dir, &f->cat);
	fixture_route_add(f->cat, "default");
	f->tenant = fixture_tenant_add(f->cat, "acme", "default");
	f->sda = fixture_disk_add(f->cat, f->tenant, "vm", "sda");
	f->sdb = fixture_disk_add(f->cat, f->tenant, "vm", "sdb");
	f->other = fixture_disk_add(f->cat, f->tenant, "db", "sda");
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

/* A restore point of a disk, 'age_ms' old; returns its id. */
static uint64_t add_rp(struct tenant_catalog *cat, uint64_t disk, uint64_t snap,
		       uint64_t age_ms)
{
	struct tenant_rp rp = {0};

	rp.disk_id = disk;
	rp.snap_id = snap;
	rp.trigger = TENANT_RP_MANUAL;
	rp.size = 1ull << 30;
	rp.created_ms = now_ms() - age_ms;
	rp.pins = 7; /* ignored: holders come through tenant_rp_pin() */
	assert_int_equal(tenant_rp_add(cat, "default", &rp, NULL, 0), 0);
	assert_int_equal(rp.pins, 0);
	return rp.id;
}

static uint32_t pins(struct tenant_catalog *cat, uint64_t disk, uint64_t rp)
{
	struct tenant_rp got;

	assert_int_equal(tenant_rp_get(cat, disk, rp, &got), 0);
	return got.pins;
}

static void test_policies(void **state)
{
	struct fixture *f = *state;
	char text[TENANT_RETENTION_TEXT_MAX];
	uint32_t days = 99;

	assert_int_equal(tenant_get_retention(f->cat, f->tenant, text,
					      sizeof(text), &days),
			 0);
	assert_string_equal(text, "none");
	assert_int_equal(days, 0);
	assert_int_equal(
		tenant_disk_get_retention(f->cat, f->sda, text, sizeof(text)),
		0);
	assert_string_equal(text, "");

	/* Stored canonical. */
	assert_int_equal(tenant_set_retention(f->cat, f->tenant,
					      "1h:all, 24h:hourly,cap=90", 7),
			 0);
	assert_int_equal(tenant_get_retention(f->cat, f->tenant, text,
					      sizeof(text), &days),
			 0);
	assert_string_equal(text, "1h:all,1d:hourly,cap=90");
	assert_int_equal(days, 7);

	/* Refused: nothing changes. */
	assert_int_equal(tenant_set_retention(f->cat, f->tenant, "1x:all", 1),
			 -EINVAL);
	assert_int_equal(tenant_set_retention(f->cat, f->tenant, "none",
					      TENANT_IMMUTABLE_DAYS_MAX + 1),
			 -EINVAL);
	assert_int_equal(tenant_set_retention(f->cat, 999, "none", 0), -ENOENT);
	assert_int_equal(
		tenant_get_retention(f->cat, 999, text, sizeof(text), &days),
		-ENOENT);
	assert_int_equal(tenant_get_retention(f->cat, f->tenant, text,
					      sizeof(text), &days),
			 0);
	assert_string_equal(text, "1h:all,1d:hourly,cap=90");
	assert_int_equal(days, 7);

	/* A disk overrides ("none" keeps all), or follows its tenant (""). */
	assert_int_equal(tenant_disk_set_retention(f->cat, f->sda, "none"), 0);
	assert_int_equal(
		tenant_disk_get_retention(f->cat, f->sda, text, sizeof(text)),
		0);
	assert_string_equal(text, "none");
	assert_int_equal(
		tenant_disk_set_retention(f->cat, f->sdb, "2h:all,1w:daily"),
		0);
	assert_int_equal(tenant_disk_set_retention(f->cat, f->sda, ""), 0);
	assert_int_equal(
		tenant_disk_get_retention(f->cat, f->sda, text, sizeof(text)),
		0);
	assert_string_equal(text, "");
	assert_int_equal(
		tenant_disk_get_retention(f->cat, f->sdb, text, sizeof(text)),
		0);
	assert_string_equal(text, "2h:all,1w:daily");
	assert_int_equal(tenant_disk_set_retention(f->cat, f->sdb,
						   "1h:daily,"
						   "1d:all"),
			 -EINVAL);
	assert_int_equal(tenant_disk_set_retention(f->cat, 999, ""), -ENOENT);

	/* A removed disk takes its policy along: a new disk never inherits
	 * a dead one's override. */
	assert_int_equal(tenant_disk_remove(f->cat, f->sdb), 0);
	assert_int_equal(
		tenant_disk_get_retention(f->cat, f->sdb, text, sizeof(text)),
		-ENOENT);
	/* The window may be closed again ("after" in the tests). */
	assert_int_equal(tenant_set_retention(f->cat, f->tenant, "", 0), 0);
	assert_int_equal(tenant_get_retention(f->cat, f->tenant, text,
					      sizeof(text), &days),
			 0);
	assert_string_equal(text, "none");
	assert_int_equal(days, 0);
}

static void test_pins(void **state)
{
	struct fixture *f = *state;
	uint64_t rp = add_rp(f->cat, f->sda, 10, 0);

	assert_int_equal(tenant_rp_pin(f->cat, f->sda, rp, 1), 0);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, rp, 1), 0);
	assert_int_equal(pins(f->cat, f->sda, rp), 2);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, rp, 2), -EINVAL);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, 99, 1), -ENOENT);
	assert_int_equal(tenant_rp_pin(f->cat, 999, rp, 1), -ENOENT);

	/* Pinned: refused, with the disk and the tenant behind it. */
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, rp, NULL), -EBUSY);
	assert_int_equal(tenant_disk_remove(f->cat, f->sda), -EBUSY);
	assert_int_equal(tenant_remove(f->cat, f->tenant), -EBUSY);
	assert_int_equal(pins(f->cat, f->sda, rp), 2);

	assert_int_equal(tenant_rp_pin(f->cat, f->sda, rp, -1), 0);
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, rp, NULL), -EBUSY);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, rp, -1), 0);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, rp, -1), -EINVAL);
	assert_int_equal(pins(f->cat, f->sda, rp), 0);
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, rp, NULL), 0);
}

static void test_immutable(void **state)
{
	struct fixture *f = *state;
	uint64_t young = add_rp(f->cat, f->sda, 10, 0);
	uint64_t old = add_rp(f->cat, f->sda, 11, 3 * DAY_MS);
	struct tenant_rp rp;
	uint64_t until;

	assert_int_equal(
		tenant_rp_immutable_until(f->cat, f->sda, young, &until), 0);
	assert_int_equal(until, 0);
	assert_int_equal(tenant_set_retention(f->cat, f->tenant, "none", 2), 0);
	assert_int_equal(tenant_rp_get(f->cat, f->sda, young, &rp), 0);
	assert_int_equal(
		tenant_rp_immutable_until(f->cat, f->sda, young, &until), 0);
	assert_int_equal(until, rp.created_ms + 2 * DAY_MS);
	assert_int_equal(tenant_rp_immutable_until(f->cat, f->sda, 99, &until),
			 -ENOENT);

	/* Every removal path refuses the young one; the old one is out of
	 * the window already. */
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, young, NULL), -EPERM);
	assert_int_equal(tenant_disk_remove(f->cat, f->sda), -EBUSY);
	assert_int_equal(tenant_remove(f->cat, f->tenant), -EBUSY);
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, old, NULL), 0);
	/* Immutable beats pinned: the stronger reason is given. */
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, young, 1), 0);
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, young, NULL), -EPERM);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, young, -1), 0);

	/* The window at the time of removal applies. */
	assert_int_equal(tenant_set_retention(f->cat, f->tenant, "none", 0), 0);
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, young, NULL), 0);
	assert_int_equal(tenant_disk_remove(f->cat, f->sda), 0);
}

static struct tenant_test make_test(const struct fixture *f, uint64_t rp_a,
				    uint64_t rp_b)
{
	struct tenant_test t;

	memset(&t, 0, sizeof(t));
	t.tenant_id = f->tenant;
	strcpy(t.vm, "vm");
	t.rp_created_ms = 1234;
	t.ndisks = 2;
	t.disks[0].disk_id = f->sda;
	t.disks[0].rp_id = rp_a;
	t.disks[1].disk_id = f->sdb;
	t.disks[1].rp_id = rp_b;
	strcpy(t.note, "quarterly");
	return t;
}

struct list {
	uint64_t ids[8];
	size_t n;
};

static int collect_test(const struct tenant_test *t, void *arg)
{
	struct list *l = arg;

	l->ids[l->n++] = t->id;
	return 0;
}

static void test_tests(void **state)
{
	struct fixture *f = *state;
	uint64_t a = add_rp(f->cat, f->sda, 10, 0);
	uint64_t b = add_rp(f->cat, f->sdb, 11, 0);
	struct tenant_test t, bad, got;
	struct list l = {.n = 0};

	/* Refused as a whole: nothing is pinned, no id is used. */
	bad = make_test(f, a, 99);
	assert_int_equal(tenant_test_add(f->cat, &bad), -ENOENT);
	bad = make_test(f, a, b);
	bad.disks[1].disk_id = f->other; /* another VM's disk */
	assert_int_equal(tenant_test_add(f->cat, &bad), -EINVAL);
	bad = make_test(f, a, b);
	bad.disks[1].disk_id = f->sda; /* twice */
	assert_int_equal(tenant_test_add(f->cat, &bad), -EINVAL);
	bad = make_test(f, a, b);
	bad.ndisks = 17;
	assert_int_equal(tenant_test_add(f->cat, &bad), -EINVAL);
	bad = make_test(f, a, b);
	bad.tenant_id = 999;
	assert_int_equal(tenant_test_add(f->cat, &bad), -ENOENT);
	assert_int_equal(pins(f->cat, f->sda, a), 0);

	t = make_test(f, a, b);
	t.state = TENANT_TEST_STOPPED; /* ignored: a new test runs */
	assert_int_equal(tenant_test_add(f->cat, &t), 0);
	assert_int_equal(t.id, 1);
	assert_int_equal(t.state, TENANT_TEST_RUNNING);
	assert_true(t.started_ms > 0);
	/* Clone ids come from the disk counter: after the three disks, and
	 * never given to a disk. */
	assert_int_equal(t.disks[0].clone_id, f->other + 1);
	assert_int_equal(t.disks[1].clone_id, f->other + 2);
	assert_int_equal(fixture_disk_add(f->cat, f->tenant, "vm", "sdc"),
			 f->other + 3);
	assert_int_equal(pins(f->cat, f->sda, a), 1);
	assert_int_equal(pins(f->cat, f->sdb, b), 1);

	/* The test's pins hold: no removal, no unpin. */
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, a, NULL), -EBUSY);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, a, -1), -EBUSY);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, a, 1), 0);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, a, -1), 0);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, a, -1), -EBUSY);

	assert_int_equal(tenant_test_get(f->cat, t.id, &got), 0);
	assert_memory_equal(&got, &t, sizeof(t));
	assert_int_equal(tenant_test_get(f->cat, 42, &got), -ENOENT);

	got.state = TENANT_TEST_RUNNING;
	assert_int_equal(tenant_test_finish(f->cat, &got), -EINVAL);
	got.state = TENANT_TEST_STOPPED;
	got.bytes_written = 8192;
	strcpy(got.note, "all services up");
	assert_int_equal(tenant_test_finish(f->cat, &got), 0);
	assert_int_equal(tenant_test_finish(f->cat, &got), -EALREADY);
	assert_int_equal(pins(f->cat, f->sda, a), 0);
	assert_int_equal(pins(f->cat, f->sdb, b), 0);
	assert_int_equal(tenant_test_get(f->cat, t.id, &got), 0);
	assert_int_equal(got.state, TENANT_TEST_STOPPED);
	assert_true(got.stopped_ms >= got.started_ms);
	assert_int_equal(got.bytes_written, 8192);
	assert_string_equal(got.note, "all services up");
	assert_int_equal(got.rp_created_ms, 1234);

	t = make_test(f, a, b);
	assert_int_equal(tenant_test_add(f->cat, &t), 0);
	assert_int_equal(t.id, 2);
	assert_int_equal(tenant_test_list(f->cat, collect_test, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ids[0], 1);
	assert_int_equal(l.ids[1], 2);
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, a, NULL), -EBUSY);
}

static void test_failovers(void **state)
{
	struct fixture *f = *state;
	uint64_t a = add_rp(f->cat, f->sda, 10, 0);
	uint64_t b = add_rp(f->cat, f->sdb, 11, 0);
	uint64_t c = add_rp(f->cat, f->other, 12, 0);
	struct tenant_failover fo = {0}, got;

	assert_int_equal(tenant_failover_get(f->cat, f->tenant, "vm", &got),
			 -ENOENT);
	fo.tenant_id = f->tenant;
	strcpy(fo.vm, "vm");
	fo.ndisks = 2;
	fo.disks[0].disk_id = f->sda;
	fo.disks[0].rp_id = a;
	fo.disks[1].disk_id = f->sdb;
	fo.disks[1].rp_id = b;
	assert_int_equal(tenant_failover_add(f->cat, &fo), 0);
	assert_true(fo.promoted_ms > 0);
	assert_int_equal(fo.disks[0].clone_id, f->other + 1);
	assert_int_equal(fo.disks[1].clone_id, f->other + 2);
	assert_int_equal(pins(f->cat, f->sda, a), 1);
	assert_int_equal(tenant_failover_get(f->cat, f->tenant, "vm", &got), 0);
	assert_memory_equal(&got, &fo, sizeof(fo));
	assert_int_equal(tenant_failover_get(f->cat, f->tenant, "db", &got),
			 -ENOENT);
	/* One failover per VM; the refused one pins nothing. */
	assert_int_equal(tenant_failover_add(f->cat, &fo), -EEXIST);
	assert_int_equal(pins(f->cat, f->sda, a), 1);
	assert_int_equal(tenant_rp_pin(f->cat, f->sda, a, -1), -EBUSY);
	assert_int_equal(tenant_rp_remove(f->cat, f->sda, a, NULL), -EBUSY);

	/* Another VM of the same tenant fails over on its own. */
	memset(&fo, 0, sizeof(fo));
	fo.tenant_id = f->tenant;
	strcpy(fo.vm, "db");
	fo.ndisks = 1;
	fo.disks[0].disk_id = f->other;
	fo.disks[0].rp_id = c;
	assert_int_equal(tenant_failover_add(f->cat, &fo), 0);
	assert_int_equal(fo.disks[0].clone_id, f->other + 3);
	strcpy(fo.vm, "Bad");
	assert_int_equal(tenant_failover_add(f->cat, &fo), -EINVAL);
}

static void test_record_v3(void **state)
{
	struct tenant_rp rp = {0}, out;
	uint8_t buf[TENANT_REC_MAX];
	size_t len;

	(void)state;
	assert_int_equal(TENANT_REC_VERSION, 3);
	rp.disk_id = 1;
	rp.id = 2;
	rp.snap_id = 3;
	rp.pins = 0x01020304;
	strcpy(rp.name, "n");
	assert_int_equal(tenant_rec_rp_encode(&rp, buf, sizeof(buf), &len), 0);
	assert_int_equal(tenant_rec_rp_decode(buf, len, &out), 0);
	assert_memory_equal(&out, &rp, sizeof(rp));
	/* The pins are the last four bytes; a version 2 record ends before
	 * them and decodes with none. */
	assert_int_equal(buf[len - 4], 0x04);
	buf[0] = 2;
	buf[2] = (uint8_t)(len - 4);
	assert_int_equal(tenant_rec_rp_decode(buf, len - 4, &out), 0);
	assert_int_equal(out.pins, 0);
	assert_int_equal(out.snap_id, 3);
	/* ...but a version 3 record without them is truncated. */
	buf[0] = 3;
	assert_int_equal(tenant_rec_rp_decode(buf, len - 4, &out), -EIO);
}

/* Turns a fresh catalog into what schema 2 wrote: no policies, tests,
 * failovers or test counter. */
static void make_schema2(const char *dir)
{
	static const char *const dbs[] = {"policies", "tests", "failovers"};
	MDB_val k = {.mv_size = 12, .mv_data = (void *)"next_test_id"};
	MDB_val v;
	uint8_t two[8] = {2};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	size_t i;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(mdb_dbi_open(txn, dbs[i], 0, &dbi), 0);
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	}
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	k.mv_size = 6;
	k.mv_data = (void *)"schema";
	v.mv_size = 8;
	v.mv_data = two;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_upgrade_schema2(void **state)
{
	struct fixture *f = *state;
	uint64_t a = add_rp(f->cat, f->sda, 10, 0);
	uint64_t b = add_rp(f->cat, f->sdb, 11, 0);
	struct tenant_test t = make_test(f, a, b);

	tenant_catalog_close(f->cat);
	f->cat = NULL;
	make_schema2(f->cat_dir);
	/* A plain open upgrades it; old records take the new fields. */
	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	assert_int_equal(pins(f->cat, f->sda, a), 0);
	assert_int_equal(tenant_test_add(f->cat, &t), 0);
	assert_int_equal(t.id, 1);
	assert_int_equal(pins(f->cat, f->sda, a), 1);
	assert_int_equal(tenant_set_retention(f->cat, f->tenant, "1d:all", 1),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immutable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failovers, setup,
						teardown),
		cmocka_unit_test(test_record_v3),
		cmocka_unit_test_setup_teardown(test_upgrade_schema2, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
