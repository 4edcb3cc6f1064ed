/* Internal to the tenant library: the catalog's storage layer, shared by
 * catalog-ops.c, catalog-rp.c, catalog-req.c, catalog-dr.c,
 * catalog-limits.c and catalog-audit.c.
 *
 * catalog.c is the only file that includes <lmdb.h> (design rule), so
 * everything the other catalog files need from LMDB comes through here:
 * an opaque transaction, named databases by enum, and get/put/del/scan on
 * byte keys, all returning 0 or a negative errno.
 *
 * Values handed out (struct tenant_val, scan callbacks) point into the
 * memory map: they are valid only until the transaction ends or the next
 * write in it, and they are not aligned.  Decode them, never cast them.
 */
#ifndef HAVEN_TENANT_INT_H
#define HAVEN_TENANT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenant.h"

/* Named databases; the key layouts are described in catalog.c. */
enum tenant_db {
	TENANT_DB_META,
	TENANT_DB_ROUTES,
	TENANT_DB_TENANTS,
	TENANT_DB_TENANT_BY_NAME,
	TENANT_DB_CREDS,
	TENANT_DB_DISKS,
	TENANT_DB_DISK_BY_ID,
	/* Schema 2. */
	TENANT_DB_RPS,
	TENANT_DB_RP_MAPS,
	TENANT_DB_SNAPS,
	TENANT_DB_SNAP_POOL,
	TENANT_DB_REQS,
	/* Schema 3. */
	TENANT_DB_POLICIES,
	TENANT_DB_TESTS,
	TENANT_DB_FAILOVERS,
	/* Schema 4. */
	TENANT_DB_LIMITS,
	/* Schema 4 too, created by the first open of a binary that knows it
	 * (see catalog.c). */
	TENANT_DB_AUDIT,
	TENANT_DB_COUNT
};

/* A transaction of one catalog; lives only inside tenant_cat_read() and
 * tenant_cat_write(). */
struct tenant_txn;

struct tenant_val {
	const void *data;
	size_t len;
};

typedef int (*tenant_txn_fn)(struct tenant_txn *txn, void *arg);

/* Runs fn in one write transaction and bumps the generation in it; a
 * non-zero result of fn aborts everything fn wrote. */
int tenant_cat_write(struct tenant_catalog *cat, tenant_txn_fn fn, void *arg);
/* The same without bumping the generation and without the attached audit
 * entry (tenant_audit_attach): for the audit log's own appends and for
 * havend's bookkeeping (ledger figures, quota alerts, saved allocation
 * maps, usage), which change nothing a connection check or admission
 * reads; havend reacts to a generation move by rechecking every
 * connection. */
int tenant_cat_write_nogen(struct tenant_catalog *cat, tenant_txn_fn fn,
			   void *arg);
/* Runs fn in a short read transaction. */
int tenant_cat_read(struct tenant_catalog *cat, tenant_txn_fn fn, void *arg);

#define TENANT_DB_NOOVERWRITE (1u << 0) /* put: -EEXIST if the key exists */

int tenant_db_get(struct tenant_txn *txn, enum tenant_db db, const void *key,
		  size_t klen, struct tenant_val *val);
int tenant_db_put(struct tenant_txn *txn, enum tenant_db db, const void *key,
		  size_t klen, const void *val, size_t vlen, unsigned flags);
/* -ENOENT if the key does not exist. */
int tenant_db_del(struct tenant_txn *txn, enum tenant_db db, const void *key,
		  size_t klen);

/* Calls cb for every record whose key starts with prefix (every record
 * when plen is 0), in key order.  A non-zero result of cb stops the scan
 * and is returned; callers that only want to stop return a positive
 * value.  cb must not write to the transaction. */
typedef int (*tenant_scan_fn)(const struct tenant_val *key,
			      const struct tenant_val *val, void *arg);
int tenant_db_scan(struct tenant_txn *txn, enum tenant_db db,
		   const void *prefix, size_t plen, tenant_scan_fn cb,
		   void *arg);

/* The record with the largest key of a database: -ENOENT when empty. */
int tenant_db_last(struct tenant_txn *txn, enum tenant_db db,
		   struct tenant_val *key, struct tenant_val *val);

/* 1 if some key starts with prefix, 0 if none, or a negative errno. */
int tenant_db_any(struct tenant_txn *txn, enum tenant_db db, const void *prefix,
		  size_t plen);

/* A growable array of decoded records of 'size' bytes each; the caller
 * sets size, then frees items. */
struct tenant_vec {
	void *items;
	size_t n;
	size_t cap;
	size_t size;
};

/* Decodes one record into out (size bytes).  TENANT_SKIP leaves the
 * record out of the collection. */
#define TENANT_SKIP 1
typedef int (*tenant_decode_fn)(const struct tenant_val *key,
				const struct tenant_val *val, void *out);

/* Gets one record by its exact key and decodes it into out. */
int tenant_db_get_rec(struct tenant_txn *txn, enum tenant_db db,
		      const void *key, size_t klen, tenant_decode_fn decode,
		      void *out);
/* The same in its own read transaction. */
int tenant_cat_get(struct tenant_catalog *cat, enum tenant_db db,
		   const void *key, size_t klen, tenant_decode_fn decode,
		   void *out);

/* Copies every record under prefix out of the transaction into v. */
int tenant_db_collect(struct tenant_txn *txn, enum tenant_db db,
		      const void *prefix, size_t plen, tenant_decode_fn decode,
		      struct tenant_vec *v);
/* The same in its own read transaction.  Lists use it so that callbacks
 * run after the transaction ended: a callback may call back into the
 * catalog (even write) and never holds a reader slot while it works. */
int tenant_cat_collect(struct tenant_catalog *cat, enum tenant_db db,
		       const void *prefix, size_t plen, tenant_decode_fn decode,
		       struct tenant_vec *v);

/* u64 values of the meta database (little-endian), by byte key. */
int tenant_meta_get(struct tenant_txn *txn, const void *key, size_t klen,
		    uint64_t *v);
int tenant_meta_put(struct tenant_txn *txn, const void *key, size_t klen,
		    uint64_t v);
/* Takes the next value of a catalog-wide id counter and advances it; a
 * missing counter is corruption (-EIO). */
int tenant_meta_next_id(struct tenant_txn *txn, const char *name, uint64_t *id);

/* ---- catalog-ops.c: records other files change in place ---- */

int tenant_txn_tenant_get(struct tenant_txn *txn, uint64_t id,
			  struct tenant_info *out);
int tenant_txn_tenant_put(struct tenant_txn *txn, const struct tenant_info *t);
int tenant_txn_disk_get(struct tenant_txn *txn, uint64_t id,
			struct tenant_disk *out);
/* Rewrites an existing disk's record (found by d->id). */
int tenant_txn_disk_put(struct tenant_txn *txn, const struct tenant_disk *d);

/* ---- catalog-rp.c ---- */

/* Called by disk removal: -EBUSY while the disk has restore points (their
 * snap ids must be released first), otherwise drops the disk's restore
 * point counter. */
int tenant_txn_rp_forget_disk(struct tenant_txn *txn, uint64_t disk_id);
/* A restore point record by its key, and its rewrite in place (pins). */
int tenant_txn_rp_get(struct tenant_txn *txn, uint64_t disk_id, uint64_t rp_id,
		      struct tenant_rp *out);
int tenant_txn_rp_put(struct tenant_txn *txn, const struct tenant_rp *rp);

/* ---- catalog-dr.c ---- */

/* Why a restore point may not be removed now: -EPERM inside its tenant's
 * immutability window, -EBUSY while pinned, else 0. */
int tenant_txn_rp_removable(struct tenant_txn *txn, const struct tenant_disk *d,
			    const struct tenant_rp *rp, uint64_t now_ms);
/* Drops the policy of a tenant ('t') or a disk ('d') that is removed. */
int tenant_txn_policy_forget(struct tenant_txn *txn, char kind, uint64_t id);

/* ---- catalog-limits.c ---- */

/* Refuses (-EDQUOT) a change of the tenant's provisioned bytes from
 * old_size to new_size of one disk (old_size 0 and new_disk for a disk
 * being added) that would pass max_provisioned or max_disks.  Called
 * inside disk add and resize, before they write. */
int tenant_txn_quota_check(struct tenant_txn *txn, uint64_t tenant_id,
			   uint64_t old_size, uint64_t new_size, bool new_disk);
/* Drops the limits and usage of a tenant ('t') or the bandwidth of a disk
 * ('d') that is removed. */
int tenant_txn_limits_forget(struct tenant_txn *txn, char kind, uint64_t id);
/* catalog-ledger.c: clone maps follow restore points (see there). */
int tenant_txn_clones_add(struct tenant_txn *txn, uint64_t disk_id,
			  uint64_t new_rp_id, uint32_t extent_size,
			  const uint8_t *clones, size_t len);
int tenant_txn_clones_release(struct tenant_txn *txn, uint64_t disk_id,
			      uint64_t rp_id, uint32_t extent_size);
int tenant_txn_ledger_forget(struct tenant_txn *txn, uint64_t disk_id);

/* ---- catalog-audit.c ---- */

/* Appends e to the audit log inside txn: fills seq, time_ms (when 0),
 * prev and hash, and moves the head. */
int tenant_txn_audit_append(struct tenant_txn *txn, struct tenant_audit *e);

#endif
