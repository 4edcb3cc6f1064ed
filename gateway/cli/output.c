/* How havenctl shows things: aligned tables for people, JSON (jansson)
 * for scripts.  Sizes are binary units for people and bytes in JSON;
 * times are UTC in both, ISO 8601 in JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void gw_cli_fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB"};
	unsigned u = 0;
	uint64_t scale = 1;

	while (u + 1 < sizeof(units) / sizeof(units[0]) &&
	       bytes / scale >= 1024) {
		scale *= 1024;
		u++;
	}
	/* Exact multiples read best without decimals ("10 GiB"); anything
	 * else gets one, rounded down so a size is never overstated. */
	if (bytes % scale == 0)
		snprintf(buf, len, "%" PRIu64 " %s", bytes / scale, units[u]);
	else
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 " %s", bytes / scale,
			 (bytes % scale) * 10 / scale, units[u]);
}

static void fmt_time(uint64_t unix_secs, bool iso, char *buf, size_t len)
{
	time_t t = (time_t)unix_secs;
	struct tm tm;
	size_t n = 0;

	if (gmtime_r(&t, &tm))
		n = iso ? strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)
			: strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
	if (n == 0)
		snprintf(buf, len, "%" PRIu64, unix_secs);
}

void gw_cli_fmt_time(uint64_t unix_secs, char *buf, size_t len)
{
	fmt_time(unix_secs, false, buf, len);
}

void gw_cli_fmt_time_json(uint64_t unix_secs, char *buf, size_t len)
{
	fmt_time(unix_secs, true, buf, len);
}

void gw_cli_fmt_time_ms(uint64_t unix_ms, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%" PRIu64 " ms", unix_ms);
}

json_t *gw_cli_json_time_ms(uint64_t unix_ms)
{
	char buf[40], day[32];
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return gw_cli_json_u64(unix_ms);
	snprintf(buf, sizeof(buf), "%s.%03uZ", day, (unsigned)(unix_ms % 1000));
	return json_string(buf);
}

void gw_cli_fmt_interval(uint32_t seconds, char *buf, size_t len)
{
	if (seconds % 3600 == 0)
		snprintf(buf, len, "%u s (%u h)", seconds, seconds / 3600);
	else if (seconds % 60 == 0)
		snprintf(buf, len, "%u s (%u min)", seconds, seconds / 60);
	else
		snprintf(buf, len, "%u s", seconds);
}

void gw_cli_fmt_checkpoint(uint32_t seconds, enum gw_rp_interval_from from,
			   char *buf, size_t len)
{
	static const char *const why[] = {
		[GW_RP_INTERVAL_DISK] = "set on the disk",
		[GW_RP_INTERVAL_TENANT] = "set on the tenant",
		[GW_RP_INTERVAL_CONF] = "from haven.conf",
		[GW_RP_INTERVAL_DEFAULT] = "built-in default",
	};
	char every[48];

	gw_cli_fmt_interval(seconds, every, sizeof(every));
	snprintf(buf, len, "%s, %s", every, why[from]);
}

const char *gw_cli_state_name(uint32_t state)
{
	switch (state) {
	case TENANT_ACTIVE:
		return "active";
	case TENANT_SUSPENDED:
		return "suspended";
	default:
		return "unknown";
	}
}

const char *gw_cli_trigger_name(uint32_t t)
{
	switch (t) {
	case TENANT_RP_CHECKPOINT:
		return "checkpoint";
	case TENANT_RP_SESSION_END:
		return "session_end";
	case TENANT_RP_MANUAL:
		return "manual";
	default:
		return "unknown";
	}
}

#define GW_CLI_TABLE_MAXCOLS 16

struct gw_cli_table {
	size_t ncols;
	const char *const *cols;
	size_t *width;
	struct gw_cli_vec cells; /* char *, row-major */
};

static const char *col_name(const char *col)
{
	return col[0] == '>' ? col + 1 : col;
}

int gw_cli_table_new(const char *const *cols, size_t ncols,
		     struct gw_cli_table **out)
{
	struct gw_cli_table *t;
	size_t i;

	if (ncols == 0 || ncols > GW_CLI_TABLE_MAXCOLS)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->width = calloc(ncols, sizeof(*t->width));
	if (!t->width) {
		free(t);
		return -ENOMEM;
	}
	t->ncols = ncols;
	t->cols = cols;
	for (i = 0; i < ncols; i++)
		t->width[i] = strlen(col_name(cols[i]));
	gw_cli_vec_init(&t->cells, sizeof(char *));
	*out = t;
	return 0;
}

void gw_cli_table_free(struct gw_cli_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->cells.n; i++)
		free(*(char **)gw_cli_vec_at(&t->cells, i));
	gw_cli_vec_free(&t->cells);
	free(t->width);
	free(t);
}

int gw_cli_table_add(struct gw_cli_table *t, const char *const *cells)
{
	size_t i, n0 = t->cells.n;
	char *s;

	for (i = 0; i < t->ncols; i++) {
		s = strdup(cells[i] ? cells[i] : "-");
		if (!s || gw_cli_vec_push(&t->cells, &s) < 0) {
			free(s);
			goto fail;
		}
	}
	for (i = 0; i < t->ncols; i++) {
		s = *(char **)gw_cli_vec_at(&t->cells, n0 + i);
		if (strlen(s) > t->width[i])
			t->width[i] = strlen(s);
	}
	return 0;
fail:
	/* Drop the partial row so that the table stays rectangular. */
	while (t->cells.n > n0)
		free(*(char **)gw_cli_vec_at(&t->cells, --t->cells.n));
	return -ENOMEM;
}

static void print_row(const struct gw_cli_table *t, const char *const *cells)
{
	size_t i;
	int w;

	for (i = 0; i < t->ncols; i++) {
		w = (int)t->width[i];
		if (t->cols[i][0] == '>')
			printf("%*s", w, cells[i]);
		else if (i + 1 < t->ncols)
			printf("%-*s", w, cells[i]);
		else
			fputs(cells[i], stdout); /* no trailing blanks */
		fputs(i + 1 < t->ncols ? "  " : "\n", stdout);
	}
}

void gw_cli_table_print(const struct gw_cli_table *t)
{
	const char *head[GW_CLI_TABLE_MAXCOLS];
	size_t i;

	for (i = 0; i < t->ncols; i++)
		head[i] = col_name(t->cols[i]);
	print_row(t, head);
	for (i = 0; i < t->cells.n; i += t->ncols)
		print_row(t, gw_cli_vec_at(&t->cells, i));
}

int gw_cli_json_print(json_t *v)
{
	int err = 0;

	if (!v) {
		gw_cli_fail("cannot build JSON output: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
	    fputc('\n', stdout) == EOF) {
		gw_cli_fail("writing output: %s", strerror(errno));
		err = -EIO;
	}
	json_decref(v);
	return err;
}

json_t *gw_cli_json_time(uint64_t unix_secs)
{
	char buf[48];

	gw_cli_fmt_time_json(unix_secs, buf, sizeof(buf));
	return json_string(buf);
}

json_t *gw_cli_json_u64(uint64_t v)
{
	/* Every value we print (ids, sizes, times) is far below 2^63;
	 * clamping keeps a corrupt record from printing a negative. */
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* ---- restore points ---- */

json_t *gw_cli_rp_json(const struct tenant_info *t, const struct tenant_disk *d,
		       const struct tenant_rp *rp)
{
	char path[3 * (TENANT_NAME_MAX + 1)], export[3 * (TENANT_NAME_MAX + 1)];

	snprintf(path, sizeof(path), "%s/%s/%s", t->name, d->vm, d->name);
	snprintf(export, sizeof(export), "%s/%s@%" PRIu64, d->vm, d->name,
		 rp->id);
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, "
			 "s:s}",
			 "disk", path, "id", gw_cli_json_u64(rp->id), "name",
			 rp->name[0] ? json_string(rp->name) : json_null(),
			 "created", gw_cli_json_time_ms(rp->created_ms),
			 "created_ms", gw_cli_json_u64(rp->created_ms),
			 "trigger", gw_cli_trigger_name(rp->trigger), "size",
			 gw_cli_json_u64(rp->size), "bytes_changed",
			 gw_cli_json_u64(rp->bytes_changed), "group",
			 rp->group ? gw_cli_json_u64(rp->group) : json_null(),
			 "snap_id", gw_cli_json_u64(rp->snap_id), "export",
			 export);
}

void gw_cli_fmt_deadline(uint64_t unix_ms, char *buf, size_t len)
{
	gw_cli_fmt_time((unix_ms + 59999) / 60000 * 60, buf, len);
}

/* When the policy lets a point go, all protections counted; 0: never
 * (a ladder without tiers, a pin, or the newest point as things stand). */
static uint64_t effective_expiry(const struct tenant_rp_fate *f)
{
	uint64_t e = f->expires_ms;

	if (!f->keep)
		return e;
	if (f->pinned || e == 0)
		return 0;
	if (f->tier < 0 && !f->immutable)
		return 0; /* kept only as the newest point */
	if (f->immutable && f->immutable_until_ms > e)
		e = f->immutable_until_ms;
	return e;
}

/* "1h:all", "1d:hourly"; or why a point outside the ladder is kept
 * ("all" without a ladder, pinned, immutable, latest) or not (expired,
 * or over-cap while its tier would keep it). */
static void fmt_tier(const struct gw_cli_rp_row *row, uint64_t now_ms,
		     char *buf, size_t len)
{
	const struct tenant_retention *pol = row->policy;
	const struct tenant_rp_fate *f = row->fate;
	struct tenant_retention one = {.ntiers = 1};
	bool ladder = pol && pol->ntiers;

	if (ladder && f->tier >= 0 && (unsigned)f->tier < pol->ntiers) {
		one.tiers[0].age_s = pol->tiers[f->tier].age_s;
		one.tiers[0].every_s = pol->tiers[f->tier].every_s;
		tenant_retention_format(&one, buf, len);
	} else if (f->keep) {
		snprintf(buf, len, "%s",
			 !ladder	? "all"
			 : f->pinned	? "pinned"
			 : f->immutable ? "immutable"
					: "latest");
	} else {
		snprintf(buf, len, "%s",
			 !ladder || f->expires_ms > now_ms ? "over-cap"
							   : "expired");
	}
}

static json_t *fate_json(const struct gw_cli_rp_row *row, uint64_t now_ms)
{
	const struct tenant_rp_fate *f = row->fate;
	uint64_t e = effective_expiry(f);
	char tier[48];

	fmt_tier(row, now_ms, tier, sizeof(tier));
	return json_pack("{s:s, s:b, s:o, s:o, s:b, s:o, s:b}", "tier", tier,
			 "kept", f->keep, "expires",
			 e ? gw_cli_json_time_ms(e) : json_null(), "expires_ms",
			 e ? gw_cli_json_u64(e) : json_null(), "immutable",
			 f->immutable, "immutable_until",
			 f->immutable_until_ms
				 ? gw_cli_json_time_ms(f->immutable_until_ms)
				 : json_null(),
			 "pinned", f->pinned);
}

static json_t *row_json(const struct tenant_info *t,
			const struct gw_cli_rp_row *row, uint64_t now_ms)
{
	json_t *o = gw_cli_rp_json(t, row->d, &row->rp), *fj;

	if (o && json_object_set_new(o, "pins", gw_cli_json_u64(row->rp.pins)))
		goto fail;
	if (!o || !row->fate)
		return o;
	fj = fate_json(row, now_ms);
	if (!fj || json_object_update(o, fj)) {
		json_decref(fj);
		goto fail;
	}
	json_decref(fj);
	return o;
fail:
	json_decref(o);
	return NULL;
}

int gw_cli_print_rps_json(const struct tenant_info *t,
			  const struct gw_cli_rp_row *rows, size_t n,
			  uint64_t now_ms)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++) {
		if (json_array_append_new(arr, row_json(t, &rows[i], now_ms))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return gw_cli_json_print(arr);
}

/* The TIER and EXPIRES cells of a row. */
static void fate_cells(const struct gw_cli_rp_row *row, uint64_t now_ms,
		       char *tier, size_t tlen, char *exp, size_t elen)
{
	uint64_t e;

	if (!row->fate) {
		snprintf(tier, tlen, "-");
		snprintf(exp, elen, "-");
		return;
	}
	fmt_tier(row, now_ms, tier, tlen);
	e = effective_expiry(row->fate);
	if (e)
		gw_cli_fmt_deadline(e, exp, elen);
	else
		snprintf(exp, elen, "never");
}

int gw_cli_print_rps(const struct tenant_info *t,
		     const struct gw_cli_rp_row *rows, size_t n, bool with_disk,
		     uint64_t now_ms)
{
	static const char *const cols[] = {
		"DISK",	    ">ID",    "NAME", "CREATED", "TRIGGER", ">SIZE",
		">CHANGED", ">GROUP", "TIER", "EXPIRES", "EXPORT"};
	char path[3 * (TENANT_NAME_MAX + 1)], id[24], created[40], size[48],
		changed[48], group[24], export[3 * (TENANT_NAME_MAX + 1)],
		tier[48], expires[40];
	const char *hdr[11];
	struct gw_cli_table *tab = NULL;
	bool fates = n && rows[0].fate;
	size_t i, j, ncols = 0;
	int err;

	/* Without fates (rp create) the TIER and EXPIRES columns go. */
	for (j = with_disk ? 0 : 1; j < 11; j++)
		if (fates || (j != 8 && j != 9))
			hdr[ncols++] = cols[j];
	err = gw_cli_table_new(hdr, ncols, &tab);
	for (i = 0; err == 0 && i < n; i++) {
		const struct tenant_disk *d = rows[i].d;
		const struct tenant_rp *rp = &rows[i].rp;
		const char *all[] = {path,
				     id,
				     rp->name[0] ? rp->name : "-",
				     created,
				     gw_cli_trigger_name(rp->trigger),
				     size,
				     changed,
				     group,
				     tier,
				     expires,
				     export};
		const char *row[11];
		size_t k = 0;

		for (j = with_disk ? 0 : 1; j < 11; j++)
			if (fates || (j != 8 && j != 9))
				row[k++] = all[j];
		snprintf(path, sizeof(path), "%s/%s/%s", t->name, d->vm,
			 d->name);
		snprintf(id, sizeof(id), "%" PRIu64, rp->id);
		gw_cli_fmt_time_ms(rp->created_ms, created, sizeof(created));
		gw_cli_fmt_size(rp->size, size, sizeof(size));
		gw_cli_fmt_size(rp->bytes_changed, changed, sizeof(changed));
		snprintf(group, sizeof(group), "%" PRIu64, rp->group);
		if (!rp->group)
			snprintf(group, sizeof(group), "-");
		fate_cells(&rows[i], now_ms, tier, sizeof(tier), expires,
			   sizeof(expires));
		snprintf(export, sizeof(export), "%s/%s@%" PRIu64, d->vm,
			 d->name, rp->id);
		err = gw_cli_table_add(tab, row);
	}
	if (err == 0)
		gw_cli_table_print(tab);
	else
		gw_cli_fail("cannot print restore points: %s", strerror(-err));
	gw_cli_table_free(tab);
	return err;
}
