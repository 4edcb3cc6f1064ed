/* havenctl tenant add|list|show|set. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char tenant_usage[] =
	"Usage: havenctl [-d DIR] tenant COMMAND [ARGS]...\n"
	"Manage tenants: each has its own certificates, disks and object\n"
	"namespace, and never sees another tenant's.\n";

static const char add_usage[] =
	"Usage: havenctl [-d DIR] tenant add NAME [--route ROUTE] "
	"[--checkpoint SECONDS]\n"
	"Add a tenant.  NAME is [a-z0-9][a-z0-9._-]{0,62}, without '..'.\n"
	"\n"
	"  --route ROUTE          where its disks are stored "
	"(default: " GW_CLI_DEFAULT_ROUTE ")\n"
	"  --checkpoint SECONDS   restore point interval of its disks "
	"(5 s to\n"
	"                         30 days; default 60)\n"
	"  -h, --help             show this help\n";

static const char set_usage[] =
	"Usage: havenctl [-d DIR] tenant set NAME --checkpoint SECONDS\n"
	"Change a tenant's settings.\n"
	"\n"
	"  --checkpoint SECONDS   cut a restore point of each disk at the "
	"first\n"
	"                         flush this long after the previous one "
	"(5 s\n"
	"                         to 30 days); disks may override it\n"
	"  -h, --help             show this help\n";

static const char list_usage[] =
	"Usage: havenctl [-d DIR] tenant list [--json]\n"
	"List the tenants.\n"
	"\n"
	"  --json      print a JSON array\n"
	"  -h, --help  show this help\n";

static const char show_usage[] =
	"Usage: havenctl [-d DIR] tenant show NAME [--json]\n"
	"Show a tenant with its credentials and disks.\n"
	"\n"
	"  --json      print a JSON object\n"
	"  -h, --help  show this help\n";

static int tenant_add_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"route", required_argument, NULL, 'r'},
		{"checkpoint", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	struct tenant_info t = {0};
	struct tenant_route r;
	const char *route = GW_CLI_DEFAULT_ROUTE, *every = NULL;
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'r')
			route = optarg;
		else if (c == 'c')
			every = optarg;
		else if (c == 'h')
			return gw_cli_help(add_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "tenant NAME") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_check_name("tenant", argv[optind]) < 0 ||
	    gw_cli_check_name("route", route) < 0 ||
	    (every &&
	     gw_cli_parse_checkpoint(every, false, &t.checkpoint_s) < 0))
		return GW_CLI_FAIL;
	/* Credential listings show operators as "operator", and operator
	 * certificates are named "<site>.operator". */
	if (strcmp(argv[optind], "operator") == 0)
		return gw_cli_fail("invalid tenant name 'operator': reserved "
				   "for operator credentials");
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;

	/* tenant_add() checks the route too; asking first gives the
	 * operator a message that names the route. */
	err = tenant_route_get(cat, route, &r);
	if (err < 0) {
		if (err == -ENOENT)
			rc = gw_cli_fail("route '%s' does not exist", route);
		else
			rc = gw_cli_fail("cannot read route '%s': %s", route,
					 gw_cli_strerror(err));
		goto out;
	}
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

static uint32_t interval(const struct tenant_info *t)
{
	return t->checkpoint_s ? t->checkpoint_s : TENANT_CHECKPOINT_DEFAULT;
}

static json_t *tenant_json(const struct tenant_info *t)
{
	return json_pack("{s:o, s:s, s:s, s:s, s:s, s:o, s:o}", "id",
			 gw_cli_json_u64(t->id), "name", t->name, "state",
			 gw_cli_state_name(t->state), "route", t->route,
			 "namespace", t->ns, "checkpoint",
			 gw_cli_json_u64(interval(t)), "created",
			 gw_cli_json_time(t->created));
}

static int print_tenants(const struct gw_cli_vec *tenants, bool json)
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
				    arr,
				    tenant_json(gw_cli_vec_at(tenants, i))))
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
	rc = print_tenants(&tenants, json) < 0 ? GW_CLI_FAIL : GW_CLI_OK;
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

static json_t *show_json(const struct tenant_info *t,
			 const struct gw_cli_vec *creds,
			 const struct gw_cli_vec *disks)
{
	json_t *o, *ca, *da;
	size_t i;
	int e1, e2;

	/* json_object_set_new() takes the arrays even when it fails, so
	 * after these two calls o alone owns everything. */
	o = tenant_json(t);
	ca = json_array();
	da = json_array();
	e1 = json_object_set_new(o, "credentials", ca);
	e2 = json_object_set_new(o, "disks", da);
	if (e1 || e2)
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

static int show_text(const struct tenant_info *t,
		     const struct gw_cli_vec *creds,
		     const struct gw_cli_vec *disks)
{
	struct gw_cli_vec self;
	char created[32], every[48];
	int err;

	gw_cli_fmt_time(t->created, created, sizeof(created));
	gw_cli_fmt_interval(interval(t), every, sizeof(every));
	printf("Tenant %s\n"
	       "  id:          %" PRIu64 "\n"
	       "  state:       %s\n"
	       "  route:       %s\n"
	       "  namespace:   %s\n"
	       "  checkpoint:  every %s%s\n"
	       "  created:     %s\n",
	       t->name, t->id, gw_cli_state_name(t->state), t->route, t->ns,
	       every, t->checkpoint_s ? "" : " (default)", created);
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
	    gw_cli_load_creds(cat, &creds) < 0 ||
	    gw_cli_load_disks(cat, t.id, &disks) < 0)
		goto out;
	tenant_catalog_close(cat);
	cat = NULL;

	keep_tenant_creds(&creds, t.id);
	if (json) {
		if (gw_cli_json_print(show_json(&t, &creds, &disks)) == 0)
			rc = GW_CLI_OK;
	} else if (show_text(&t, &creds, &disks) == 0) {
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	const char *every = NULL;
	struct tenant_info t;
	uint32_t secs;
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'c')
			every = optarg;
		else if (c == 'h')
			return gw_cli_help(set_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "tenant NAME") < 0)
		return GW_CLI_USAGE;
	if (!every)
		return gw_cli_usage_error(cli, "missing --checkpoint SECONDS");
	if (gw_cli_parse_checkpoint(every, false, &secs) < 0)
		return GW_CLI_FAIL;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_tenant_get(cat, argv[optind], &t) < 0)
		goto out;
	err = tenant_set_checkpoint(cat, t.id, secs);
	if (err < 0) {
		gw_cli_fail("cannot set the checkpoint of tenant '%s': %s",
			    t.name, gw_cli_strerror(err));
		goto out;
	}
	printf("Tenant '%s': restore point every %u s (disks without an "
	       "interval of their own).\n",
	       t.name, secs);
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

static const struct gw_cli_cmd tenant_cmds[] = {
	{"add", tenant_add_cmd, "add a tenant"},
	{"list", tenant_list_cmd, "list the tenants"},
	{"show", tenant_show_cmd, "show a tenant, its credentials and disks"},
	{"set", tenant_set_cmd, "set a tenant's restore point interval"},
};

int gw_cli_cmd_tenant(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, tenant_usage, tenant_cmds,
			       sizeof(tenant_cmds) / sizeof(tenant_cmds[0]),
			       argc, argv);
}
