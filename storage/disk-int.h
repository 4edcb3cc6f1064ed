/* Internal to the disk layer: the open disk shared by disk.c (requests
 * onto extent objects) and disk-rp.c (restore points: snap contexts,
 * maps, change tracking, resize, the header object).
 */
#ifndef HAVEN_DISK_INT_H
#define HAVEN_DISK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "objstore.h"

#define DISK_MAGIC 0x6469736bu /* "disk" */

/* Object ops of one request in flight at most. */
#define DISK_REQ_MAX_OPS 16u

/* Bits of storage_req.state_. */
#define REQ_SYNC_AT_END (1u << 0) /* finish with a SYNC of the ioctx */
#define REQ_SYNC_SENT (1u << 1)
#define REQ_WALKING (1u << 2)	/* a mutation with ops still to issue */
#define REQ_OLD_SNAPC (1u << 3) /* submitted before the last cut */

/* The part of a request's range that lies in one extent. */
struct disk_piece {
	uint64_t pos;	  /* disk offset */
	uint64_t n;	  /* extent number */
	uint64_t obj_off; /* offset inside the object */
	uint64_t len;
	bool whole; /* covers the extent up to the disk's end */
};

/* One object op of a request; op.owner points to the request. */
struct disk_op {
	struct storage_op op; /* first: the completion is op.comp */
	uint64_t extent;
	struct disk_op *next_free;
};

/* A write snap context of the disk, immutable once made.  References:
 * the disk's current context, the one the data ioctx carries, and every
 * walk that must keep issuing under it. */
struct disk_snapc {
	unsigned refs;
	uint64_t seq;
	unsigned n;
	uint64_t snaps[]; /* newest first */
};

/* A mutation whose walk is not over: after a cut, its remaining ops
 * still belong before the cut, so they go out under 'sc'. */
struct disk_walk {
	struct storage_req *r;
	struct disk_snapc *sc; /* NULL until a cut happens during the walk */
};

struct disk_clone; /* clone.c */

struct storage_disk {
	uint32_t magic;
	struct storage_store *st;
	void *io;     /* extents; the live disk's write snap context */
	void *hdr_io; /* the header: no snap context, so never cloned */
	uint64_t id;
	uint64_t size;
	uint32_t extent_size;
	unsigned shift;	   /* log2(extent_size) */
	uint64_t nextents; /* extents covering size, the last maybe partial */
	size_t nwords;	   /* words of map and changed */
	uint64_t *map; /* allocation bits; NULL: every extent may hold data */
	uint64_t *changed; /* extents mutated since take_changed; live only */
	/* The stored-bytes ledger (disk-ledger.c): set map bits, the map at
	 * the latest restore point (NULL: none), and the extents changed
	 * since then that it held, i.e. the clones the store keeps. */
	uint64_t nalloc;
	uint64_t *cutmap;
	size_t cut_nwords;
	uint64_t nclones;
	bool listed; /* the map came from a listing, not a saved map */
	uint64_t snap;
	bool read_only;
	struct disk_snapc *snapc;    /* current context; live disk only */
	struct disk_snapc *io_snapc; /* the context the data ioctx carries */
	struct disk_walk *walks;
	size_t nwalks, walks_cap;
	struct disk_op *free_ops;
	struct disk_clone *clone; /* NULL unless a writable clone */
};

/* ---- bitmaps of extents, one bit per extent in 64-bit words ---- */

static inline bool disk_bit_test(const uint64_t *w, uint64_t n)
{
	return (w[n / 64] >> (n % 64)) & 1;
}

static inline void disk_bit_set(uint64_t *w, uint64_t n)
{
	w[n / 64] |= UINT64_C(1) << (n % 64);
}

static inline void disk_bit_clear(uint64_t *w, uint64_t n)
{
	w[n / 64] &= ~(UINT64_C(1) << (n % 64));
}

/* True if p[0..len) is all zero bytes.  Once the first 16 bytes are known
 * to be zero, p[i] == p[i + 16] for every i proves the rest zero too, and
 * memcmp() does that comparison with the widest loads the libc has. */
static inline bool disk_all_zero(const unsigned char *p, uint64_t len)
{
	uint64_t head = len < 16 ? len : 16;
	uint64_t i;

	for (i = 0; i < head; i++) {
		if (p[i])
			return false;
	}
	return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

static inline bool disk_is_mutation(enum storage_opcode code)
{
	return code != STORAGE_OP_READ && code != STORAGE_OP_STAT &&
	       code != STORAGE_OP_SYNC;
}

/* Sets a map bit, counting it for the ledger (nalloc). */
static inline void storage_disk_own(struct storage_disk *d, uint64_t n)
{
	if (!disk_bit_test(d->map, n)) {
		disk_bit_set(d->map, n);
		d->nalloc++;
	}
}

/* ---- disk.c ---- */

/* An op for request r on extent n (the extent's oid filled in). */
struct disk_op *storage_disk_op_get(struct storage_disk *d,
				    struct storage_req *r,
				    enum storage_opcode code, uint64_t n);
void storage_disk_op_put(struct storage_disk *d, struct disk_op *o);
/* Completes r with r->error_ later, through the store's env. */
void storage_disk_post_done(struct storage_disk *d, struct storage_req *r);
/* A cut during r's walk: sets the map bits of the data pieces r has yet
 * to write, so that a map taken at the cut covers them. */
void storage_disk_mark_pending(struct storage_disk *d, struct storage_req *r);
/* Bits for 'nextents' extents, zeroed; *nwords set. */
uint64_t *storage_disk_bits_new(uint64_t nextents, size_t *nwords);
/* The piece of [pos, end) in the extent holding pos. */
void storage_disk_piece_at(const struct storage_disk *d, uint64_t pos,
			   uint64_t end, struct disk_piece *pc);
/* Submits o for r (a mutation under r's snap context); on failure o goes
 * back to the pool. */
int storage_disk_op_issue(struct storage_disk *d, struct storage_req *r,
			  struct disk_op *o);
/* An op of r that did not go through op_done() finished with 'ret': r
 * goes on walking, and completes if it is over. */
void storage_disk_op_end(struct storage_disk *d, struct storage_req *r,
			 int ret);

/* ---- disk-rp.c ---- */

/* A live disk's map from the one saved at its last clean close (len must
 * cover exactly its extents, else -ENODATA: list instead). */
int storage_disk_map_load(struct storage_disk *d, const uint8_t *map,
			  size_t len);

/* At open, once the data ioctx is open: the write snap context, the
 * header ioctx and the change map of a live disk, or a view's map. */
int storage_disk_rp_open(struct storage_disk *d,
			 const struct storage_disk_params *p);
void storage_disk_rp_close(struct storage_disk *d);
/* Counts the extents of [off, off+len) as changed. */
void storage_disk_mark_changed(struct storage_disk *d, uint64_t off,
			       uint64_t len);
/* Makes the data ioctx carry the context r's mutations belong to. */
int storage_disk_ctx_for(struct storage_disk *d, const struct storage_req *r);
/* Tracks r while its walk lasts (REQ_WALKING), or stops tracking it. */
int storage_disk_walk_begin(struct storage_disk *d, struct storage_req *r);
void storage_disk_walk_end(struct storage_disk *d, struct storage_req *r);

/* ---- disk-ledger.c ---- */

/* At open of a live disk, once the map is built. */
int storage_disk_ledger_open(struct storage_disk *d,
			     const struct storage_disk_params *p);
void storage_disk_ledger_close(struct storage_disk *d);
/* mark_changed is about to set extent n's changed bit (still clear). */
static inline void storage_disk_ledger_changing(struct storage_disk *d,
						uint64_t n)
{
	if (d->cutmap && n / 64 < d->cut_nwords && disk_bit_test(d->cutmap, n))
		d->nclones++;
}

/* ---- clone.c: writable clones of a restore point ----
 *
 * The step functions take over a piece of r (0) or fail (a negative
 * errno).  A piece whose extent is being copied up waits in a list and
 * counts in r->inflight_ meanwhile. */

/* At open, before the own map is built. */
int storage_disk_clone_open(struct storage_disk *d,
			    const struct storage_disk_params *p);
void storage_disk_clone_close(struct storage_disk *d);
/* The listing found the clone's object of extent n with 'size' bytes. */
void storage_disk_clone_listed(struct storage_disk *d, uint64_t n,
			       uint64_t size);
int storage_disk_clone_read(struct storage_disk *d, struct storage_req *r,
			    const struct disk_piece *pc);
int storage_disk_clone_write(struct storage_disk *d, struct storage_req *r,
			     const struct disk_piece *pc);
/* ZERO and TRIM: one piece from r's cursor, skipping what reads as
 * zeros already; advances the cursor unless it waits. */
int storage_disk_clone_zero(struct storage_disk *d, struct storage_req *r,
			    uint64_t end);
/* STATUS of a clone: what reads as data, its own or its parent's. */
bool storage_disk_clone_test(const struct storage_disk *d, uint64_t n);
uint64_t storage_disk_clone_next(const struct storage_disk *d, uint64_t from,
				 uint64_t limit, bool set);

#endif
