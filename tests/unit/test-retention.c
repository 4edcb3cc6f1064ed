/* Retention ladders: parsing and the canonical text, and the plan made of
 * a disk's restore points on a simulated clock (the engine takes time as
 * an input): tiers, buckets, expiry, pins, immutability, the cap and the
 * newest point, and a ladder applied continuously for three days. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenant.h"

#define S 1000ull
#define MIN (60 * S)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
/* A day boundary of the epoch (2023-11-14 00:00 UTC). */
#define BASE (19675ull * DAY)

static struct tenant_retention parse_ok(const char *s)
{
	struct tenant_retention r;
	char err[160];

	if (tenant_retention_parse(s, &r, err, sizeof(err)) != 0)
		fail_msg("'%s' did not parse: %s", s, err);
	return r;
}

static void expect_canon(const char *in, const char *canon)
{
	struct tenant_retention r = parse_ok(in), again;
	char buf[TENANT_RETENTION_TEXT_MAX];

	tenant_retention_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, canon);
	/* The canonical text parses to the same ladder. */
	again = parse_ok(buf);
	assert_memory_equal(&r, &again, sizeof(r));
}

static void test_parse(void **state)
{
	struct tenant_retention r;

	(void)state;
	r = parse_ok("1h:all,1d:hourly,30d:daily,1y:monthly");
	assert_int_equal(r.ntiers, 4);
	assert_int_equal(r.tiers[0].age_s, 3600);
	assert_int_equal(r.tiers[0].every_s, TENANT_EVERY_ALL);
	assert_int_equal(r.tiers[1].age_s, 86400);
	assert_int_equal(r.tiers[1].every_s, TENANT_EVERY_HOURLY);
	assert_int_equal(r.tiers[2].every_s, TENANT_EVERY_DAILY);
	assert_int_equal(r.tiers[3].age_s, 365 * 86400);
	assert_int_equal(r.tiers[3].every_s, TENANT_EVERY_MONTHLY);
	assert_int_equal(r.cap, 0);

	r = parse_ok("");
	assert_int_equal(r.ntiers, 0);
	r = parse_ok("none");
	assert_int_equal(r.ntiers, 0);
	r = parse_ok("2w:weekly,cap=40");
	assert_int_equal(r.tiers[0].age_s, 14 * 86400);
	assert_int_equal(r.cap, 40);

	expect_canon("1h:all, 1d:hourly ,30d:daily,1y:monthly",
		     "1h:all,1d:hourly,30d:daily,1y:monthly");
	expect_canon("60m:all,7d:daily", "1h:all,1w:daily");
	expect_canon("90m:all,cap=5", "90m:all,cap=5");
	expect_canon("cap=7", "cap=7");
	expect_canon("none", "none");
	expect_canon("45s:all,365d:weekly", "45s:all,1y:weekly");
}

static void expect_error(const char *in, const char *needle)
{
	struct tenant_retention r;
	char err[160];

	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(tenant_retention_parse(in, &r, err, sizeof(err)),
			 -EINVAL);
	if (!strstr(err, needle))
		fail_msg("'%s': message '%s' lacks '%s'", in, err, needle);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("1x:all", "bad unit 'x'");
	expect_error("1hr:all", "bad unit");
	expect_error("h:all", "bad age");
	expect_error("0h:all", "out of range");
	expect_error("200y:all", "out of range");
	expect_error("1h", "use AGE:EVERY");
	expect_error("1h:sometimes", "unknown spacing 'sometimes'");
	expect_error("1h:", "unknown spacing ''");
	expect_error("1d:all,1h:hourly", "ages must grow");
	expect_error("1h:all,1h:hourly", "ages must grow");
	expect_error("1h:daily,1d:hourly", "spacings must grow");
	expect_error("1h:hourly,1d:hourly", "spacings must grow");
	expect_error("1h:all,,1d:hourly", "empty tier");
	expect_error("1h:all,", "empty tier");
	expect_error("cap=0", "bad cap");
	expect_error("cap=x", "bad cap");
	expect_error("cap=3,1h:all,cap=4", "cap given twice");
	expect_error("1s:all,2s:hourly,3s:daily,4s:weekly,5s:monthly,"
		     "6s:monthly",
		     "spacings must grow");
	assert_int_equal(tenant_retention_parse("1h:all", NULL, NULL, 0),
			 -EINVAL);
}

static void test_format(void **state)
{
	struct tenant_retention r = {0};
	char buf[TENANT_RETENTION_TEXT_MAX];
	char err[160];

	(void)state;
	/* Spacings must grow, so five tiers is the longest ladder. */
	assert_int_equal(tenant_retention_parse("1s:all,2s:hourly,3s:daily,"
						"4s:weekly,5s:monthly",
						&r, err, sizeof(err)),
			 0);
	assert_int_equal(r.ntiers, 5);
	tenant_retention_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "1s:all,2s:hourly,3s:daily,4s:weekly,"
				 "5s:monthly");
	/* A short buffer is cut at a whole tier, never mid-item. */
	tenant_retention_format(&r, buf, 17);
	assert_string_equal(buf, "1s:all,2s:hourly");
	tenant_retention_format(&r, buf, 16);
	assert_string_equal(buf, "1s:all");
}

/* ---- the plan ---- */

struct plan {
	struct tenant_rp rps[400];
	struct tenant_rp_fate f[400];
	size_t n;
};

static void add(struct plan *p, uint64_t created_ms)
{
	struct tenant_rp *rp = &p->rps[p->n];

	memset(rp, 0, sizeof(*rp));
	rp->disk_id = 1;
	rp->id = p->n + 1;
	rp->created_ms = created_ms;
	p->n++;
}

static void run(struct plan *p, const char *ladder, uint32_t days, uint64_t now)
{
	struct tenant_retention r = parse_ok(ladder);

	tenant_retention_plan(&r, days, p->rps, p->n, now, p->f);
}

/* "1,0,1": the keep set, in list order. */
static void expect_keep(const struct plan *p, const char *want)
{
	char got[512];
	size_t i;

	for (i = 0; i < p->n; i++) {
		got[2 * i] = p->f[i].keep ? '1' : '0';
		got[2 * i + 1] = ',';
	}
	got[p->n ? 2 * p->n - 1 : 0] = '\0';
	assert_string_equal(got, want);
}

static void test_plan_ladder(void **state)
{
	const uint64_t now = BASE + 3 * DAY + 12 * HOUR;
	struct plan p = {.n = 0};

	(void)state;
	add(&p, BASE - 10 * DAY);	     /* 0: beyond the ladder */
	add(&p, BASE + 1 * DAY + 3 * HOUR);  /* 1: day 1, not newest */
	add(&p, BASE + 1 * DAY + 20 * HOUR); /* 2: day 1's newest */
	add(&p, BASE + 3 * DAY + 5 * HOUR + 10 * MIN); /* 3: hour 5, older */
	add(&p, BASE + 3 * DAY + 5 * HOUR + 40 * MIN); /* 4: hour 5's newest */
	add(&p, now - 30 * MIN);		       /* 5: tier 0 */
	add(&p, now - 10 * MIN);		       /* 6: tier 0, newest */
	run(&p, "1h:all,1d:hourly,7d:daily", 0, now);
	expect_keep(&p, "0,0,1,0,1,1,1");
	assert_int_equal(p.f[0].tier, -1);
	assert_int_equal(p.f[2].tier, 2);
	assert_int_equal(p.f[4].tier, 1);
	assert_int_equal(p.f[5].tier, 0);
	assert_int_equal(p.f[6].tier, 0);
	/* Kept as the newest of its day until the last tier ends. */
	assert_int_equal(p.f[2].expires_ms, p.rps[2].created_ms + 7 * DAY);
	/* Newest of its hour but not of its day: until tier 1 ends. */
	assert_int_equal(p.f[4].expires_ms, p.rps[4].created_ms + DAY);
	/* Not the newest of its hour: goes when tier 0 ends. */
	assert_int_equal(p.f[5].expires_ms, p.rps[5].created_ms + HOUR);
	/* Newest of its hour and its day: all the way. */
	assert_int_equal(p.f[6].expires_ms, p.rps[6].created_ms + 7 * DAY);
	/* Dropped ones expired when they entered the tier that drops them. */
	assert_int_equal(p.f[3].expires_ms, p.rps[3].created_ms + HOUR);
	assert_int_equal(p.f[1].expires_ms, p.rps[1].created_ms + DAY);
	assert_int_equal(p.f[0].expires_ms, p.rps[0].created_ms + 7 * DAY);
	assert_false(p.f[2].pinned || p.f[2].immutable);
	assert_int_equal(p.f[2].immutable_until_ms, 0);

	/* Later, with nothing new: each goes at its expiry, not before. */
	run(&p, "1h:all,1d:hourly,7d:daily", 0, p.f[5].expires_ms - 1);
	assert_true(p.f[5].keep);
	run(&p, "1h:all,1d:hourly,7d:daily", 0, p.f[5].expires_ms);
	assert_false(p.f[5].keep);
	run(&p, "1h:all,1d:hourly,7d:daily", 0, p.f[4].expires_ms);
	assert_false(p.f[4].keep);
	assert_true(p.f[6].keep);
}

static void test_plan_no_ladder(void **state)
{
	struct plan p = {.n = 0};

	(void)state;
	add(&p, BASE);
	add(&p, BASE + HOUR);
	run(&p, "none", 0, BASE + 1000 * DAY);
	expect_keep(&p, "1,1");
	assert_int_equal(p.f[0].tier, -1);
	assert_int_equal(p.f[0].expires_ms, 0);
	/* Without a policy at all, the same. */
	tenant_retention_plan(NULL, 0, p.rps, p.n, BASE + 1000 * DAY, p.f);
	expect_keep(&p, "1,1");
}

static void test_plan_newest_kept(void **state)
{
	struct plan p = {.n = 0};

	(void)state;
	add(&p, BASE);
	add(&p, BASE + 10 * MIN);
	add(&p, BASE + 20 * MIN);
	/* Replication stopped two days ago: the ladder keeps nothing, but
	 * the last restore point there is stays. */
	run(&p, "1h:all,1d:hourly", 0, BASE + 2 * DAY);
	expect_keep(&p, "0,0,1");
	assert_int_equal(p.f[2].tier, -1);
	/* The newest is judged by time, not by list position. */
	p.rps[0].created_ms = BASE + 30 * MIN;
	run(&p, "1h:all,1d:hourly", 0, BASE + 2 * DAY);
	expect_keep(&p, "1,0,0");
}

static void test_plan_pins(void **state)
{
	struct plan p = {.n = 0};

	(void)state;
	add(&p, BASE);
	add(&p, BASE + 30 * MIN);
	add(&p, BASE + 2 * DAY);
	p.rps[0].pins = 2;
	run(&p, "1h:all,1d:hourly", 0, BASE + 2 * DAY + MIN);
	expect_keep(&p, "1,0,1");
	assert_true(p.f[0].pinned);
	assert_false(p.f[1].pinned);
	assert_int_equal(p.f[0].tier, -1);
	p.rps[0].pins = 0;
	run(&p, "1h:all,1d:hourly", 0, BASE + 2 * DAY + MIN);
	expect_keep(&p, "0,0,1");
}

static void test_plan_immutable(void **state)
{
	struct plan p = {.n = 0};

	(void)state;
	add(&p, BASE);
	add(&p, BASE + 10 * MIN);
	add(&p, BASE + 20 * DAY);
	run(&p, "1h:all", 7, BASE + 6 * DAY);
	expect_keep(&p, "1,1,1");
	assert_true(p.f[0].immutable);
	assert_int_equal(p.f[0].immutable_until_ms, BASE + 7 * DAY);
	assert_int_equal(p.f[0].tier, -1);
	/* The window ends at created + days, exactly. */
	run(&p, "1h:all", 7, BASE + 7 * DAY - 1);
	expect_keep(&p, "1,1,1");
	run(&p, "1h:all", 7, BASE + 7 * DAY);
	expect_keep(&p, "0,1,1");
	assert_false(p.f[0].immutable);
	assert_int_equal(p.f[0].immutable_until_ms, BASE + 7 * DAY);
	run(&p, "1h:all", 7, BASE + 7 * DAY + 10 * MIN);
	expect_keep(&p, "0,0,1");
	/* No window: nothing immutable, and no deadline. */
	run(&p, "1h:all", 0, BASE + 6 * DAY);
	expect_keep(&p, "0,0,1");
	assert_int_equal(p.f[0].immutable_until_ms, 0);
}

static void test_plan_cap(void **state)
{
	struct plan p = {.n = 0};
	size_t i, kept = 0;

	(void)state;
	for (i = 0; i < 6; i++)
		add(&p, BASE + i * MIN);
	p.rps[0].pins = 1;
	run(&p, "cap=3", 0, BASE + HOUR);
	/* The pinned oldest and the newest are protected; the oldest of
	 * the rest go first. */
	expect_keep(&p, "1,0,0,0,1,1");
	assert_int_equal(p.f[1].tier, -1);
	/* Protected points may exceed the cap. */
	for (i = 0; i < 5; i++)
		p.rps[i].pins = 1;
	run(&p, "cap=2", 0, BASE + HOUR);
	expect_keep(&p, "1,1,1,1,1,1");
	/* The cap applies on top of the ladder. */
	for (i = 0; i < 5; i++)
		p.rps[i].pins = 0;
	run(&p, "1d:all,cap=4", 0, BASE + HOUR);
	expect_keep(&p, "0,0,1,1,1,1");
	/* The default cap is 256. */
	p.n = 0;
	for (i = 0; i < 300; i++)
		add(&p, BASE + i * S);
	run(&p, "none", 0, BASE + DAY);
	for (i = 0; i < p.n; i++)
		kept += p.f[i].keep;
	assert_int_equal(kept, TENANT_RP_CAP_DEFAULT);
	assert_false(p.f[43].keep);
	assert_true(p.f[44].keep);
}

static void test_plan_unsorted(void **state)
{
	struct plan p = {.n = 0};

	(void)state;
	/* The clock went back: list order is not time order. */
	add(&p, BASE + 5 * HOUR + 40 * MIN);
	add(&p, BASE + 5 * HOUR + 10 * MIN);
	add(&p, BASE + 9 * HOUR);
	run(&p, "1h:all,1d:hourly", 0, BASE + 12 * HOUR);
	expect_keep(&p, "1,0,1");
	add(&p, BASE + 6 * HOUR);
	p.rps[3].created_ms = BASE + 5 * HOUR + 50 * MIN;
	run(&p, "1h:all,1d:hourly,cap=1", 0, BASE + 12 * HOUR);
	expect_keep(&p, "0,0,1,0");
}

/* Cuts a restore point every 10 minutes for three days and applies the
 * plan after each cut, removing what it lets go, as havend does. */
static void test_plan_continuous(void **state)
{
	static struct plan p;
	const char *ladder = "1h:all,1d:hourly,7d:daily";
	uint64_t now, t, hours[24] = {0};
	size_t i, j, n;

	(void)state;
	p.n = 0;
	for (now = BASE + 10 * MIN; now <= BASE + 3 * DAY; now += 10 * MIN) {
		add(&p, now);
		run(&p, ladder, 0, now);
		for (i = j = 0; i < p.n; i++)
			if (p.f[i].keep)
				p.rps[j++] = p.rps[i];
		p.n = j;
	}
	now -= 10 * MIN;
	/* Tier 0: the 6 points of the last hour; tier 1: one per hour of
	 * the last day; tier 2: one per earlier day. */
	for (i = n = 0; i < p.n; i++) {
		t = p.rps[i].created_ms;
		if (now - t < HOUR)
			n++;
		else if (now - t < DAY)
			hours[(t / HOUR) % 24]++;
	}
	assert_int_equal(n, 6);
	for (i = n = 0; i < 24; i++)
		n += hours[i] == 1;
	assert_true(n >= 22); /* the hours not covered by tier 0 */
	for (i = 0; i < 24; i++)
		assert_true(hours[i] <= 1);
	/* Days 0, 1 (and 2 partly in tier 1): their last cut, 23:50. */
	assert_int_equal(p.rps[0].created_ms, BASE + DAY - 10 * MIN);
	assert_int_equal(p.rps[1].created_ms, BASE + 2 * DAY - 10 * MIN);
	assert_true(p.n <= 6 + 24 + 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_plan_ladder),
		cmocka_unit_test(test_plan_no_ladder),
		cmocka_unit_test(test_plan_newest_kept),
		cmocka_unit_test(test_plan_pins),
		cmocka_unit_test(test_plan_immutable),
		cmocka_unit_test(test_plan_cap),
		cmocka_unit_test(test_plan_unsorted),
		cmocka_unit_test(test_plan_continuous),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
