/* havend configuration: DIR/haven.conf (INI, parsed by libinih) over
 * built-in defaults.  Unknown sections or keys, bad values and lines too
 * long for inih are errors that name the file, the line and the key.
 *
 * inih is driven through ini_parse_stream() with our own line reader for
 * two reasons.  inih reads fixed-size chunks: a line longer than its
 * buffer would be split, and the tail parsed as a line of its own (a long
 * comment ending in "listen = ..." would set listen), so the reader
 * refuses such a line instead.  And the handler is not told the line it
 * is called for; the reader counts lines, so an error message can pair
 * the first failing line with the right key.
 *
 * Every key is a row of keys[] below: its section, type, bounds and
 * whether a running havend can change it (SIGHUP) or needs a restart.
 * A key may be set once per file; --check-config prints every row.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config-keys.h"

/* haven.conf is a few lines; anything this large is not one. */
#define CONF_MAX_SIZE (1u << 20)

struct load_ctx {
	struct gw_config *cfg;
	const char *next; /* the unread rest of the text */
	int line;	  /* of the line handed to inih last */
	int bad_line;	  /* of the first line we refused */
	char msg[400];
	bool failed;
	int lines[32]; /* of each key in keys[] the file set */
};

static int parse_one_listen(const char *s, size_t len, char *out);

int gw_config_metrics(struct gw_config *cfg, const char *value)
{
	char buf[GW_HOSTPORT_MAX];

	if (strcmp(value, "off") == 0) {
		cfg->metrics[0] = '\0';
	} else if (parse_one_listen(value, strlen(value), buf) < 0 ||
		   strlen(buf) >= sizeof(cfg->metrics)) {
		return -EINVAL;
	} else {
		strcpy(cfg->metrics, buf);
	}
	cfg->metrics_set = true;
	return 0;
}

int gw_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	const char *h = s;
	size_t hl;
	char *end;
	long p;

	if (s[0] == '[') {
		/* [v6addr]:port */
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

/* ---- the keys ---- */

#define OFF(f) offsetof(struct gw_config, f)
#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

/* In the order --check-config prints them. */
const struct key_def gw_config_keys[] = {
	{"gateway", "listen", K_LISTEN, OFF(listen), 0, 0, true, NULL},
	{"gateway", "preferred_block", K_BLOCK, OFF(preferred_block), 0, 0,
	 false, NULL},
	{"gateway", "retention_interval", K_UINT, OFF(retention_interval), 1,
	 86400, false, NULL},
	{"tls", "min_protocol", K_TLSVER, OFF(tls_min_version), 0, 0, false,
	 NULL},
	{"tls", "ciphers", K_CIPHERS, OFF(tls_ciphers), 0, 0, false, NULL},
	{"tls", "ciphersuites", K_SUITES, OFF(tls_ciphersuites), 0, 0, false,
	 NULL},
	{"tls", "handshake_timeout", K_UINT, OFF(handshake_timeout), 1, 3600,
	 false, "gateway"},
	{"limits", "max_connections", K_UINT, OFF(max_connections), 1, 1000000,
	 false, NULL},
	{"limits", "max_sessions_per_tenant", K_UINT,
	 OFF(max_sessions_per_tenant), 1, 1000000, false, NULL},
	{"limits", "max_inflight_requests", K_UINT, OFF(conn_inflight_reqs), 1,
	 1024, false, "gateway"},
	{"limits", "max_inflight_bytes", K_BYTES, OFF(conn_inflight_bytes), MIB,
	 GIB, false, NULL},
	{"limits", "tenant_inflight_requests", K_UINT,
	 OFF(tenant_inflight_reqs), 1, 65536, false, NULL},
	{"limits", "tenant_inflight_bytes", K_BYTES, OFF(tenant_inflight_bytes),
	 MIB, 64 * GIB, false, NULL},
	{"limits", "total_inflight_requests", K_UINT, OFF(total_inflight_reqs),
	 1, 65536, false, NULL},
	{"limits", "total_inflight_bytes", K_BYTES, OFF(total_inflight_bytes),
	 MIB, 64 * GIB, false, NULL},
	{"ceph", "op_timeout", K_UINT, OFF(ceph_op_timeout), 5, 3600, true,
	 NULL},
	{"ceph", "mon_op_timeout", K_UINT, OFF(ceph_mon_op_timeout), 5, 3600,
	 true, NULL},
	{"ceph", "mount_timeout", K_UINT, OFF(ceph_mount_timeout), 1, 600, true,
	 NULL},
	{"ceph", "objecter_inflight_ops", K_UINT, OFF(ceph_inflight_ops), 1024,
	 1u << 20, true, NULL},
	{"ceph", "objecter_inflight_op_bytes", K_BYTES,
	 OFF(ceph_inflight_bytes), 64 * MIB, 64 * GIB, true, NULL},
	{"restore_points", "checkpoint_interval", K_UINT,
	 OFF(checkpoint_interval), TENANT_CHECKPOINT_MIN, 30 * 86400, false,
	 NULL},
	{"metrics", "listen", K_ADDR, OFF(metrics), 0, 0, true, NULL},
	{"log", "level", K_LEVEL, OFF(log_level), 0, 0, false, NULL},
};

const size_t gw_config_nkeys =
	sizeof(gw_config_keys) / sizeof(gw_config_keys[0]);
#define keys gw_config_keys
#define NKEYS (sizeof(gw_config_keys) / sizeof(gw_config_keys[0]))
_Static_assert(NKEYS <= sizeof(((struct load_ctx *)0)->lines) / sizeof(int),
	       "load_ctx.lines too short");

/* TLS 1.3 suites are all AEAD; for TLS 1.2 (the kernel nbd-client pins
 * it) only ECDHE with AES-GCM or ChaCha20-Poly1305 is offered. */
#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"         \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES                                                           \
	"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:"                       \
	"TLS_CHACHA20_POLY1305_SHA256"

void gw_config_defaults(struct gw_config *cfg, const char *dir)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->dir, sizeof(cfg->dir), "%s", dir);
	strcpy(cfg->listen[0], "0.0.0.0:10809");
	cfg->nlisten = 1;
	cfg->preferred_block = 256u << 10;
	cfg->retention_interval = 60;
	cfg->tls_min_version = TLS1_2_VERSION;
	strcpy(cfg->tls_ciphers, TLS12_CIPHERS);
	strcpy(cfg->tls_ciphersuites, TLS13_SUITES);
	cfg->handshake_timeout = 10;
	strcpy(cfg->metrics, "127.0.0.1:9309");
	cfg->max_connections = 4096;
	cfg->max_sessions_per_tenant = 256;
	cfg->conn_inflight_reqs = 128;
	cfg->conn_inflight_bytes = 64 * MIB;
	cfg->tenant_inflight_reqs = 512;
	cfg->tenant_inflight_bytes = 256 * MIB;
	/* librados blocks its caller past objecter_inflight_ops or
	 * objecter_inflight_op_bytes per cluster handle; the gateway's own
	 * totals stay below them (checked at load). */
	cfg->total_inflight_reqs = 8192;
	cfg->total_inflight_bytes = 2 * GIB;
	cfg->ceph_op_timeout = 120;
	cfg->ceph_mon_op_timeout = 30;
	cfg->ceph_mount_timeout = 10;
	cfg->ceph_inflight_ops = 65536;
	cfg->ceph_inflight_bytes = 4 * GIB;
	cfg->checkpoint_interval = TENANT_CHECKPOINT_DEFAULT;
	cfg->log_level = GW_LOG_INFO;
}

static int parse_u64(const char *v, bool suffix, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	unsigned long long n;
	unsigned shift = 0;
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v)
		return -EINVAL;
	if (suffix && *end) {
		const char *units = "KMGT";
		const char *u = strchr(units, *end);

		if (!u || end[1])
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		if (n > (UINT64_MAX >> shift))
			return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	n <<= shift;
	if (n < min || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

/* HOST must be a numeric address: havend binds it, nothing resolves it. */
static int parse_one_listen(const char *s, size_t len, char *out)
{
	char addr[GW_HOSTPORT_MAX], host[GW_HOSTPORT_MAX];
	unsigned char bin[16];
	int port;

	if (len == 0 || len >= GW_HOSTPORT_MAX)
		return -EINVAL;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (gw_parse_hostport(addr, host, sizeof(host), &port) < 0 || port == 0)
		return -EINVAL;
	if (inet_pton(addr[0] == '[' ? AF_INET6 : AF_INET, host, bin) != 1)
		return -EINVAL;
	strcpy(out, addr);
	return 0;
}

static int parse_listen(struct gw_config *cfg, const char *v)
{
	char list[GW_LISTEN_MAX][GW_HOSTPORT_MAX];
	unsigned n = 0;

	/* Zeroed: a reload compares the arrays whole. */
	memset(list, 0, sizeof(list));

	for (const char *p = v;;) {
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		len = strcspn(p, ",");
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (n == GW_LISTEN_MAX || parse_one_listen(p, len, list[n]) < 0)
			return -EINVAL;
		for (unsigned i = 0; i < n; i++)
			if (strcmp(list[i], list[n]) == 0)
				return -EINVAL;
		n++;
		p += strcspn(p, ",");
		if (!*p)
			break;
		p++;
	}
	memcpy(cfg->listen, list, sizeof(list));
	cfg->nlisten = n;
	return 0;
}

/* Only AEAD suites with certificate authentication: no CBC (Lucky13 and
 * friends), no RC4, no anonymous or PSK suites. */
static int check_ciphers(const char *v, bool tls13)
{
	STACK_OF(SSL_CIPHER) * sk;
	SSL_CTX *ctx;
	int r = 0;

	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return -ENOMEM;
	if (tls13) {
		if (!SSL_CTX_set_ciphersuites(ctx, v) || !*v)
			r = -EINVAL;
		goto out;
	}
	if (!SSL_CTX_set_cipher_list(ctx, v)) {
		r = -EINVAL;
		goto out;
	}
	sk = SSL_CTX_get_ciphers(ctx);
	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		int auth = SSL_CIPHER_get_auth_nid(c);

		if (strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0)
			continue; /* set by ciphersuites */
		if (!SSL_CIPHER_is_aead(c) ||
		    (auth != NID_auth_ecdsa && auth != NID_auth_rsa))
			r = -EPROTONOSUPPORT;
	}
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return r;
}

static int set_string(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -EINVAL;
	strcpy(dst, v);
	return 0;
}

static int set_value(struct gw_config *cfg, const struct key_def *k,
		     const char *v)
{
	char *field = (char *)cfg + k->off;
	uint64_t n;
	int r;

	switch (k->type) {
	case K_UINT:
		r = parse_u64(v, false, k->min, k->max, &n);
		if (r == 0)
			*(unsigned *)(void *)field = (unsigned)n;
		return r;
	case K_BYTES:
		return parse_u64(v, true, k->min, k->max,
				 (uint64_t *)(void *)field);
	case K_BLOCK:
		r = parse_u64(v, true, 0, 32 * MIB, &n);
		if (r < 0 || (n && (n < 4096 || (n & (n - 1)))))
			return -EINVAL;
		cfg->preferred_block = (unsigned)n;
		return 0;
	case K_LISTEN:
		return parse_listen(cfg, v);
	case K_ADDR:
		/* [metrics] listen, the only one: "off" turns it off, and
		 * an address the admin set must bind. */
		return gw_config_metrics(cfg, v);
	case K_TLSVER:
		if (strcmp(v, "TLSv1.2") == 0)
			cfg->tls_min_version = TLS1_2_VERSION;
		else if (strcmp(v, "TLSv1.3") == 0)
			cfg->tls_min_version = TLS1_3_VERSION;
		else
			return -EINVAL;
		return 0;
	case K_CIPHERS:
	case K_SUITES:
		r = check_ciphers(v, k->type == K_SUITES);
		if (r == 0)
			r = set_string(field,
				       k->type == K_SUITES
					       ? sizeof(cfg->tls_ciphersuites)
					       : sizeof(cfg->tls_ciphers),
				       v);
		return r;
	case K_LEVEL:
		return gw_log_parse_level(v, &cfg->log_level);
	}
	return -EINVAL;
}

/* What a bad value should have looked like, for the error message. */
static void expected(const struct key_def *k, char *buf, size_t len)
{
	switch (k->type) {
	case K_UINT:
		snprintf(buf, len, "a number from %" PRIu64 " to %" PRIu64,
			 k->min, k->max);
		break;
	case K_BYTES:
		snprintf(buf, len,
			 "a size from %" PRIu64 "M to %" PRIu64
			 "M (suffix K, M, G or T)",
			 k->min / MIB, k->max / MIB);
		break;
	case K_BLOCK:
		snprintf(buf, len, "0 or a power of two from 4K to 32M");
		break;
	case K_LISTEN:
		snprintf(buf, len,
			 "up to %d distinct IP:PORT or [IPv6]:PORT, "
			 "separated by commas",
			 GW_LISTEN_MAX);
		break;
	case K_ADDR:
		snprintf(buf, len, "IP:PORT, [IPv6]:PORT or off");
		break;
	case K_TLSVER:
		snprintf(buf, len, "TLSv1.2 or TLSv1.3");
		break;
	case K_CIPHERS:
		snprintf(buf, len,
			 "an OpenSSL cipher list of AEAD suites with RSA or "
			 "ECDSA authentication only");
		break;
	case K_SUITES:
		snprintf(buf, len, "a list of TLS 1.3 ciphersuites");
		break;
	case K_LEVEL:
		snprintf(buf, len, "debug, info, warn or error");
		break;
	}
}

int gw_config_override(struct gw_config *cfg, const char *listen,
		       const char *level, char *err, size_t errlen)
{
	if (listen && parse_listen(cfg, listen) < 0) {
		snprintf(err, errlen,
			 "--listen '%s': expected IP:PORT or [IPv6]:PORT, "
			 "several separated by commas",
			 listen);
		return -EINVAL;
	}
	if (level && gw_log_parse_level(level, &cfg->log_level) < 0) {
		snprintf(err, errlen,
			 "--log-level '%s': expected debug, info, warn or "
			 "error",
			 level);
		return -EINVAL;
	}
	return 0;
}

/* ---- parsing ---- */

static const struct key_def *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0 &&
		    (strcmp(keys[i].section, section) == 0 ||
		     (keys[i].alias && strcmp(keys[i].alias, section) == 0)))
			return &keys[i];
	return NULL;
}

static void refuse(struct load_ctx *lc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keeps the first failure only: that is the one reported. */
static void refuse(struct load_ctx *lc, const char *fmt, ...)
{
	va_list ap;

	if (lc->failed)
		return;
	lc->failed = true;
	lc->bad_line = lc->line;
	va_start(ap, fmt);
	vsnprintf(lc->msg, sizeof(lc->msg), fmt, ap);
	va_end(ap);
}

static int on_ini_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct load_ctx *lc = user;
	const struct key_def *k;
	char want[160];
	size_t i;

	if (lc->failed)
		return 0;
	k = find_key(section, name);
	if (!k) {
		refuse(lc, "unknown key '%s' in [%s]: '%s'", name, section,
		       value);
		return 0;
	}
	i = (size_t)(k - keys);
	/* A repeated key (or an inih continuation line) would silently
	 * replace the first value; the operator meant something else. */
	if (lc->lines[i]) {
		refuse(lc, "key '%s' in [%s] set again (first on line %d)",
		       name, section, lc->lines[i]);
		return 0;
	}
	lc->lines[i] = lc->line;
	if (set_value(lc->cfg, k, value) < 0) {
		expected(k, want, sizeof(want));
		refuse(lc, "bad value for key '%s' in [%s]: '%s' (expected %s)",
		       name, section, value, want);
		return 0;
	}
	return 1;
}

/* The gateway's totals must stay below librados' throttle: a submission
 * past it blocks the loop thread. */
static void check_pairs(struct load_ctx *lc)
{
	const struct gw_config *c = lc->cfg;
	static const char *const pairs[][2] = {
		{"total_inflight_requests", "objecter_inflight_ops"},
		{"total_inflight_bytes", "objecter_inflight_op_bytes"},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const struct key_def *lo = find_key("limits", pairs[i][0]);
		const struct key_def *hi = find_key("ceph", pairs[i][1]);
		uint64_t a, b;
		const struct key_def *k;

		a = lo->type == K_BYTES
			    ? *(const uint64_t *)(const void *)((const char *)
									c +
								lo->off)
			    : *(const unsigned *)(const void *)((const char *)
									c +
								lo->off);
		b = hi->type == K_BYTES
			    ? *(const uint64_t *)(const void *)((const char *)
									c +
								hi->off)
			    : *(const unsigned *)(const void *)((const char *)
									c +
								hi->off);
		if (a < b)
			continue;
		/* Blame whichever of the two the file set last. */
		k = lc->lines[hi - keys] > lc->lines[lo - keys] ? hi : lo;
		lc->line = lc->lines[k - keys];
		refuse(lc,
		       "bad value for key '%s' in [%s]: [limits] %s "
		       "(%" PRIu64 ") must stay below [ceph] %s (%" PRIu64 ")",
		       k->name, k->section, lo->name, a, hi->name, b);
	}
}

/* An fgets() over lc->next that hands inih exactly one line per call.  A
 * line that does not fit inih's buffer stops the parse (end of input)
 * rather than being cut in two. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *lc = stream;
	const char *eol;
	size_t n;

	if (lc->failed || !*lc->next || num < 2)
		return NULL;
	eol = strchr(lc->next, '\n');
	n = eol ? (size_t)(eol - lc->next) : strlen(lc->next);
	lc->line++;
	if (n > (size_t)num - 2) {
		refuse(lc, "line longer than %d bytes", num - 2);
		return NULL;
	}
	if (eol)
		n++;
	memcpy(str, lc->next, n);
	str[n] = '\0';
	lc->next += n;
	return str;
}

int gw_config_parse_string(struct gw_config *cfg, const char *text,
			   const char *name, char *err, size_t errlen)
{
	struct load_ctx lc = {.cfg = cfg, .next = text};
	const struct key_def *every =
		find_key("restore_points", "checkpoint_interval");
	int r;

	r = ini_parse_stream(read_line, &lc, on_ini_key, &lc);
	if (r == 0 && !lc.failed)
		check_pairs(&lc);
	/* havenctl names haven.conf as the source of an interval it sets. */
	if (lc.lines[every - keys])
		cfg->checkpoint_interval_set = true;
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot parse (inih error %d)", name,
			 r);
		return -EIO;
	}
	/* inih returns the number of the first line it refused, ours or
	 * its own (syntax); report whichever came first. */
	if (lc.failed && (r == 0 || lc.bad_line <= r)) {
		snprintf(err, errlen, "%s:%d: %s", name, lc.bad_line, lc.msg);
		return -EINVAL;
	}
	if (r > 0) {
		snprintf(err, errlen, "%s:%d: syntax error", name, r);
		return -EINVAL;
	}
	return 0;
}

/* Reads a whole file into a NUL-terminated malloc'ed buffer. */
static int read_file(const char *path, char **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r = 0;

	f = fopen(path, "r");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	buf = malloc(CONF_MAX_SIZE + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		r = -ENOMEM;
		goto out;
	}
	len = fread(buf, 1, CONF_MAX_SIZE + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read", path);
		r = -EIO;
	} else if (len > CONF_MAX_SIZE) {
		snprintf(err, errlen, "%s: larger than %u bytes", path,
			 CONF_MAX_SIZE);
		r = -EFBIG;
	} else if (memchr(buf, '\0', len)) {
		snprintf(err, errlen, "%s: holds a NUL byte", path);
		r = -EINVAL;
	}
	if (r == 0) {
		buf[len] = '\0';
		*out = buf;
		buf = NULL;
	}
out:
	free(buf);
	fclose(f);
	return r;
}

int gw_config_load(struct gw_config *cfg, const char *dir, char *err,
		   size_t errlen)
{
	char path[1200];
	char *text = NULL;
	int r;

	if (strlen(dir) >= sizeof(cfg->dir)) {
		snprintf(err, errlen, "data directory path too long");
		return -ENAMETOOLONG;
	}
	gw_config_defaults(cfg, dir);

	snprintf(path, sizeof(path), "%s/haven.conf", dir);
	r = read_file(path, &text, err, errlen);
	if (r == 0)
		r = gw_config_parse_string(cfg, text, path, err, errlen);
	free(text);
	return r;
}
