/* havenctl cert issue|list|revoke: site certificates.  A certificate
 * signed by the gateway's CA is only half of a credential: havend accepts
 * it only while its SPKI pin is in the catalog, so issuing records the pin
 * and revoking deletes it.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define CERT_DAYS 825
#define OPERATOR "operator"
/* X.509 upper bounds (RFC 5280 ub-common-name, ub-organization-name);
 * OpenSSL refuses longer subject fields. */
#define DN_FIELD_MAX 64
#define PIN_PREFIX_MIN 8

static const char cert_usage[] =
	"Usage: havenctl [-d DIR] cert COMMAND [ARGS]...\n"
	"Issue, list and revoke the client certificates of tenant sites and\n"
	"operators.  A certificate is accepted while its pin is in the "
	"catalog.\n";

static const char issue_usage[] =
	"Usage: havenctl [-d DIR] cert issue TENANT --site SITE --out "
	"BUNDLE_DIR\n"
	"       havenctl [-d DIR] cert issue --operator --site NAME --out "
	"BUNDLE_DIR\n"
	"Issue a client certificate (valid 825 days) for one site of a "
	"tenant,\n"
	"or for an operator, and record its pin.  BUNDLE_DIR receives\n"
	"ca-cert.pem, client-cert.pem and client-key.pem, the layout that\n"
	"libnbd (nbdcopy, nbdinfo) and qemu read.\n"
	"\n"
	"  --site SITE      the site (or operator) name\n"
	"  --out DIR        the bundle directory (created if missing)\n"
	"  --operator       an operator credential: may open any tenant's "
	"disks\n"
	"  -h, --help       show this help\n";

static const char list_usage[] =
	"Usage: havenctl [-d DIR] cert list [TENANT | --operator] [--json]\n"
	"List the live credentials, all or those of one tenant.\n"
	"\n"
	"  --operator  list operator credentials only\n"
	"  --json      print a JSON array\n"
	"  -h, --help  show this help\n";

static const char revoke_usage[] =
	"Usage: havenctl [-d DIR] cert revoke PIN\n"
	"       havenctl [-d DIR] cert revoke TENANT --site SITE\n"
	"       havenctl [-d DIR] cert revoke --operator --site NAME\n"
	"Revoke a credential: havend refuses it from the next handshake and\n"
	"closes its live sessions.  PIN is the full 64-digit hex pin or a\n"
	"unique prefix of at least 8 digits.\n"
	"\n"
	"  --site SITE  the site whose credential to revoke\n"
	"  --operator   an operator credential\n"
	"  -h, --help   show this help\n";

/* Options shared by the three commands. */
struct cert_args {
	const char *tenant; /* positional: TENANT or PIN */
	const char *site;
	const char *out;
	bool operator_role;
	bool json;
};

static int parse(struct gw_cli *cli, int argc, char **argv, const char *usage,
		 struct cert_args *a)
{
	static const struct option opts[] = {
		{"site", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},
		{"operator", no_argument, NULL, 'O'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 's':
			a->site = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'O':
			a->operator_role = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			gw_cli_help(usage);
			return GW_CLI_DONE;
		default:
			return GW_CLI_USAGE;
		}
	}
	if (gw_cli_nargs(cli, argc - optind, 0, 1, "") < 0)
		return GW_CLI_USAGE;
	a->tenant = optind < argc ? argv[optind] : NULL;
	if (a->tenant && a->operator_role)
		return gw_cli_usage_error(cli, "--operator takes no TENANT");
	return GW_CLI_OK;
}

/* Certificate serials the way 'openssl x509 -serial' prints them. */
static void fmt_serial(uint64_t serial, char *buf, size_t len)
{
	int digits = snprintf(NULL, 0, "%" PRIX64, serial);

	/* Whole bytes: an odd number of digits gets a leading zero. */
	if (digits % 2)
		snprintf(buf, len, "0%" PRIX64, serial);
	else
		snprintf(buf, len, "%" PRIX64, serial);
}

json_t *gw_cli_cred_json(const struct tenant_cred *c, const char *tenant)
{
	char pin[2 * TENANT_PIN_LEN + 1], serial[24];

	tenant_pin_hex(c->pin, pin);
	fmt_serial(c->serial, serial, sizeof(serial));
	return json_pack("{s:s, s:s?, s:b, s:s, s:s, s:o, s:o}", "pin", pin,
			 "tenant", c->operator_role ? NULL : tenant, "operator",
			 c->operator_role, "site", c->site, "serial", serial,
			 "issued", gw_cli_json_time(c->issued), "expires",
			 gw_cli_json_time(c->not_after));
}

static const char *cred_owner(const struct tenant_cred *c,
			      const struct gw_cli_vec *tenants)
{
	const char *name;

	if (c->operator_role)
		return OPERATOR;
	name = gw_cli_tenant_name(tenants, c->tenant_id);
	return name ? name : "?";
}

int gw_cli_print_creds(const struct gw_cli_vec *creds,
		       const struct gw_cli_vec *tenants)
{
	static const char *const cols[] = {"PIN",    "TENANT", "SITE",
					   "SERIAL", "ISSUED", "EXPIRES"};
	char pin[2 * TENANT_PIN_LEN + 1], serial[24], issued[32], expires[32];
	struct gw_cli_table *tab = NULL;
	size_t i;
	int err;

	err = gw_cli_table_new(cols, 6, &tab);
	for (i = 0; err == 0 && i < creds->n; i++) {
		const struct tenant_cred *c = gw_cli_vec_at(creds, i);
		const char *row[] = {pin,     cred_owner(c, tenants),
				     c->site, serial,
				     issued,  expires};

		tenant_pin_hex(c->pin, pin);
		fmt_serial(c->serial, serial, sizeof(serial));
		gw_cli_fmt_time(c->issued, issued, sizeof(issued));
		gw_cli_fmt_time(c->not_after, expires, sizeof(expires));
		err = gw_cli_table_add(tab, row);
	}
	if (err == 0)
		gw_cli_table_print(tab);
	else
		gw_cli_fail("cannot print credentials: %s", strerror(-err));
	gw_cli_table_free(tab);
	return err;
}

/* The live credential of (tenant, site), or NULL. */
static const struct tenant_cred *find_site(const struct gw_cli_vec *creds,
					   uint64_t tenant_id,
					   bool operator_role, const char *site)
{
	size_t i;

	for (i = 0; i < creds->n; i++) {
		const struct tenant_cred *c = gw_cli_vec_at(creds, i);

		if (c->operator_role == operator_role &&
		    (operator_role || c->tenant_id == tenant_id) &&
		    strcmp(c->site, site) == 0)
			return c;
	}
	return NULL;
}

/* Removes a bundle that tenant_pki_issue() just wrote. */
static void remove_bundle(const char *out, bool created)
{
	static const char *const files[] = {
		TENANT_BUNDLE_CA, TENANT_BUNDLE_CERT, TENANT_BUNDLE_KEY};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", out, files[i]);
		unlink(path);
	}
	if (created)
		rmdir(out);
}

/* True when 'out' holds any file of a bundle. */
static bool has_bundle(const char *out)
{
	static const char *const files[] = {
		TENANT_BUNDLE_CA, TENANT_BUNDLE_CERT, TENANT_BUNDLE_KEY};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", out, files[i]);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/* Checks names and what the certificate subject can hold; reports. */
static int check_issue(const struct gw_cli *cli, const struct cert_args *a,
		       char *cn, char *org)
{
	const char *owner = a->operator_role ? OPERATOR : a->tenant;

	if (!a->tenant && !a->operator_role)
		return gw_cli_usage_error(cli,
					  "missing TENANT (or --operator)");
	if (!a->site)
		return gw_cli_usage_error(cli, "missing --site SITE");
	if (!a->out || !*a->out)
		return gw_cli_usage_error(cli, "missing --out BUNDLE_DIR");
	if (a->json)
		return gw_cli_usage_error(cli, "unknown option '--json'");
	if ((a->tenant && gw_cli_check_name("tenant", a->tenant) < 0) ||
	    gw_cli_check_name("site", a->site) < 0)
		return GW_CLI_FAIL;
	snprintf(cn, DN_FIELD_MAX + 2, "%s.%s", a->site, owner);
	if (a->operator_role)
		snprintf(org, DN_FIELD_MAX + 2, "haven operator");
	else
		snprintf(org, DN_FIELD_MAX + 2, "haven tenant %s", a->tenant);
	if (strlen(a->site) + 1 + strlen(owner) > DN_FIELD_MAX)
		return gw_cli_fail("cannot issue a certificate for site '%s' "
				   "of '%s': the names are too long for a "
				   "certificate (%d characters together)",
				   a->site, owner, DN_FIELD_MAX - 1);
	if (strlen(org) > DN_FIELD_MAX)
		return gw_cli_fail(
			"cannot issue a certificate for tenant '%s': "
			"the name is too long for a certificate "
			"(%d characters at most)",
			a->tenant, DN_FIELD_MAX - 13);
	return GW_CLI_OK;
}

static void print_issued(const struct cert_args *a, const char *out,
			 const struct tenant_cred *c)
{
	char pin[2 * TENANT_PIN_LEN + 1], serial[24], expires[32];

	tenant_pin_hex(c->pin, pin);
	fmt_serial(c->serial, serial, sizeof(serial));
	gw_cli_fmt_time(c->not_after, expires, sizeof(expires));
	if (a->operator_role)
		printf("Issued operator certificate '%s'.\n", a->site);
	else
		printf("Issued certificate for site '%s' of tenant '%s'.\n",
		       a->site, a->tenant);
	printf("  bundle:   %s/\n"
	       "            %s  %s  %s (private key: keep it secret)\n"
	       "  pin:      %s\n"
	       "  serial:   %s\n"
	       "  expires:  %s\n",
	       out, TENANT_BUNDLE_CA, TENANT_BUNDLE_CERT, TENANT_BUNDLE_KEY,
	       pin, serial, expires);
	printf("\nCopy the bundle to the site; clients use it as is (HOST: a "
	       "name in the\nserver certificate; VM/DISK: a disk of the "
	       "tenant%s):\n",
	       a->operator_role ? ", as TENANT/VM/DISK" : "");
	printf("  nbdinfo 'nbds://HOST:%d/VM/DISK?tls-certificates=%s'\n"
	       "  nbdcopy disk.img "
	       "'nbds://HOST:%d/VM/DISK?tls-certificates=%s'\n"
	       "  qemu-img convert -n --object tls-creds-x509,id=tls0,"
	       "endpoint=client,dir=%s --target-image-opts disk.qcow2 "
	       "driver=nbd,server.type=inet,server.host=HOST,server.port=%d,"
	       "export=VM/DISK,tls-creds=tls0\n",
	       GW_CLI_PORT, out, GW_CLI_PORT, out, out, GW_CLI_PORT);
	printf("  qemu-img info --object "
	       "tls-creds-x509,id=tls0,endpoint=client,"
	       "dir=%s --image-opts driver=nbd,server.type=inet,"
	       "server.host=HOST,server.port=%d,export=VM/"
	       "DISK,tls-creds=tls0\n",
	       out, GW_CLI_PORT);
}

/* Writes the bundle and records its pin; takes the bundle back if the
 * catalog refuses the pin. */
static int issue(const struct gw_cli *cli, struct tenant_catalog *cat,
		 const struct cert_args *a, const char *cn, const char *org,
		 struct tenant_cred *c)
{
	char pki[PATH_MAX], out[PATH_MAX], pin[2 * TENANT_PIN_LEN + 1];
	struct stat st;
	bool created;
	int err;

	if (gw_cli_path(cli, GW_CLI_PKI, pki, sizeof(pki)) < 0)
		return gw_cli_fail("cannot issue: %s", strerror(ENAMETOOLONG));
	created = stat(a->out, &st) < 0;
	if (!created && has_bundle(a->out))
		return gw_cli_fail("cannot write bundle to %s: it already "
				   "holds a bundle",
				   a->out);
	err = tenant_pki_issue(pki, cn, org, CERT_DAYS, a->out, c->pin,
			       &c->serial, &c->not_after);
	if (err == -EEXIST)
		return gw_cli_fail("cannot write bundle to %s: it already "
				   "holds a bundle",
				   a->out);
	if (err < 0)
		return gw_cli_fail("cannot issue certificate '%s': %s", cn,
				   gw_cli_strerror(err));
	c->issued = (uint64_t)time(NULL);
	tenant_pin_hex(c->pin, pin);
	gw_cli_audit_note("pin=%s", pin);
	err = tenant_cred_add(cat, c);
	if (err < 0) {
		remove_bundle(a->out, created);
		if (err == -EEXIST)
			return gw_cli_fail("cannot record certificate '%s': "
					   "a credential for that site exists",
					   cn);
		return gw_cli_fail("cannot record certificate '%s': %s", cn,
				   gw_cli_strerror(err));
	}
	if (!realpath(a->out, out))
		snprintf(out, sizeof(out), "%s", a->out);
	print_issued(a, out, c);
	return GW_CLI_OK;
}

static int cert_issue_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct cert_args a = {0};
	struct tenant_cred c = {0};
	struct tenant_info t;
	struct gw_cli_vec creds = {0};
	char cn[DN_FIELD_MAX + 2], org[DN_FIELD_MAX + 2];
	int rc;

	rc = parse(cli, argc, argv, issue_usage, &a);
	if (rc == GW_CLI_OK)
		rc = check_issue(cli, &a, cn, org);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (a.tenant && gw_cli_tenant_get(cat, a.tenant, &t) < 0)
		goto out;
	c.tenant_id = a.tenant ? t.id : 0;
	c.operator_role = a.operator_role;
	snprintf(c.site, sizeof(c.site), "%s", a.site);
	/* The catalog refuses a second live credential for a site anyway;
	 * asking first avoids making a key pair only to throw it away. */
	if (gw_cli_load_creds(cat, &creds) < 0)
		goto out;
	if (find_site(&creds, c.tenant_id, c.operator_role, c.site)) {
		rc = gw_cli_fail("'%s' already has a certificate for site '%s' "
				 "(revoke it first)",
				 a.tenant ? a.tenant : OPERATOR, a.site);
		goto out;
	}
	rc = issue(cli, cat, &a, cn, org, &c);
out:
	gw_cli_vec_free(&creds);
	tenant_catalog_close(cat);
	return rc;
}

/* Keeps the credentials of one tenant, or the operators', in v. */
static void filter_creds(struct gw_cli_vec *v, uint64_t tenant_id,
			 bool operator_role)
{
	size_t i, n = 0;

	for (i = 0; i < v->n; i++) {
		const struct tenant_cred *c = gw_cli_vec_at(v, i);

		if (c->operator_role == operator_role &&
		    (operator_role || c->tenant_id == tenant_id))
			memmove(gw_cli_vec_at(v, n++), c, v->size);
	}
	v->n = n;
}

static int print_json(const struct gw_cli_vec *creds,
		      const struct gw_cli_vec *tenants)
{
	json_t *arr;
	size_t i;

	arr = json_array();
	for (i = 0; arr && i < creds->n; i++) {
		const struct tenant_cred *c = gw_cli_vec_at(creds, i);

		if (json_array_append_new(
			    arr, gw_cli_cred_json(c, cred_owner(c, tenants)))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return gw_cli_json_print(arr);
}

static int cert_list_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec creds = {0}, tenants = {0};
	struct cert_args a = {0};
	struct tenant_info t;
	int rc;

	rc = parse(cli, argc, argv, list_usage, &a);
	if (rc == GW_CLI_OK && (a.site || a.out))
		rc = gw_cli_usage_error(cli, "unexpected %s",
					a.site ? "--site" : "--out");
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if ((a.tenant && gw_cli_tenant_get(cat, a.tenant, &t) < 0) ||
	    gw_cli_load_tenants(cat, &tenants) < 0 ||
	    gw_cli_load_creds(cat, &creds) < 0)
		goto out;
	tenant_catalog_close(cat);
	cat = NULL;
	if (a.tenant || a.operator_role)
		filter_creds(&creds, a.tenant ? t.id : 0, a.operator_role);
	if (a.json)
		rc = print_json(&creds, &tenants) ? GW_CLI_FAIL : GW_CLI_OK;
	else
		rc = gw_cli_print_creds(&creds, &tenants) ? GW_CLI_FAIL
							  : GW_CLI_OK;
out:
	gw_cli_vec_free(&creds);
	gw_cli_vec_free(&tenants);
	tenant_catalog_close(cat);
	return rc;
}

/* Finds the one credential whose pin starts with a hex prefix; reports. */
static int find_pin(const struct gw_cli_vec *creds, const char *arg,
		    const struct tenant_cred **found)
{
	char hex[2 * TENANT_PIN_LEN + 1], want[2 * TENANT_PIN_LEN + 1];
	size_t i, n = strlen(arg), matches = 0;

	if (n < PIN_PREFIX_MIN || n > 2 * TENANT_PIN_LEN)
		goto invalid;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)arg[i]))
			goto invalid;
		want[i] = (char)tolower((unsigned char)arg[i]);
	}
	want[n] = '\0';
	for (i = 0; i < creds->n; i++) {
		const struct tenant_cred *c = gw_cli_vec_at(creds, i);

		tenant_pin_hex(c->pin, hex);
		if (strncmp(hex, want, n) == 0) {
			*found = c;
			matches++;
		}
	}
	if (matches == 1)
		return 0;
	if (matches == 0)
		gw_cli_fail("cannot revoke %s: no credential has that pin",
			    arg);
	else
		gw_cli_fail("cannot revoke %s: pin prefix is ambiguous (%zu "
			    "credentials match)",
			    arg, matches);
	return matches ? -EINVAL : -ENOENT;
invalid:
	gw_cli_fail("invalid pin '%s': use the 64 hex digits of a pin or a "
		    "unique prefix of at least %d",
		    arg, PIN_PREFIX_MIN);
	return -EINVAL;
}

/* Picks the credential that the revoke command line names; reports. */
static int pick_revoke(struct tenant_catalog *cat, const struct cert_args *a,
		       const struct gw_cli_vec *creds, struct tenant_cred *out)
{
	const struct tenant_cred *c = NULL;
	struct tenant_info t;
	int err;

	if (!a->site) {
		err = find_pin(creds, a->tenant, &c);
		if (err < 0)
			return err;
		*out = *c;
		return 0;
	}
	if (a->tenant) {
		err = gw_cli_tenant_get(cat, a->tenant, &t);
		if (err < 0)
			return err;
	}
	c = find_site(creds, a->tenant ? t.id : 0, a->operator_role, a->site);
	if (!c) {
		gw_cli_fail(
			"cannot revoke: '%s' has no credential for site '%s'",
			a->tenant ? a->tenant : OPERATOR, a->site);
		return -ENOENT;
	}
	*out = *c;
	return 0;
}

static int cert_revoke_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec creds = {0}, tenants = {0};
	struct cert_args a = {0};
	struct tenant_cred c;
	char pin[2 * TENANT_PIN_LEN + 1];
	int rc, err;

	rc = parse(cli, argc, argv, revoke_usage, &a);
	if (rc == GW_CLI_OK && (a.json || a.out))
		rc = gw_cli_usage_error(cli, "unexpected %s",
					a.json ? "--json" : "--out");
	else if (rc == GW_CLI_OK && !a.tenant && !a.operator_role)
		rc = gw_cli_usage_error(cli,
					"missing PIN or TENANT --site SITE");
	else if (rc == GW_CLI_OK && a.operator_role && !a.site)
		rc = gw_cli_usage_error(cli, "--operator needs --site NAME");
	if (rc)
		return gw_cli_exit(rc);
	if (a.site && gw_cli_check_name("site", a.site) < 0)
		return GW_CLI_FAIL;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_load_tenants(cat, &tenants) < 0 ||
	    gw_cli_load_creds(cat, &creds) < 0 ||
	    pick_revoke(cat, &a, &creds, &c) < 0)
		goto out;
	tenant_pin_hex(c.pin, pin);
	if (!c.operator_role)
		gw_cli_audit_tenant(cred_owner(&c, &tenants));
	gw_cli_audit_note("pin=%s", pin);
	err = tenant_cred_revoke(cat, c.pin);
	if (err < 0) {
		gw_cli_fail("cannot revoke %s: %s", pin,
			    err == -ENOENT ? "no credential has that pin"
					   : gw_cli_strerror(err));
		goto out;
	}
	if (c.operator_role)
		printf("Revoked credential %s (operator '%s').\n", pin, c.site);
	else
		printf("Revoked credential %s (site '%s' of tenant '%s').\n",
		       pin, c.site, cred_owner(&c, &tenants));
	printf("havend refuses it from the next handshake and closes its live "
	       "sessions.\n");
	rc = GW_CLI_OK;
out:
	gw_cli_vec_free(&creds);
	gw_cli_vec_free(&tenants);
	tenant_catalog_close(cat);
	return rc;
}

static const struct gw_cli_cmd cert_cmds[] = {
	{"issue", cert_issue_cmd, "issue a site or operator certificate"},
	{"list", cert_list_cmd, "list the live credentials"},
	{"revoke", cert_revoke_cmd, "revoke a credential"},
};

int gw_cli_cmd_cert(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, cert_usage, cert_cmds,
			       sizeof(cert_cmds) / sizeof(cert_cmds[0]), argc,
			       argv);
}
