/* The TLS server context.  Connections drive OpenSSL through memory BIOs
 * (conn.c); this file only configures the policy and translates
 * OpenSSL's error queue. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "gw.h"

/* TLS 1.3 suites are all AEAD; for TLS 1.2 (the kernel nbd-client pins
 * it) only ECDHE with AES-GCM or ChaCha20-Poly1305 is offered. */
#define TLS12_CIPHERS                                                         \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"        \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"         \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES                                                          \
	"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:"                      \
	"TLS_CHACHA20_POLY1305_SHA256"

const char *gw_tls_error(char *buf, size_t len)
{
	unsigned long e, last = 0;

	/* Keep the last (most specific) entry and empty the queue, so a
	 * later failure on another connection is not blamed on this one. */
	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last)
		ERR_error_string_n(last, buf, len);
	else
		snprintf(buf, len, "unknown TLS error");
	return buf;
}

int gw_tls_ctx_new(const char *pki_dir, SSL_CTX **out)
{
	char path[1200], err[256];
	SSL_CTX *ctx;
	int r = -EINVAL;

	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
				     SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_IGNORE_UNEXPECTED_EOF |
				     SSL_OP_NO_TICKET);
	/* NBD clients never resume sessions; tickets would be wasted. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_RELEASE_BUFFERS);
	if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES))
		goto fail;

	snprintf(path, sizeof(path), "%s/%s", pki_dir, TENANT_PKI_SERVER_CERT);
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s", pki_dir, TENANT_PKI_SERVER_KEY);
	if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1)
		goto fail;
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s", pki_dir, TENANT_PKI_CA_CERT);
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
		goto fail;
	/* Every client must present a certificate from the haven CA; which
	 * tenant it belongs to is decided afterwards by its SPKI pin. */
	SSL_CTX_set_verify(ctx,
			   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   NULL);
	SSL_CTX_set_verify_depth(ctx, 2);
	*out = ctx;
	return 0;
fail:
	gw_log(GW_LOG_ERROR, "event=tls_setup_failed path=%s error=\"%s\"",
	       path, gw_tls_error(err, sizeof(err)));
	SSL_CTX_free(ctx);
	return r;
}
