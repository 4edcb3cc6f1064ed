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
	gw_config_defaults(cfg, "/var/lib/haven");
	err[0] = '\0';
	return gw_config_parse_string(cfg, text, "haven.conf", err, errlen);
}

static void test_good(void **state)
{
	struct gw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, init_conf, err, sizeof(err)), 0);
	assert_int_equal(cfg.nlisten, 1);
	assert_string_equal(cfg.listen[0], "0.0.0.0:10809");
	assert_int_equal(cfg.log_level, GW_LOG_INFO);

	assert_int_equal(parse(&cfg,
			       "; every key\r\n[gateway]\r\n"
			       "listen = [::1]:10900 ; inline comment\r\n"
			       "handshake_timeout = 30\r\n"
			       "max_inflight_requests = 256\r\n"
			       "[log]\r\nlevel = DEBUG",
			       err, sizeof(err)),
			 0);
	assert_int_equal(cfg.nlisten, 1);
	assert_string_equal(cfg.listen[0], "[::1]:10900");
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
			       "max_conns = 10\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:3: unknown key 'max_conns' "
				 "in [gateway]: '10'");
	/* A key in the wrong section is unknown there. */
	assert_int_equal(parse(&cfg, "[tls]\nlevel = info\n", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:2: unknown key 'level' in "
				 "[tls]: 'info'");
	assert_int_equal(parse(&cfg, "[metric]\nlisten = 127.0.0.1:9309\n", err,
			       sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:2: unknown key 'listen' in "
				 "[metric]: '127.0.0.1:9309'");
}

/* Every key with a value it accepts, including the older spellings of
 * moved keys ([gateway] handshake_timeout, max_inflight_requests). */
static void test_every_key(void **state)
{
	static const char text[] =
		"[gateway]\n"
		"listen = 127.0.0.1:10809, [::1]:10809 ,192.0.2.1:1\n"
		"preferred_block = 1M\n"
		"retention_interval = 30\n"
		"handshake_timeout = 20\n"
		"max_inflight_requests = 64\n"
		"[tls]\n"
		"min_protocol = TLSv1.3\n"
		"ciphers = ECDHE-ECDSA-AES128-GCM-SHA256\n"
		"ciphersuites = TLS_AES_128_GCM_SHA256\n"
		"[limits]\n"
		"max_connections = 100\n"
		"max_sessions_per_tenant = 8\n"
		"max_inflight_bytes = 16M\n"
		"tenant_inflight_requests = 1000\n"
		"tenant_inflight_bytes = 1G\n"
		"total_inflight_requests = 2000\n"
		"total_inflight_bytes = 3072M\n"
		"[ceph]\n"
		"op_timeout = 60\n"
		"mon_op_timeout = 15\n"
		"mount_timeout = 5\n"
		"objecter_inflight_ops = 4096\n"
		"objecter_inflight_op_bytes = 8G\n"
		"[restore_points]\n"
		"checkpoint_interval = 300\n"
		"[log]\n"
		"level = warn\n";
	struct gw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, text, err, sizeof(err)), 0);
	assert_int_equal(cfg.nlisten, 3);
	assert_string_equal(cfg.listen[0], "127.0.0.1:10809");
	assert_string_equal(cfg.listen[1], "[::1]:10809");
	assert_string_equal(cfg.listen[2], "192.0.2.1:1");
	assert_int_equal(cfg.preferred_block, 1 << 20);
	assert_int_equal(cfg.retention_interval, 30);
	assert_int_equal(cfg.handshake_timeout, 20);
	assert_int_equal(cfg.tls_min_version, TLS1_3_VERSION);
	assert_string_equal(cfg.tls_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
	assert_string_equal(cfg.tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
	assert_int_equal(cfg.max_connections, 100);
	assert_int_equal(cfg.max_sessions_per_tenant, 8);
	assert_int_equal(cfg.conn_inflight_reqs, 64);
	assert_int_equal(cfg.conn_inflight_bytes, 16 << 20);
	assert_int_equal(cfg.tenant_inflight_reqs, 1000);
	assert_int_equal(cfg.tenant_inflight_bytes, 1 << 30);
	assert_int_equal(cfg.total_inflight_reqs, 2000);
	assert_int_equal(cfg.total_inflight_bytes, (uint64_t)3 << 30);
	assert_int_equal(cfg.ceph_op_timeout, 60);
	assert_int_equal(cfg.ceph_mon_op_timeout, 15);
	assert_int_equal(cfg.ceph_mount_timeout, 5);
	assert_int_equal(cfg.ceph_inflight_ops, 4096);
	assert_int_equal(cfg.ceph_inflight_bytes, (uint64_t)8 << 30);
	assert_int_equal(cfg.checkpoint_interval, 300);
	assert_int_equal(cfg.log_level, GW_LOG_WARN);
}

/* Each key has a value it refuses, and the message names the file, the
 * line, the key and its section. */
static void test_bad_value(void **state)
{
	static const struct {
		const char *text;
		const char *err; /* the message up to " (expected" */
	} cases[] = {
		{"[gateway]\nlisten = 0.0.0.0:70000\n",
		 "haven.conf:2: bad value for key 'listen' in [gateway]: "
		 "'0.0.0.0:70000'"},
		{"[gateway]\nlisten = localhost:10809\n",
		 "haven.conf:2: bad value for key 'listen' in [gateway]: "
		 "'localhost:10809'"},
		{"[gateway]\nlisten = 127.0.0.1:1, 127.0.0.1:1\n",
		 "haven.conf:2: bad value for key 'listen' in [gateway]: "
		 "'127.0.0.1:1, 127.0.0.1:1'"},
		{"[gateway]\nlisten = 127.0.0.1:1,\n",
		 "haven.conf:2: bad value for key 'listen' in [gateway]: "
		 "'127.0.0.1:1,'"},
		{"[gateway]\nlisten = 127.0.0.1:0\n",
		 "haven.conf:2: bad value for key 'listen' in [gateway]: "
		 "'127.0.0.1:0'"},
		{"[gateway]\nlisten = 1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,"
		 "1.1.1.1:5,1.1.1.1:6,1.1.1.1:7,1.1.1.1:8,1.1.1.1:9\n",
		 "haven.conf:2: bad value for key 'listen' in [gateway]: "
		 "'1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,1.1.1.1:6,"
		 "1.1.1.1:7,1.1.1.1:8,1.1.1.1:9'"},
		{"[gateway]\npreferred_block = 5000\n",
		 "haven.conf:2: bad value for key 'preferred_block' in "
		 "[gateway]: '5000'"},
		{"[gateway]\nretention_interval = 0\n",
		 "haven.conf:2: bad value for key 'retention_interval' in "
		 "[gateway]: '0'"},
		{"[tls]\n\nhandshake_timeout = 0\n",
		 "haven.conf:3: bad value for key 'handshake_timeout' in "
		 "[tls]: '0'"},
		{"[gateway]\n\nhandshake_timeout = 3601\n",
		 "haven.conf:3: bad value for key 'handshake_timeout' in "
		 "[gateway]: '3601'"},
		{"[tls]\nmin_protocol = TLSv1.1\n",
		 "haven.conf:2: bad value for key 'min_protocol' in [tls]: "
		 "'TLSv1.1'"},
		/* CBC, RC4-era, anonymous and PSK suites are refused, alone
		 * or hidden in a list with good ones. */
		{"[tls]\nciphers = AES128-SHA\n",
		 "haven.conf:2: bad value for key 'ciphers' in [tls]: "
		 "'AES128-SHA'"},
		{"[tls]\nciphers = ECDHE-ECDSA-AES128-GCM-SHA256:"
		 "ECDHE-ECDSA-AES128-SHA256\n",
		 "haven.conf:2: bad value for key 'ciphers' in [tls]: "
		 "'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256'"},
		{"[tls]\nciphers = HIGH\n",
		 "haven.conf:2: bad value for key 'ciphers' in [tls]: 'HIGH'"},
		{"[tls]\nciphers = ADH-AES128-GCM-SHA256\n",
		 "haven.conf:2: bad value for key 'ciphers' in [tls]: "
		 "'ADH-AES128-GCM-SHA256'"},
		{"[tls]\nciphers = PSK-AES128-GCM-SHA256\n",
		 "haven.conf:2: bad value for key 'ciphers' in [tls]: "
		 "'PSK-AES128-GCM-SHA256'"},
		{"[tls]\nciphers = NO-SUCH-CIPHER\n",
		 "haven.conf:2: bad value for key 'ciphers' in [tls]: "
		 "'NO-SUCH-CIPHER'"},
		{"[tls]\nciphersuites = TLS_FAKE_SHA1\n",
		 "haven.conf:2: bad value for key 'ciphersuites' in [tls]: "
		 "'TLS_FAKE_SHA1'"},
		{"[limits]\nmax_connections = 0\n",
		 "haven.conf:2: bad value for key 'max_connections' in "
		 "[limits]: '0'"},
		{"[limits]\nmax_sessions_per_tenant = -1\n",
		 "haven.conf:2: bad value for key 'max_sessions_per_tenant' in "
		 "[limits]: '-1'"},
		{"[gateway]\nmax_inflight_requests = 1025\n",
		 "haven.conf:2: bad value for key 'max_inflight_requests' in "
		 "[gateway]: '1025'"},
		{"[limits]\nmax_inflight_requests = 1025\n",
		 "haven.conf:2: bad value for key 'max_inflight_requests' in "
		 "[limits]: '1025'"},
		{"[limits]\nmax_inflight_bytes = 512K\n",
		 "haven.conf:2: bad value for key 'max_inflight_bytes' in "
		 "[limits]: '512K'"},
		{"[limits]\ntenant_inflight_requests = 1x\n",
		 "haven.conf:2: bad value for key 'tenant_inflight_requests' "
		 "in [limits]: '1x'"},
		{"[limits]\ntenant_inflight_bytes = 1Q\n",
		 "haven.conf:2: bad value for key 'tenant_inflight_bytes' in "
		 "[limits]: '1Q'"},
		{"[limits]\ntotal_inflight_requests = 65537\n",
		 "haven.conf:2: bad value for key 'total_inflight_requests' in "
		 "[limits]: '65537'"},
		{"[limits]\ntotal_inflight_bytes = 99999999999999999999T\n",
		 "haven.conf:2: bad value for key 'total_inflight_bytes' in "
		 "[limits]: '99999999999999999999T'"},
		{"[ceph]\nop_timeout = 4\n",
		 "haven.conf:2: bad value for key 'op_timeout' in [ceph]: '4'"},
		{"[ceph]\nmon_op_timeout = 3601\n",
		 "haven.conf:2: bad value for key 'mon_op_timeout' in [ceph]: "
		 "'3601'"},
		{"[ceph]\nmount_timeout = \n",
		 "haven.conf:2: bad value for key 'mount_timeout' in [ceph]: "
		 "''"},
		{"[ceph]\nobjecter_inflight_ops = 100\n",
		 "haven.conf:2: bad value for key 'objecter_inflight_ops' in "
		 "[ceph]: '100'"},
		{"[ceph]\nobjecter_inflight_op_bytes = 1M\n",
		 "haven.conf:2: bad value for key 'objecter_inflight_op_bytes' "
		 "in [ceph]: '1M'"},
		{"[restore_points]\ncheckpoint_interval = 4\n",
		 "haven.conf:2: bad value for key 'checkpoint_interval' in "
		 "[restore_points]: '4'"},
		{"[log]\nlevel = loud\n",
		 "haven.conf:2: bad value for key 'level' in [log]: 'loud'"},
	};
	struct gw_config cfg;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].err);

		assert_int_equal(parse(&cfg, cases[i].text, err, sizeof(err)),
				 -EINVAL);
		if (strncmp(err, cases[i].err, n) != 0 ||
		    strncmp(err + n, " (expected ", 11) != 0)
			fail_msg("case %zu:\n  got  '%s'\n  want '%s (expected "
				 "...)'",
				 i, err, cases[i].err);
	}
	/* The hint says what would have been accepted. */
	assert_int_equal(
		parse(&cfg, "[tls]\nhandshake_timeout = 0\n", err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "haven.conf:2: bad value for key "
				 "'handshake_timeout' in [tls]: '0' "
				 "(expected a number from 1 to 3600)");
}

/* The gateway's in-flight totals must stay below the librados throttle;
 * the error blames the key the file set last. */
static void test_cross_check(void **state)
{
	struct gw_config cfg;
	char err[512];

	(void)state;
	assert_int_equal(parse(&cfg, "[ceph]\nobjecter_inflight_ops = 8192\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:2: bad value for key "
				 "'objecter_inflight_ops' in [ceph]: [limits] "
				 "total_inflight_requests (8192) must stay "
				 "below [ceph] objecter_inflight_ops (8192)");
	assert_int_equal(parse(&cfg,
			       "[ceph]\nobjecter_inflight_op_bytes = 8G\n"
			       "[limits]\ntotal_inflight_bytes = 8G\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "haven.conf:4: bad value for key "
				    "'total_inflight_bytes' in [limits]"));
	assert_int_equal(parse(&cfg,
			       "[ceph]\nobjecter_inflight_ops = 2048\n"
			       "[limits]\ntotal_inflight_requests = 2047\n",
			       err, sizeof(err)),
			 0);
}

/* A key set twice (or continued on an indented line) is refused: the
 * second value would silently win. */
static void test_duplicate(void **state)
{
	struct gw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg,
			       "[gateway]\nlisten = 127.0.0.1:1\n[log]\n"
			       "level = info\n[gateway]\n"
			       "listen = 127.0.0.1:2\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:6: key 'listen' in [gateway] "
				 "set again (first on line 2)");
	/* The old and the new spelling are one key. */
	assert_int_equal(parse(&cfg,
			       "[gateway]\nhandshake_timeout = 5\n[tls]\n"
			       "handshake_timeout = 6\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "haven.conf:4: key 'handshake_timeout' in "
				 "[tls] set again (first on line 2)");
}

/* --check-config's output is itself a valid haven.conf that means the
 * same configuration, and names every key. */
static void test_print(void **state)
{
	static const char *const names[] = {
		"listen",
		"preferred_block",
		"retention_interval",
		"min_protocol",
		"ciphers",
		"ciphersuites",
		"handshake_timeout",
		"max_connections",
		"max_sessions_per_tenant",
		"max_inflight_requests",
		"max_inflight_bytes",
		"tenant_inflight_requests",
		"tenant_inflight_bytes",
		"total_inflight_requests",
		"total_inflight_bytes",
		"op_timeout",
		"mon_op_timeout",
		"mount_timeout",
		"objecter_inflight_ops",
		"objecter_inflight_op_bytes",
		"checkpoint_interval",
		"listen", /* [metrics] */
		"level",
	};
	struct gw_config a, b;
	char err[256], *text = NULL, want[80];
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(parse(&a,
			       "[gateway]\nlisten = 127.0.0.1:1,[::1]:2\n"
			       "preferred_block = 0\n"
			       "[limits]\nmax_inflight_bytes = 1048577\n"
			       "[log]\nlevel = debug\n",
			       err, sizeof(err)),
			 0);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	gw_config_print(&a, f);
	fclose(f);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "\n%s = ", names[i]);
		if (!strstr(text, want))
			fail_msg("key %s missing in:\n%s", names[i], text);
	}
	assert_non_null(strstr(text, "\nlisten = 127.0.0.1:1, [::1]:2\n"));
	assert_non_null(strstr(text, "\nmax_inflight_bytes = 1048577\n"));
	assert_non_null(strstr(text, "\ntenant_inflight_bytes = 256M\n"));
	assert_non_null(strstr(text, "\nlevel = debug\n"));
	assert_int_equal(parse(&b, text, err, sizeof(err)), 0);
	/* The printout names every key, so the metrics address and the
	 * checkpoint interval read back as ones the admin set. */
	assert_true(b.metrics_set);
	b.metrics_set = a.metrics_set;
	assert_false(a.checkpoint_interval_set);
	assert_true(b.checkpoint_interval_set);
	b.checkpoint_interval_set = false;
	assert_memory_equal(&a, &b, sizeof(a));
	free(text);
}

/* A reload keeps what a running gateway cannot change and names it. */
static void note_key(const char *section, const char *key, void *arg)
{
	char *out = arg;

	strcat(out, section);
	strcat(out, ".");
	strcat(out, key);
	strcat(out, " ");
}

static void test_restart_keys(void **state)
{
	struct gw_config a, b;
	char err[256], names[256] = "";

	(void)state;
	assert_int_equal(parse(&a, "", err, sizeof(err)), 0);
	assert_int_equal(parse(&b,
			       "[gateway]\nlisten = 127.0.0.1:1\n"
			       "[ceph]\nop_timeout = 10\n"
			       "[log]\nlevel = debug\n",
			       err, sizeof(err)),
			 0);
	gw_config_restart_keys(&a, &b, note_key, names);
	assert_string_equal(names, "gateway.listen ceph.op_timeout ");
	gw_config_keep_restart_keys(&b, &a);
	assert_string_equal(b.listen[0], "0.0.0.0:10809");
	assert_int_equal(b.ceph_op_timeout, 120);
	assert_int_equal(b.log_level, GW_LOG_DEBUG);
	names[0] = '\0';
	gw_config_restart_keys(&a, &b, note_key, names);
	assert_string_equal(names, "");
}

/* The command line wins over the file. */
static void test_override(void **state)
{
	struct gw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, "[log]\nlevel = warn\n", err, sizeof(err)),
			 0);
	assert_int_equal(gw_config_override(&cfg, "127.0.0.1:5,[::1]:5",
					    "debug", err, sizeof(err)),
			 0);
	assert_int_equal(cfg.nlisten, 2);
	assert_string_equal(cfg.listen[1], "[::1]:5");
	assert_int_equal(cfg.log_level, GW_LOG_DEBUG);
	assert_int_equal(
		gw_config_override(&cfg, NULL, "chatty", err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "--log-level 'chatty': expected debug, info, "
				 "warn or error");
	assert_int_equal(
		gw_config_override(&cfg, "nohost", NULL, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "--listen 'nohost'"));
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
	assert_string_equal(cfg.listen[0], "0.0.0.0:10809");
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
	assert_string_equal(cfg.listen[0], "0.0.0.0:10809");
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
				 "[metrics]: '9309' (expected IP:PORT, "
				 "[IPv6]:PORT or off)");
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
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_bad_value),
		cmocka_unit_test(test_cross_check),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_restart_keys),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_first_error),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
