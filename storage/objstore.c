/* The backend registry, store handles, op helpers and the blocking env.
 *
 * Everything backend-independent lives here: the table of backends that
 * storage_store_open() picks from, the checking wrapper every op goes
 * through, object naming, and storage_sync, the env for programs without
 * an event loop.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore.h"

/* The rados backend joins this table when storage/rados.c exists; the
 * build defines HAVEN_WITH_RADOS_BACKEND then.  Until it does, "rados"
 * is answered with -ENOTSUP like in a build without librados. */
static const struct storage_backend *const storage_backends[] = {
	&storage_backend_memory,
	&storage_backend_local,
#if defined(HAVE_RADOS) && defined(HAVEN_WITH_RADOS_BACKEND)
	&storage_backend_rados,
#endif
};

#define NBACKENDS (sizeof(storage_backends) / sizeof(storage_backends[0]))

int storage_store_open(const struct storage_route *route,
		       const struct storage_env *env,
		       struct storage_store **out)
{
	const struct storage_backend *ops = NULL;
	struct storage_store *st = NULL;
	size_t i;
	int r;

	*out = NULL;
	if (!route || !route->type || !env || !env->post)
		return -EINVAL;
	for (i = 0; i < NBACKENDS; i++) {
		if (strcmp(storage_backends[i]->name, route->type) == 0) {
			ops = storage_backends[i];
			break;
		}
	}
	if (!ops)
		return strcmp(route->type, "rados") == 0 ? -ENOTSUP : -ENOENT;

	st = calloc(1, sizeof(*st));
	if (!st) {
		r = -ENOMEM;
		goto out;
	}
	st->be_ops = ops;
	st->env = *env;
	/* The backend keeps a pointer to our copy of the env, which lives
	 * as long as the store. */
	if (route->fault_file) {
		st->be_ops = &storage_backend_fault;
		r = storage_fault_open(ops, route, &st->env, &st->be);
	} else {
		r = ops->open(route, &st->env, &st->be);
	}
	if (r < 0)
		goto out;
	*out = st;
	st = NULL;
out:
	free(st);
	return r;
}

void storage_store_close(struct storage_store *st)
{
	if (!st)
		return;
	st->be_ops->close(st->be);
	free(st);
}

void storage_complete(struct storage_completion *c)
{
	c->fn(c);
}

void storage_op_init(struct storage_op *op, enum storage_opcode code,
		     void (*fn)(struct storage_completion *c))
{
	memset(op, 0, sizeof(*op));
	op->magic = STORAGE_OP_MAGIC;
	op->code = code;
	op->snap = STORAGE_SNAP_HEAD;
	op->comp.fn = fn;
}

int storage_oid_extent(char *buf, size_t len, uint64_t disk_id, uint64_t n)
{
	int w = snprintf(buf, len, "%016llx.%016llx",
			 (unsigned long long)disk_id, (unsigned long long)n);

	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	return 0;
}

int storage_oid_header(char *buf, size_t len, uint64_t disk_id)
{
	int w = snprintf(buf, len, "%016llx.header",
			 (unsigned long long)disk_id);

	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Programmer errors only: every field the backends rely on, checked once
 * here so that the backends can trust the op. */
static void storage_op_check(const struct storage_op *op)
{
	assert(op->magic == STORAGE_OP_MAGIC);
	assert(op->code >= STORAGE_OP_READ && op->code <= STORAGE_OP_SYNC);
	assert(op->comp.fn);
	assert(memchr(op->oid, '\0', sizeof(op->oid)));
	assert(op->code == STORAGE_OP_SYNC || op->oid[0] != '\0');
	assert(!(op->code == STORAGE_OP_READ || op->code == STORAGE_OP_WRITE ||
		 op->code == STORAGE_OP_WRITE_FULL) ||
	       op->len == 0 || op->buf);
	/* A mutation always goes to HEAD: the read snap is per op and only
	 * READ and STAT look at it. */
	assert(op->code == STORAGE_OP_READ || op->code == STORAGE_OP_STAT ||
	       op->snap == STORAGE_SNAP_HEAD);
	assert(op->off <= UINT64_MAX - op->len);
	(void)op;
}

void storage_op_submit(struct storage_store *st, void *io,
		       struct storage_op *op)
{
	storage_op_check(op);
	op->result = 0;
	op->size = 0;
	op->comp.next = NULL;
	st->be_ops->submit(io, op);
}

/* ---- the blocking env ---- */

struct storage_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct storage_completion *head, *tail;
	struct storage_env env;
};

static void storage_sync_post(void *ctx, struct storage_completion *c)
{
	struct storage_sync *s = ctx;

	c->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int storage_sync_new(struct storage_sync **out)
{
	struct storage_sync *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return -ENOMEM;
	}
	if (pthread_cond_init(&s->cond, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -ENOMEM;
	}
	s->env.post = storage_sync_post;
	s->env.ctx = s;
	*out = s;
	return 0;
}

void storage_sync_free(struct storage_sync *s)
{
	if (!s)
		return;
	/* A completion still queued here belongs to an op whose owner never
	 * waited for it: a leak in the caller, not something to run now. */
	assert(!s->head);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct storage_env *storage_sync_env(struct storage_sync *s)
{
	return &s->env;
}

/* *done is only ever changed by a completion that this loop runs, on this
 * thread, so it is read without the lock. */
void storage_sync_wait(struct storage_sync *s, const bool *done)
{
	struct storage_completion *c;

	while (!*done) {
		pthread_mutex_lock(&s->lock);
		while (!s->head)
			pthread_cond_wait(&s->cond, &s->lock);
		c = s->head;
		s->head = c->next;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->lock);
		c->next = NULL;
		storage_complete(c);
	}
}

struct storage_run {
	void (*fn)(struct storage_completion *c);
	void *owner;
	bool done;
};

static void storage_op_run_done(struct storage_completion *c)
{
	struct storage_op *op = (struct storage_op *)c;
	struct storage_run *run = op->owner;

	assert(op->magic == STORAGE_OP_MAGIC);
	run->done = true;
}

int storage_op_run(struct storage_store *st, void *io, struct storage_op *op)
{
	struct storage_run run;

	/* Only a sync env lets this thread wait for the completion; with a
	 * loop env the completion would run later on the loop thread. */
	assert(st->env.post == storage_sync_post);
	run.fn = op->comp.fn;
	run.owner = op->owner;
	run.done = false;
	op->comp.fn = storage_op_run_done;
	op->owner = &run;
	storage_op_submit(st, io, op);
	storage_sync_wait(st->env.ctx, &run.done);
	op->comp.fn = run.fn;
	op->owner = run.owner;
	return op->result < 0 ? (int)op->result : 0;
}

struct usage_ctx {
	uint64_t objects, bytes;
	size_t plen;
};

static int count_extent(void *arg, const char *oid, uint64_t size)
{
	struct usage_ctx *u = arg;

	/* "<id>.<16 hex>" only: the header is not data. */
	if (strlen(oid) != u->plen + 16 || strcmp(oid + u->plen, "header") == 0)
		return 0;
	u->objects++;
	u->bytes += size;
	return 0;
}

int storage_disk_usage(struct storage_store *st, const char *ns, uint64_t id,
		       uint64_t *objects, uint64_t *bytes)
{
	struct usage_ctx u = {0};
	char prefix[40];
	void *io = NULL;
	int r;

	snprintf(prefix, sizeof(prefix), "%016llx.", (unsigned long long)id);
	u.plen = strlen(prefix);
	r = st->be_ops->ioctx_open(st->be, ns, &io);
	if (r < 0)
		return r;
	r = st->be_ops->list(io, prefix, count_extent, &u, NULL);
	st->be_ops->ioctx_close(io);
	if (r < 0)
		return r;
	*objects = u.objects;
	*bytes = u.bytes;
	return 0;
}
