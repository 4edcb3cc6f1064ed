/* libFuzzer harness for the haven.conf parser (gateway/config.c).
 *
 * The input is the file's text; it is NUL-terminated and parsed over the
 * built-in defaults, as havend would.  A failure must say why in a
 * non-empty, NUL-terminated message; a success must leave a config havend
 * can use.  The text is also parsed with a message buffer of 8 bytes
 * (exactly allocated, so ASan sees an overrun), and its first line is fed
 * to the HOST:PORT parser on its own.  A configuration that parses is
 * printed as --check-config does, and the print must parse to the same.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void defaults(struct gw_config *cfg)
{
	gw_config_defaults(cfg, "/var/lib/haven");
}

static void check_config(const struct gw_config *cfg)
{
	char host[GW_HOSTPORT_MAX];
	int port;

	if (cfg->nlisten < 1 || cfg->nlisten > GW_LISTEN_MAX)
		abort();
	for (unsigned i = 0; i < cfg->nlisten; i++) {
		if (strnlen(cfg->listen[i], GW_HOSTPORT_MAX) == GW_HOSTPORT_MAX)
			abort();
		if (gw_parse_hostport(cfg->listen[i], host, sizeof(host),
				      &port) != 0 ||
		    port < 1 || port > 65535)
			abort();
	}
	if (cfg->handshake_timeout < 1 || cfg->handshake_timeout > 3600)
		abort();
	if (cfg->conn_inflight_reqs < 1 || cfg->conn_inflight_reqs > 1024)
		abort();
	if (cfg->log_level != GW_LOG_DEBUG && cfg->log_level != GW_LOG_INFO &&
	    cfg->log_level != GW_LOG_WARN && cfg->log_level != GW_LOG_ERROR)
		abort();
	if (cfg->tls_min_version != TLS1_2_VERSION &&
	    cfg->tls_min_version != TLS1_3_VERSION)
		abort();
	if (strnlen(cfg->tls_ciphers, sizeof(cfg->tls_ciphers)) ==
		    sizeof(cfg->tls_ciphers) ||
	    strnlen(cfg->tls_ciphersuites, sizeof(cfg->tls_ciphersuites)) ==
		    sizeof(cfg->tls_ciphersuites))
		abort();
	/* The loop must never block in librados. */
	if (cfg->total_inflight_reqs >= cfg->ceph_inflight_ops ||
	    cfg->total_inflight_bytes >= cfg->ceph_inflight_bytes)
		abort();
	if (strcmp(cfg->dir, "/var/lib/haven") != 0)
		abort(); /* not settable from the file */
}

/* What --check-config prints is a haven.conf that means the same and
 * prints the same. */
static void check_print(const struct gw_config *cfg)
{
	struct gw_config again;
	char *a = NULL, *b = NULL, err[512];
	size_t alen = 0, blen = 0;
	FILE *f;

	f = open_memstream(&a, &alen);
	if (!f)
		return;
	gw_config_print(cfg, f);
	fclose(f);
	defaults(&again);
	if (gw_config_parse_string(&again, a, "printed", err, sizeof(err)) != 0)
		abort();
	f = open_memstream(&b, &blen);
	if (!f)
		goto out;
	gw_config_print(&again, f);
	fclose(f);
	if (alen != blen || memcmp(a, b, alen) != 0)
		abort();
out:
	free(a);
	free(b);
}

static void check_hostport(const char *text)
{
	char line[256], host[64];
	size_t n = strcspn(text, "\n");
	int port = -1;

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, text, n);
	line[n] = '\0';
	memset(host, 0x7f, sizeof(host));
	if (gw_parse_hostport(line, host, sizeof(host), &port) != 0)
		return;
	if (strnlen(host, sizeof(host)) == sizeof(host) || host[0] == '\0' ||
	    port < 0 || port > 65535)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_config cfg;
	char err[512];
	char *text, *small;
	int rc, rc2;

	text = malloc(size + 1);
	small = malloc(8);
	if (!text || !small)
		goto out;
	memcpy(text, data, size);
	text[size] = '\0';

	defaults(&cfg);
	memset(err, 0x7f, sizeof(err));
	rc = gw_config_parse_string(&cfg, text, "haven.conf", err, sizeof(err));
	if (rc == 0) {
		check_config(&cfg);
		check_print(&cfg);
	} else if (rc != -EINVAL && rc != -EIO)
		abort();
	else if (strnlen(err, sizeof(err)) == sizeof(err) || err[0] == '\0' ||
		 strncmp(err, "haven.conf", 10) != 0)
		abort(); /* a failure names the file and says why */

	/* The verdict does not depend on the message buffer. */
	defaults(&cfg);
	memset(small, 0x7f, 8);
	rc2 = gw_config_parse_string(&cfg, text, "haven.conf", small, 8);
	if (rc2 != rc || (rc != 0 && strnlen(small, 8) != 7))
		abort();

	check_hostport(text);
out:
	free(small);
	free(text);
	return 0;
}
