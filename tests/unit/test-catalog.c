/* The catalog: what havenctl writes and havend reads, across processes.
 * The record encodings underneath are in test-records.c. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture-catalog.h"

struct fixture {
	char dir[FIXTURE_DIR_LEN];
	char cat_dir[FIXTURE_CAT_DIR_LEN];
	struct tenant_catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_catalog_open("test-catalog", f->dir, f->cat_dir, &f->cat);
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

static struct tenant_cred make_cred(uint8_t seed, uint64_t tenant_id,
				    const char *site)
{
	struct tenant_cred c = {0};

	memset(c.pin, seed, sizeof(c.pin));
	c.tenant_id = tenant_id;
	c.operator_role = tenant_id == 0;
	snprintf(c.site, sizeof(c.site), "%s", site);
	c.serial = 1000 + seed;
	c.issued = (uint64_t)time(NULL);
	c.not_after = c.issued + 86400;
	return c;
}

static int add_disk(struct tenant_catalog *cat, uint64_t tenant_id,
		    const char *vm, const char *name, uint64_t *id)
{
	return fixture_disk_try(cat, tenant_id, vm, name, 10ull << 30, id);
}

static void test_open_missing(void **state)
{
	struct fixture *f = *state;
	struct tenant_catalog *cat = (void *)1;
	char path[160];

	snprintf(path, sizeof(path), "%s/nowhere", f->dir);
	assert_int_equal(tenant_catalog_open(path, 0, &cat), -ENOENT);
	assert_null(cat);
	/* An existing but empty directory is no catalog either, and opening
	 * it must not leave one behind. */
	snprintf(path, sizeof(path), "%s/empty", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(tenant_catalog_open(path, 0, &cat), -ENOENT);
	assert_int_equal(tenant_catalog_open(path, 0, &cat), -ENOENT);
	assert_int_equal(tenant_catalog_open(path, 0x80, &cat), -EINVAL);
}

static void test_create_modes_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct tenant_info t;
	struct stat st;
	char path[160];
	uint64_t id;

	assert_int_equal(stat(f->cat_dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/data.mdb", f->cat_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	fixture_route_add(f->cat, "default");
	id = fixture_tenant_add(f->cat, "acme", "default");
	tenant_catalog_close(f->cat);
	f->cat = NULL;

	assert_int_equal(tenant_catalog_open(f->cat_dir, 0, &f->cat), 0);
	assert_int_equal(tenant_get_by_name(f->cat, "acme", &t), 0);
	assert_int_equal(t.id, id);
	assert_string_equal(t.route, "default");
	/* Opening with CREATE again keeps the data too. */
	tenant_catalog_close(f->cat);
	assert_int_equal(
		tenant_catalog_open(f->cat_dir, TENANT_CATALOG_CREATE, &f->cat),
		0);
	assert_int_equal(tenant_get(f->cat, id, &t), 0);
	assert_string_equal(t.name, "acme");
}

static int collect_route(const struct tenant_route *r, void *arg)
{
	char *out = arg;

	strcat(out, r->name);
	strcat(out, ",");
	return 0;
}

static void test_routes(void **state)
{
	struct fixture *f = *state;
	struct tenant_route r = {0}, got;
	char names[256] = "";

	strcpy(r.name, "ceph-b");
	strcpy(r.type, "rados");
	strcpy(r.ceph_conf, "/etc/ceph/ceph.conf");
	strcpy(r.pool, "haven");
	strcpy(r.client_id, "haven");
	strcpy(r.keyring, "/etc/ceph/ceph.client.haven.keyring");
	assert_int_equal(tenant_route_add(f->cat, &r), 0);
	assert_int_equal(tenant_route_add(f->cat, &r), -EEXIST);
	fixture_route_add(f->cat, "a-local");

	assert_int_equal(tenant_route_get(f->cat, "ceph-b", &got), 0);
	assert_memory_equal(&got, &r, sizeof(r));
	assert_int_equal(tenant_route_get(f->cat, "nope", &got), -ENOENT);

	strcpy(r.name, "Bad");
	assert_int_equal(tenant_route_add(f->cat, &r), -EINVAL);
	strcpy(r.name, "ok");
	strcpy(r.type, "nfs");
	assert_int_equal(tenant_route_add(f->cat, &r), -EINVAL);

	assert_int_equal(tenant_route_list(f->cat, collect_route, names), 0);
	assert_string_equal(names, "a-local,ceph-b,");
}

static int collect_tenant(const struct tenant_info *t, void *arg)
{
	char *out = arg;

	strcat(out, t->name);
	strcat(out, ",");
	return 0;
}

static void test_tenants(void **state)
{
	struct fixture *f = *state;
	struct tenant_info t = {0}, got;
	char names[256] = "";
	uint64_t a, b;

	strcpy(t.name, "zeta");
	strcpy(t.route, "default");
	assert_int_equal(tenant_add(f->cat, &t), -ENOENT);
	assert_int_equal(t.id, 0);
	fixture_route_add(f->cat, "default");

	a = fixture_tenant_add(f->cat, "zeta", "default");
	b = fixture_tenant_add(f->cat, "alpha", "default");
	assert_true(b > a);
	assert_int_equal(tenant_add(f->cat, &t), -EEXIST);

	assert_int_equal(tenant_get(f->cat, a, &got), 0);
	assert_string_equal(got.name, "zeta");
	assert_string_equal(got.ns, "zeta");
	assert_int_equal(got.state, TENANT_ACTIVE);
	assert_true(got.created > 0 && got.created <= (uint64_t)time(NULL));
	assert_int_equal(tenant_get_by_name(f->cat, "alpha", &got), 0);
	assert_int_equal(got.id, b);
	assert_int_equal(tenant_get(f->cat, 999, &got), -ENOENT);
	assert_int_equal(tenant_get_by_name(f->cat, "nope", &got), -ENOENT);
	assert_int_equal(tenant_get_by_name(f->cat, "a/b", &got), -EINVAL);

	static const char *const bad[] = {"", "Upper", "a..b", "-x", "a/b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&t, 0, sizeof(t));
		strcpy(t.name, bad[i]);
		strcpy(t.route, "default");
		assert_int_equal(tenant_add(f->cat, &t), -EINVAL);
	}

	/* A namespace already used on the route would mix two tenants'
	 * objects. */
	memset(&t, 0, sizeof(t));
	strcpy(t.name, "beta");
	strcpy(t.route, "default");
	strcpy(t.ns, "alpha");
	assert_int_equal(tenant_add(f->cat, &t), -EEXIST);
	strcpy(t.ns, "beta-ns");
	assert_int_equal(tenant_add(f->cat, &t), 0);
	assert_int_equal(tenant_get(f->cat, t.id, &got), 0);
	assert_string_equal(got.ns, "beta-ns");

	/* Listed by id, i.e. creation order. */
	assert_int_equal(tenant_list(f->cat, collect_tenant, names), 0);
	assert_string_equal(names, "zeta,alpha,beta,");
}

static int collect_cred(const struct tenant_cred *c, void *arg)
{
	char *out = arg;
	char buf[8];

	snprintf(buf, sizeof(buf), "%02x,", c->pin[0]);
	strcat(out, buf);
	return 0;
}

static void test_creds(void **state)
{
	struct fixture *f = *state;
	struct tenant_cred c, got;
	char pins[256] = "";
	uint64_t a, b;

	fixture_route_add(f->cat, "default");
	a = fixture_tenant_add(f->cat, "acme", "default");
	b = fixture_tenant_add(f->cat, "globex", "default");

	c = make_cred(0x30, a, "paris");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
	assert_int_equal(tenant_cred_lookup(f->cat, c.pin, &got), 0);
	assert_memory_equal(&got, &c, sizeof(c));
	/* The same pin again, even for another tenant. */
	c.tenant_id = b;
	assert_int_equal(tenant_cred_add(f->cat, &c), -EEXIST);
	/* A second live credential for acme/paris. */
	c = make_cred(0x31, a, "paris");
	assert_int_equal(tenant_cred_add(f->cat, &c), -EEXIST);
	c = make_cred(0x31, a, "lyon");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
	c = make_cred(0x32, b, "paris");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
	/* An expired credential does not block its replacement. */
	c = make_cred(0x33, b, "rome");
	c.not_after = 1;
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
	c = make_cred(0x34, b, "rome");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);

	c = make_cred(0x35, 4242, "paris");
	assert_int_equal(tenant_cred_add(f->cat, &c), -ENOENT);
	c = make_cred(0x35, a, "Bad Site");
	assert_int_equal(tenant_cred_add(f->cat, &c), -EINVAL);
	c = make_cred(0x00, a, "zero");
	assert_int_equal(tenant_cred_add(f->cat, &c), -EINVAL);
	c = make_cred(0x35, a, "mixed");
	c.operator_role = true;
	assert_int_equal(tenant_cred_add(f->cat, &c), -EINVAL);

	/* Operators are unique by site as well. */
	c = make_cred(0x20, 0, "ops");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
	c = make_cred(0x21, 0, "ops");
	assert_int_equal(tenant_cred_add(f->cat, &c), -EEXIST);
	assert_int_equal(tenant_cred_lookup(f->cat, c.pin, &got), -ENOENT);
	memset(c.pin, 0x20, sizeof(c.pin));
	assert_int_equal(tenant_cred_lookup(f->cat, c.pin, &got), 0);
	assert_true(got.operator_role);
	assert_int_equal(got.tenant_id, 0);

	assert_int_equal(tenant_cred_list(f->cat, collect_cred, pins), 0);
	assert_string_equal(pins, "20,30,31,32,33,34,");

	/* Revocation deletes the pin; the site can then get a new one. */
	memset(c.pin, 0x30, sizeof(c.pin));
	assert_int_equal(tenant_cred_revoke(f->cat, c.pin), 0);
	assert_int_equal(tenant_cred_lookup(f->cat, c.pin, &got), -ENOENT);
	assert_int_equal(tenant_cred_revoke(f->cat, c.pin), -ENOENT);
	c = make_cred(0x36, a, "paris");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
}

static int collect_disk(const struct tenant_disk *d, void *arg)
{
	char *out = arg;
	char buf[160];

	snprintf(buf, sizeof(buf), "%llu:%s/%s,",
		 (unsigned long long)d->tenant_id, d->vm, d->name);
	strcat(out, buf);
	return 0;
}

static void test_disks(void **state)
{
	struct fixture *f = *state;
	struct tenant_disk d = {0}, got;
	char list[512] = "";
	uint64_t a, b, id1, id2, id3;

	fixture_route_add(f->cat, "default");
	a = fixture_tenant_add(f->cat, "acme", "default");
	b = fixture_tenant_add(f->cat, "globex", "default");

	assert_int_equal(add_disk(f->cat, 999, "vm", "sda", NULL), -ENOENT);
	assert_int_equal(add_disk(f->cat, a, "Vm", "sda", NULL), -EINVAL);
	assert_int_equal(add_disk(f->cat, a, "vm", "a/b", NULL), -EINVAL);
	assert_int_equal(add_disk(f->cat, a, "vm", "..", NULL), -EINVAL);

	d.tenant_id = a;
	strcpy(d.vm, "vm");
	strcpy(d.name, "sda");
	d.extent_size = 4096;
	assert_int_equal(tenant_disk_add(f->cat, &d), -EINVAL); /* size 0 */
	d.size = 1 << 20;
	static const uint32_t bad_extents[] = {0, 2048, 4095, 6144, 12288};
	for (size_t i = 0; i < 5; i++) {
		d.extent_size = bad_extents[i];
		assert_int_equal(tenant_disk_add(f->cat, &d), -EINVAL);
	}
	d.extent_size = 4096;
	assert_int_equal(tenant_disk_add(f->cat, &d), 0);
	id1 = d.id;
	assert_true(id1 > 0 && d.created > 0);
	assert_int_equal(tenant_disk_add(f->cat, &d), -EEXIST);

	/* Names are per tenant. */
	assert_int_equal(add_disk(f->cat, b, "vm", "sda", &id2), 0);
	/* "a-b" sorts after "a" as a VM name although '-' < '/'. */
	assert_int_equal(add_disk(f->cat, a, "a-b", "x", &id3), 0);
	assert_int_equal(add_disk(f->cat, a, "a", "y", NULL), 0);
	assert_int_equal(add_disk(f->cat, a, "a", "x", NULL), 0);

	assert_int_equal(tenant_disk_get(f->cat, a, "vm", "sda", &got), 0);
	assert_memory_equal(&got, &d, sizeof(d));
	assert_int_equal(tenant_disk_get(f->cat, b, "vm", "sda", &got), 0);
	assert_int_equal(got.id, id2);
	assert_int_equal(tenant_disk_get(f->cat, a, "vm", "sdb", &got),
			 -ENOENT);
	assert_int_equal(tenant_disk_get_by_id(f->cat, id3, &got), 0);
	assert_string_equal(got.vm, "a-b");
	assert_int_equal(got.tenant_id, a);
	assert_int_equal(got.extent_size, 4 << 20);

	assert_int_equal(tenant_disk_list(f->cat, 0, collect_disk, list), 0);
	char want[512];
	snprintf(want, sizeof(want),
		 "%1$llu:a/x,%1$llu:a/y,%1$llu:a-b/x,"
		 "%1$llu:vm/sda,%2$llu:vm/sda,",
		 (unsigned long long)a, (unsigned long long)b);
	assert_string_equal(list, want);
	list[0] = '\0';
	assert_int_equal(tenant_disk_list(f->cat, b, collect_disk, list), 0);
	snprintf(want, sizeof(want), "%llu:vm/sda,", (unsigned long long)b);
	assert_string_equal(list, want);

	assert_int_equal(tenant_disk_remove(f->cat, id1), 0);
	assert_int_equal(tenant_disk_get(f->cat, a, "vm", "sda", &got),
			 -ENOENT);
	assert_int_equal(tenant_disk_get_by_id(f->cat, id1, &got), -ENOENT);
	assert_int_equal(tenant_disk_remove(f->cat, id1), -ENOENT);
	/* Ids are never reused, even after a removal. */
	assert_int_equal(add_disk(f->cat, a, "vm", "sda", &id2), 0);
	assert_true(id2 > id3);
}

static void test_tenant_state_and_remove(void **state)
{
	struct fixture *f = *state;
	struct tenant_info t = {0}, got;
	struct tenant_cred c;
	uint64_t a, b, disk;

	fixture_route_add(f->cat, "default");
	a = fixture_tenant_add(f->cat, "acme", "default");
	b = fixture_tenant_add(f->cat, "globex", "default");

	assert_int_equal(tenant_set_state(f->cat, a, TENANT_SUSPENDED), 0);
	assert_int_equal(tenant_get(f->cat, a, &got), 0);
	assert_int_equal(got.state, TENANT_SUSPENDED);
	assert_string_equal(got.name, "acme");
	assert_int_equal(tenant_get(f->cat, b, &got), 0);
	assert_int_equal(got.state, TENANT_ACTIVE);
	assert_int_equal(tenant_set_state(f->cat, a, TENANT_ACTIVE), 0);
	assert_int_equal(tenant_get_by_name(f->cat, "acme", &got), 0);
	assert_int_equal(got.state, TENANT_ACTIVE);
	assert_int_equal(tenant_set_state(f->cat, a, 7), -EINVAL);
	assert_int_equal(tenant_set_state(f->cat, 999, TENANT_ACTIVE), -ENOENT);

	/* Disks and credentials keep a tenant alive. */
	assert_int_equal(add_disk(f->cat, a, "vm", "sda", &disk), 0);
	c = make_cred(0x50, a, "paris");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
	assert_int_equal(tenant_remove(f->cat, a), -EBUSY);
	assert_int_equal(tenant_disk_remove(f->cat, disk), 0);
	assert_int_equal(tenant_remove(f->cat, a), -EBUSY);
	assert_int_equal(tenant_cred_revoke(f->cat, c.pin), 0);
	assert_int_equal(tenant_remove(f->cat, a), 0);
	assert_int_equal(tenant_get(f->cat, a, &got), -ENOENT);
	assert_int_equal(tenant_get_by_name(f->cat, "acme", &got), -ENOENT);
	assert_int_equal(tenant_remove(f->cat, a), -ENOENT);
	assert_int_equal(tenant_get(f->cat, b, &got), 0);

	/* The name is free again, the id is not. */
	strcpy(t.name, "acme");
	strcpy(t.route, "default");
	assert_int_equal(tenant_add(f->cat, &t), 0);
	assert_true(t.id > b);
}

struct stop_arg {
	int calls;
	int stop_at;
};

static int stop_early(const struct tenant_info *t, void *arg)
{
	struct stop_arg *s = arg;

	(void)t;
	return ++s->calls == s->stop_at ? 7 : 0;
}

static void test_list_stops(void **state)
{
	struct fixture *f = *state;
	struct stop_arg s = {.stop_at = 2};

	fixture_route_add(f->cat, "default");
	fixture_tenant_add(f->cat, "a", "default");
	fixture_tenant_add(f->cat, "b", "default");
	fixture_tenant_add(f->cat, "c", "default");
	assert_int_equal(tenant_list(f->cat, stop_early, &s), 7);
	assert_int_equal(s.calls, 2);
	s.calls = 0;
	s.stop_at = 99;
	assert_int_equal(tenant_list(f->cat, stop_early, &s), 0);
	assert_int_equal(s.calls, 3);
}

static void test_generation(void **state)
{
	struct fixture *f = *state;
	struct tenant_info t;
	uint64_t g0, g, id;

	assert_int_equal(tenant_catalog_generation(f->cat, &g0), 0);
	fixture_route_add(f->cat, "default");
	assert_int_equal(tenant_catalog_generation(f->cat, &g), 0);
	assert_int_equal(g, g0 + 1);
	id = fixture_tenant_add(f->cat, "acme", "default");
	assert_int_equal(tenant_catalog_generation(f->cat, &g), 0);
	assert_int_equal(g, g0 + 2);
	/* Reads and refused writes change nothing. */
	assert_int_equal(tenant_get(f->cat, id, &t), 0);
	assert_int_equal(tenant_list(f->cat, collect_tenant, (char[256]){0}),
			 0);
	memset(&t, 0, sizeof(t));
	strcpy(t.name, "acme");
	strcpy(t.route, "default");
	assert_int_equal(tenant_add(f->cat, &t), -EEXIST);
	assert_int_equal(add_disk(f->cat, 77, "vm", "sda", NULL), -ENOENT);
	assert_int_equal(tenant_catalog_generation(f->cat, &g), 0);
	assert_int_equal(g, g0 + 2);
	assert_int_equal(add_disk(f->cat, id, "vm", "sda", NULL), 0);
	assert_int_equal(tenant_catalog_generation(f->cat, &g), 0);
	assert_int_equal(g, g0 + 3);
}

/* The child plays havenctl: its own catalog handle, its own process.  It
 * must not touch the parent's environment (LMDB forbids using an env
 * across fork()), so it exits with _exit() without closing anything it
 * inherited. */
static int child_writes(const char *dir, const uint8_t pin[TENANT_PIN_LEN])
{
	struct tenant_catalog *cat = NULL;
	struct tenant_info t = {0};
	struct tenant_disk d = {0};

	if (tenant_catalog_open(dir, 0, &cat))
		return 10;
	strcpy(t.name, "from-child");
	strcpy(t.route, "default");
	if (tenant_add(cat, &t))
		return 11;
	d.tenant_id = t.id;
	strcpy(d.vm, "vm");
	strcpy(d.name, "sda");
	d.size = 1 << 30;
	d.extent_size = 1 << 22;
	if (tenant_disk_add(cat, &d))
		return 12;
	if (tenant_cred_revoke(cat, pin))
		return 13;
	tenant_catalog_close(cat);
	return 0;
}

static void test_second_process_sees_writes(void **state)
{
	struct fixture *f = *state;
	struct tenant_cred c, got;
	struct tenant_info t;
	struct tenant_disk d;
	uint64_t a, g0, g1;
	int status;
	pid_t pid;

	fixture_route_add(f->cat, "default");
	a = fixture_tenant_add(f->cat, "acme", "default");
	c = make_cred(0x44, a, "paris");
	assert_int_equal(tenant_cred_add(f->cat, &c), 0);
	assert_int_equal(tenant_catalog_generation(f->cat, &g0), 0);
	assert_int_equal(tenant_get_by_name(f->cat, "from-child", &t), -ENOENT);
	assert_int_equal(tenant_cred_lookup(f->cat, c.pin, &got), 0);

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_writes(f->cat_dir, c.pin));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* Same handle, no reopen: the next read sees the child's commits. */
	assert_int_equal(tenant_catalog_generation(f->cat, &g1), 0);
	assert_int_equal(g1, g0 + 3);
	assert_int_equal(tenant_get_by_name(f->cat, "from-child", &t), 0);
	assert_true(t.id > a);
	assert_int_equal(tenant_disk_get(f->cat, t.id, "vm", "sda", &d), 0);
	assert_int_equal(d.size, 1 << 30);
	assert_int_equal(tenant_cred_lookup(f->cat, c.pin, &got), -ENOENT);
	/* And the parent can still write after the child did. */
	fixture_tenant_add(f->cat, "after-child", "default");
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_missing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_modes_and_reopen,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_state_and_remove,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_stops, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_generation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_second_process_sees_writes,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
