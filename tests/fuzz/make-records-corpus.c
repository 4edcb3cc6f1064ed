/* Writes the seed corpus of fuzz-records: catalog records made by the
 * real encoders of tenant/record.c, one file per record, into the
 * directory given.  make-corpus.py compiles and runs it.
 *
 * The encoders write the current version (2).  Version 1 records are the
 * same encodings cut before the fields version 2 appended, with the
 * header patched, which is what the version 1 encoders wrote: fields are
 * only ever appended.  A "v3" record stands for a future version that
 * appended a field this decoder does not know.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "record.h"

static const char *outdir;
static int failed;

static void put(const char *name, const uint8_t *b, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		failed = 1;
	}
}

/* Writes the record as version 'version', keeping its first 'len' bytes
 * and appending 'extra' bytes of a field from the future. */
static void put_as(const char *name, const uint8_t *rec, size_t len,
		   unsigned version, size_t extra)
{
	uint8_t b[TENANT_REC_MAX + 16];
	size_t n = len + extra;

	memcpy(b, rec, len);
	memset(b + len, 0xa5, extra);
	b[0] = (uint8_t)version;
	b[1] = (uint8_t)(version >> 8);
	b[2] = (uint8_t)n;
	b[3] = (uint8_t)(n >> 8);
	put(name, b, n);
}

static void check(const char *what, int rc)
{
	if (rc != 0) {
		fprintf(stderr, "%s: encoding failed: %s\n", what,
			strerror(-rc));
		failed = 1;
	}
}

static void routes(void)
{
	struct tenant_route rt;
	uint8_t b[TENANT_REC_MAX];
	size_t len;

	memset(&rt, 0, sizeof(rt));
	strcpy(rt.name, "local");
	strcpy(rt.type, "local");
	strcpy(rt.path, "/var/lib/haven/store");
	check("route-local", tenant_rec_route_encode(&rt, b, sizeof(b), &len));
	put("route-local-v2", b, len);
	put_as("route-local-v1", b, len, 1, 0);

	memset(&rt, 0, sizeof(rt));
	strcpy(rt.name, "ceph-east");
	strcpy(rt.type, "rados");
	strcpy(rt.ceph_conf, "/etc/ceph/ceph.conf");
	strcpy(rt.pool, "haven");
	strcpy(rt.client_id, "haven-gw");
	strcpy(rt.keyring, "/etc/ceph/ceph.client.haven-gw.keyring");
	check("route-rados", tenant_rec_route_encode(&rt, b, sizeof(b), &len));
	put("route-rados-v2", b, len);
	put_as("route-rados-v3", b, len, 3, 8);

	/* The largest record there is: every string full. */
	memset(rt.name, 'n', sizeof(rt.name) - 1);
	memset(rt.path, 'p', sizeof(rt.path) - 1);
	memset(rt.ceph_conf, 'c', sizeof(rt.ceph_conf) - 1);
	memset(rt.pool, 'o', sizeof(rt.pool) - 1);
	memset(rt.client_id, 'i', sizeof(rt.client_id) - 1);
	memset(rt.keyring, 'k', sizeof(rt.keyring) - 1);
	check("route-max", tenant_rec_route_encode(&rt, b, sizeof(b), &len));
	put("route-max-v2", b, len);
}

static void tenants(void)
{
	struct tenant_info t;
	uint8_t b[TENANT_REC_MAX];
	size_t len;

	memset(&t, 0, sizeof(t));
	t.id = 1;
	strcpy(t.name, "acme");
	strcpy(t.route, "local");
	strcpy(t.ns, "acme");
	t.state = TENANT_ACTIVE;
	t.created = 1717171717;
	t.checkpoint_s = 300;
	check("tenant", tenant_rec_tenant_encode(&t, b, sizeof(b), &len));
	put("tenant-v2", b, len);
	put_as("tenant-v1", b, len - 4, 1, 0); /* no checkpoint_s */
	put_as("tenant-v3", b, len, 3, 4);

	t.id = 42;
	strcpy(t.name, "globex.eu-1");
	strcpy(t.route, "ceph-east");
	strcpy(t.ns, "t42");
	t.state = TENANT_SUSPENDED;
	t.checkpoint_s = 0;
	check("tenant", tenant_rec_tenant_encode(&t, b, sizeof(b), &len));
	put("tenant-suspended-v2", b, len);
}

static void creds(void)
{
	struct tenant_cred c;
	uint8_t b[TENANT_REC_MAX];
	size_t len, i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < TENANT_PIN_LEN; i++)
		c.pin[i] = (uint8_t)(0x3c + 7 * i);
	c.tenant_id = 1;
	strcpy(c.site, "dc1");
	c.serial = 0x5eed0001;
	c.issued = 1717171717;
	c.not_after = 1717171717 + 825 * 86400ull;
	check("cred", tenant_rec_cred_encode(&c, b, sizeof(b), &len));
	put("cred-tenant-v2", b, len);
	put_as("cred-tenant-v1", b, len, 1, 0); /* unchanged in v2 */

	c.tenant_id = 0;
	c.operator_role = true;
	strcpy(c.site, "ops");
	check("cred", tenant_rec_cred_encode(&c, b, sizeof(b), &len));
	put("cred-operator-v2", b, len);
}

static void disks(void)
{
	struct tenant_disk d;
	uint8_t b[TENANT_REC_MAX];
	size_t len;

	memset(&d, 0, sizeof(d));
	d.id = 7;
	d.tenant_id = 1;
	strcpy(d.vm, "vm1");
	strcpy(d.name, "disk0");
	d.size = 10ull << 30;
	d.extent_size = 4u << 20;
	d.created = 1717171800;
	d.checkpoint_s = 60;
	d.snap_seq = 12;
	check("disk", tenant_rec_disk_encode(&d, b, sizeof(b), &len));
	put("disk-v2", b, len);
	put_as("disk-v1", b, len - 12, 1, 0); /* no checkpoint_s, snap_seq */
	put_as("disk-v3", b, len, 3, 8);
}

static void restore_points(void)
{
	struct tenant_rp rp;
	uint8_t b[TENANT_REC_MAX];
	size_t len;

	memset(&rp, 0, sizeof(rp));
	rp.disk_id = 7;
	rp.id = 3;
	rp.snap_id = 12;
	rp.created_ms = 1717171860123ull;
	rp.trigger = TENANT_RP_CHECKPOINT;
	rp.size = 10ull << 30;
	rp.bytes_changed = 48u << 20;
	check("rp", tenant_rec_rp_encode(&rp, b, sizeof(b), &len));
	put("rp-checkpoint-v2", b, len);

	rp.id = 4;
	rp.snap_id = 13;
	rp.trigger = TENANT_RP_MANUAL;
	rp.group = 9;
	strcpy(rp.name, "before-upgrade");
	check("rp", tenant_rec_rp_encode(&rp, b, sizeof(b), &len));
	put("rp-manual-group-v2", b, len);
}

static void requests(void)
{
	struct tenant_req q;
	uint8_t b[TENANT_REC_MAX];
	size_t len;

	memset(&q, 0, sizeof(q));
	q.id = 5;
	q.type = TENANT_REQ_RP_CREATE;
	q.state = TENANT_REQ_PENDING;
	q.created_ms = 1717171900000ull;
	q.tenant_id = 1;
	strcpy(q.vm, "vm1");
	strcpy(q.name, "nightly");
	check("req", tenant_rec_req_encode(&q, b, sizeof(b), &len));
	put("req-rp-create-v2", b, len);

	q.id = 6;
	q.type = TENANT_REQ_DISK_RESIZE;
	q.state = TENANT_REQ_FAILED;
	q.disk_id = 7;
	q.size = 20ull << 30;
	q.name[0] = '\0';
	q.error = -ENOSPC;
	strcpy(q.message, "pool full: no space left on device");
	check("req", tenant_rec_req_encode(&q, b, sizeof(b), &len));
	put("req-resize-failed-v2", b, len);
}

/* Audit entries: the chain is the last 64 bytes.  A "future" one has a
 * field this decoder does not know between the known fields and the
 * chain, where later versions add theirs. */
static void audit_entries(void)
{
	struct tenant_audit e;
	uint8_t b[TENANT_REC_MAX], f[TENANT_REC_MAX + 16];
	size_t len;

	memset(&e, 0, sizeof(e));
	e.seq = 12;
	e.time_ms = 1795672660252ull;
	strcpy(e.actor, "havenctl:alice(1000)");
	strcpy(e.tenant, "acme");
	strcpy(e.action, "cert.revoke");
	strcpy(e.result, "ok");
	strcpy(e.detail, "cert revoke acme --site hq pin=2e74d22c");
	memset(e.prev, 0x11, sizeof(e.prev));
	memset(e.hash, 0x22, sizeof(e.hash));
	check("audit", tenant_rec_audit_encode(&e, b, sizeof(b), &len));
	put("audit-revoke", b, len);
	memcpy(f, b, len - 64);
	memset(f + len - 64, 0xa5, 8);
	memcpy(f + len - 56, b + len - 64, 64);
	f[2] = (uint8_t)(len + 8);
	f[3] = (uint8_t)((len + 8) >> 8);
	put("audit-future", f, len + 8);

	memset(&e, 0, sizeof(e));
	e.seq = 1;
	e.time_ms = 1795672660000ull;
	strcpy(e.actor, "havend");
	strcpy(e.action, "auth.fail");
	strcpy(e.result, "refused");
	strcpy(e.detail, "peer=[::1]:4000 reason=no_client_certificate");
	check("audit", tenant_rec_audit_encode(&e, b, sizeof(b), &len));
	put("audit-first", b, len);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	routes();
	tenants();
	creds();
	disks();
	restore_points();
	requests();
	audit_entries();
	return failed;
}
