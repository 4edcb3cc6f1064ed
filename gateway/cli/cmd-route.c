/* havenctl route add|list.  A route is where a tenant's objects live: a
 * local directory (the embedded store) or a Ceph pool.  A route is only
 * added once its store opened, so that tenants are never given storage
 * that does not work.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "storage.h"

static const char route_usage[] =
	"Usage: havenctl [-d DIR] route COMMAND [ARGS]...\n"
	"Storage routes: where tenants' disk objects are stored.\n";

static const char add_usage[] =
	"Usage: havenctl [-d DIR] route add NAME --type rados --ceph-conf FILE "
	"--pool POOL\n"
	"                          [--client-id ID] [--keyring FILE]\n"
	"       havenctl [-d DIR] route add NAME --type local --path DIR\n"
	"Add a storage route, after checking that its store opens (for "
	"rados:\n"
	"that the cluster answers and the pool exists).\n"
	"\n"
	"  --type TYPE        rados (a Ceph pool) or local (a directory)\n"
	"  --ceph-conf FILE   rados: the cluster's ceph.conf\n"
	"  --pool POOL        rados: the pool (it must exist)\n"
	"  --client-id ID     rados: the cephx user, without 'client.' "
	"(default:\n"
	"                     admin)\n"
	"  --keyring FILE     rados: the user's keyring (default: from "
	"ceph.conf)\n"
	"  --path DIR         local: an existing directory for the objects\n"
	"  -h, --help         show this help\n";

static const char list_usage[] =
	"Usage: havenctl [-d DIR] route list [--json]\n"
	"List the storage routes.\n"
	"\n"
	"  --json      print a JSON array\n"
	"  -h, --help  show this help\n";

/* Where a route points, in one phrase. */
static void location(const struct tenant_route *r, char *buf, size_t len)
{
	if (strcmp(r->type, "rados") == 0)
		snprintf(buf, len, "pool %s (%s%s%s%s%s)", r->pool,
			 r->ceph_conf[0] ? r->ceph_conf : "default ceph.conf",
			 r->client_id[0] ? ", client." : "", r->client_id,
			 r->keyring[0] ? ", keyring " : "", r->keyring);
	else
		snprintf(buf, len, "%s", r->path[0] ? r->path : "-");
}

static json_t *route_json(const struct tenant_route *r)
{
	json_t *o = json_pack("{s:s, s:s}", "name", r->name, "type", r->type);
	const char *keys[] = {"path", "ceph_conf", "pool", "client_id",
			      "keyring"};
	const char *vals[] = {r->path, r->ceph_conf, r->pool, r->client_id,
			      r->keyring};
	size_t i;

	/* Only the fields the route's type uses. */
	for (i = 0; o && i < 5; i++) {
		if (vals[i][0] &&
		    json_object_set_new(o, keys[i], json_string(vals[i]))) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static int print_routes(const struct gw_cli_vec *routes, bool json)
{
	static const char *const cols[] = {"NAME", "TYPE", "LOCATION"};
	char where[3 * TENANT_PATH_MAX + 2 * TENANT_NAME_MAX];
	struct gw_cli_table *tab = NULL;
	json_t *arr;
	size_t i;
	int err;

	if (json) {
		arr = json_array();
		for (i = 0; arr && i < routes->n; i++) {
			if (json_array_append_new(arr, route_json(gw_cli_vec_at(
							       routes, i)))) {
				json_decref(arr);
				arr = NULL;
			}
		}
		return gw_cli_json_print(arr);
	}
	err = gw_cli_table_new(cols, 3, &tab);
	for (i = 0; err == 0 && i < routes->n; i++) {
		const struct tenant_route *r = gw_cli_vec_at(routes, i);
		const char *row[] = {r->name, r->type, where};

		location(r, where, sizeof(where));
		err = gw_cli_table_add(tab, row);
	}
	if (err == 0)
		gw_cli_table_print(tab);
	else
		gw_cli_fail("cannot print routes: %s", strerror(-err));
	gw_cli_table_free(tab);
	return err;
}

static int route_list_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec routes;
	bool json = false;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, list_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 0, 0, "") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = gw_cli_load_routes(cat, &routes);
	tenant_catalog_close(cat);
	if (rc < 0)
		return GW_CLI_FAIL;
	rc = print_routes(&routes, json) < 0 ? GW_CLI_FAIL : GW_CLI_OK;
	gw_cli_vec_free(&routes);
	return rc;
}

/* Copies an option into a route field; reports. */
static int set_field(char *dst, size_t len, const char *opt, const char *val,
		     bool absolute)
{
	char abs[PATH_MAX];

	if (!val[0])
		return gw_cli_fail("invalid %s: empty", opt);
	/* havend may run from another directory than this command. */
	if (absolute) {
		if (!realpath(val, abs))
			return gw_cli_fail("invalid %s '%s': %s", opt, val,
					   strerror(errno));
		val = abs;
	}
	if (strlen(val) >= len)
		return gw_cli_fail("invalid %s '%s': too long", opt, val);
	snprintf(dst, len, "%s", val);
	return GW_CLI_OK;
}

struct add_args {
	const char *type, *conf, *pool, *client, *keyring, *path;
};

/* Checks the options against the type and fills the route; reports. */
static int fill_route(struct gw_cli *cli, const struct add_args *a,
		      struct tenant_route *r)
{
	struct stat st;
	int rc = GW_CLI_OK;

	if (!a->type)
		return gw_cli_usage_error(cli, "missing --type rados|local");
	if (strcmp(a->type, "rados") == 0) {
		if (!a->conf || !a->pool)
			return gw_cli_usage_error(cli,
						  "rados needs --ceph-conf "
						  "FILE and --pool POOL");
		if (a->path)
			return gw_cli_usage_error(cli, "--path is for local "
						       "routes");
		rc = set_field(r->ceph_conf, sizeof(r->ceph_conf),
			       "--ceph-conf", a->conf, true);
		if (!rc)
			rc = set_field(r->pool, sizeof(r->pool), "--pool",
				       a->pool, false);
		if (!rc && a->client)
			rc = set_field(r->client_id, sizeof(r->client_id),
				       "--client-id", a->client, false);
		if (!rc && a->keyring)
			rc = set_field(r->keyring, sizeof(r->keyring),
				       "--keyring", a->keyring, true);
	} else if (strcmp(a->type, "local") == 0) {
		if (!a->path)
			return gw_cli_usage_error(cli,
						  "local needs --path DIR");
		if (a->conf || a->pool || a->client || a->keyring)
			return gw_cli_usage_error(cli, "--ceph-conf, --pool, "
						       "--client-id and "
						       "--keyring are for "
						       "rados routes");
		rc = set_field(r->path, sizeof(r->path), "--path", a->path,
			       true);
		if (!rc && (stat(r->path, &st) < 0 || !S_ISDIR(st.st_mode)))
			rc = gw_cli_fail("invalid --path '%s': not a directory",
					 a->path);
	} else {
		return gw_cli_usage_error(cli,
					  "unknown route type '%s' (use "
					  "rados or local)",
					  a->type);
	}
	snprintf(r->type, sizeof(r->type), "%s", a->type);
	return rc;
}

/* Opens the route's store once; reports why it does not open. */
static int check_store(const struct tenant_route *r)
{
	struct gw_cli_store s = {0};
	const char *why;
	int err;

	err = gw_cli_store_open_route(r, &s);
	gw_cli_store_close(&s);
	if (err == 0)
		return GW_CLI_OK;
	if (err == -ENOTSUP)
		why = "this build of haven has no rados backend";
	else if (strcmp(r->type, "rados") == 0 && access(r->ceph_conf, R_OK))
		why = "cannot read the ceph.conf";
	else if (strcmp(r->type, "rados") == 0 && err == -ENOENT)
		why = "no such pool";
	else if (err == -ETIMEDOUT || err == -ENOTCONN)
		why = "the cluster does not answer";
	else if (err == -EACCES || err == -EPERM)
		why = "permission denied (check --client-id and --keyring)";
	else
		why = gw_cli_strerror(err);
	return gw_cli_fail("cannot open the store of route '%s': %s", r->name,
			   why);
}

static int route_add_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"type", required_argument, NULL, 't'},
		{"ceph-conf", required_argument, NULL, 'c'},
		{"pool", required_argument, NULL, 'p'},
		{"client-id", required_argument, NULL, 'i'},
		{"keyring", required_argument, NULL, 'k'},
		{"path", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	struct tenant_route r = {0}, old;
	struct add_args a = {0};
	char where[3 * TENANT_PATH_MAX + 2 * TENANT_NAME_MAX];
	int c, rc, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 't':
			a.type = optarg;
			break;
		case 'c':
			a.conf = optarg;
			break;
		case 'p':
			a.pool = optarg;
			break;
		case 'i':
			a.client = optarg;
			break;
		case 'k':
			a.keyring = optarg;
			break;
		case 'P':
			a.path = optarg;
			break;
		case 'h':
			return gw_cli_help(add_usage);
		default:
			return GW_CLI_USAGE;
		}
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "route NAME") < 0)
		return GW_CLI_USAGE;
	rc = fill_route(cli, &a, &r);
	if (rc)
		return rc;
	if (gw_cli_check_name("route", argv[optind]) < 0)
		return GW_CLI_FAIL;
	snprintf(r.name, sizeof(r.name), "%s", argv[optind]);
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	/* Before connecting: a duplicate is refused without waiting on a
	 * cluster. */
	err = tenant_route_get(cat, r.name, &old);
	if (err == 0) {
		rc = gw_cli_fail("route '%s' already exists", r.name);
		goto out;
	}
	rc = check_store(&r);
	if (rc)
		goto out;
	err = tenant_route_add(cat, &r);
	if (err < 0) {
		rc = gw_cli_fail("cannot add route '%s': %s", r.name,
				 err == -EEXIST ? "it already exists"
						: gw_cli_strerror(err));
		goto out;
	}
	location(&r, where, sizeof(where));
	printf("Added route '%s': %s %s.\n"
	       "Next: havenctl -d %s tenant add TENANT --route %s\n",
	       r.name, r.type, where, cli->dir, r.name);
out:
	tenant_catalog_close(cat);
	return rc;
}

static const struct gw_cli_cmd route_cmds[] = {
	{"add", route_add_cmd, "add a storage route"},
	{"list", route_list_cmd, "list the storage routes"},
};

int gw_cli_cmd_route(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, route_usage, route_cmds,
			       sizeof(route_cmds) / sizeof(route_cmds[0]), argc,
			       argv);
}
