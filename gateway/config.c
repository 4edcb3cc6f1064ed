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
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

/* haven.conf is a few lines; anything this large is not one. */
#define CONF_MAX_SIZE (1u << 20)

struct load_ctx {
	struct gw_config *cfg;
	const char *next; /* the unread rest of the text */
	int line;	  /* of the line handed to inih last */
	int bad_line;	  /* of the first line we refused */
	char msg[400];
	bool failed;
};

int gw_config_metrics(struct gw_config *cfg, const char *value)
{
	char host[128];
	int port;

	if (strcmp(value, "off") == 0) {
		cfg->metrics[0] = '\0';
	} else if (gw_parse_hostport(value, host, sizeof(host), &port) < 0 ||
		   strlen(value) >= sizeof(cfg->metrics)) {
		return -EINVAL;
	} else {
		strcpy(cfg->metrics, value);
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

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n < min || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* 0 (the disk's extent size) or a power of two from 4 KiB to 32 MiB. */
static int parse_block(const char *v, unsigned *out)
{
	unsigned n;

	if (parse_uint(v, 0, 32u << 20, &n) < 0 ||
	    (n && (n < 4096 || (n & (n - 1)))))
		return -EINVAL;
	*out = n;
	return 0;
}

static int set_key(struct gw_config *cfg, const char *section, const char *key,
		   const char *value)
{
	char host[128];
	int port;

	if (strcmp(section, "gateway") == 0) {
		if (strcmp(key, "listen") == 0) {
			if (gw_parse_hostport(value, host, sizeof(host),
					      &port) < 0 ||
			    strlen(value) >= sizeof(cfg->listen))
				return -EINVAL;
			strcpy(cfg->listen, value);
			return 0;
		}
		if (strcmp(key, "preferred_block") == 0)
			return parse_block(value, &cfg->preferred_block);
		if (strcmp(key, "retention_interval") == 0)
			return parse_uint(value, 1, 86400,
					  &cfg->retention_interval);
		if (strcmp(key, "handshake_timeout") == 0)
			return parse_uint(value, 1, 3600,
					  &cfg->handshake_timeout);
		if (strcmp(key, "max_inflight_requests") == 0)
			return parse_uint(value, 1, 1024,
					  &cfg->conn_inflight_reqs);
		return -ENOENT;
	}
	if (strcmp(section, "metrics") == 0) {
		if (strcmp(key, "listen") == 0)
			return gw_config_metrics(cfg, value);
		return -ENOENT;
	}
	if (strcmp(section, "log") == 0) {
		if (strcmp(key, "level") == 0)
			return gw_log_parse_level(value, &cfg->log_level);
		return -ENOENT;
	}
	return -ENOENT;
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

static int on_ini_key(void *user, const char *section, const char *key,
		      const char *value)
{
	struct load_ctx *lc = user;
	int r;

	if (lc->failed)
		return 0;
	r = set_key(lc->cfg, section, key, value);
	if (r == 0)
		return 1;
	refuse(lc, "%s key '%s' in [%s]: '%s'",
	       r == -ENOENT ? "unknown" : "bad value for", key, section, value);
	return 0;
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
	int r;

	r = ini_parse_stream(read_line, &lc, on_ini_key, &lc);
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

	memset(cfg, 0, sizeof(*cfg));
	if (strlen(dir) >= sizeof(cfg->dir)) {
		snprintf(err, errlen, "data directory path too long");
		return -ENAMETOOLONG;
	}
	strcpy(cfg->dir, dir);
	strcpy(cfg->listen, "0.0.0.0:10809");
	cfg->handshake_timeout = 10;
	cfg->retention_interval = 60;
	cfg->preferred_block = 256u << 10;
	cfg->log_level = GW_LOG_INFO;
	cfg->conn_inflight_bytes = 64u << 20;
	cfg->conn_inflight_reqs = 128;
	strcpy(cfg->metrics, "127.0.0.1:9309");

	snprintf(path, sizeof(path), "%s/haven.conf", dir);
	r = read_file(path, &text, err, errlen);
	if (r == 0)
		r = gw_config_parse_string(cfg, text, path, err, errlen);
	free(text);
	return r;
}
