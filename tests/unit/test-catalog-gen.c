/* The catalog generation is havend's cue to recheck every connection
 * (server.c polls it every 250 ms).  havend's own bookkeeping writes
 * (ledger live bytes and alerts, saved allocation maps, measured usage)
 * must land in the catalog without moving it; the changes an admission
 * or a connection check reads (limits, bandwidth, tenant state,
 * credentials, disks) must move it. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tenant.h"

struct fixture {
	char dir[64];
	char cat_dir[96];
	struct tenant_catalog *cat;
	uint64_t tenant;
	uint64_t disk;
};

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tenant_route r = {0};
	struct tenant_info t = {0};
	struct tenant_disk d = {0};

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/test-catalog-gen.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->cat_dir, sizeof(f->cat_dir), "%s/catalog", f->dir);
	if (tenant_catalog_open(f->cat_dir, TENANT_CATALOG_CREATE, &f->cat))
		return -1;
	strcpy(r.name, "default");
	strcpy(r.type, "local");
	strcpy(r.path, "/srv/haven");
	strcpy(t.name, "acme");
	strcpy(t.route, "default");
	if (tenant_route_add(f->cat, &r) || tenant_add(f->cat, &t))
		return -1;
	d.tenant_id = t.id;
	strcpy(d.vm, "vm");
	strcpy(d.name, "d0");
	d.size = 64 << 20;
	d.extent_size = 4 << 20;
	if (tenant_disk_add(f->cat, &d))
		return -1;
	f->tenant = t.id;
	f->disk = d.id;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tenant_catalog_close(f->cat);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static uint64_t generation(struct tenant_catalog *cat)
{
	uint64_t g = 0;

	assert_int_equal(tenant_catalog_generation(cat, &g), 0);
	return g;
}

/* Each bookkeeping write is really written (read back) and leaves the
 * generation where it was. */
static void test_bookkeeping_keeps_generation(void **state)
{
	struct fixture *f = *state;
	static const uint8_t map[] = {0x05, 0x80};
	struct tenant_ledger led;
	uint64_t g = generation(f->cat), bytes, ms;
	uint8_t *out = NULL;
	size_t len = 0;

	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 12 << 20), 0);
	assert_int_equal(generation(f->cat), g);
	assert_int_equal(tenant_disk_set_alert(f->cat, f->disk,
					       TENANT_ALERT_QUOTA_FULL, 1234),
			 0);
	assert_int_equal(generation(f->cat), g);
	assert_int_equal(tenant_disk_get_ledger(f->cat, f->disk, &led), 0);
	assert_int_equal(led.live, 12 << 20);
	assert_int_equal(led.alert, TENANT_ALERT_QUOTA_FULL);
	assert_int_equal(led.alert_ms, 1234);

	/* A clone's live bytes count in the tenant's stored bytes. */
	assert_int_equal(tenant_clone_set_live(f->cat, f->disk + 100, 4 << 20),
			 0);
	assert_int_equal(generation(f->cat), g);

	assert_int_equal(
		tenant_disk_save_map(f->cat, f->disk, map, sizeof(map)), 0);
	assert_int_equal(generation(f->cat), g);
	assert_int_equal(tenant_disk_take_map(f->cat, f->disk, &out, &len), 0);
	assert_int_equal(generation(f->cat), g);
	assert_int_equal(len, sizeof(map));
	assert_memory_equal(out, map, sizeof(map));
	free(out);
	/* Taken means gone. */
	assert_int_equal(tenant_disk_take_map(f->cat, f->disk, &out, &len),
			 -ENOENT);

	assert_int_equal(tenant_set_usage(f->cat, f->tenant, 99, 5000), 0);
	assert_int_equal(generation(f->cat), g);
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
	uint64_t g = generation(f->cat);

	assert_int_equal(tenant_set_limits(f->cat, f->tenant, &l), 0);
	assert_int_equal(generation(f->cat), g + 1);
	assert_int_equal(tenant_get_limits(f->cat, f->tenant, &out), 0);
	assert_int_equal(out.max_stored, 1ull << 30);

	assert_int_equal(tenant_disk_set_bandwidth(f->cat, f->disk, 1 << 20),
			 0);
	assert_int_equal(generation(f->cat), g + 2);

	assert_int_equal(tenant_set_state(f->cat, f->tenant, TENANT_SUSPENDED),
			 0);
	assert_int_equal(generation(f->cat), g + 3);

	/* A bookkeeping write in between does not count. */
	assert_int_equal(tenant_disk_set_live(f->cat, f->disk, 1 << 20), 0);
	assert_int_equal(tenant_disk_remove(f->cat, f->disk), 0);
	assert_int_equal(generation(f->cat), g + 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_bookkeeping_keeps_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_admission_changes_move_generation, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
