/* haven storage library: object stores shaped like RADOS, and the disk
 * layer that maps block requests onto extent objects.
 *
 * Threads.  The library never owns an event loop.  Backends finish object
 * operations on threads of their own (librados callbacks, the local
 * backend's worker threads) and hand every finished operation to the
 * embedder through storage_env.post().  The embedder brings the
 * completion back to its own thread (havend: a queue plus one uv_async_t)
 * and calls storage_complete() there.  Everything else in this header,
 * the disk layer included, is called on that one owner thread.
 *
 * Errors.  Every function returns 0 or a negative errno.
 */
#ifndef HAVEN_STORAGE_H
#define HAVEN_STORAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The snap id that means "the live object" (LIBRADOS_SNAP_HEAD). */
#define STORAGE_SNAP_HEAD UINT64_C(0xfffffffffffffffe)

#define STORAGE_EXTENT_SIZE_DEFAULT (UINT32_C(4) << 20)
#define STORAGE_OID_MAX 96

/* A finished operation travels back to the owner thread through this
 * intrusive node.  'fn' is called by storage_complete(). */
struct storage_completion {
	struct storage_completion *next;
	void (*fn)(struct storage_completion *c);
};

/* Supplied by the embedder.  post() may be called from any thread, any
 * number of times concurrently; it must arrange for storage_complete(c)
 * to run later on the owner thread.  It must not call it inline. */
struct storage_env {
	void (*post)(void *ctx, struct storage_completion *c);
	void *ctx;
};

/* Runs a posted completion; call on the owner thread. */
void storage_complete(struct storage_completion *c);

/* Where a store lives.  Strings are borrowed for the duration of
 * storage_store_open(), which copies what it keeps. */
struct storage_route {
	const char *type;      /* "local", "memory" or "rados" */
	const char *path;      /* local: root directory of the objects */
	const char *ceph_conf; /* rados: ceph.conf path */
	const char *pool;      /* rados: pool name */
	const char *client_id; /* rados: cephx id ("admin" if NULL) */
	const char *keyring;   /* rados: keyring path or NULL */
	/* rados: client settings; 0 keeps the backend's default (in
	 * parentheses).  The throttle must stay above what the embedder
	 * keeps in flight, or submissions block. */
	unsigned op_timeout;	 /* rados_osd_op_timeout, s (120) */
	unsigned mon_op_timeout; /* rados_mon_op_timeout, s (30) */
	unsigned mount_timeout;	 /* client_mount_timeout, s (10) */
	uint64_t inflight_ops;	 /* objecter_inflight_ops (65536) */
	uint64_t inflight_bytes; /* objecter_inflight_op_bytes (4 GiB) */
	/* Tests only: wraps the backend in the fault injector (fault.c),
	 * which follows the rules in this file, re-read whenever it changes.
	 * NULL: no wrapper.  fault_log (may be NULL) gets one line per load
	 * or refusal of the file; error is true for a refused file. */
	const char *fault_file;
	void (*fault_log)(bool error, const char *msg);
};

struct storage_store;
struct storage_disk;

/* Opens a store for a route.  The env is copied.  -ENOENT for an
 * unknown type, -ENOTSUP for "rados" in a build without librados. */
int storage_store_open(const struct storage_route *route,
		       const struct storage_env *env,
		       struct storage_store **out);
/* All disks of the store must be closed first. */
void storage_store_close(struct storage_store *st);

/* A blocking env for programs without a loop (havenctl, unit tests):
 * storage_sync_wait() runs posted completions on the calling thread until
 * *done becomes true. */
struct storage_sync;
int storage_sync_new(struct storage_sync **out);
void storage_sync_free(struct storage_sync *s);
const struct storage_env *storage_sync_env(struct storage_sync *s);
void storage_sync_wait(struct storage_sync *s, const bool *done);

/* ---- disk layer ---- */

/* What a disk is in the store.  'id' names its objects: extent n of disk
 * id is "<id as 16 hex>.<n as 16 hex>", its header "<id as 16 hex>.header". */
struct storage_disk_params {
	const char *ns;	      /* namespace (tenant route namespace) */
	uint64_t id;	      /* catalog disk id */
	uint64_t size;	      /* bytes */
	uint32_t extent_size; /* power of two, >= 4096 */
	bool read_only;
	uint64_t snap; /* STORAGE_SNAP_HEAD, or a snap to read */
	/* A restore point view's allocation map (one bit per extent, LSB
	 * first), copied at open; NULL: every extent reads as data. */
	const uint8_t *map;
	size_t map_len;
	/* The live disk's write snap context at open: seq and the snap ids
	 * of its restore points, newest first. */
	uint64_t snap_seq;
	const uint64_t *snaps;
	unsigned nsnaps;
	/* The live disk's latest restore point's allocation map (same
	 * format), copied at open: the extents a change clones, for the
	 * stored-bytes ledger.  NULL: no restore point. */
	const uint8_t *cut_map;
	size_t cut_map_len;
	/* That restore point's snap id; 0: snaps[0].  When the map is
	 * listed (no saved map: the last close was a crash), the clones the
	 * store made for it since are found again (disk-ledger.c). */
	uint64_t cut_snap;
	/* The live disk's allocation map as saved at its last clean close
	 * (same format), instead of listing the store: the caller vouches
	 * that nothing wrote the disk since.  Ignored (listed) unless it
	 * covers exactly the disk's extents. */
	const uint8_t *saved_map;
	size_t saved_map_len;
	/* A writable clone of a restore point: the clone's own objects are
	 * named by 'id'; an extent it never wrote reads from the parent disk
	 * 'parent_id' at 'parent_snap' (holes per parent_map, copied at
	 * open; NULL: every parent extent is data).  The first write to
	 * such an extent copies it up whole.  parent_id 0: not a clone. */
	uint64_t parent_id;
	uint64_t parent_snap;
	const uint8_t *parent_map;
	size_t parent_map_len;
	/* Set by another thread to give up: an open that lists the store
	 * (no saved map) looks at it between listed objects and between
	 * clone probes and returns -ECANCELED, leaving the store as it was.
	 * NULL: never.  Only read during storage_disk_open(). */
	const atomic_bool *cancel;
};

/* Opens a disk (builds its allocation map).  Blocking; owner thread.
 * -ECANCELED: p->cancel was set. */
int storage_disk_open(struct storage_store *st,
		      const struct storage_disk_params *p,
		      struct storage_disk **out);
void storage_disk_close(struct storage_disk *d);
uint64_t storage_disk_size(const struct storage_disk *d);
uint32_t storage_disk_extent_size(const struct storage_disk *d);

/* Counts a disk's (or a clone's) extent objects and their bytes.
 * Blocking (lists the namespace); the store must use a sync env. */
int storage_disk_usage(struct storage_store *st, const char *ns, uint64_t id,
		       uint64_t *objects, uint64_t *bytes);

/* Removes every object of a disk (extents and header).  Blocking. */
int storage_disk_destroy(struct storage_store *st, const char *ns, uint64_t id,
			 uint64_t size, uint32_t extent_size);

enum storage_cmd {
	STORAGE_READ,
	STORAGE_WRITE,
	STORAGE_ZERO,	/* WRITE_ZEROES; a metadata operation */
	STORAGE_TRIM,	/* like ZERO: haven never leaves stale data behind */
	STORAGE_FLUSH,	/* every write completed before is durable */
	STORAGE_STATUS, /* allocation status, see storage_req.extents */
};

#define STORAGE_F_FUA (1u << 0)	    /* durable before completion */
#define STORAGE_F_NO_HOLE (1u << 1) /* ZERO: keep the range allocated */

/* One run of the allocation map returned by STORAGE_STATUS. */
struct storage_extent {
	uint64_t length;
	bool hole; /* never written, or zeroed: reads as zeros */
};

/* A block request.  The caller owns it (usually embedded in its own
 * request struct) and keeps it and 'buf' alive until 'done' runs on the
 * owner thread.  READ fills buf[0..len); WRITE takes buf[0..len).
 * STATUS fills up to 'nextents' entries of 'extents' starting at 'off'
 * and sets nextents to the count; the runs may end before off+len. */
struct storage_req {
	enum storage_cmd cmd;
	unsigned flags;
	uint64_t off;
	uint64_t len;
	void *buf;
	struct storage_extent *extents;
	size_t nextents;
	void (*done)(struct storage_req *r, int result);
	void *priv;

	/* Private to the disk layer. */
	struct storage_disk *disk_;
	uint64_t cursor_;
	unsigned inflight_;
	int error_;
	unsigned state_;
	struct storage_completion comp_; /* defers a completion without I/O */
};

/* Starts a request; 'done' is always called exactly once, never from
 * inside this call.  The caller validated the range against the size. */
void storage_disk_submit(struct storage_disk *d, struct storage_req *r);

/* ---- disk-rp.c: restore points of an open live disk ---- */

/* Switches the disk's write snap context (snaps newest first, seq >=
 * snaps[0]).  Writes submitted after this call preserve, for every snap
 * in the context, the contents as of this call.  Microseconds; owner
 * thread. */
int storage_disk_set_snapc(struct storage_disk *d, uint64_t seq,
			   const uint64_t *snaps, unsigned nsnaps);
/* A copy of the allocation map (malloc'ed) as of now. */
int storage_disk_map(struct storage_disk *d, uint8_t **map, size_t *len);
/* Bytes in extents written, zeroed or trimmed since the last call (or
 * since open), counted once per extent; resets the count. */
uint64_t storage_disk_take_changed(struct storage_disk *d);
/* Grows the disk (the map too); shrinking is -EINVAL. */
int storage_disk_resize(struct storage_disk *d, uint64_t new_size);

/* Replaces the disk's header object "<id>.header" atomically with
 * buf[0..len) (never cloned by snapshots).  Completes through done like a
 * request: set r->buf, r->len, r->done; r->cmd is ignored. */
void storage_disk_write_header(struct storage_disk *d, struct storage_req *r);
/* Replaces the header object with buf[0..len).  Blocking. */
int storage_header_write(struct storage_store *st, const char *ns,
			 uint64_t disk_id, const void *buf, size_t len);
/* Reads the header object into a malloc'ed buffer.  Blocking. */
int storage_header_read(struct storage_store *st, const char *ns,
			uint64_t disk_id, void **buf, size_t *len);

/* Self-managed snapshot ids of a store.  Blocking (a monitor round trip
 * on Ceph): never call on the loop thread. */
int storage_store_snap_create(struct storage_store *st, uint64_t *id);
int storage_store_snap_remove(struct storage_store *st, uint64_t id);

/* ---- disk-ledger.c: the stored-bytes ledger of an open disk ---- */

/* Bytes the disk holds in the store now: its allocated extents plus the
 * extents its latest restore point held that changed since (clones), in
 * whole extents.  Restore points older than the latest are counted by
 * the catalog.  O(1). */
uint64_t storage_disk_stored_bytes(const struct storage_disk *d);
/* How much storage_disk_stored_bytes() may grow by if a request with this
 * command, flags (STORAGE_F_NO_HOLE matters) and range is submitted now
 * (an upper bound; 0 for reads). */
uint64_t storage_disk_write_cost(const struct storage_disk *d,
				 enum storage_cmd cmd, unsigned flags,
				 uint64_t off, uint64_t len);
/* At a cut, right before storage_disk_take_changed(): the clones made
 * since the previous cut (a map in storage_disk_map()'s format, malloc'ed,
 * NULL when there are none, and their bytes), which preserve that
 * previous restore point; the cut being made becomes the latest.
 * -ENODATA for a disk without a map. */
int storage_disk_ledger_cut(struct storage_disk *d, uint8_t **clones,
			    size_t *len, uint64_t *bytes);

/* ---- clone.c ---- */

/* Extents a clone holds of its own (copied up or written), in bytes. */
uint64_t storage_disk_clone_bytes(const struct storage_disk *d);

/* About clones (storage_disk_params.parent_id != 0).  Opening one lists
 * only its own objects: O(1) in the disk's size.  -EINVAL if parent_snap
 * is STORAGE_SNAP_HEAD, parent_id is the clone's own id, snap is not HEAD
 * or a snap context is given: a clone writes under none, so
 * storage_disk_set_snapc() and storage_disk_resize() refuse it with
 * -EOPNOTSUPP, and storage_disk_map() gives the extents it owns.  Writes
 * to one extent, copy-ups included, land in submission order.
 * storage_disk_destroy() with the clone's id removes its objects and
 * leaves the parent untouched. */

#endif
