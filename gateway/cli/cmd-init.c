/* havenctl init: creates a data directory from nothing: the gateway's CA
 * and server certificate, the catalog with the default route "local",
 * the local object store and haven.conf.  Either all of it exists
 * afterwards or none of it does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli.h"

static const char init_usage[] =
	"Usage: havenctl [-d DIR] init [--hostname NAME]... [--ip ADDR]...\n"
	"Create a haven data directory: the CA and server certificate (pki/),\n"
	"the catalog (catalog/), the local object store (store/) with its\n"
	"route 'local', and haven.conf.  DIR must not exist or be empty.\n"
	"\n"
	"The server certificate is valid for localhost, 127.0.0.1, ::1, this\n"
	"machine's host name and every name and address given:\n"
	"  --hostname NAME   a DNS name clients use to reach the gateway\n"
	"  --ip ADDR         an IPv4 or IPv6 address clients connect to\n"
	"  -h, --help        show this help\n";

static const char conf_text[] =
	"# haven gateway configuration (INI).  See havend(8) for every key;\n"
	"# 'havend --check-config' prints the effective configuration.\n"
	"[gateway]\n"
	"# several addresses: listen = 127.0.0.1:10809, [::1]:10809\n"
	"listen = 0.0.0.0:10809\n"
	"\n"
	"[tls]\n"
	"min_protocol = TLSv1.2\n"
	"handshake_timeout = 10\n"
	"\n"
	"[log]\n"
	"level = info\n";

/* What this run created, so that a failure can take it back. */
struct init_state {
	char dir[PATH_MAX]; /* absolute once created */
	bool created_dir;
	mode_t old_mode; /* of a directory that existed (empty) */
};

static bool hostname_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool ip_ok(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

static int join(char *buf, size_t len, const char *dir, const char *rel)
{
	int n = snprintf(buf, len, "%s/%s", dir, rel);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	/* Best effort: the rollback removes what it can and carries on. */
	remove(path);
	return 0;
}

static void remove_tree(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	if (join(path, sizeof(path), dir, rel) < 0)
		return;
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void rollback(const struct init_state *s)
{
	if (!s->dir[0])
		return;
	/* The directory was empty or absent before, so everything in it
	 * is ours. */
	remove_tree(s->dir, GW_CLI_CONF);
	remove_tree(s->dir, GW_CLI_CATALOG);
	remove_tree(s->dir, GW_CLI_STORE);
	remove_tree(s->dir, GW_CLI_PKI);
	if (s->created_dir)
		rmdir(s->dir);
	else
		chmod(s->dir, s->old_mode);
}

/* 0 if dir is empty, -ENOTEMPTY if not, or another -errno. */
static int dir_empty(const char *dir)
{
	struct dirent *e;
	int err = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			err = -ENOTEMPTY;
			break;
		}
	}
	closedir(d);
	return err;
}

/* Creates the data directory, or takes over an empty one. */
static int make_dir(const struct gw_cli *cli, struct init_state *s)
{
	struct stat st;
	int err;

	if (stat(cli->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return gw_cli_fail("cannot initialise %s: %s", cli->dir,
					   strerror(ENOTDIR));
		err = dir_empty(cli->dir);
		if (err == -ENOTEMPTY)
			return gw_cli_fail("cannot initialise %s: already "
					   "initialised (directory not empty)",
					   cli->dir);
		if (err < 0 || chmod(cli->dir, 0700) < 0)
			return gw_cli_fail("cannot initialise %s: %s", cli->dir,
					   strerror(err < 0 ? -err : errno));
		s->old_mode = st.st_mode & 07777;
	} else {
		if (errno != ENOENT || mkdir(cli->dir, 0700) < 0)
			return gw_cli_fail("cannot create %s: %s", cli->dir,
					   strerror(errno));
		s->created_dir = true;
	}
	/* Routes store absolute paths: havend may run from anywhere. */
	if (!realpath(cli->dir, s->dir)) {
		err = errno;
		if (s->created_dir)
			rmdir(cli->dir);
		else
			chmod(cli->dir, s->old_mode);
		return gw_cli_fail("cannot resolve %s: %s", cli->dir,
				   strerror(err));
	}
	return GW_CLI_OK;
}

static int make_subdir(const struct init_state *s, const char *rel, char *path,
		       size_t len)
{
	if (join(path, len, s->dir, rel) < 0)
		return gw_cli_fail("cannot create %s/%s: %s", s->dir, rel,
				   strerror(ENAMETOOLONG));
	if (mkdir(path, 0700) < 0)
		return gw_cli_fail("cannot create %s: %s", path,
				   strerror(errno));
	return GW_CLI_OK;
}

static int make_catalog(const struct init_state *s)
{
	struct tenant_catalog *cat = NULL;
	struct tenant_route r = {0};
	char path[PATH_MAX];
	int rc, err;

	rc = make_subdir(s, GW_CLI_STORE, r.path, sizeof(r.path));
	if (rc)
		return rc;
	rc = make_subdir(s, GW_CLI_CATALOG, path, sizeof(path));
	if (rc)
		return rc;
	err = tenant_catalog_open(path, TENANT_CATALOG_CREATE, &cat);
	if (err < 0)
		return gw_cli_fail("cannot create catalog %s: %s", path,
				   gw_cli_strerror(err));
	gw_cli_audit_attach(cat);
	snprintf(r.name, sizeof(r.name), "%s", GW_CLI_DEFAULT_ROUTE);
	snprintf(r.type, sizeof(r.type), "local");
	err = tenant_route_add(cat, &r);
	tenant_catalog_close(cat);
	if (err < 0)
		return gw_cli_fail("cannot add route '%s': %s", r.name,
				   gw_cli_strerror(err));
	return GW_CLI_OK;
}

static int write_conf(const struct init_state *s)
{
	char path[PATH_MAX];
	size_t len = sizeof(conf_text) - 1;
	int fd, err = 0;

	if (join(path, sizeof(path), s->dir, GW_CLI_CONF) < 0)
		return gw_cli_fail("cannot create %s/%s: %s", s->dir,
				   GW_CLI_CONF, strerror(ENAMETOOLONG));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return gw_cli_fail("cannot create %s: %s", path,
				   strerror(errno));
	if (write(fd, conf_text, len) != (ssize_t)len)
		err = errno ? errno : EIO;
	if (fsync(fd) < 0 && !err)
		err = errno;
	if (close(fd) < 0 && !err)
		err = errno;
	if (err)
		return gw_cli_fail("cannot write %s: %s", path, strerror(err));
	return GW_CLI_OK;
}

/* Prints the names in the server certificate, read back from the file so
 * that the operator sees exactly what clients may dial. */
static void print_sans(const struct init_state *s)
{
	GENERAL_NAMES *names = NULL;
	char path[PATH_MAX], ip[INET6_ADDRSTRLEN];
	X509 *x = NULL;
	FILE *f;
	int i;

	if (join(path, sizeof(path), s->dir,
		 GW_CLI_PKI "/" TENANT_PKI_SERVER_CERT) < 0)
		return;
	f = fopen(path, "r");
	if (!f)
		return;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x)
		names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		const unsigned char *d;
		int len;

		if (n->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(n->d.dNSName);
			len = ASN1_STRING_length(n->d.dNSName);
			printf("%s%.*s", i ? ", " : "", len, (const char *)d);
		} else if (n->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(n->d.iPAddress);
			len = ASN1_STRING_length(n->d.iPAddress);
			if (!inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip,
				       sizeof(ip)))
				snprintf(ip, sizeof(ip), "?");
			printf("%s%s", i ? ", " : "", ip);
		}
	}
	GENERAL_NAMES_free(names);
	X509_free(x);
}

static void print_done(const struct init_state *s)
{
	printf("Initialised haven data directory %s\n", s->dir);
	printf("  %-12s gateway configuration\n", GW_CLI_CONF);
	printf("  %-12s CA (%s) and server certificate (%s)\n", GW_CLI_PKI "/",
	       TENANT_PKI_CA_CERT, TENANT_PKI_SERVER_CERT);
	printf("  %-12s server certificate names: ", "");
	print_sans(s);
	printf("\n  %-12s catalog of tenants, certificates and disks\n",
	       GW_CLI_CATALOG "/");
	printf("  %-12s local object store (route '%s')\n", GW_CLI_STORE "/",
	       GW_CLI_DEFAULT_ROUTE);
	printf("\nNext steps:\n"
	       "  havenctl -d %s tenant add TENANT\n"
	       "  havenctl -d %s cert issue TENANT --site SITE --out "
	       "BUNDLE_DIR\n"
	       "  havenctl -d %s disk create TENANT/VM/DISK --size SIZE\n",
	       s->dir, s->dir, s->dir);
}

static int parse(struct gw_cli *cli, int argc, char **argv, const char **hosts,
		 size_t *nhosts, const char **ips, size_t *nips)
{
	static const struct option opts[] = {
		{"hostname", required_argument, NULL, 'n'},
		{"ip", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 'n':
			if (!hostname_ok(optarg))
				return gw_cli_fail("invalid host name '%s'",
						   optarg);
			hosts[(*nhosts)++] = optarg;
			break;
		case 'i':
			if (!ip_ok(optarg))
				return gw_cli_fail("invalid IP address '%s'",
						   optarg);
			ips[(*nips)++] = optarg;
			break;
		case 'h':
			gw_cli_help(init_usage);
			return GW_CLI_DONE;
		default:
			return GW_CLI_USAGE;
		}
	}
	if (gw_cli_nargs(cli, argc - optind, 0, 0, "") < 0)
		return GW_CLI_USAGE;
	return GW_CLI_OK;
}

int gw_cli_cmd_init(struct gw_cli *cli, int argc, char **argv)
{
	struct init_state s = {0};
	const char **hosts = NULL, **ips = NULL;
	size_t nhosts = 0, nips = 0;
	char pki[PATH_MAX];
	int rc, err;

	/* Every option takes one argv slot at least: argc bounds them. */
	hosts = calloc((size_t)argc, sizeof(*hosts));
	ips = calloc((size_t)argc, sizeof(*ips));
	if (!hosts || !ips) {
		rc = gw_cli_fail("init: %s", strerror(ENOMEM));
		goto out;
	}
	rc = parse(cli, argc, argv, hosts, &nhosts, ips, &nips);
	if (rc) {
		rc = gw_cli_exit(rc);
		goto out;
	}
	rc = make_dir(cli, &s);
	if (rc)
		goto out;
	rc = make_subdir(&s, GW_CLI_PKI, pki, sizeof(pki));
	if (rc)
		goto out;
	err = tenant_pki_init(pki, hosts, nhosts, ips, nips);
	if (err < 0) {
		rc = gw_cli_fail("cannot create the CA in %s: %s", pki,
				 gw_cli_strerror(err));
		goto out;
	}
	rc = make_catalog(&s);
	if (rc)
		goto out;
	rc = write_conf(&s);
	if (rc)
		goto out;
	print_done(&s);
out:
	if (rc != GW_CLI_OK)
		rollback(&s);
	free(hosts);
	free(ips);
	return rc;
}
