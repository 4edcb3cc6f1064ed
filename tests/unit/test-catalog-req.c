/* Requests between havenctl and havend in the catalog: what a request
 * must carry, the pending list in order, answers and their generation
 * bump, and a request asked by another process (havenctl) and answered
 * here (havend) through the same catalog files.
 */
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
#include <unistd.h>

#include <cmocka.h>

#include "harness-catalog-rp.h"

static void test_requests(void **state)
{
	struct fixture *f = *state;
	struct tenant_req r, a, b, c, got;
	uint64_t g;
	struct ids ids;

	r = make_req(0, f->disk);
	assert_int_equal(tenant_req_add(f->cat, &r), -EINVAL);
	r = make_req(TENANT_REQ_RP_CREATE, 0); /* no disk and no VM */
	r.tenant_id = f->tenant;
	assert_int_equal(tenant_req_add(f->cat, &r), -EINVAL);
	r = make_req(TENANT_REQ_RP_CREATE, f->disk);
	strcpy(r.name, "42");
	assert_int_equal(tenant_req_add(f->cat, &r), -EINVAL);
	r = make_req(TENANT_REQ_DISK_RESIZE, f->disk);
	r.size = 1000;
	assert_int_equal(tenant_req_add(f->cat, &r), -EINVAL);
	r = make_req(TENANT_REQ_RP_REMOVE, f->disk);
	r.rp_id = 0;
	assert_int_equal(tenant_req_add(f->cat, &r), -EINVAL);
	assert_int_equal(pending(f->cat).n, 0);

	g = fixture_generation(f->cat);
	a = make_req(TENANT_REQ_RP_CREATE, 0);
	a.tenant_id = f->tenant;
	strcpy(a.vm, "vm");
	strcpy(a.name, "pre-upgrade");
	a.state = TENANT_REQ_FAILED; /* ignored: new requests are pending */
	strcpy(a.message, "stale");
	assert_int_equal(tenant_req_add(f->cat, &a), 0);
	b = make_req(TENANT_REQ_RP_REMOVE, f->disk);
	assert_int_equal(tenant_req_add(f->cat, &b), 0);
	c = make_req(TENANT_REQ_DISK_RESIZE, f->disk);
	assert_int_equal(tenant_req_add(f->cat, &c), 0);
	assert_int_equal(fixture_generation(f->cat), g + 3);
	assert_true(a.id > 0 && b.id > a.id && c.id > b.id);
	assert_int_equal(a.state, TENANT_REQ_PENDING);
	assert_true(a.created_ms > 0);

	assert_int_equal(tenant_req_get(f->cat, a.id, &got), 0);
	assert_int_equal(got.type, TENANT_REQ_RP_CREATE);
	assert_int_equal(got.state, TENANT_REQ_PENDING);
	assert_string_equal(got.vm, "vm");
	assert_string_equal(got.name, "pre-upgrade");
	assert_string_equal(got.message, "");
	assert_int_equal(got.tenant_id, f->tenant);
	assert_int_equal(tenant_req_get(f->cat, 999, &got), -ENOENT);

	ids = pending(f->cat);
	assert_int_equal(ids.n, 3);
	assert_int_equal(ids.v[0], a.id);
	assert_int_equal(ids.v[2], c.id);

	/* The state and the error must agree. */
	b.state = TENANT_REQ_DONE;
	b.error = -EIO;
	assert_int_equal(tenant_req_finish(f->cat, &b), -EINVAL);
	b.state = TENANT_REQ_FAILED;
	b.error = 0;
	assert_int_equal(tenant_req_finish(f->cat, &b), -EINVAL);
	b.state = TENANT_REQ_PENDING;
	assert_int_equal(tenant_req_finish(f->cat, &b), -EINVAL);
	b.state = TENANT_REQ_FAILED;
	b.error = -ENOENT;
	b.size = 12345; /* only state, error and message are updated */
	strcpy(b.message, "no such restore point");
	g = fixture_generation(f->cat);
	assert_int_equal(tenant_req_finish(f->cat, &b), 0);
	assert_int_equal(fixture_generation(f->cat), g + 1);
	assert_int_equal(tenant_req_get(f->cat, b.id, &got), 0);
	assert_int_equal(got.state, TENANT_REQ_FAILED);
	assert_int_equal(got.error, -ENOENT);
	assert_string_equal(got.message, "no such restore point");
	assert_int_equal(got.size, 1ull << 31);

	ids = pending(f->cat);
	assert_int_equal(ids.n, 2);
	assert_int_equal(ids.v[0], a.id);
	assert_int_equal(ids.v[1], c.id);

	assert_int_equal(tenant_req_remove(f->cat, a.id), 0);
	assert_int_equal(tenant_req_remove(f->cat, a.id), -ENOENT);
	assert_int_equal(tenant_req_get(f->cat, a.id, &got), -ENOENT);
	r = make_req(TENANT_REQ_RP_CREATE, f->disk);
	r.id = a.id;
	r.state = TENANT_REQ_DONE;
	assert_int_equal(tenant_req_finish(f->cat, &r), -ENOENT);
	/* Ids are never reused. */
	assert_int_equal(tenant_req_add(f->cat, &r), 0);
	assert_true(r.id > c.id);
	assert_int_equal(pending(f->cat).n, 2);
}

/* The child plays havenctl with its own catalog handle: it asks, then
 * waits for the parent (havend) to answer.  It never touches the
 * parent's environment (LMDB forbids using one across fork()). */
static int child_requests(const char *dir, int to_parent, int from_parent)
{
	struct tenant_catalog *cat = NULL;
	struct tenant_req r = {0}, got;
	uint64_t g0, g1;
	char go;

	if (tenant_catalog_open(dir, 0, &cat))
		return 10;
	r.type = TENANT_REQ_DISK_RESIZE;
	r.disk_id = 1;
	r.size = 1ull << 32;
	if (tenant_req_add(cat, &r) || tenant_catalog_generation(cat, &g0))
		return 11;
	if (write(to_parent, &r.id, sizeof(r.id)) != sizeof(r.id))
		return 12;
	if (read(from_parent, &go, 1) != 1)
		return 13;
	if (tenant_catalog_generation(cat, &g1) || g1 <= g0)
		return 14;
	if (tenant_req_get(cat, r.id, &got))
		return 15;
	if (got.state != TENANT_REQ_DONE || strcmp(got.message, "grown"))
		return 16;
	tenant_catalog_close(cat);
	return 0;
}

static void test_requests_across_processes(void **state)
{
	struct fixture *f = *state;
	int up[2], down[2], status;
	struct tenant_req got;
	uint64_t id = 0;
	struct ids ids;
	pid_t pid;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_requests(f->cat_dir, up[1], down[0]));
	assert_int_equal(read(up[0], &id, sizeof(id)), sizeof(id));

	/* Same handle as before the child wrote: the request is seen. */
	ids = pending(f->cat);
	assert_int_equal(ids.n, 1);
	assert_int_equal(ids.v[0], id);
	assert_int_equal(tenant_req_get(f->cat, id, &got), 0);
	assert_int_equal(got.size, 1ull << 32);
	got.state = TENANT_REQ_DONE;
	strcpy(got.message, "grown");
	assert_int_equal(tenant_req_finish(f->cat, &got), 0);
	assert_int_equal(write(down[1], "g", 1), 1);

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(pending(f->cat).n, 0);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests_across_processes,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
