/* havend configuration: DIR/haven.conf (INI, parsed by libinih) over
 * built-in defaults.  Unknown sections or keys and bad values are errors
 * that name the file, the line and the key. */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

struct load_ctx {
	struct gw_config *cfg;
	char msg[400];
	bool failed;
};

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

static int parse_uint(const char *v, unsigned min, unsigned max,
		      unsigned *out)
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

static int set_key(struct gw_config *cfg, const char *section,
		   const char *key, const char *value)
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
		if (strcmp(key, "handshake_timeout") == 0)
			return parse_uint(value, 1, 3600,
					  &cfg->handshake_timeout);
		if (strcmp(key, "max_inflight_requests") == 0)
			return parse_uint(value, 1, 1024,
					  &cfg->conn_inflight_reqs);
		return -ENOENT;
	}
	if (strcmp(section, "log") == 0) {
		if (strcmp(key, "level") == 0)
			return gw_log_parse_level(value, &cfg->log_level);
		return -ENOENT;
	}
	return -ENOENT;
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
	lc->failed = true;
	snprintf(lc->msg, sizeof(lc->msg), "%s key '%s' in [%s]: '%s'",
		 r == -ENOENT ? "unknown" : "bad value for", key, section,
		 value);
	return 0;
}

int gw_config_load(struct gw_config *cfg, const char *dir, char *err,
		   size_t errlen)
{
	struct load_ctx lc = {.cfg = cfg};
	char path[1200];
	FILE *f;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if (strlen(dir) >= sizeof(cfg->dir)) {
		snprintf(err, errlen, "data directory path too long");
		return -ENAMETOOLONG;
	}
	strcpy(cfg->dir, dir);
	strcpy(cfg->listen, "0.0.0.0:10809");
	cfg->handshake_timeout = 10;
	cfg->log_level = GW_LOG_INFO;
	cfg->conn_inflight_bytes = 64u << 20;
	cfg->conn_inflight_reqs = 128;

	snprintf(path, sizeof(path), "%s/haven.conf", dir);
	f = fopen(path, "r");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	r = ini_parse_file(f, on_ini_key, &lc);
	fclose(f);
	if (r > 0) {
		/* inih returns the number of the first line it refused. */
		snprintf(err, errlen, "%s:%d: %s", path, r,
			 lc.failed ? lc.msg : "syntax error");
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read", path);
		return -EIO;
	}
	return 0;
}
