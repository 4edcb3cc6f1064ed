/* havenctl disk show: the catalog record, the extents that hold data (a
 * listing of the store), restore points, retention and the stored-bytes
 * ledger with its alert state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "objstore.h"
#include "storage.h"

static const char show_usage[] =
	"Usage: havenctl [-d DIR] disk show TENANT/VM/DISK [--json]\n"
	"Show a disk: size, extents that hold data, restore point interval\n"
	"and count, snap sequence.\n"
	"\n"
	"  --json      print a JSON object\n"
	"  -h, --help  show this help\n";

struct extent_count {
	uint64_t n;
	uint64_t bytes;
};

static int count_extent(void *arg, const char *oid, uint64_t size)
{
	struct extent_count *c = arg;
	const char *dot = strchr(oid, '.');

	/* "<id>.header" shares the prefix but holds no disk data. */
	if (dot && strcmp(dot + 1, "header") != 0) {
		c->n++;
		c->bytes += size;
	}
	return 0;
}

/* Counts the extent objects of a disk.  This reaches below storage.h,
 * into the backend's listing, because the disk layer offers no count
 * without building a whole allocation map. */
static int count_extents(struct tenant_catalog *cat,
			 const struct tenant_info *t,
			 const struct tenant_disk *d, struct extent_count *c)
{
	struct gw_cli_store s = {0};
	char prefix[STORAGE_OID_MAX];
	void *io = NULL;
	int err;

	err = gw_cli_store_open(cat, t, &s);
	if (err == 0)
		err = s.st->be_ops->ioctx_open(s.st->be, t->ns, &io);
	if (err < 0) {
		io = NULL;
		goto out;
	}
	err = storage_oid_extent(prefix, sizeof(prefix), d->id, 0);
	if (err < 0)
		goto out;
	*(strchr(prefix, '.') + 1) = '\0';
	err = s.st->be_ops->list(io, prefix, count_extent, c, NULL);
	if (err == -ENOENT) /* a namespace that was never written */
		err = 0;
out:
	if (io)
		s.st->be_ops->ioctx_close(io);
	gw_cli_store_close(&s);
	return err;
}

/* What disk show adds to the catalog record. */
struct disk_extra {
	struct extent_count count;
	int count_err;
	uint32_t interval; /* the restore point interval havend uses */
	enum gw_rp_interval_from from;
	size_t nrps;
	struct gw_cli_policy pol;
	struct tenant_ledger led;
};

static const char *alert_name(uint32_t a)
{
	return a == TENANT_ALERT_QUOTA_FULL ? "quota-full" : NULL;
}

static json_t *show_obj(const struct tenant_info *t,
			const struct tenant_disk *d, const struct disk_extra *x)
{
	json_t *o = gw_cli_disk_json(d, t->name);
	const char *alert = alert_name(x->led.alert);
	json_t *stored = json_pack(
		"{s:o, s:o, s:o}", "live", gw_cli_json_u64(x->led.live),
		"history", gw_cli_json_u64(x->led.history), "total",
		gw_cli_json_u64(x->led.live + x->led.history));
	json_t *al = alert ? json_pack("{s:s, s:o}", "state", alert, "since",
				       gw_cli_json_time_ms(x->led.alert_ms))
			   : json_null();
	uint64_t extents = (d->size + d->extent_size - 1) / d->extent_size;
	json_t *v[] = {
		gw_cli_json_u64(extents),
		x->count_err ? json_null() : gw_cli_json_u64(x->count.n),
		x->count_err ? json_null() : gw_cli_json_u64(x->count.bytes),
		gw_cli_json_u64(x->interval),
		json_string(gw_rp_interval_from_name(x->from)),
		d->checkpoint_s ? gw_cli_json_u64(d->checkpoint_s)
				: json_null(),
		gw_cli_json_u64(x->nrps),
		gw_cli_json_u64(d->snap_seq),
		json_string(x->pol.text),
		x->pol.inherited ? json_null() : json_string(x->pol.text),
		stored,
		al,
	};
	static const char *const k[] = {
		"extents",	   "allocated_extents",
		"allocated_bytes", "checkpoint",
		"checkpoint_from", "checkpoint_override",
		"restore_points",  "snap_seq",
		"retention",	   "retention_override",
		"stored",	   "alert",
	};
	size_t i;
	int err = 0;

	/* json_object_set_new() steals the value even when it fails. */
	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (json_object_set_new(o, k[i], v[i]))
			err = -ENOMEM;
	if (err) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static void show_text(const struct tenant_info *t, const struct tenant_disk *d,
		      const struct disk_extra *x)
{
	char size[32], extent[32], bytes[32], created[32], every[80];
	uint64_t extents = (d->size + d->extent_size - 1) / d->extent_size;

	gw_cli_fmt_size(d->size, size, sizeof(size));
	gw_cli_fmt_size(d->extent_size, extent, sizeof(extent));
	gw_cli_fmt_size(x->count.bytes, bytes, sizeof(bytes));
	gw_cli_fmt_time(d->created, created, sizeof(created));
	gw_cli_fmt_checkpoint(x->interval, x->from, every, sizeof(every));
	printf("Disk %s/%s/%s\n"
	       "  id:             %" PRIu64 "\n"
	       "  export:         %s/%s (for tenant '%s')\n"
	       "  size:           %s (%" PRIu64 " bytes)\n"
	       "  extent size:    %s (%" PRIu64 " extents)\n",
	       t->name, d->vm, d->name, d->id, d->vm, d->name, t->name, size,
	       d->size, extent, extents);
	if (x->count_err)
		printf("  allocated:      unknown (%s)\n",
		       gw_cli_strerror(x->count_err));
	else
		printf("  allocated:      %" PRIu64 " extent%s (%s)\n",
		       x->count.n, x->count.n == 1 ? "" : "s", bytes);
	printf("  checkpoint:     every %s\n"
	       "  retention:      %s%s\n"
	       "  restore points: %zu\n"
	       "  snap_seq:       %" PRIu64 "\n"
	       "  created:        %s\n",
	       every, x->pol.text, x->pol.inherited ? ", the tenant's" : "",
	       x->nrps, d->snap_seq, created);
	gw_cli_fmt_size(x->led.live, size, sizeof(size));
	gw_cli_fmt_size(x->led.history, bytes, sizeof(bytes));
	printf("  stored:         %s live + %s restore point history\n", size,
	       bytes);
	if (alert_name(x->led.alert)) {
		gw_cli_fmt_time(x->led.alert_ms / 1000, created,
				sizeof(created));
		printf("  ALERT:          %s since %s: writes needing space "
		       "get ENOSPC; no restore point is removed early to make "
		       "room (raise max-stored or remove restore points)\n",
		       alert_name(x->led.alert), created);
	}
}

uint32_t gw_cli_interval(struct gw_cli *cli, const struct tenant_info *t,
			 const struct tenant_disk *d,
			 enum gw_rp_interval_from *from)
{
	char err[1400];

	/* havend refuses to start with a haven.conf it cannot load (and a
	 * running one keeps what it had): say so, and go on with the
	 * built-in defaults rather than hide what the catalog knows. */
	if (!cli->conf_read &&
	    gw_config_load(&cli->conf, cli->dir, err, sizeof(err)) < 0) {
		fprintf(stderr,
			"havenctl: warning: %s; restore point intervals "
			"shown without it\n",
			err);
		gw_config_defaults(&cli->conf, cli->dir);
	}
	cli->conf_read = true;
	return gw_rp_interval_of(&cli->conf, t, d, from);
}

int gw_cli_disk_show(struct gw_cli *cli, int argc, char **argv)
{
	struct tenant_catalog *cat = NULL;
	struct disk_extra x = {0};
	struct gw_cli_vec rps = {0};
	struct tenant_info t;
	struct tenant_disk d;
	bool json = false;
	int rc;

	rc = gw_cli_opts_json(cli, argc, argv, show_usage, &json);
	if (rc)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK") < 0)
		return GW_CLI_USAGE;
	if (gw_cli_catalog_open(cli, &cat) < 0)
		return GW_CLI_FAIL;
	rc = GW_CLI_FAIL;
	if (gw_cli_disk_lookup(cat, argv[optind], &t, &d) < 0 ||
	    gw_cli_policy_get(cat, &t, &d, &x.pol) < 0 ||
	    gw_cli_load_rps(cat, d.id, &rps) < 0)
		goto out;
	rc = tenant_disk_get_ledger(cat, d.id, &x.led);
	if (rc < 0) {
		gw_cli_fail("cannot read the ledger of disk %s: %s",
			    argv[optind], gw_cli_strerror(rc));
		rc = GW_CLI_FAIL;
		goto out;
	}
	rc = GW_CLI_FAIL;
	x.nrps = rps.n;
	x.interval = gw_cli_interval(cli, &t, &d, &x.from);
	/* The count is a courtesy: an unreachable store must not hide
	 * what the catalog knows. */
	x.count_err = count_extents(cat, &t, &d, &x.count);
	tenant_catalog_close(cat);
	cat = NULL;
	if (json) {
		if (gw_cli_json_print(show_obj(&t, &d, &x)) == 0)
			rc = GW_CLI_OK;
	} else {
		show_text(&t, &d, &x);
		rc = GW_CLI_OK;
	}
out:
	gw_cli_vec_free(&rps);
	tenant_catalog_close(cat);
	return rc;
}

/* Refuses up front, before anything is removed, when a restore point
 * is pinned or immutable; reports. */
