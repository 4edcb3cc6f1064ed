/* havenctl disk create|list|show|set|resize|remove.  A disk is a catalog record
 * plus, once written, extent objects in its tenant's route; creating one
 * writes no object (absent extents read as zeros), removing one deletes
 * the objects before the record so that nothing is ever orphaned.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "storage.h"
#include "objstore.h"

#define EXTENT_MIN (UINT64_C(4) << 10)
/* RADOS refuses objects above osd_max_object_size (128 MiB by default);
 * half of that leaves room and still far exceeds any NBD request. */
#define EXTENT_MAX (UINT64_C(64) << 20)

static const char disk_usage[] =
	"Usage: havenctl [-d DIR] disk COMMAND [ARGS]...\n"
	"Manage tenants' disks.  A disk TENANT/VM/DISK is exported to the\n"
	"tenant's sites as VM/DISK.\n";

static const char create_usage[] =
	"Usage: havenctl [-d DIR] disk create TENANT/VM/DISK --size SIZE "
	"[--extent-size SIZE]\n"
	"Create an empty disk (it reads as zeros and takes no space).\n"
	"SIZE is bytes or a number with a K, M, G or T suffix (powers of "
	"1024).\n"
	"\n"
	"  --size SIZE          the disk size, a multiple of 512 bytes; "
	"refused\n"
	"                       over the tenant's max-provisioned or "
	"max-disks\n"
	"  --extent-size SIZE   the object size, a power of two from 4K to "
	"64M\n"
	"                       (default 4M); fixed for the disk's life\n"
	"  -h, --help           show this help\n";

static const char list_usage[] =
	"Usage: havenctl [-d DIR] disk list [TENANT] [--json]\n"
	"List the disks, all or those of one tenant.\n"
	"\n"
	"  --json      print a JSON array\n"
	"  -h, --help  show this help\n";

static const char remove_usage[] =
	"Usage: havenctl [-d DIR] disk remove TENANT/VM/DISK\n"
	"Remove a disk, its restore points and all its data.  This cannot be\n"
	"undone.  If havend runs, it removes the restore points.  Refused,\n"
	"with nothing removed, while a restore point is pinned or inside the\n"
	"tenant's immutability window.\n"
	"\n"
	"  -h, --help  show this help\n";

static const char set_usage[] =
	"Usage: havenctl [-d DIR] disk set TENANT/VM/DISK [--checkpoint "
	"SECONDS]\n"
	"                                  [--retention LADDER|inherit]\n"
	"                                  [--bandwidth RATE|0]\n"
	"Change a disk's settings (at least one).\n"
	"\n"
	"  --checkpoint SECONDS   cut a restore point at the first flush this\n"
	"                         long after the previous one (5 s to 30 "
	"days);\n"
	"                         0: use the tenant's interval\n"
	"  --retention LADDER     this disk's retention ladder, e.g.\n"
	"                         1h:all,1d:hourly,cap=100 (see tenant add\n"
	"                         --help); inherit: the tenant's\n"
	"  --bandwidth RATE       this disk's own limit in bytes/s, e.g. 20M,\n"
	"                         on top of the tenant's; 0: none\n"
	"  -h, --help             show this help\n";

static const char resize_usage[] =
	"Usage: havenctl [-d DIR] disk resize TENANT/VM/DISK --size SIZE\n"
	"Grow a disk (disks never shrink).  Sessions open now keep the old\n"
	"size; new ones see the new size.  If havend runs, it resizes.\n"
	"Refused over the tenant's max-provisioned.\n"
	"\n"
	"  --size SIZE   the new size, a multiple of 512 bytes, with an\n"
	"                optional K, M, G or T suffix\n"
	"  -h, --help    show this help\n";

/* Parses a --size or --extent-size value; reports. */
static int parse_size(const char *what, const char *arg, uint64_t *out)
{
	int err = tenant_parse_size(arg, out);

	if (err == 0 && *out > INT64_MAX)
		err = -ERANGE; /* qemu and the NBD clients use signed sizes */
	if (err == -ERANGE)
		gw_cli_fail("invalid %s '%s': too large", what, arg);
	else if (err < 0)
		gw_cli_fail("invalid %s '%s': use a number of bytes with an "
			    "optional K, M, G or T suffix",
			    what, arg);
	return err;
}

static int check_sizes(const char *size_arg, const char *extent_arg,
		       uint64_t *size, uint64_t *extent)
{
	if (parse_size("size", size_arg, size) < 0)
		return GW_CLI_FAIL;
	if (*size % 512)
		return gw_cli_fail("invalid size '%s': not a multiple of 512 "
				   "bytes",
				   size_arg);
	*extent = STORAGE_EXTENT_SIZE_DEFAULT;
	if (extent_arg && parse_size("extent size", extent_arg, extent) < 0)
		return GW_CLI_FAIL;
	if (*extent < EXTENT_MIN || *extent > EXTENT_MAX ||
	    (*extent & (*extent - 1)))
		return gw_cli_fail("invalid extent size '%s': use a power of "
				   "two from 4K to 64M",
				   extent_arg);
	return GW_CLI_OK;
}

json_t *gw_cli_disk_json(const struct tenant_disk *d, const char *tenant)
{
	char path[3 * (TENANT_NAME_MAX + 1)], export[2 * (TENANT_NAME_MAX + 1)];

	snprintf(path, sizeof(path), "%s/%s/%s", tenant, d->vm, d->name);
	snprintf(export, sizeof(export), "%s/%s", d->vm, d->name);
	return json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
			 "path", path, "id", gw_cli_json_u64(d->id), "tenant",
			 tenant, "vm", d->vm, "disk", d->name, "export", export,
			 "size", gw_cli_json_u64(d->size), "extent_size",
			 gw_cli_json_u64(d->extent_size), "created",
			 gw_cli_json_time(d->created));
}

int gw_cli_print_disks(const struct gw_cli_vec *disks,
		       const struct gw_cli_vec *tenants)
{
	static const char *const cols[] = {"DISK", ">SIZE", ">EXTENT SIZE",
					   "CREATED"};
	char path[3 * (TENANT_NAME_MAX + 1)], size[32], extent[32], created[32];
	struct gw_cli_table *tab = NULL;
	const char *tenant;
	size_t i;
	int err;

	err = gw_cli_table_new(cols, 4, &tab);
	for (i = 0; err == 0 && i < disks->n; i++) {
		const struct tenant_disk *d = gw_cli_vec_at(disks, i);
		const char *row[] = {path, size, extent, created};

		tenant = gw_cli_tenant_name(tenants, d->tenant_id);
		snprintf(path, sizeof(path), "%s/%s/%s", tenant ? tenant : "?",
			 d->vm, d->name);
		gw_cli_fmt_size(d->size, size, sizeof(size));
		gw_cli_fmt_size(d->extent_size, extent, sizeof(extent));
		gw_cli_fmt_time(d->created, created, sizeof(created));
		err = gw_cli_table_add(tab, row);
	}
	if (err == 0)
		gw_cli_table_print(tab);
	else
		gw_cli_fail("cannot print disks: %s", strerror(-err));
	gw_cli_table_free(tab);
	return err;
}

static int disk_create_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"size", required_argument, NULL, 's'},
		{"extent-size", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *size_arg = NULL, *extent_arg = NULL;
	struct tenant_catalog *cat = NULL;
	struct tenant_disk d = {0};
	struct tenant_info t;
	struct gw_cli_path p;
	uint64_t size, extent;
	char hsize[32], hextent[32];
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 's')
			size_arg = optarg;
		else if (c == 'e')
			extent_arg = optarg;
		else if (c == 'h')
			return gw_cli_help(create_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (!size_arg)
		return gw_cli_usage_error(cli, "missing --size SIZE");
	if (gw_cli_parse_path(argv[optind], false, &p) < 0)
		return GW_CLI_FAIL;
	rc = check_sizes(size_arg, extent_arg, &size, &extent);
	if (rc)
		return rc;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_tenant_get(cat, p.tenant, &t) < 0)
		goto out;
	d.tenant_id = t.id;
	snprintf(d.vm, sizeof(d.vm), "%s", p.vm);
	snprintf(d.name, sizeof(d.name), "%s", p.disk);
	d.size = size;
	d.extent_size = (uint32_t)extent;
	if (gw_cli_quota_check(cat, &t, 0, size, true) < 0)
		goto out;
	err = tenant_disk_add(cat, &d);
	if (err == -EDQUOT) {
		/* Another havenctl took the room since we looked. */
		if (gw_cli_quota_check(cat, &t, 0, size, true) == 0)
			gw_cli_fail("cannot create disk '%s': %s", argv[optind],
				    strerror(EDQUOT));
		goto out;
	} else if (err == -EEXIST) {
		gw_cli_fail("disk '%s' already exists", argv[optind]);
		goto out;
	} else if (err < 0) {
		gw_cli_fail("cannot create disk '%s': %s", argv[optind],
			    err == -ENOENT ? "the tenant does not exist"
					   : gw_cli_strerror(err));
		goto out;
	}
	gw_cli_fmt_size(size, hsize, sizeof(hsize));
	gw_cli_fmt_size(extent, hextent, sizeof(hextent));
	printf("Created disk %s/%s/%s (id %" PRIu64 "): %s, extent size %s.\n"
	       "Tenant '%s' reaches it as export '%s/%s'.\n",
	       p.tenant, p.vm, p.disk, d.id, hsize, hextent, p.tenant, p.vm,
	       p.disk);
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

static int disk_list_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec disks = {0}, tenants = {0};
	struct tenant_info t;
	bool json = false;
	json_t *arr;
	size_t i;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, list_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 0, 1, "") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if ((optind < argc && gw_cli_tenant_get(cat, argv[optind], &t) < 0) ||
	    gw_cli_load_tenants(cat, &tenants) < 0 ||
	    gw_cli_load_disks(cat, optind < argc ? t.id : 0, &disks) < 0)
		goto out;
	tenant_catalog_close(cat);
	cat = NULL;
	if (!json) {
		if (gw_cli_print_disks(&disks, &tenants) == 0)
			rc = GW_CLI_OK;
		goto out;
	}
	arr = json_array();
	for (i = 0; arr && i < disks.n; i++) {
		const struct tenant_disk *d = gw_cli_vec_at(&disks, i);
		const char *name = gw_cli_tenant_name(&tenants, d->tenant_id);

		if (json_array_append_new(
			    arr, gw_cli_disk_json(d, name ? name : "?"))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (gw_cli_json_print(arr) == 0)
		rc = GW_CLI_OK;
out:
	gw_cli_vec_free(&disks);
	gw_cli_vec_free(&tenants);
	tenant_catalog_close(cat);
	return rc;
}

static int check_holds(struct tenant_catalog *cat, const char *arg,
		       const struct tenant_disk *d)
{
	struct gw_cli_vec rps;
	char why[96];
	size_t i;
	int err;

	err = gw_cli_load_rps(cat, d->id, &rps);
	for (i = 0; err == 0 && i < rps.n; i++) {
		const struct tenant_rp *rp = gw_cli_vec_at(&rps, i);

		err = gw_cli_rp_hold(cat, d, rp, why, sizeof(why));
		if (err < 0)
			gw_cli_fail("disk remove %s: restore point %" PRIu64
				    " %s",
				    arg, rp->id, why);
	}
	gw_cli_vec_free(&rps);
	return err;
}

/* Removes every restore point of a disk, newest first, so that an
 * interrupted removal leaves the oldest ones (still consistent). */
static int remove_rps(struct tenant_catalog *cat, struct gw_cli_lock *lk,
		      const struct tenant_info *t, const struct tenant_disk *d,
		      size_t *removed)
{
	struct gw_cli_vec rps;
	size_t i;
	int err;

	err = gw_cli_load_rps(cat, d->id, &rps);
	for (i = rps.n; err == 0 && i-- > 0;) {
		err = gw_cli_rp_remove(cat, lk, t, d, gw_cli_vec_at(&rps, i));
		if (err == 0)
			(*removed)++;
	}
	gw_cli_vec_free(&rps);
	return err;
}

static int disk_remove_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_lock lk = {-1, false};
	struct gw_cli_store s = {0};
	struct tenant_info t;
	struct tenant_disk d;
	size_t nrps = 0;
	int rc, err;

	rc = gw_cli_opts_json(cli, argc, argv, remove_usage, NULL);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_disk_lookup(cat, argv[optind], &t, &d) < 0 ||
	    check_holds(cat, argv[optind], &d) < 0 ||
	    gw_cli_lock_take(cli, &lk) < 0)
		goto out;
	err = gw_cli_store_open(cat, &t, &s);
	if (err < 0) {
		gw_cli_fail("cannot open route '%s' of tenant '%s': %s",
			    t.route, t.name, gw_cli_strerror(err));
		goto out;
	}
	/* Restore points first (their snap ids go back to the store), then
	 * the objects, then the record: if this stops half-way, the record
	 * still names the disk and running the command again finishes. */
	if (remove_rps(cat, &lk, &t, &d, &nrps) < 0)
		goto out;
	err = storage_disk_destroy(s.st, t.ns, d.id, d.size, d.extent_size);
	if (err < 0) {
		gw_cli_fail("cannot remove the objects of disk '%s': %s",
			    argv[optind], gw_cli_strerror(err));
		goto out;
	}
	err = tenant_disk_remove(cat, d.id);
	if (err < 0 && err != -ENOENT) {
		gw_cli_fail("cannot remove disk '%s' from the catalog: %s",
			    argv[optind], gw_cli_strerror(err));
		goto out;
	}
	printf("Removed disk %s/%s/%s and its data", t.name, d.vm, d.name);
	if (nrps)
		printf(", with %zu restore point%s", nrps,
		       nrps == 1 ? "" : "s");
	printf(".\n");
	rc = GW_CLI_OK;
out:
	gw_cli_store_close(&s);
	gw_cli_lock_release(&lk);
	tenant_catalog_close(cat);
	return rc;
}

static int disk_set_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"checkpoint", required_argument, NULL, 'c'},
		{"retention", required_argument, NULL, 'R'},
		{"bandwidth", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char canon[TENANT_RETENTION_TEXT_MAX], rate[40], text[80];
	struct tenant_catalog *cat = NULL;
	const char *every = NULL, *ladder = NULL, *bw_arg = NULL;
	enum gw_rp_interval_from from;
	uint64_t bw = 0;
	struct gw_cli_policy pol;
	struct tenant_info t;
	struct tenant_disk d;
	uint32_t secs = 0;
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'c')
			every = optarg;
		else if (c == 'R')
			ladder = optarg;
		else if (c == 'b')
			bw_arg = optarg;
		else if (c == 'h')
			return gw_cli_help(set_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (!every && !ladder && !bw_arg)
		return gw_cli_usage_error(cli, "missing --checkpoint SECONDS, "
					       "--retention LADDER|inherit or "
					       "--bandwidth RATE");
	if ((every && gw_cli_parse_checkpoint(every, true, &secs) < 0) ||
	    (ladder &&
	     gw_cli_parse_retention(ladder, true, canon, sizeof(canon)) < 0) ||
	    (bw_arg && gw_cli_parse_rate(bw_arg, &bw) < 0))
		return GW_CLI_FAIL;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_disk_lookup(cat, argv[optind], &t, &d) < 0)
		goto out;
	err = every ? tenant_disk_set_checkpoint(cat, d.id, secs) : 0;
	if (err == 0 && ladder)
		err = tenant_disk_set_retention(cat, d.id, canon);
	if (err == 0 && bw_arg)
		err = tenant_disk_set_bandwidth(cat, d.id, bw);
	if (err < 0) {
		gw_cli_fail("cannot change disk '%s': %s", argv[optind],
			    gw_cli_strerror(err));
		goto out;
	}
	d.checkpoint_s = secs;
	if (every) {
		secs = gw_cli_interval(cli, &t, &d, &from);
		gw_cli_fmt_checkpoint(secs, from, text, sizeof(text));
		printf("Disk %s/%s/%s: restore point every %s.\n", t.name, d.vm,
		       d.name, text);
	}
	if (ladder && gw_cli_policy_get(cat, &t, &d, &pol) < 0)
		goto out;
	if (ladder)
		printf("Disk %s/%s/%s: retention %s%s.\n", t.name, d.vm, d.name,
		       pol.text, pol.inherited ? " (the tenant's)" : "");
	gw_cli_fmt_rate(bw, rate, sizeof(rate));
	if (bw_arg)
		printf("Disk %s/%s/%s: bandwidth %s (havend applies it within "
		       "a second).\n",
		       t.name, d.vm, d.name, rate);
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

/* Grows a disk in the catalog, through havend if it runs; reports. */
static int resize(struct tenant_catalog *cat, struct gw_cli_lock *lk,
		  const struct tenant_info *t, const struct tenant_disk *d,
		  uint64_t size)
{
	struct tenant_req req = {.type = TENANT_REQ_DISK_RESIZE};
	int err;

	if (!lk->held) {
		req.tenant_id = t->id;
		snprintf(req.vm, sizeof(req.vm), "%s", d->vm);
		req.disk_id = d->id;
		req.size = size;
		err = gw_cli_request(cat, lk, &req);
		if (err <= 0)
			return err;
	}
	err = tenant_disk_resize(cat, d->id, size);
	if (err < 0) {
		gw_cli_fail("cannot resize disk %s/%s/%s: %s", t->name, d->vm,
			    d->name, gw_cli_strerror(err));
		return err;
	}
	gw_cli_header_update(cat, t, d->id);
	return 0;
}

static int disk_resize_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"size", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	struct gw_cli_lock lk = {-1, false};
	const char *size_arg = NULL;
	struct tenant_info t;
	struct tenant_disk d;
	char old[32], new[32];
	uint64_t size;
	int c, rc;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 's')
			size_arg = optarg;
		else if (c == 'h')
			return gw_cli_help(resize_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (!size_arg)
		return gw_cli_usage_error(cli, "missing --size SIZE");
	if (parse_size("size", size_arg, &size) < 0)
		return GW_CLI_FAIL;
	if (size % 512)
		return gw_cli_fail("invalid size '%s': not a multiple of 512 "
				   "bytes",
				   size_arg);
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_disk_lookup(cat, argv[optind], &t, &d) < 0)
		goto out;
	gw_cli_fmt_size(d.size, old, sizeof(old));
	gw_cli_fmt_size(size, new, sizeof(new));
	/* Restore points and the tenant's file systems assume a disk never
	 * shrinks under them. */
	if (size <= d.size) {
		gw_cli_fail("cannot resize disk '%s' to %s: it is %s already, "
			    "and disks only grow",
			    argv[optind], new, old);
		goto out;
	}
	if (gw_cli_quota_check(cat, &t, d.size, size, false) < 0 ||
	    gw_cli_lock_take(cli, &lk) < 0 ||
	    resize(cat, &lk, &t, &d, size) < 0)
		goto out;
	printf("Resized disk %s/%s/%s from %s to %s (%" PRIu64 " bytes).\n",
	       t.name, d.vm, d.name, old, new, size);
	rc = GW_CLI_OK;
out:
	gw_cli_lock_release(&lk);
	tenant_catalog_close(cat);
	return rc;
}

static const struct gw_cli_cmd disk_cmds[] = {
	{"create", disk_create_cmd, "create a disk"},
	{"list", disk_list_cmd, "list disks"},
	{"show", gw_cli_disk_show, "show a disk"},
	{"set", disk_set_cmd,
	 "set a disk's restore point interval, retention, bandwidth"},
	{"resize", disk_resize_cmd, "grow a disk"},
	{"remove", disk_remove_cmd,
	 "remove a disk, its restore points and "
	 "data"},
};

int gw_cli_cmd_disk(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, disk_usage, disk_cmds,
			       sizeof(disk_cmds) / sizeof(disk_cmds[0]), argc,
			       argv);
}
