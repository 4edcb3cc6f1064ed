/* The stored-bytes ledger of an open disk: what the disk costs in the
 * store, counted from what is really allocated.
 *
 * Two parts, both in whole extents (an object is at most one extent):
 *   live    the extents the allocation map holds (nalloc, kept by
 *           map_set/map_clear in disk.c);
 *   clones  the extents the latest restore point held that changed since
 *           it (nclones, kept by storage_disk_mark_changed): the first
 *           write, zero or trim of such an extent after a cut makes the
 *           store keep its old content for the restore point (a RADOS
 *           clone, a file in the local store's .snaps/).
 * At the next cut, the clones of the interval are handed over with
 * storage_disk_ledger_cut(): the catalog keeps them with the restore
 * point they preserve, and the count starts again from zero.  Older
 * history is the catalog's business (tenant/catalog-ledger.c).
 *
 * After a crash.  The change bits since the latest restore point live
 * only in the process; a clean close cuts first, so nothing is lost,
 * but a crash loses them while the store keeps the clones.  An open
 * without a saved map (the map is listed: the last close was not clean)
 * therefore asks the store, for every extent the latest restore point
 * held, whether it keeps a clone of it for that restore point's snap
 * (the backend's snap_cloned: the local store's snapsets in .snaps/,
 * RADOS object versions at the snap and at head).  Those extents are
 * changed and counted as clones again, exactly as if the process had
 * lived on: the next cut hands them over, and rewriting one costs
 * nothing.  The change map (bytes_changed of the next restore point)
 * also gets every extent the store holds now that the restore point did
 * not; without a restore point, every extent the store holds.  Changes
 * that left no trace (an extent written and removed again between the
 * cut and the crash) are not counted.
 *
 * Like the map, the ledger errs only upwards: a set map bit may name an
 * object a failed write never created, and a partial last extent counts
 * whole.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk-int.h"

static bool cut_test(const struct storage_disk *d, uint64_t n)
{
	return d->cutmap && n / 64 < d->cut_nwords &&
	       disk_bit_test(d->cutmap, n);
}

/* Extents asked about in one backend call. */
#define PROBE_BATCH 64

/* Finds again the clones the store made for snap since the latest cut:
 * asks about the extents the cut held, PROBE_BATCH at a time, and gives
 * up between two batches once *cancel is set. */
static int rebuild_clones(struct storage_disk *d, uint64_t snap,
			  const atomic_bool *cancel)
{
	const struct storage_backend *be = d->st->be_ops;
	char(*oids)[STORAGE_OID_MAX];
	const char(*names)[STORAGE_OID_MAX];
	uint64_t ext[PROBE_BATCH], n;
	bool cloned[PROBE_BATCH];
	size_t i, k = 0;
	int ret = 0;

	oids = malloc(PROBE_BATCH * sizeof(*oids));
	if (!oids)
		return -ENOMEM;
	names = (const void *)oids;
	for (n = 0; n < d->nextents && ret == 0; n++) {
		if (cut_test(d, n)) {
			ret = storage_oid_extent(oids[k], sizeof(oids[k]),
						 d->id, n);
			ext[k++] = n;
		}
		if (ret < 0 || !k || (k < PROBE_BATCH && n + 1 < d->nextents))
			continue;
		if (storage_cancelled(cancel))
			ret = -ECANCELED;
		else if (be->snap_cloned)
			ret = be->snap_cloned(d->io, snap, names, k, cloned,
					      cancel);
		else
			ret = -EOPNOTSUPP;
		if (ret == -EOPNOTSUPP) {
			/* Cannot tell: count them all (errs upwards). */
			memset(cloned, 1, sizeof(cloned));
			ret = 0;
		}
		for (i = 0; ret == 0 && i < k; i++) {
			if (cloned[i]) {
				disk_bit_set(d->changed, ext[i]);
				d->nclones++;
			}
		}
		k = 0;
	}
	free(oids);
	return ret;
}

/* An open after a crash (see the top of this file). */
static int ledger_rebuild(struct storage_disk *d,
			  const struct storage_disk_params *p)
{
	uint64_t snap =
		p->cut_snap ? p->cut_snap : (p->nsnaps ? p->snaps[0] : 0);
	uint64_t held;
	size_t i;

	for (i = 0; i < d->nwords; i++) {
		held = d->cutmap && i < d->cut_nwords ? d->cutmap[i] : 0;
		d->changed[i] = d->map[i] & ~held;
	}
	if (!d->cutmap || !snap)
		return 0;
	return rebuild_clones(d, snap, p->cancel);
}

int storage_disk_ledger_open(struct storage_disk *d,
			     const struct storage_disk_params *p)
{
	size_t nbytes, i;

	if (d->snap != STORAGE_SNAP_HEAD || d->clone || !d->map)
		return 0;
	if (p->cut_map) {
		d->cutmap = storage_disk_bits_new(d->nextents, &d->cut_nwords);
		if (!d->cutmap)
			return -ENOMEM;
		/* Extents past the recorded map did not exist at the cut
		 * (the disk grew since): no clone can preserve them. */
		nbytes = (size_t)((d->nextents + 7) / 8);
		if (nbytes > p->cut_map_len)
			nbytes = p->cut_map_len;
		for (i = 0; i < nbytes; i++)
			d->cutmap[i / 8] |= (uint64_t)p->cut_map[i]
					    << (8 * (i % 8));
		if (d->nextents % 64 && d->nextents / 64 < d->cut_nwords)
			d->cutmap[d->nextents / 64] &=
				(UINT64_C(1) << (d->nextents % 64)) - 1;
	}
	return d->listed && d->changed ? ledger_rebuild(d, p) : 0;
}

void storage_disk_ledger_close(struct storage_disk *d)
{
	free(d->cutmap);
	d->cutmap = NULL;
}

uint64_t storage_disk_stored_bytes(const struct storage_disk *d)
{
	assert(d && d->magic == DISK_MAGIC);
	return (d->nalloc + d->nclones) << d->shift;
}

uint64_t storage_disk_write_cost(const struct storage_disk *d,
				 enum storage_cmd cmd, unsigned flags,
				 uint64_t off, uint64_t len)
{
	uint64_t n, last, cost = 0, es;
	bool clones, held;
	/* ZERO with NO_HOLE writes zeros into the object: it stays. */
	bool keep = cmd == STORAGE_ZERO && (flags & STORAGE_F_NO_HOLE);

	assert(d && d->magic == DISK_MAGIC);
	if (len == 0 || off >= d->size || !d->map ||
	    (cmd != STORAGE_WRITE && cmd != STORAGE_ZERO &&
	     cmd != STORAGE_TRIM))
		return 0;
	if (len > d->size - off)
		len = d->size - off;
	es = (uint64_t)d->extent_size;
	last = (off + len - 1) >> d->shift;
	for (n = off >> d->shift; n <= last; n++) {
		held = disk_bit_test(d->map, n);
		/* The first change since the cut clones what the cut held. */
		clones = cut_test(d, n) && d->changed &&
			 !disk_bit_test(d->changed, n);
		if (cmd == STORAGE_WRITE) {
			cost += held ? 0 : es;
			cost += clones ? es : 0;
		} else if (held && clones) {
			/* Zeroing a whole extent (the last one ends at the
			 * disk's end) removes the live object while the
			 * clone takes its place: no growth. */
			uint64_t start = n << d->shift;
			uint64_t end =
				d->size - start < es ? d->size : start + es;
			bool whole = !keep && off <= start && off + len >= end;

			cost += whole ? 0 : es;
		}
	}
	return cost;
}

int storage_disk_ledger_cut(struct storage_disk *d, uint8_t **clones,
			    size_t *len, uint64_t *bytes)
{
	size_t n, i;
	uint8_t *m = NULL;
	uint64_t *next;
	uint64_t count = 0;

	assert(d && d->magic == DISK_MAGIC);
	*clones = NULL;
	*len = 0;
	*bytes = 0;
	if (!d->map || !d->changed)
		return -ENODATA;
	if (d->cutmap && d->nclones) {
		n = (size_t)((d->nextents + 7) / 8);
		m = calloc(n ? n : 1, 1);
		if (!m)
			return -ENOMEM;
		for (i = 0; i < d->nwords && i < d->cut_nwords; i++) {
			uint64_t w = d->changed[i] & d->cutmap[i];

			count += (uint64_t)__builtin_popcountll(w);
			for (size_t b = 0; b < 8 && i * 8 + b < n; b++)
				m[i * 8 + b] = (uint8_t)(w >> (8 * b));
		}
		*clones = m;
		*len = n;
		*bytes = count << d->shift;
	}
	/* The cut being made is the latest restore point from now on. */
	next = malloc(d->nwords * sizeof(*next));
	if (!next) {
		free(m);
		*clones = NULL;
		*len = 0;
		*bytes = 0;
		return -ENOMEM;
	}
	memcpy(next, d->map, d->nwords * sizeof(*next));
	free(d->cutmap);
	d->cutmap = next;
	d->cut_nwords = d->nwords;
	d->nclones = 0;
	return 0;
}
