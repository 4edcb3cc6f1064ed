/* What the restore point and request tests of the catalog share: see
 * harness-catalog-rp.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "harness-catalog-rp.h"

int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_catalog_open("test-catalog-rp", f->dir, f->cat_dir, &f->cat);
	fixture_route_add(f->cat, "default");
	f->tenant = fixture_tenant_add(f->cat, "acme", "default");
	f->disk = fixture_disk_add(f->cat, f->tenant, "vm", "sda");
	*state = f;
	return 0;
}

int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_catalog_close(f->dir, f->cat);
	free(f);
	return 0;
}

static int collect_req(const struct tenant_req *r, void *arg)
{
	struct ids *ids = arg;

	ids->v[ids->n++] = r->id;
	return 0;
}

struct ids pending(struct tenant_catalog *cat)
{
	struct ids ids = {0};

	assert_int_equal(tenant_req_list_pending(cat, collect_req, &ids), 0);
	return ids;
}

struct tenant_req make_req(uint32_t type, uint64_t disk)
{
	struct tenant_req r = {0};

	r.type = type;
	r.disk_id = disk;
	r.rp_id = 1;
	r.size = 1ull << 31;
	return r;
}
