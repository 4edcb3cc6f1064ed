/* havenctl tenant add|list|show|set|suspend|resume|remove.  The limit
 * options and the quota display live in cmd-tenant-limits.c, remove
 * --purge in cmd-tenant-purge.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char tenant_usage[] =
	"Usage: havenctl [-d DIR] tenant COMMAND [ARGS]...\n"
	"Manage tenants: each has its own certificates, disks and object\n"
	"namespace, and never sees another tenant's.\n";

#define RETENTION_HELP                                                         \
	"  --retention LADDER     keep restore points by age, e.g.\n"          \
	"                         1h:all,1d:hourly,30d:daily,1y:monthly\n"     \
	"                         (ages s/m/h/d/w/y; all, hourly, daily,\n"    \
	"                         weekly, monthly; an item cap=N caps the\n"   \
	"                         count per disk, default 256; 'none' keeps\n" \
	"                         all); disks may override it\n"               \
	"  --immutable-days N     no one may remove a restore point younger\n" \
	"                         than N days (0: no window)\n"

static const char add_usage[] =
	"Usage: havenctl [-d DIR] tenant add NAME [--route ROUTE] "
	"[--checkpoint SECONDS]\n"
	"                                  [--retention LADDER] "
	"[--immutable-days N]\n"
	"                  [--max-provisioned SIZE] [--max-stored SIZE] "
	"[--max-disks N]\n"
	"                  [--max-sessions N] [--bandwidth RATE] "
	"[--weight N]\n"
	"                  [--lease-until DATE]\n"
	"Add a tenant.  NAME is [a-z0-9][a-z0-9._-]{0,62}, without '..'.\n"
	"\n"
	"  --route ROUTE          where its disks are stored "
	"(default: " GW_CLI_DEFAULT_ROUTE ")\n"
	"  --checkpoint SECONDS   restore point interval of its disks "
	"(5 s to\n"
	"                         30 days; default 60)\n" RETENTION_HELP
		GW_CLI_LIMIT_HELP "  -h, --help             show this help\n";

static const char set_usage[] =
	"Usage: havenctl [-d DIR] tenant set NAME [--checkpoint SECONDS]\n"
	"                       [--retention LADDER] [--immutable-days N]\n"
	"                       [--max-provisioned SIZE] [--max-stored SIZE]\n"
	"                       [--max-disks N] [--max-sessions N] "
	"[--bandwidth RATE]\n"
	"                       [--weight N] [--lease-until DATE]\n"
	"Change a tenant's settings (at least one).  A quota lowered below\n"
	"what the tenant uses only blocks growth; nothing is removed.\n"
	"\n"
	"  --checkpoint SECONDS   cut a restore point of each disk at the "
	"first\n"
	"                         flush this long after the previous one "
	"(5 s\n"
	"                         to 30 days); disks may override "
	"it\n" RETENTION_HELP GW_CLI_LIMIT_HELP
	"  -h, --help             show this help\n";

static const char remove_usage[] =
	"Usage: havenctl [-d DIR] tenant remove NAME [--purge]\n"
	"Remove a tenant.  Refused while it has disks or live credentials\n"
	"(remove and revoke them first), and while any of its restore points\n"
	"is inside the immutability window or pinned.\n"
	"\n"
	"  --purge     remove its disks, restore points, objects and\n"
	"              credentials too (it is suspended first); refused with\n"
	"              nothing changed while a restore point is immutable or\n"
	"              pinned.  This cannot be undone.\n"
	"  -h, --help  show this help\n";

static const char suspend_usage[] =
	"Usage: havenctl [-d DIR] tenant suspend NAME\n"
	"Suspend a tenant: havend closes its live sessions within a second\n"
	"and refuses new ones until 'tenant resume'.  Nothing is removed.\n"
	"\n"
	"  -h, --help  show this help\n";

static const char resume_usage[] =
	"Usage: havenctl [-d DIR] tenant resume NAME\n"
	"Let a suspended tenant's sites connect again.\n"
	"\n"
	"  -h, --help  show this help\n";

/* --retention and --immutable-days of tenant add and set. */
struct retention_opts {
	const char *ladder; /* NULL: not given */
	const char *days;
};

/* Applies them to a tenant, keeping what was not given; reports. */
static int set_retention(struct tenant_catalog *cat,
			 const struct tenant_info *t,
			 const struct retention_opts *o)
{
	char canon[TENANT_RETENTION_TEXT_MAX];
	uint32_t days;
	int err;

	if (!o->ladder && !o->days)
		return 0;
	err = tenant_get_retention(cat, t->id, canon, sizeof(canon), &days);
	if (err == 0 && o->ladder)
		err = gw_cli_parse_retention(o->ladder, false, canon,
					     sizeof(canon));
	else if (err < 0)
		gw_cli_fail("cannot read the retention of tenant '%s': %s",
			    t->name, gw_cli_strerror(err));
	if (err == 0 && o->days)
		err = gw_cli_parse_days(o->days, &days);
	if (err < 0)
		return err;
	err = tenant_set_retention(cat, t->id, canon, days);
	if (err < 0)
		gw_cli_fail("cannot set the retention of tenant '%s': %s",
			    t->name, gw_cli_strerror(err));
	return err;
}

/* Checks the values before anything changes; reports. */
static int check_retention(const struct retention_opts *o)
{
	char canon[TENANT_RETENTION_TEXT_MAX];
	uint32_t days;

	if (o->ladder &&
	    gw_cli_parse_retention(o->ladder, false, canon, sizeof(canon)) < 0)
		return -EINVAL;
	if (o->days && gw_cli_parse_days(o->days, &days) < 0)
		return -EINVAL;
	return 0;
}

static const char list_usage[] =
	"Usage: havenctl [-d DIR] tenant list [--json]\n"
	"List the tenants.\n"
	"\n"
	"  --json      print a JSON array\n"
	"  -h, --help  show this help\n";

static const char show_usage[] =
	"Usage: havenctl [-d DIR] tenant show NAME [--json]\n"
	"Show a tenant with its quotas and their usage (limits of 0 are\n"
	"unlimited; sessions are counted by havend only), its credentials and\n"
	"disks.\n"
	"\n"
	"  --json      print a JSON object\n"
	"  -h, --help  show this help\n";

/* tenant_add() checks the route too; asking first gives the operator a
 * message that names the route.  Reports. */
static int route_check(struct tenant_catalog *cat, const char *route)
{
	struct tenant_route r;
	int err;

	err = tenant_route_get(cat, route, &r);
	if (err == -ENOENT)
		gw_cli_fail("route '%s' does not exist", route);
	else if (err < 0)
		gw_cli_fail("cannot read route '%s': %s", route,
			    gw_cli_strerror(err));
	return err;
}

/* Checks the name of a new tenant; reports. */
static int check_new_name(const char *name)
{
	if (gw_cli_check_name("tenant", name) < 0)
		return -EINVAL;
	/* Credential listings show operators as "operator", and operator
	 * certificates are named "<site>.operator". */
	if (strcmp(name, "operator") == 0) {
		gw_cli_fail("invalid tenant name 'operator': reserved for "
			    "operator credentials");
		return -EINVAL;
	}
	return 0;
}

static int tenant_add_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"route", required_argument, NULL, 'r'},
		{"checkpoint", required_argument, NULL, 'c'},
		{"retention", required_argument, NULL, 'R'},
		{"immutable-days", required_argument, NULL, 'i'},
		GW_CLI_LIMIT_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	struct retention_opts ro = {NULL, NULL};
	struct gw_cli_limit_opts lo = {0};
	struct tenant_limits lim = {0};
	struct tenant_info t = {0};
	const char *route = GW_CLI_DEFAULT_ROUTE, *every = NULL;
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'r')
			route = optarg;
		else if (c == 'c')
			every = optarg;
		else if (c == 'R')
			ro.ladder = optarg;
		else if (c == 'i')
			ro.days = optarg;
		else if (gw_cli_limit_opt(&lo, c, optarg))
			continue;
		else if (c == 'h')
			return gw_cli_help(add_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "tenant NAME") < 0)
		return GW_CLI_USAGE;
	gw_cli_audit_tenant(argv[optind]);
	if (check_new_name(argv[optind]) < 0 ||
	    gw_cli_check_name("route", route) < 0 ||
	    (every &&
	     gw_cli_parse_checkpoint(every, false, &t.checkpoint_s) < 0) ||
	    check_retention(&ro) < 0 || gw_cli_limits_parse(&lo, &lim) < 0)
		return GW_CLI_FAIL;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;

	rc = GW_CLI_FAIL;
	if (route_check(cat, route) < 0)
		goto out;
	snprintf(t.name, sizeof(t.name), "%s", argv[optind]);
	snprintf(t.route, sizeof(t.route), "%s", route);
	snprintf(t.ns, sizeof(t.ns), "%s", argv[optind]);
	t.state = TENANT_ACTIVE;
	err = tenant_add(cat, &t);
	if (err == -EEXIST) {
		rc = gw_cli_fail("tenant '%s' already exists", t.name);
		goto out;
	} else if (err < 0) {
		rc = gw_cli_fail("cannot add tenant '%s': %s", t.name,
				 gw_cli_strerror(err));
		goto out;
	}
	/* A second transaction; the values were checked above, so only a
	 * catalog failure can leave the tenant with the defaults. */
	if (set_retention(cat, &t, &ro) < 0 ||
	    gw_cli_limits_apply(cat, &t, &lo) < 0) {
		rc = GW_CLI_FAIL;
		goto out;
	}
	printf("Added tenant '%s' (id %" PRIu64 ", route '%s', namespace "
	       "'%s').\n"
	       "Next: havenctl -d %s cert issue %s --site SITE --out "
	       "BUNDLE_DIR\n",
	       t.name, t.id, t.route, t.ns, cli->dir, t.name);
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

/* The interval of t's disks that set none: what havend uses. */
static json_t *tenant_json(struct gw_cli *cli, const struct tenant_info *t)
{
	enum gw_rp_interval_from from;
	uint32_t every = gw_cli_interval(cli, t, NULL, &from);

	return json_pack("{s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "id",
			 gw_cli_json_u64(t->id), "name", t->name, "state",
			 gw_cli_state_name(t->state), "route", t->route,
			 "namespace", t->ns, "checkpoint",
			 gw_cli_json_u64(every), "checkpoint_from",
			 gw_rp_interval_from_name(from), "created",
			 gw_cli_json_time(t->created));
}

static int print_tenants(struct gw_cli *cli, const struct gw_cli_vec *tenants,
			 bool json)
{
	static const char *const cols[] = {">ID",   "NAME",	 "STATE",
					   "ROUTE", "NAMESPACE", "CREATED"};
	struct gw_cli_table *tab = NULL;
	json_t *arr = NULL;
	char id[24], created[32];
	size_t i;
	int err;

	if (json) {
		arr = json_array();
		for (i = 0; arr && i < tenants->n; i++)
			if (json_array_append_new(
				    arr, tenant_json(cli, gw_cli_vec_at(tenants,
									i))))
				break;
		if (arr && i < tenants->n) {
			json_decref(arr);
			arr = NULL;
		}
		return gw_cli_json_print(arr);
	}
	err = gw_cli_table_new(cols, 6, &tab);
	for (i = 0; err == 0 && i < tenants->n; i++) {
		const struct tenant_info *t = gw_cli_vec_at(tenants, i);
		const char *row[] = {
			id,	  t->name, gw_cli_state_name(t->state),
			t->route, t->ns,   created};

		snprintf(id, sizeof(id), "%" PRIu64, t->id);
		gw_cli_fmt_time(t->created, created, sizeof(created));
		err = gw_cli_table_add(tab, row);
	}
	if (err == 0)
		gw_cli_table_print(tab);
	else
		gw_cli_fail("cannot print tenants: %s", strerror(-err));
	gw_cli_table_free(tab);
	return err;
}

static int tenant_list_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec tenants;
	bool json = false;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, list_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 0, 0, "") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = gw_cli_load_tenants(cat, &tenants);
	tenant_catalog_close(cat);
	if (rc < 0)
		return GW_CLI_FAIL;
	rc = print_tenants(cli, &tenants, json) < 0 ? GW_CLI_FAIL : GW_CLI_OK;
	gw_cli_vec_free(&tenants);
	return rc;
}

/* Keeps the credentials of one tenant in v. */
static void keep_tenant_creds(struct gw_cli_vec *v, uint64_t tenant_id)
{
	size_t i, n = 0;

	for (i = 0; i < v->n; i++) {
		const struct tenant_cred *c = gw_cli_vec_at(v, i);

		if (c->tenant_id == tenant_id && !c->operator_role)
			memmove(gw_cli_vec_at(v, n++), c, v->size);
	}
	v->n = n;
}

static json_t *show_json(struct gw_cli *cli, const struct tenant_info *t,
			 const struct gw_cli_policy *pol,
			 const struct gw_cli_usage *u,
			 const struct gw_cli_vec *creds,
			 const struct gw_cli_vec *disks)
{
	json_t *o, *ca, *da, *uj;
	size_t i;
	int e1, e2, e3, e4;

	/* json_object_set_new() takes the values even when it fails, so
	 * after these calls o alone owns everything. */
	o = tenant_json(cli, t);
	ca = json_array();
	da = json_array();
	e1 = json_object_set_new(o, "retention", json_string(pol->text));
	e2 = json_object_set_new(o, "immutable_days",
				 gw_cli_json_u64(pol->immutable_days));
	e3 = json_object_set_new(o, "credentials", ca);
	e4 = json_object_set_new(o, "disks", da);
	if (e1 || e2 || e3 || e4)
		goto fail;
	uj = gw_cli_usage_json(u);
	e1 = !uj || json_object_update(o, uj);
	json_decref(uj);
	if (e1)
		goto fail;
	for (i = 0; i < creds->n; i++)
		if (json_array_append_new(
			    ca,
			    gw_cli_cred_json(gw_cli_vec_at(creds, i), t->name)))
			goto fail;
	for (i = 0; i < disks->n; i++)
		if (json_array_append_new(
			    da,
			    gw_cli_disk_json(gw_cli_vec_at(disks, i), t->name)))
			goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static int show_text(struct gw_cli *cli, const struct tenant_info *t,
		     const struct gw_cli_policy *pol,
		     const struct gw_cli_usage *u,
		     const struct gw_cli_vec *creds,
		     const struct gw_cli_vec *disks)
{
	struct gw_cli_vec self;
	enum gw_rp_interval_from from;
	char created[32], every[80];
	uint32_t secs;
	int err;

	gw_cli_fmt_time(t->created, created, sizeof(created));
	secs = gw_cli_interval(cli, t, NULL, &from);
	gw_cli_fmt_checkpoint(secs, from, every, sizeof(every));
	printf("Tenant %s\n"
	       "  id:          %" PRIu64 "\n"
	       "  state:       %s\n"
	       "  route:       %s\n"
	       "  namespace:   %s\n"
	       "  checkpoint:  every %s\n"
	       "  retention:   %s%s\n"
	       "  immutable:   ",
	       t->name, t->id, gw_cli_state_name(t->state), t->route, t->ns,
	       every, pol->text, pol->r.cap ? "" : " (cap 256 per disk)");
	if (pol->immutable_days)
		printf("%" PRIu32 " day%s\n", pol->immutable_days,
		       pol->immutable_days == 1 ? "" : "s");
	else
		printf("no\n");
	printf("  created:     %s\n", created);
	err = gw_cli_print_usage(u);
	if (err < 0)
		return err;
	/* The table helpers name tenants through a vector of tenants. */
	gw_cli_vec_init(&self, sizeof(*t));
	err = gw_cli_vec_push(&self, t);
	if (err < 0) {
		gw_cli_fail("cannot show tenant '%s': %s", t->name,
			    strerror(-err));
		goto out;
	}
	printf("\nCredentials: %zu\n", creds->n);
	if (creds->n)
		err = gw_cli_print_creds(creds, &self);
	if (err < 0)
		goto out;
	printf("\nDisks: %zu\n", disks->n);
	if (disks->n)
		err = gw_cli_print_disks(disks, &self);
out:
	gw_cli_vec_free(&self);
	return err;
}

static int tenant_show_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec creds = {0}, disks = {0};
	struct gw_cli_policy pol;
	struct gw_cli_usage u;
	struct tenant_info t;
	bool json = false;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, show_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "tenant NAME") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_tenant_get(cat, argv[optind], &t) < 0 ||
	    gw_cli_policy_get(cat, &t, NULL, &pol) < 0 ||
	    gw_cli_load_usage(cat, &t, &u) < 0 ||
	    gw_cli_load_creds(cat, &creds) < 0 ||
	    gw_cli_load_disks(cat, t.id, &disks) < 0)
		goto out;
	tenant_catalog_close(cat);
	cat = NULL;

	keep_tenant_creds(&creds, t.id);
	if (json) {
		if (gw_cli_json_print(
			    show_json(cli, &t, &pol, &u, &creds, &disks)) == 0)
			rc = GW_CLI_OK;
	} else if (show_text(cli, &t, &pol, &u, &creds, &disks) == 0) {
		rc = GW_CLI_OK;
	}
out:
	gw_cli_vec_free(&disks);
	gw_cli_vec_free(&creds);
	tenant_catalog_close(cat);
	return rc;
}

static int tenant_set_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"checkpoint", required_argument, NULL, 'c'},
		{"retention", required_argument, NULL, 'R'},
		{"immutable-days", required_argument, NULL, 'i'},
		GW_CLI_LIMIT_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	struct retention_opts ro = {NULL, NULL};
	struct gw_cli_limit_opts lo = {0};
	struct tenant_limits lim = {0};
	struct gw_cli_policy pol;
	const char *every = NULL;
	struct tenant_info t;
	uint32_t secs = 0;
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'c')
			every = optarg;
		else if (c == 'R')
			ro.ladder = optarg;
		else if (c == 'i')
			ro.days = optarg;
		else if (gw_cli_limit_opt(&lo, c, optarg))
			continue;
		else if (c == 'h')
			return gw_cli_help(set_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "tenant NAME") < 0)
		return GW_CLI_USAGE;
	if (!every && !ro.ladder && !ro.days && !gw_cli_limits_given(&lo))
		return gw_cli_usage_error(cli, "missing --checkpoint SECONDS, "
					       "--retention LADDER, "
					       "--immutable-days N or a limit");
	if ((every && gw_cli_parse_checkpoint(every, false, &secs) < 0) ||
	    check_retention(&ro) < 0 || gw_cli_limits_parse(&lo, &lim) < 0)
		return GW_CLI_FAIL;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_tenant_get(cat, argv[optind], &t) < 0 ||
	    gw_cli_limits_apply(cat, &t, &lo) < 0)
		goto out;
	err = every ? tenant_set_checkpoint(cat, t.id, secs) : 0;
	if (err < 0) {
		gw_cli_fail("cannot set the checkpoint of tenant '%s': %s",
			    t.name, gw_cli_strerror(err));
		goto out;
	}
	if (every)
		printf("Tenant '%s': restore point every %u s (disks without "
		       "an interval of their own).\n",
		       t.name, secs);
	if (!ro.ladder && !ro.days) {
		rc = GW_CLI_OK;
		goto out;
	}
	if (set_retention(cat, &t, &ro) < 0 ||
	    gw_cli_policy_get(cat, &t, NULL, &pol) < 0)
		goto out;
	printf("Tenant '%s': retention %s, immutable for %" PRIu32 " day%s.\n",
	       t.name, pol.text, pol.immutable_days,
	       pol.immutable_days == 1 ? "" : "s");
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

/* The first restore point of a tenant's disks that may not be removed;
 * reports it.  Disks and restore points are copied out first. */
static int check_holds(struct tenant_catalog *cat, const struct tenant_info *t,
		       const struct gw_cli_vec *disks)
{
	struct gw_cli_vec rps;
	char why[96];
	size_t i, j;
	int err = 0;

	for (i = 0; err == 0 && i < disks->n; i++) {
		const struct tenant_disk *d = gw_cli_vec_at(disks, i);

		err = gw_cli_load_rps(cat, d->id, &rps);
		for (j = 0; err == 0 && j < rps.n; j++) {
			const struct tenant_rp *rp = gw_cli_vec_at(&rps, j);

			err = gw_cli_rp_hold(cat, d, rp, why, sizeof(why));
			if (err < 0)
				gw_cli_fail("tenant remove %s: restore point "
					    "%" PRIu64 " of %s/%s/%s: %s",
					    t->name, rp->id, t->name, d->vm,
					    d->name, why);
		}
		gw_cli_vec_free(&rps);
	}
	return err;
}

static int tenant_remove_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"purge", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec disks = {0};
	struct tenant_info t;
	bool purge = false;
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'p')
			purge = true;
		else if (c == 'h')
			return gw_cli_help(remove_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "tenant NAME") < 0)
		return GW_CLI_USAGE;
	if (purge)
		return gw_cli_tenant_purge(cli, argv[optind]);
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	/* Everything is checked before anything changes: immutable and
	 * pinned history first, because that refusal names a date. */
	if (gw_cli_tenant_get(cat, argv[optind], &t) < 0 ||
	    gw_cli_load_disks(cat, t.id, &disks) < 0 ||
	    check_holds(cat, &t, &disks) < 0)
		goto out;
	if (disks.n) {
		gw_cli_fail("tenant remove %s: it still has %zu disk%s (remove "
			    "them first: havenctl disk remove %s/VM/DISK, or "
			    "remove everything with --purge)",
			    t.name, disks.n, disks.n == 1 ? "" : "s", t.name);
		goto out;
	}
	err = tenant_remove(cat, t.id);
	if (err == -EBUSY)
		gw_cli_fail("tenant remove %s: it still has live credentials "
			    "(revoke them first: havenctl cert revoke %s "
			    "--site SITE)",
			    t.name, t.name);
	else if (err < 0)
		gw_cli_fail("cannot remove tenant '%s': %s", t.name,
			    gw_cli_strerror(err));
	if (err < 0)
		goto out;
	printf("Removed tenant '%s' (id %" PRIu64 ").\n", t.name, t.id);
	rc = GW_CLI_OK;
out:
	gw_cli_vec_free(&disks);
	tenant_catalog_close(cat);
	return rc;
}

/* tenant suspend and resume; havend notices the state at its next
 * catalog check (within a second). */
static int set_state(struct gw_cli *cli, int argc, char **argv,
		     const char *usage, uint32_t state)
{
	struct tenant_catalog *cat = NULL;
	struct tenant_limits lim;
	struct tenant_info t;
	char when[40];
	int rc, err;

	rc = gw_cli_opts_json(cli, argc, argv, usage, NULL);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "tenant NAME") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_tenant_get(cat, argv[optind], &t) < 0)
		goto out;
	err = t.state == state ? 0 : tenant_set_state(cat, t.id, state);
	if (err == 0)
		err = tenant_get_limits(cat, t.id, &lim);
	if (err < 0) {
		gw_cli_fail("cannot %s tenant '%s': %s",
			    state == TENANT_SUSPENDED ? "suspend" : "resume",
			    t.name, gw_cli_strerror(err));
		goto out;
	}
	if (state == TENANT_SUSPENDED)
		printf("Tenant '%s' %s: havend closes its sessions within a "
		       "second and refuses new ones.\n",
		       t.name,
		       t.state == state ? "was suspended already"
					: "suspended");
	else
		printf("Tenant '%s' %s: its sites may connect.\n", t.name,
		       t.state == state ? "was active already" : "resumed");
	/* A past lease end would suspend it again at havend's next check. */
	if (state == TENANT_ACTIVE && lim.lease_until &&
	    lim.lease_until <= (uint64_t)time(NULL)) {
		gw_cli_fmt_time(lim.lease_until, when, sizeof(when));
		printf("Warning: its lease ended %s, so havend suspends it "
		       "again; extend it with 'havenctl tenant set %s "
		       "--lease-until DATE|none'.\n",
		       when, t.name);
	}
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

static int tenant_suspend_cmd(struct gw_cli *cli, int argc, char **argv)
{
	return set_state(cli, argc, argv, suspend_usage, TENANT_SUSPENDED);
}

static int tenant_resume_cmd(struct gw_cli *cli, int argc, char **argv)
{
	return set_state(cli, argc, argv, resume_usage, TENANT_ACTIVE);
}

static const struct gw_cli_cmd tenant_cmds[] = {
	{"add", tenant_add_cmd, "add a tenant"},
	{"list", tenant_list_cmd, "list the tenants"},
	{"show", tenant_show_cmd, "show a tenant, its credentials and disks"},
	{"set", tenant_set_cmd,
	 "set a tenant's restore point interval, retention and limits"},
	{"suspend", tenant_suspend_cmd,
	 "close a tenant's sessions and refuse new ones"},
	{"resume", tenant_resume_cmd, "let a suspended tenant connect again"},
	{"remove", tenant_remove_cmd,
	 "remove a tenant (with --purge: and everything it has)"},
};

int gw_cli_cmd_tenant(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, tenant_usage, tenant_cmds,
			       sizeof(tenant_cmds) / sizeof(tenant_cmds[0]),
			       argc, argv);
}
