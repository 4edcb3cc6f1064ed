/* Internal: the object-store backend contract (RADOS-shaped).
 *
 * A backend is a const struct of operations, registered in the
 * storage_backends[] array in objstore.c.  Every backend implements the
 * same semantics, checked by tests/unit/test-storage-contract.c:
 *
 * - Objects are named byte arrays inside a namespace.  An object that was
 *   never written does not exist: READ returns -ENOENT, STAT -ENOENT.
 *   A READ past the end of an existing object returns fewer bytes (0 at
 *   or past the end); the disk layer fills the rest with zeros.
 * - WRITE creates the object if needed and extends it.  ZERO behaves as
 *   in RADOS: an absent object stays absent, a range past the end changes
 *   nothing, a range reaching the end truncates the object at the range's
 *   start, any other range is zeroed in place; either way the range then
 *   reads as zeros.  TRUNCATE sets the size (creating the object);
 *   REMOVE deletes (-ENOENT if absent).  WRITE_FULL replaces the whole
 *   object with buf[0..len) atomically (creating it; a shorter content
 *   shrinks it): a reader, or a crash, sees the old content or the new
 *   one, never a mix.  Like every mutation it preserves the old content
 *   for the snaps of the write context, and it completes durable, FUA or
 *   not.
 * - Self-managed snapshots, as in RADOS: snap_create() allocates a
 *   pool-wide id, strictly increasing.  An ioctx carries a write snap
 *   context (seq, snaps[] descending).  The first mutation of an object
 *   after its last clone was taken at a seq lower than the context's seq
 *   preserves the object's current contents (or its absence) for every
 *   snap in the context newer than that clone.  A READ at a snap id
 *   returns the object as it was when that snap was taken (-ENOENT if it
 *   did not exist then).  snap_remove() releases an id and the clones
 *   only it needed.  Mutations through an ioctx whose read snap is not
 *   HEAD are impossible by construction (the snap is per op).
 * - Durability: an op with STORAGE_OPF_FUA completes only once durable;
 *   SYNC completes once every op of the ioctx completed before it is
 *   durable.  Backends whose writes are durable on completion (rados)
 *   treat both as no-ops.
 * - Completion: submit() never completes inline; the finished op is
 *   handed to env->post() from whatever thread finished it.
 */
#ifndef HAVEN_OBJSTORE_H
#define HAVEN_OBJSTORE_H

#include "storage.h"

#define STORAGE_OP_MAGIC 0x6f707374u /* "opst" */

enum storage_opcode {
	STORAGE_OP_READ,
	STORAGE_OP_WRITE,
	STORAGE_OP_ZERO,
	STORAGE_OP_TRUNCATE,
	STORAGE_OP_REMOVE,
	STORAGE_OP_STAT,
	STORAGE_OP_WRITE_FULL,
	STORAGE_OP_SYNC, /* stays last: the opcode range ends here */
};

#define STORAGE_OPF_FUA (1u << 0)

/* One object operation.  Owned by the submitter until its completion
 * runs.  Backends fill result (0, a negative errno, or for READ the number
 * of bytes read) and for STAT 'size'. */
struct storage_op {
	struct storage_completion comp; /* first: posted back to the owner */
	uint32_t magic;
	enum storage_opcode code;
	unsigned flags;
	char oid[STORAGE_OID_MAX];
	uint64_t off; /* TRUNCATE: the new size */
	uint64_t len;
	void *buf; /* READ destination, WRITE(_FULL) source, live until done */
	uint64_t snap; /* READ and STAT: STORAGE_SNAP_HEAD or a snap id */
	int64_t result;
	uint64_t size;	    /* STAT: object size */
	void *owner;	    /* for the submitter */
	void *backend_priv; /* free for the backend while the op runs */
};

struct storage_backend {
	const char *name;
	/* Opens a backend instance for a route; *be is its state. */
	int (*open)(const struct storage_route *route,
		    const struct storage_env *env, void **be);
	void (*close)(void *be);
	/* An I/O context bound to one namespace, carrying one write snap
	 * context (empty at creation). */
	int (*ioctx_open)(void *be, const char *ns, void **io);
	void (*ioctx_close)(void *io);
	int (*set_write_ctx)(void *io, uint64_t seq, const uint64_t *snaps,
			     unsigned nsnaps);
	/* Queues an op; completion is always posted, never inline. */
	void (*submit)(void *io, struct storage_op *op);
	/* Calls cb for every HEAD object of the namespace whose name starts
	 * with prefix; stops and returns cb's value if non-zero.  Blocking;
	 * never called on a hot path.  Once *cancel is set (another thread;
	 * NULL: never) it stops at the next object it looks at, matching or
	 * not, with -ECANCELED. */
	int (*list)(void *io, const char *prefix,
		    int (*cb)(void *arg, const char *oid, uint64_t size),
		    void *arg, const atomic_bool *cancel);
	/* Self-managed snapshots; blocking (a monitor round trip for rados),
	 * so havend calls them off the loop thread. */
	int (*snap_create)(void *be, uint64_t *id);
	int (*snap_remove)(void *be, uint64_t id);
	/* For an open after a crash: for each of oids[0..n), whether a
	 * mutation since snap 'snap' was taken made the store keep the
	 * object as it was at the snap in a clone (cloned[i]; false as well
	 * when the object did not exist at the snap).  Blocking; the caller
	 * mutates none of these objects meanwhile.  cancel as for list: a
	 * call may give up early with -ECANCELED (the fault injector's
	 * delay does), the caller checks it between calls anyway. */
	int (*snap_cloned)(void *io, uint64_t snap,
			   const char (*oids)[STORAGE_OID_MAX], size_t n,
			   bool *cloned, const atomic_bool *cancel);
};

/* Whether a blocking listing or probe was asked to give up. */
static inline bool storage_cancelled(const atomic_bool *cancel)
{
	return cancel && atomic_load_explicit(cancel, memory_order_relaxed);
}

extern const struct storage_backend storage_backend_memory;
extern const struct storage_backend storage_backend_local;
#ifdef HAVE_RADOS
extern const struct storage_backend storage_backend_rados;
#endif

/* fault.c: the test-only wrapper storage_store_open() puts around a
 * route's backend when route->fault_file is set.  Opens 'inner' for the
 * route inside it. */
extern const struct storage_backend storage_backend_fault;
int storage_fault_open(const struct storage_backend *inner,
		       const struct storage_route *route,
		       const struct storage_env *env, void **be);

/* The store handle behind storage_store_open(). */
struct storage_store {
	const struct storage_backend *be_ops;
	void *be;
	struct storage_env env;
};

/* Helpers for the disk layer and for tests. */
void storage_op_init(struct storage_op *op, enum storage_opcode code,
		     void (*fn)(struct storage_completion *c));
int storage_oid_extent(char *buf, size_t len, uint64_t disk_id, uint64_t n);
int storage_oid_header(char *buf, size_t len, uint64_t disk_id);

/* Checks an op (magic, opcode, buffers; programmer errors abort) and
 * queues it on the store's backend.  Use this rather than be_ops->submit. */
void storage_op_submit(struct storage_store *st, void *io,
		       struct storage_op *op);

/* Runs one op synchronously through a sync env; for blocking callers.
 * The store must have been opened with storage_sync_env(): the calling
 * thread runs every completion posted until this op's.  comp.fn and owner
 * are borrowed and restored, comp.fn is not called.  Returns 0 or the
 * op's negative result; a READ's byte count stays in op->result. */
int storage_op_run(struct storage_store *st, void *io, struct storage_op *op);

#endif
