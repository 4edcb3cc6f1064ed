/* The TLS server context.  Connections drive OpenSSL through memory BIOs
 * (conn.c); this file only configures the policy and translates
 * OpenSSL's error queue. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "gw.h"

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

/* A handshake record from the client after the handshake is, in TLS 1.2,
 * a renegotiation attempt (TLS 1.3 records all look like application
 * data from outside).  SSL_OP_NO_RENEGOTIATION already refuses it with a
 * warning alert; no NBD client renegotiates, so the connection notes it
 * here and conn.c closes it. */
static void tls_msg(int write_p, int version, int content_type, const void *buf,
		    size_t len, SSL *ssl, void *arg)
{
	const unsigned char *rec = buf;
	struct gw_tls_io *io;

	(void)version;
	(void)arg;
	if (write_p || content_type != SSL3_RT_HEADER || len < 5 ||
	    rec[0] != SSL3_RT_HANDSHAKE || !SSL_is_init_finished(ssl) ||
	    SSL_version(ssl) > TLS1_2_VERSION)
		return;
	io = BIO_get_data(SSL_get_rbio(ssl));
	if (io)
		io->renegotiation = true;
}

int gw_tls_ctx_new(const char *pki_dir, const struct gw_config *cfg,
		   SSL_CTX **out)
{
	char path[1200], err[256];
	SSL_CTX *ctx;
	int r = -EINVAL;

	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_version);
	SSL_CTX_set_options(
		ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			     SSL_OP_CIPHER_SERVER_PREFERENCE |
			     SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	/* NBD clients never resume sessions; tickets would be wasted. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_msg_callback(ctx, tls_msg);
	/* The lists were checked (AEAD only) when the configuration was
	 * read. */
	snprintf(path, sizeof(path), "[tls] ciphers");
	if (!SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) ||
	    !SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites))
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
	SSL_CTX_set_verify(
		ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 2);
	*out = ctx;
	return 0;
fail:
	gw_log(GW_LOG_ERROR, "event=tls_setup_failed path=%s error=\"%s\"",
	       path, gw_tls_error(err, sizeof(err)));
	SSL_CTX_free(ctx);
	return r;
}

int gw_tls_peer_verify(SSL_CTX *ctx, SSL *ssl)
{
	X509_STORE_CTX *vc = NULL;
	X509 *peer = SSL_get0_peer_certificate(ssl);
	int r = -EPERM;

	/* Before the handshake finished there is nothing to re-check: the
	 * handshake itself verifies against the context it started with. */
	if (!peer || !SSL_is_init_finished(ssl))
		return 0;
	vc = X509_STORE_CTX_new();
	if (!vc)
		return 0; /* out of memory is no reason to cut a session */
	if (X509_STORE_CTX_init(vc, SSL_CTX_get_cert_store(ctx), peer,
				SSL_get_peer_cert_chain(ssl)) == 1 &&
	    X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT) == 1 &&
	    X509_verify_cert(vc) == 1)
		r = 0;
	X509_STORE_CTX_free(vc);
	ERR_clear_error();
	return r;
}

/* ---- the connection BIO ----
 *
 * OpenSSL reads TLS records straight from the connection's input buffer
 * (filled by libuv) and writes records straight into its pending output
 * chunk, instead of going through two memory BIOs: a memory BIO costs a
 * copy per direction plus zeroing of every buffer it grows. */

static BIO_METHOD *io_method;

static int io_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct gw_tls_io *io = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (io->out(io->arg, data, len) < 0)
		return 0;
	*written = len;
	return 1;
}

static int io_read(BIO *b, char *data, size_t len, size_t *readbytes)
{
	struct gw_tls_io *io = BIO_get_data(b);
	size_t avail = io->len - io->off;

	BIO_clear_retry_flags(b);
	if (avail == 0) {
		/* Nothing received yet: OpenSSL reports WANT_READ. */
		BIO_set_retry_read(b);
		*readbytes = 0;
		return 0;
	}
	if (len > avail)
		len = avail;
	memcpy(data, io->buf + io->off, len);
	io->off += len;
	*readbytes = len;
	return 1;
}

static long io_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct gw_tls_io *io = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* the connection flushes after each event */
	case BIO_CTRL_PENDING:
		return io ? (long)(io->len - io->off) : 0;
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int io_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

int gw_tls_io_init(void)
{
	io_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				 "haven connection");
	if (!io_method || !BIO_meth_set_write_ex(io_method, io_write) ||
	    !BIO_meth_set_read_ex(io_method, io_read) ||
	    !BIO_meth_set_ctrl(io_method, io_ctrl) ||
	    !BIO_meth_set_create(io_method, io_create))
		return -ENOMEM;
	return 0;
}

void gw_tls_io_exit(void)
{
	BIO_meth_free(io_method);
	io_method = NULL;
}

BIO *gw_tls_io_bio(struct gw_tls_io *io)
{
	BIO *b = BIO_new(io_method);

	if (b)
		BIO_set_data(b, io);
	return b;
}
