/* havenctl audit: the audit trail of changes and refused logins (see
 * tenant/catalog-audit.c for the log, audit.c for how havenctl records
 * its own commands).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char audit_usage[] =
	"Usage: havenctl audit [--tenant NAME] [--since WHEN] [--json]\n"
	"       havenctl audit --verify\n"
	"Show the audit trail: every change made with havenctl (refused\n"
	"and failed ones too) and every refused client login, oldest first.\n"
	"\n"
	"Options:\n"
	"  --tenant NAME   only entries about this tenant\n"
	"  --since WHEN    only entries from then on: 2026-11-26T10:00:00Z,\n"
	"                  2026-11-26 (UTC), or an age such as 90s, 30m, 1h,\n"
	"                  2d, 1w\n"
	"  --json          a JSON array, with each entry's hashes\n"
	"  --verify        check the hash chain: exit 0 and print the entry\n"
	"                  count and the newest hash (keep it elsewhere to\n"
	"                  catch a rewritten log), or exit 1 naming the first\n"
	"                  entry that was changed, removed or moved\n"
	"  -h, --help      show this help\n";

struct audit_opts {
	const char *tenant;
	uint64_t since_ms;
	bool json, verify;
};

/* An age ("30m") back from now, or a UTC date and time; reports. */
static int parse_since(const char *arg, uint64_t *out_ms)
{
	static const struct {
		char suffix;
		uint64_t secs;
	} units[] = {{'s', 1},
		     {'m', 60},
		     {'h', 3600},
		     {'d', 86400},
		     {'w', 7 * 86400}};
	uint64_t n, secs;
	char *end;
	size_t i;

	if (arg[0] >= '0' && arg[0] <= '9') {
		errno = 0;
		n = strtoull(arg, &end, 10);
		for (i = 0; !errno && end[0] && !end[1] &&
			    i < sizeof(units) / sizeof(units[0]);
		     i++) {
			if (end[0] != units[i].suffix)
				continue;
			secs = n * units[i].secs;
			if (secs / units[i].secs != n ||
			    secs > (uint64_t)time(NULL))
				break;
			*out_ms = ((uint64_t)time(NULL) - secs) * 1000;
			return 0;
		}
	}
	if (gw_cli_parse_utc(arg, &secs) == 0) {
		*out_ms = secs * 1000;
		return 0;
	}
	gw_cli_fail("invalid --since '%s': use YYYY-MM-DD, "
		    "YYYY-MM-DDTHH:MM[:SS]Z (UTC) or an age such as 30m, 1h, "
		    "2d",
		    arg);
	return -EINVAL;
}

static int parse(struct gw_cli *cli, int argc, char **argv,
		 struct audit_opts *o)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'},
		{"since", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"verify", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *since = NULL;
	int c;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 't')
			o->tenant = optarg;
		else if (c == 's')
			since = optarg;
		else if (c == 'j')
			o->json = true;
		else if (c == 'v')
			o->verify = true;
		else if (c == 'h') {
			gw_cli_help(audit_usage);
			return GW_CLI_DONE;
		} else
			return GW_CLI_USAGE;
	}
	if (optind < argc)
		return gw_cli_usage_error(cli, "unexpected argument '%s'",
					  argv[optind]);
	if (o->verify && (o->tenant || since || o->json))
		return gw_cli_usage_error(
			cli, "--verify checks the whole log and takes no "
			     "other option");
	if (o->tenant && gw_cli_check_name("tenant", o->tenant) < 0)
		return GW_CLI_FAIL;
	if (since && parse_since(since, &o->since_ms) < 0)
		return GW_CLI_FAIL;
	return GW_CLI_OK;
}

static void hash_hex(const uint8_t *h, char *buf)
{
	size_t i;

	for (i = 0; i < TENANT_AUDIT_HASH_LEN; i++)
		snprintf(buf + 2 * i, 3, "%02x", h[i]);
}

static int verify(struct tenant_catalog *cat)
{
	char head[2 * TENANT_AUDIT_HASH_LEN + 1];
	struct tenant_audit_check c;
	int err;

	err = tenant_audit_verify(cat, &c);
	if (err < 0)
		return gw_cli_fail("cannot read the audit log: %s",
				   gw_cli_strerror(err));
	if (!c.ok)
		return gw_cli_fail("audit log verification FAILED at entry "
				   "%" PRIu64 ": %s",
				   c.bad_seq, c.why);
	hash_hex(c.head, head);
	printf("audit log verified: %" PRIu64 " %s, head %s\n", c.count,
	       c.count == 1 ? "entry" : "entries", c.count ? head : "none");
	return GW_CLI_OK;
}

static int push(const struct tenant_audit *e, void *arg)
{
	return gw_cli_vec_push(arg, e);
}

static json_t *entry_json(const struct tenant_audit *e)
{
	char prev[2 * TENANT_AUDIT_HASH_LEN + 1];
	char hash[2 * TENANT_AUDIT_HASH_LEN + 1];

	hash_hex(e->prev, prev);
	hash_hex(e->hash, hash);
	return json_pack("{s:o, s:o, s:o, s:s, s:o, s:s, s:s, s:s, s:s, s:s}",
			 "seq", gw_cli_json_u64(e->seq), "time",
			 gw_cli_json_time_ms(e->time_ms), "time_ms",
			 gw_cli_json_u64(e->time_ms), "actor", e->actor,
			 "tenant",
			 e->tenant[0] ? json_string(e->tenant) : json_null(),
			 "action", e->action, "result", e->result, "detail",
			 e->detail, "prev", prev, "hash", hash);
}

static int print_json(const struct gw_cli_vec *v)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < v->n; i++) {
		if (json_array_append_new(arr,
					  entry_json(gw_cli_vec_at(v, i)))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return gw_cli_json_print(arr);
}

static int print_table(const struct gw_cli_vec *v)
{
	static const char *const cols[] = {
		">#", "TIME", "ACTOR", "TENANT", "ACTION", "RESULT", "DETAIL"};
	struct gw_cli_table *t;
	char seq[24], when[40];
	size_t i;
	int err;

	err = gw_cli_table_new(cols, sizeof(cols) / sizeof(cols[0]), &t);
	for (i = 0; !err && i < v->n; i++) {
		const struct tenant_audit *e = gw_cli_vec_at(v, i);
		const char *row[] = {seq,	when,
				     e->actor,	e->tenant[0] ? e->tenant : "-",
				     e->action, e->result,
				     e->detail};

		snprintf(seq, sizeof(seq), "%" PRIu64, e->seq);
		gw_cli_fmt_time_ms(e->time_ms, when, sizeof(when));
		err = gw_cli_table_add(t, row);
	}
	if (err) {
		gw_cli_table_free(t);
		return gw_cli_fail("cannot format the audit log: %s",
				   strerror(-err));
	}
	gw_cli_table_print(t);
	gw_cli_table_free(t);
	return GW_CLI_OK;
}

int gw_cli_cmd_audit(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct tenant_audit_filter f = {0};
	struct audit_opts o = {0};
	struct gw_cli_vec v;
	int rc, err;

	rc = parse(cli, argc, argv, &o);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	if (o.verify) {
		rc = verify(cat);
		tenant_catalog_close(cat);
		return rc;
	}
	f.since_ms = o.since_ms;
	f.tenant = o.tenant;
	gw_cli_vec_init(&v, sizeof(struct tenant_audit));
	err = tenant_audit_list(cat, &f, push, &v);
	tenant_catalog_close(cat);
	if (err < 0)
		rc = gw_cli_fail("cannot read the audit log: %s",
				 gw_cli_strerror(err));
	else if (o.json)
		rc = print_json(&v);
	else
		rc = print_table(&v);
	gw_cli_vec_free(&v);
	return rc;
}
