/* What the restore point and request tests of the catalog share
 * (harness-catalog-rp.c): a catalog with tenant "acme" and its disk
 * vm/sda, lists of ids, and requests.  Test-only code. */
#ifndef HAVEN_TEST_HARNESS_CATALOG_RP_H
#define HAVEN_TEST_HARNESS_CATALOG_RP_H

#include <stddef.h>
#include <stdint.h>

#include "fixture-catalog.h"

struct fixture {
	char dir[FIXTURE_DIR_LEN];
	char cat_dir[FIXTURE_CAT_DIR_LEN];
	struct tenant_catalog *cat;
	uint64_t tenant; /* "acme" on route "default" */
	uint64_t disk;	 /* acme/vm/sda, 1 GiB, 4 MiB extents */
};

/* cmocka setup and teardown of a struct fixture. */
int setup(void **state);
int teardown(void **state);

struct ids {
	uint64_t v[32];
	size_t n;
};

/* A request of this type for a disk (restore point 1, size 2 GiB). */
struct tenant_req make_req(uint32_t type, uint64_t disk);

/* The ids of the pending requests, in order. */
struct ids pending(struct tenant_catalog *cat);

#endif
