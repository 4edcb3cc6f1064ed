/* Retention ladders and the plan they make of a disk's restore points.
 *
 * Pure functions: no catalog, no clock.  havend's retention timer and
 * havenctl's `rp list` both call tenant_retention_plan() with the time
 * they want, so the unit tests drive it with a simulated clock.
 *
 * The ladder.  A point of age a falls into the first tier i with
 * a < tiers[i].age_s.  A tier with every = 0 keeps all its points; one
 * with every = E keeps the newest point of each E-second bucket, buckets
 * aligned to the epoch (floor(created_ms / 1000 / E)).  "Newest of its
 * bucket" is judged among all the disk's points, whatever their tier, so
 * a bucket straddling a tier boundary is represented by its newest point
 * once that point reaches the tier, and the plan does not change as time
 * passes unless points come or go.  Points older than the last tier are
 * not kept.  Protections come on top: pinned points, points inside the
 * immutability window and the newest point are always kept.  Finally the
 * cap drops the oldest kept but unprotected points.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenant.h"

#define MS_PER_S 1000ull
#define MS_PER_DAY (86400ull * MS_PER_S)
/* A hundred years: ages beyond are typos, and the products stay far
 * below 2^64 milliseconds. */
#define AGE_MAX_S (100ull * 365 * 86400)
#define CAP_MAX 100000u

static const struct {
	char suffix;
	uint64_t secs;
} units[] = {
	{'y', 365 * 86400}, {'w', 7 * 86400}, {'d', 86400},
	{'h', 3600},	    {'m', 60},	      {'s', 1},
};

#define NUNITS (sizeof(units) / sizeof(units[0]))

static const struct {
	const char *name;
	uint32_t secs;
} everies[] = {
	{"all", TENANT_EVERY_ALL},	   {"hourly", TENANT_EVERY_HOURLY},
	{"daily", TENANT_EVERY_DAILY},	   {"weekly", TENANT_EVERY_WEEKLY},
	{"monthly", TENANT_EVERY_MONTHLY},
};

#define NEVERIES (sizeof(everies) / sizeof(everies[0]))

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *every_name(uint32_t secs)
{
	size_t i;

	for (i = 0; i < NEVERIES; i++)
		if (everies[i].secs == secs)
			return everies[i].name;
	return "?";
}

/* Parses an unsigned decimal of 1 to 9 digits at s (len bytes). */
static int parse_num(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 9)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "90m", "1d", "2w", "1y" (s, m, h, d, w, y) into seconds. */
static int parse_age(const char *s, size_t len, uint64_t *out, char *err,
		     size_t errlen)
{
	size_t digits = strspn(s, "0123456789"), i;
	uint64_t n;

	if (digits > len)
		digits = len;
	if (digits == 0 || parse_num(s, digits, &n) < 0)
		return fail(err, errlen,
			    "bad age '%.*s': use a number with "
			    "s, m, h, d, w or y",
			    (int)len, s);
	if (digits + 1 != len)
		return fail(err, errlen,
			    "bad unit in age '%.*s': use s, m, "
			    "h, d, w or y",
			    (int)len, s);
	for (i = 0; i < NUNITS; i++)
		if (units[i].suffix == s[digits])
			break;
	if (i == NUNITS)
		return fail(err, errlen,
			    "bad unit '%c' in age '%.*s': use s, "
			    "m, h, d, w or y",
			    s[digits], (int)len, s);
	if (n == 0 || n > AGE_MAX_S / units[i].secs)
		return fail(err, errlen, "age '%.*s' out of range (1s to 100y)",
			    (int)len, s);
	*out = n * units[i].secs;
	return 0;
}

static int parse_every(const char *s, size_t len, uint32_t *out, char *err,
		       size_t errlen)
{
	size_t i;

	for (i = 0; i < NEVERIES; i++)
		if (strlen(everies[i].name) == len &&
		    !memcmp(everies[i].name, s, len)) {
			*out = everies[i].secs;
			return 0;
		}
	return fail(err, errlen,
		    "unknown spacing '%.*s': use all, hourly, daily, weekly "
		    "or monthly",
		    (int)len, s);
}

static int parse_cap(const char *s, size_t len, uint32_t *cap, char *err,
		     size_t errlen)
{
	uint64_t n;

	if (*cap)
		return fail(err, errlen, "cap given twice");
	if (parse_num(s, len, &n) < 0 || n == 0 || n > CAP_MAX)
		return fail(err, errlen,
			    "bad cap '%.*s': use 1 to %u restore points",
			    (int)len, s, CAP_MAX);
	*cap = (uint32_t)n;
	return 0;
}

/* One comma-separated item: "AGE:EVERY" or "cap=N". */
static int parse_item(const char *s, size_t len, struct tenant_retention *r,
		      char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', len);
	unsigned i = r->ntiers;
	size_t alen;
	int rc;

	if (len > 4 && !memcmp(s, "cap=", 4))
		return parse_cap(s + 4, len - 4, &r->cap, err, errlen);
	if (!colon)
		return fail(err, errlen,
			    "bad tier '%.*s': use AGE:EVERY, e.g. 1d:hourly",
			    (int)len, s);
	if (i == TENANT_RETENTION_MAX_TIERS)
		return fail(err, errlen, "more than %d tiers",
			    TENANT_RETENTION_MAX_TIERS);
	alen = (size_t)(colon - s);
	rc = parse_age(s, alen, &r->tiers[i].age_s, err, errlen);
	if (!rc)
		rc = parse_every(colon + 1, len - alen - 1,
				 &r->tiers[i].every_s, err, errlen);
	if (rc)
		return rc;
	if (i > 0 && r->tiers[i].age_s <= r->tiers[i - 1].age_s)
		return fail(err, errlen,
			    "tier %u '%.*s' is not older than tier %u: ages "
			    "must grow",
			    i + 1, (int)len, s, i);
	if (i > 0 && r->tiers[i].every_s <= r->tiers[i - 1].every_s)
		return fail(err, errlen,
			    "tier %u '%.*s' keeps points no sparser than tier "
			    "%u: spacings must grow",
			    i + 1, (int)len, s, i);
	r->ntiers++;
	return 0;
}

int tenant_retention_parse(const char *s, struct tenant_retention *out,
			   char *err, size_t errlen)
{
	struct tenant_retention r;
	const char *p, *end;
	size_t len;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	if (!s || !*s || !strcmp(s, "none")) {
		*out = r;
		return 0;
	}
	for (p = s;; p = end + 1) {
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		/* Blanks around an item are forgiven ("1h:all, 1d:hourly"). */
		while (len && *p == ' ') {
			p++;
			len--;
		}
		while (len && p[len - 1] == ' ')
			len--;
		if (!len)
			return fail(err, errlen, "empty tier in '%s'", s);
		rc = parse_item(p, len, &r, err, errlen);
		if (rc)
			return rc;
		if (!end)
			break;
	}
	*out = r;
	return 0;
}

static void fmt_age(uint64_t secs, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < NUNITS; i++)
		if (secs % units[i].secs == 0)
			break;
	if (i == NUNITS)
		i = NUNITS - 1;
	snprintf(buf, len, "%" PRIu64 "%c", secs / units[i].secs,
		 units[i].suffix);
}

void tenant_retention_format(const struct tenant_retention *r, char *buf,
			     size_t len)
{
	char item[48], age[24];
	size_t used = 0, n;
	unsigned i;

	if (!buf || !len)
		return;
	buf[0] = '\0';
	if (!r || (r->ntiers == 0 && r->cap == 0)) {
		snprintf(buf, len, "none");
		return;
	}
	for (i = 0; i < r->ntiers && i < TENANT_RETENTION_MAX_TIERS; i++) {
		fmt_age(r->tiers[i].age_s, age, sizeof(age));
		snprintf(item, sizeof(item), "%s%s:%s", i ? "," : "", age,
			 every_name(r->tiers[i].every_s));
		n = strlen(item);
		if (used + n >= len)
			return; /* truncated at a whole tier */
		memcpy(buf + used, item, n + 1);
		used += n;
	}
	if (r->cap) {
		snprintf(item, sizeof(item), "%scap=%" PRIu32, used ? "," : "",
			 r->cap);
		if (used + strlen(item) < len)
			memcpy(buf + used, item, strlen(item) + 1);
	}
}

/* ---- the plan ---- */

/* Is a newer than b?  Equal times fall back to list order (ids). */
static bool newer(const struct tenant_rp *rps, size_t a, size_t b)
{
	if (rps[a].created_ms != rps[b].created_ms)
		return rps[a].created_ms > rps[b].created_ms;
	return a > b;
}

static uint64_t bucket(const struct tenant_rp *rp, uint32_t every_s)
{
	return rp->created_ms / MS_PER_S / every_s;
}

/* Whether point i is the newest of its every_s bucket.  Restore points
 * are listed in creation order, so normally only the next one needs a
 * look; a clock that went backwards makes the list unsorted and costs a
 * full scan. */
static bool bucket_newest(const struct tenant_rp *rps, size_t n, bool sorted,
			  size_t i, uint32_t every_s)
{
	uint64_t b = bucket(&rps[i], every_s);
	size_t j;

	if (sorted)
		return i + 1 == n || bucket(&rps[i + 1], every_s) != b;
	for (j = 0; j < n; j++)
		if (j != i && bucket(&rps[j], every_s) == b && newer(rps, j, i))
			return false;
	return true;
}

static bool tier_keeps(const struct tenant_retention *p,
		       const struct tenant_rp *rps, size_t n, bool sorted,
		       size_t i, unsigned t)
{
	return p->tiers[t].every_s == TENANT_EVERY_ALL ||
	       bucket_newest(rps, n, sorted, i, p->tiers[t].every_s);
}

/* The ladder's verdict on point i: its tier (-1 if none keeps it) and
 * when the ladder lets it go. */
static void ladder(const struct tenant_retention *p,
		   const struct tenant_rp *rps, size_t n, bool sorted, size_t i,
		   uint64_t now_ms, struct tenant_rp_fate *f)
{
	uint64_t created = rps[i].created_ms;
	uint64_t age = now_ms > created ? now_ms - created : 0;
	unsigned t, last;

	f->tier = -1;
	if (p->ntiers == 0) {
		f->keep = true;
		f->expires_ms = 0;
		return;
	}
	for (t = 0; t < p->ntiers; t++)
		if (age < p->tiers[t].age_s * MS_PER_S)
			break;
	if (t == p->ntiers || !tier_keeps(p, rps, n, sorted, i, t)) {
		/* Let go when it entered the tier that does not keep it. */
		f->keep = false;
		f->expires_ms =
			created + (t ? p->tiers[t - 1].age_s : 0) * MS_PER_S;
		return;
	}
	/* Kept by tier t, and by every following tier that would keep it
	 * as things stand. */
	for (last = t; last + 1 < p->ntiers; last++)
		if (!tier_keeps(p, rps, n, sorted, i, last + 1))
			break;
	f->keep = true;
	f->tier = (int)t;
	f->expires_ms = created + p->tiers[last].age_s * MS_PER_S;
}

static bool is_sorted(const struct tenant_rp *rps, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (rps[i].created_ms < rps[i - 1].created_ms)
			return false;
	return true;
}

static bool protected(const struct tenant_rp_fate *f, size_t i, size_t newest)
{
	return f->pinned || f->immutable || i == newest;
}

/* Drops the oldest kept but unprotected points until at most cap are
 * kept (protected points may still exceed it). */
static void apply_cap(const struct tenant_rp *rps, size_t n, bool sorted,
		      size_t newest, uint32_t cap, struct tenant_rp_fate *fates)
{
	size_t kept = 0, i, pick;
	bool found;

	for (i = 0; i < n; i++)
		kept += fates[i].keep;
	while (kept > cap) {
		found = false;
		pick = 0;
		for (i = 0; i < n; i++) {
			if (!fates[i].keep || protected(&fates[i], i, newest))
				continue;
			if (!found || newer(rps, pick, i)) {
				pick = i;
				found = true;
			}
			if (sorted)
				break; /* the first one is the oldest */
		}
		if (!found)
			return;
		fates[pick].keep = false;
		fates[pick].tier = -1;
		kept--;
	}
}

void tenant_retention_plan(const struct tenant_retention *policy,
			   uint32_t immutable_days, const struct tenant_rp *rps,
			   size_t n, uint64_t now_ms,
			   struct tenant_rp_fate *fates)
{
	static const struct tenant_retention keep_all;
	const struct tenant_retention *p = policy ? policy : &keep_all;
	uint64_t window = (uint64_t)immutable_days * MS_PER_DAY;
	bool sorted = is_sorted(rps, n);
	size_t i, newest = 0;

	if (n == 0)
		return;
	for (i = 1; i < n; i++)
		if (newer(rps, i, newest))
			newest = i;
	for (i = 0; i < n; i++) {
		struct tenant_rp_fate *f = &fates[i];

		memset(f, 0, sizeof(*f));
		ladder(p, rps, n, sorted, i, now_ms, f);
		f->pinned = rps[i].pins > 0;
		f->immutable_until_ms =
			immutable_days ? rps[i].created_ms + window : 0;
		f->immutable = f->immutable_until_ms > now_ms;
		if (protected(f, i, newest))
			f->keep = true;
	}
	apply_cap(rps, n, sorted, newest,
		  p->cap ? p->cap : TENANT_RP_CAP_DEFAULT, fates);
}
