/* havenctl disk create|list|show|remove.  A disk is a catalog record
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
	"  --size SIZE          the disk size, a multiple of 512 bytes\n"
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

static const char show_usage[] =
	"Usage: havenctl [-d DIR] disk show TENANT/VM/DISK [--json]\n"
	"Show a disk, with the number of extents that hold data.\n"
	"\n"
	"  --json      print a JSON object\n"
	"  -h, --help  show this help\n";

static const char remove_usage[] =
	"Usage: havenctl [-d DIR] disk remove TENANT/VM/DISK\n"
	"Remove a disk and all its data.  This cannot be undone.\n"
	"\n"
	"  -h, --help  show this help\n";

/* A parsed TENANT/VM/DISK. */
struct disk_path {
	char tenant[TENANT_NAME_MAX + 1];
	char vm[TENANT_NAME_MAX + 1];
	char disk[TENANT_NAME_MAX + 1];
};

/* Splits and checks TENANT/VM/DISK; reports. */
static int parse_path(const char *arg, struct disk_path *p)
{
	static const char *const kinds[] = {"tenant", "VM", "disk"};
	char *copy, *part[3], *save = NULL;
	int i, err = 0;

	copy = strdup(arg);
	if (!copy) {
		gw_cli_fail("%s: %s", arg, strerror(ENOMEM));
		return -ENOMEM;
	}
	part[0] = strtok_r(copy, "/", &save);
	part[1] = part[0] ? strtok_r(NULL, "/", &save) : NULL;
	part[2] = part[1] ? strtok_r(NULL, "/", &save) : NULL;
	/* strtok_r() skips empty fields; "a//b/c" must not pass as a/b/c. */
	if (!part[2] || strtok_r(NULL, "/", &save) || strstr(arg, "//") ||
	    arg[0] == '/' || arg[strlen(arg) - 1] == '/') {
		gw_cli_fail("invalid disk '%s': use TENANT/VM/DISK", arg);
		err = -EINVAL;
		goto out;
	}
	for (i = 0; i < 3 && err == 0; i++)
		err = gw_cli_check_name(kinds[i], part[i]);
	if (err < 0)
		goto out;
	snprintf(p->tenant, sizeof(p->tenant), "%s", part[0]);
	snprintf(p->vm, sizeof(p->vm), "%s", part[1]);
	snprintf(p->disk, sizeof(p->disk), "%s", part[2]);
out:
	free(copy);
	return err;
}

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
	struct disk_path p;
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
	if (parse_path(argv[optind], &p) < 0)
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
	err = tenant_disk_add(cat, &d);
	if (err == -EEXIST) {
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

/* Looks up a TENANT/VM/DISK and its tenant; reports. */
static int lookup(struct tenant_catalog *cat, const char *arg,
		  struct tenant_info *t, struct tenant_disk *d)
{
	struct disk_path p;
	int err;

	err = parse_path(arg, &p);
	if (err == 0)
		err = gw_cli_tenant_get(cat, p.tenant, t);
	if (err < 0)
		return err;
	err = tenant_disk_get(cat, t->id, p.vm, p.disk, d);
	if (err == -ENOENT)
		gw_cli_fail("disk '%s' does not exist", arg);
	else if (err < 0)
		gw_cli_fail("cannot read disk '%s': %s", arg,
			    gw_cli_strerror(err));
	return err;
}

/* The object store of a tenant's route, driven synchronously. */
struct store {
	struct storage_sync *sync;
	struct storage_store *st;
};

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

static int store_open(struct tenant_catalog *cat, const struct tenant_info *t,
		      struct store *s)
{
	struct tenant_route r;
	struct storage_route sr = {0};
	int err;

	err = tenant_route_get(cat, t->route, &r);
	if (err < 0)
		return err;
	sr.type = r.type;
	sr.path = or_null(r.path);
	sr.ceph_conf = or_null(r.ceph_conf);
	sr.pool = or_null(r.pool);
	sr.client_id = or_null(r.client_id);
	sr.keyring = or_null(r.keyring);
	err = storage_sync_new(&s->sync);
	if (err < 0)
		return err;
	return storage_store_open(&sr, storage_sync_env(s->sync), &s->st);
}

static void store_close(struct store *s)
{
	storage_store_close(s->st);
	storage_sync_free(s->sync);
	s->st = NULL;
	s->sync = NULL;
}

struct extent_count {
	uint64_t n;
	uint64_t bytes;
};

static int count_extent(void *arg, const char *oid, uint64_t size)
{
	struct extent_count *c = arg;
	const char *dot = strchr(oid, '.');

	/* "<id>.header" shares the prefix but holds no disk data. */
	if (dot && strcmp(dot + 1, "header") != 0) {
		c->n++;
		c->bytes += size;
	}
	return 0;
}

/* Counts the extent objects of a disk.  This reaches below storage.h,
 * into the backend's listing, because the disk layer offers no count
 * without building a whole allocation map. */
static int count_extents(struct tenant_catalog *cat,
			 const struct tenant_info *t,
			 const struct tenant_disk *d, struct extent_count *c)
{
	struct store s = {0};
	char prefix[STORAGE_OID_MAX];
	void *io = NULL;
	int err;

	err = store_open(cat, t, &s);
	if (err == 0)
		err = s.st->be_ops->ioctx_open(s.st->be, t->ns, &io);
	if (err < 0) {
		io = NULL;
		goto out;
	}
	err = storage_oid_extent(prefix, sizeof(prefix), d->id, 0);
	if (err < 0)
		goto out;
	*(strchr(prefix, '.') + 1) = '\0';
	err = s.st->be_ops->list(io, prefix, count_extent, c);
	if (err == -ENOENT) /* a namespace that was never written */
		err = 0;
out:
	if (io)
		s.st->be_ops->ioctx_close(io);
	store_close(&s);
	return err;
}

static int show_json(const struct tenant_info *t, const struct tenant_disk *d,
		     const struct extent_count *c, int count_err)
{
	json_t *o = gw_cli_disk_json(d, t->name);
	uint64_t extents = (d->size + d->extent_size - 1) / d->extent_size;
	int e1, e2, e3;

	e1 = json_object_set_new(o, "extents", gw_cli_json_u64(extents));
	e2 = json_object_set_new(o, "allocated_extents",
				 count_err ? json_null()
					   : gw_cli_json_u64(c->n));
	e3 = json_object_set_new(o, "allocated_bytes",
				 count_err ? json_null()
					   : gw_cli_json_u64(c->bytes));
	if (e1 || e2 || e3) {
		json_decref(o);
		o = NULL;
	}
	return gw_cli_json_print(o);
}

static void show_text(const struct tenant_info *t, const struct tenant_disk *d,
		      const struct extent_count *c, int count_err)
{
	char size[32], extent[32], bytes[32], created[32];
	uint64_t extents = (d->size + d->extent_size - 1) / d->extent_size;

	gw_cli_fmt_size(d->size, size, sizeof(size));
	gw_cli_fmt_size(d->extent_size, extent, sizeof(extent));
	gw_cli_fmt_size(c->bytes, bytes, sizeof(bytes));
	gw_cli_fmt_time(d->created, created, sizeof(created));
	printf("Disk %s/%s/%s\n"
	       "  id:           %" PRIu64 "\n"
	       "  export:       %s/%s (for tenant '%s')\n"
	       "  size:         %s (%" PRIu64 " bytes)\n"
	       "  extent size:  %s (%" PRIu64 " extents)\n",
	       t->name, d->vm, d->name, d->id, d->vm, d->name, t->name, size,
	       d->size, extent, extents);
	if (count_err)
		printf("  allocated:    unknown (%s)\n",
		       gw_cli_strerror(count_err));
	else
		printf("  allocated:    %" PRIu64 " extent%s (%s)\n", c->n,
		       c->n == 1 ? "" : "s", bytes);
	printf("  created:      %s\n", created);
}

static int disk_show_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct extent_count count = {0};
	struct tenant_info t;
	struct tenant_disk d;
	bool json = false;
	int rc, count_err;

	rc = gw_cli_opts_json(cli, argc, argv, show_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (lookup(cat, argv[optind], &t, &d) < 0)
		goto out;
	/* The count is a courtesy: an unreachable store must not hide
	 * what the catalog knows. */
	count_err = count_extents(cat, &t, &d, &count);
	tenant_catalog_close(cat);
	cat = NULL;
	if (json) {
		if (show_json(&t, &d, &count, count_err) == 0)
			rc = GW_CLI_OK;
	} else {
		show_text(&t, &d, &count, count_err);
		rc = GW_CLI_OK;
	}
out:
	tenant_catalog_close(cat);
	return rc;
}

static int disk_remove_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct store s = {0};
	struct tenant_info t;
	struct tenant_disk d;
	int rc, err;

	rc = gw_cli_opts_json(cli, argc, argv, remove_usage, NULL);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (lookup(cat, argv[optind], &t, &d) < 0)
		goto out;
	/* Objects first: if this fails half-way, the record still names
	 * the disk and running the command again finishes the job. */
	err = store_open(cat, &t, &s);
	if (err < 0) {
		gw_cli_fail("cannot open route '%s' of tenant '%s': %s",
			    t.route, t.name, gw_cli_strerror(err));
		goto out;
	}
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
	printf("Removed disk %s/%s/%s and its data.\n", t.name, d.vm, d.name);
	rc = GW_CLI_OK;
out:
	store_close(&s);
	tenant_catalog_close(cat);
	return rc;
}

static const struct gw_cli_cmd disk_cmds[] = {
	{"create", disk_create_cmd, "create a disk"},
	{"list", disk_list_cmd, "list disks"},
	{"show", disk_show_cmd, "show a disk"},
	{"remove", disk_remove_cmd, "remove a disk and its data"},
};

int gw_cli_cmd_disk(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, disk_usage, disk_cmds,
			       sizeof(disk_cmds) / sizeof(disk_cmds[0]), argc,
			       argv);
}
