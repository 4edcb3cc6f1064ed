/* haven.conf parsing: what an operator sees for a good file and for
 * each kind of mistake (the message names the file, line and key).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw.h"

static const char init_conf[] =
	"# haven gateway configuration (INI).  See havend(8).\n"
	"[gateway]\n"
	"listen = 0.0.0.0:10809\n"
	"handshake_timeout = 10\n"
	"[log]\n"
	"level = info\n";

static int parse(struct gw_config *cfg, const char *text, char *err,
		 size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->listen, "0.0.0.0:10809");
	cfg->handshake_timeout = 10;
	cfg->log_level = GW_LOG_INFO;
	cfg->conn_inflight_reqs = 128;
	err[0] = '\0';
	return gw_config_parse_string(cfg, text, "haven.conf", err, errlen);
}

static void test_good(void **state)
{
	struct gw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, init_conf, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "0.0.0.0:10809");
	assert_int_equal(cfg.log_level, GW_LOG_INFO);

	assert_int_equal(parse(&cfg,
			       "; every key\r\n[gateway]\r\n"
			       "listen = [::1]:10900 ; inline comment\r\n"
			       "handshake_timeout = 30\r\n"
			       "max_inflight_requests = 256\r\n"
			       "[log]\r\nlevel = DEBUG",
			       err, sizeof(err)),
			 0);
	assert_string_equal(cfg.listen, "[::1]:10900");
	assert_int_equal(cfg.handshake_timeout, 30);
	assert_int_equal(cfg.conn_inflight_reqs, 256);
	assert_int_equal(cfg.log_level, GW_LOG_DEBUG);

	assert_int_equal(parse(&cfg, "", err, sizeof(err)), 0);
	assert_int_equal(cfg.handshake_timeout, 10);
}

static void test_unknown_key(void **state)
{
	struct gw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg,
			       "[gateway]\nlisten = 127.0.0.1:1\n"
			       "max_connections = 10\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:3: unknown key 'max_connections' "
				 "in [gateway]: '10'");
	assert_int_equal(
		parse(&cfg, "[tls]\nciphers = HIGH\n", err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "haven.conf:2: unknown key 'ciphers' in "
				 "[tls]: 'HIGH'");
}

static void test_bad_value(void **state)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{"[gateway]\nlisten = 0.0.0.0:70000\n",
		 "haven.conf:2: bad value for key 'listen' in [gateway]: "
		 "'0.0.0.0:70000'"},
		{"[gateway]\n\nhandshake_timeout = 0\n",
		 "haven.conf:3: bad value for key 'handshake_timeout' in "
		 "[gateway]: '0'"},
		{"[gateway]\nmax_inflight_requests = 1025\n",
		 "haven.conf:2: bad value for key 'max_inflight_requests' in "
		 "[gateway]: '1025'"},
		{"[log]\nlevel = loud\n",
		 "haven.conf:2: bad value for key 'level' in [log]: 'loud'"},
	};
	struct gw_config cfg;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(&cfg, cases[i].text, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, cases[i].err);
	}
}

/* The first error wins, and the message belongs to its line: a syntax
 * error before a bad key is reported as the syntax error. */
static void test_first_error(void **state)
{
	struct gw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, "[gateway]\nnot a setting\nbogus = 1\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:2: syntax error");
	assert_int_equal(parse(&cfg, "[gateway]\nbogus = 1\nnot a setting\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err,
			    "haven.conf:2: unknown key 'bogus' in [gateway]: "
			    "'1'");
	assert_int_equal(parse(&cfg, "[gateway\nlisten = 127.0.0.1:1\n", err,
			       sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:1: syntax error");
}

/* inih reads lines into a fixed buffer.  A longer line is refused, not
 * split: the tail of a long comment must not become a setting. */
static void test_long_line(void **state)
{
	struct gw_config cfg;
	char text[600], err[256];

	(void)state;
	snprintf(text, sizeof(text),
		 "[gateway]\n# %0300d listen = "
		 "6.6.6.6:666\n",
		 0);
	assert_int_equal(parse(&cfg, text, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "haven.conf:2: line longer than"));
	assert_string_equal(cfg.listen, "0.0.0.0:10809");
}

/* gw_config_load reads DIR/haven.conf over the defaults and names the
 * file's path in its messages. */
static void test_load(void **state)
{
	char dir[] = "/tmp/haven-test-config-XXXXXX";
	char path[128], err[512], want[256];
	struct gw_config cfg;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/haven.conf", dir);
	assert_int_equal(gw_config_load(&cfg, dir, err, sizeof(err)), -ENOENT);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[log]\nlevel = warn\n", f);
	fclose(f);
	assert_int_equal(gw_config_load(&cfg, dir, err, sizeof(err)), 0);
	assert_int_equal(cfg.log_level, GW_LOG_WARN);
	assert_string_equal(cfg.listen, "0.0.0.0:10809");
	assert_int_equal(cfg.handshake_timeout, 10);
	assert_int_equal(cfg.conn_inflight_reqs, 128);
	assert_string_equal(cfg.dir, dir);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[log]\nlevel = warn\nverbose = 1\n", f);
	fclose(f);
	assert_int_equal(gw_config_load(&cfg, dir, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: unknown key 'verbose' in [log]: '1'", path);
	assert_string_equal(err, want);

	unlink(path);
	rmdir(dir);
}

/* [metrics] listen: default loopback, an address, off, and refusals
 * naming the line and key. */
static void test_metrics(void **state)
{
	char dir[] = "/tmp/haven-test-config-XXXXXX";
	char path[128], err[512];
	struct gw_config cfg;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/haven.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[log]\nlevel = info\n", f);
	fclose(f);
	assert_int_equal(gw_config_load(&cfg, dir, err, sizeof(err)), 0);
	assert_string_equal(cfg.metrics, "127.0.0.1:9309");
	assert_false(cfg.metrics_set);
	unlink(path);
	rmdir(dir);

	assert_int_equal(parse(&cfg, "[metrics]\nlisten = [::1]:9400\n", err,
			       sizeof(err)),
			 0);
	assert_string_equal(cfg.metrics, "[::1]:9400");
	assert_true(cfg.metrics_set);
	assert_int_equal(
		parse(&cfg, "[metrics]\nlisten = off\n", err, sizeof(err)), 0);
	assert_string_equal(cfg.metrics, "");
	assert_true(cfg.metrics_set);
	assert_int_equal(
		parse(&cfg, "\n[metrics]\nlisten = 9309\n", err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "haven.conf:3: bad value for key 'listen' in "
				 "[metrics]: '9309'");
	assert_int_equal(
		parse(&cfg, "[metrics]\nport = 9309\n", err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "haven.conf:2: unknown key 'port' in "
				 "[metrics]: '9309'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_value),
		cmocka_unit_test(test_first_error),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
