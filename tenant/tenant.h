/* haven tenant library: the catalog (LMDB), names, identities (the
 * gateway's CA, site certificates, SPKI pins).
 *
 * The catalog is one LMDB environment shared by havend and havenctl
 * (several processes).  Every read function runs a short read
 * transaction and copies results out; none holds a transaction across
 * calls.  Write functions run one write transaction each: either the whole
 * change is committed or nothing is.
 *
 * Errors: 0 or a negative errno.  -ENOENT not found, -EEXIST duplicate,
 * -EINVAL bad argument (e.g. an invalid name), -EBUSY refused because
 * something still depends on it, -EIO catalog corruption, -ENOSPC map full.
 */
#ifndef HAVEN_TENANT_H
#define HAVEN_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENANT_NAME_MAX 63 /* [a-z0-9][a-z0-9._-]{0,62}, no ".." */
#define TENANT_PATH_MAX 1024
#define TENANT_PIN_LEN 32 /* SHA-256 of the DER SubjectPublicKeyInfo */

/* ---- names.c ---- */

/* True when s is a valid tenant, site, VM, disk or route name. */
bool tenant_name_valid(const char *s);
/* Parses a size with an optional K/M/G/T suffix (powers of 1024) into
 * bytes.  -EINVAL on garbage, -ERANGE on overflow. */
int tenant_parse_size(const char *s, uint64_t *out);

/* ---- catalog.c ---- */

struct tenant_catalog;

#define TENANT_CATALOG_CREATE (1u << 0) /* create the environment */

/* Opens (or creates) the catalog in directory 'dir'. */
int tenant_catalog_open(const char *dir, unsigned flags,
			struct tenant_catalog **out);
void tenant_catalog_close(struct tenant_catalog *cat);

/* A counter bumped by every committed change; havend polls it to notice
 * havenctl's changes (revocations, removed disks) and then rechecks every
 * connection.  havend's own bookkeeping does not bump it: the ledger's
 * live bytes and alerts, saved allocation maps, measured usage, and the
 * audit trail. */
int tenant_catalog_generation(struct tenant_catalog *cat, uint64_t *gen);
/* Calls fn(arg) right after each committed change through this handle
 * (one that bumped the generation; not the bookkeeping above, not a
 * failed or rolled back write); fn NULL stops it.  havenctl rings
 * havend's doorbell from there. */
void tenant_catalog_on_change(struct tenant_catalog *cat, void (*fn)(void *arg),
			      void *arg);

struct tenant_route {
	char name[TENANT_NAME_MAX + 1];
	char type[16];			 /* "local", "memory", "rados" */
	char path[TENANT_PATH_MAX];	 /* local: object directory */
	char ceph_conf[TENANT_PATH_MAX]; /* rados */
	char pool[TENANT_NAME_MAX + 1];
	char client_id[TENANT_NAME_MAX + 1];
	char keyring[TENANT_PATH_MAX];
};

int tenant_route_add(struct tenant_catalog *cat, const struct tenant_route *r);
int tenant_route_get(struct tenant_catalog *cat, const char *name,
		     struct tenant_route *out);
int tenant_route_list(struct tenant_catalog *cat,
		      int (*cb)(const struct tenant_route *r, void *arg),
		      void *arg);

enum tenant_state {
	TENANT_ACTIVE = 0,
	TENANT_SUSPENDED = 1,
};

struct tenant_info {
	uint64_t id; /* assigned by tenant_add, never reused */
	char name[TENANT_NAME_MAX + 1];
	char route[TENANT_NAME_MAX + 1];
	char ns[TENANT_NAME_MAX + 1]; /* object namespace; default: the name */
	uint32_t state;		      /* enum tenant_state */
	uint64_t created;	      /* unix seconds */
	/* Appended in record version 2 (older records decode with 0). */
	uint32_t checkpoint_s; /* restore point interval; 0 = default 60 */
};

/* Adds a tenant; fills t->id and t->created.  The route must exist. */
int tenant_add(struct tenant_catalog *cat, struct tenant_info *t);
int tenant_get(struct tenant_catalog *cat, uint64_t id,
	       struct tenant_info *out);
int tenant_get_by_name(struct tenant_catalog *cat, const char *name,
		       struct tenant_info *out);
int tenant_list(struct tenant_catalog *cat,
		int (*cb)(const struct tenant_info *t, void *arg), void *arg);
/* Sets a tenant's state (suspend/resume).  -ENOENT if unknown. */
int tenant_set_state(struct tenant_catalog *cat, uint64_t id, uint32_t state);
/* Removes a tenant.  -EBUSY while it still has disks or credentials;
 * its id is never reused. */
int tenant_remove(struct tenant_catalog *cat, uint64_t id);

struct tenant_cred {
	uint8_t pin[TENANT_PIN_LEN];
	uint64_t tenant_id; /* 0 for an operator credential */
	bool operator_role;
	char site[TENANT_NAME_MAX + 1];
	uint64_t serial;    /* certificate serial number */
	uint64_t issued;    /* unix seconds */
	uint64_t not_after; /* unix seconds */
};

/* Records a credential pin.  -EEXIST if the pin is known, or if the
 * tenant already has a live credential for that site. */
int tenant_cred_add(struct tenant_catalog *cat, const struct tenant_cred *c);
/* -ENOENT when the pin is unknown or revoked. */
int tenant_cred_lookup(struct tenant_catalog *cat,
		       const uint8_t pin[TENANT_PIN_LEN],
		       struct tenant_cred *out);
int tenant_cred_list(struct tenant_catalog *cat,
		     int (*cb)(const struct tenant_cred *c, void *arg),
		     void *arg);
/* Deletes the pin (revocation).  -ENOENT if unknown. */
int tenant_cred_revoke(struct tenant_catalog *cat,
		       const uint8_t pin[TENANT_PIN_LEN]);

struct tenant_disk {
	uint64_t id; /* assigned by tenant_disk_add, never reused */
	uint64_t tenant_id;
	char vm[TENANT_NAME_MAX + 1];
	char name[TENANT_NAME_MAX + 1];
	uint64_t size;	      /* bytes */
	uint32_t extent_size; /* bytes, power of two */
	uint64_t created;     /* unix seconds */
	/* Appended in record version 2 (older records decode with 0). */
	uint32_t checkpoint_s; /* 0: the tenant's interval */
	uint64_t snap_seq;     /* newest snap id ever used by this disk */
};

/* Adds a disk; fills d->id and d->created.  -EEXIST if the tenant has a
 * disk VM/NAME already, -ENOENT if the tenant does not exist. */
int tenant_disk_add(struct tenant_catalog *cat, struct tenant_disk *d);
int tenant_disk_get(struct tenant_catalog *cat, uint64_t tenant_id,
		    const char *vm, const char *name, struct tenant_disk *out);
int tenant_disk_get_by_id(struct tenant_catalog *cat, uint64_t id,
			  struct tenant_disk *out);
/* tenant_id 0 lists every tenant's disks; ordered by tenant, vm, name. */
int tenant_disk_list(struct tenant_catalog *cat, uint64_t tenant_id,
		     int (*cb)(const struct tenant_disk *d, void *arg),
		     void *arg);
int tenant_disk_remove(struct tenant_catalog *cat, uint64_t id);

/* ---- identity.c ---- */

/* Files under a PKI directory. */
#define TENANT_PKI_CA_CERT "ca-cert.pem"
#define TENANT_PKI_CA_KEY "ca-key.pem"
#define TENANT_PKI_SERVER_CERT "server-cert.pem"
#define TENANT_PKI_SERVER_KEY "server-key.pem"
/* Files in a site bundle (the layout libnbd and qemu read). */
#define TENANT_BUNDLE_CA "ca-cert.pem"
#define TENANT_BUNDLE_CERT "client-cert.pem"
#define TENANT_BUNDLE_KEY "client-key.pem"

/* Creates the CA (EC P-256, 10 years) and a server certificate (EC P-256,
 * 2 years) whose SANs are localhost, 127.0.0.1, ::1, the host name and
 * every extra name and address given.  Key files get mode 0600.
 * -EEXIST if the CA already exists. */
int tenant_pki_init(const char *pki_dir, const char *const *hostnames,
		    size_t nhostnames, const char *const *ips, size_t nips);

/* Issues a client certificate (EC P-256, 'days' valid) signed by the CA
 * in pki_dir, with subject CN=cn, O=org, and writes the bundle into
 * out_dir (created if missing; refuses -EEXIST if it holds a bundle).
 * Returns the SPKI pin, the serial and the expiry. */
int tenant_pki_issue(const char *pki_dir, const char *cn, const char *org,
		     unsigned days, const char *out_dir,
		     uint8_t pin[TENANT_PIN_LEN], uint64_t *serial,
		     uint64_t *not_after);

/* SHA-256 over i2d_X509_PUBKEY() of an X509 certificate (an X509 *). */
int tenant_spki_pin(const void *x509, uint8_t pin[TENANT_PIN_LEN]);
/* Lower-case hex of a pin into buf (at least 2*TENANT_PIN_LEN+1 bytes). */
void tenant_pin_hex(const uint8_t pin[TENANT_PIN_LEN], char *buf);
/* Parses a pin in hex.  -EINVAL unless exactly 64 hex digits. */
int tenant_pin_parse(const char *hex, uint8_t pin[TENANT_PIN_LEN]);

/* ---- catalog-rp.c: settings, restore points, snap ids, requests ---- */

#define TENANT_CHECKPOINT_DEFAULT 60 /* seconds */
#define TENANT_CHECKPOINT_MIN 5

/* Sets a tenant's restore point interval (seconds, >= MIN, or 0 for the
 * default), or a disk's override (0 = inherit).  -EINVAL below MIN. */
int tenant_set_checkpoint(struct tenant_catalog *cat, uint64_t tenant_id,
			  uint32_t seconds);
int tenant_disk_set_checkpoint(struct tenant_catalog *cat, uint64_t disk_id,
			       uint32_t seconds);
/* Grows a disk.  -EINVAL if new_size is not larger or not a multiple of
 * 512. */
int tenant_disk_resize(struct tenant_catalog *cat, uint64_t disk_id,
		       uint64_t new_size);

enum tenant_rp_trigger {
	TENANT_RP_CHECKPOINT = 1,  /* first FLUSH after the interval */
	TENANT_RP_SESSION_END = 2, /* a replication session that wrote ended */
	TENANT_RP_MANUAL = 3,	   /* havenctl rp create */
};

/* A restore point: a crash-consistent image of a disk, kept as a
 * self-managed snapshot 'snap_id' of the disk's route. */
struct tenant_rp {
	uint64_t disk_id;
	uint64_t id;		/* per disk, 1, 2, ...; assigned by rp_add */
	uint64_t snap_id;	/* backend snap id (pool-wide) */
	uint64_t created_ms;	/* unix milliseconds */
	uint32_t trigger;	/* enum tenant_rp_trigger */
	uint64_t size;		/* disk size when cut */
	uint64_t bytes_changed; /* since the previous restore point */
	uint64_t group;		/* consistency group id (same for all disks cut
				 * together), 0 if cut alone */
	char name[TENANT_NAME_MAX + 1]; /* optional, unique per disk */
	/* Appended in record version 3 (older records decode with 0). */
	uint32_t pins; /* holders: 1 per `rp pin`, 1 per running test */
};

/* Records a restore point and its allocation map (one bit per extent,
 * LSB first, map_len bytes; may be NULL/0), raises the disk's snap_seq to
 * rp->snap_id and removes snap_id from the route's snap pool, all in one
 * transaction.  Fills rp->id.  -EEXIST if the name is taken. */
int tenant_rp_add(struct tenant_catalog *cat, const char *route,
		  struct tenant_rp *rp, const uint8_t *map, size_t map_len);
/* Oldest first. */
int tenant_rp_list(struct tenant_catalog *cat, uint64_t disk_id,
		   int (*cb)(const struct tenant_rp *rp, void *arg), void *arg);
int tenant_rp_get(struct tenant_catalog *cat, uint64_t disk_id, uint64_t rp_id,
		  struct tenant_rp *out);
/* Resolves "latest", a decimal id or a name. */
int tenant_rp_find(struct tenant_catalog *cat, uint64_t disk_id,
		   const char *spec, struct tenant_rp *out);
/* Copies the allocation map out: *map is malloc'ed (free it). */
int tenant_rp_map(struct tenant_catalog *cat, uint64_t disk_id, uint64_t rp_id,
		  uint8_t **map, size_t *map_len);
/* Removes the record and its map; returns it in *out so the caller can
 * release rp.snap_id after checking tenant_snap_owner(). */
int tenant_rp_remove(struct tenant_catalog *cat, uint64_t disk_id,
		     uint64_t rp_id, struct tenant_rp *out);
/* Which disk and restore point own a snap id of a route (snap ids are
 * pool-wide, so only the catalog can say).  -ENOENT if none. */
int tenant_snap_owner(struct tenant_catalog *cat, const char *route,
		      uint64_t snap_id, uint64_t *disk_id, uint64_t *rp_id);

/* Snap ids allocated ahead of time and not used yet, per route; kept in
 * the catalog so a restart can release them. */
int tenant_snap_pool_add(struct tenant_catalog *cat, const char *route,
			 uint64_t snap_id);
int tenant_snap_pool_remove(struct tenant_catalog *cat, const char *route,
			    uint64_t snap_id);
/* Ascending snap id order. */
int tenant_snap_pool_list(struct tenant_catalog *cat, const char *route,
			  int (*cb)(uint64_t snap_id, void *arg), void *arg);

/* Requests from havenctl to a running havend (which owns the snap
 * context of open disks).  havend polls the generation, runs pending
 * requests and marks them done; havenctl waits for that. */
enum tenant_req_type {
	TENANT_REQ_RP_CREATE = 1,   /* disk_id, or every disk of tenant_id/vm */
	TENANT_REQ_RP_REMOVE = 2,   /* disk_id, rp_id */
	TENANT_REQ_DISK_RESIZE = 3, /* disk_id, size */
	TENANT_REQ_TEST_START = 4,  /* tenant_id, vm, rp spec in name */
	TENANT_REQ_TEST_STOP = 5,   /* rp_id = failover test id, name = note */
	TENANT_REQ_PROMOTE = 6,	    /* tenant_id, vm, rp spec in name */
};

enum tenant_req_state {
	TENANT_REQ_PENDING = 0,
	TENANT_REQ_DONE = 1,
	TENANT_REQ_FAILED = 2,
};

#define TENANT_REQ_NAME_MAX 199

struct tenant_req {
	uint64_t id; /* assigned by req_add */
	uint32_t type;
	uint32_t state;
	uint64_t created_ms;
	uint64_t tenant_id;
	char vm[TENANT_NAME_MAX + 1];
	uint64_t disk_id; /* 0 with RP_CREATE: every disk of the VM */
	uint64_t rp_id;
	uint64_t size;
	/* A restore point's name, or the note of a test stop (up to
	 * TENANT_REQ_NAME_MAX bytes; records hold it length-prefixed). */
	char name[TENANT_REQ_NAME_MAX + 1];
	int32_t error;	   /* -errno when FAILED */
	char message[200]; /* result for the operator */
};

int tenant_req_add(struct tenant_catalog *cat, struct tenant_req *r);
int tenant_req_get(struct tenant_catalog *cat, uint64_t id,
		   struct tenant_req *out);
/* Pending requests, oldest first. */
int tenant_req_list_pending(struct tenant_catalog *cat,
			    int (*cb)(const struct tenant_req *r, void *arg),
			    void *arg);
/* Sets state, error and message of a request. */
int tenant_req_finish(struct tenant_catalog *cat, const struct tenant_req *r);
int tenant_req_remove(struct tenant_catalog *cat, uint64_t id);

/* ---- retention.c: retention ladder, immutability (pure functions) ---- */

#define TENANT_RETENTION_MAX_TIERS 8
#define TENANT_RP_CAP_DEFAULT 256

enum tenant_tier_every {
	TENANT_EVERY_ALL = 0, /* keep every restore point */
	TENANT_EVERY_HOURLY = 3600,
	TENANT_EVERY_DAILY = 86400,
	TENANT_EVERY_WEEKLY = 7 * 86400,
	TENANT_EVERY_MONTHLY = 30 * 86400,
};

/* A ladder like "1h:all,1d:hourly,30d:daily,1y:monthly": restore points
 * younger than tiers[0].age_s are all kept; younger than tiers[1].age_s,
 * the newest of each hour; and so on.  Older than the last tier: gone. */
struct tenant_retention {
	unsigned ntiers; /* 0: keep everything (only the cap applies) */
	struct {
		uint64_t age_s;
		uint32_t every_s; /* enum tenant_tier_every */
	} tiers[TENANT_RETENTION_MAX_TIERS];
	uint32_t cap; /* restore points per disk; 0: TENANT_RP_CAP_DEFAULT */
};

/* Parses a ladder ("" or "none" = keep all).  Ages take s/m/h/d/w/y
 * suffixes; every is all, hourly, daily, weekly or monthly.  Tiers must
 * grow in age and in spacing.  -EINVAL with a reason in err. */
int tenant_retention_parse(const char *s, struct tenant_retention *out,
			   char *err, size_t errlen);
/* The canonical text of a ladder, e.g. "1h:all,1d:hourly". */
void tenant_retention_format(const struct tenant_retention *r, char *buf,
			     size_t len);

/* What the policy says of one restore point at time now_ms. */
struct tenant_rp_fate {
	bool keep;
	int tier;	     /* index of the tier keeping it, -1 if none */
	uint64_t expires_ms; /* when the policy lets it go (0: never) */
	bool immutable;	     /* inside the immutability window */
	uint64_t immutable_until_ms;
	bool pinned;
};

/* Applies a policy to a disk's restore points (oldest first, as
 * tenant_rp_list gives them) and fills one fate per point.  Pure: time is
 * an input.  Pinned and immutable points are always kept; the cap drops
 * the oldest unprotected points first; the newest point is always kept. */
void tenant_retention_plan(const struct tenant_retention *policy,
			   uint32_t immutable_days, const struct tenant_rp *rps,
			   size_t n, uint64_t now_ms,
			   struct tenant_rp_fate *fates);

/* ---- catalog: policies, pins, failover tests and failovers ---- */

/* Tenant defaults and disk overrides, stored as the canonical text.
 * A disk with an empty policy follows its tenant. */
int tenant_set_retention(struct tenant_catalog *cat, uint64_t tenant_id,
			 const char *policy, uint32_t immutable_days);
int tenant_get_retention(struct tenant_catalog *cat, uint64_t tenant_id,
			 char *policy, size_t len, uint32_t *immutable_days);
int tenant_disk_set_retention(struct tenant_catalog *cat, uint64_t disk_id,
			      const char *policy);
int tenant_disk_get_retention(struct tenant_catalog *cat, uint64_t disk_id,
			      char *policy, size_t len);

/* Adds (delta +1) or drops (delta -1) a holder of a restore point.
 * -ENOENT unknown, -EINVAL dropping below 0. */
int tenant_rp_pin(struct tenant_catalog *cat, uint64_t disk_id, uint64_t rp_id,
		  int delta);

/* tenant_rp_remove (and so disk and tenant removal) refuses a pinned
 * restore point with -EBUSY and one inside its tenant's immutability
 * window with -EPERM; tenant_rp_immutable_until() says until when. */
int tenant_rp_immutable_until(struct tenant_catalog *cat, uint64_t disk_id,
			      uint64_t rp_id, uint64_t *until_ms);

enum tenant_test_state {
	TENANT_TEST_RUNNING = 1,
	TENANT_TEST_STOPPED = 2,
	TENANT_TEST_FAILED = 3,
};

/* A DR test failover of one VM: a writable clone of each disk at one
 * restore point, exported to operators, while replication goes on. */
struct tenant_test {
	uint64_t id; /* assigned by test_add */
	uint64_t tenant_id;
	char vm[TENANT_NAME_MAX + 1];
	uint32_t state; /* enum tenant_test_state */
	uint64_t started_ms, stopped_ms;
	uint64_t rp_created_ms; /* the restore point's time: RPO achieved =
				 * started_ms - rp_created_ms */
	uint64_t bytes_written; /* by the test, filled at stop */
	uint32_t ndisks;
	struct {
		uint64_t disk_id;
		uint64_t rp_id;
		uint64_t clone_id; /* names the clone's objects, like a disk id
				    * (allocated from the disk id counter) */
	} disks[16];
	char note[200];
};

/* Records a test and pins its restore points in one transaction; fills
 * id and each clone_id. */
int tenant_test_add(struct tenant_catalog *cat, struct tenant_test *t);
int tenant_test_get(struct tenant_catalog *cat, uint64_t id,
		    struct tenant_test *out);
int tenant_test_list(struct tenant_catalog *cat,
		     int (*cb)(const struct tenant_test *t, void *arg),
		     void *arg);
/* Marks a test stopped (state, stopped_ms, bytes_written, note) and
 * unpins its restore points in one transaction. */
int tenant_test_finish(struct tenant_catalog *cat, const struct tenant_test *t);

/* A failover: the VM's replication is stopped and its disks are served
 * (to operators) from writable clones of one restore point. */
struct tenant_failover {
	uint64_t tenant_id;
	char vm[TENANT_NAME_MAX + 1];
	uint64_t promoted_ms;
	uint32_t ndisks;
	struct {
		uint64_t disk_id;
		uint64_t rp_id;
		uint64_t clone_id;
	} disks[16];
};

/* One failover per VM: -EEXIST if the VM is failed over already.  Pins
 * the restore points; fills each clone_id. */
int tenant_failover_add(struct tenant_catalog *cat, struct tenant_failover *f);
/* -ENOENT when the VM is not failed over. */
int tenant_failover_get(struct tenant_catalog *cat, uint64_t tenant_id,
			const char *vm, struct tenant_failover *out);

/* ---- additions: limits and details of the declarations above ---- */

/* Canonical ladder text, NUL included ("none" when it keeps all).  The
 * cap is written as a last item "cap=N" and parsed as one. */
#define TENANT_RETENTION_TEXT_MAX 200
/* The longest immutability window (about a hundred years). */
#define TENANT_IMMUTABLE_DAYS_MAX 36500

/* tenant_get_retention() gives "none" for a tenant that never set a
 * ladder; tenant_disk_get_retention() gives "" for a disk that follows
 * its tenant.  tenant_rp_immutable_until() gives the end of the window
 * under the tenant's current immutable_days (0 when it has none); the
 * point is immutable while that is later than now.  tenant_test_add()
 * and tenant_failover_add() check that every disk belongs to the VM and
 * every restore point exists; tenant_rp_pin(-1) refuses (-EBUSY) to drop
 * a holder that a running test or a failover accounts for. */

/* ---- catalog-limits.c: quotas, bandwidth, lifecycle ---- */

/* A tenant's limits; 0 means unlimited for every field. */
struct tenant_limits {
	uint64_t max_provisioned; /* bytes: sum of disk sizes */
	uint64_t max_stored;	  /* bytes: live data + history + clones */
	uint32_t max_disks;
	uint32_t max_sessions; /* concurrent NBD sessions */
	uint64_t bandwidth;    /* bytes per second, all connections */
	uint32_t weight;       /* share of the backend when it is busy;
				* 0 = 1 */
	uint64_t lease_until;  /* unix seconds; then suspended */
};

int tenant_set_limits(struct tenant_catalog *cat, uint64_t tenant_id,
		      const struct tenant_limits *l);
int tenant_get_limits(struct tenant_catalog *cat, uint64_t tenant_id,
		      struct tenant_limits *out);
/* A disk's own bandwidth limit (bytes/s; 0 = none). */
int tenant_disk_set_bandwidth(struct tenant_catalog *cat, uint64_t disk_id,
			      uint64_t bandwidth);
int tenant_disk_get_bandwidth(struct tenant_catalog *cat, uint64_t disk_id,
			      uint64_t *bandwidth);

/* Stored bytes as havend last measured them (one ledger per tenant:
 * live extents + restore point history + clones), for quota checks and
 * `tenant show`. */
int tenant_set_usage(struct tenant_catalog *cat, uint64_t tenant_id,
		     uint64_t stored_bytes, uint64_t measured_ms);
int tenant_get_usage(struct tenant_catalog *cat, uint64_t tenant_id,
		     uint64_t *stored_bytes, uint64_t *measured_ms);

/* Details of the declarations above.  A tenant that never had limits set
 * gets all zeros (unlimited) from tenant_get_limits(); an unknown tenant
 * or disk is -ENOENT for every function here.  tenant_set_limits()
 * refuses a weight above TENANT_WEIGHT_MAX (-EINVAL) and accepts limits
 * below the current usage: a quota only blocks growth, so lowering
 * max_provisioned under what is provisioned refuses the next disk add or
 * resize and leaves the existing disks alone.  tenant_disk_add() and
 * tenant_disk_resize() refuse (-EDQUOT, nothing changed) what would take
 * the tenant's provisioned bytes above max_provisioned or its disk count
 * above max_disks.  tenant_get_usage() gives 0 and 0 when havend never
 * measured the tenant.  Removing a tenant or a disk drops its records. */
#define TENANT_WEIGHT_MAX 1000

/* ---- catalog-ledger.c: stored bytes ---- */

/* What a disk costs in the store, as the catalog knows it: live bytes as
 * havend last counted them (at each restore point, each retention pass
 * and when the disk closes), history = the clones its restore points
 * keep (exact per extent, kept up to date by every cut and removal), and
 * the alert state `disk show` reports. */
enum tenant_alert {
	TENANT_ALERT_NONE = 0,
	/* Writes are refused with ENOSPC: accepting them would need more
	 * than the tenant's stored-bytes quota, and history is never
	 * dropped early to make room. */
	TENANT_ALERT_QUOTA_FULL = 1,
};

struct tenant_ledger {
	uint64_t live;
	uint64_t history;
	uint32_t alert;	   /* enum tenant_alert */
	uint64_t alert_ms; /* when the alert was raised */
};

int tenant_disk_get_ledger(struct tenant_catalog *cat, uint64_t disk_id,
			   struct tenant_ledger *out);
int tenant_disk_set_live(struct tenant_catalog *cat, uint64_t disk_id,
			 uint64_t live);
int tenant_disk_set_alert(struct tenant_catalog *cat, uint64_t disk_id,
			  uint32_t alert, uint64_t when_ms);
/* The live bytes of a test or failover clone (its objects), dropped when
 * the test stops. */
int tenant_clone_set_live(struct tenant_catalog *cat, uint64_t clone_id,
			  uint64_t live);
/* The tenant's stored bytes: every disk's history, plus the live bytes of
 * each disk and of each clone of a running test or failover for which
 * is_open (may be NULL) says false (the caller counts open disks and
 * clones itself, from memory). */
int tenant_stored_bytes(struct tenant_catalog *cat, uint64_t tenant_id,
			bool (*is_open)(uint64_t disk_id, void *arg), void *arg,
			uint64_t *bytes);
/* The live disk's allocation map (storage_disk_map() format) saved when
 * havend closed it cleanly: save it at close, take it (read and delete in
 * one transaction, -ENOENT if there is none) at the next open, so that a
 * crash while the disk is open never leaves a stale map behind. */
int tenant_disk_save_map(struct tenant_catalog *cat, uint64_t disk_id,
			 const uint8_t *map, size_t len);
int tenant_disk_take_map(struct tenant_catalog *cat, uint64_t disk_id,
			 uint8_t **map, size_t *len);
/* tenant_rp_add() with the clones made since the previous restore point
 * (storage_disk_ledger_cut()), recorded with it in the same transaction. */
int tenant_rp_add_cut(struct tenant_catalog *cat, const char *route,
		      struct tenant_rp *rp, const uint8_t *map, size_t map_len,
		      const uint8_t *clones, size_t clones_len);

/* Provisioned bytes (the sum of the tenant's disk sizes) and its number
 * of disks, counted in one read transaction. */
int tenant_get_provisioned(struct tenant_catalog *cat, uint64_t tenant_id,
			   uint64_t *bytes, uint32_t *ndisks);

/* ---- catalog-audit.c: the audit trail ---- */

/* An append-only, hash-chained log of administrative changes and of
 * authentication failures, kept in the catalog.  Every entry carries the
 * SHA-256 of its predecessor (prev) and its own hash over its canonical
 * encoding, prev included; a head record (count and hash of the newest
 * entry) makes a cut-off tail visible too.  Nothing in the library ever
 * rewrites or deletes an entry. */
#define TENANT_AUDIT_HASH_LEN 32
#define TENANT_AUDIT_ACTOR_MAX 127
#define TENANT_AUDIT_ACTION_MAX 63
#define TENANT_AUDIT_RESULT_MAX 15
#define TENANT_AUDIT_DETAIL_MAX 1023

struct tenant_audit {
	uint64_t seq;	  /* 1, 2, ...; assigned when appended */
	uint64_t time_ms; /* unix milliseconds; 0: now, when appended */
	char actor[TENANT_AUDIT_ACTOR_MAX + 1];	  /* "havenctl:alice(1000)" */
	char tenant[TENANT_NAME_MAX + 1];	  /* "" when none */
	char action[TENANT_AUDIT_ACTION_MAX + 1]; /* "tenant.add" */
	char result[TENANT_AUDIT_RESULT_MAX + 1]; /* "ok", "refused" */
	char detail[TENANT_AUDIT_DETAIL_MAX + 1];
	uint8_t prev[TENANT_AUDIT_HASH_LEN]; /* zeros for entry 1 */
	uint8_t hash[TENANT_AUDIT_HASH_LEN];
};

/* s holds the first bytes of a text of 'whole' bytes, as many as fit in
 * its cap bytes.  When the text did not fit, ends s in "... (N more
 * bytes)", N counting all that is not shown, so that an auditor can tell
 * an entry does not hold all of it.  The cut falls between two UTF-8
 * characters: half of one would make the entry invalid for `havenctl
 * audit --json`. */
void tenant_audit_cut(char *s, size_t cap, size_t whole);

/* Appends one entry in a transaction of its own; fills seq, time_ms (if
 * 0), prev and hash.  Does not bump the generation. */
int tenant_audit_append(struct tenant_catalog *cat, struct tenant_audit *e);
/* Makes the next write of this handle that changes something (any write
 * function of tenant.h) append e in the same transaction, so the change
 * and its entry are committed together or not at all; *appended becomes
 * true when that transaction committed.  e and appended are borrowed:
 * they must outlive the handle or a later attach (NULL detaches). */
void tenant_audit_attach(struct tenant_catalog *cat, struct tenant_audit *e,
			 bool *appended);

/* Entries at or after since_ms (0: all), of one tenant (NULL: all). */
struct tenant_audit_filter {
	uint64_t since_ms;
	const char *tenant;
};

/* Oldest first (by seq); cb runs after the read transaction ended. */
int tenant_audit_list(struct tenant_catalog *cat,
		      const struct tenant_audit_filter *f,
		      int (*cb)(const struct tenant_audit *e, void *arg),
		      void *arg);

/* What tenant_audit_verify() found.  ok false: bad_seq names the first
 * entry that is wrong or missing (count + 1 when the tail was cut off)
 * and why says what is wrong with it. */
struct tenant_audit_check {
	bool ok;
	uint64_t count; /* entries checked */
	uint8_t head[TENANT_AUDIT_HASH_LEN];
	uint64_t bad_seq;
	char why[200];
};

/* Walks the whole chain.  0 when it could check (see out->ok), or a
 * negative errno when the catalog could not be read. */
int tenant_audit_verify(struct tenant_catalog *cat,
			struct tenant_audit_check *out);

#endif
