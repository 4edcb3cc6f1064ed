/* Restore points of the disk layer (storage/disk-rp.c), run against the
 * memory and local backends, and rados when HAVEN_TEST_CEPH_CONF names a
 * test cluster (pool HAVEN_TEST_CEPH_POOL, default "haven-test").
 *
 * Every test keeps a model of the live disk: its bytes and which extents
 * the allocation map must call data.  A cut copies the model; the view
 * opened at the cut's snap with the cut's map must read exactly that copy
 * and report its holes, however the live disk changed since.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture-store.h"

#define ES (UINT32_C(64) << 10)
#define NEXT 64
#define DSIZE ((uint64_t)ES * NEXT - ES / 2) /* the last extent is partial */
#define MAXCUTS 24

struct backend_case {
	const char *type;
};

struct cut {
	uint64_t snap, size;
	uint8_t *image; /* the model at the cut */
	bool *alloc;
	uint8_t *map; /* storage_disk_map() at the cut */
	size_t map_len;
};

struct fx {
	const struct backend_case *bc;
	char dir[PATH_MAX];
	char ns[64];
	uint64_t id;
	struct storage_route route;
	struct storage_sync *sync;
	struct storage_store *st;
	struct storage_disk *d; /* the live disk */
	uint64_t size;
	uint8_t *model;
	bool alloc[NEXT * 2];
	bool changed[NEXT * 2];
	uint64_t snaps[MAXCUTS]; /* newest first, as in a snap context */
	unsigned ncuts;
	struct cut cuts[MAXCUTS];
	uint32_t rnd;
};

static unsigned ns_counter;

static int live_open(struct fx *f, uint64_t size)
{
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id,
		.size = size,
		.extent_size = ES,
		.snap = STORAGE_SNAP_HEAD,
		.snap_seq = f->ncuts ? f->snaps[0] : 0,
		.snaps = f->snaps,
		.nsnaps = f->ncuts,
	};

	return storage_disk_open(f->st, &p, &f->d);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->bc = *state;
	snprintf(f->ns, sizeof(f->ns), "rp-%ld-%u", (long)getpid(),
		 ++ns_counter);
	f->id = 0x1000 + ns_counter;
	f->rnd = 12345 + ns_counter;
	fixture_route(&f->route, f->dir, f->bc->type, "haven-disk-rp");
	fixture_store_open(&f->route, &f->sync, &f->st);
	f->size = DSIZE;
	f->model = calloc(1, (size_t)ES * NEXT * 2);
	assert_non_null(f->model);
	assert_int_equal(live_open(f, f->size), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unsigned i;

	storage_disk_close(f->d);
	storage_store_close(f->st);
	storage_sync_free(f->sync);
	fixture_rmtree(f->dir);
	for (i = 0; i < f->ncuts; i++) {
		free(f->cuts[i].image);
		free(f->cuts[i].alloc);
		free(f->cuts[i].map);
	}
	free(f->model);
	free(f);
	return 0;
}

/* ---- the model ---- */

/* Applies a WRITE, ZERO or TRIM to the model as the disk layer's map
 * sees it: data sets an extent, zeros over a whole extent (up to the
 * disk's end) clear it, partial zeros leave it. */
static void model_apply(struct fx *f, enum storage_cmd cmd, uint64_t off,
			uint64_t len, const uint8_t *buf)
{
	uint64_t pos, n, start, end, piece;

	if (cmd == STORAGE_WRITE)
		memcpy(f->model + off, buf, len);
	else
		memset(f->model + off, 0, len);
	for (pos = off; pos < off + len; pos += piece) {
		n = pos / ES;
		start = n * ES;
		end = start + ES < f->size ? start + ES : f->size;
		piece = (off + len < end ? off + len : end) - pos;
		f->changed[n] = true;
		if (cmd == STORAGE_WRITE &&
		    !fixture_all_zero(buf + (pos - off), piece))
			f->alloc[n] = true;
		else if (pos == start && pos + piece == end)
			f->alloc[n] = false;
	}
}

/* Submits a request and applies it to the model at once: the model is
 * the disk as of the requests submitted so far. */
static void model_submit(struct fx *f, struct fixture_req *t,
			 enum storage_cmd cmd, uint64_t off, uint64_t len,
			 void *buf)
{
	model_apply(f, cmd, off, len, buf);
	fixture_req_submit(f->d, t, cmd, off, len, buf);
}

static void model_run(struct fx *f, enum storage_cmd cmd, uint64_t off,
		      uint64_t len, void *buf)
{
	struct fixture_req t;

	model_submit(f, &t, cmd, off, len, buf);
	assert_int_equal(fixture_req_wait(f->sync, &t), 0);
}

static void model_write(struct fx *f, uint64_t off, uint64_t len, unsigned seed,
			bool zeros)
{
	uint8_t *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	if (zeros)
		memset(buf, 0, len);
	else
		fixture_fill(buf, len, seed);
	model_run(f, STORAGE_WRITE, off, len, buf);
	free(buf);
}

static uint64_t model_take_changed(struct fx *f)
{
	uint64_t bytes = 0, n, end;

	for (n = 0; n * ES < f->size; n++) {
		if (!f->changed[n])
			continue;
		end = (n + 1) * ES < f->size ? (n + 1) * ES : f->size;
		bytes += end - n * ES;
		f->changed[n] = false;
	}
	return bytes;
}

/* ---- cuts and views ---- */

/* Allocates a snap and cuts: the snap context switches, the map and the
 * model are recorded. */
static struct cut *cut(struct fx *f)
{
	struct cut *c;
	uint64_t id = 0;

	assert_true(f->ncuts < MAXCUTS);
	assert_int_equal(storage_store_snap_create(f->st, &id), 0);
	assert_true(f->ncuts == 0 || id > f->snaps[0]);
	memmove(f->snaps + 1, f->snaps, f->ncuts * sizeof(f->snaps[0]));
	f->snaps[0] = id;
	c = &f->cuts[f->ncuts++];
	assert_int_equal(storage_disk_set_snapc(f->d, id, f->snaps, f->ncuts),
			 0);
	assert_int_equal(storage_disk_map(f->d, &c->map, &c->map_len), 0);
	c->snap = id;
	c->size = f->size;
	assert_int_equal(c->map_len, ((f->size + ES - 1) / ES + 7) / 8);
	c->image = malloc(f->size);
	c->alloc = calloc(NEXT * 2, sizeof(bool));
	assert_non_null(c->image);
	assert_non_null(c->alloc);
	memcpy(c->image, f->model, f->size);
	memcpy(c->alloc, f->alloc, sizeof(f->alloc));
	return c;
}

/* The map handed out is the model's allocation, bit for bit. */
static void expect_map(const struct cut *c)
{
	uint64_t n, next = (c->size + ES - 1) / ES;

	for (n = 0; n < c->map_len * 8; n++) {
		bool bit = (c->map[n / 8] >> (n % 8)) & 1;

		assert_int_equal(bit, n < next && c->alloc[n]);
	}
}

/* Checks a disk's STATUS per extent: with 'alloc', holes exactly where
 * the model has them; always, a hole reads as zeros. */
static void expect_status(struct fx *f, struct storage_disk *d, uint64_t size,
			  const bool *alloc, const uint8_t *image)
{
	struct storage_extent e[NEXT * 2];
	uint64_t pos = 0, n, end;
	struct fixture_req t;
	size_t i;

	memset(&t, 0, sizeof(t));
	t.r.cmd = STORAGE_STATUS;
	t.r.len = size;
	t.r.extents = e;
	t.r.nextents = NEXT * 2;
	t.r.done = fixture_req_done;
	t.r.priv = &t;
	storage_disk_submit(d, &t.r);
	t.submitted = true;
	assert_int_equal(fixture_req_wait(f->sync, &t), 0);
	for (i = 0; i < t.r.nextents; i++) {
		end = pos + e[i].length;
		for (n = pos / ES; n * ES < end; n++) {
			if (alloc)
				assert_int_equal(e[i].hole, !alloc[n]);
		}
		if (e[i].hole)
			assert_true(fixture_all_zero(image + pos, end - pos));
		pos = end;
	}
	assert_int_equal(pos, size);
}

static void expect_disk(struct fx *f, struct storage_disk *d, uint64_t size,
			const uint8_t *image)
{
	uint8_t *buf = malloc(size);

	assert_non_null(buf);
	memset(buf, 0xee, size);
	assert_int_equal(
		fixture_req_run(f->sync, d, STORAGE_READ, 0, size, buf), 0);
	assert_memory_equal(buf, image, size);
	free(buf);
}

/* Opens the view of a cut and checks its bytes and its holes; with
 * exact_map, the holes must be the model's exactly. */
static void expect_view(struct fx *f, const struct cut *c, bool exact_map)
{
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id,
		.size = c->size,
		.extent_size = ES,
		.snap = c->snap,
		.map = c->map,
		.map_len = c->map_len,
	};
	struct storage_disk *v = NULL;
	uint8_t byte = 1;

	assert_int_equal(storage_disk_open(f->st, &p, &v), 0);
	assert_int_equal(storage_disk_size(v), c->size);
	expect_disk(f, v, c->size, c->image);
	expect_status(f, v, c->size, exact_map ? c->alloc : NULL, c->image);
	assert_int_equal(
		fixture_req_run(f->sync, v, STORAGE_WRITE, 0, 1, &byte),
		-EROFS);
	assert_int_equal(fixture_req_run(f->sync, v, STORAGE_TRIM, 0, ES, NULL),
			 -EROFS);
	assert_int_equal(storage_disk_set_snapc(v, c->snap, &c->snap, 1),
			 -EROFS);
	assert_int_equal(storage_disk_resize(v, c->size + ES), -EROFS);
	storage_disk_close(v);
}

static void expect_live(struct fx *f)
{
	expect_disk(f, f->d, f->size, f->model);
	expect_status(f, f->d, f->size, f->alloc, f->model);
}

/* A mix of everything that changes a disk, at random places. */
static void workload(struct fx *f, unsigned nops, unsigned seed)
{
	uint64_t nexts = (f->size + ES - 1) / ES, n, off, len;
	unsigned i, kind;

	for (i = 0; i < nops; i++) {
		n = fixture_rnd(&f->rnd, (uint32_t)nexts);
		kind = fixture_rnd(&f->rnd, 7);
		off = n * ES;
		len = ES;
		switch (kind) {
		case 0: /* partial data inside an extent */
		case 2: /* partial zeros */
			off += fixture_rnd(&f->rnd, ES / 512) * 512;
			len = 512 * (1 + fixture_rnd(&f->rnd, 32));
			break;
		case 1: /* whole extents of data, sometimes a walk */
		case 3: /* whole extents of zeros */
			len = (uint64_t)ES *
			      (1 + fixture_rnd(&f->rnd, kind == 1 ? 20 : 3));
			break;
		default: /* ZERO, TRIM, unaligned data over extents */
			off += fixture_rnd(&f->rnd, ES);
			len = 1 + fixture_rnd(&f->rnd, 3 * ES);
			break;
		}
		if (off >= f->size)
			off = f->size - 512;
		if (len > f->size - off)
			len = f->size - off;
		if (kind == 4)
			model_run(f, STORAGE_ZERO, off, len, NULL);
		else if (kind == 5)
			model_run(f, STORAGE_TRIM, off, len, NULL);
		else
			model_write(f, off, len, seed * 100 + i,
				    kind == 2 || kind == 3);
	}
}

/* ---- tests ---- */

static void test_cut_basic(void **state)
{
	struct fx *f = *state;
	struct cut *c;

	/* v1: data in extents 0-3 and 10, a partial extent 20, the
	 * partial last extent; the rest holes. */
	model_write(f, 0, 4 * ES, 1, false);
	model_write(f, 10 * ES, ES, 2, false);
	model_write(f, 20 * ES + 512, 1024, 3, false);
	model_write(f, (NEXT - 1) * ES, DSIZE - (NEXT - 1) * ES, 4, false);
	c = cut(f);
	expect_map(c);

	/* v2: partial overwrites, zero writes (whole and partial), ZERO,
	 * TRIM, new extents, a write over a hole next to data. */
	model_write(f, 100, 3000, 5, false);
	model_write(f, ES + 4096, 4096, 0, true);
	model_write(f, 2 * ES, ES, 0, true);
	model_run(f, STORAGE_ZERO, 3 * ES + 10, ES / 2, NULL);
	model_run(f, STORAGE_TRIM, 10 * ES, ES, NULL);
	model_run(f, STORAGE_TRIM, 20 * ES, ES, NULL);
	model_write(f, 30 * ES, 3 * ES, 6, false);
	model_write(f, 9 * ES + ES / 2, ES, 7, false);
	model_run(f, STORAGE_ZERO, (NEXT - 1) * ES, DSIZE - (NEXT - 1) * ES,
		  NULL);

	expect_view(f, c, true);
	expect_live(f);
}

static void test_many_cuts(void **state)
{
	struct fx *f = *state;
	unsigned i;

	workload(f, 12, 0);
	for (i = 0; i < 20; i++) {
		/* What changed since the previous cut, counted once per
		 * extent. */
		assert_int_equal(storage_disk_take_changed(f->d),
				 model_take_changed(f));
		expect_map(cut(f));
		workload(f, 8, i + 1);
		expect_view(f, &f->cuts[i], true);
	}
	for (i = 0; i < f->ncuts; i++)
		expect_view(f, &f->cuts[i], true);
	expect_live(f);
}

/* The cut is exact between submissions: requests submitted before it
 * belong to the restore point even when their ops have not run, and
 * long ones (walks) go on under the old context after the cut. */
static void test_cut_in_flight(void **state)
{
	struct fx *f = *state;
	uint8_t *w1 = malloc(24 * (size_t)ES), *w2 = malloc(4096);
	uint8_t *w3 = malloc(4 * (size_t)ES), *w4 = malloc(8192);
	uint8_t *w5 = malloc(6 * (size_t)ES);
	struct fixture_req t[8];
	struct cut *a, *b;
	unsigned i;

	assert_true(w1 && w2 && w3 && w4 && w5);
	/* v1: extents 0-15 and 30-63; 16-29 are holes. */
	model_write(f, 0, 16 * ES, 1, false);
	model_write(f, 30 * ES, DSIZE - 30 * ES, 2, false);
	storage_disk_take_changed(f->d);
	model_take_changed(f);

	/* Before the cut: a 24-extent write over 2-25 with zero extents
	 * 5 and 20 (its pieces past the 16th wait for completions), a
	 * small write, and a ZERO walk over 30-55. */
	fixture_fill(w1, 24 * (size_t)ES, 11);
	memset(w1 + 3 * (size_t)ES, 0, ES);
	memset(w1 + 18 * (size_t)ES, 0, ES);
	fixture_fill(w2, 4096, 12);
	model_submit(f, &t[0], STORAGE_WRITE, 2 * ES, 24 * ES, w1);
	model_submit(f, &t[1], STORAGE_WRITE, 100, 4096, w2);
	model_submit(f, &t[2], STORAGE_ZERO, 30 * ES + 5, 26 * ES - 5, NULL);
	a = cut(f);
	assert_int_equal(storage_disk_take_changed(f->d),
			 model_take_changed(f));

	/* After it, away from what the walks still have to do: extents
	 * 26-29, and extent 3, whose op from the first write is out. */
	fixture_fill(w3, 4 * (size_t)ES, 13);
	fixture_fill(w4, 8192, 14);
	model_submit(f, &t[3], STORAGE_WRITE, 26 * ES, 4 * ES, w3);
	model_submit(f, &t[4], STORAGE_WRITE, 3 * ES + 1000, 8192, w4);
	b = cut(f);
	fixture_fill(w5, 6 * (size_t)ES, 15);
	model_submit(f, &t[5], STORAGE_WRITE, 56 * ES, 6 * ES, w5);
	model_submit(f, &t[6], STORAGE_TRIM, 0, ES, NULL);
	for (i = 0; i < 7; i++)
		assert_int_equal(fixture_req_wait(f->sync, &t[i]), 0);

	/* A set map bit for an extent zeroed after the cut is a safe lie,
	 * so the holes are checked against the bytes only. */
	expect_view(f, a, false);
	expect_view(f, b, false);
	expect_live(f);
	/* Writing everything again later disturbs neither view. */
	workload(f, 10, 99);
	model_write(f, 0, DSIZE, 16, false);
	expect_view(f, a, false);
	expect_view(f, b, false);
	expect_live(f);
	free(w1);
	free(w2);
	free(w3);
	free(w4);
	free(w5);
}

static void test_take_changed(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4096];

	/* Counted since open. */
	fixture_fill(buf, sizeof(buf), 1);
	assert_int_equal(storage_disk_take_changed(f->d), 0);
	assert_int_equal(
		fixture_req_run(f->sync, f->d, STORAGE_WRITE, 10, 100, buf), 0);
	assert_int_equal(
		fixture_req_run(f->sync, f->d, STORAGE_WRITE, 200, 100, buf),
		0);
	assert_int_equal(fixture_req_run(f->sync, f->d, STORAGE_WRITE,
					 2 * ES - 10, 4096, buf),
			 0);
	assert_int_equal(storage_disk_take_changed(f->d), 3 * ES);
	assert_int_equal(storage_disk_take_changed(f->d), 0);
	/* ZERO and TRIM count too; the partial last extent counts for
	 * what the size leaves of it. */
	assert_int_equal(fixture_req_run(f->sync, f->d, STORAGE_ZERO, 5 * ES,
					 2 * ES, NULL),
			 0);
	assert_int_equal(fixture_req_run(f->sync, f->d, STORAGE_TRIM, DSIZE - 1,
					 1, NULL),
			 0);
	assert_int_equal(storage_disk_take_changed(f->d), 2 * ES + ES / 2);
	/* Reads and failed requests change nothing. */
	assert_int_equal(
		fixture_req_run(f->sync, f->d, STORAGE_READ, 0, 4096, buf), 0);
	assert_int_equal(
		fixture_req_run(f->sync, f->d, STORAGE_WRITE, DSIZE, 4096, buf),
		-EINVAL);
	assert_int_equal(storage_disk_take_changed(f->d), 0);
	/* The whole disk. */
	assert_int_equal(
		fixture_req_run(f->sync, f->d, STORAGE_TRIM, 0, DSIZE, NULL),
		0);
	assert_int_equal(storage_disk_take_changed(f->d), DSIZE);
}

static void test_resize(void **state)
{
	struct fx *f = *state;
	struct cut *a, *b;

	model_write(f, 0, DSIZE, 1, false);
	a = cut(f);
	assert_int_equal(storage_disk_resize(f->d, DSIZE - 1), -EINVAL);
	assert_int_equal(storage_disk_resize(f->d, DSIZE), 0);
	/* Grow to twice the extents; the old partial last extent's second
	 * half and the new extents read as zeros until written. */
	f->size = (uint64_t)ES * NEXT * 2 - 4096;
	assert_int_equal(storage_disk_resize(f->d, f->size), 0);
	assert_int_equal(storage_disk_size(f->d), f->size);
	expect_live(f);
	model_write(f, DSIZE - 100, ES, 2, false);
	model_write(f, (NEXT + 10) * ES, 3 * ES, 3, false);
	/* Nothing was taken since open: the first write counts too, its
	 * last extent now whole. */
	assert_int_equal(storage_disk_take_changed(f->d),
			 model_take_changed(f));
	b = cut(f);
	expect_map(b);
	model_write(f, 0, f->size, 4, false);
	model_run(f, STORAGE_TRIM, (NEXT + 11) * ES, ES, NULL);
	/* Each view keeps the size of its cut. */
	expect_view(f, a, true);
	expect_view(f, b, true);
	expect_live(f);
}

static int header_write(struct fx *f, struct storage_disk *d, const char *s)
{
	struct fixture_req t;

	memset(&t, 0, sizeof(t));
	t.r.cmd = STORAGE_STATUS; /* ignored */
	t.r.buf = (void *)(uintptr_t)s;
	t.r.len = strlen(s);
	t.r.done = fixture_req_done;
	t.r.priv = &t;
	storage_disk_write_header(d, &t.r);
	t.submitted = true;
	assert_int_equal(t.calls, 0);
	return fixture_req_wait(f->sync, &t);
}

static void expect_header(struct fx *f, const char *want)
{
	void *buf = NULL;
	size_t len = 0;

	assert_int_equal(storage_header_read(f->st, f->ns, f->id, &buf, &len),
			 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(buf);
}

static void test_header(void **state)
{
	struct fx *f = *state;
	char big[10000];
	void *buf = (void *)1;
	size_t len = 1;
	unsigned i;

	assert_int_equal(storage_header_read(f->st, f->ns, f->id, &buf, &len),
			 -ENOENT);
	assert_null(buf);
	assert_int_equal(header_write(f, f->d, "haven-disk 1\nsize 1\n"), 0);
	expect_header(f, "haven-disk 1\nsize 1\n");
	/* Longer than the first read buffer, then short again. */
	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(header_write(f, f->d, big), 0);
	expect_header(f, big);
	for (i = 0; i < 5; i++) {
		char text[64];

		model_write(f, i * ES, ES, i, false);
		cut(f);
		snprintf(text, sizeof(text), "haven-disk 1\nrps %u\n", i + 1);
		assert_int_equal(header_write(f, f->d, text), 0);
		expect_header(f, text);
	}
	/* The cuts did not capture it, nor did the data: the views still
	 * read their own bytes. */
	for (i = 0; i < f->ncuts; i++)
		expect_view(f, &f->cuts[i], true);
	/* A view has no header to write, and says so through 'done'. */
	{
		struct storage_disk_params p = {
			.ns = f->ns,
			.id = f->id,
			.size = DSIZE,
			.extent_size = ES,
			.snap = f->cuts[0].snap,
		};
		struct storage_disk *v = NULL;

		assert_int_equal(storage_disk_open(f->st, &p, &v), 0);
		assert_int_equal(header_write(f, v, "no"), -EROFS);
		storage_disk_close(v);
	}
	expect_header(f, "haven-disk 1\nrps 5\n");
}

/* A live disk reopened with its snap context keeps preserving the
 * restore points cut before. */
static void test_reopen(void **state)
{
	struct fx *f = *state;
	struct cut *a, *b;

	model_write(f, 0, 8 * ES, 1, false);
	a = cut(f);
	model_write(f, 4 * ES, 8 * ES, 2, false);
	b = cut(f);
	storage_disk_close(f->d);
	f->d = NULL;
	assert_int_equal(live_open(f, f->size), 0);
	/* The reopened disk rebuilt its map from the store. */
	expect_live(f);
	model_write(f, 0, 16 * ES, 3, false);
	model_run(f, STORAGE_TRIM, 2 * ES, 4 * ES, NULL);
	expect_view(f, a, true);
	expect_view(f, b, true);
	expect_live(f);
}

static void test_snapc_invalid(void **state)
{
	struct fx *f = *state;
	struct storage_disk_params p = {
		.ns = f->ns,
		.id = f->id,
		.size = DSIZE,
		.extent_size = ES,
		.snap = STORAGE_SNAP_HEAD,
	};
	uint64_t s[2], asc[2];
	struct storage_disk *d = NULL;
	uint8_t *map = (uint8_t *)1;
	size_t len = 1;

	assert_int_equal(storage_store_snap_create(f->st, &s[1]), 0);
	assert_int_equal(storage_store_snap_create(f->st, &s[0]), 0);
	asc[0] = s[1];
	asc[1] = s[0];
	assert_int_equal(storage_disk_set_snapc(f->d, s[0], asc, 2), -EINVAL);
	assert_int_equal(storage_disk_set_snapc(f->d, s[1], s, 2), -EINVAL);
	assert_int_equal(storage_disk_set_snapc(f->d, s[0], NULL, 1), -EINVAL);
	p.snap_seq = s[0];
	p.snaps = asc;
	p.nsnaps = 2;
	assert_int_equal(storage_disk_open(f->st, &p, &d), -EINVAL);
	assert_null(d);
	/* A view opened without a map has none to give. */
	p.snap = s[0];
	p.nsnaps = 0;
	assert_int_equal(storage_disk_open(f->st, &p, &d), 0);
	assert_int_equal(storage_disk_map(d, &map, &len), -ENODATA);
	assert_null(map);
	assert_int_equal(len, 0);
	storage_disk_close(d);
	/* The rejected contexts changed nothing: no snap was preserved. */
	model_write(f, 0, ES, 1, false);
	assert_int_equal(storage_disk_set_snapc(f->d, s[0], s, 2), 0);
}

#define RP_TESTS(bc)                                                           \
	{                                                                      \
		T(test_cut_basic, bc), T(test_many_cuts, bc),                  \
			T(test_cut_in_flight, bc), T(test_take_changed, bc),   \
			T(test_resize, bc), T(test_header, bc),                \
			T(test_reopen, bc), T(test_snapc_invalid, bc),         \
	}
#define T(fn, bc)                                                              \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &(bc))

static struct backend_case memory_case = {"memory"};
static struct backend_case local_case = {"local"};
static struct backend_case rados_case = {"rados"};

int main(void)
{
	const struct CMUnitTest memory_tests[] = RP_TESTS(memory_case);
	const struct CMUnitTest local_tests[] = RP_TESTS(local_case);
	const struct CMUnitTest rados_tests[] = RP_TESTS(rados_case);
	int failed = 0;

	failed +=
		cmocka_run_group_tests_name("memory", memory_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("local", local_tests, NULL, NULL);
	if (getenv("HAVEN_TEST_CEPH_CONF"))
		failed += cmocka_run_group_tests_name("rados", rados_tests,
						      NULL, NULL);
	return failed ? 1 : 0;
}
