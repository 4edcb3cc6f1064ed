/* The catalog fixture shared by the catalog and audit tests
 * (fixture-catalog.c): a catalog created in a fresh directory, and the
 * route, tenants and disks most tests start from.  Test-only code. */
#ifndef HAVEN_TEST_FIXTURE_CATALOG_H
#define HAVEN_TEST_FIXTURE_CATALOG_H

#include <stdint.h>

#include "fixture.h"
#include "tenant.h"

#define FIXTURE_DIR_LEN 64
#define FIXTURE_CAT_DIR_LEN 96

/* Makes /tmp/NAME-XXXXXX in dir and creates a catalog in its "catalog"
 * subdirectory, whose path goes to cat_dir; fails the test if it cannot. */
void fixture_catalog_open(const char *name, char dir[FIXTURE_DIR_LEN],
			  char cat_dir[FIXTURE_CAT_DIR_LEN],
			  struct tenant_catalog **cat);

/* Closes the catalog and removes the directory. */
void fixture_catalog_close(const char *dir, struct tenant_catalog *cat);

/* Adds route NAME, type local, path /srv/haven/NAME. */
void fixture_route_add(struct tenant_catalog *cat, const char *name);

/* Adds tenant NAME on ROUTE: its id, never 0. */
uint64_t fixture_tenant_add(struct tenant_catalog *cat, const char *name,
			    const char *route);

/* tenant_disk_add() of VM/NAME with this size and 4 MiB extents: its
 * result; the disk's id goes to *id (0 on failure) unless id is NULL. */
int fixture_disk_try(struct tenant_catalog *cat, uint64_t tenant,
		     const char *vm, const char *name, uint64_t size,
		     uint64_t *id);

/* Adds VM/NAME, 1 GiB with 4 MiB extents: its id. */
uint64_t fixture_disk_add(struct tenant_catalog *cat, uint64_t tenant,
			  const char *vm, const char *name);

/* The catalog's generation, asserted readable. */
uint64_t fixture_generation(struct tenant_catalog *cat);

#endif
