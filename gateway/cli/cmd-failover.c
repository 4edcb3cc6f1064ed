/* havenctl failover: the command table, and the commands that change
 * things (test start and stop, promote); cmd-failover-show.c shows them.
 *
 * Both work on writable clones of a VM's disks at one restore point.  A
 * clone is a catalog record only: its objects, named by its clone id,
 * appear as the operator writes (copy-up per extent), so starting a test
 * or promoting a VM costs the same whatever the disk size.  havend serves
 * the clones by name (TENANT/VM/DISK@test-ID, or TENANT/VM/DISK once the
 * VM is failed over) to operator certificates only.  Stopping a test
 * deletes the clone's objects: havend does it if it runs (it closes the
 * sessions on the clone first), havenctl otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-failover.h"
#include "storage.h"

static const char failover_usage[] =
	"Usage: havenctl [-d DIR] failover COMMAND [ARGS]...\n"
	"Disaster recovery of a tenant's VM: DR tests on writable clones of a\n"
	"restore point while replication goes on, and failover.\n";

static const char test_usage[] =
	"Usage: havenctl [-d DIR] failover test COMMAND [ARGS]...\n"
	"DR tests: a writable clone of every disk of a VM at one restore\n"
	"point, exported to operators as TENANT/VM/DISK@test-ID while the\n"
	"tenant keeps replicating into the live disks.\n";

static const char start_usage[] =
	"Usage: havenctl [-d DIR] failover test start TENANT/VM [--rp "
	"RP|latest] [--json]\n"
	"Start a DR test: a writable clone of every disk of the VM at one\n"
	"consistent restore point (instant, whatever the disk size).  The\n"
	"restore points stay pinned until the test stops.\n"
	"\n"
	"  --rp RP     the restore point of the first disk (by name): a name,\n"
	"              'latest' (default) or an id; the other disks use the\n"
	"              points of its consistency group, or the same name.  An\n"
	"              id needs a single-disk VM or a consistency group.\n"
	"  --json      print the test as a JSON object\n"
	"  -h, --help  show this help\n";

static const char stop_usage[] =
	"Usage: havenctl [-d DIR] failover test stop ID [--note TEXT]\n"
	"Stop a DR test: close the sessions on its clones, delete the clones'\n"
	"objects and unpin the restore points.  If havend runs, it does it.\n"
	"\n"
	"  --note TEXT  the result, kept with the test (up to 199 bytes)\n"
	"  -h, --help   show this help\n";

static const char promote_usage[] =
	"Usage: havenctl [-d DIR] failover promote TENANT/VM --rp RP|latest\n"
	"Fail a VM over: refuse the tenant's replication into its disks and\n"
	"serve writable disks made from the restore point to operators as\n"
	"TENANT/VM/DISK (kept across restarts).\n"
	"\n"
	"  --rp RP     the restore point, chosen as for 'failover test start'\n"
	"  -h, --help  show this help\n";

/* ---- helpers ---- */

const struct tenant_disk *gw_cli_fo_disk(const struct gw_cli_fo_vm *vm,
					 size_t i)
{
	return gw_cli_vec_at(&vm->disks, i);
}

static int pick_vm(const struct tenant_disk *d, void *arg)
{
	struct gw_cli_fo_vm *vm = arg;

	return strcmp(d->vm, vm->name) ? 0 : gw_cli_vec_push(&vm->disks, d);
}

/* tenant_disk_list orders a tenant's disks by VM, then name. */
int gw_cli_fo_load_vm(struct tenant_catalog *cat, const char *arg,
		      struct gw_cli_fo_vm *vm)
{
	struct gw_cli_path p;
	int err;

	err = gw_cli_parse_path(arg, true, &p);
	if (err == 0 && p.disk[0]) {
		gw_cli_fail("invalid VM '%s': use TENANT/VM", arg);
		return -EINVAL;
	}
	if (err == 0)
		err = gw_cli_tenant_get(cat, p.tenant, &vm->t);
	if (err < 0)
		return err;
	snprintf(vm->name, sizeof(vm->name), "%s", p.vm);
	err = tenant_disk_list(cat, vm->t.id, pick_vm, vm);
	if (err < 0) {
		gw_cli_fail("cannot list the disks of '%s': %s", arg,
			    gw_cli_strerror(err));
	} else if (vm->disks.n == 0) {
		gw_cli_fail("VM '%s' has no disks", arg);
		err = -ENOENT;
	} else if (vm->disks.n > GW_CLI_FO_MAX_DISKS) {
		gw_cli_fail("VM '%s' has %zu disks; at most %d can fail over",
			    arg, vm->disks.n, GW_CLI_FO_MAX_DISKS);
		err = -E2BIG;
	}
	return err;
}

bool gw_cli_fo_is_id(const char *s)
{
	return s[0] && strspn(s, "0123456789") == strlen(s);
}

/* The restore point of a disk in a consistency group. */
static int find_in_group(struct tenant_catalog *cat, uint64_t disk_id,
			 uint64_t group, struct tenant_rp *out)
{
	struct gw_cli_vec rps;
	size_t i;
	int err = -ENOENT;

	if (gw_cli_load_rps(cat, disk_id, &rps) < 0)
		return -EIO;
	for (i = 0; err && i < rps.n; i++) {
		const struct tenant_rp *rp = gw_cli_vec_at(&rps, i);

		if (rp->group == group) {
			*out = *rp;
			err = 0;
		}
	}
	gw_cli_vec_free(&rps);
	return err;
}

/* One consistent point for every disk: 'spec' on the first disk, then
 * its consistency group, or the same spec on each disk.  Reports. */
static int resolve_rps(struct tenant_catalog *cat,
		       const struct gw_cli_fo_vm *vm, const char *spec,
		       struct tenant_rp *rps)
{
	const char *tn = vm->t.name;
	size_t i;
	int err;

	for (i = 0; i < vm->disks.n; i++) {
		const struct tenant_disk *d = gw_cli_fo_disk(vm, i);
		bool grouped = i > 0 && rps[0].group;

		err = grouped ? find_in_group(cat, d->id, rps[0].group, &rps[i])
			      : tenant_rp_find(cat, d->id, spec, &rps[i]);
		if (err == -EIO && grouped)
			return err; /* reported */
		if ((err == -ENOENT || err == -EINVAL) && grouped) {
			gw_cli_fail("disk %s/%s/%s has no restore point of "
				    "consistency group %" PRIu64
				    " (restore point %" PRIu64 " of %s)",
				    tn, d->vm, d->name, rps[0].group, rps[0].id,
				    gw_cli_fo_disk(vm, 0)->name);
			return -ENOENT;
		}
		if (err == -ENOENT || err == -EINVAL) {
			gw_cli_fail("disk %s/%s/%s has no restore point '%s'",
				    tn, d->vm, d->name, spec);
			return -ENOENT;
		}
		if (err < 0) {
			gw_cli_fail("cannot read the restore points of "
				    "%s/%s/%s: %s",
				    tn, d->vm, d->name, gw_cli_strerror(err));
			return err;
		}
		if (i == 0 && vm->disks.n > 1 && gw_cli_fo_is_id(spec) &&
		    !rps[0].group) {
			gw_cli_fail(
				"restore point %s of %s/%s/%s was not cut "
				"with the VM's other disks, and ids are per "
				"disk: use a name, 'latest', or an id of a "
				"consistency group",
				spec, tn, d->vm, d->name);
			return -EINVAL;
		}
	}
	return 0;
}

/* The restore points picked, with their age at 'at_ms'. */
static void print_picks(const struct gw_cli_fo_vm *vm,
			const struct tenant_rp *rps, uint64_t at_ms)
{
	size_t i;

	for (i = 0; i < vm->disks.n; i++) {
		char created[40], age[32];

		gw_cli_fmt_time_ms(rps[i].created_ms, created, sizeof(created));
		gw_cli_fo_fmt_age(gw_cli_fo_ms(rps[i].created_ms, at_ms), age,
				  sizeof(age));
		printf("  %s/%s/%s  restore point %" PRIu64 "%s%s%s  created "
		       "%s (%s old)\n",
		       vm->t.name, vm->name, gw_cli_fo_disk(vm, i)->name,
		       rps[i].id, rps[i].name[0] ? " (" : "", rps[i].name,
		       rps[i].name[0] ? ")" : "", created, age);
	}
}

static void print_open_hint(const char *example)
{
	printf("Open them with an operator bundle (havenctl cert issue "
	       "--operator --site NAME --out DIR), e.g.:\n"
	       "  nbdinfo 'nbds://GATEWAY:%d/%s?tls-certificates=DIR'\n"
	       "  qemu-img info --object tls-creds-x509,id=tls0,"
	       "endpoint=client,dir=DIR --image-opts driver=nbd,"
	       "server.type=inet,server.host=GATEWAY,server.port=%d,"
	       "export=%s,tls-creds=tls0\n",
	       GW_CLI_PORT, example, GW_CLI_PORT, example);
}

/* ---- failover test start ---- */

/* The options of test start (usage start_usage, json non-NULL) and of
 * promote (usage promote_usage, json NULL). */
static int rp_opts(struct gw_cli *cli, int argc, char **argv, const char *usage,
		   const char **rp, bool *json)
{
	static const struct option opts[] = {
		{"rp", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'r') {
			*rp = optarg;
		} else if (c == 'j' && json) {
			*json = true;
		} else if (c == 'h') {
			gw_cli_help(usage);
			return GW_CLI_DONE;
		} else if (c == 'j') {
			return gw_cli_usage_error(cli,
						  "unknown option '--json'");
		} else {
			return GW_CLI_USAGE;
		}
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM") < 0)
		return GW_CLI_USAGE;
	return GW_CLI_OK;
}

static void start_print(const struct gw_cli_fo_vm *vm,
			const struct tenant_test *x,
			const struct tenant_rp *rps)
{
	char rpo[32], example[GW_CLI_FO_PATH_LEN];
	size_t i;

	gw_cli_fo_fmt_age(gw_cli_fo_ms(x->rp_created_ms, x->started_ms), rpo,
			  sizeof(rpo));
	printf("Started failover test %" PRIu64 " of %s/%s at:\n", x->id,
	       vm->t.name, vm->name);
	print_picks(vm, rps, x->started_ms);
	printf("RPO achieved: %s.  Replication into the live disks goes on.\n"
	       "Operator exports (writable clones):\n",
	       rpo);
	for (i = 0; i < vm->disks.n; i++)
		printf("  %s/%s/%s@test-%" PRIu64 "\n", vm->t.name, vm->name,
		       gw_cli_fo_disk(vm, i)->name, x->id);
	snprintf(example, sizeof(example), "%s/%s/%s@test-%" PRIu64, vm->t.name,
		 vm->name, gw_cli_fo_disk(vm, 0)->name, x->id);
	print_open_hint(example);
	printf("Stop it with: havenctl failover test stop %" PRIu64
	       " --note TEXT\n",
	       x->id);
}

static int test_start_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct tenant_rp rps[GW_CLI_FO_MAX_DISKS];
	struct tenant_test x = {0};
	struct gw_cli_fo_vm vm = {.name = ""};
	const char *spec = "latest";
	struct gw_cli_fo_view v;
	bool json = false;
	size_t i;
	int rc, err;

	gw_cli_vec_init(&vm.disks, sizeof(struct tenant_disk));
	rc = rp_opts(cli, argc, argv, start_usage, &spec, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_fo_load_vm(cat, argv[optind], &vm) < 0 ||
	    resolve_rps(cat, &vm, spec, rps) < 0)
		goto out;
	x.tenant_id = vm.t.id;
	snprintf(x.vm, sizeof(x.vm), "%s", vm.name);
	x.state = TENANT_TEST_RUNNING;
	x.started_ms = gw_cli_now_ms();
	x.rp_created_ms = rps[0].created_ms;
	x.ndisks = (uint32_t)vm.disks.n;
	for (i = 0; i < vm.disks.n; i++) {
		x.disks[i].disk_id = gw_cli_fo_disk(&vm, i)->id;
		x.disks[i].rp_id = rps[i].id;
		/* The oldest point is the RPO the test achieved. */
		if (rps[i].created_ms < x.rp_created_ms)
			x.rp_created_ms = rps[i].created_ms;
	}
	err = tenant_test_add(cat, &x);
	if (err < 0) {
		gw_cli_fail("cannot start a failover test of %s: %s",
			    argv[optind], gw_cli_strerror(err));
		goto out;
	}
	if (json) {
		gw_cli_fo_load_view(cat, &x, &v);
		if (gw_cli_json_print(gw_cli_fo_view_json(&v)) < 0)
			goto out;
	} else {
		start_print(&vm, &x, rps);
	}
	rc = GW_CLI_OK;
out:
	gw_cli_vec_free(&vm.disks);
	tenant_catalog_close(cat);
	return rc;
}

/* ---- failover test stop ---- */

/* Deletes the clones and records the result alone (the lock is ours). */
static int direct_stop(struct tenant_catalog *cat, struct tenant_test *x,
		       const char *note)
{
	struct gw_cli_store s = {0};
	struct tenant_info t;
	struct tenant_disk td;
	uint64_t objects, bytes, total = 0;
	uint32_t i;
	int err;

	err = tenant_get(cat, x->tenant_id, &t);
	if (err == 0)
		err = gw_cli_store_open(cat, &t, &s);
	for (i = 0; err == 0 && i < x->ndisks && i < GW_CLI_FO_MAX_DISKS; i++) {
		uint64_t id = x->disks[i].clone_id;

		err = tenant_disk_get_by_id(cat, x->disks[i].disk_id, &td);
		if (err == 0)
			err = storage_disk_usage(s.st, t.ns, id, &objects,
						 &bytes);
		if (err == 0) {
			total += bytes;
			err = storage_disk_destroy(s.st, t.ns, id, td.size,
						   td.extent_size);
		}
	}
	if (err == 0) {
		x->state = TENANT_TEST_STOPPED;
		x->stopped_ms = gw_cli_now_ms();
		x->bytes_written = total;
		snprintf(x->note, sizeof(x->note), "%s", note);
		err = tenant_test_finish(cat, x);
	}
	if (err < 0)
		gw_cli_fail("cannot stop failover test %" PRIu64 ": %s", x->id,
			    gw_cli_strerror(err));
	gw_cli_store_close(&s);
	return err;
}

/* Through havend if it runs, else alone; reports.  *x is the result. */
static int stop_test(struct gw_cli *cli, struct tenant_catalog *cat,
		     struct tenant_test *x, const char *note)
{
	struct tenant_req req = {.type = TENANT_REQ_TEST_STOP};
	struct gw_cli_lock lk = {-1, false};
	uint64_t id = x->id;
	int err;

	err = gw_cli_lock_take(cli, &lk);
	if (err == 0 && !lk.held) {
		req.tenant_id = x->tenant_id;
		snprintf(req.vm, sizeof(req.vm), "%s", x->vm);
		req.rp_id = id;
		snprintf(req.name, sizeof(req.name), "%s", note);
		err = gw_cli_request(cat, &lk, &req);
	}
	if (err < 0)
		goto out; /* reported */
	/* Alone if havend was not running or stopped before answering;
	 * what we read before may be stale either way. */
	err = tenant_test_get(cat, id, x);
	if (err == 0 && lk.held && x->state != TENANT_TEST_RUNNING) {
		gw_cli_fail("failover test %" PRIu64 " is not running any more",
			    id);
		err = -EALREADY;
	} else if (err == 0 && lk.held) {
		err = direct_stop(cat, x, note);
	} else if (err < 0) {
		gw_cli_fail("cannot read failover test %" PRIu64 ": %s", id,
			    gw_cli_strerror(err));
	}
out:
	gw_cli_lock_release(&lk);
	return err;
}

static int check_note(const char *note)
{
	const char *p;

	/* havend gets the note in a request's name field. */
	if (strlen(note) > TENANT_REQ_NAME_MAX) {
		gw_cli_fail("note too long (%zu bytes): at most %d bytes",
			    strlen(note), TENANT_REQ_NAME_MAX);
		return -EINVAL;
	}
	for (p = note; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			gw_cli_fail("invalid note: control characters");
			return -EINVAL;
		}
	}
	return 0;
}

static int test_stop_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"note", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	const char *note = "";
	struct gw_cli_fo_view v;
	struct tenant_test x;
	char dur[32], bytes[32];
	int c, rc = GW_CLI_FAIL;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'n')
			note = optarg;
		else if (c == 'h')
			return gw_cli_help(stop_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "test ID") < 0)
		return GW_CLI_USAGE;
	if (check_note(note) < 0 || gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	if (gw_cli_fo_get_test(cat, argv[optind], &x) < 0)
		goto out;
	gw_cli_fo_load_view(cat, &x, &v);
	gw_cli_audit_tenant(v.tenant);
	if (x.state != TENANT_TEST_RUNNING) {
		gw_cli_fail("failover test %" PRIu64 " is not running (%s)",
			    x.id, gw_cli_fo_state_name(x.state));
		goto out;
	}
	if (stop_test(cli, cat, &x, note) < 0)
		goto out;
	gw_cli_fo_load_view(cat, &x, &v);
	gw_cli_fo_fmt_age(gw_cli_fo_ms(x.started_ms, x.stopped_ms), dur,
			  sizeof(dur));
	gw_cli_fmt_size(x.bytes_written, bytes, sizeof(bytes));
	printf("Stopped failover test %" PRIu64 " of %s/%s after %s; %s "
	       "written by the test (%" PRIu64 " bytes), its clones deleted.\n",
	       x.id, v.tenant, x.vm, dur, bytes, x.bytes_written);
	if (x.note[0])
		printf("Note: %s\n", x.note);
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

/* ---- failover promote ---- */

static void promote_print(const struct gw_cli_fo_vm *vm,
			  const struct tenant_rp *rps, uint64_t now)
{
	size_t i;
	char example[GW_CLI_FO_PATH_LEN];

	printf("VM %s/%s is failed over to:\n", vm->t.name, vm->name);
	print_picks(vm, rps, now);
	printf("Tenant '%s' can no longer replicate into %s (its sessions on "
	       "it are closed).\n"
	       "Operator exports (writable, kept across restarts):\n",
	       vm->t.name, vm->name);
	for (i = 0; i < vm->disks.n; i++)
		printf("  %s/%s/%s\n", vm->t.name, vm->name,
		       gw_cli_fo_disk(vm, i)->name);
	snprintf(example, sizeof(example), "%s/%s/%s", vm->t.name, vm->name,
		 gw_cli_fo_disk(vm, 0)->name);
	print_open_hint(example);
}

static int promote_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct tenant_rp rps[GW_CLI_FO_MAX_DISKS];
	struct tenant_failover f = {0};
	struct gw_cli_fo_vm vm = {.name = ""};
	const char *spec = NULL;
	char since[40];
	size_t i;
	int rc, err;

	gw_cli_vec_init(&vm.disks, sizeof(struct tenant_disk));
	rc = rp_opts(cli, argc, argv, promote_usage, &spec, NULL);
	if (rc)
		return gw_cli_exit(rc);
	if (!spec)
		return gw_cli_usage_error(cli, "missing --rp RP|latest");
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_fo_load_vm(cat, argv[optind], &vm) < 0 ||
	    resolve_rps(cat, &vm, spec, rps) < 0)
		goto out;
	f.tenant_id = vm.t.id;
	snprintf(f.vm, sizeof(f.vm), "%s", vm.name);
	f.promoted_ms = gw_cli_now_ms();
	f.ndisks = (uint32_t)vm.disks.n;
	for (i = 0; i < vm.disks.n; i++) {
		f.disks[i].disk_id = gw_cli_fo_disk(&vm, i)->id;
		f.disks[i].rp_id = rps[i].id;
	}
	err = tenant_failover_add(cat, &f);
	if (err == -EEXIST &&
	    tenant_failover_get(cat, vm.t.id, vm.name, &f) == 0) {
		gw_cli_fmt_time_ms(f.promoted_ms, since, sizeof(since));
		gw_cli_fail("VM %s is failed over already (since %s)",
			    argv[optind], since);
		goto out;
	} else if (err < 0) {
		gw_cli_fail("cannot fail over %s: %s", argv[optind],
			    gw_cli_strerror(err));
		goto out;
	}
	promote_print(&vm, rps, f.promoted_ms);
	rc = GW_CLI_OK;
out:
	gw_cli_vec_free(&vm.disks);
	tenant_catalog_close(cat);
	return rc;
}

/* ---- tables ---- */

static const struct gw_cli_cmd test_cmds[] = {
	{"start", test_start_cmd, "start a DR test on clones of a VM"},
	{"stop", test_stop_cmd, "stop a DR test and delete its clones"},
	{"list", gw_cli_fo_test_list, "list DR tests"},
	{"show", gw_cli_fo_test_show, "show a DR test"},
};

static int test_cmd(struct gw_cli *cli, int argc, char **argv)
{
	/* Usage errors and hints then name "failover test start". */
	static char group[] = "failover test";

	argv[0] = group;
	return gw_cli_dispatch(cli, test_usage, test_cmds,
			       sizeof(test_cmds) / sizeof(test_cmds[0]), argc,
			       argv);
}

static const struct gw_cli_cmd failover_cmds[] = {
	{"test", test_cmd, "start, stop, list and show DR tests"},
	{"promote", promote_cmd, "fail a VM over to a restore point"},
	{"status", gw_cli_fo_status, "show whether a VM is failed over"},
};

int gw_cli_cmd_failover(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, failover_usage, failover_cmds,
			       sizeof(failover_cmds) / sizeof(failover_cmds[0]),
			       argc, argv);
}
