/* The catalog fixture: see fixture-catalog.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixture-catalog.h"

void fixture_catalog_open(const char *name, char dir[FIXTURE_DIR_LEN],
			  char cat_dir[FIXTURE_CAT_DIR_LEN],
			  struct tenant_catalog **cat)
{
	fixture_tmpdir(dir, FIXTURE_DIR_LEN, name);
	snprintf(cat_dir, FIXTURE_CAT_DIR_LEN, "%s/catalog", dir);
	assert_int_equal(
		tenant_catalog_open(cat_dir, TENANT_CATALOG_CREATE, cat), 0);
}

void fixture_catalog_close(const char *dir, struct tenant_catalog *cat)
{
	tenant_catalog_close(cat);
	fixture_rmtree(dir);
}

void fixture_route_add(struct tenant_catalog *cat, const char *name)
{
	struct tenant_route r = {0};

	snprintf(r.name, sizeof(r.name), "%s", name);
	strcpy(r.type, "local");
	snprintf(r.path, sizeof(r.path), "/srv/haven/%s", name);
	assert_int_equal(tenant_route_add(cat, &r), 0);
}

uint64_t fixture_tenant_add(struct tenant_catalog *cat, const char *name,
			    const char *route)
{
	struct tenant_info t = {0};

	snprintf(t.name, sizeof(t.name), "%s", name);
	snprintf(t.route, sizeof(t.route), "%s", route);
	assert_int_equal(tenant_add(cat, &t), 0);
	assert_true(t.id > 0);
	return t.id;
}

int fixture_disk_try(struct tenant_catalog *cat, uint64_t tenant,
		     const char *vm, const char *name, uint64_t size,
		     uint64_t *id)
{
	struct tenant_disk d = {0};
	int rc;

	d.tenant_id = tenant;
	snprintf(d.vm, sizeof(d.vm), "%s", vm);
	snprintf(d.name, sizeof(d.name), "%s", name);
	d.size = size;
	d.extent_size = 4 << 20;
	rc = tenant_disk_add(cat, &d);
	if (id)
		*id = rc ? 0 : d.id;
	return rc;
}

uint64_t fixture_disk_add(struct tenant_catalog *cat, uint64_t tenant,
			  const char *vm, const char *name)
{
	uint64_t id = 0;

	assert_int_equal(
		fixture_disk_try(cat, tenant, vm, name, 1ull << 30, &id), 0);
	return id;
}

uint64_t fixture_generation(struct tenant_catalog *cat)
{
	uint64_t g;

	assert_int_equal(tenant_catalog_generation(cat, &g), 0);
	return g;
}
