/* What every havenctl command shares: dispatch through a subcommand
 * table, option parsing, the one-line error convention, the data
 * directory and copying catalog listings out.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "storage.h"

void gw_cli_print_cmds(const struct gw_cli_cmd *cmds, size_t ncmds)
{
	size_t i;

	for (i = 0; i < ncmds; i++)
		printf("  %-8s %s\n", cmds[i].name, cmds[i].summary);
}

int gw_cli_dispatch(struct gw_cli *cli, const char *usage,
		    const struct gw_cli_cmd *cmds, size_t ncmds, int argc,
		    char **argv)
{
	const char *name;
	size_t i;

	if (argc < 2)
		return gw_cli_usage_error(cli, "missing command");
	name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
	    strcmp(name, "help") == 0) {
		printf("%s\nCommands:\n", usage);
		gw_cli_print_cmds(cmds, ncmds);
		return GW_CLI_OK;
	}
	for (i = 0; i < ncmds; i++)
		if (strcmp(name, cmds[i].name) == 0)
			break;
	if (i == ncmds)
		return gw_cli_usage_error(cli, "unknown command '%s'", name);
	snprintf(cli->cmd, sizeof(cli->cmd), "%s %s", argv[0], name);
	/* Each command parses its own argv, so getopt's hidden state must
	 * start afresh: optind = 0 makes glibc reinitialise completely. */
	optind = 0;
	return cmds[i].fn(cli, argc - 1, argv + 1);
}

int gw_cli_getopt(struct gw_cli *cli, int argc, char **argv,
		  const char *shortopts, const struct option *longopts)
{
	char spec[32];
	int c;

	/* Our own messages replace getopt's; see gw_cli_usage_error(). */
	opterr = 0;
	/* A leading ':' makes a missing argument come back as ':'. */
	if (shortopts[0] == '+')
		snprintf(spec, sizeof(spec), "+:%s", shortopts + 1);
	else
		snprintf(spec, sizeof(spec), ":%s", shortopts);
	c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == ':') {
		gw_cli_usage_error(cli, "option '%s' needs an argument",
				   argv[optind - 1]);
		return '?';
	}
	if (c == '?') {
		if (optopt)
			gw_cli_usage_error(cli, "unknown option '-%c'", optopt);
		else
			gw_cli_usage_error(cli, "unknown option '%s'",
					   argv[optind - 1]);
		return '?';
	}
	return c;
}

int gw_cli_opts_json(struct gw_cli *cli, int argc, char **argv,
		     const char *usage, bool *json)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 'j':
			if (!json)
				return gw_cli_usage_error(
					cli, "unknown option '--json'");
			*json = true;
			break;
		case 'h':
			gw_cli_help(usage);
			return GW_CLI_DONE;
		default:
			return GW_CLI_USAGE;
		}
	}
	return GW_CLI_OK;
}

int gw_cli_help(const char *usage)
{
	fputs(usage, stdout);
	return GW_CLI_OK;
}

int gw_cli_usage_error(const struct gw_cli *cli, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_cli_audit_error(msg, len > 0 ? (size_t)len : 0);
	fputs("havenctl: ", stderr);
	if (cli->cmd[0])
		fprintf(stderr, "%s: ", cli->cmd);
	fprintf(stderr, "%s\nTry 'havenctl %s%s--help'.\n", msg, cli->cmd,
		cli->cmd[0] ? " " : "");
	return GW_CLI_USAGE;
}

int gw_cli_nargs(const struct gw_cli *cli, int argc, int min, int max,
		 const char *what)
{
	if (argc < min) {
		gw_cli_usage_error(cli, "missing %s", what);
		return -EINVAL;
	}
	if (argc > max) {
		gw_cli_usage_error(cli, "unexpected argument");
		return -EINVAL;
	}
	return 0;
}

int gw_cli_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_cli_audit_error(msg, len > 0 ? (size_t)len : 0);
	fprintf(stderr, "havenctl: %s\n", msg);
	return GW_CLI_FAIL;
}

const char *gw_cli_strerror(int err)
{
	switch (-err) {
	case EIO:
		return "catalog or store I/O error (corrupt?)";
	case ENOSPC:
		return "no space left (catalog map or file system full)";
	case EBUSY:
		return "still in use";
	case EAGAIN:
		return "temporarily unavailable, try again";
	default:
		return strerror(-err);
	}
}

int gw_cli_check_name(const char *kind, const char *s)
{
	if (tenant_name_valid(s))
		return 0;
	gw_cli_fail("invalid %s name '%s': use [a-z0-9][a-z0-9._-]{0,62}, "
		    "lower case, no '..'",
		    kind, s);
	return -EINVAL;
}

int gw_cli_path(const struct gw_cli *cli, const char *rel, char *buf,
		size_t len)
{
	int n;

	n = snprintf(buf, len, "%s/%s", cli->dir, rel);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int gw_cli_catalog_open(const struct gw_cli *cli, struct tenant_catalog **out)
{
	char path[TENANT_PATH_MAX];
	struct stat st;
	int err;

	err = gw_cli_path(cli, GW_CLI_CATALOG, path, sizeof(path));
	if (err < 0)
		goto fail;
	/* Without this check LMDB would report a bare ENOENT, which does
	 * not tell the operator what to do. */
	if (stat(path, &st) < 0 && errno == ENOENT) {
		gw_cli_fail("%s: not a haven data directory "
			    "(run 'havenctl -d %s init' first)",
			    cli->dir, cli->dir);
		return -ENOENT;
	}
	err = tenant_catalog_open(path, 0, out);
	if (err == 0) {
		gw_cli_audit_attach(*out);
		gw_cli_bell_attach(cli, *out);
		return 0;
	}
fail:
	gw_cli_fail("cannot open catalog %s/%s: %s", cli->dir, GW_CLI_CATALOG,
		    gw_cli_strerror(err));
	return err;
}

int gw_cli_tenant_get(struct tenant_catalog *cat, const char *name,
		      struct tenant_info *out)
{
	int err;

	gw_cli_audit_tenant(name);
	err = gw_cli_check_name("tenant", name);
	if (err < 0)
		return err;
	err = tenant_get_by_name(cat, name, out);
	if (err == -ENOENT)
		gw_cli_fail("tenant '%s' does not exist", name);
	else if (err < 0)
		gw_cli_fail("cannot read tenant '%s': %s", name,
			    gw_cli_strerror(err));
	return err;
}

void gw_cli_vec_init(struct gw_cli_vec *v, size_t size)
{
	v->items = NULL;
	v->n = 0;
	v->cap = 0;
	v->size = size;
}

void gw_cli_vec_free(struct gw_cli_vec *v)
{
	if (!v)
		return;
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
}

int gw_cli_vec_push(struct gw_cli_vec *v, const void *item)
{
	void *p;
	size_t cap;

	if (v->n == v->cap) {
		cap = v->cap ? v->cap * 2 : 16;
		p = realloc(v->items, cap * v->size);
		if (!p)
			return -ENOMEM;
		v->items = p;
		v->cap = cap;
	}
	memcpy((char *)v->items + v->n * v->size, item, v->size);
	v->n++;
	return 0;
}

void *gw_cli_vec_at(const struct gw_cli_vec *v, size_t i)
{
	return (char *)v->items + i * v->size;
}

static int push_tenant(const struct tenant_info *t, void *arg)
{
	return gw_cli_vec_push(arg, t);
}

static int push_cred(const struct tenant_cred *c, void *arg)
{
	return gw_cli_vec_push(arg, c);
}

static int push_disk(const struct tenant_disk *d, void *arg)
{
	return gw_cli_vec_push(arg, d);
}

static int push_route(const struct tenant_route *r, void *arg)
{
	return gw_cli_vec_push(arg, r);
}

/* A failed listing leaves nothing half-filled behind. */
static int loaded(struct gw_cli_vec *v, int err, const char *what)
{
	if (err == 0)
		return 0;
	gw_cli_vec_free(v);
	gw_cli_fail("cannot list %s: %s", what, gw_cli_strerror(err));
	return err;
}

int gw_cli_load_tenants(struct tenant_catalog *cat, struct gw_cli_vec *v)
{
	gw_cli_vec_init(v, sizeof(struct tenant_info));
	return loaded(v, tenant_list(cat, push_tenant, v), "tenants");
}

int gw_cli_load_creds(struct tenant_catalog *cat, struct gw_cli_vec *v)
{
	gw_cli_vec_init(v, sizeof(struct tenant_cred));
	return loaded(v, tenant_cred_list(cat, push_cred, v), "credentials");
}

int gw_cli_load_disks(struct tenant_catalog *cat, uint64_t tenant_id,
		      struct gw_cli_vec *v)
{
	gw_cli_vec_init(v, sizeof(struct tenant_disk));
	return loaded(v, tenant_disk_list(cat, tenant_id, push_disk, v),
		      "disks");
}

static int push_rp(const struct tenant_rp *rp, void *arg)
{
	return gw_cli_vec_push(arg, rp);
}

int gw_cli_load_rps(struct tenant_catalog *cat, uint64_t disk_id,
		    struct gw_cli_vec *v)
{
	gw_cli_vec_init(v, sizeof(struct tenant_rp));
	return loaded(v, tenant_rp_list(cat, disk_id, push_rp, v),
		      "restore points");
}

int gw_cli_load_routes(struct tenant_catalog *cat, struct gw_cli_vec *v)
{
	gw_cli_vec_init(v, sizeof(struct tenant_route));
	return loaded(v, tenant_route_list(cat, push_route, v), "routes");
}

const char *gw_cli_tenant_name(const struct gw_cli_vec *tenants, uint64_t id)
{
	const struct tenant_info *t;
	size_t i;

	for (i = 0; i < tenants->n; i++) {
		t = gw_cli_vec_at(tenants, i);
		if (t->id == id)
			return t->name;
	}
	return NULL;
}

/* Splits "A/B" (nparts 2) or "A/B/C" (3): -EINVAL for another shape,
 * -ENAMETOOLONG after reporting an invalid name. */
static int split_path(const char *arg, int nparts, struct gw_cli_path *p)
{
	static const char *const kinds[] = {"tenant", "VM", "disk"};
	char *dst[] = {p->tenant, p->vm, p->disk};
	char seg[TENANT_PATH_MAX];
	const char *s = arg, *end;
	size_t len;
	int i;

	memset(p, 0, sizeof(*p));
	if (strlen(arg) >= sizeof(seg))
		return -EINVAL;
	for (i = 0; i < nparts; i++) {
		end = strchr(s, '/');
		if ((i < nparts - 1) != (end != NULL))
			return -EINVAL;
		len = end ? (size_t)(end - s) : strlen(s);
		if (len == 0)
			return -EINVAL;
		memcpy(seg, s, len);
		seg[len] = '\0';
		s = end ? end + 1 : s + len;
		if (!tenant_name_valid(seg))
			continue; /* reported below, once the shape is right */
		memcpy(dst[i], seg, len + 1);
	}
	/* The shape is right: now name what is wrong in it. */
	for (i = 0, s = arg; i < nparts; i++) {
		end = strchr(s, '/');
		len = end ? (size_t)(end - s) : strlen(s);
		memcpy(seg, s, len);
		seg[len] = '\0';
		if (gw_cli_check_name(kinds[i], seg) < 0)
			return -ENAMETOOLONG;
		s = end ? end + 1 : s + len;
	}
	return 0;
}

int gw_cli_parse_path(const char *arg, bool vm_only_ok, struct gw_cli_path *p)
{
	int err;

	err = split_path(arg, 3, p);
	if (err == -EINVAL && vm_only_ok)
		err = split_path(arg, 2, p);
	if (err == -EINVAL)
		gw_cli_fail("invalid %s '%s': use TENANT/VM/DISK%s",
			    vm_only_ok ? "path" : "disk", arg,
			    vm_only_ok ? " or TENANT/VM" : "");
	/* -ENAMETOOLONG: an invalid name, reported already. */
	return err < 0 ? -EINVAL : 0;
}

int gw_cli_disk_lookup(struct tenant_catalog *cat, const char *arg,
		       struct tenant_info *t, struct tenant_disk *d)
{
	struct gw_cli_path p;
	int err;

	err = gw_cli_parse_path(arg, false, &p);
	if (err == 0)
		err = gw_cli_tenant_get(cat, p.tenant, t);
	if (err < 0)
		return err;
	err = tenant_disk_get(cat, t->id, p.vm, p.disk, d);
	if (err == -ENOENT)
		gw_cli_fail("disk '%s' does not exist", arg);
	else if (err < 0)
		gw_cli_fail("cannot read disk '%s': %s", arg,
			    gw_cli_strerror(err));
	return err;
}

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

void gw_cli_storage_route(const struct tenant_route *r,
			  struct storage_route *out)
{
	memset(out, 0, sizeof(*out));
	out->type = r->type;
	out->path = or_null(r->path);
	out->ceph_conf = or_null(r->ceph_conf);
	out->pool = or_null(r->pool);
	out->client_id = or_null(r->client_id);
	out->keyring = or_null(r->keyring);
}

int gw_cli_store_open_route(const struct tenant_route *r,
			    struct gw_cli_store *s)
{
	struct storage_route sr;
	int err;

	s->st = NULL;
	gw_cli_storage_route(r, &sr);
	err = storage_sync_new(&s->sync);
	if (err < 0)
		return err;
	err = storage_store_open(&sr, storage_sync_env(s->sync), &s->st);
	if (err < 0)
		gw_cli_store_close(s);
	return err;
}

int gw_cli_store_open(struct tenant_catalog *cat, const struct tenant_info *t,
		      struct gw_cli_store *s)
{
	struct tenant_route r;
	int err;

	s->st = NULL;
	s->sync = NULL;
	err = tenant_route_get(cat, t->route, &r);
	if (err < 0)
		return err;
	return gw_cli_store_open_route(&r, s);
}

void gw_cli_store_close(struct gw_cli_store *s)
{
	storage_store_close(s->st);
	storage_sync_free(s->sync);
	s->st = NULL;
	s->sync = NULL;
}

static int desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

int gw_cli_open_live(struct tenant_catalog *cat, struct gw_cli_store *s,
		     const struct tenant_info *t, const struct tenant_disk *d,
		     struct storage_disk **out)
{
	struct storage_disk_params p = {
		.ns = t->ns,
		.id = d->id,
		.size = d->size,
		.extent_size = d->extent_size,
		.snap = STORAGE_SNAP_HEAD,
		.snap_seq = d->snap_seq,
	};
	struct gw_cli_vec rps = {0};
	uint64_t *snaps = NULL;
	size_t i;
	int err;

	gw_cli_vec_init(&rps, sizeof(struct tenant_rp));
	err = tenant_rp_list(cat, d->id, push_rp, &rps);
	if (err == 0 && rps.n) {
		snaps = calloc(rps.n, sizeof(*snaps));
		err = snaps ? 0 : -ENOMEM;
	}
	for (i = 0; err == 0 && i < rps.n; i++)
		snaps[i] =
			((struct tenant_rp *)gw_cli_vec_at(&rps, i))->snap_id;
	if (err == 0 && rps.n) {
		/* RADOS wants the context newest first. */
		qsort(snaps, rps.n, sizeof(*snaps), desc);
		if (snaps[0] > p.snap_seq)
			p.snap_seq = snaps[0];
		p.snaps = snaps;
		p.nsnaps = (unsigned)rps.n;
	}
	if (err == 0)
		err = storage_disk_open(s->st, &p, out);
	free(snaps);
	gw_cli_vec_free(&rps);
	return err;
}

/* ---- havend's lock and requests ---- */

int gw_cli_lock_take(const struct gw_cli *cli, struct gw_cli_lock *lk)
{
	char path[TENANT_PATH_MAX];
	int err;

	lk->fd = -1;
	lk->held = false;
	err = gw_cli_path(cli, GW_CLI_LOCK, path, sizeof(path));
	if (err == 0) {
		lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		err = lk->fd < 0 ? -errno : 0;
	}
	if (err < 0) {
		gw_cli_fail("cannot open %s/%s: %s", cli->dir, GW_CLI_LOCK,
			    strerror(-err));
		return err;
	}
	if (flock(lk->fd, LOCK_EX | LOCK_NB) == 0) {
		lk->held = true;
		return 0;
	}
	if (errno == EWOULDBLOCK)
		return 0; /* havend runs */
	err = -errno;
	gw_cli_fail("cannot lock %s/%s: %s", cli->dir, GW_CLI_LOCK,
		    strerror(-err));
	gw_cli_lock_release(lk);
	return err;
}

void gw_cli_lock_release(struct gw_cli_lock *lk)
{
	if (lk->fd >= 0)
		close(lk->fd); /* drops the flock */
	lk->fd = -1;
	lk->held = false;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t gw_cli_now_ms(void)
{
	return now_ms();
}

/* Waits for havend to answer request 'id'.  0 with *out filled when it
 * did, 1 when havend stopped first (the lock is ours now and the request
 * withdrawn), -ETIMEDOUT, or another -errno. */
static int wait_answer(struct tenant_catalog *cat, struct gw_cli_lock *lk,
		       uint64_t id, struct tenant_req *out)
{
	/* havend, rung, usually answers within milliseconds: look often
	 * at first, then at the pace of its own poll. */
	const struct timespec fast = {0, 2 * 1000 * 1000};
	const struct timespec slow = {0, 100 * 1000 * 1000};
	uint64_t start = now_ms();
	uint64_t deadline = start + GW_CLI_REQUEST_TIMEOUT_MS;
	int err;

	for (;;) {
		err = tenant_req_get(cat, id, out);
		if (err < 0 || out->state != TENANT_REQ_PENDING)
			return err;
		/* A havend that stopped will never answer: once its lock is
		 * free, look one last time, then act alone. */
		if (!lk->held && flock(lk->fd, LOCK_EX | LOCK_NB) == 0) {
			lk->held = true;
			continue;
		}
		if (lk->held)
			return 1;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		nanosleep(now_ms() - start < 100 ? &fast : &slow, NULL);
	}
}

int gw_cli_request(struct tenant_catalog *cat, struct gw_cli_lock *lk,
		   struct tenant_req *req)
{
	struct tenant_req ans;
	int err;

	req->state = TENANT_REQ_PENDING;
	req->created_ms = now_ms();
	err = tenant_req_add(cat, req);
	if (err < 0) {
		gw_cli_fail("cannot send the request to havend: %s",
			    gw_cli_strerror(err));
		return err;
	}
	err = wait_answer(cat, lk, req->id, &ans);
	/* Withdrawn on every path: a late answer would surprise nobody,
	 * but a request left pending would run at havend's next start. */
	tenant_req_remove(cat, req->id);
	if (err == 1)
		return 1;
	if (err == -ETIMEDOUT) {
		gw_cli_fail(
			"havend did not answer within %d s (request %" PRIu64
			" withdrawn; see havend's log)",
			GW_CLI_REQUEST_TIMEOUT_MS / 1000, req->id);
		return err;
	}
	if (err < 0) {
		gw_cli_fail("cannot read havend's answer: %s",
			    gw_cli_strerror(err));
		return err;
	}
	*req = ans;
	if (ans.state != TENANT_REQ_DONE) {
		gw_cli_fail("havend: %s",
			    ans.message[0] ? ans.message : "request failed");
		return ans.error < 0 ? ans.error : -EIO;
	}
	return 0;
}

int gw_cli_parse_checkpoint(const char *arg, bool zero_ok, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno) {
		gw_cli_fail("invalid checkpoint interval '%s': use a number of "
			    "seconds",
			    arg);
		return -EINVAL;
	}
	if ((v == 0 && zero_ok) ||
	    (v >= TENANT_CHECKPOINT_MIN && v <= GW_CLI_CHECKPOINT_MAX)) {
		*out = (uint32_t)v;
		return 0;
	}
	gw_cli_fail("invalid checkpoint interval '%s': use %d to %d seconds%s",
		    arg, TENANT_CHECKPOINT_MIN, GW_CLI_CHECKPOINT_MAX,
		    zero_ok ? ", or 0 to inherit the tenant's" : "");
	return -ERANGE;
}

/* ---- retention ---- */

int gw_cli_parse_retention(const char *arg, bool inherit_ok, char *canon,
			   size_t len)
{
	struct tenant_retention r;
	char why[160];

	if (inherit_ok && strcmp(arg, "inherit") == 0) {
		snprintf(canon, len, "%s", "");
		return 0;
	}
	if (tenant_retention_parse(arg, &r, why, sizeof(why)) < 0) {
		gw_cli_fail("invalid retention '%s': %s", arg, why);
		return -EINVAL;
	}
	tenant_retention_format(&r, canon, len);
	return 0;
}

int gw_cli_parse_days(const char *arg, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno ||
	    v > TENANT_IMMUTABLE_DAYS_MAX) {
		gw_cli_fail("invalid immutability window '%s': use 0 to %d "
			    "days",
			    arg, TENANT_IMMUTABLE_DAYS_MAX);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int gw_cli_policy_get(struct tenant_catalog *cat, const struct tenant_info *t,
		      const struct tenant_disk *d, struct gw_cli_policy *p)
{
	char own[TENANT_RETENTION_TEXT_MAX] = "";
	int err;

	memset(p, 0, sizeof(*p));
	err = tenant_get_retention(cat, t->id, p->text, sizeof(p->text),
				   &p->immutable_days);
	if (err == 0 && d)
		err = tenant_disk_get_retention(cat, d->id, own, sizeof(own));
	if (err < 0) {
		gw_cli_fail("cannot read the retention policy of '%s': %s",
			    t->name, gw_cli_strerror(err));
		return err;
	}
	p->inherited = !own[0];
	if (own[0])
		memcpy(p->text, own, sizeof(own));
	/* Stored texts are canonical; one that no longer parses would be
	 * corruption, and keeping everything is the safe reading. */
	if (tenant_retention_parse(p->text, &p->r, NULL, 0) < 0)
		memset(&p->r, 0, sizeof(p->r));
	return 0;
}

int gw_cli_rp_hold(struct tenant_catalog *cat, const struct tenant_disk *d,
		   const struct tenant_rp *rp, char *why, size_t len)
{
	char until[40];
	uint64_t end;
	int err;

	err = tenant_rp_immutable_until(cat, d->id, rp->id, &end);
	if (err < 0) {
		snprintf(why, len, "%s", gw_cli_strerror(err));
		return err;
	}
	if (end > now_ms()) {
		gw_cli_fmt_deadline(end, until, sizeof(until));
		snprintf(why, len, "immutable until %s", until);
		return -EPERM;
	}
	if (rp->pins) {
		snprintf(why, len, "pinned by %" PRIu32 " holder(s)", rp->pins);
		return -EBUSY;
	}
	return 0;
}
