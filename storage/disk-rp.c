/* Restore points of a disk: write snap contexts, allocation and change
 * maps, resize, and the header object.
 *
 * A cut is storage_disk_set_snapc() on the owner thread: writes submitted
 * after it preserve the disk as it was at the call.  Backends capture the
 * context of the data ioctx when an op is submitted, so for a request that
 * is wholly issued inside storage_disk_submit() the cut is exact by
 * construction.  A long request (more extents than DISK_REQ_MAX_OPS)
 * issues the rest of its ops later, from completions; such a request is a
 * "walk", and a cut during a walk gives it the old context to keep, which
 * the data ioctx is switched to around its later ops.  The cut also sets
 * the map bits of the data pieces the walk has yet to write, so a map
 * taken at the cut covers everything submitted before it.
 *
 * The header object goes through an ioctx of its own without a snap
 * context, as librbd does with its md_ctx: it describes the restore
 * points, so it must never be cloned by them.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk-int.h"

/* A header larger than this is not one of ours. */
#define HEADER_MAX (UINT64_C(64) << 20)

/* ---- write snap contexts ---- */

/* The backends' rules, checked before anything changes. */
static int snapc_check(uint64_t seq, const uint64_t *snaps, unsigned n)
{
	unsigned i;

	if (n && (!snaps || snaps[0] > seq))
		return -EINVAL;
	for (i = 1; i < n; i++)
		if (snaps[i] >= snaps[i - 1])
			return -EINVAL;
	return 0;
}

static struct disk_snapc *snapc_new(uint64_t seq, const uint64_t *snaps,
				    unsigned n)
{
	struct disk_snapc *sc;

	sc = malloc(sizeof(*sc) + (size_t)n * sizeof(sc->snaps[0]));
	if (!sc)
		return NULL;
	sc->refs = 1;
	sc->seq = seq;
	sc->n = n;
	if (n)
		memcpy(sc->snaps, snaps, (size_t)n * sizeof(sc->snaps[0]));
	return sc;
}

static struct disk_snapc *snapc_ref(struct disk_snapc *sc)
{
	if (sc)
		sc->refs++;
	return sc;
}

static void snapc_unref(struct disk_snapc *sc)
{
	if (sc && --sc->refs == 0)
		free(sc);
}

static struct disk_walk *walk_find(struct storage_disk *d,
				   const struct storage_req *r)
{
	size_t i;

	for (i = 0; i < d->nwalks; i++)
		if (d->walks[i].r == r)
			return &d->walks[i];
	return NULL;
}

int storage_disk_ctx_for(struct storage_disk *d, const struct storage_req *r)
{
	struct disk_snapc *want = d->snapc;
	struct disk_walk *w;
	int ret;

	if (r->state_ & REQ_OLD_SNAPC) {
		w = walk_find(d, r);
		assert(w && w->sc);
		want = w->sc;
	}
	assert(want);
	if (want == d->io_snapc)
		return 0;
	/* The switch back happens just as lazily, at the next mutation of
	 * a request of the current context. */
	ret = d->st->be_ops->set_write_ctx(d->io, want->seq, want->snaps,
					   want->n);
	if (ret < 0)
		return ret;
	snapc_unref(d->io_snapc);
	d->io_snapc = snapc_ref(want);
	return 0;
}

int storage_disk_walk_begin(struct storage_disk *d, struct storage_req *r)
{
	struct disk_walk *v;
	size_t cap;

	if (d->nwalks == d->walks_cap) {
		cap = d->walks_cap ? d->walks_cap * 2 : 8;
		v = realloc(d->walks, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->walks = v;
		d->walks_cap = cap;
	}
	d->walks[d->nwalks].r = r;
	d->walks[d->nwalks].sc = NULL;
	d->nwalks++;
	r->state_ |= REQ_WALKING;
	return 0;
}

void storage_disk_walk_end(struct storage_disk *d, struct storage_req *r)
{
	struct disk_walk *w = walk_find(d, r);

	assert(w);
	snapc_unref(w->sc);
	*w = d->walks[--d->nwalks];
	r->state_ &= ~(REQ_WALKING | REQ_OLD_SNAPC);
}

int storage_disk_set_snapc(struct storage_disk *d, uint64_t seq,
			   const uint64_t *snaps, unsigned nsnaps)
{
	struct disk_snapc *sc;
	struct disk_walk *w;
	size_t i;
	int ret;

	assert(d && d->magic == DISK_MAGIC);
	if (!d->snapc)
		return -EROFS; /* a view writes nothing */
	/* A clone's restore point would need its parent's too. */
	if (d->clone)
		return -EOPNOTSUPP;
	ret = snapc_check(seq, snaps, nsnaps);
	if (ret < 0)
		return ret;
	sc = snapc_new(seq, snaps, nsnaps);
	if (!sc)
		return -ENOMEM;
	ret = d->st->be_ops->set_write_ctx(d->io, seq, snaps, nsnaps);
	if (ret < 0) {
		snapc_unref(sc);
		return ret;
	}
	snapc_unref(d->io_snapc);
	d->io_snapc = snapc_ref(sc);
	/* Every walk in progress was submitted before this cut. */
	for (i = 0; i < d->nwalks; i++) {
		w = &d->walks[i];
		if (!w->sc) {
			w->sc = snapc_ref(d->snapc);
			w->r->state_ |= REQ_OLD_SNAPC;
		}
		storage_disk_mark_pending(d, w->r);
	}
	snapc_unref(d->snapc);
	d->snapc = sc;
	return 0;
}

/* ---- maps ---- */

/* Sets the bits of extents [from, to], whole words where it can. */
static void bits_set_range(uint64_t *w, uint64_t from, uint64_t to)
{
	while (from <= to) {
		if (from % 64 == 0 && to - from >= 63) {
			w[from / 64] = ~UINT64_C(0);
			from += 64;
		} else {
			disk_bit_set(w, from++);
		}
	}
}

void storage_disk_mark_changed(struct storage_disk *d, uint64_t off,
			       uint64_t len)
{
	uint64_t from, to, n;

	if (!d->changed || len == 0)
		return;
	from = off >> d->shift;
	to = (off + len - 1) >> d->shift;
	/* The ledger counts each extent the latest restore point held
	 * once, at its first change: that is when the store clones it.
	 * Whole words of such extents are rare enough (a restore point
	 * per disk per interval) to take bit by bit. */
	if (d->cutmap) {
		for (n = from; n <= to; n++) {
			if (!disk_bit_test(d->changed, n)) {
				storage_disk_ledger_changing(d, n);
				disk_bit_set(d->changed, n);
			}
		}
		return;
	}
	bits_set_range(d->changed, from, to);
}

uint64_t storage_disk_take_changed(struct storage_disk *d)
{
	uint64_t count = 0, bytes;
	size_t i;

	assert(d && d->magic == DISK_MAGIC);
	if (!d->changed)
		return 0;
	for (i = 0; i < d->nwords; i++)
		count += (uint64_t)__builtin_popcountll(d->changed[i]);
	if (count == 0)
		return 0;
	bytes = count << d->shift;
	/* The last extent holds only what is left of the size. */
	if (disk_bit_test(d->changed, d->nextents - 1))
		bytes -= (d->nextents << d->shift) - d->size;
	memset(d->changed, 0, d->nwords * sizeof(*d->changed));
	d->nclones = 0;
	return bytes;
}

/* The public format is bytes, LSB first: byte i bit j is extent 8i+j. */
int storage_disk_map(struct storage_disk *d, uint8_t **map, size_t *len)
{
	size_t n, i;
	uint8_t *m;

	assert(d && d->magic == DISK_MAGIC);
	*map = NULL;
	*len = 0;
	if (!d->map)
		return -ENODATA;
	n = (size_t)((d->nextents + 7) / 8);
	m = calloc(n ? n : 1, 1);
	if (!m)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		m[i] = (uint8_t)(d->map[i / 8] >> (8 * (i % 8)));
	*map = m;
	*len = n;
	return 0;
}

int storage_disk_map_load(struct storage_disk *d, const uint8_t *map,
			  size_t len)
{
	uint64_t n;

	/* Only a map of exactly this disk: anything else is listed. */
	if (len != (size_t)((d->nextents + 7) / 8))
		return -ENODATA;
	d->map = storage_disk_bits_new(d->nextents, &d->nwords);
	if (!d->map)
		return -ENOMEM;
	for (n = 0; n < d->nextents; n++)
		if ((map[n / 8] >> (n % 8)) & 1)
			storage_disk_own(d, n);
	return 0;
}

/* A view's map from the one recorded at its cut.  Extents the recorded
 * map does not cover may hold data: their bits are set, since a set bit
 * costs a read while a wrong clear bit would lose data. */
static int view_map(struct storage_disk *d, const uint8_t *map, size_t len)
{
	size_t nbytes = (size_t)((d->nextents + 7) / 8), i;
	uint64_t b;

	d->map = storage_disk_bits_new(d->nextents, &d->nwords);
	if (!d->map)
		return -ENOMEM;
	for (i = 0; i < nbytes; i++) {
		b = i < len ? map[i] : 0xff;
		d->map[i / 8] |= b << (8 * (i % 8));
	}
	if (d->nextents % 64)
		d->map[d->nextents / 64] &=
			(UINT64_C(1) << (d->nextents % 64)) - 1;
	return 0;
}

int storage_disk_resize(struct storage_disk *d, uint64_t new_size)
{
	uint64_t n, *v;
	size_t nw;

	assert(d && d->magic == DISK_MAGIC);
	if (!d->snapc)
		return -EROFS; /* a view keeps the size of its cut */
	if (d->clone)
		return -EOPNOTSUPP; /* its maps keep the size of the cut */
	if (new_size < d->size)
		return -EINVAL;
	n = (new_size >> d->shift) + ((new_size & (d->extent_size - 1)) != 0);
	if (n / 64 + 1 > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	nw = (size_t)(n / 64 + 1);
	if (nw > d->nwords) {
		/* Either array may have grown when the other fails; the
		 * words counted in nwords stay valid in both. */
		v = realloc(d->map, nw * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + d->nwords, 0, (nw - d->nwords) * sizeof(*v));
		d->map = v;
		v = realloc(d->changed, nw * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + d->nwords, 0, (nw - d->nwords) * sizeof(*v));
		d->changed = v;
		d->nwords = nw;
	}
	/* Objects end at the old size at most (writes are clipped to it),
	 * so the grown part of the old last extent reads as zeros. */
	d->size = new_size;
	d->nextents = n;
	return 0;
}

/* ---- open and close ---- */

int storage_disk_rp_open(struct storage_disk *d,
			 const struct storage_disk_params *p)
{
	const struct storage_backend *be = d->st->be_ops;
	size_t nwords;
	int ret;

	if (p->snap != STORAGE_SNAP_HEAD)
		return p->map ? view_map(d, p->map, p->map_len) : 0;

	ret = snapc_check(p->snap_seq, p->snaps, p->nsnaps);
	if (ret < 0)
		return ret;
	d->changed = storage_disk_bits_new(d->nextents, &nwords);
	d->snapc = snapc_new(p->snap_seq, p->snaps, p->nsnaps);
	if (!d->changed || !d->snapc)
		return -ENOMEM;
	/* A fresh ioctx carries the empty context already. */
	if (p->snap_seq || p->nsnaps) {
		ret = be->set_write_ctx(d->io, p->snap_seq, p->snaps,
					p->nsnaps);
		if (ret < 0)
			return ret;
	}
	d->io_snapc = snapc_ref(d->snapc);
	if (p->read_only)
		return 0;
	ret = be->ioctx_open(d->st->be, p->ns, &d->hdr_io);
	if (ret < 0)
		d->hdr_io = NULL;
	return ret;
}

void storage_disk_rp_close(struct storage_disk *d)
{
	/* Every request completed before close: no walk is left. */
	assert(d->nwalks == 0);
	free(d->walks);
	snapc_unref(d->io_snapc);
	snapc_unref(d->snapc);
	if (d->hdr_io)
		d->st->be_ops->ioctx_close(d->hdr_io);
	free(d->changed);
}

/* ---- the header object ---- */

static void header_done(struct storage_completion *c)
{
	struct disk_op *o = (struct disk_op *)c;
	struct storage_req *r = o->op.owner;
	struct storage_disk *d = r->disk_;
	int ret = o->op.result < 0 ? (int)o->op.result : 0;

	assert(o->op.magic == STORAGE_OP_MAGIC);
	assert(d && d->magic == DISK_MAGIC);
	storage_disk_op_put(d, o);
	r->inflight_ = 0;
	r->done(r, ret);
}

void storage_disk_write_header(struct storage_disk *d, struct storage_req *r)
{
	struct disk_op *o;

	assert(d && d->magic == DISK_MAGIC);
	assert(r && r->done);
	r->disk_ = d;
	r->inflight_ = 0;
	r->error_ = 0;
	r->state_ = 0;
	if (!d->hdr_io)
		r->error_ = -EROFS; /* views and read-only disks */
	else if (r->len && !r->buf)
		r->error_ = -EINVAL;
	o = r->error_ ? NULL
		      : storage_disk_op_get(d, r, STORAGE_OP_WRITE_FULL, 0);
	if (!o) {
		if (!r->error_)
			r->error_ = -ENOMEM;
		storage_disk_post_done(d, r);
		return;
	}
	o->op.comp.fn = header_done;
	/* 16 hex digits and ".header" always fit STORAGE_OID_MAX. */
	if (storage_oid_header(o->op.oid, sizeof(o->op.oid), d->id) < 0)
		assert(!"header oid does not fit");
	o->op.buf = r->buf;
	o->op.len = r->len;
	r->inflight_ = 1;
	storage_op_submit(d->st, d->hdr_io, &o->op);
}

/* Reads with a growing buffer rather than STAT then READ: the header may
 * be replaced in between, and a short read proves the whole of it came. */
int storage_header_read(struct storage_store *st, const char *ns,
			uint64_t disk_id, void **buf, size_t *len)
{
	struct storage_op op;
	uint64_t cap = 4096;
	void *io = NULL, *b = NULL, *nb;
	int ret;

	*buf = NULL;
	*len = 0;
	if (!st || !ns)
		return -EINVAL;
	ret = st->be_ops->ioctx_open(st->be, ns, &io);
	if (ret < 0) {
		io = NULL;
		goto out;
	}
	for (;;) {
		nb = realloc(b, (size_t)cap);
		if (!nb) {
			ret = -ENOMEM;
			goto out;
		}
		b = nb;
		storage_op_init(&op, STORAGE_OP_READ, NULL);
		ret = storage_oid_header(op.oid, sizeof(op.oid), disk_id);
		if (ret < 0)
			goto out;
		op.buf = b;
		op.len = cap;
		ret = storage_op_run(st, io, &op);
		if (ret < 0)
			goto out;
		if ((uint64_t)op.result < cap)
			break;
		if (cap >= HEADER_MAX) {
			ret = -EFBIG;
			goto out;
		}
		cap *= 2;
	}
	*buf = b;
	*len = (size_t)op.result;
	b = NULL;
out:
	free(b);
	if (io)
		st->be_ops->ioctx_close(io);
	return ret;
}

int storage_header_write(struct storage_store *st, const char *ns,
			 uint64_t disk_id, const void *buf, size_t len)
{
	struct storage_op op;
	void *io = NULL;
	int ret;

	if (!st || !ns || (len && !buf))
		return -EINVAL;
	ret = st->be_ops->ioctx_open(st->be, ns, &io);
	if (ret < 0)
		return ret;
	/* A fresh ioctx carries no snap context: never cloned. */
	storage_op_init(&op, STORAGE_OP_WRITE_FULL, NULL);
	ret = storage_oid_header(op.oid, sizeof(op.oid), disk_id);
	if (ret == 0) {
		op.buf = (void *)(uintptr_t)buf;
		op.len = len;
		ret = storage_op_run(st, io, &op);
	}
	st->be_ops->ioctx_close(io);
	return ret;
}

/* ---- snap ids ---- */

int storage_store_snap_create(struct storage_store *st, uint64_t *id)
{
	if (!st || !id)
		return -EINVAL;
	return st->be_ops->snap_create(st->be, id);
}

int storage_store_snap_remove(struct storage_store *st, uint64_t id)
{
	if (!st)
		return -EINVAL;
	return st->be_ops->snap_remove(st->be, id);
}
