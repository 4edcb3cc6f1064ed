/* The memory backend: objects in RAM, for tests.
 *
 * One instance is one pool; route->path is ignored.  Each namespace is a
 * chained hash table of objects.  A single mutex guards the instance, and
 * every op runs to the end at submit time under it, which also gives
 * per-object submission order for free.  The completion still goes
 * through env->post(), never inline, as the contract demands.
 *
 * Snapshots follow RADOS: an object remembers the newest snap context seq
 * it was mutated under ('seq') and a list of clones, oldest first, each
 * covering the snaps that were taken between the previous clone and it.
 * A read at snap s returns the clone covering s; when none does, the head
 * if s is newer than every mutation of the object, else -ENOENT (the
 * object did not exist when s was taken).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "objstore.h"

#define MEMORYBE_MAGIC 0x6d656d62u    /* "memb" */
#define MEMORYBE_IO_MAGIC 0x6d656d69u /* "memi" */
#define MEMORYBE_NBUCKETS_MIN 64

struct memorybe_clone {
	struct memorybe_clone *next; /* newer clone */
	uint64_t id;		     /* snap context seq when it was taken */
	uint64_t *snaps;	     /* snaps it serves, in any order */
	unsigned nsnaps;
	bool exists;
	uint8_t *data;
	uint64_t size;
};

struct memorybe_obj {
	struct memorybe_obj *next; /* hash chain */
	char *oid;
	bool exists; /* head */
	uint8_t *data;
	uint64_t size, cap;
	uint64_t seq; /* newest snap context seq seen by a mutation */
	struct memorybe_clone *clones;
};

struct memorybe_ns {
	struct memorybe_ns *next;
	char *name;
	struct memorybe_obj **buckets;
	size_t nbuckets, count;
};

struct memorybe {
	uint32_t magic;
	pthread_mutex_t lock;
	const struct storage_env *env;
	uint64_t snap_seq; /* last allocated snap id */
	struct memorybe_ns *nss;
};

struct memorybe_io {
	uint32_t magic;
	struct memorybe *be;
	struct memorybe_ns *ns;
	uint64_t seq;
	uint64_t *snaps; /* descending */
	unsigned nsnaps;
};

static size_t memorybe_hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void memorybe_clone_free(struct memorybe_clone *c)
{
	if (!c)
		return;
	free(c->snaps);
	free(c->data);
	free(c);
}

static void memorybe_obj_free(struct memorybe_obj *o)
{
	struct memorybe_clone *c, *next;

	if (!o)
		return;
	for (c = o->clones; c; c = next) {
		next = c->next;
		memorybe_clone_free(c);
	}
	free(o->data);
	free(o->oid);
	free(o);
}

static struct memorybe_obj **memorybe_slot(struct memorybe_ns *ns,
					   const char *oid)
{
	struct memorybe_obj **p;

	p = &ns->buckets[memorybe_hash(oid) & (ns->nbuckets - 1)];
	while (*p && strcmp((*p)->oid, oid) != 0)
		p = &(*p)->next;
	return p;
}

/* Doubling keeps chains short; a failed allocation just leaves the table
 * as it is, which stays correct, only slower. */
static void memorybe_grow(struct memorybe_ns *ns)
{
	struct memorybe_obj **nb, *o, *next;
	size_t n = ns->nbuckets * 2, i, h;

	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < ns->nbuckets; i++) {
		for (o = ns->buckets[i]; o; o = next) {
			next = o->next;
			h = memorybe_hash(o->oid) & (n - 1);
			o->next = nb[h];
			nb[h] = o;
		}
	}
	free(ns->buckets);
	ns->buckets = nb;
	ns->nbuckets = n;
}

static int memorybe_obj_get(struct memorybe_ns *ns, const char *oid,
			    struct memorybe_obj **out)
{
	struct memorybe_obj **p = memorybe_slot(ns, oid), *o;

	if (*p) {
		*out = *p;
		return 0;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->oid = strdup(oid);
	if (!o->oid) {
		free(o);
		return -ENOMEM;
	}
	*p = o;
	ns->count++;
	if (ns->count > ns->nbuckets * 2)
		memorybe_grow(ns);
	*out = o;
	return 0;
}

/* An object without head and without clones carries no information. */
static void memorybe_obj_gc(struct memorybe_ns *ns, struct memorybe_obj *o)
{
	struct memorybe_obj **p;

	if (o->exists || o->clones)
		return;
	p = memorybe_slot(ns, o->oid);
	assert(*p == o);
	*p = o->next;
	ns->count--;
	memorybe_obj_free(o);
}

/* Preserves the head for the snaps of the context that the object has not
 * seen yet, before its first mutation under that context. */
static int memorybe_cow(const struct memorybe_io *io, struct memorybe_obj *o)
{
	struct memorybe_clone *c = NULL, **tail;
	unsigned n = 0;

	if (io->seq <= o->seq)
		return 0;
	while (n < io->nsnaps && io->snaps[n] > o->seq)
		n++;
	/* Without a head there is nothing to keep: a read at those snaps
	 * finds no clone, sees the newer seq and reports -ENOENT. */
	if (n > 0 && o->exists) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->snaps = malloc(n * sizeof(*c->snaps));
		c->data = malloc(o->size ? o->size : 1);
		if (!c->snaps || !c->data) {
			memorybe_clone_free(c);
			return -ENOMEM;
		}
		memcpy(c->snaps, io->snaps, n * sizeof(*c->snaps));
		c->nsnaps = n;
		c->id = io->seq;
		c->exists = true;
		memcpy(c->data, o->data, o->size);
		c->size = o->size;
		for (tail = &o->clones; *tail; tail = &(*tail)->next)
			;
		*tail = c;
	}
	o->seq = io->seq;
	return 0;
}

/* Sets the head size; new bytes read as zeros. */
static int memorybe_resize(struct memorybe_obj *o, uint64_t size)
{
	uint8_t *d;
	uint64_t cap;

	if (size > SIZE_MAX / 2)
		return -EFBIG;
	if (size > o->cap) {
		cap = o->cap ? o->cap : 4096;
		while (cap < size)
			cap *= 2;
		d = realloc(o->data, cap);
		if (!d)
			return -ENOMEM;
		o->data = d;
		o->cap = cap;
	}
	if (size > o->size)
		memset(o->data + o->size, 0, size - o->size);
	o->size = size;
	o->exists = true;
	return 0;
}

static bool memorybe_covers(const struct memorybe_clone *c, uint64_t snap)
{
	unsigned i;

	for (i = 0; i < c->nsnaps; i++)
		if (c->snaps[i] == snap)
			return true;
	return false;
}

/* The state of an object as seen at 'snap'; false if it did not exist. */
static bool memorybe_view(const struct memorybe_obj *o, uint64_t snap,
			  const uint8_t **data, uint64_t *size)
{
	const struct memorybe_clone *c;

	if (!o)
		return false;
	if (snap != STORAGE_SNAP_HEAD) {
		for (c = o->clones; c; c = c->next) {
			if (memorybe_covers(c, snap)) {
				*data = c->data;
				*size = c->size;
				return c->exists;
			}
		}
		if (snap <= o->seq)
			return false;
	}
	*data = o->data;
	*size = o->size;
	return o->exists;
}

static int64_t memorybe_read(struct memorybe_ns *ns, struct storage_op *op)
{
	struct memorybe_obj *o = *memorybe_slot(ns, op->oid);
	const uint8_t *data = NULL;
	uint64_t size = 0, n;

	if (!memorybe_view(o, op->snap, &data, &size))
		return -ENOENT;
	if (op->code == STORAGE_OP_STAT) {
		op->size = size;
		return 0;
	}
	if (op->off >= size)
		return 0;
	n = size - op->off < op->len ? size - op->off : op->len;
	memcpy(op->buf, data + op->off, n);
	return (int64_t)n;
}

static int memorybe_mutate(struct memorybe_io *io, struct storage_op *op)
{
	struct memorybe_obj *o;
	uint64_t end = op->off + op->len;
	int r;

	if (op->code == STORAGE_OP_REMOVE || op->code == STORAGE_OP_ZERO) {
		/* As in RADOS, zeroing an absent object leaves it absent. */
		o = *memorybe_slot(io->ns, op->oid);
		if (!o || !o->exists)
			return op->code == STORAGE_OP_REMOVE ? -ENOENT : 0;
	}
	r = memorybe_obj_get(io->ns, op->oid, &o);
	if (r < 0)
		return r;
	r = memorybe_cow(io, o);
	if (r < 0)
		goto out;
	switch (op->code) {
	case STORAGE_OP_WRITE:
		r = memorybe_resize(o, end > o->size ? end : o->size);
		if (r == 0 && op->len)
			memcpy(o->data + op->off, op->buf, op->len);
		break;
	case STORAGE_OP_ZERO:
		/* RADOS semantics: a range reaching the end truncates the
		 * object at its start; past the end nothing changes. */
		if (op->off >= o->size)
			break;
		if (end >= o->size)
			r = memorybe_resize(o, op->off);
		else
			memset(o->data + op->off, 0, op->len);
		break;
	case STORAGE_OP_TRUNCATE:
		r = memorybe_resize(o, op->off);
		break;
	case STORAGE_OP_WRITE_FULL:
		/* Everything happens under the lock: atomic by construction.
		 * Shrinking first keeps old bytes out of the new content. */
		r = memorybe_resize(o, 0);
		if (r == 0)
			r = memorybe_resize(o, op->len);
		if (r == 0 && op->len)
			memcpy(o->data, op->buf, op->len);
		break;
	default:
		free(o->data);
		o->data = NULL;
		o->size = o->cap = 0;
		o->exists = false;
		break;
	}
out:
	memorybe_obj_gc(io->ns, o);
	return r;
}

static void memorybe_submit(void *vio, struct storage_op *op)
{
	struct memorybe_io *io = vio;
	struct memorybe *be = io->be;

	assert(io->magic == MEMORYBE_IO_MAGIC);
	pthread_mutex_lock(&be->lock);
	switch (op->code) {
	case STORAGE_OP_READ:
	case STORAGE_OP_STAT:
		op->result = memorybe_read(io->ns, op);
		break;
	case STORAGE_OP_WRITE:
	case STORAGE_OP_ZERO:
	case STORAGE_OP_TRUNCATE:
	case STORAGE_OP_REMOVE:
	case STORAGE_OP_WRITE_FULL:
		op->result = memorybe_mutate(io, op);
		break;
	case STORAGE_OP_SYNC:
		/* Nothing is more durable than it already is. */
		op->result = 0;
		break;
	}
	pthread_mutex_unlock(&be->lock);
	be->env->post(be->env->ctx, &op->comp);
}

static int memorybe_open(const struct storage_route *route,
			 const struct storage_env *env, void **out)
{
	struct memorybe *be;

	(void)route;
	*out = NULL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	if (pthread_mutex_init(&be->lock, NULL) != 0) {
		free(be);
		return -ENOMEM;
	}
	be->magic = MEMORYBE_MAGIC;
	be->env = env;
	*out = be;
	return 0;
}

static void memorybe_close(void *vbe)
{
	struct memorybe *be = vbe;
	struct memorybe_ns *ns, *nnext;
	struct memorybe_obj *o, *onext;
	size_t i;

	if (!be)
		return;
	assert(be->magic == MEMORYBE_MAGIC);
	for (ns = be->nss; ns; ns = nnext) {
		nnext = ns->next;
		for (i = 0; i < ns->nbuckets; i++) {
			for (o = ns->buckets[i]; o; o = onext) {
				onext = o->next;
				memorybe_obj_free(o);
			}
		}
		free(ns->buckets);
		free(ns->name);
		free(ns);
	}
	pthread_mutex_destroy(&be->lock);
	be->magic = 0;
	free(be);
}

static struct memorybe_ns *memorybe_ns_get(struct memorybe *be,
					   const char *name)
{
	struct memorybe_ns *ns;

	for (ns = be->nss; ns; ns = ns->next)
		if (strcmp(ns->name, name) == 0)
			return ns;
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return NULL;
	ns->name = strdup(name);
	ns->nbuckets = MEMORYBE_NBUCKETS_MIN;
	ns->buckets = calloc(ns->nbuckets, sizeof(*ns->buckets));
	if (!ns->name || !ns->buckets) {
		free(ns->name);
		free(ns->buckets);
		free(ns);
		return NULL;
	}
	ns->next = be->nss;
	be->nss = ns;
	return ns;
}

static int memorybe_ioctx_open(void *vbe, const char *ns, void **out)
{
	struct memorybe *be = vbe;
	struct memorybe_io *io;

	assert(be->magic == MEMORYBE_MAGIC);
	*out = NULL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	pthread_mutex_lock(&be->lock);
	io->ns = memorybe_ns_get(be, ns ? ns : "");
	pthread_mutex_unlock(&be->lock);
	if (!io->ns) {
		free(io);
		return -ENOMEM;
	}
	io->magic = MEMORYBE_IO_MAGIC;
	io->be = be;
	*out = io;
	return 0;
}

static void memorybe_ioctx_close(void *vio)
{
	struct memorybe_io *io = vio;

	if (!io)
		return;
	assert(io->magic == MEMORYBE_IO_MAGIC);
	free(io->snaps);
	io->magic = 0;
	free(io);
}

static int memorybe_set_write_ctx(void *vio, uint64_t seq,
				  const uint64_t *snaps, unsigned nsnaps)
{
	struct memorybe_io *io = vio;
	uint64_t *copy = NULL;
	unsigned i;

	assert(io->magic == MEMORYBE_IO_MAGIC);
	if (nsnaps && snaps[0] > seq)
		return -EINVAL;
	for (i = 1; i < nsnaps; i++)
		if (snaps[i] >= snaps[i - 1])
			return -EINVAL;
	if (nsnaps) {
		copy = malloc(nsnaps * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, snaps, nsnaps * sizeof(*copy));
	}
	/* The context is read by submit() on the owner thread only, the
	 * same thread that sets it, so no lock is needed. */
	free(io->snaps);
	io->snaps = copy;
	io->nsnaps = nsnaps;
	io->seq = seq;
	return 0;
}

struct memorybe_entry {
	char *oid;
	uint64_t size;
};

/* Collects the names under the lock, then calls back without it, so that
 * the callback may use the backend. */
static int memorybe_list(void *vio, const char *prefix,
			 int (*cb)(void *arg, const char *oid, uint64_t size),
			 void *arg, const atomic_bool *cancel)
{
	struct memorybe_io *io = vio;
	struct memorybe_ns *ns = io->ns;
	struct memorybe_entry *v = NULL;
	struct memorybe_obj *o;
	const char *pfx = prefix ? prefix : "";
	size_t i, n = 0, plen = strlen(pfx);
	int r = 0;

	assert(io->magic == MEMORYBE_IO_MAGIC);
	pthread_mutex_lock(&io->be->lock);
	v = calloc(ns->count + 1, sizeof(*v));
	for (i = 0; v && i < ns->nbuckets; i++) {
		for (o = ns->buckets[i]; o; o = o->next) {
			if (!o->exists || strncmp(o->oid, pfx, plen) != 0)
				continue;
			v[n].oid = strdup(o->oid);
			v[n].size = o->size;
			if (!v[n].oid)
				r = -ENOMEM;
			n++;
		}
	}
	pthread_mutex_unlock(&io->be->lock);
	if (!v)
		return -ENOMEM;
	for (i = 0; r == 0 && i < n; i++)
		r = storage_cancelled(cancel) ? -ECANCELED
					      : cb(arg, v[i].oid, v[i].size);
	for (i = 0; i < n; i++)
		free(v[i].oid);
	free(v);
	return r;
}

static int memorybe_snap_create(void *vbe, uint64_t *id)
{
	struct memorybe *be = vbe;

	assert(be->magic == MEMORYBE_MAGIC);
	pthread_mutex_lock(&be->lock);
	*id = ++be->snap_seq;
	pthread_mutex_unlock(&be->lock);
	return 0;
}

/* Drops 'id' from one object's clones; a clone serving no snap is gone. */
static void memorybe_obj_trim(struct memorybe_obj *o, uint64_t id)
{
	struct memorybe_clone **p = &o->clones, *c;
	unsigned i;

	while ((c = *p)) {
		for (i = 0; i < c->nsnaps; i++) {
			if (c->snaps[i] == id) {
				c->snaps[i] = c->snaps[--c->nsnaps];
				break;
			}
		}
		if (c->nsnaps == 0) {
			*p = c->next;
			memorybe_clone_free(c);
		} else {
			p = &c->next;
		}
	}
}

static int memorybe_snap_remove(void *vbe, uint64_t id)
{
	struct memorybe *be = vbe;
	struct memorybe_ns *ns;
	struct memorybe_obj *o, *next;
	size_t i;
	int r = 0;

	assert(be->magic == MEMORYBE_MAGIC);
	pthread_mutex_lock(&be->lock);
	if (id == 0 || id > be->snap_seq) {
		r = -ENOENT;
		goto out;
	}
	for (ns = be->nss; ns; ns = ns->next) {
		for (i = 0; i < ns->nbuckets; i++) {
			for (o = ns->buckets[i]; o; o = next) {
				next = o->next;
				memorybe_obj_trim(o, id);
				memorybe_obj_gc(ns, o);
			}
		}
	}
out:
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int memorybe_snap_cloned(void *vio, uint64_t snap,
				const char (*oids)[STORAGE_OID_MAX], size_t n,
				bool *cloned, const atomic_bool *cancel)
{
	struct memorybe_io *io = vio;
	const struct memorybe_clone *c;
	const struct memorybe_obj *o;
	size_t i;

	assert(io->magic == MEMORYBE_IO_MAGIC);
	(void)cancel; /* no wait worth cutting short */
	pthread_mutex_lock(&io->be->lock);
	for (i = 0; i < n; i++) {
		cloned[i] = false;
		o = *memorybe_slot(io->ns, oids[i]);
		for (c = o ? o->clones : NULL; c && !cloned[i]; c = c->next)
			cloned[i] = c->exists && memorybe_covers(c, snap);
	}
	pthread_mutex_unlock(&io->be->lock);
	return 0;
}

const struct storage_backend storage_backend_memory = {
	.name = "memory",
	.open = memorybe_open,
	.close = memorybe_close,
	.ioctx_open = memorybe_ioctx_open,
	.ioctx_close = memorybe_ioctx_close,
	.set_write_ctx = memorybe_set_write_ctx,
	.submit = memorybe_submit,
	.list = memorybe_list,
	.snap_create = memorybe_snap_create,
	.snap_remove = memorybe_snap_remove,
	.snap_cloned = memorybe_snap_cloned,
};
