/* havenctl internals: the subcommand tables, error reporting, the data
 * directory and output helpers shared by the cmd-*.c files.
 *
 * Conventions.  A command function returns a process exit status:
 * GW_CLI_OK, GW_CLI_FAIL (something failed; exactly one line
 * "havenctl: <what>: <why>" was printed to stderr) or GW_CLI_USAGE (the
 * command line was wrong; one line and a hint were printed).  Helpers
 * return 0 or a negative errno; a gw_cli_* helper documented as
 * "reports" has already printed its one error line when it fails, so the
 * caller only turns the failure into GW_CLI_FAIL.
 */
#ifndef HAVEN_CLI_H
#define HAVEN_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenant.h"

#define GW_CLI_OK 0
#define GW_CLI_FAIL 1
#define GW_CLI_USAGE 2
/* Not an exit status: option parsing printed --help, stop with GW_CLI_OK. */
#define GW_CLI_DONE (-1)

#define GW_CLI_PORT 10809
#define GW_CLI_DEFAULT_DIR "/var/lib/haven"
#define GW_CLI_DEFAULT_ROUTE "local"

/* Paths inside the data directory. */
#define GW_CLI_CONF "haven.conf"
#define GW_CLI_CATALOG "catalog"
#define GW_CLI_PKI "pki"
#define GW_CLI_STORE "store"

/* State of one invocation. */
struct gw_cli {
	const char *dir; /* data directory, as given */
	char cmd[64];	 /* "tenant add": used in usage errors and hints */
};

/* One row of a subcommand table. */
struct gw_cli_cmd {
	const char *name;
	int (*fn)(struct gw_cli *cli, int argc, char **argv);
	const char *summary;
};

/* ---- common.c ---- */

/* Runs argv[1] from a command group's table; argv[0] is the group name.
 * "--help", "-h" and "help" print the group's usage. */
int gw_cli_dispatch(struct gw_cli *cli, const char *usage,
		    const struct gw_cli_cmd *cmds, size_t ncmds, int argc,
		    char **argv);
/* Prints a table of commands (for usage texts). */
void gw_cli_print_cmds(const struct gw_cli_cmd *cmds, size_t ncmds);

/* getopt_long() for a subcommand: returns the option character, -1 at the
 * end of the options, 'h' for --help (if longopts maps it), or '?' after
 * reporting a usage error (unknown option, missing argument).  The
 * dispatchers reset getopt's state before they call a command. */
int gw_cli_getopt(struct gw_cli *cli, int argc, char **argv,
		  const char *shortopts, const struct option *longopts);
/* Parses the options of a command whose only option is --json (json may
 * be NULL if it has none).  Returns GW_CLI_OK, GW_CLI_DONE or
 * GW_CLI_USAGE; the positional arguments start at argv[optind]. */
int gw_cli_opts_json(struct gw_cli *cli, int argc, char **argv,
		     const char *usage, bool *json);
/* The exit status for what an option parser returned. */
static inline int gw_cli_exit(int rc)
{
	return rc == GW_CLI_DONE ? GW_CLI_OK : rc;
}
/* Prints a usage text to stdout; returns GW_CLI_OK. */
int gw_cli_help(const char *usage);
/* Reports a usage error: one line and a hint; returns GW_CLI_USAGE. */
int gw_cli_usage_error(const struct gw_cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Checks the number of positional arguments left after the options;
 * reports and returns -EINVAL when it is not within [min, max]. */
int gw_cli_nargs(const struct gw_cli *cli, int argc, int min, int max,
		 const char *what);
/* Prints "havenctl: <message>" to stderr; returns GW_CLI_FAIL. */
int gw_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The reason for a negative errno from the libraries. */
const char *gw_cli_strerror(int err);

/* Checks a tenant, site, VM, disk or route name; reports. */
int gw_cli_check_name(const char *kind, const char *s);
/* Joins the data directory and a relative path into buf; -ENAMETOOLONG. */
int gw_cli_path(const struct gw_cli *cli, const char *rel, char *buf,
		size_t len);
/* Opens the catalog of an initialised data directory; reports. */
int gw_cli_catalog_open(const struct gw_cli *cli, struct tenant_catalog **out);
/* Looks a tenant up by name; reports (unknown tenant, catalog errors). */
int gw_cli_tenant_get(struct tenant_catalog *cat, const char *name,
		      struct tenant_info *out);

/* A growable array of fixed-size records copied out of the catalog. */
struct gw_cli_vec {
	void *items;
	size_t n;
	size_t cap;
	size_t size; /* of one item */
};

void gw_cli_vec_init(struct gw_cli_vec *v, size_t size);
void gw_cli_vec_free(struct gw_cli_vec *v);
int gw_cli_vec_push(struct gw_cli_vec *v, const void *item);
void *gw_cli_vec_at(const struct gw_cli_vec *v, size_t i);

/* Copy whole catalog listings into vectors.  Rendering happens after the
 * catalog's read transaction ended, so a slow reader of our stdout never
 * holds a transaction open.  They report. */
int gw_cli_load_tenants(struct tenant_catalog *cat, struct gw_cli_vec *v);
int gw_cli_load_creds(struct tenant_catalog *cat, struct gw_cli_vec *v);
int gw_cli_load_disks(struct tenant_catalog *cat, uint64_t tenant_id,
		      struct gw_cli_vec *v);
int gw_cli_load_routes(struct tenant_catalog *cat, struct gw_cli_vec *v);
/* The name of a tenant in a vector of tenant_info, or NULL. */
const char *gw_cli_tenant_name(const struct gw_cli_vec *tenants, uint64_t id);

/* ---- output.c ---- */

/* "10 GiB", "1.5 MiB", "512 B". */
void gw_cli_fmt_size(uint64_t bytes, char *buf, size_t len);
/* Human "2025-01-31 12:00 UTC" and JSON "2025-01-31T12:00:00Z". */
void gw_cli_fmt_time(uint64_t unix_secs, char *buf, size_t len);
void gw_cli_fmt_time_json(uint64_t unix_secs, char *buf, size_t len);
const char *gw_cli_state_name(uint32_t state);

/* An aligned text table with a header line.  A column whose name starts
 * with '>' is right-aligned (the '>' is not printed). */
struct gw_cli_table;

int gw_cli_table_new(const char *const *cols, size_t ncols,
		     struct gw_cli_table **out);
void gw_cli_table_free(struct gw_cli_table *t);
/* Copies one row of ncols cells. */
int gw_cli_table_add(struct gw_cli_table *t, const char *const *cells);
void gw_cli_table_print(const struct gw_cli_table *t);

/* Prints a JSON value (steals the reference; NULL means the value could
 * not be built).  Reports. */
int gw_cli_json_print(json_t *v);
/* json_pack() helpers for values the human output formats too. */
json_t *gw_cli_json_time(uint64_t unix_secs);
json_t *gw_cli_json_u64(uint64_t v);

/* ---- the command groups ---- */

int gw_cli_cmd_init(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_tenant(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_cert(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_disk(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_route(struct gw_cli *cli, int argc, char **argv);

/* cmd-cert.c, shared with tenant show: one credential as JSON (tenant is
 * NULL for an operator credential), and a table of credentials (reports). */
json_t *gw_cli_cred_json(const struct tenant_cred *c, const char *tenant);
int gw_cli_print_creds(const struct gw_cli_vec *creds,
		       const struct gw_cli_vec *tenants);
/* cmd-disk.c, shared with tenant show: the same for disks. */
json_t *gw_cli_disk_json(const struct tenant_disk *d, const char *tenant);
int gw_cli_print_disks(const struct gw_cli_vec *disks,
		       const struct gw_cli_vec *tenants);

#endif
