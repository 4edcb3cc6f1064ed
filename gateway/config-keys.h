/* Internal to config.c and config-out.c: the table of haven.conf keys. */
#ifndef HAVEN_CONFIG_KEYS_H
#define HAVEN_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw.h"

enum key_type {
	K_UINT,	   /* unsigned, decimal, within [min, max] */
	K_BYTES,   /* uint64_t, with an optional K, M, G or T suffix */
	K_BLOCK,   /* 0 or a power of two from 4 KiB to 32 MiB */
	K_LISTEN,  /* HOST:PORT[, HOST:PORT]... */
	K_ADDR,	   /* one numeric HOST:PORT, char[GW_HOSTPORT_MAX] */
	K_TLSVER,  /* TLSv1.2 or TLSv1.3 */
	K_CIPHERS, /* an OpenSSL TLS 1.2 cipher list, AEAD suites only */
	K_SUITES,  /* an OpenSSL TLS 1.3 ciphersuite list */
	K_LEVEL,   /* debug, info, warn, error */
};

struct key_def {
	const char *section, *name;
	enum key_type type;
	size_t off;
	uint64_t min, max;
	bool restart;	   /* a running havend cannot change it */
	const char *alias; /* an older section that also holds the key */
};

/* Every key, in the order --check-config prints them (config.c). */
extern const struct key_def gw_config_keys[];
extern const size_t gw_config_nkeys;

#endif
