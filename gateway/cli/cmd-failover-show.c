/* havenctl failover test list|show and failover status: what the
 * catalog says of DR tests and failovers.  A test's RPO is the age of
 * its (oldest) restore point when it started; its bytes written are
 * counted, from the clones' objects, when it stops.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-failover.h"

static const char list_usage[] =
	"Usage: havenctl [-d DIR] failover test list [TENANT] [--json]\n"
	"List the DR tests, all or those of one tenant, oldest first.\n"
	"\n"
	"  --json      print a JSON array\n"
	"  -h, --help  show this help\n";

static const char show_usage[] =
	"Usage: havenctl [-d DIR] failover test show ID [--json]\n"
	"Show a DR test: restore points and their age at start (the RPO\n"
	"achieved), start, stop, duration, bytes written, note, exports.\n"
	"\n"
	"  --json      print a JSON object\n"
	"  -h, --help  show this help\n";

static const char status_usage[] =
	"Usage: havenctl [-d DIR] failover status TENANT/VM [--json]\n"
	"Show whether a VM replicates or is failed over, its running DR tests\n"
	"and the age of each disk's newest restore point.\n"
	"\n"
	"  --json      print a JSON object\n"
	"  -h, --help  show this help\n";

uint64_t gw_cli_fo_ms(uint64_t from, uint64_t to)
{
	return to > from ? to - from : 0;
}

void gw_cli_fo_fmt_age(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 " ms", ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 " s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 " min %" PRIu64 " s", s / 60,
			 s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 " h %" PRIu64 " min", s / 3600,
			 s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 " d %" PRIu64 " h", s / 86400,
			 s / 3600 % 24);
}

const char *gw_cli_fo_state_name(uint32_t state)
{
	switch (state) {
	case TENANT_TEST_RUNNING:
		return "running";
	case TENANT_TEST_STOPPED:
		return "stopped";
	case TENANT_TEST_FAILED:
		return "failed";
	default:
		return "unknown";
	}
}

/* ---- a test, with its names resolved for printing ---- */

void gw_cli_fo_load_view(struct tenant_catalog *cat,
			 const struct tenant_test *x, struct gw_cli_fo_view *v)
{
	struct tenant_info t;
	struct tenant_disk td;
	uint32_t i;

	memset(v, 0, sizeof(*v));
	v->x = *x;
	if (v->x.ndisks > GW_CLI_FO_MAX_DISKS)
		v->x.ndisks = GW_CLI_FO_MAX_DISKS;
	if (tenant_get(cat, x->tenant_id, &t) == 0)
		snprintf(v->tenant, sizeof(v->tenant), "%s", t.name);
	else
		snprintf(v->tenant, sizeof(v->tenant), "#%" PRIu64,
			 x->tenant_id);
	for (i = 0; i < v->x.ndisks; i++) {
		if (tenant_disk_get_by_id(cat, x->disks[i].disk_id, &td) == 0)
			snprintf(v->d[i].name, sizeof(v->d[i].name), "%s",
				 td.name);
		else
			snprintf(v->d[i].name, sizeof(v->d[i].name),
				 "#%" PRIu64, x->disks[i].disk_id);
		if (tenant_rp_get(cat, x->disks[i].disk_id, x->disks[i].rp_id,
				  &v->d[i].rp) < 0)
			v->d[i].rp.id = 0;
	}
}

static bool running(const struct gw_cli_fo_view *v)
{
	return v->x.state == TENANT_TEST_RUNNING;
}

static uint64_t duration_ms(const struct gw_cli_fo_view *v)
{
	return gw_cli_fo_ms(v->x.started_ms,
			    running(v) ? gw_cli_now_ms() : v->x.stopped_ms);
}

static void view_export(const struct gw_cli_fo_view *v, uint32_t i, char *buf,
			size_t len)
{
	snprintf(buf, len, "%s/%s/%s@test-%" PRIu64, v->tenant, v->x.vm,
		 v->d[i].name, v->x.id);
}

static json_t *view_disk_json(const struct gw_cli_fo_view *v, uint32_t i)
{
	const struct tenant_rp *rp = &v->d[i].rp;
	char path[GW_CLI_FO_PATH_LEN], export[GW_CLI_FO_PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s/%s", v->tenant, v->x.vm,
		 v->d[i].name);
	view_export(v, i, export, sizeof(export));
	return json_pack(
		"{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "disk", path, "rp",
		gw_cli_json_u64(v->x.disks[i].rp_id), "rp_name",
		rp->id && rp->name[0] ? json_string(rp->name) : json_null(),
		"rp_created",
		rp->id ? gw_cli_json_time_ms(rp->created_ms) : json_null(),
		"rpo_ms",
		rp->id ? gw_cli_json_u64(
				 gw_cli_fo_ms(rp->created_ms, v->x.started_ms))
		       : json_null(),
		"clone_id", gw_cli_json_u64(v->x.disks[i].clone_id), "export",
		running(v) ? json_string(export) : json_null());
}

static json_t *opt_ms(bool set, uint64_t ms)
{
	return set ? gw_cli_json_time_ms(ms) : json_null();
}

json_t *gw_cli_fo_view_json(const struct gw_cli_fo_view *v)
{
	const struct tenant_test *x = &v->x;
	uint64_t rpo = gw_cli_fo_ms(x->rp_created_ms, x->started_ms);
	json_t *disks = json_array();
	uint32_t i;

	for (i = 0; disks && i < x->ndisks; i++)
		if (json_array_append_new(disks, view_disk_json(v, i)))
			break;
	if (disks && i < x->ndisks) {
		json_decref(disks);
		disks = NULL;
	}
	return json_pack(
		"{s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, "
		"s:o, s:o, s:o, s:o, s:o}",
		"id", gw_cli_json_u64(x->id), "tenant", v->tenant, "vm", x->vm,
		"state", gw_cli_fo_state_name(x->state), "started",
		gw_cli_json_time_ms(x->started_ms), "started_ms",
		gw_cli_json_u64(x->started_ms), "stopped",
		opt_ms(!running(v), x->stopped_ms), "stopped_ms",
		running(v) ? json_null() : gw_cli_json_u64(x->stopped_ms),
		"duration_ms", gw_cli_json_u64(duration_ms(v)), "rp_created",
		gw_cli_json_time_ms(x->rp_created_ms), "rpo_ms",
		gw_cli_json_u64(rpo), "rpo_s", gw_cli_json_u64(rpo / 1000),
		"bytes_written",
		running(v) ? json_null() : gw_cli_json_u64(x->bytes_written),
		"note", x->note[0] ? json_string(x->note) : json_null(),
		"disks", disks);
}

static void view_print(const struct gw_cli_fo_view *v)
{
	const struct tenant_test *x = &v->x;
	char started[40], stopped[40], dur[32], rpo[32], bytes[32];
	uint32_t i;

	gw_cli_fmt_time_ms(x->started_ms, started, sizeof(started));
	gw_cli_fmt_time_ms(x->stopped_ms, stopped, sizeof(stopped));
	gw_cli_fo_fmt_age(duration_ms(v), dur, sizeof(dur));
	gw_cli_fo_fmt_age(gw_cli_fo_ms(x->rp_created_ms, x->started_ms), rpo,
			  sizeof(rpo));
	gw_cli_fmt_size(x->bytes_written, bytes, sizeof(bytes));
	printf("Failover test %" PRIu64 " of %s/%s: %s\n"
	       "  started:       %s\n"
	       "  stopped:       %s\n"
	       "  duration:      %s%s\n"
	       "  RPO achieved:  %s (age of the restore point at start)\n",
	       x->id, v->tenant, x->vm, gw_cli_fo_state_name(x->state), started,
	       running(v) ? "-" : stopped, dur, running(v) ? " so far" : "",
	       rpo);
	if (running(v))
		printf("  bytes written: counted when the test stops\n");
	else
		printf("  bytes written: %s (%" PRIu64 " bytes)\n", bytes,
		       x->bytes_written);
	printf("  note:          %s\n", x->note[0] ? x->note : "-");
	for (i = 0; i < x->ndisks; i++) {
		char created[40] = "removed", age[32] = "-",
		     export[GW_CLI_FO_PATH_LEN];

		if (v->d[i].rp.id) {
			gw_cli_fmt_time_ms(v->d[i].rp.created_ms, created,
					   sizeof(created));
			gw_cli_fo_fmt_age(gw_cli_fo_ms(v->d[i].rp.created_ms,
						       x->started_ms),
					  age, sizeof(age));
		}
		view_export(v, i, export, sizeof(export));
		printf("  disk %s: restore point %" PRIu64 " (created %s, %s "
		       "old at start)%s%s\n",
		       v->d[i].name, x->disks[i].rp_id, created, age,
		       running(v) ? ", export " : "", running(v) ? export : "");
	}
}

int gw_cli_fo_get_test(struct tenant_catalog *cat, const char *arg,
		       struct tenant_test *x)
{
	unsigned long long id;
	char *end;
	int err;

	errno = 0;
	id = strtoull(arg, &end, 10);
	if (!gw_cli_fo_is_id(arg) || *end || errno || id == 0) {
		gw_cli_fail("invalid failover test id '%s'", arg);
		return -EINVAL;
	}
	err = tenant_test_get(cat, id, x);
	if (err == -ENOENT)
		gw_cli_fail("failover test %s does not exist", arg);
	else if (err < 0)
		gw_cli_fail("cannot read failover test %s: %s", arg,
			    gw_cli_strerror(err));
	return err;
}

/* ---- failover test list|show ---- */

struct test_pick {
	struct tenant_catalog *cat;
	uint64_t tenant_id; /* 0: every tenant */
	const char *vm;	    /* NULL: every VM */
	bool running_only;
	struct gw_cli_vec *v; /* struct gw_cli_fo_view */
};

static int pick_test(const struct tenant_test *x, void *arg)
{
	struct test_pick *pk = arg;
	struct gw_cli_fo_view v;

	if ((pk->tenant_id && x->tenant_id != pk->tenant_id) ||
	    (pk->vm && strcmp(x->vm, pk->vm) != 0) ||
	    (pk->running_only && x->state != TENANT_TEST_RUNNING))
		return 0;
	gw_cli_fo_load_view(pk->cat, x, &v);
	return gw_cli_vec_push(pk->v, &v);
}

/* Copies the tests out; reports. */
static int load_tests(struct test_pick *pk)
{
	int err;

	gw_cli_vec_init(pk->v, sizeof(struct gw_cli_fo_view));
	err = tenant_test_list(pk->cat, pick_test, pk);
	if (err < 0) {
		gw_cli_vec_free(pk->v);
		gw_cli_fail("cannot list failover tests: %s",
			    gw_cli_strerror(err));
	}
	return err;
}

static int print_tests_json(const struct gw_cli_vec *tests)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < tests->n; i++) {
		if (json_array_append_new(
			    arr,
			    gw_cli_fo_view_json(gw_cli_vec_at(tests, i)))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return gw_cli_json_print(arr);
}

static int print_tests(const struct gw_cli_vec *tests)
{
	static const char *const cols[] = {">ID",      "VM",	  "STATE",
					   ">RPO",     "STARTED", ">DURATION",
					   ">WRITTEN", "NOTE"};
	char id[24], vmp[GW_CLI_FO_PATH_LEN], rpo[32], started[40], dur[32],
		bytes[32];
	struct gw_cli_table *tab = NULL;
	size_t i;
	int err;

	err = gw_cli_table_new(cols, 8, &tab);
	for (i = 0; err == 0 && i < tests->n; i++) {
		const struct gw_cli_fo_view *v = gw_cli_vec_at(tests, i);
		const char *row[] = {id,
				     vmp,
				     gw_cli_fo_state_name(v->x.state),
				     rpo,
				     started,
				     dur,
				     running(v) ? "-" : bytes,
				     v->x.note[0] ? v->x.note : "-"};

		snprintf(id, sizeof(id), "%" PRIu64, v->x.id);
		snprintf(vmp, sizeof(vmp), "%s/%s", v->tenant, v->x.vm);
		gw_cli_fo_fmt_age(
			gw_cli_fo_ms(v->x.rp_created_ms, v->x.started_ms), rpo,
			sizeof(rpo));
		gw_cli_fmt_time_ms(v->x.started_ms, started, sizeof(started));
		gw_cli_fo_fmt_age(duration_ms(v), dur, sizeof(dur));
		gw_cli_fmt_size(v->x.bytes_written, bytes, sizeof(bytes));
		err = gw_cli_table_add(tab, row);
	}
	if (err == 0)
		gw_cli_table_print(tab);
	else
		gw_cli_fail("cannot print failover tests: %s", strerror(-err));
	gw_cli_table_free(tab);
	return err;
}

int gw_cli_fo_test_list(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec tests = {0};
	struct test_pick pk = {.v = &tests};
	struct tenant_info t;
	bool json = false;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, list_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 0, 1, "TENANT") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	pk.cat = cat;
	if (optind < argc) {
		if (gw_cli_tenant_get(cat, argv[optind], &t) < 0)
			goto out;
		pk.tenant_id = t.id;
	}
	if (load_tests(&pk) < 0)
		goto out;
	tenant_catalog_close(cat);
	cat = NULL;
	if ((json ? print_tests_json(&tests) : print_tests(&tests)) == 0)
		rc = GW_CLI_OK;
out:
	gw_cli_vec_free(&tests);
	tenant_catalog_close(cat);
	return rc;
}

int gw_cli_fo_test_show(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct tenant_test x;
	struct gw_cli_fo_view v;
	bool json = false;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, show_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "test ID") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_fo_get_test(cat, argv[optind], &x) < 0)
		goto out;
	gw_cli_fo_load_view(cat, &x, &v);
	tenant_catalog_close(cat);
	cat = NULL;
	if (!json)
		view_print(&v);
	if (!json || gw_cli_json_print(gw_cli_fo_view_json(&v)) == 0)
		rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

/* ---- failover status ---- */

struct status {
	struct gw_cli_fo_vm vm;
	bool failed_over;
	struct tenant_failover f;
	struct gw_cli_vec tests; /* struct gw_cli_fo_view, running */
	struct tenant_rp latest[GW_CLI_FO_MAX_DISKS]; /* id 0: none */
	uint64_t now;
};

static json_t *status_disk_json(const struct status *s, size_t i)
{
	const struct tenant_rp *rp = &s->latest[i];
	char path[GW_CLI_FO_PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s/%s", s->vm.t.name, s->vm.name,
		 gw_cli_fo_disk(&s->vm, i)->name);
	return json_pack(
		"{s:s, s:o, s:o, s:o, s:o}", "disk", path, "latest_rp",
		rp->id ? gw_cli_json_u64(rp->id) : json_null(),
		"latest_rp_created",
		rp->id ? gw_cli_json_time_ms(rp->created_ms) : json_null(),
		"latest_rp_age_ms",
		rp->id ? gw_cli_json_u64(gw_cli_fo_ms(rp->created_ms, s->now))
		       : json_null(),
		"failover_rp",
		s->failed_over && i < s->f.ndisks
			? gw_cli_json_u64(s->f.disks[i].rp_id)
			: json_null());
}

static json_t *status_json(const struct status *s)
{
	json_t *disks = json_array(), *tests = json_array();
	char vmp[GW_CLI_FO_PATH_LEN];
	size_t i;
	int err = !disks || !tests;

	for (i = 0; !err && i < s->vm.disks.n; i++)
		err = json_array_append_new(disks, status_disk_json(s, i));
	for (i = 0; !err && i < s->tests.n; i++)
		err = json_array_append_new(
			tests,
			gw_cli_fo_view_json(gw_cli_vec_at(&s->tests, i)));
	if (err) {
		json_decref(disks);
		json_decref(tests);
		return NULL;
	}
	snprintf(vmp, sizeof(vmp), "%s/%s", s->vm.t.name, s->vm.name);
	return json_pack("{s:s, s:s, s:o, s:o, s:o}", "vm", vmp, "state",
			 s->failed_over ? "failed_over" : "replicating",
			 "failed_over_since",
			 opt_ms(s->failed_over, s->f.promoted_ms), "disks",
			 disks, "tests", tests);
}

static void status_print(const struct status *s)
{
	const struct gw_cli_fo_vm *vm = &s->vm;
	char when[40], age[32];
	size_t i;

	printf("%s/%s: ", vm->t.name, vm->name);
	if (!s->failed_over) {
		printf("replicating\n");
	} else {
		gw_cli_fmt_time_ms(s->f.promoted_ms, when, sizeof(when));
		gw_cli_fo_fmt_age(gw_cli_fo_ms(s->f.promoted_ms, s->now), age,
				  sizeof(age));
		printf("failed over since %s (%s ago) from restore point(s)",
		       when, age);
		for (i = 0; i < s->f.ndisks && i < vm->disks.n; i++)
			printf(" %s@%" PRIu64, gw_cli_fo_disk(vm, i)->name,
			       s->f.disks[i].rp_id);
		printf("; operators open %s/%s/DISK\n", vm->t.name, vm->name);
	}
	for (i = 0; i < s->tests.n; i++) {
		const struct gw_cli_fo_view *v = gw_cli_vec_at(&s->tests, i);

		gw_cli_fmt_time_ms(v->x.started_ms, when, sizeof(when));
		printf("  running test %" PRIu64 " since %s (exports "
		       "%s/%s/DISK@test-%" PRIu64 ")\n",
		       v->x.id, when, vm->t.name, vm->name, v->x.id);
	}
	for (i = 0; i < vm->disks.n; i++) {
		if (!s->latest[i].id) {
			printf("  disk %s: no restore point yet\n",
			       gw_cli_fo_disk(vm, i)->name);
			continue;
		}
		gw_cli_fo_fmt_age(gw_cli_fo_ms(s->latest[i].created_ms, s->now),
				  age, sizeof(age));
		printf("  disk %s: newest restore point %" PRIu64 ", %s old\n",
		       gw_cli_fo_disk(vm, i)->name, s->latest[i].id, age);
	}
}

/* Everything status shows, copied out; reports. */
static int status_load(struct tenant_catalog *cat, const char *arg,
		       struct status *s)
{
	struct test_pick pk = {.cat = cat, .running_only = true};
	size_t i;
	int err;

	err = gw_cli_fo_load_vm(cat, arg, &s->vm);
	if (err < 0)
		return err;
	err = tenant_failover_get(cat, s->vm.t.id, s->vm.name, &s->f);
	s->failed_over = err == 0;
	if (err < 0 && err != -ENOENT) {
		gw_cli_fail("cannot read the failover state of %s: %s", arg,
			    gw_cli_strerror(err));
		return err;
	}
	for (i = 0; i < s->vm.disks.n; i++) {
		err = tenant_rp_find(cat, gw_cli_fo_disk(&s->vm, i)->id,
				     "latest", &s->latest[i]);
		if (err < 0)
			s->latest[i].id = 0;
	}
	pk.tenant_id = s->vm.t.id;
	pk.vm = s->vm.name;
	pk.v = &s->tests;
	s->now = gw_cli_now_ms();
	return load_tests(&pk);
}

int gw_cli_fo_status(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct status s;
	bool json = false;
	int rc;

	memset(&s, 0, sizeof(s));
	gw_cli_vec_init(&s.vm.disks, sizeof(struct tenant_disk));
	gw_cli_vec_init(&s.tests, sizeof(struct gw_cli_fo_view));
	rc = gw_cli_opts_json(cli, argc, argv, status_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (status_load(cat, argv[optind], &s) < 0)
		goto out;
	tenant_catalog_close(cat);
	cat = NULL;
	if (!json)
		status_print(&s);
	if (!json || gw_cli_json_print(status_json(&s)) == 0)
		rc = GW_CLI_OK;
out:
	gw_cli_vec_free(&s.tests);
	gw_cli_vec_free(&s.vm.disks);
	tenant_catalog_close(cat);
	return rc;
}
