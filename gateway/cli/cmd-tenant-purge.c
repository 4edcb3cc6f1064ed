/* havenctl tenant remove NAME --purge: a tenant leaves with everything it
 * has, in an order that can be resumed.
 *
 * Everything that could refuse is checked first (an immutable or pinned
 * restore point anywhere refuses the whole purge, with nothing changed).
 * Then the tenant is suspended, so havend closes its sessions and no
 * write lands while its objects go; then each disk goes the way disk
 * remove takes it (restore points through havend if it runs, objects,
 * record); then every credential; then the tenant.  If this stops
 * half-way, the tenant is still there, suspended, and running the
 * command again finishes the job.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "storage.h"

/* havend looks at the catalog every second and closes a suspended
 * tenant's sessions then; a little more than that lets in-flight writes
 * finish before the objects go. */
#define SESSIONS_CLOSE_MS 1500

struct purge {
	struct tenant_catalog *cat;
	struct tenant_info t;
	struct gw_cli_vec disks; /* struct tenant_disk */
	struct gw_cli_lock lk;
	struct gw_cli_store s;
	size_t ndisks, nrps, ncreds;
	uint64_t nobjects;
};

/* The first restore point that may not go refuses everything; reports. */
static int check_holds(struct purge *p)
{
	struct gw_cli_vec rps;
	char why[96];
	size_t i, j;
	int err = 0;

	for (i = 0; err == 0 && i < p->disks.n; i++) {
		const struct tenant_disk *d = gw_cli_vec_at(&p->disks, i);

		err = gw_cli_load_rps(p->cat, d->id, &rps);
		for (j = 0; err == 0 && j < rps.n; j++) {
			const struct tenant_rp *rp = gw_cli_vec_at(&rps, j);

			err = gw_cli_rp_hold(p->cat, d, rp, why, sizeof(why));
			if (err < 0)
				gw_cli_fail("tenant remove %s --purge: restore "
					    "point %" PRIu64 " of %s/%s/%s is "
					    "%s; nothing removed",
					    p->t.name, rp->id, p->t.name, d->vm,
					    d->name, why);
		}
		gw_cli_vec_free(&rps);
	}
	return err;
}

/* Suspends the tenant and gives havend time to close its sessions. */
static int suspend(struct purge *p)
{
	const struct timespec wait = {SESSIONS_CLOSE_MS / 1000,
				      (SESSIONS_CLOSE_MS % 1000) * 1000000L};
	int err;

	if (p->t.state == TENANT_SUSPENDED)
		return 0;
	err = tenant_set_state(p->cat, p->t.id, TENANT_SUSPENDED);
	if (err < 0) {
		gw_cli_fail("cannot suspend tenant '%s': %s", p->t.name,
			    gw_cli_strerror(err));
		return err;
	}
	if (!p->lk.held)
		nanosleep(&wait, NULL);
	return 0;
}

/* Restore points newest first (as disk remove), objects, record. */
static int purge_disk(struct purge *p, const struct tenant_disk *d)
{
	struct gw_cli_vec rps;
	uint64_t objects = 0, bytes = 0;
	size_t i;
	int err;

	err = gw_cli_load_rps(p->cat, d->id, &rps);
	for (i = rps.n; err == 0 && i-- > 0;) {
		err = gw_cli_rp_remove(p->cat, &p->lk, &p->t, d,
				       gw_cli_vec_at(&rps, i));
		if (err == 0)
			p->nrps++;
	}
	gw_cli_vec_free(&rps);
	if (err < 0)
		return err;
	/* The count is for the report; a store that cannot list will not
	 * remove either, and that failure is the one to show. */
	if (storage_disk_usage(p->s.st, p->t.ns, d->id, &objects, &bytes) < 0)
		objects = 0;
	err = storage_disk_destroy(p->s.st, p->t.ns, d->id, d->size,
				   d->extent_size);
	if (err < 0) {
		gw_cli_fail("cannot remove the objects of disk %s/%s/%s: %s",
			    p->t.name, d->vm, d->name, gw_cli_strerror(err));
		return err;
	}
	p->nobjects += objects;
	err = tenant_disk_remove(p->cat, d->id);
	if (err < 0 && err != -ENOENT) {
		gw_cli_fail("cannot remove disk %s/%s/%s from the catalog: %s",
			    p->t.name, d->vm, d->name, gw_cli_strerror(err));
		return err;
	}
	p->ndisks++;
	return 0;
}

static int revoke_creds(struct purge *p)
{
	struct gw_cli_vec creds;
	size_t i;
	int err;

	err = gw_cli_load_creds(p->cat, &creds);
	for (i = 0; err == 0 && i < creds.n; i++) {
		const struct tenant_cred *c = gw_cli_vec_at(&creds, i);

		if (c->operator_role || c->tenant_id != p->t.id)
			continue;
		err = tenant_cred_revoke(p->cat, c->pin);
		if (err == 0)
			p->ncreds++;
		else if (err == -ENOENT)
			err = 0; /* revoked meanwhile */
		else
			gw_cli_fail("cannot revoke a credential of tenant "
				    "'%s' (site %s): %s",
				    p->t.name, c->site, gw_cli_strerror(err));
	}
	gw_cli_vec_free(&creds);
	return err;
}

static int purge_all(struct purge *p)
{
	size_t i;
	int err;

	err = gw_cli_store_open(p->cat, &p->t, &p->s);
	if (err < 0) {
		gw_cli_fail("cannot open route '%s' of tenant '%s': %s",
			    p->t.route, p->t.name, gw_cli_strerror(err));
		return err;
	}
	for (i = 0; err == 0 && i < p->disks.n; i++)
		err = purge_disk(p, gw_cli_vec_at(&p->disks, i));
	if (err == 0)
		err = revoke_creds(p);
	if (err < 0)
		return err;
	err = tenant_remove(p->cat, p->t.id);
	if (err < 0)
		gw_cli_fail("cannot remove tenant '%s': %s", p->t.name,
			    gw_cli_strerror(err));
	return err;
}

int gw_cli_tenant_purge(struct gw_cli *cli, const char *name)
{
	struct purge p = {.lk = {-1, false}};
	int rc = GW_CLI_FAIL;

	gw_cli_vec_init(&p.disks, sizeof(struct tenant_disk));
	if (gw_cli_catalog_open(cli, &p.cat) < 0)
		return GW_CLI_FAIL;
	if (gw_cli_tenant_get(p.cat, name, &p.t) < 0 ||
	    gw_cli_load_disks(p.cat, p.t.id, &p.disks) < 0 ||
	    check_holds(&p) < 0 || gw_cli_lock_take(cli, &p.lk) < 0)
		goto out;
	if (suspend(&p) < 0)
		goto out;
	if (purge_all(&p) < 0) {
		fprintf(stderr,
			"havenctl: tenant '%s' is left suspended with what "
			"was not removed yet (%zu of %zu disks removed); run "
			"the command again to finish\n",
			p.t.name, p.ndisks, p.disks.n);
		goto out;
	}
	printf("Purged tenant '%s' (id %" PRIu64 "): removed %zu disk%s, "
	       "%zu restore point%s, %zu credential%s and %" PRIu64
	       " data object%s.\n",
	       p.t.name, p.t.id, p.ndisks, p.ndisks == 1 ? "" : "s", p.nrps,
	       p.nrps == 1 ? "" : "s", p.ncreds, p.ncreds == 1 ? "" : "s",
	       p.nobjects, p.nobjects == 1 ? "" : "s");
	rc = GW_CLI_OK;
out:
	gw_cli_store_close(&p.s);
	gw_cli_lock_release(&p.lk);
	gw_cli_vec_free(&p.disks);
	tenant_catalog_close(p.cat);
	return rc;
}
