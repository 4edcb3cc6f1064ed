/* The gateway's own small PKI: a CA, the server certificate clients dial,
 * and the site bundles (ca-cert.pem, client-cert.pem, client-key.pem) that
 * libnbd and qemu read.  Tenants are identified by the SHA-256 of the DER
 * SubjectPublicKeyInfo of their certificate, never by subject strings.
 *
 * Files are written under temporary names and published with link(), which
 * refuses to replace an existing file; a failure removes everything this
 * call created, so nothing is ever half-written.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tenant.h"

#define CA_DAYS 3653	/* ten years, leap days included */
#define SERVER_DAYS 730 /* two years */
#define MAX_DAYS 36500	/* refuse absurd client lifetimes */
#define BACKDATE 3600	/* seconds; tolerates clock skew between hosts */
#define CN_MAX 64	/* ub-common-name */
#define MAX_FILES 4

/* ---- files ---- */

struct out_file {
	char tmp[PATH_MAX];
	char final[PATH_MAX];
	bool replace; /* rename over an existing file (public data) */
	bool published;
};

struct out_set {
	struct out_file f[MAX_FILES];
	size_t n;
};

static int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int make_one_dir(const char *dir)
{
	struct stat st;

	if (!mkdir(dir, 0700))
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(dir, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Like mkdir -p, every directory created 0700: the PKI directory and a
 * bundle directory both end up holding private keys. */
static int make_dir(const char *dir)
{
	char path[PATH_MAX];
	size_t i;
	int rc;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (i = 1; path[i]; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		rc = make_one_dir(path);
		path[i] = '/';
		if (rc)
			return rc;
	}
	return make_one_dir(path);
}

static int must_not_exist(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	int rc = path_join(path, sizeof(path), dir, name);

	if (rc)
		return rc;
	if (!lstat(path, &st))
		return -EEXIST;
	return errno == ENOENT ? 0 : -errno;
}

/* Writes one PEM object (a certificate, or a private key when x is NULL)
 * into a fresh temporary file next to its final name.  mkostemp() creates
 * the file 0600 and exclusively, so a key is never readable by others,
 * not even for a moment. */
static int write_pem(struct out_set *set, const char *dir, const char *name,
		     X509 *x, EVP_PKEY *key, bool replace)
{
	struct out_file *o = &set->f[set->n];
	FILE *f = NULL;
	int fd = -1, rc;

	rc = path_join(o->final, sizeof(o->final), dir, name);
	if (!rc)
		rc = path_join(o->tmp, sizeof(o->tmp), dir, ".haven-XXXXXX");
	if (rc)
		return rc;
	fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	o->replace = replace;
	o->published = false;
	set->n++;
	if (x && fchmod(fd, 0644)) {
		rc = -errno;
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (x ? !PEM_write_X509(f, x)
	      : !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) {
		rc = -EIO;
		goto out;
	}
	if (fflush(f) || fsync(fileno(f)))
		rc = -errno;
out:
	if (f && fclose(f) && !rc)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Removes the temporary files, and on failure the published ones too. */
static void out_cleanup(struct out_set *set, bool failed)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (failed && set->f[i].published && !set->f[i].replace)
			unlink(set->f[i].final);
		unlink(set->f[i].tmp);
	}
	set->n = 0;
}

/* link() fails with EEXIST instead of replacing, which makes "refuse if
 * it exists" atomic against a concurrent havenctl.  Files marked replace
 * are renamed last, once nothing can fail any more. */
static int out_publish(struct out_set *set, const char *dir)
{
	size_t i;
	int fd;

	for (i = 0; i < set->n; i++) {
		if (set->f[i].replace)
			continue;
		if (link(set->f[i].tmp, set->f[i].final))
			return -errno;
		set->f[i].published = true;
	}
	for (i = 0; i < set->n; i++) {
		if (!set->f[i].replace)
			continue;
		if (rename(set->f[i].tmp, set->f[i].final))
			return -errno;
		set->f[i].published = true;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* ---- certificates ---- */

static int random_serial(uint64_t *serial)
{
	uint8_t b[8];
	uint64_t v;
	size_t i;

	/* Positive and non-zero; 63 bits keep the DER integer at 8 bytes. */
	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return -EIO;
		for (v = 0, i = 0; i < sizeof(b); i++)
			v = (v << 8) | b[i];
		v &= INT64_MAX;
	} while (v == 0);
	*serial = v;
	return 0;
}

static int gen_key(EVP_PKEY **key)
{
	*key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return *key ? 0 : -EIO;
}

static int add_name(X509_NAME *n, const char *field, const char *value)
{
	if (!value || !value[0])
		return 0;
	return X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
					  (const unsigned char *)value, -1, -1,
					  0)
		       ? 0
		       : -EINVAL;
}

/* Creates an unsigned certificate for key: subject O=org, CN=cn, issued
 * by issuer (NULL: self-issued), valid for days from now. */
static int cert_new(EVP_PKEY *key, X509 *issuer, const char *org,
		    const char *cn, unsigned days, uint64_t *serial, X509 **out)
{
	X509 *x = X509_new();
	X509_NAME *subj;
	int rc = -ENOMEM;

	if (!x)
		goto out;
	rc = random_serial(serial);
	if (rc)
		goto out;
	rc = -EIO;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), *serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
	    !X509_set_pubkey(x, key))
		goto out;
	subj = X509_get_subject_name(x);
	rc = add_name(subj, "O", org);
	if (!rc)
		rc = add_name(subj, "CN", cn);
	if (rc)
		goto out;
	if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
					    : subj)) {
		rc = -EIO;
		goto out;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

/* Adds extensions given as NULL-terminated pairs of (nid, value) in the
 * openssl config syntax; all values here are constants of ours, never
 * user input (SANs are built as structures instead). */
static int add_exts(X509 *x, X509 *issuer, const int *nids,
		    const char *const *values)
{
	X509V3_CTX ctx;
	size_t i;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	for (i = 0; nids[i]; i++) {
		X509_EXTENSION *ext =
			X509V3_EXT_conf_nid(NULL, &ctx, nids[i], values[i]);
		int ok = ext && X509_add_ext(x, ext, -1);

		X509_EXTENSION_free(ext);
		if (!ok)
			return -EIO;
	}
	return 0;
}

static int sign(X509 *x, EVP_PKEY *key)
{
	return X509_sign(x, key, EVP_sha256()) > 0 ? 0 : -EIO;
}

int tenant_spki_pin(const void *x509, uint8_t pin[TENANT_PIN_LEN])
{
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int n, rc = 0;

	if (!x509 || !pin)
		return -EINVAL;
	/* The DER of the whole SubjectPublicKeyInfo (algorithm + key), as
	 * HPKP and `openssl pkey -pubin -outform der | sha256sum` define
	 * it; X509_pubkey_digest() would hash only the key bits. */
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &der);
	if (n <= 0)
		return -EINVAL;
	if (!EVP_Digest(der, (size_t)n, pin, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != TENANT_PIN_LEN)
		rc = -EIO;
	OPENSSL_free(der);
	return rc;
}

void tenant_pin_hex(const uint8_t pin[TENANT_PIN_LEN], char *buf)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < TENANT_PIN_LEN; i++) {
		buf[2 * i] = digits[pin[i] >> 4];
		buf[2 * i + 1] = digits[pin[i] & 0xf];
	}
	buf[2 * TENANT_PIN_LEN] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tenant_pin_parse(const char *hex, uint8_t pin[TENANT_PIN_LEN])
{
	uint8_t tmp[TENANT_PIN_LEN];
	size_t i;

	if (!hex || !pin || strlen(hex) != 2 * TENANT_PIN_LEN)
		return -EINVAL;
	for (i = 0; i < TENANT_PIN_LEN; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(pin, tmp, sizeof(tmp));
	return 0;
}

/* ---- subject alternative names ---- */

/* A host name as it may appear in a dNSName: LDH labels of 1..63
 * characters, 253 in all.  Anything else would be refused by clients or
 * silently never match. */
static bool dns_name_valid(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || (c == '-' && label > 0)))
			return false;
		label++;
	}
	return true;
}

static int parse_ip(const char *s, uint8_t addr[16], size_t *len)
{
	if (inet_pton(AF_INET, s, addr) == 1) {
		*len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*len = 16;
		return 0;
	}
	return -EINVAL;
}

static bool san_has(GENERAL_NAMES *g, int type, const void *data, size_t len)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(g); i++) {
		int t;
		const ASN1_STRING *s = GENERAL_NAME_get0_value(
			sk_GENERAL_NAME_value(g, i), &t);

		if (t == type && (size_t)ASN1_STRING_length(s) == len &&
		    !memcmp(ASN1_STRING_get0_data(s), data, len))
			return true;
	}
	return false;
}

/* Appends a dNSName or iPAddress, skipping duplicates (the host name may
 * well be given again with --hostname). */
static int san_add(GENERAL_NAMES *g, int type, const void *data, size_t len)
{
	GENERAL_NAME *gn = NULL;
	ASN1_STRING *s = NULL;

	if (san_has(g, type, data, len))
		return 0;
	gn = GENERAL_NAME_new();
	s = ASN1_STRING_type_new(type == GEN_DNS ? V_ASN1_IA5STRING
						 : V_ASN1_OCTET_STRING);
	if (!gn || !s || !ASN1_STRING_set(s, data, (int)len))
		goto fail;
	GENERAL_NAME_set0_value(gn, type, s);
	s = NULL;
	if (!sk_GENERAL_NAME_push(g, gn))
		goto fail;
	return 0;
fail:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(gn);
	return -ENOMEM;
}

static int san_build(const char *host, const char *const *names, size_t nnames,
		     const char *const *ips, size_t nips, GENERAL_NAMES **out)
{
	static const char *const default_ips[] = {"127.0.0.1", "::1"};
	GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
	uint8_t addr[16];
	size_t i, len;
	int rc;

	if (!g)
		return -ENOMEM;
	rc = san_add(g, GEN_DNS, "localhost", strlen("localhost"));
	/* A host name that is not a valid DNS name cannot be dialled by
	 * name anyway; it still names the certificates. */
	if (!rc && dns_name_valid(host))
		rc = san_add(g, GEN_DNS, host, strlen(host));
	for (i = 0; !rc && i < nnames; i++)
		rc = san_add(g, GEN_DNS, names[i], strlen(names[i]));
	for (i = 0; !rc && i < 2 + nips; i++) {
		rc = parse_ip(i < 2 ? default_ips[i] : ips[i - 2], addr, &len);
		if (!rc)
			rc = san_add(g, GEN_IPADD, addr, len);
	}
	if (rc)
		GENERAL_NAMES_free(g);
	else
		*out = g;
	return rc;
}

/* ---- the CA and the server certificate ---- */

static int make_ca(const char *host, EVP_PKEY **key, X509 **out)
{
	static const int nids[] = {NID_basic_constraints, NID_key_usage,
				   NID_subject_key_identifier, 0};
	static const char *const values[] = {
		"critical,CA:TRUE", "critical,keyCertSign,cRLSign", "hash"};
	char cn[CN_MAX + 1];
	uint64_t serial;
	int rc;

	snprintf(cn, sizeof(cn), "haven CA %s", host);
	rc = gen_key(key);
	if (!rc)
		rc = cert_new(*key, NULL, "haven", cn, CA_DAYS, &serial, out);
	if (!rc)
		rc = add_exts(*out, NULL, nids, values);
	if (!rc)
		rc = sign(*out, *key);
	return rc;
}

static int make_server(const char *host, GENERAL_NAMES *san, X509 *ca,
		       EVP_PKEY *ca_key, EVP_PKEY **key, X509 **out)
{
	static const int nids[] = {NID_basic_constraints,
				   NID_key_usage,
				   NID_ext_key_usage,
				   NID_subject_key_identifier,
				   NID_authority_key_identifier,
				   0};
	static const char *const values[] = {
		"critical,CA:FALSE", "critical,digitalSignature", "serverAuth",
		"hash", "keyid:always"};
	char cn[CN_MAX + 1];
	uint64_t serial;
	int rc;

	snprintf(cn, sizeof(cn), "%s", host);
	rc = gen_key(key);
	if (!rc)
		rc = cert_new(*key, ca, "haven", cn, SERVER_DAYS, &serial, out);
	if (!rc)
		rc = add_exts(*out, ca, nids, values);
	if (!rc && !X509_add1_ext_i2d(*out, NID_subject_alt_name, san, 0,
				      X509V3_ADD_DEFAULT))
		rc = -EIO;
	if (!rc)
		rc = sign(*out, ca_key);
	return rc;
}

static void local_hostname(char *buf, size_t size)
{
	if (gethostname(buf, size) || !buf[0])
		snprintf(buf, size, "localhost");
	buf[size - 1] = '\0';
}

static int check_init_args(const char *pki_dir, const char *const *names,
			   size_t nnames, const char *const *ips, size_t nips)
{
	uint8_t addr[16];
	size_t i, len;

	if (!pki_dir || (nnames && !names) || (nips && !ips))
		return -EINVAL;
	for (i = 0; i < nnames; i++)
		if (!names[i] || !dns_name_valid(names[i]))
			return -EINVAL;
	for (i = 0; i < nips; i++)
		if (!ips[i] || parse_ip(ips[i], addr, &len))
			return -EINVAL;
	return 0;
}

int tenant_pki_init(const char *pki_dir, const char *const *hostnames,
		    size_t nhostnames, const char *const *ips, size_t nips)
{
	static const char *const files[] = {
		TENANT_PKI_CA_CERT, TENANT_PKI_CA_KEY, TENANT_PKI_SERVER_CERT,
		TENANT_PKI_SERVER_KEY};
	EVP_PKEY *ca_key = NULL, *srv_key = NULL;
	X509 *ca = NULL, *srv = NULL;
	GENERAL_NAMES *san = NULL;
	struct out_set set = {0};
	char host[HOST_NAME_MAX + 1];
	size_t i;
	int rc;

	/* Every argument is checked before anything touches the disk. */
	rc = check_init_args(pki_dir, hostnames, nhostnames, ips, nips);
	if (rc)
		return rc;
	local_hostname(host, sizeof(host));
	rc = san_build(host, hostnames, nhostnames, ips, nips, &san);
	if (!rc)
		rc = make_dir(pki_dir);
	for (i = 0; !rc && i < sizeof(files) / sizeof(files[0]); i++)
		rc = must_not_exist(pki_dir, files[i]);
	if (!rc)
		rc = make_ca(host, &ca_key, &ca);
	if (!rc)
		rc = make_server(host, san, ca, ca_key, &srv_key, &srv);
	if (!rc)
		rc = write_pem(&set, pki_dir, TENANT_PKI_CA_KEY, NULL, ca_key,
			       false);
	if (!rc)
		rc = write_pem(&set, pki_dir, TENANT_PKI_SERVER_KEY, NULL,
			       srv_key, false);
	if (!rc)
		rc = write_pem(&set, pki_dir, TENANT_PKI_SERVER_CERT, srv, NULL,
			       false);
	if (!rc)
		rc = write_pem(&set, pki_dir, TENANT_PKI_CA_CERT, ca, NULL,
			       false);
	if (!rc)
		rc = out_publish(&set, pki_dir);
	out_cleanup(&set, rc != 0);
	if (rc)
		ERR_clear_error();
	GENERAL_NAMES_free(san);
	X509_free(srv);
	X509_free(ca);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(ca_key);
	return rc;
}

/* ---- site bundles ---- */

static int load_ca(const char *pki_dir, X509 **ca, EVP_PKEY **key)
{
	char path[PATH_MAX];
	FILE *f;
	int rc;

	rc = path_join(path, sizeof(path), pki_dir, TENANT_PKI_CA_CERT);
	if (rc)
		return rc;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!*ca)
		return -EIO;
	rc = path_join(path, sizeof(path), pki_dir, TENANT_PKI_CA_KEY);
	if (rc)
		return rc;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!*key || !X509_check_private_key(*ca, *key))
		return -EIO;
	return 0;
}

static int make_client(X509 *ca, EVP_PKEY *ca_key, const char *org,
		       const char *cn, unsigned days, EVP_PKEY **key,
		       X509 **out, uint64_t *serial)
{
	static const int nids[] = {NID_basic_constraints,
				   NID_key_usage,
				   NID_ext_key_usage,
				   NID_subject_key_identifier,
				   NID_authority_key_identifier,
				   0};
	static const char *const values[] = {
		"critical,CA:FALSE", "critical,digitalSignature", "clientAuth",
		"hash", "keyid:always"};
	int rc;

	rc = gen_key(key);
	if (!rc)
		rc = cert_new(*key, ca, org, cn, days, serial, out);
	if (!rc)
		rc = add_exts(*out, ca, nids, values);
	if (!rc)
		rc = sign(*out, ca_key);
	return rc;
}

/* Subject strings: present, short enough for X.520, and printable (they
 * end up in logs and in `openssl x509 -text`). */
static bool subject_ok(const char *s, bool required)
{
	size_t i;

	if (!s || !s[0])
		return !required;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return i <= CN_MAX;
}

static int cert_not_after(X509 *x, uint64_t *not_after)
{
	struct tm tm;
	time_t t;

	if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
		return -EIO;
	t = timegm(&tm);
	if (t < 0)
		return -EIO;
	*not_after = (uint64_t)t;
	return 0;
}

int tenant_pki_issue(const char *pki_dir, const char *cn, const char *org,
		     unsigned days, const char *out_dir,
		     uint8_t pin[TENANT_PIN_LEN], uint64_t *serial,
		     uint64_t *not_after)
{
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	struct out_set set = {0};
	uint8_t p[TENANT_PIN_LEN];
	uint64_t s = 0, na = 0;
	int rc;

	if (!pki_dir || !out_dir || !pin || !serial || !not_after ||
	    !subject_ok(cn, true) || !subject_ok(org, false) || days == 0 ||
	    days > MAX_DAYS)
		return -EINVAL;
	rc = load_ca(pki_dir, &ca, &ca_key);
	if (!rc)
		rc = make_dir(out_dir);
	if (!rc)
		rc = must_not_exist(out_dir, TENANT_BUNDLE_CERT);
	if (!rc)
		rc = must_not_exist(out_dir, TENANT_BUNDLE_KEY);
	if (!rc)
		rc = make_client(ca, ca_key, org, cn, days, &key, &x, &s);
	if (!rc)
		rc = tenant_spki_pin(x, p);
	if (!rc)
		rc = cert_not_after(x, &na);
	if (!rc)
		rc = write_pem(&set, out_dir, TENANT_BUNDLE_KEY, NULL, key,
			       false);
	if (!rc)
		rc = write_pem(&set, out_dir, TENANT_BUNDLE_CERT, x, NULL,
			       false);
	/* The CA certificate is public; an older copy is simply refreshed. */
	if (!rc)
		rc = write_pem(&set, out_dir, TENANT_BUNDLE_CA, ca, NULL, true);
	if (!rc)
		rc = out_publish(&set, out_dir);
	out_cleanup(&set, rc != 0);
	if (rc) {
		ERR_clear_error();
	} else {
		memcpy(pin, p, sizeof(p));
		*serial = s;
		*not_after = na;
	}
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}
