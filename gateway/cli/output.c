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
	char buf[32];

	gw_cli_fmt_time_json(unix_secs, buf, sizeof(buf));
	return json_string(buf);
}

json_t *gw_cli_json_u64(uint64_t v)
{
	/* Every value we print (ids, sizes, times) is far below 2^63;
	 * clamping keeps a corrupt record from printing a negative. */
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}
