/* havenctl route list.  A route is where a tenant's objects live: the
 * embedded local store, or (later) a Ceph pool; 'route add' comes with
 * the rados backend.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char route_usage[] =
	"Usage: havenctl [-d DIR] route COMMAND [ARGS]...\n"
	"Storage routes: where tenants' disk objects are stored.\n";

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
		snprintf(buf, len, "pool %s (%s%s%s)", r->pool,
			 r->ceph_conf[0] ? r->ceph_conf : "default ceph.conf",
			 r->client_id[0] ? ", client." : "", r->client_id);
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
	char where[2 * TENANT_PATH_MAX];
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

static const struct gw_cli_cmd route_cmds[] = {
	{"list", route_list_cmd, "list the storage routes"},
};

int gw_cli_cmd_route(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, route_usage, route_cmds,
			       sizeof(route_cmds) / sizeof(route_cmds[0]), argc,
			       argv);
}
