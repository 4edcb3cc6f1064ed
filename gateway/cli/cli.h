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

#include "gw.h"
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
#define GW_CLI_LOCK "havend.lock" /* held by a running havend */
#define GW_CLI_BELL GW_BELL_FILE  /* havend's doorbell (gateway/bell.c) */
/* The address of havend's metrics endpoint, written by havend (the same
 * name as GW_METRICS_ADDR_FILE in gateway/metrics.h). */
#define GW_CLI_METRICS "havend.metrics"

/* How long havenctl waits for havend to carry out a request. */
#define GW_CLI_REQUEST_TIMEOUT_MS 30000
/* Restore point intervals above this are surely typos (and havend counts
 * the interval in milliseconds on 32 bits). */
#define GW_CLI_CHECKPOINT_MAX (30 * 86400)

/* State of one invocation. */
struct gw_cli {
	const char *dir; /* data directory, as given */
	char cmd[64];	 /* "tenant add": used in usage errors and hints */
	/* DIR/haven.conf as havend reads it, on first use (gw_cli_interval). */
	bool conf_read;
	struct gw_config conf;
};

/* One row of a subcommand table. */
struct gw_cli_cmd {
	const char *name;
	int (*fn)(struct gw_cli *cli, int argc, char **argv);
	const char *summary;
};

/* The retention policy that applies to a disk: its own ladder or its
 * tenant's, and the tenant's immutability window. */
struct gw_cli_policy {
	struct tenant_retention r;
	char text[TENANT_RETENTION_TEXT_MAX];
	bool inherited; /* the disk follows its tenant */
	uint32_t immutable_days;
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

/* A parsed TENANT/VM/DISK, or TENANT/VM (disk[0] == '\0'). */
struct gw_cli_path {
	char tenant[TENANT_NAME_MAX + 1];
	char vm[TENANT_NAME_MAX + 1];
	char disk[TENANT_NAME_MAX + 1];
};

/* Splits and checks TENANT/VM/DISK (or TENANT/VM too if vm_only_ok);
 * reports. */
int gw_cli_parse_path(const char *arg, bool vm_only_ok, struct gw_cli_path *p);
/* Looks up a TENANT/VM/DISK and its tenant; reports. */
int gw_cli_disk_lookup(struct tenant_catalog *cat, const char *arg,
		       struct tenant_info *t, struct tenant_disk *d);
/* Parses --checkpoint SECONDS (MIN..MAX, or 0 if zero_ok); reports. */
int gw_cli_parse_checkpoint(const char *arg, bool zero_ok, uint32_t *out);
/* Parses --retention LADDER ("inherit" too if inherit_ok, which gives
 * "") into its canonical text; reports. */
int gw_cli_parse_retention(const char *arg, bool inherit_ok, char *canon,
			   size_t len);
/* Parses --immutable-days N; reports. */
int gw_cli_parse_days(const char *arg, uint32_t *out);
/* The policy of a disk (d NULL: of the tenant); reports. */
int gw_cli_policy_get(struct tenant_catalog *cat, const struct tenant_info *t,
		      const struct tenant_disk *d, struct gw_cli_policy *p);
/* Why a restore point may not be removed now: -EPERM with "immutable
 * until ..." or -EBUSY with "pinned by N holder(s)" in why, else 0.
 * Does not report (callers say what they were doing). */
int gw_cli_rp_hold(struct tenant_catalog *cat, const struct tenant_disk *d,
		   const struct tenant_rp *rp, char *why, size_t len);

/* The object store of a route, driven synchronously (storage_sync). */
struct storage_route;
struct storage_sync;
struct storage_store;
struct gw_cli_store {
	struct storage_sync *sync;
	struct storage_store *st;
};

/* The storage.h view of a catalog route (strings borrowed from r). */
void gw_cli_storage_route(const struct tenant_route *r,
			  struct storage_route *out);
/* Open a route's store, or a tenant's; they do not report (the caller
 * knows what it was doing).  Close accepts a store that failed to open. */
int gw_cli_store_open_route(const struct tenant_route *r,
			    struct gw_cli_store *s);
int gw_cli_store_open(struct tenant_catalog *cat, const struct tenant_info *t,
		      struct gw_cli_store *s);
void gw_cli_store_close(struct gw_cli_store *s);
/* Opens a live disk with its write snap context (every restore point's
 * snap id), as havend does; does not report. */
struct storage_disk;
int gw_cli_open_live(struct tenant_catalog *cat, struct gw_cli_store *s,
		     const struct tenant_info *t, const struct tenant_disk *d,
		     struct storage_disk **out);

/* havend holds DIR/havend.lock while it runs and owns the snap contexts
 * of the disks it serves.  A command that changes them takes the lock if
 * it can: then havend is not running and cannot start until the command
 * is done, so it acts alone.  Otherwise it asks havend (a request in the
 * catalog) and waits for the answer. */
struct gw_cli_lock {
	int fd;
	bool held; /* true: havend is not running, act directly */
};

/* Reports; on success the caller calls gw_cli_lock_release(). */
int gw_cli_lock_take(const struct gw_cli *cli, struct gw_cli_lock *lk);
void gw_cli_lock_release(struct gw_cli_lock *lk);
/* Sends a request to havend (adding it rings havend's doorbell) and
 * waits for its answer (polling every 2 ms for the first 100 ms, then
 * every 100 ms, up to GW_CLI_REQUEST_TIMEOUT_MS); the request is removed
 * from the catalog afterwards.  Returns 0 with req holding the answer, 1 when
 * havend stopped without answering (lk->held is true now: act directly),
 * or a negative errno after reporting (havend's own message if it
 * refused). */
int gw_cli_request(struct tenant_catalog *cat, struct gw_cli_lock *lk,
		   struct tenant_req *req);
uint64_t gw_cli_now_ms(void);

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
/* With seconds, for restore points: "2025-01-31 12:00:05 UTC" and JSON
 * "2025-01-31T12:00:05.123Z". */
void gw_cli_fmt_time_ms(uint64_t unix_ms, char *buf, size_t len);
json_t *gw_cli_json_time_ms(uint64_t unix_ms);
/* "1 min", "90 s", "default (60 s)". */
void gw_cli_fmt_interval(uint32_t seconds, char *buf, size_t len);
/* "60 s (1 min), from haven.conf": an interval and where it comes from. */
void gw_cli_fmt_checkpoint(uint32_t seconds, enum gw_rp_interval_from from,
			   char *buf, size_t len);
const char *gw_cli_state_name(uint32_t state);
/* "checkpoint", "session_end", "manual". */
const char *gw_cli_trigger_name(uint32_t trigger);

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

/* A restore point and the disk it belongs to (of one tenant), and what
 * the retention policy says of it (rp list), or NULL (rp create). */
struct gw_cli_rp_row {
	const struct tenant_disk *d;
	struct tenant_rp rp;
	const struct tenant_rp_fate *fate;
	const struct tenant_retention *policy; /* that made the fate */
};

json_t *gw_cli_rp_json(const struct tenant_info *t, const struct tenant_disk *d,
		       const struct tenant_rp *rp);
/* A JSON array, or a table (with a DISK column if with_disk); report.
 * Rows with a fate get TIER and EXPIRES columns (fields in JSON), judged
 * at now_ms. */
int gw_cli_print_rps_json(const struct tenant_info *t,
			  const struct gw_cli_rp_row *rows, size_t n,
			  uint64_t now_ms);
int gw_cli_print_rps(const struct tenant_info *t,
		     const struct gw_cli_rp_row *rows, size_t n, bool with_disk,
		     uint64_t now_ms);
/* "2026-12-03 10:15 UTC" for a deadline in ms, rounded up to the minute
 * so that it is never earlier than the real one. */
void gw_cli_fmt_deadline(uint64_t unix_ms, char *buf, size_t len);

/* ---- bell.c: havend's doorbell ---- */

/* Tells a running havend to look at the catalog now; silent, never
 * blocks, and harmless without a havend (its poll finds every change
 * within GW_WATCH_INTERVAL_MS anyway). */
void gw_cli_bell_ring(const struct gw_cli *cli);
/* Rings after every change committed through cat (gw_cli_catalog_open
 * calls it).  cli is borrowed for the handle's life. */
void gw_cli_bell_attach(const struct gw_cli *cli, struct tenant_catalog *cat);

/* ---- audit.c: this invocation's entry in the audit trail ---- */

/* Starts the entry: the actor (unix user) and the command line (argv
 * after the global options).  cli is borrowed for the process's life. */
void gw_cli_audit_begin(const struct gw_cli *cli, int argc, char **argv);
/* Makes the handle's first change carry the entry (gw_cli_catalog_open
 * calls it; so does init, which creates the catalog itself). */
void gw_cli_audit_attach(struct tenant_catalog *cat);
/* The tenant the command acts on. */
void gw_cli_audit_tenant(const char *name);
/* Adds " key=value" details (a credential's pin, ...). */
void gw_cli_audit_note(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* The first error line the command printed (gw_cli_fail and
 * gw_cli_usage_error pass it on): line holds its first bytes, len counts
 * all of them. */
void gw_cli_audit_error(const char *line, size_t len);
/* Records what only the outcome tells: a refused or failed change, an
 * export.  Best effort; never prints. */
void gw_cli_audit_end(int rc);
/* cmd-audit.c: havenctl audit. */
int gw_cli_cmd_audit(struct gw_cli *cli, int argc, char **argv);

/* ---- the command groups ---- */

int gw_cli_cmd_init(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_tenant(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_cert(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_disk(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_route(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_rp(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_export(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_failover(struct gw_cli *cli, int argc, char **argv);
int gw_cli_cmd_status(struct gw_cli *cli, int argc, char **argv);

/* cmd-cert.c, shared with tenant show: one credential as JSON (tenant is
 * NULL for an operator credential), and a table of credentials (reports). */
json_t *gw_cli_cred_json(const struct tenant_cred *c, const char *tenant);
int gw_cli_print_creds(const struct gw_cli_vec *creds,
		       const struct gw_cli_vec *tenants);
/* cmd-disk.c, shared with tenant show: the same for disks. */
json_t *gw_cli_disk_json(const struct tenant_disk *d, const char *tenant);
int gw_cli_print_disks(const struct gw_cli_vec *disks,
		       const struct gw_cli_vec *tenants);

/* cmd-rp.c, shared with disk resize and disk remove. */
/* Copies a disk's restore points (struct tenant_rp), oldest first. */
int gw_cli_load_rps(struct tenant_catalog *cat, uint64_t disk_id,
		    struct gw_cli_vec *v);
/* Removes one restore point, through havend if it runs (lk says);
 * reports (an immutable or pinned one is refused up front). */
int gw_cli_rp_remove(struct tenant_catalog *cat, struct gw_cli_lock *lk,
		     const struct tenant_info *t, const struct tenant_disk *d,
		     const struct tenant_rp *rp);
/* Rewrites the header object of a disk from the catalog (havend not
 * running).  The header only mirrors the catalog and havend rewrites it
 * whenever it opens the disk, so a failure is a warning on stderr. */
void gw_cli_header_update(struct tenant_catalog *cat,
			  const struct tenant_info *t, uint64_t disk_id);

/* ---- cmd-tenant-limits.c: limits options, quotas, usage ---- */

/* getopt codes of the limit options of tenant add and set (no short
 * forms), and their rows for a struct option table. */
enum {
	GW_CLI_OPT_LIMITS = 0x1000,
	GW_CLI_OPT_MAX_PROV = GW_CLI_OPT_LIMITS,
	GW_CLI_OPT_MAX_STORED,
	GW_CLI_OPT_MAX_DISKS,
	GW_CLI_OPT_MAX_SESSIONS,
	GW_CLI_OPT_BANDWIDTH,
	GW_CLI_OPT_WEIGHT,
	GW_CLI_OPT_LEASE,
};
#define GW_CLI_LIMIT_LONGOPTS                                                  \
	{"max-provisioned", required_argument, NULL, GW_CLI_OPT_MAX_PROV},     \
		{"max-stored", required_argument, NULL,                        \
		 GW_CLI_OPT_MAX_STORED},                                       \
		{"max-disks", required_argument, NULL, GW_CLI_OPT_MAX_DISKS},  \
		{"max-sessions", required_argument, NULL,                      \
		 GW_CLI_OPT_MAX_SESSIONS},                                     \
		{"bandwidth", required_argument, NULL, GW_CLI_OPT_BANDWIDTH},  \
		{"weight", required_argument, NULL, GW_CLI_OPT_WEIGHT},        \
	{                                                                      \
		"lease-until", required_argument, NULL, GW_CLI_OPT_LEASE       \
	}
#define GW_CLI_LIMIT_HELP                                                      \
	"  --max-provisioned SIZE sum of its disk sizes (0: unlimited)\n"      \
	"  --max-stored SIZE      bytes stored, history and clones included\n" \
	"  --max-disks N          number of disks\n"                           \
	"  --max-sessions N       concurrent NBD sessions\n"                   \
	"  --bandwidth RATE       bytes/s over all its connections, e.g. "     \
	"50M\n"                                                                \
	"  --weight N             its share of a busy backend (1 to 1000;\n"   \
	"                         default 1)\n"                                \
	"  --lease-until DATE     suspend it then: YYYY-MM-DD or\n"            \
	"                         YYYY-MM-DDTHH:MM[:SS]Z (UTC); none clears\n"

/* The option values as given (NULL: not given). */
struct gw_cli_limit_opts {
	const char *max_provisioned, *max_stored, *max_disks, *max_sessions;
	const char *bandwidth, *weight, *lease_until;
};

/* Keeps a limit option's argument if c is one; false otherwise. */
bool gw_cli_limit_opt(struct gw_cli_limit_opts *o, int c, const char *arg);
bool gw_cli_limits_given(const struct gw_cli_limit_opts *o);
/* Parses the given options over l (what was not given stays); reports. */
int gw_cli_limits_parse(const struct gw_cli_limit_opts *o,
			struct tenant_limits *l);
/* Applies them to a tenant and prints the result; reports. */
int gw_cli_limits_apply(struct tenant_catalog *cat, const struct tenant_info *t,
			const struct gw_cli_limit_opts *o);
/* A rate ("50M", "50M/s", 0) in bytes/s, and a date (or none/0) in unix
 * seconds; report. */
int gw_cli_parse_rate(const char *arg, uint64_t *out);
int gw_cli_parse_date(const char *arg, uint64_t *out);
/* The same without none and without reporting: YYYY-MM-DD or
 * YYYY-MM-DDTHH:MM[:SS]Z in unix seconds, else -EINVAL. */
int gw_cli_parse_utc(const char *arg, uint64_t *out);
/* "50 MiB/s" or "unlimited". */
void gw_cli_fmt_rate(uint64_t rate, char *buf, size_t len);

/* A tenant's limits with what it uses now. */
struct gw_cli_usage {
	struct tenant_limits lim;
	uint64_t provisioned; /* sum of disk sizes */
	uint32_t ndisks;
	uint64_t stored; /* the ledger: live + history, in the catalog */
};

/* Reports. */
int gw_cli_load_usage(struct tenant_catalog *cat, const struct tenant_info *t,
		      struct gw_cli_usage *u);
/* Says which quota a disk add (new_disk, old_size 0) or a resize from
 * old_size to new_size would exceed, with the usage: -EDQUOT after
 * reporting, else 0.  The catalog checks again when it writes. */
int gw_cli_quota_check(struct tenant_catalog *cat, const struct tenant_info *t,
		       uint64_t old_size, uint64_t new_size, bool new_disk);
/* tenant show: quotas with usage, bandwidth, weight, lease end. */
json_t *gw_cli_usage_json(const struct gw_cli_usage *u);
int gw_cli_print_usage(const struct gw_cli_usage *u);

/* ---- cmd-tenant-purge.c ---- */

/* tenant remove NAME --purge, after its options were parsed. */
int gw_cli_tenant_purge(struct gw_cli *cli, const char *name);

/* cmd-disk-show.c */
int gw_cli_disk_show(struct gw_cli *cli, int argc, char **argv);
/* The restore point interval havend uses for disk d of tenant t (d NULL:
 * for t's disks without their own), picked by havend's own function from
 * the catalog and DIR/haven.conf, and where it comes from.  A haven.conf
 * havend could not load is a warning on stderr and the built-in default. */
uint32_t gw_cli_interval(struct gw_cli *cli, const struct tenant_info *t,
			 const struct tenant_disk *d,
			 enum gw_rp_interval_from *from);

#endif
