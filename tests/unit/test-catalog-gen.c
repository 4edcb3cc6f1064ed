/* The catalog generation is havend's cue to recheck every connection
 * (server.c looks at it every 250 ms, and at once when havenctl rings).
 * havend's own bookkeeping writes (ledger live bytes and alerts, saved
 * allocation maps, measured usage) must land in the catalog without
 * moving it; the changes an admission or a connection check reads
 * (limits, bandwidth, tenant state, credentials, disks) must move it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fixture-catalog.h"

struct fixture {
	char dir[FIXTURE_DIR_LEN];
	char cat_dir[FIXTURE_CAT_DIR_LEN];
	struct tenant_catalog *cat;
	uint64_t tenant; /* "acme" on route "default" */
	uint64_t disk;	 /* acme/vm/d0, 64 MiB */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_catalog_open("test-catalog-gen", f->dir, f->cat_dir, &f->cat);
	fixture_route_add(f->cat, "default");
	f->tenant = fixture_tenant_add(f->cat, "acme", "default");
	assert_int_equal(fixture_disk_try(f->cat, f->tenant, "vm", "d0",
					  64 << 20, &f->disk),
			 0);
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

/* Each bookkeeping write is really written (read back) and leaves the
 * generation where it was. */
static void test_bookkeeping_keeps_generation(void **state)
{
	struct fixture *f = *state;
	static const uint8_t map[] = {0x05, 0x80};
	struct tenant_ledger led;
	uint64_t g = fixture_generation(f->cat), bytes, ms;
	uint8_t *out = NULL;
	size_t len = 0;

	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 12 << 20), 0);
	assert_int_equal(fixture_generation(f->cat), g);
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk,
					       TENANT_ALERT_QUOTA_FULL, 1234),
			 0);
	assert_int_equal(fixture_generation(f->cat), g);
	assert_int_equal(tenant_disk_get_ledger(f->cat, f->disk, &led), 0);
	assert_int_equal(led.live, 12 << 20);
	assert_int_equal(led.alert, TENANT_ALERT_QUOTA_FULL);
	assert_int_equal(led.alert_ms, 1234);

	/* A clone's live bytes count in the tenant's stored bytes. */
	assert_int_equal(tenant_clone_set_live(f->cat, f->disk + 100, 4 << 20),
			 0);
	assert_int_equal(fixture_generation(f->cat), g);

	assert_int_equal(
		tenant_disk_save_map(f->cat, f->disk, map, sizeof(map)), 0);
	assert_int_equal(fixture_generation(f->cat), g);
	assert_int_equal(tenant_disk_take_map(f->cat, f->disk, &out, &len), 0);
	assert_int_equal(fixture_generation(f->cat), g);
	assert_int_equal(len, sizeof(map));
	assert_memory_equal(out, map, sizeof(map));
	free(out);
	/* Taken means gone. */
	assert_int_equal(tenant_disk_take_map(f->cat, f->disk, &out, &len),
			 -ENOENT);

	assert_int_equal(tenant_set_usage(f->cat, f->tenant, 99, 5000), 0);
	assert_int_equal(fixture_generation(f->cat), g);
	assert_int_equal(tenant_get_usage(f->cat, f->tenant, &bytes, &ms), 0);
	assert_int_equal(bytes, 99);
	assert_int_equal(ms, 5000);
}

/* What admission and the connection checks read moves the generation,
 * once per change. */
static void test_admission_changes_move_generation(void **state)
{
	struct fixture *f = *state;
	struct tenant_limits l = {.max_stored = 1ull << 30, .max_sessions = 2};
	struct tenant_limits out;
	uint64_t g = fixture_generation(f->cat);

	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, &out), 0);
	assert_int_equal(out.max_stored, 1ull << 30);

	assert_int_equal(tenant_disk_set_bandwidth(f->cat, f->disk, 1 << 20),
			 0);
	assert_int_equal(fixture_generation(f->cat), g + 2);

	assert_int_equal(tenant_set_state(f->cat, f->tenant, TENANT_SUSPENDED),
			 0);
	assert_int_equal(fixture_generation(f->cat), g + 3);

	/* A bookkeeping write in between does not count. */
	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 1 << 20), 0);
	assert_int_equal(tenant_disk_remove(f->cat, f->disk), 0);
	assert_int_equal(fixture_generation(f->cat), g + 4);
}

static void count_change(void *arg)
{
	(*(unsigned *)arg)++;
}

/* havenctl rings havend's doorbell from the change hook: it is told of
 * every committed change, after the commit (the generation has moved
 * when it runs), and of nothing else. */
static void test_change_hook(void **state)
{
	struct fixture *f = *state;
	struct tenant_limits l = {.max_sessions = 3};
	uint64_t g = fixture_generation(f->cat), d2;
	unsigned n = 0;

	tenant_catalog_on_change(f->cat, count_change, &n);
	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	/* Bookkeeping and reads are not changes. */
	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 1 << 20), 0);
	assert_int_equal(tenant_set_usage(f->cat, f->tenant, 1, 2), 0);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(n, 1);
	/* A refused change (the disk exists) commits nothing. */
	assert_int_not_equal(
		fixture_disk_try(f->cat, f->tenant, "vm", "d0", 64 << 20, &d2),
		0);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(n, 1);
	assert_int_equal(tenant_disk_remove(f->cat, f->disk), 0);
	assert_int_equal(n, 2);
	/* Unhooked. */
	tenant_catalog_on_change(f->cat, NULL, NULL);
	assert_int_equal(tenant_set_state(f->cat, f->tenant, TENANT_SUSPENDED),
			 0);
	assert_int_equal(fixture_generation(f->cat), g + 3);
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_bookkeeping_keeps_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_admission_changes_move_generation, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_change_hook, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
