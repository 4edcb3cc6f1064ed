/* The gateway PKI: what havenctl init and cert issue leave on disk, and
 * whether OpenSSL accepts it the way the TLS layer will. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fixture.h"
#include "tenant.h"

struct fixture {
	char dir[64];
	char pki[96];
	char bundle[96];
};

static const char *const extra_names[] = {"gw.example.org"};
static const char *const extra_ips[] = {"192.0.2.7", "2001:db8::5"};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fixture_tmpdir(f->dir, sizeof(f->dir), "test-identity");
	snprintf(f->pki, sizeof(f->pki), "%s/pki", f->dir);
	snprintf(f->bundle, sizeof(f->bundle), "%s/sites/paris", f->dir);
	*state = f;
	return 0;
}

static int setup_init(void **state)
{
	struct fixture *f;

	if (setup(state))
		return -1;
	f = *state;
	return tenant_pki_init(f->pki, extra_names, 1, extra_ips, 2);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

static const char *path_in(const char *dir, const char *name)
{
	static char buf[4][256];
	static int slot;
	char *p = buf[slot++ & 3];

	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

static int file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -1;
	return (int)(st.st_mode & 07777);
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

/* 1 when ca verifies x for the given purpose (X509_PURPOSE_*). */
static int verify(X509 *ca, X509 *x, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, x, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void subject_field(X509 *x, int nid, char *buf, int size)
{
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), nid,
					      buf, size) > 0);
}

static bool same_file(const char *a, const char *b)
{
	char ba[8192], bb[8192];
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	size_t na, nb;

	assert_non_null(fa);
	assert_non_null(fb);
	na = fread(ba, 1, sizeof(ba), fa);
	nb = fread(bb, 1, sizeof(bb), fb);
	fclose(fa);
	fclose(fb);
	return na == nb && na > 0 && !memcmp(ba, bb, na);
}

/* No temporary file may survive a call, successful or not. */
static void assert_no_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".haven-", 7))
			fail_msg("temporary file %s left in %s", e->d_name,
				 dir);
	closedir(d);
}

static void test_init_files(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(file_mode(f->pki), 0700);
	assert_int_equal(file_mode(path_in(f->pki, TENANT_PKI_CA_KEY)), 0600);
	assert_int_equal(file_mode(path_in(f->pki, TENANT_PKI_SERVER_KEY)),
			 0600);
	assert_int_equal(file_mode(path_in(f->pki, TENANT_PKI_CA_CERT)), 0644);
	assert_int_equal(file_mode(path_in(f->pki, TENANT_PKI_SERVER_CERT)),
			 0644);
	assert_no_temp_files(f->pki);
}

static void test_ca_and_server_cert(void **state)
{
	struct fixture *f = *state;
	X509 *ca = read_cert(path_in(f->pki, TENANT_PKI_CA_CERT));
	X509 *srv = read_cert(path_in(f->pki, TENANT_PKI_SERVER_CERT));
	EVP_PKEY *ca_key = read_key(path_in(f->pki, TENANT_PKI_CA_KEY));
	EVP_PKEY *srv_key = read_key(path_in(f->pki, TENANT_PKI_SERVER_KEY));
	char host[256], buf[256];
	const ASN1_INTEGER *serial;
	uint64_t sv;

	/* The CA: self-signed, a CA, allowed to sign certificates. */
	assert_int_equal(X509_check_private_key(ca, ca_key), 1);
	assert_int_equal(X509_check_private_key(srv, srv_key), 1);
	assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(ca) & KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(ca));
	subject_field(ca, NID_organizationName, buf, sizeof(buf));
	assert_string_equal(buf, "haven");
	subject_field(ca, NID_commonName, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, "haven CA ", 9), 0);
	assert_int_equal(EVP_PKEY_get_bits(ca_key), 256);
	assert_true(EVP_PKEY_is_a(ca_key, "EC"));
	/* About ten years. */
	assert_int_equal(
		X509_cmp_time(X509_get0_notAfter(ca),
			      &(time_t){time(NULL) + 9 * 366 * 86400L}),
		1);

	/* The server certificate: signed by the CA, for servers only. */
	assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_SERVER), 1);
	assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_CLIENT), 0);
	assert_int_equal(X509_check_ca(srv), 0);
	assert_true(X509_get_extended_key_usage(srv) & XKU_SSL_SERVER);
	assert_non_null(X509_get0_authority_key_id(srv));
	assert_true(EVP_PKEY_is_a(srv_key, "EC"));

	/* SANs: the defaults, the host name and the extras; nothing else. */
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	subject_field(srv, NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, host);
	assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, host, 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "gw.example.org", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "evil.example.org", 0, 0, NULL),
			 0);
	assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "192.0.2.7", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "2001:db8::5", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "192.0.2.8", 0), 0);

	/* Serials are positive and distinct. */
	serial = X509_get0_serialNumber(srv);
	assert_int_equal(ASN1_INTEGER_get_uint64(&sv, serial), 1);
	assert_true(sv > 0 && sv <= INT64_MAX);
	assert_int_not_equal(
		ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(ca)), 0);

	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(ca_key);
	X509_free(srv);
	X509_free(ca);
}

/* SHA-256 of the DER SubjectPublicKeyInfo, computed from the private key
 * file alone, without going through the certificate. */
static void pin_from_key_file(const char *path, uint8_t pin[32])
{
	EVP_PKEY *k = read_key(path);
	unsigned char *der = NULL;
	unsigned int len = 0;
	int n = i2d_PUBKEY(k, &der);

	assert_true(n > 0);
	assert_int_equal(
		EVP_Digest(der, (size_t)n, pin, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

static void test_issue(void **state)
{
	struct fixture *f = *state;
	uint8_t pin[TENANT_PIN_LEN], want[TENANT_PIN_LEN];
	uint64_t serial, not_after, cert_serial;
	time_t before = time(NULL);
	X509 *ca, *x;
	char buf[256];
	struct tm tm;

	assert_int_equal(tenant_pki_issue(f->pki, "acme-paris", "acme", 365,
					  f->bundle, pin, &serial, &not_after),
			 0);
	assert_int_equal(file_mode(f->bundle), 0700);
	assert_int_equal(file_mode(path_in(f->bundle, TENANT_BUNDLE_KEY)),
			 0600);
	assert_true(same_file(path_in(f->bundle, TENANT_BUNDLE_CA),
			      path_in(f->pki, TENANT_PKI_CA_CERT)));
	assert_no_temp_files(f->bundle);

	ca = read_cert(path_in(f->pki, TENANT_PKI_CA_CERT));
	x = read_cert(path_in(f->bundle, TENANT_BUNDLE_CERT));
	assert_int_equal(verify(ca, x, X509_PURPOSE_SSL_CLIENT), 1);
	assert_int_equal(verify(ca, x, X509_PURPOSE_SSL_SERVER), 0);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	assert_false(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_non_null(X509_get0_authority_key_id(x));
	subject_field(x, NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "acme-paris");
	subject_field(x, NID_organizationName, buf, sizeof(buf));
	assert_string_equal(buf, "acme");

	/* The pin is the standard SPKI pin of the bundle's key. */
	pin_from_key_file(path_in(f->bundle, TENANT_BUNDLE_KEY), want);
	assert_memory_equal(pin, want, sizeof(want));
	assert_int_equal(tenant_spki_pin(x, want), 0);
	assert_memory_equal(pin, want, sizeof(want));

	assert_int_equal(ASN1_INTEGER_get_uint64(&cert_serial,
						 X509_get0_serialNumber(x)),
			 1);
	assert_int_equal(serial, cert_serial);
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
	assert_int_equal(not_after, (uint64_t)timegm(&tm));
	assert_true(not_after >= (uint64_t)before + 365 * 86400 &&
		    not_after <= (uint64_t)time(NULL) + 365 * 86400);

	X509_free(x);
	X509_free(ca);
}

static void test_reinit_refused(void **state)
{
	struct fixture *f = *state;
	char copy[256];
	FILE *src, *dst;
	char buf[4096];
	size_t n;

	snprintf(copy, sizeof(copy), "%s/ca-copy.pem", f->dir);
	src = fopen(path_in(f->pki, TENANT_PKI_CA_CERT), "r");
	dst = fopen(copy, "w");
	assert_non_null(src);
	assert_non_null(dst);
	n = fread(buf, 1, sizeof(buf), src);
	assert_int_equal(fwrite(buf, 1, n, dst), n);
	fclose(src);
	fclose(dst);

	assert_int_equal(tenant_pki_init(f->pki, NULL, 0, NULL, 0), -EEXIST);
	assert_true(same_file(copy, path_in(f->pki, TENANT_PKI_CA_CERT)));
	assert_no_temp_files(f->pki);

	/* A leftover key without its certificate blocks init as well, and
	 * the refused init does not remove it. */
	assert_int_equal(unlink(path_in(f->pki, TENANT_PKI_CA_CERT)), 0);
	assert_int_equal(tenant_pki_init(f->pki, NULL, 0, NULL, 0), -EEXIST);
	assert_int_equal(file_mode(path_in(f->pki, TENANT_PKI_CA_KEY)), 0600);
	assert_int_equal(file_mode(path_in(f->pki, TENANT_PKI_CA_CERT)), -1);
}

static void test_issue_refuses_existing_bundle(void **state)
{
	struct fixture *f = *state;
	uint8_t pin[TENANT_PIN_LEN], pin2[TENANT_PIN_LEN];
	uint64_t serial, not_after;
	char other[160];
	FILE *fp;

	assert_int_equal(tenant_pki_issue(f->pki, "a", "acme", 30, f->bundle,
					  pin, &serial, &not_after),
			 0);
	assert_int_equal(tenant_pki_issue(f->pki, "a", "acme", 30, f->bundle,
					  pin2, &serial, &not_after),
			 -EEXIST);
	pin_from_key_file(path_in(f->bundle, TENANT_BUNDLE_KEY), pin2);
	assert_memory_equal(pin, pin2, sizeof(pin));
	assert_no_temp_files(f->bundle);

	/* A stray key alone is a bundle too; a CA certificate alone is not. */
	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	fp = fopen(path_in(other, TENANT_BUNDLE_KEY), "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(tenant_pki_issue(f->pki, "b", "acme", 30, other, pin,
					  &serial, &not_after),
			 -EEXIST);
	assert_int_equal(file_mode(path_in(other, TENANT_BUNDLE_CERT)), -1);
	assert_int_equal(unlink(path_in(other, TENANT_BUNDLE_KEY)), 0);
	fp = fopen(path_in(other, TENANT_BUNDLE_CA), "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(tenant_pki_issue(f->pki, "b", "acme", 30, other, pin,
					  &serial, &not_after),
			 0);
	assert_true(same_file(path_in(other, TENANT_BUNDLE_CA),
			      path_in(f->pki, TENANT_PKI_CA_CERT)));
}

static void test_same_cn_different_pins(void **state)
{
	struct fixture *f = *state;
	uint8_t p1[TENANT_PIN_LEN], p2[TENANT_PIN_LEN];
	uint64_t s1, s2, na;
	char b2[160];

	snprintf(b2, sizeof(b2), "%s/second", f->dir);
	assert_int_equal(tenant_pki_issue(f->pki, "same", "acme", 10, f->bundle,
					  p1, &s1, &na),
			 0);
	assert_int_equal(
		tenant_pki_issue(f->pki, "same", "acme", 10, b2, p2, &s2, &na),
		0);
	assert_memory_not_equal(p1, p2, sizeof(p1));
	assert_int_not_equal(s1, s2);
}

static void test_invalid_args_leave_nothing(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_ips[] = {"300.1.1.1", "not-an-ip", "",
					      "1.2.3", "::g"};
	static const char *const bad_names[] = {"", "bad_name", "a..b",
						"-lead.example", "sp ace"};
	uint8_t pin[TENANT_PIN_LEN];
	uint64_t serial, not_after;
	size_t i;

	for (i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
		const char *ips[] = {"10.0.0.1", bad_ips[i]};

		assert_int_equal(tenant_pki_init(f->pki, NULL, 0, ips, 2),
				 -EINVAL);
		assert_int_equal(file_mode(f->pki), -1);
	}
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		assert_int_equal(
			tenant_pki_init(f->pki, &bad_names[i], 1, NULL, 0),
			-EINVAL);
		assert_int_equal(file_mode(f->pki), -1);
	}

	/* Issuing without a CA. */
	assert_int_equal(tenant_pki_issue(f->pki, "a", "acme", 30, f->bundle,
					  pin, &serial, &not_after),
			 -ENOENT);
	assert_int_equal(file_mode(path_in(f->bundle, TENANT_BUNDLE_KEY)), -1);

	assert_int_equal(tenant_pki_init(f->pki, NULL, 0, NULL, 0), 0);
	assert_int_equal(tenant_pki_issue(f->pki, "a", "acme", 0, f->bundle,
					  pin, &serial, &not_after),
			 -EINVAL);
	assert_int_equal(tenant_pki_issue(f->pki, "", "acme", 30, f->bundle,
					  pin, &serial, &not_after),
			 -EINVAL);
	assert_int_equal(file_mode(path_in(f->bundle, TENANT_BUNDLE_KEY)), -1);
}

static void test_pin_hex(void **state)
{
	uint8_t pin[TENANT_PIN_LEN], back[TENANT_PIN_LEN];
	char hex[2 * TENANT_PIN_LEN + 1], upper[2 * TENANT_PIN_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pin); i++)
		pin[i] = (uint8_t)(i * 37 + 5);
	tenant_pin_hex(pin, hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(strncmp(hex, "052a4f74", 8), 0);
	assert_int_equal(tenant_pin_parse(hex, back), 0);
	assert_memory_equal(pin, back, sizeof(pin));
	for (i = 0; i <= 64; i++)
		upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
	memset(back, 0, sizeof(back));
	assert_int_equal(tenant_pin_parse(upper, back), 0);
	assert_memory_equal(pin, back, sizeof(pin));

	memset(back, 0xee, sizeof(back));
	hex[63] = '\0';
	assert_int_equal(tenant_pin_parse(hex, back), -EINVAL);
	hex[63] = '0';
	hex[10] = 'g';
	assert_int_equal(tenant_pin_parse(hex, back), -EINVAL);
	assert_int_equal(tenant_pin_parse("", back), -EINVAL);
	assert_int_equal(tenant_pin_parse(NULL, back), -EINVAL);
	assert_int_equal(back[0], 0xee); /* untouched on error */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_files, setup_init,
						teardown),
		cmocka_unit_test_setup_teardown(test_ca_and_server_cert,
						setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_issue, setup_init,
						teardown),
		cmocka_unit_test_setup_teardown(test_reinit_refused, setup_init,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_issue_refuses_existing_bundle, setup_init,
			teardown),
		cmocka_unit_test_setup_teardown(test_same_cn_different_pins,
						setup_init, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_args_leave_nothing,
						setup, teardown),
		cmocka_unit_test(test_pin_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
