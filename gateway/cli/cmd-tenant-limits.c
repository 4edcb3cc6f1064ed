/* havenctl: a tenant's limits (tenant add|set options, tenant show) and
 * the quota checks that disk create and resize make before the catalog
 * refuses them, so the operator reads what was exceeded and by how much.
 *
 * Every limit takes 0 for "unlimited"; sizes and rates use the K/M/G/T
 * suffixes of --size (powers of 1024), a rate is bytes per second.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ---- parsing ---- */

/* A size or a rate (an optional "/s" after a rate); reports. */
static int parse_bytes(const char *what, const char *arg, bool rate,
		       uint64_t *out)
{
	char buf[64];
	size_t n = strlen(arg);
	int err;

	if (rate && n > 2 && n < sizeof(buf) && !strcmp(arg + n - 2, "/s")) {
		memcpy(buf, arg, n - 2);
		buf[n - 2] = '\0';
		arg = buf;
	}
	err = tenant_parse_size(arg, out);
	if (err == 0 && *out > INT64_MAX)
		err = -ERANGE;
	if (err < 0)
		gw_cli_fail("invalid %s '%s': use a number of bytes%s with an "
			    "optional K, M, G or T suffix, or 0 for unlimited",
			    what, arg, rate ? " per second" : "");
	return err;
}

int gw_cli_parse_rate(const char *arg, uint64_t *out)
{
	return parse_bytes("bandwidth", arg, true, out);
}

/* A count up to max; reports. */
static int parse_count(const char *what, const char *arg, uint32_t max,
		       uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno || v > max) {
		gw_cli_fail("invalid %s '%s': use 0 to %" PRIu32 "%s", what,
			    arg, max,
			    strcmp(what, "weight") ? " (0: unlimited)"
						   : " (0: 1)");
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int gw_cli_parse_utc(const char *arg, uint64_t *out)
{
	static const char *const fmts[] = {"%Y-%m-%d", "%Y-%m-%dT%H:%MZ",
					   "%Y-%m-%dT%H:%M:%SZ"};
	struct tm tm;
	const char *end;
	time_t t;
	size_t i;

	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(arg, fmts[i], &tm);
		if (!end || *end)
			continue;
		t = timegm(&tm);
		if (t > 0) {
			*out = (uint64_t)t;
			return 0;
		}
	}
	return -EINVAL;
}

int gw_cli_parse_date(const char *arg, uint64_t *out)
{
	if (!strcmp(arg, "none") || !strcmp(arg, "0")) {
		*out = 0;
		return 0;
	}
	if (gw_cli_parse_utc(arg, out) == 0)
		return 0;
	gw_cli_fail("invalid date '%s': use YYYY-MM-DD or "
		    "YYYY-MM-DDTHH:MM[:SS]Z (UTC), or none",
		    arg);
	return -EINVAL;
}

bool gw_cli_limit_opt(struct gw_cli_limit_opts *o, int c, const char *arg)
{
	const char **slot[] = {
		[GW_CLI_OPT_MAX_PROV - GW_CLI_OPT_LIMITS] = &o->max_provisioned,
		[GW_CLI_OPT_MAX_STORED - GW_CLI_OPT_LIMITS] = &o->max_stored,
		[GW_CLI_OPT_MAX_DISKS - GW_CLI_OPT_LIMITS] = &o->max_disks,
		[GW_CLI_OPT_MAX_SESSIONS - GW_CLI_OPT_LIMITS] =
			&o->max_sessions,
		[GW_CLI_OPT_BANDWIDTH - GW_CLI_OPT_LIMITS] = &o->bandwidth,
		[GW_CLI_OPT_WEIGHT - GW_CLI_OPT_LIMITS] = &o->weight,
		[GW_CLI_OPT_LEASE - GW_CLI_OPT_LIMITS] = &o->lease_until,
	};

	if (c < GW_CLI_OPT_LIMITS || c > GW_CLI_OPT_LEASE)
		return false;
	*slot[c - GW_CLI_OPT_LIMITS] = arg;
	return true;
}

bool gw_cli_limits_given(const struct gw_cli_limit_opts *o)
{
	return o->max_provisioned || o->max_stored || o->max_disks ||
	       o->max_sessions || o->bandwidth || o->weight || o->lease_until;
}

int gw_cli_limits_parse(const struct gw_cli_limit_opts *o,
			struct tenant_limits *l)
{
	int err = 0;

	if (o->max_provisioned)
		err = parse_bytes("max-provisioned", o->max_provisioned, false,
				  &l->max_provisioned);
	if (!err && o->max_stored)
		err = parse_bytes("max-stored", o->max_stored, false,
				  &l->max_stored);
	if (!err && o->max_disks)
		err = parse_count("max-disks", o->max_disks, UINT32_MAX,
				  &l->max_disks);
	if (!err && o->max_sessions)
		err = parse_count("max-sessions", o->max_sessions, UINT32_MAX,
				  &l->max_sessions);
	if (!err && o->bandwidth)
		err = gw_cli_parse_rate(o->bandwidth, &l->bandwidth);
	if (!err && o->weight)
		err = parse_count("weight", o->weight, TENANT_WEIGHT_MAX,
				  &l->weight);
	if (!err && o->lease_until)
		err = gw_cli_parse_date(o->lease_until, &l->lease_until);
	return err;
}

/* ---- formatting ---- */

static void fmt_limit(uint64_t v, bool bytes, char *buf, size_t len)
{
	if (!v)
		snprintf(buf, len, "unlimited");
	else if (bytes)
		gw_cli_fmt_size(v, buf, len);
	else
		snprintf(buf, len, "%" PRIu64, v);
}

void gw_cli_fmt_rate(uint64_t rate, char *buf, size_t len)
{
	char s[32];

	if (!rate) {
		snprintf(buf, len, "unlimited");
		return;
	}
	gw_cli_fmt_size(rate, s, sizeof(s));
	snprintf(buf, len, "%s/s", s);
}

int gw_cli_limits_apply(struct tenant_catalog *cat, const struct tenant_info *t,
			const struct gw_cli_limit_opts *o)
{
	struct tenant_limits l;
	char prov[32], stored[32], disks[32], sessions[32], bw[40], lease[40];
	int err;

	if (!gw_cli_limits_given(o))
		return 0;
	err = tenant_get_limits(cat, t->id, &l);
	if (err < 0) {
		gw_cli_fail("cannot read the limits of tenant '%s': %s",
			    t->name, gw_cli_strerror(err));
		return err;
	}
	err = gw_cli_limits_parse(o, &l);
	if (err < 0)
		return err;
	err = tenant_set_limits(cat, t->id, &l);
	if (err < 0) {
		gw_cli_fail("cannot set the limits of tenant '%s': %s", t->name,
			    gw_cli_strerror(err));
		return err;
	}
	fmt_limit(l.max_provisioned, true, prov, sizeof(prov));
	fmt_limit(l.max_stored, true, stored, sizeof(stored));
	fmt_limit(l.max_disks, false, disks, sizeof(disks));
	fmt_limit(l.max_sessions, false, sessions, sizeof(sessions));
	gw_cli_fmt_rate(l.bandwidth, bw, sizeof(bw));
	if (l.lease_until)
		gw_cli_fmt_time(l.lease_until, lease, sizeof(lease));
	else
		snprintf(lease, sizeof(lease), "none");
	printf("Tenant '%s' limits: max-provisioned %s, max-stored %s, "
	       "max-disks %s, max-sessions %s, bandwidth %s, weight %" PRIu32
	       ", lease until %s.\n",
	       t->name, prov, stored, disks, sessions, bw,
	       l.weight ? l.weight : 1, lease);
	return 0;
}

/* ---- quotas ---- */

int gw_cli_load_usage(struct tenant_catalog *cat, const struct tenant_info *t,
		      struct gw_cli_usage *u)
{
	int err;

	memset(u, 0, sizeof(*u));
	err = tenant_get_limits(cat, t->id, &u->lim);
	if (err == 0)
		err = tenant_get_provisioned(cat, t->id, &u->provisioned,
					     &u->ndisks);
	/* The ledger as the catalog has it: history exact, live bytes as
	 * of havend's last count (each cut, retention pass and close). */
	if (err == 0)
		err = tenant_stored_bytes(cat, t->id, NULL, NULL, &u->stored);
	if (err < 0)
		gw_cli_fail("cannot read the limits and usage of tenant '%s': "
			    "%s",
			    t->name, gw_cli_strerror(err));
	return err;
}

int gw_cli_quota_check(struct tenant_catalog *cat, const struct tenant_info *t,
		       uint64_t old_size, uint64_t new_size, bool new_disk)
{
	struct gw_cli_usage u;
	char lim[32], used[32];
	uint64_t after;

	if (gw_cli_load_usage(cat, t, &u) < 0)
		return -EIO;
	if (new_disk && u.lim.max_disks && u.ndisks >= u.lim.max_disks) {
		gw_cli_fail("tenant '%s': would exceed max-disks %" PRIu32
			    ": %" PRIu32 " disk%s",
			    t->name, u.lim.max_disks, u.ndisks,
			    u.ndisks == 1 ? "" : "s");
		return -EDQUOT;
	}
	after = u.provisioned - old_size + new_size;
	if (!u.lim.max_provisioned || after <= u.lim.max_provisioned)
		return 0;
	gw_cli_fmt_size(u.lim.max_provisioned, lim, sizeof(lim));
	gw_cli_fmt_size(u.provisioned, used, sizeof(used));
	gw_cli_fail("tenant '%s': would exceed max-provisioned %s: %s used",
		    t->name, lim, used);
	return -EDQUOT;
}

/* ---- tenant show ---- */

static json_t *quota_json(uint64_t used, bool known, uint64_t limit)
{
	return json_pack("{s:o, s:o}", "used",
			 known ? gw_cli_json_u64(used) : json_null(), "limit",
			 gw_cli_json_u64(limit));
}

json_t *gw_cli_usage_json(const struct gw_cli_usage *u)
{
	const struct tenant_limits *l = &u->lim;
	json_t *stored = quota_json(u->stored, true, l->max_stored);

	/* Limits of 0 are unlimited, as on the command line.  Sessions are
	 * counted by havend alone, so their use is null here. */
	return json_pack(
		"{s:{s:o, s:o, s:o, s:o}, s:o, s:o, s:o}", "quotas",
		"provisioned",
		quota_json(u->provisioned, true, l->max_provisioned), "stored",
		stored, "disks", quota_json(u->ndisks, true, l->max_disks),
		"sessions", quota_json(0, false, l->max_sessions), "bandwidth",
		gw_cli_json_u64(l->bandwidth), "weight",
		gw_cli_json_u64(l->weight ? l->weight : 1), "lease_until",
		l->lease_until ? gw_cli_json_time(l->lease_until)
			       : json_null());
}

int gw_cli_print_usage(const struct gw_cli_usage *u)
{
	static const char *const cols[] = {"  QUOTA", ">USED", ">LIMIT"};
	const struct tenant_limits *l = &u->lim;
	char used[4][48], lim[4][32], bw[40], lease[40];
	const char *names[] = {"  provisioned", "  stored", "  disks",
			       "  sessions"};
	struct gw_cli_table *tab = NULL;
	size_t i;
	int err;

	gw_cli_fmt_size(u->provisioned, used[0], sizeof(used[0]));
	gw_cli_fmt_size(u->stored, used[1], sizeof(used[1]));
	snprintf(used[2], sizeof(used[2]), "%" PRIu32, u->ndisks);
	snprintf(used[3], sizeof(used[3]), "known to havend only");
	fmt_limit(l->max_provisioned, true, lim[0], sizeof(lim[0]));
	fmt_limit(l->max_stored, true, lim[1], sizeof(lim[1]));
	fmt_limit(l->max_disks, false, lim[2], sizeof(lim[2]));
	fmt_limit(l->max_sessions, false, lim[3], sizeof(lim[3]));
	gw_cli_fmt_rate(l->bandwidth, bw, sizeof(bw));
	if (l->lease_until)
		gw_cli_fmt_time(l->lease_until, lease, sizeof(lease));
	else
		snprintf(lease, sizeof(lease), "none");
	printf("  bandwidth:   %s\n"
	       "  weight:      %" PRIu32 "%s\n"
	       "  lease until: %s%s\n\n",
	       bw, l->weight ? l->weight : 1, l->weight ? "" : " (default)",
	       lease,
	       l->lease_until && l->lease_until <= (uint64_t)time(NULL)
		       ? " (ended: havend suspends the tenant)"
		       : "");
	err = gw_cli_table_new(cols, 3, &tab);
	for (i = 0; err == 0 && i < 4; i++) {
		const char *row[] = {names[i], used[i], lim[i]};

		err = gw_cli_table_add(tab, row);
	}
	if (err == 0)
		gw_cli_table_print(tab);
	else
		gw_cli_fail("cannot print quotas: %s", strerror(-err));
	gw_cli_table_free(tab);
	return err;
}
