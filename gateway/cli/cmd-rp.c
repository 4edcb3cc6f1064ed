/* havenctl rp list|create|remove|pin|unpin: restore points of tenants'
 * disks.
 *
 * A restore point is a self-managed snapshot of the disk's objects plus
 * a catalog record.  While havend runs it owns the snap context of the
 * disks it serves, so these commands ask it (a request in the catalog,
 * see gw_cli_request()); while it does not, they hold its lock and act
 * alone, the way havend would: allocate the snap id, record the restore
 * point with the disk's allocation map, and rewrite the disk's header
 * object so that the store stays self-describing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "storage.h"

static const char rp_usage[] =
	"Usage: havenctl [-d DIR] rp COMMAND [ARGS]...\n"
	"Restore points: crash-consistent images of a disk, which the tenant\n"
	"reads (read-only) as export VM/DISK@ID, VM/DISK@NAME or "
	"VM/DISK@latest.\n";

static const char list_usage[] =
	"Usage: havenctl [-d DIR] rp list TENANT/VM/DISK [--json]\n"
	"List a disk's restore points, oldest first (times in UTC), with the\n"
	"retention tier that keeps each (e.g. 1d:hourly; pinned, immutable,\n"
	"latest; expired or over-cap: the next retention pass removes it)\n"
	"and when the policy lets it go.\n"
	"\n"
	"  --json      print a JSON array\n"
	"  -h, --help  show this help\n";

static const char create_usage[] =
	"Usage: havenctl [-d DIR] rp create TENANT/VM/DISK [--name NAME] "
	"[--json]\n"
	"       havenctl [-d DIR] rp create TENANT/VM [--name NAME] [--json]\n"
	"Cut a restore point of a disk now, or of every disk of a VM at one\n"
	"instant (a consistency group).  If havend runs, it cuts them.\n"
	"\n"
	"  --name NAME   a name, unique per disk, usable instead of the id\n"
	"                (not 'latest', not only digits)\n"
	"  --json        print the restore points as a JSON array\n"
	"  -h, --help    show this help\n";

static const char remove_usage[] =
	"Usage: havenctl [-d DIR] rp remove TENANT/VM/DISK ID|NAME|latest\n"
	"Remove a restore point and release its snapshot.  If havend runs, it\n"
	"removes it (and refuses while a client has it open).  Pinned points\n"
	"and points inside the tenant's immutability window stay.\n"
	"\n"
	"  -h, --help  show this help\n";

static const char pin_usage[] =
	"Usage: havenctl [-d DIR] rp pin|unpin TENANT/VM/DISK ID|NAME|latest\n"
	"Keep a restore point beyond its retention tier (pin), or drop one\n"
	"such hold (unpin).  Running failover tests and failovers hold their\n"
	"restore points too; unpin never drops their holds.\n"
	"\n"
	"  -h, --help  show this help\n";

/* ---- the live disk and its header object (havend not running) ---- */

static int hdr_rp(const struct tenant_rp *rp, void *arg)
{
	/* The same text as havend's gw_rp_write_header(). */
	fprintf(arg,
		"rp %" PRIu64 " snap %" PRIu64 " created_ms %" PRIu64
		" trigger %s size %" PRIu64 " changed %" PRIu64
		" group %" PRIu64 " name %s\n",
		rp->id, rp->snap_id, rp->created_ms,
		gw_cli_trigger_name(rp->trigger), rp->size, rp->bytes_changed,
		rp->group, rp->name[0] ? rp->name : "-");
	return 0;
}

/* The header text of a disk, from the catalog: *buf is malloc'ed. */
static int build_header(struct tenant_catalog *cat, const struct tenant_info *t,
			const struct tenant_disk *td, char **buf, size_t *len)
{
	FILE *f;
	int err;

	*buf = NULL;
	f = open_memstream(buf, len);
	if (!f)
		return -ENOMEM;
	fprintf(f,
		"haven-disk 1\nid %" PRIu64 "\nlabel %s/%s/%s\nsize %" PRIu64
		"\nextent_size %" PRIu32 "\nsnap_seq %" PRIu64 "\n",
		td->id, t->name, td->vm, td->name, td->size, td->extent_size,
		td->snap_seq);
	err = tenant_rp_list(cat, td->id, hdr_rp, f);
	if (ferror(f) && err == 0)
		err = -ENOMEM;
	if (fclose(f) != 0 && err == 0)
		err = -ENOMEM;
	if (err < 0) {
		free(*buf);
		*buf = NULL;
	}
	return err;
}

struct hdr_wait {
	bool done;
	int result;
};

static void hdr_written(struct storage_req *r, int result)
{
	struct hdr_wait *w = r->priv;

	w->result = result;
	w->done = true;
}

/* Rewrites the header of an open live disk from the catalog. */
static int write_header(struct tenant_catalog *cat, struct gw_cli_store *s,
			const struct tenant_info *t, uint64_t disk_id,
			struct storage_disk *sd)
{
	struct storage_req r = {0};
	struct hdr_wait w = {false, 0};
	struct tenant_disk td;
	size_t len = 0;
	char *buf = NULL;
	int err;

	err = tenant_disk_get_by_id(cat, disk_id, &td);
	if (err == 0)
		err = build_header(cat, t, &td, &buf, &len);
	if (err < 0)
		return err;
	r.buf = buf;
	r.len = len;
	r.done = hdr_written;
	r.priv = &w;
	storage_disk_write_header(sd, &r);
	storage_sync_wait(s->sync, &w.done);
	free(buf);
	return w.result;
}

static void header_warn(const struct tenant_info *t, uint64_t disk_id, int err)
{
	fprintf(stderr,
		"havenctl: warning: cannot rewrite the header object of disk "
		"%" PRIu64 " of tenant '%s': %s (havend rewrites it when it "
		"next opens the disk)\n",
		disk_id, t->name, gw_cli_strerror(err));
}

/* Opens the disk afresh (its size or restore points just changed) and
 * rewrites its header; warns. */
static void update_header(struct tenant_catalog *cat, struct gw_cli_store *s,
			  const struct tenant_info *t, uint64_t disk_id)
{
	struct storage_disk *sd = NULL;
	struct tenant_disk td;
	int err;

	err = tenant_disk_get_by_id(cat, disk_id, &td);
	if (err == 0)
		err = gw_cli_open_live(cat, s, t, &td, &sd);
	if (err == 0)
		err = write_header(cat, s, t, disk_id, sd);
	storage_disk_close(sd);
	if (err < 0)
		header_warn(t, disk_id, err);
}

void gw_cli_header_update(struct tenant_catalog *cat,
			  const struct tenant_info *t, uint64_t disk_id)
{
	struct gw_cli_store s = {0};
	int err;

	err = gw_cli_store_open(cat, t, &s);
	if (err == 0)
		update_header(cat, &s, t, disk_id);
	else
		header_warn(t, disk_id, err);
	gw_cli_store_close(&s);
}

/* ---- removing ---- */

/* Removes a restore point alone (the lock is ours). */
static int direct_remove(struct tenant_catalog *cat,
			 const struct tenant_info *t,
			 const struct tenant_disk *d,
			 const struct tenant_rp *rp)
{
	struct gw_cli_store s = {0};
	struct tenant_rp got;
	uint64_t odisk, orp;
	int err;

	/* The store first: an unreachable store refuses before anything
	 * changed. */
	err = gw_cli_store_open(cat, t, &s);
	if (err < 0) {
		gw_cli_fail("cannot open route '%s' of tenant '%s': %s",
			    t->route, t->name, gw_cli_strerror(err));
		goto out;
	}
	err = tenant_rp_remove(cat, d->id, rp->id, &got);
	if (err < 0) {
		gw_cli_fail("cannot remove restore point %" PRIu64 " of "
			    "%s/%s/%s: %s",
			    rp->id, t->name, d->vm, d->name,
			    gw_cli_strerror(err));
		goto out;
	}
	/* Snap ids are pool-wide: release one only when no restore point
	 * of any disk owns it any more.  If the store refuses now, the id
	 * goes to the route's pool, which havend empties at start-up. */
	if (tenant_snap_owner(cat, t->route, got.snap_id, &odisk, &orp) ==
		    -ENOENT &&
	    storage_store_snap_remove(s.st, got.snap_id) < 0 &&
	    tenant_snap_pool_add(cat, t->route, got.snap_id) == 0)
		fprintf(stderr,
			"havenctl: warning: snap id %" PRIu64
			" not released yet; havend releases it when "
			"it starts\n",
			got.snap_id);
	update_header(cat, &s, t, d->id);
	err = 0;
out:
	gw_cli_store_close(&s);
	return err;
}

int gw_cli_rp_remove(struct tenant_catalog *cat, struct gw_cli_lock *lk,
		     const struct tenant_info *t, const struct tenant_disk *d,
		     const struct tenant_rp *rp)
{
	struct tenant_req req = {.type = TENANT_REQ_RP_REMOVE};
	int err;

	char why[96];

	/* Refused here with the reason, rather than by havend with an
	 * errno: the catalog refuses it anyway. */
	err = gw_cli_rp_hold(cat, d, rp, why, sizeof(why));
	if (err < 0) {
		gw_cli_fail("rp remove %s/%s/%s %" PRIu64 ": %s", t->name,
			    d->vm, d->name, rp->id, why);
		return err;
	}
	if (!lk->held) {
		req.tenant_id = t->id;
		snprintf(req.vm, sizeof(req.vm), "%s", d->vm);
		req.disk_id = d->id;
		req.rp_id = rp->id;
		err = gw_cli_request(cat, lk, &req);
		if (err <= 0)
			return err;
	}
	return direct_remove(cat, t, d, rp);
}

/* ---- rp list ---- */

static int rp_list_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_vec rps = {0};
	struct gw_cli_rp_row *rows = NULL;
	struct tenant_rp_fate *fates = NULL;
	struct gw_cli_policy pol;
	uint64_t now = gw_cli_now_ms();
	struct tenant_info t;
	struct tenant_disk d;
	bool json = false;
	size_t i;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, list_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_disk_lookup(cat, argv[optind], &t, &d) < 0 ||
	    gw_cli_policy_get(cat, &t, &d, &pol) < 0 ||
	    gw_cli_load_rps(cat, d.id, &rps) < 0)
		goto out;
	tenant_catalog_close(cat);
	cat = NULL;
	rows = calloc(rps.n + 1, sizeof(*rows));
	fates = calloc(rps.n + 1, sizeof(*fates));
	if (!rows || !fates) {
		gw_cli_fail("cannot list restore points: %s", strerror(ENOMEM));
		goto out;
	}
	/* The same plan havend's retention pass makes, at this instant. */
	tenant_retention_plan(&pol.r, pol.immutable_days, rps.items, rps.n, now,
			      fates);
	for (i = 0; i < rps.n; i++) {
		rows[i].d = &d;
		rows[i].rp = *(struct tenant_rp *)gw_cli_vec_at(&rps, i);
		rows[i].fate = &fates[i];
		rows[i].policy = &pol.r;
	}
	if ((json ? gw_cli_print_rps_json(&t, rows, rps.n, now)
		  : gw_cli_print_rps(&t, rows, rps.n, false, now)) == 0)
		rc = GW_CLI_OK;
out:
	free(fates);
	free(rows);
	gw_cli_vec_free(&rps);
	tenant_catalog_close(cat);
	return rc;
}

/* ---- rp remove ---- */

static int rp_remove_cmd(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct gw_cli_lock lk = {-1, false};
	struct tenant_info t;
	struct tenant_disk d;
	struct tenant_rp rp;
	int rc, err;

	rc = gw_cli_opts_json(cli, argc, argv, remove_usage, NULL);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 2, 2,
			 "TENANT/VM/DISK or ID|NAME|latest") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_disk_lookup(cat, argv[optind], &t, &d) < 0)
		goto out;
	err = tenant_rp_find(cat, d.id, argv[optind + 1], &rp);
	if (err == -ENOENT || err == -EINVAL) {
		gw_cli_fail("disk '%s' has no restore point '%s'", argv[optind],
			    argv[optind + 1]);
		goto out;
	} else if (err < 0) {
		gw_cli_fail("cannot read the restore points of '%s': %s",
			    argv[optind], gw_cli_strerror(err));
		goto out;
	}
	if (gw_cli_lock_take(cli, &lk) < 0 ||
	    gw_cli_rp_remove(cat, &lk, &t, &d, &rp) < 0)
		goto out;
	printf("Removed restore point %" PRIu64 "%s%s%s of %s/%s/%s.\n", rp.id,
	       rp.name[0] ? " (" : "", rp.name, rp.name[0] ? ")" : "", t.name,
	       d.vm, d.name);
	rc = GW_CLI_OK;
out:
	gw_cli_lock_release(&lk);
	tenant_catalog_close(cat);
	return rc;
}

/* ---- rp create ---- */

/* What rp create works on: one disk, or every disk of a VM. */
struct target {
	struct tenant_info t;
	struct gw_cli_vec disks; /* struct tenant_disk */
	const char *name;	 /* NULL: unnamed */
	bool whole_vm;		 /* TENANT/VM was given */
};

struct vm_pick {
	const char *vm;
	struct gw_cli_vec *v;
};

static int pick_vm(const struct tenant_disk *d, void *arg)
{
	struct vm_pick *pk = arg;

	return strcmp(d->vm, pk->vm) == 0 ? gw_cli_vec_push(pk->v, d) : 0;
}

/* Resolves TENANT/VM/DISK or TENANT/VM into disks; reports. */
static int load_target(struct tenant_catalog *cat, const char *arg,
		       struct target *tg)
{
	struct vm_pick pk = {NULL, &tg->disks};
	struct tenant_disk d;
	struct gw_cli_path p;
	int err;

	err = gw_cli_parse_path(arg, true, &p);
	if (err == 0)
		err = gw_cli_tenant_get(cat, p.tenant, &tg->t);
	if (err < 0)
		return err;
	if (p.disk[0]) {
		err = gw_cli_disk_lookup(cat, arg, &tg->t, &d);
		return err < 0 ? err : gw_cli_vec_push(&tg->disks, &d);
	}
	pk.vm = p.vm;
	tg->whole_vm = true;
	err = tenant_disk_list(cat, tg->t.id, pick_vm, &pk);
	if (err < 0) {
		gw_cli_fail("cannot list the disks of '%s': %s", arg,
			    gw_cli_strerror(err));
	} else if (tg->disks.n == 0) {
		gw_cli_fail("VM '%s' has no disks", arg);
		err = -ENOENT;
	}
	return err;
}

/* A name must not read as an id or as "latest"; nor be taken. */
static int check_name(struct tenant_catalog *cat, const struct target *tg)
{
	const char *n = tg->name;
	struct tenant_rp rp;
	size_t i;

	if (!n)
		return 0;
	if (gw_cli_check_name("restore point", n) < 0)
		return -EINVAL;
	if (strcmp(n, "latest") == 0 || strspn(n, "0123456789") == strlen(n)) {
		gw_cli_fail("invalid restore point name '%s': it would read "
			    "as %s",
			    n, n[0] == 'l' ? "the newest one" : "an id");
		return -EINVAL;
	}
	for (i = 0; i < tg->disks.n; i++) {
		const struct tenant_disk *d = gw_cli_vec_at(&tg->disks, i);

		if (tenant_rp_find(cat, d->id, n, &rp) == 0) {
			gw_cli_fail("disk %s/%s/%s already has a restore point "
				    "named '%s'",
				    tg->t.name, d->vm, d->name, n);
			return -EEXIST;
		}
	}
	return 0;
}

/* One disk's part of a direct cut. */
struct cut {
	const struct tenant_disk *d;
	struct storage_disk *sd;
	uint8_t *map;
	size_t map_len;
	uint64_t snap;	     /* 0: none allocated */
	struct tenant_rp rp; /* rp.id != 0 once recorded */
};

/* Takes back a failed cut: records, then snap ids nobody owns. */
static void undo_cuts(struct tenant_catalog *cat, struct gw_cli_store *s,
		      const char *route, struct cut *c, size_t n)
{
	struct tenant_rp got;
	uint64_t od, orp;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i].rp.id)
			tenant_rp_remove(cat, c[i].d->id, c[i].rp.id, &got);
	for (i = 0; i < n; i++) {
		if (!c[i].snap || tenant_snap_owner(cat, route, c[i].snap, &od,
						    &orp) != -ENOENT)
			continue;
		/* Left in the pool if the store refuses: havend releases
		 * it at start-up. */
		if (storage_store_snap_remove(s->st, c[i].snap) == 0)
			tenant_snap_pool_remove(cat, route, c[i].snap);
	}
}

/* Allocates the snap ids and records the restore points. */
static int record_cuts(struct tenant_catalog *cat, struct gw_cli_store *s,
		       const struct target *tg, struct cut *c, size_t n)
{
	uint64_t now = gw_cli_now_ms();
	size_t i;
	int err = 0;

	/* Each id goes to the route's pool first, so that a crash before
	 * it is recorded leaves it where havend's start-up releases it. */
	for (i = 0; i < n && err == 0; i++) {
		err = storage_store_snap_create(s->st, &c[i].snap);
		if (err < 0)
			c[i].snap = 0;
		else
			err = tenant_snap_pool_add(cat, tg->t.route, c[i].snap);
	}
	for (i = 0; i < n && err == 0; i++) {
		c[i].rp.disk_id = c[i].d->id;
		c[i].rp.snap_id = c[i].snap;
		c[i].rp.created_ms = now;
		c[i].rp.trigger = TENANT_RP_MANUAL;
		c[i].rp.size = c[i].d->size;
		c[i].rp.group = n > 1 ? c[0].snap : 0;
		if (tg->name)
			snprintf(c[i].rp.name, sizeof(c[i].rp.name), "%s",
				 tg->name);
		err = tenant_rp_add(cat, tg->t.route, &c[i].rp, c[i].map,
				    c[i].map_len);
		if (err < 0)
			c[i].rp.id = 0;
	}
	return err;
}

/* Cuts the restore points alone (the lock is ours); reports. */
static int direct_create(struct tenant_catalog *cat, const struct target *tg,
			 struct gw_cli_rp_row *rows)
{
	struct gw_cli_store s = {0};
	size_t i, n = tg->disks.n;
	struct cut *c;
	int err;

	c = calloc(n, sizeof(*c));
	err = c ? gw_cli_store_open(cat, &tg->t, &s) : -ENOMEM;
	if (err < 0) {
		gw_cli_fail("cannot open route '%s' of tenant '%s': %s",
			    tg->t.route, tg->t.name, gw_cli_strerror(err));
		goto out;
	}
	for (i = 0; i < n && err == 0; i++) {
		c[i].d = gw_cli_vec_at(&tg->disks, i);
		err = gw_cli_open_live(cat, &s, &tg->t, c[i].d, &c[i].sd);
		if (err == 0)
			err = storage_disk_map(c[i].sd, &c[i].map,
					       &c[i].map_len);
	}
	if (err == 0)
		err = record_cuts(cat, &s, tg, c, n);
	if (err < 0) {
		undo_cuts(cat, &s, tg->t.route, c, n);
		gw_cli_fail("cannot create the restore point%s: %s",
			    n > 1 ? "s" : "", gw_cli_strerror(err));
		goto out;
	}
	for (i = 0; i < n; i++) {
		rows[i].d = c[i].d;
		rows[i].rp = c[i].rp;
		err = write_header(cat, &s, &tg->t, c[i].d->id, c[i].sd);
		if (err < 0)
			header_warn(&tg->t, c[i].d->id, err);
	}
	err = 0;
out:
	for (i = 0; c && i < n; i++) {
		storage_disk_close(c[i].sd);
		free(c[i].map);
	}
	free(c);
	gw_cli_store_close(&s);
	return err;
}

/* The newest manual restore point of a disk after 'after' (and with the
 * name, if any): what havend just cut for our request. */
static int find_new(struct tenant_catalog *cat, const struct tenant_disk *d,
		    const char *name, uint64_t after, struct tenant_rp *out)
{
	struct gw_cli_vec rps;
	size_t i;
	int err = -ENOENT;

	if (gw_cli_load_rps(cat, d->id, &rps) < 0)
		return -EIO;
	for (i = rps.n; err == -ENOENT && i-- > 0;) {
		const struct tenant_rp *rp = gw_cli_vec_at(&rps, i);

		if (rp->id > after && rp->trigger == TENANT_RP_MANUAL &&
		    (!name || strcmp(rp->name, name) == 0)) {
			*out = *rp;
			err = 0;
		}
	}
	gw_cli_vec_free(&rps);
	return err;
}

/* Asks havend to cut; reports.  1: havend stopped, act directly. */
static int request_create(struct tenant_catalog *cat, struct gw_cli_lock *lk,
			  const struct target *tg, struct gw_cli_rp_row *rows)
{
	struct tenant_req req = {.type = TENANT_REQ_RP_CREATE};
	const struct tenant_disk *d0 = gw_cli_vec_at(&tg->disks, 0);
	size_t i, n = tg->disks.n;
	int err;

	/* Restore point ids only grow: a manual one newer than the newest
	 * manual one now is the one havend cuts for us. */
	for (i = 0; i < n; i++) {
		rows[i].d = gw_cli_vec_at(&tg->disks, i);
		if (find_new(cat, rows[i].d, NULL, 0, &rows[i].rp) == -EIO)
			return -EIO;
	}
	req.tenant_id = tg->t.id;
	snprintf(req.vm, sizeof(req.vm), "%s", d0->vm);
	req.disk_id = tg->whole_vm ? 0 : d0->id;
	if (tg->name)
		snprintf(req.name, sizeof(req.name), "%s", tg->name);
	err = gw_cli_request(cat, lk, &req);
	for (i = 0; err == 0 && i < n; i++) {
		err = find_new(cat, rows[i].d, tg->name, rows[i].rp.id,
			       &rows[i].rp);
		if (err == -ENOENT)
			gw_cli_fail("havend answered '%s' but disk %s/%s/%s "
				    "has no new restore point",
				    req.message, tg->t.name, rows[i].d->vm,
				    rows[i].d->name);
	}
	return err;
}

static int rp_create_cmd(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tenant_catalog *cat = NULL;
	struct gw_cli_lock lk = {-1, false};
	struct target tg = {.name = NULL};
	struct gw_cli_rp_row *rows = NULL;
	bool json = false;
	int c, rc, err;

	gw_cli_vec_init(&tg.disks, sizeof(struct tenant_disk));
	while ((c = gw_cli_getopt(cli, argc, argv, "h", opts)) != -1) {
		if (c == 'n')
			tg.name = optarg;
		else if (c == 'j')
			json = true;
		else if (c == 'h')
			return gw_cli_help(create_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM[/DISK]") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (load_target(cat, argv[optind], &tg) < 0 || check_name(cat, &tg) < 0)
		goto out;
	rows = calloc(tg.disks.n, sizeof(*rows));
	if (!rows) {
		gw_cli_fail("cannot create restore points: %s",
			    strerror(ENOMEM));
		goto out;
	}
	if (gw_cli_lock_take(cli, &lk) < 0)
		goto out;
	err = 1;
	if (!lk.held)
		err = request_create(cat, &lk, &tg, rows);
	if (err == 1)
		err = direct_create(cat, &tg, rows);
	if (err < 0)
		goto out;
	if (json) {
		if (gw_cli_print_rps_json(&tg.t, rows, tg.disks.n, 0) < 0)
			goto out;
	} else {
		if (gw_cli_print_rps(&tg.t, rows, tg.disks.n, true, 0) < 0)
			goto out;
		printf("Tenant '%s' reads %s as the export%s above "
		       "(read-only).\n",
		       tg.t.name, tg.disks.n > 1 ? "them" : "it",
		       tg.disks.n > 1 ? "s" : "");
	}
	rc = GW_CLI_OK;
out:
	free(rows);
	gw_cli_vec_free(&tg.disks);
	gw_cli_lock_release(&lk);
	tenant_catalog_close(cat);
	return rc;
}

/* ---- rp pin|unpin ---- */

static int pin_cmd(struct gw_cli *cli, int argc, char **argv, int delta)
{
	const char *verb = delta > 0 ? "pin" : "unpin";
	struct tenant_catalog *cat = NULL;
	struct tenant_info t;
	struct tenant_disk d;
	struct tenant_rp rp = {0};
	int rc, err;

	rc = gw_cli_opts_json(cli, argc, argv, pin_usage, NULL);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 2, 2,
			 "TENANT/VM/DISK or ID|NAME|latest") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_disk_lookup(cat, argv[optind], &t, &d) < 0)
		goto out;
	err = tenant_rp_find(cat, d.id, argv[optind + 1], &rp);
	if (err == 0)
		err = tenant_rp_pin(cat, d.id, rp.id, delta);
	if (err == 0)
		err = tenant_rp_get(cat, d.id, rp.id, &rp);
	if (err == -ENOENT || (err == -EINVAL && !rp.id))
		gw_cli_fail("disk '%s' has no restore point '%s'", argv[optind],
			    argv[optind + 1]);
	else if (err == -EINVAL)
		gw_cli_fail("rp unpin %s %s: not pinned", argv[optind],
			    argv[optind + 1]);
	else if (err == -EBUSY)
		gw_cli_fail("rp unpin %s %s: its %" PRIu32 " hold(s) belong to "
			    "running failover tests or failovers",
			    argv[optind], argv[optind + 1], rp.pins);
	else if (err < 0)
		gw_cli_fail("cannot %s restore point '%s' of '%s': %s", verb,
			    argv[optind + 1], argv[optind],
			    gw_cli_strerror(err));
	if (err < 0)
		goto out;
	printf("%s restore point %" PRIu64 " of %s/%s/%s (%" PRIu32
	       " holder%s).\n",
	       delta > 0 ? "Pinned" : "Unpinned", rp.id, t.name, d.vm, d.name,
	       rp.pins, rp.pins == 1 ? "" : "s");
	rc = GW_CLI_OK;
out:
	tenant_catalog_close(cat);
	return rc;
}

static int rp_pin_cmd(struct gw_cli *cli, int argc, char **argv)
{
	return pin_cmd(cli, argc, argv, 1);
}

static int rp_unpin_cmd(struct gw_cli *cli, int argc, char **argv)
{
	return pin_cmd(cli, argc, argv, -1);
}

static const struct gw_cli_cmd rp_cmds[] = {
	{"list", rp_list_cmd, "list a disk's restore points"},
	{"create", rp_create_cmd, "cut restore points now"},
	{"remove", rp_remove_cmd, "remove a restore point"},
	{"pin", rp_pin_cmd, "keep a restore point beyond its tier"},
	{"unpin", rp_unpin_cmd, "drop a pin of a restore point"},
};

int gw_cli_cmd_rp(struct gw_cli *cli, int argc, char **argv)
{
	return gw_cli_dispatch(cli, rp_usage, rp_cmds,
			       sizeof(rp_cmds) / sizeof(rp_cmds[0]), argc,
			       argv);
}
