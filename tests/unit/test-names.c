/* Names and sizes as havenctl accepts them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tenant.h"

/* 62 name characters; the tables add one or two. */
#define NAME62 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"

static void test_valid_names(void **state)
{
	static const char *const good[] = {
		"a",
		"0",
		"tenant-a",
		"acme.corp",
		"vm_01",
		"a.b.c",
		"a-",
		"a.",
		"9lives",
		"x_y-z.0",
		/* 63 characters, the maximum. */
		(NAME62 "a"),
	};
	size_t i;

	(void)state;
	assert_int_equal(strlen(good[10]), TENANT_NAME_MAX);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!tenant_name_valid(good[i]))
			fail_msg("refused valid name \"%s\"", good[i]);
	}
}

static void test_invalid_names(void **state)
{
	static const char *const bad[] = {
		"",
		"-a",
		".a",
		"_a",
		"A",
		"tenantA",
		"a..b",
		"..",
		"a..",
		"a/b",
		"/",
		"a b",
		" a",
		"a\n",
		"é",
		"a:b",
		"a\\b",
		"a*",
		/* 64 characters, one too many. */
		(NAME62 "ab"),
	};
	size_t i;

	(void)state;
	assert_int_equal(strlen(bad[18]), TENANT_NAME_MAX + 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tenant_name_valid(bad[i]))
			fail_msg("accepted invalid name \"%s\"", bad[i]);
	}
	assert_false(tenant_name_valid(NULL));
}

static void test_sizes(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t bytes;
	} cases[] = {
		{"4096", 0, 4096},
		{"1", 0, 1},
		{"1K", 0, 1024},
		{"1k", 0, 1024},
		{"512M", 0, 512ull << 20},
		{"512m", 0, 512ull << 20},
		{"10G", 0, 10ull << 30},
		{"10g", 0, 10ull << 30},
		{"1T", 0, 1ull << 40},
		{"3t", 0, 3ull << 40},
		{"18446744073709551615", 0, UINT64_MAX},
		{"16777215T", 0, 16777215ull << 40},
		{"0", -EINVAL, 0},
		{"0G", -EINVAL, 0},
		{"-1", -EINVAL, 0},
		{"-1G", -EINVAL, 0},
		{"+1", -EINVAL, 0},
		{"", -EINVAL, 0},
		{"G", -EINVAL, 0},
		{"1.5G", -EINVAL, 0},
		{"10GB", -EINVAL, 0},
		{"10GiB", -EINVAL, 0},
		{"10B", -EINVAL, 0},
		{"10P", -EINVAL, 0},
		{"10 G", -EINVAL, 0},
		{" 10", -EINVAL, 0},
		{"10G ", -EINVAL, 0},
		{"0x10", -EINVAL, 0},
		{"18446744073709551616", -ERANGE, 0},
		{"99999999999999999999999", -ERANGE, 0},
		{"16777216T", -ERANGE, 0},
		{"17179869184G", -ERANGE, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = tenant_parse_size(cases[i].in, &v);

		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, expected %d", cases[i].in, rc,
				 cases[i].rc);
		if (rc == 0 && v != cases[i].bytes)
			fail_msg("\"%s\": %llu bytes, expected %llu",
				 cases[i].in, (unsigned long long)v,
				 (unsigned long long)cases[i].bytes);
		/* A refused size leaves the output alone. */
		if (rc != 0 && v != 12345)
			fail_msg("\"%s\": output changed on error",
				 cases[i].in);
	}
	assert_int_equal(tenant_parse_size(NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
