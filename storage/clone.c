/* Writable clones of a restore point (test failover).
 *
 * A clone is a disk of its own: its objects are named by its id, and
 * d->map holds the extents it owns.  An extent it does not own falls
 * through to the parent disk's restore point: it reads as the parent's
 * object at the parent's snap, or as zeros where the parent's map at the
 * cut says hole.  Opening a clone lists its own objects only, so making
 * one costs nothing per extent of the disk.
 *
 * For a clone a set own bit must name an object (or one on its way): a
 * bit without an object would read zeros instead of the parent's data.
 * So no own object is ever removed; zeroing a whole owned extent
 * truncates the object to nothing, and an extent known to be empty is
 * remembered in 'empty' (zeros without I/O, a hole for STATUS).
 *
 * The first mutation of a piece of an extent the clone does not own:
 * - over a parent hole: zeros need nothing, data is written as it is,
 *   since the rest of the object reads as zeros like the parent's hole;
 * - covering the whole extent: written as it is, or for zeros an empty
 *   object is made (TRUNCATE to 0) so that the extent stops falling
 *   through;
 * - otherwise a copy-up: read the parent's extent at its snap, apply the
 *   piece, WRITE_FULL the result, and only then set the own bit.
 *   WRITE_FULL is atomic, so a crash never leaves part of an extent that
 *   would hide the rest of the parent's.
 *
 * While a copy-up runs its extent is busy.  Every piece of any request
 * that reaches a busy extent, reads included, joins the copy-up's list of
 * waiters, in submission order, and counts as in flight for its request.
 * When the copy-up is over the waiters take their steps again in that
 * order, now on an owned extent.  Backends run the ops of one object in
 * submission order, so mutations of an extent land in the order they
 * were submitted and no copy-up overwrites a later write.
 *
 * Clones are never snapshotted: they write under the empty snap context,
 * and set_snapc and resize refuse them (disk-rp.c).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk-int.h"

#define COW_MAGIC 0x636f7775u /* "cowu" */

/* A piece that arrived at a busy extent. */
struct cow_waiter {
	struct storage_req *r;
	struct disk_piece pc;
};

/* A copy-up in flight; op.owner of its one op points here. */
struct clone_cow {
	uint32_t magic;
	struct clone_cow *next;
	struct storage_disk *d;
	struct storage_req *r; /* the request whose piece started it */
	struct disk_piece pc;
	unsigned char *src; /* the piece's data in r->buf; NULL: zeros */
	unsigned char *buf; /* the extent being made */
	uint64_t len;	    /* of the extent, clipped at the disk's end */
	struct cow_waiter *waiters;
	size_t nwaiters, cap;
};

struct disk_clone {
	uint64_t parent_id;
	uint64_t parent_snap;
	uint64_t *parent; /* the parent's map at the cut; NULL: all data */
	uint64_t *busy;	  /* extents with a copy-up in flight */
	uint64_t *empty;  /* owned extents whose object is empty */
	struct clone_cow *cows;
};

static bool parent_test(const struct disk_clone *c, uint64_t n)
{
	return !c->parent || disk_bit_test(c->parent, n);
}

/* Extents that read as data, a word of them at a time: owned and not
 * known empty, or not owned and data in the parent. */
static uint64_t data_word(const struct storage_disk *d, size_t i)
{
	const struct disk_clone *c = d->clone;
	uint64_t own = d->map[i];
	uint64_t parent = c->parent ? c->parent[i] : ~UINT64_C(0);

	return (own & ~c->empty[i]) | (~own & parent);
}

bool storage_disk_clone_test(const struct storage_disk *d, uint64_t n)
{
	return (data_word(d, (size_t)(n / 64)) >> (n % 64)) & 1;
}

uint64_t storage_disk_clone_next(const struct storage_disk *d, uint64_t from,
				 uint64_t limit, bool set)
{
	uint64_t w;

	while (from < limit) {
		w = data_word(d, (size_t)(from / 64));
		if (!set)
			w = ~w;
		w >>= from % 64;
		if (w) {
			from += (uint64_t)__builtin_ctzll(w);
			return from < limit ? from : limit;
		}
		from = (from | 63) + 1;
	}
	return limit;
}

/* ---- pieces of owned extents, and of parent holes ---- */

/* Data is written, zeros over the whole extent leave an empty object,
 * zeros over part of it are zeroed in place.  The extent is owned from
 * now on: later ops of the object run after this one. */
static int own_mutate(struct storage_disk *d, struct storage_req *r,
		      const struct disk_piece *pc, unsigned char *src)
{
	struct disk_clone *c = d->clone;
	enum storage_opcode code;
	struct disk_op *o;
	int ret;

	if (src)
		code = STORAGE_OP_WRITE;
	else if (pc->whole)
		code = STORAGE_OP_TRUNCATE;
	else
		code = STORAGE_OP_ZERO;
	o = storage_disk_op_get(d, r, code, pc->n);
	if (!o)
		return -ENOMEM;
	if (code == STORAGE_OP_WRITE) {
		o->op.off = pc->obj_off;
		o->op.len = pc->len;
		o->op.buf = src;
		if (r->flags & STORAGE_F_FUA)
			o->op.flags |= STORAGE_OPF_FUA;
	} else if (code == STORAGE_OP_ZERO) {
		o->op.off = pc->obj_off;
		o->op.len = pc->len;
	} /* TRUNCATE: to size 0 */
	ret = storage_disk_op_issue(d, r, o);
	if (ret < 0)
		return ret;
	storage_disk_own(d, pc->n);
	if (code == STORAGE_OP_TRUNCATE)
		disk_bit_set(c->empty, pc->n);
	else if (code == STORAGE_OP_WRITE)
		disk_bit_clear(c->empty, pc->n);
	return 0;
}

/* ---- copy-up ---- */

static int clone_read(struct storage_disk *d, struct storage_req *r,
		      const struct disk_piece *pc);
static int clone_mutate(struct storage_disk *d, struct storage_req *r,
			const struct disk_piece *pc);

/* The copy-ups in flight are few (at most DISK_REQ_MAX_OPS per request)
 * and only looked for when an extent's busy bit is set. */
static struct clone_cow *cow_find(struct disk_clone *c, uint64_t n)
{
	struct clone_cow *w;

	for (w = c->cows; w; w = w->next)
		if (w->pc.n == n)
			return w;
	return NULL;
}

/* The piece waits for the copy-up of its extent, in flight for r. */
static int cow_wait(struct storage_disk *d, struct storage_req *r,
		    const struct disk_piece *pc)
{
	struct clone_cow *w = cow_find(d->clone, pc->n);
	struct cow_waiter *v;
	size_t cap;

	assert(w);
	if (w->nwaiters == w->cap) {
		cap = w->cap ? w->cap * 2 : 4;
		v = realloc(w->waiters, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->waiters = v;
		w->cap = cap;
	}
	w->waiters[w->nwaiters].r = r;
	w->waiters[w->nwaiters].pc = *pc;
	w->nwaiters++;
	r->inflight_++;
	return 0;
}

/* A waiting piece takes its step again; its request stops waiting. */
static void cow_wake(struct storage_disk *d, const struct cow_waiter *wt)
{
	struct storage_req *r = wt->r;
	int ret = 0;

	if (!r->error_) {
		if (r->cmd == STORAGE_READ)
			ret = clone_read(d, r, &wt->pc);
		else
			ret = clone_mutate(d, r, &wt->pc);
	}
	storage_disk_op_end(d, r, ret);
}

/* The copy-up is over: its request goes on first, then the waiters in
 * the order they came.  If it failed, the extent still falls through and
 * the first waiter that mutates starts a copy-up of its own. */
static void cow_end(struct storage_disk *d, struct clone_cow *w,
		    struct disk_op *o, int ret)
{
	struct disk_clone *c = d->clone;
	struct cow_waiter *waiters = w->waiters;
	struct storage_req *r = w->r;
	size_t i, n = w->nwaiters;
	struct clone_cow **pp;

	for (pp = &c->cows; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	disk_bit_clear(c->busy, w->pc.n);
	storage_disk_op_put(d, o);
	free(w->buf);
	w->magic = 0;
	free(w);
	storage_disk_op_end(d, r, ret);
	for (i = 0; i < n; i++)
		cow_wake(d, &waiters[i]);
	free(waiters);
}

static struct clone_cow *cow_of(struct storage_completion *cp,
				struct disk_op **o)
{
	struct clone_cow *w;

	*o = (struct disk_op *)cp;
	assert((*o)->op.magic == STORAGE_OP_MAGIC);
	w = (*o)->op.owner;
	assert(w && w->magic == COW_MAGIC);
	return w;
}

static void cow_write_done(struct storage_completion *cp)
{
	struct disk_op *o;
	struct clone_cow *w = cow_of(cp, &o);
	struct storage_disk *d = w->d;
	int ret = o->op.result < 0 ? (int)o->op.result : 0;

	if (ret == 0) {
		storage_disk_own(d, w->pc.n);
		if (o->op.len == 0)
			disk_bit_set(d->clone->empty, w->pc.n);
	}
	cow_end(d, w, o, ret);
}

/* The parent's extent is in: the piece goes over it and the result
 * replaces the clone's (absent) object at once. */
static void cow_read_done(struct storage_completion *cp)
{
	struct disk_op *o;
	struct clone_cow *w = cow_of(cp, &o);
	struct storage_disk *d = w->d;
	int64_t got = o->op.result;
	int ret;

	if (got == -ENOENT)
		got = 0; /* no object at the snap: zeros */
	if (got < 0) {
		cow_end(d, w, o, (int)got);
		return;
	}
	if ((uint64_t)got < w->len)
		memset(w->buf + got, 0, w->len - (uint64_t)got);
	if (w->src)
		memcpy(w->buf + w->pc.obj_off, w->src, w->pc.len);
	else
		memset(w->buf + w->pc.obj_off, 0, w->pc.len);

	storage_op_init(&o->op, STORAGE_OP_WRITE_FULL, cow_write_done);
	o->op.owner = w;
	if (storage_oid_extent(o->op.oid, sizeof(o->op.oid), d->id, w->pc.n))
		assert(!"extent oid does not fit");
	o->op.buf = w->buf;
	/* Zeros over zeros: an empty object says the same. */
	o->op.len = !w->src && disk_all_zero(w->buf, w->len) ? 0 : w->len;
	ret = storage_disk_ctx_for(d, w->r);
	if (ret < 0) {
		cow_end(d, w, o, ret);
		return;
	}
	storage_op_submit(d->st, d->io, &o->op);
}

/* Starts the copy-up of the piece's extent, the piece's data applied. */
static int cow_start(struct storage_disk *d, struct storage_req *r,
		     const struct disk_piece *pc, unsigned char *src)
{
	struct disk_clone *c = d->clone;
	uint64_t start = pc->n << d->shift;
	struct clone_cow *w;
	struct disk_op *o;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->len = d->size - start < d->extent_size ? d->size - start
						  : d->extent_size;
	w->buf = malloc((size_t)w->len);
	o = w->buf ? storage_disk_op_get(d, r, STORAGE_OP_READ, pc->n) : NULL;
	if (!o) {
		free(w->buf);
		free(w);
		return -ENOMEM;
	}
	w->magic = COW_MAGIC;
	w->d = d;
	w->r = r;
	w->pc = *pc;
	w->src = src;
	if (storage_oid_extent(o->op.oid, sizeof(o->op.oid), c->parent_id,
			       pc->n) < 0)
		assert(!"extent oid does not fit");
	o->op.comp.fn = cow_read_done;
	o->op.owner = w;
	o->op.buf = w->buf;
	o->op.len = w->len;
	o->op.snap = c->parent_snap;
	w->next = c->cows;
	c->cows = w;
	disk_bit_set(c->busy, pc->n);
	return storage_disk_op_issue(d, r, o); /* a READ: cannot fail */
}

/* ---- the steps ---- */

static int clone_read(struct storage_disk *d, struct storage_req *r,
		      const struct disk_piece *pc)
{
	struct disk_clone *c = d->clone;
	unsigned char *dst = (unsigned char *)r->buf + (pc->pos - r->off);
	bool own = disk_bit_test(d->map, pc->n);
	struct disk_op *o;

	if (disk_bit_test(c->busy, pc->n))
		return cow_wait(d, r, pc);
	if (own ? disk_bit_test(c->empty, pc->n) : !parent_test(c, pc->n)) {
		memset(dst, 0, pc->len);
		return 0;
	}
	o = storage_disk_op_get(d, r, STORAGE_OP_READ, pc->n);
	if (!o)
		return -ENOMEM;
	if (!own) {
		if (storage_oid_extent(o->op.oid, sizeof(o->op.oid),
				       c->parent_id, pc->n) < 0)
			assert(!"extent oid does not fit");
		o->op.snap = c->parent_snap;
	}
	o->op.off = pc->obj_off;
	o->op.len = pc->len;
	o->op.buf = dst;
	return storage_disk_op_issue(d, r, o);
}

/* WRITE, ZERO and TRIM alike; all-zero data counts as zeros. */
static int clone_mutate(struct storage_disk *d, struct storage_req *r,
			const struct disk_piece *pc)
{
	struct disk_clone *c = d->clone;
	unsigned char *src = NULL;

	if (disk_bit_test(c->busy, pc->n))
		return cow_wait(d, r, pc);
	if (r->cmd == STORAGE_WRITE) {
		src = (unsigned char *)r->buf + (pc->pos - r->off);
		if (disk_all_zero(src, pc->len))
			src = NULL;
	}
	/* Only data carries FUA, as on a live disk; a final SYNC covers
	 * the rest, skipped pieces included. */
	if (!src && (r->flags & STORAGE_F_FUA))
		r->state_ |= REQ_SYNC_AT_END;
	if (disk_bit_test(d->map, pc->n)) {
		if (!src && disk_bit_test(c->empty, pc->n))
			return 0;
		return own_mutate(d, r, pc, src);
	}
	if (!parent_test(c, pc->n))
		return src ? own_mutate(d, r, pc, src) : 0;
	if (pc->whole)
		return own_mutate(d, r, pc, src);
	return cow_start(d, r, pc, src);
}

int storage_disk_clone_read(struct storage_disk *d, struct storage_req *r,
			    const struct disk_piece *pc)
{
	return clone_read(d, r, pc);
}

int storage_disk_clone_write(struct storage_disk *d, struct storage_req *r,
			     const struct disk_piece *pc)
{
	return clone_mutate(d, r, pc);
}

/* Extents that read as zeros already are jumped over with the maps. */
int storage_disk_clone_zero(struct storage_disk *d, struct storage_req *r,
			    uint64_t end)
{
	uint64_t n = r->cursor_ >> d->shift;
	uint64_t last = (end - 1) >> d->shift;
	uint64_t next = storage_disk_clone_next(d, n, last + 1, true);
	struct disk_piece pc;
	int ret;

	if (next > last) {
		r->cursor_ = end;
		return 0;
	}
	if (next > n)
		r->cursor_ = next << d->shift;
	storage_disk_piece_at(d, r->cursor_, end, &pc);
	ret = clone_mutate(d, r, &pc);
	if (ret == 0)
		r->cursor_ += pc.len;
	return ret;
}

/* ---- open and close ---- */

/* The parent's map, bytes LSB first, as words.  Extents it does not cover
 * may hold data: a set bit costs a read, a wrong clear one loses data. */
static int parent_map(struct storage_disk *d, const uint8_t *map, size_t len)
{
	struct disk_clone *c = d->clone;
	size_t nbytes = (size_t)((d->nextents + 7) / 8), nw, i;
	uint64_t b;

	c->parent = storage_disk_bits_new(d->nextents, &nw);
	if (!c->parent)
		return -ENOMEM;
	for (i = 0; i < nbytes; i++) {
		b = i < len ? map[i] : 0xff;
		c->parent[i / 8] |= b << (8 * (i % 8));
	}
	if (d->nextents % 64)
		c->parent[d->nextents / 64] &=
			(UINT64_C(1) << (d->nextents % 64)) - 1;
	return 0;
}

int storage_disk_clone_open(struct storage_disk *d,
			    const struct storage_disk_params *p)
{
	struct disk_clone *c;
	size_t nw;

	/* A clone reads a restore point of another disk. */
	if (p->parent_id == p->id || p->parent_snap == STORAGE_SNAP_HEAD)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	d->clone = c;
	c->parent_id = p->parent_id;
	c->parent_snap = p->parent_snap;
	c->busy = storage_disk_bits_new(d->nextents, &nw);
	c->empty = storage_disk_bits_new(d->nextents, &nw);
	if (!c->busy || !c->empty)
		return -ENOMEM;
	return p->parent_map ? parent_map(d, p->parent_map, p->parent_map_len)
			     : 0;
}

void storage_disk_clone_listed(struct storage_disk *d, uint64_t n,
			       uint64_t size)
{
	if (size == 0)
		disk_bit_set(d->clone->empty, n);
}

void storage_disk_clone_close(struct storage_disk *d)
{
	struct disk_clone *c = d->clone;

	if (!c)
		return;
	/* Every request completed before close: no copy-up is left. */
	assert(!c->cows);
	free(c->parent);
	free(c->busy);
	free(c->empty);
	free(c);
	d->clone = NULL;
}

uint64_t storage_disk_clone_bytes(const struct storage_disk *d)
{
	uint64_t count = 0, bytes;
	size_t i;

	assert(d && d->magic == DISK_MAGIC);
	if (!d->clone)
		return 0;
	for (i = 0; i < d->nwords; i++)
		count += (uint64_t)__builtin_popcountll(d->map[i]);
	if (count == 0)
		return 0;
	bytes = count << d->shift;
	/* The last extent holds only what is left of the size. */
	if (disk_bit_test(d->map, d->nextents - 1))
		bytes -= (d->nextents << d->shift) - d->size;
	return bytes;
}
