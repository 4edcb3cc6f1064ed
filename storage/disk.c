/* The disk layer: block requests onto extent objects.
 *
 * A disk of 'size' bytes is an array of extents of 'extent_size' bytes;
 * extent n is the object storage_oid_extent(id, n).  An object that does
 * not exist reads as zeros, so holes cost nothing in the store.
 *
 * Each open live disk keeps an allocation map, one bit per extent, built
 * from the object listing at open time and updated when ops are
 * *submitted*; a restore-point view gets the map recorded at its cut.
 * Backends run the ops of one object in submission order, so a later
 * request always sees the map as the store will be once the earlier ops
 * have run.  The map errs only on the safe side: a set bit may name an
 * object that does not exist (a read then gets -ENOENT and zeros), but a
 * clear bit always means "no data".
 *
 * A request is split into per-extent pieces.  At most DISK_REQ_MAX_OPS
 * object ops of a request are in flight; the request's cursor remembers
 * where to go on as ops complete, so zeroing a huge disk never holds
 * more than a handful of ops.  Pieces that need no I/O (holes, zeros over
 * holes) are handled while walking.  A request completes exactly once,
 * when nothing is in flight and the walk is over; if that happens inside
 * storage_disk_submit() the completion is posted through the store's env
 * instead of being called inline.
 *
 * Restore points (disk-rp.c) add two rules here.  Every mutation goes out
 * under the write snap context that was current when its request was
 * submitted, even when a cut happens while the request still walks.  And
 * WRITE, ZERO and TRIM count their extents as changed at submission.
 *
 * A clone (clone.c) takes over the steps of each piece.  A piece that
 * has to wait for a copy-up of its extent counts as an op in flight.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk-int.h"

/* ---- allocation map ---- */

static bool map_test(const struct storage_disk *d, uint64_t n)
{
	/* A view opened without a map: every extent may hold data. */
	return !d->map || disk_bit_test(d->map, n);
}

/* nalloc follows the map: the stored-bytes ledger reads it per write. */
static void map_set(struct storage_disk *d, uint64_t n)
{
	if (d->map && !disk_bit_test(d->map, n)) {
		disk_bit_set(d->map, n);
		d->nalloc++;
	}
}

static void map_clear(struct storage_disk *d, uint64_t n)
{
	if (d->map && disk_bit_test(d->map, n)) {
		disk_bit_clear(d->map, n);
		d->nalloc--;
	}
}

uint64_t *storage_disk_bits_new(uint64_t nextents, size_t *nwords)
{
	uint64_t n = nextents / 64 + 1;

	if (n > SIZE_MAX / sizeof(uint64_t))
		return NULL;
	*nwords = (size_t)n;
	return calloc((size_t)n, sizeof(uint64_t));
}

/* The first extent in [from, limit) whose bit equals 'set', or limit.
 * Works a word at a time so that walking a mostly empty 1 TiB disk is a
 * few thousand loads, not a quarter million bit tests. */
static uint64_t map_next(const struct storage_disk *d, uint64_t from,
			 uint64_t limit, bool set)
{
	uint64_t w;

	if (!d->map)
		return set ? from : limit;
	while (from < limit) {
		w = d->map[from / 64];
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

/* ---- helpers ---- */

void storage_disk_piece_at(const struct storage_disk *d, uint64_t pos,
			   uint64_t end, struct disk_piece *pc)
{
	uint64_t start, ext_end;

	pc->pos = pos;
	pc->n = pos >> d->shift;
	start = pc->n << d->shift;
	ext_end = d->size - start > d->extent_size ? start + d->extent_size
						   : d->size;
	pc->obj_off = pos - start;
	pc->len = (end < ext_end ? end : ext_end) - pos;
	pc->whole = pos == start && pos + pc->len == ext_end;
}

/* The common prefix of every extent object of a disk: "<id>.". */
static int extent_prefix(char *buf, size_t len, uint64_t id)
{
	char *dot;
	int ret;

	ret = storage_oid_extent(buf, len, id, 0);
	if (ret < 0)
		return ret;
	dot = strchr(buf, '.');
	assert(dot);
	dot[1] = '\0';
	return 0;
}

/* Parses an extent object name of disk 'id'; -EINVAL for anything else
 * (the header, names written by someone else).  The number is formatted
 * back and compared so that only the canonical spelling counts. */
static int parse_extent_oid(const char *oid, uint64_t id, uint64_t *n)
{
	char want[STORAGE_OID_MAX];
	const char *p;
	uint64_t v = 0;
	int digits = 0, ret;

	ret = extent_prefix(want, sizeof(want), id);
	if (ret < 0)
		return ret;
	if (strncmp(oid, want, strlen(want)) != 0)
		return -EINVAL;
	for (p = oid + strlen(want); *p; p++) {
		int c = *p;

		if (++digits > 16)
			return -EINVAL;
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -EINVAL;
	}
	if (digits == 0)
		return -EINVAL;
	ret = storage_oid_extent(want, sizeof(want), id, v);
	if (ret < 0 || strcmp(want, oid) != 0)
		return -EINVAL;
	*n = v;
	return 0;
}

/* ---- op pool ---- */

static void op_done(struct storage_completion *c);

struct disk_op *storage_disk_op_get(struct storage_disk *d,
				    struct storage_req *r,
				    enum storage_opcode code, uint64_t n)
{
	struct disk_op *o = d->free_ops;

	if (o) {
		d->free_ops = o->next_free;
	} else {
		o = malloc(sizeof(*o));
		if (!o)
			return NULL;
	}
	storage_op_init(&o->op, code, op_done);
	o->op.owner = r;
	o->extent = n;
	o->next_free = NULL;
	if (code != STORAGE_OP_SYNC &&
	    storage_oid_extent(o->op.oid, sizeof(o->op.oid), d->id, n) < 0) {
		/* 16 + 1 + 16 characters always fit STORAGE_OID_MAX. */
		assert(!"extent oid does not fit");
	}
	return o;
}

void storage_disk_op_put(struct storage_disk *d, struct disk_op *o)
{
	o->next_free = d->free_ops;
	d->free_ops = o;
}

int storage_disk_op_issue(struct storage_disk *d, struct storage_req *r,
			  struct disk_op *o)
{
	int ret;

	if (disk_is_mutation(o->op.code)) {
		ret = storage_disk_ctx_for(d, r);
		if (ret < 0) {
			storage_disk_op_put(d, o);
			return ret;
		}
	}
	r->inflight_++;
	storage_op_submit(d->st, d->io, &o->op);
	return 0;
}

/* ---- request walk ---- */

static int step_read(struct storage_disk *d, struct storage_req *r,
		     const struct disk_piece *pc)
{
	unsigned char *dst = (unsigned char *)r->buf + (pc->pos - r->off);
	struct disk_op *o;

	if (d->clone)
		return storage_disk_clone_read(d, r, pc);
	if (!map_test(d, pc->n)) {
		memset(dst, 0, pc->len);
		return 0;
	}
	o = storage_disk_op_get(d, r, STORAGE_OP_READ, pc->n);
	if (!o)
		return -ENOMEM;
	o->op.off = pc->obj_off;
	o->op.len = pc->len;
	o->op.buf = dst;
	o->op.snap = d->snap;
	return storage_disk_op_issue(d, r, o);
}

/* Zero detection: an all-zero piece becomes a REMOVE (whole extent), a
 * ZERO (part of an allocated extent) or nothing (part of a hole), so
 * writing a sparse image never stores its holes. */
static int step_write(struct storage_disk *d, struct storage_req *r,
		      const struct disk_piece *pc)
{
	unsigned char *src = (unsigned char *)r->buf + (pc->pos - r->off);
	enum storage_opcode code;
	struct disk_op *o;
	int ret;

	if (d->clone)
		return storage_disk_clone_write(d, r, pc);
	if (!disk_all_zero(src, pc->len))
		code = STORAGE_OP_WRITE;
	else if (pc->whole)
		code = STORAGE_OP_REMOVE;
	else
		code = STORAGE_OP_ZERO;

	/* Only data carries FUA; every other outcome, skipping included,
	 * may rest on an earlier unsynced removal, so a final SYNC covers
	 * it. */
	if (code != STORAGE_OP_WRITE && (r->flags & STORAGE_F_FUA))
		r->state_ |= REQ_SYNC_AT_END;
	/* Zeros over a hole: it already reads as zeros. */
	if (code != STORAGE_OP_WRITE && !map_test(d, pc->n))
		return 0;

	o = storage_disk_op_get(d, r, code, pc->n);
	if (!o)
		return -ENOMEM;
	o->op.off = pc->obj_off;
	o->op.len = pc->len;
	if (code == STORAGE_OP_WRITE) {
		o->op.buf = src;
		if (r->flags & STORAGE_F_FUA)
			o->op.flags |= STORAGE_OPF_FUA;
		map_set(d, pc->n);
	} else if (code == STORAGE_OP_REMOVE) {
		o->op.off = 0;
		o->op.len = 0;
	}
	/* A bit is cleared only for a REMOVE really on its way. */
	ret = storage_disk_op_issue(d, r, o);
	if (ret == 0 && code == STORAGE_OP_REMOVE)
		map_clear(d, pc->n);
	return ret;
}

/* ZERO and TRIM only touch allocated extents; the walk jumps over holes
 * with the map, which is what makes zeroing a whole disk cheap. */
static int step_zero(struct storage_disk *d, struct storage_req *r,
		     uint64_t end)
{
	uint64_t n = r->cursor_ >> d->shift;
	uint64_t last = (end - 1) >> d->shift;
	uint64_t next;
	bool keep = r->cmd == STORAGE_ZERO && (r->flags & STORAGE_F_NO_HOLE);
	bool remove;
	struct disk_op *o;
	struct disk_piece pc;
	int ret;

	if (d->clone)
		return storage_disk_clone_zero(d, r, end);
	next = map_next(d, n, last + 1, true);
	if (next > last) {
		r->cursor_ = end;
		return 0;
	}
	if (next > n)
		r->cursor_ = next << d->shift;
	storage_disk_piece_at(d, r->cursor_, end, &pc);

	remove = pc.whole && !keep;
	if (remove) {
		o = storage_disk_op_get(d, r, STORAGE_OP_REMOVE, pc.n);
		if (!o)
			return -ENOMEM;
	} else {
		o = storage_disk_op_get(d, r, STORAGE_OP_ZERO, pc.n);
		if (!o)
			return -ENOMEM;
		o->op.off = pc.obj_off;
		o->op.len = pc.len;
	}
	r->cursor_ += pc.len;
	ret = storage_disk_op_issue(d, r, o);
	if (ret == 0 && remove)
		map_clear(d, pc.n);
	return ret;
}

static bool req_finished(const struct storage_req *r)
{
	if (r->inflight_)
		return false;
	if (r->error_)
		return true;
	if (r->cursor_ < r->off + r->len)
		return false;
	return !(r->state_ & REQ_SYNC_AT_END) || (r->state_ & REQ_SYNC_SENT);
}

/* Issues ops until DISK_REQ_MAX_OPS are in flight or the walk is over.
 * After an error nothing new is issued; the request then only waits for
 * what is in flight. */
static void pump(struct storage_disk *d, struct storage_req *r)
{
	uint64_t end = r->off + r->len;
	struct disk_op *o;
	struct disk_piece pc;
	bool walking;
	int ret = 0;

	while (!r->error_ && r->inflight_ < DISK_REQ_MAX_OPS &&
	       r->cursor_ < end) {
		if (r->cmd == STORAGE_ZERO || r->cmd == STORAGE_TRIM) {
			ret = step_zero(d, r, end);
		} else {
			storage_disk_piece_at(d, r->cursor_, end, &pc);
			if (r->cmd == STORAGE_READ)
				ret = step_read(d, r, &pc);
			else
				ret = step_write(d, r, &pc);
			if (ret == 0)
				r->cursor_ += pc.len;
		}
		if (ret < 0)
			r->error_ = ret;
	}
	/* A mutation still walking is tracked, so that a cut can send the
	 * rest of it under the context it was submitted with. */
	walking = !r->error_ && r->cursor_ < end && r->cmd != STORAGE_READ;
	if (walking && !(r->state_ & REQ_WALKING))
		r->error_ = storage_disk_walk_begin(d, r);
	else if (!walking && (r->state_ & REQ_WALKING))
		storage_disk_walk_end(d, r);

	/* SYNC covers the ops completed before it, so it goes last, alone. */
	if (!r->error_ && !r->inflight_ && r->cursor_ >= end &&
	    (r->state_ & REQ_SYNC_AT_END) && !(r->state_ & REQ_SYNC_SENT)) {
		o = storage_disk_op_get(d, r, STORAGE_OP_SYNC, 0);
		if (!o) {
			r->error_ = -ENOMEM;
			return;
		}
		r->state_ |= REQ_SYNC_SENT;
		r->error_ = storage_disk_op_issue(d, r, o);
	}
}

/* Turns a finished op into the request's result for that piece. */
static int op_result(struct storage_disk *d, const struct disk_op *o)
{
	const struct storage_op *op = &o->op;
	unsigned char *buf = op->buf;

	switch (op->code) {
	case STORAGE_OP_READ:
		if (op->result == -ENOENT) {
			memset(buf, 0, op->len);
			return 0;
		}
		if (op->result < 0)
			return (int)op->result;
		/* A short object: the rest of the extent was never written. */
		if ((uint64_t)op->result < op->len)
			memset(buf + op->result, 0, op->len - op->result);
		return 0;
	case STORAGE_OP_REMOVE:
		if (op->result == -ENOENT)
			return 0;
		/* The object may still be there: a set bit is the safe lie. */
		if (op->result < 0)
			map_set(d, o->extent);
		return (int)op->result;
	default:
		return op->result < 0 ? (int)op->result : 0;
	}
}

void storage_disk_op_end(struct storage_disk *d, struct storage_req *r, int ret)
{
	r->inflight_--;
	if (ret < 0 && !r->error_)
		r->error_ = ret;
	pump(d, r);
	if (req_finished(r))
		r->done(r, r->error_);
}

static void op_done(struct storage_completion *c)
{
	struct disk_op *o = (struct disk_op *)c;
	struct storage_req *r = o->op.owner;
	struct storage_disk *d;
	int ret;

	assert(o->op.magic == STORAGE_OP_MAGIC);
	d = r->disk_;
	assert(d && d->magic == DISK_MAGIC);

	ret = op_result(d, o);
	storage_disk_op_put(d, o);
	storage_disk_op_end(d, r, ret);
}

static void deferred_done(struct storage_completion *c)
{
	struct storage_req *r =
		(struct storage_req *)((char *)c -
				       offsetof(struct storage_req, comp_));

	r->done(r, r->error_);
}

void storage_disk_post_done(struct storage_disk *d, struct storage_req *r)
{
	r->comp_.next = NULL;
	r->comp_.fn = deferred_done;
	d->st->env.post(d->st->env.ctx, &r->comp_);
}

void storage_disk_mark_pending(struct storage_disk *d, struct storage_req *r)
{
	const unsigned char *buf = r->buf;
	uint64_t pos = r->cursor_, end = r->off + r->len;
	struct disk_piece pc;

	if (r->cmd != STORAGE_WRITE)
		return;
	for (; pos < end; pos += pc.len) {
		storage_disk_piece_at(d, pos, end, &pc);
		if (!disk_all_zero(buf + (pos - r->off), pc.len))
			map_set(d, pc.n);
	}
}

/* ---- STATUS ---- */

/* Answers from the map alone: runs of equal state from r->off, merged
 * across extents, the last one clipped at off+len or the disk's end. */
static int status_fill(const struct storage_disk *d, struct storage_req *r)
{
	uint64_t pos = r->off, end, n, last = 0, next, run_end;
	size_t count = 0;
	bool alloc;

	if (r->off >= d->size || (r->nextents && !r->extents))
		return -EINVAL;
	end = r->len > d->size - r->off ? d->size : r->off + r->len;
	if (end > pos)
		last = (end - 1) >> d->shift;
	while (pos < end && count < r->nextents) {
		n = pos >> d->shift;
		if (d->clone) {
			alloc = storage_disk_clone_test(d, n);
			next = storage_disk_clone_next(d, n + 1, last + 1,
						       !alloc);
		} else {
			alloc = map_test(d, n);
			next = map_next(d, n + 1, last + 1, !alloc);
		}
		run_end = next > last ? end : next << d->shift;
		r->extents[count].length = run_end - pos;
		r->extents[count].hole = !alloc;
		count++;
		pos = run_end;
	}
	r->nextents = count;
	return 0;
}

/* ---- public API ---- */

static int check_range(const struct storage_disk *d,
		       const struct storage_req *r)
{
	if (r->off > d->size || r->len > d->size - r->off)
		return -EINVAL;
	if ((r->cmd == STORAGE_READ || r->cmd == STORAGE_WRITE) && r->len &&
	    !r->buf)
		return -EINVAL;
	if (r->cmd != STORAGE_READ && d->read_only)
		return -EROFS;
	return 0;
}

void storage_disk_submit(struct storage_disk *d, struct storage_req *r)
{
	assert(d && d->magic == DISK_MAGIC);
	assert(r && r->done);

	r->disk_ = d;
	r->cursor_ = r->off;
	r->inflight_ = 0;
	r->error_ = 0;
	r->state_ = 0;

	switch (r->cmd) {
	case STORAGE_READ:
		r->error_ = check_range(d, r);
		break;
	case STORAGE_WRITE:
	case STORAGE_ZERO:
	case STORAGE_TRIM:
		r->error_ = check_range(d, r);
		if (r->cmd != STORAGE_WRITE && (r->flags & STORAGE_F_FUA))
			r->state_ |= REQ_SYNC_AT_END;
		/* Counted at submission, so that the count taken at a cut
		 * holds exactly the requests submitted before it. */
		if (!r->error_)
			storage_disk_mark_changed(d, r->off, r->len);
		break;
	case STORAGE_FLUSH:
		/* One SYNC of the ioctx every connection of the disk
		 * shares, so it covers their writes too. */
		r->cursor_ = r->off + r->len;
		r->state_ |= REQ_SYNC_AT_END;
		break;
	case STORAGE_STATUS:
		r->error_ = status_fill(d, r);
		r->cursor_ = r->off + r->len;
		break;
	default:
		r->error_ = -EINVAL;
		break;
	}

	if (!r->error_)
		pump(d, r);
	if (req_finished(r))
		storage_disk_post_done(d, r);
}

static int map_add(void *arg, const char *oid, uint64_t size)
{
	struct storage_disk *d = arg;
	uint64_t n;

	/* Extents past the end (left by a shrink) are not part of the disk
	 * and a name we did not write is not ours to interpret. */
	if (parse_extent_oid(oid, d->id, &n) < 0 || n >= d->nextents)
		return 0;
	map_set(d, n);
	if (d->clone)
		storage_disk_clone_listed(d, n, size);
	return 0;
}

static int map_build(struct storage_disk *d, const atomic_bool *cancel)
{
	char prefix[STORAGE_OID_MAX];
	int ret;

	d->map = storage_disk_bits_new(d->nextents, &d->nwords);
	if (!d->map)
		return -ENOMEM;
	ret = extent_prefix(prefix, sizeof(prefix), d->id);
	if (ret < 0)
		return ret;
	d->listed = true;
	return d->st->be_ops->list(d->io, prefix, map_add, d, cancel);
}

int storage_disk_open(struct storage_store *st,
		      const struct storage_disk_params *p,
		      struct storage_disk **out)
{
	struct storage_disk *d = NULL;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!st || !p || !p->ns || p->extent_size < 4096 ||
	    (p->extent_size & (p->extent_size - 1)))
		return -EINVAL;
	/* A clone is written at HEAD and never snapshotted. */
	if (p->parent_id &&
	    (p->snap != STORAGE_SNAP_HEAD || p->snap_seq || p->nsnaps))
		return -EINVAL;

	d = calloc(1, sizeof(*d));
	if (!d) {
		ret = -ENOMEM;
		goto out;
	}
	d->magic = DISK_MAGIC;
	d->st = st;
	d->id = p->id;
	d->size = p->size;
	d->extent_size = p->extent_size;
	d->shift = (unsigned)__builtin_ctz(p->extent_size);
	d->nextents =
		(p->size >> d->shift) + ((p->size & (p->extent_size - 1)) != 0);
	d->snap = p->snap;
	/* A restore point is history: it is never written. */
	d->read_only = p->read_only || p->snap != STORAGE_SNAP_HEAD;

	ret = st->be_ops->ioctx_open(st->be, p->ns, &d->io);
	if (ret < 0) {
		d->io = NULL;
		goto out;
	}
	if (p->parent_id) {
		ret = storage_disk_clone_open(d, p);
		if (ret < 0)
			goto out;
	}
	/* The listing shows HEAD objects only, which says nothing about a
	 * snap: a view takes the map recorded at its cut, if any, a clone
	 * lists its own extents, a live disk takes its saved map if any. */
	ret = p->saved_map && !p->parent_id && p->snap == STORAGE_SNAP_HEAD
		      ? storage_disk_map_load(d, p->saved_map, p->saved_map_len)
		      : -ENODATA;
	if (ret == -ENODATA && p->snap == STORAGE_SNAP_HEAD)
		ret = map_build(d, p->cancel);
	if (ret < 0 && ret != -ENODATA)
		goto out;
	ret = storage_disk_rp_open(d, p);
	if (ret == 0)
		ret = storage_disk_ledger_open(d, p);
	if (ret < 0)
		goto out;
	*out = d;
	d = NULL;
out:
	storage_disk_close(d);
	return ret;
}

void storage_disk_close(struct storage_disk *d)
{
	struct disk_op *o;

	if (!d)
		return;
	assert(d->magic == DISK_MAGIC);
	while ((o = d->free_ops)) {
		d->free_ops = o->next_free;
		free(o);
	}
	storage_disk_rp_close(d);
	storage_disk_ledger_close(d);
	storage_disk_clone_close(d);
	if (d->io)
		d->st->be_ops->ioctx_close(d->io);
	free(d->map);
	d->magic = 0;
	free(d);
}

uint64_t storage_disk_size(const struct storage_disk *d)
{
	return d->size;
}

uint32_t storage_disk_extent_size(const struct storage_disk *d)
{
	return d->extent_size;
}

/* ---- destroy ---- */

/* Extent numbers found by the listing; removal happens after the listing
 * is over, since a backend need not allow changes while it lists. */
struct extent_list {
	uint64_t id;
	uint64_t *v;
	size_t n, cap;
};

static int list_add(void *arg, const char *oid, uint64_t size)
{
	struct extent_list *l = arg;
	uint64_t *v, n;
	size_t cap;

	(void)size;
	if (parse_extent_oid(oid, l->id, &n) < 0)
		return 0;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 64;
		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = n;
	return 0;
}

static int remove_object(struct storage_store *st, void *io, const char *oid)
{
	struct storage_op op;
	int ret;

	storage_op_init(&op, STORAGE_OP_REMOVE, NULL);
	snprintf(op.oid, sizeof(op.oid), "%s", oid);
	ret = storage_op_run(st, io, &op);
	return ret == -ENOENT ? 0 : ret;
}

int storage_disk_destroy(struct storage_store *st, const char *ns, uint64_t id,
			 uint64_t size, uint32_t extent_size)
{
	struct extent_list l = {.id = id};
	char oid[STORAGE_OID_MAX];
	void *io = NULL;
	size_t i;
	int ret;

	/* The listing finds the objects, whatever the size was; the
	 * parameters are the catalog's and only checked for sanity. */
	(void)size;
	if (!st || !ns || extent_size < 4096 ||
	    (extent_size & (extent_size - 1)))
		return -EINVAL;

	ret = st->be_ops->ioctx_open(st->be, ns, &io);
	if (ret < 0) {
		io = NULL;
		goto out;
	}
	ret = extent_prefix(oid, sizeof(oid), id);
	if (ret < 0)
		goto out;
	ret = st->be_ops->list(io, oid, list_add, &l, NULL);
	if (ret < 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		ret = storage_oid_extent(oid, sizeof(oid), id, l.v[i]);
		if (ret < 0)
			goto out;
		ret = remove_object(st, io, oid);
		if (ret < 0)
			goto out;
	}
	/* The header goes last: while any extent is left, the disk can
	 * still be found and destroyed again. */
	ret = storage_oid_header(oid, sizeof(oid), id);
	if (ret < 0)
		goto out;
	ret = remove_object(st, io, oid);
out:
	free(l.v);
	if (io)
		st->be_ops->ioctx_close(io);
	return ret;
}
