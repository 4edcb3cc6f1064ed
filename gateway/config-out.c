/* The configuration as text (havend --check-config) and compared for a
 * reload: both walk config.c's table of keys, so a key added there is
 * printed and compared without more code here. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "config-keys.h"

#define keys gw_config_keys
#define NKEYS gw_config_nkeys

/* ---- printing ---- */

static void print_bytes(FILE *f, uint64_t n)
{
	static const char units[] = "TGMK";

	for (unsigned i = 0; i < 4; i++) {
		unsigned shift = 10 * (4 - i);

		if (n && n % ((uint64_t)1 << shift) == 0) {
			fprintf(f, "%" PRIu64 "%c\n", n >> shift, units[i]);
			return;
		}
	}
	fprintf(f, "%" PRIu64 "\n", n);
}

static void print_value(FILE *f, const struct gw_config *cfg,
			const struct key_def *k)
{
	const char *field = (const char *)cfg + k->off;
	static const char *const levels[] = {"debug", "info", "warn", "error"};

	switch (k->type) {
	case K_UINT:
		fprintf(f, "%u\n", *(const unsigned *)(const void *)field);
		break;
	case K_BYTES:
		print_bytes(f, *(const uint64_t *)(const void *)field);
		break;
	case K_BLOCK:
		print_bytes(f, cfg->preferred_block);
		break;
	case K_LISTEN:
		for (unsigned i = 0; i < cfg->nlisten; i++)
			fprintf(f, "%s%s", i ? ", " : "", cfg->listen[i]);
		fputc('\n', f);
		break;
	case K_TLSVER:
		fprintf(f, "%s\n",
			cfg->tls_min_version == TLS1_3_VERSION ? "TLSv1.3"
							       : "TLSv1.2");
		break;
	case K_ADDR:
		fprintf(f, "%s\n", *field ? field : "off");
		break;
	case K_CIPHERS:
	case K_SUITES:
		fprintf(f, "%s\n", field);
		break;
	case K_LEVEL:
		fprintf(f, "%s\n", levels[cfg->log_level]);
		break;
	}
}

void gw_config_print(const struct gw_config *cfg, FILE *f)
{
	const char *section = NULL;

	fprintf(f,
		"# effective configuration: %s/haven.conf over the "
		"defaults\n",
		cfg->dir);
	for (size_t i = 0; i < NKEYS; i++) {
		if (!section || strcmp(section, keys[i].section) != 0) {
			section = keys[i].section;
			fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
		}
		fprintf(f, "%s = ", keys[i].name);
		print_value(f, cfg, &keys[i]);
	}
}

/* ---- reload ---- */

/* Numbers and enums are unsigned-sized, except sizes. */
static size_t key_size(const struct key_def *k)
{
	return k->type == K_BYTES ? sizeof(uint64_t) : sizeof(unsigned);
}

static bool key_equal(const struct gw_config *a, const struct gw_config *b,
		      const struct key_def *k)
{
	const char *fa = (const char *)a + k->off;
	const char *fb = (const char *)b + k->off;

	switch (k->type) {
	case K_LISTEN:
		if (a->nlisten != b->nlisten)
			return false;
		for (unsigned i = 0; i < a->nlisten; i++)
			if (strcmp(a->listen[i], b->listen[i]) != 0)
				return false;
		return true;
	case K_ADDR:
	case K_CIPHERS:
	case K_SUITES:
		return strcmp(fa, fb) == 0;
	default:
		return memcmp(fa, fb, key_size(k)) == 0;
	}
}

void gw_config_restart_keys(
	const struct gw_config *a, const struct gw_config *b,
	void (*fn)(const char *section, const char *key, void *arg), void *arg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].restart && !key_equal(a, b, &keys[i]))
			fn(keys[i].section, keys[i].name, arg);
}

void gw_config_keep_restart_keys(struct gw_config *cfg,
				 const struct gw_config *old)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_def *k = &keys[i];
		size_t n;

		if (!k->restart)
			continue;
		switch (k->type) {
		case K_LISTEN:
			memcpy(cfg->listen, old->listen, sizeof(cfg->listen));
			cfg->nlisten = old->nlisten;
			continue;
		case K_ADDR:
			n = GW_HOSTPORT_MAX;
			break;
		case K_CIPHERS:
			n = sizeof(cfg->tls_ciphers);
			break;
		case K_SUITES:
			n = sizeof(cfg->tls_ciphersuites);
			break;
		default:
			n = key_size(k);
			break;
		}
		memcpy((char *)cfg + k->off, (const char *)old + k->off, n);
	}
}
