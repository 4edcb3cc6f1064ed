/* The local backend: objects as files, the embedded default.
 *
 * This file holds the ops, the workers and their object cache;
 * local-sync.c durability; local-snap.c the snapshots; local-int.h the
 * layout on disk and the shared state.
 *
 * Threads.  A fixed pool of workers runs the ops.  An op goes to the
 * worker chosen by hashing (ns, oid) and each worker is FIFO, so the ops
 * on one object run in submission order, as in RADOS, whichever ioctx
 * they came through.  A worker is the only thread that touches the files
 * of its objects, which lets it cache their fds and snapsets without
 * locks.
 *
 * Durability.  A plain WRITE lands in the page cache; the ioctx remembers
 * the file, and a SYNC fdatasyncs every file its ioctx dirtied (and the
 * directory when names changed).  FUA syncs at once.  WRITE_FULL always
 * completes durable: it goes through a temp file and a rename.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local-int.h"

static int localbe_name_ok(const char *name)
{
	if (!name[0] || name[0] == '.' || strchr(name, '/'))
		return -EINVAL;
	return 0;
}

uint64_t localbe_hash(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ull;

	while (*a)
		h = (h ^ (unsigned char)*a++) * 1099511628211ull;
	h = (h ^ '/') * 1099511628211ull;
	while (*b)
		h = (h ^ (unsigned char)*b++) * 1099511628211ull;
	return h;
}

/* ---- small file helpers ---- */

int localbe_pwrite_all(int fd, const void *buf, uint64_t len, uint64_t off)
{
	const char *p = buf;
	ssize_t w;

	while (len) {
		w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

int64_t localbe_pread_all(int fd, void *buf, uint64_t len, uint64_t off)
{
	char *p = buf;
	uint64_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

int localbe_fsync(int fd, bool data_only)
{
	if ((data_only ? fdatasync(fd) : fsync(fd)) < 0)
		return -errno;
	return 0;
}

int localbe_install(int dirfd, const char *tmp, const char *name,
		    const void *data, size_t len)
{
	int fd, r;

	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = localbe_pwrite_all(fd, data, len, 0);
	if (r == 0)
		r = localbe_fsync(fd, true);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fd;
}

/* ---- the per-worker object cache ---- */

/* Writes of at least LOCALBE_STREAM bytes are a stream (a copy, a
 * replication pass); once LOCALBE_WRITEBACK bytes of them went into a
 * file, its dirty pages are sent to the disk (see localbe_writeback). */
#define LOCALBE_STREAM (128u << 10)
#define LOCALBE_WRITEBACK (1u << 20)

/* Starts writing a file's dirty pages back now, without waiting for
 * them.  Left to itself the kernel holds dirty pages until a memory
 * threshold (a tenth of RAM by default), so a big copy would reach the
 * disk only at the client's FLUSH; kicked as a stream goes, the disk
 * works while the network and TLS do, and the FLUSH finds little left.
 * Small writes are left to the kernel, which coalesces them better than
 * early kicks would (random 4 KiB writes lost a third of their rate).
 * Durability comes only from SYNC: this is a hint, and its failure is
 * ignored (the SYNC reports a real write error).  len 0: kick what the
 * stream left, before the file is closed. */
static void localbe_writeback(struct localbe_entry *e, uint64_t len)
{
	if (len && len < LOCALBE_STREAM)
		return;
	e->behind += len;
	if (len && e->behind < LOCALBE_WRITEBACK)
		return;
	if (e->behind && e->fd_known && e->fd >= 0)
		(void)sync_file_range(e->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	e->behind = 0;
}

static void localbe_entry_drop(struct localbe_entry *e)
{
	localbe_writeback(e, 0);
	if (e->fd_known && e->fd >= 0)
		close(e->fd);
	localbe_ss_clear(&e->ss);
	memset(e, 0, sizeof(*e));
	e->fd = -1;
}

/* Finds the object's slot in its set, recycling the set's least
 * recently used one. */
static struct localbe_entry *localbe_entry_get(struct localbe_worker *w,
					       struct localbe_ns *ns,
					       const char *oid)
{
	uint64_t h = localbe_hash(ns->name, oid);
	/* The low bits chose the worker; the set comes from others. */
	struct localbe_entry *set =
		&w->cache[((h >> 16) % LOCALBE_SETS) * LOCALBE_WAYS];
	struct localbe_entry *e, *victim = NULL;
	unsigned i;

	for (i = 0; i < w->be->ways; i++) {
		e = &set[i];
		if (e->ns == ns && e->hash == h && strcmp(e->oid, oid) == 0)
			goto found;
		if (!victim ||
		    (victim->ns && (!e->ns || e->used < victim->used)))
			victim = e;
	}
	e = victim;
	localbe_entry_drop(e);
	e->ns = ns;
	e->hash = h;
	snprintf(e->oid, sizeof(e->oid), "%s", oid);
found:
	e->used = ++w->tick;
	return e;
}

/* The head's fd; -ENOENT if absent and not asked to create it. */
int localbe_entry_fd(struct localbe_entry *e, bool create, bool *created)
{
	int fd;

	if (!e->fd_known) {
		fd = openat(e->ns->dirfd, e->oid, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			return -errno;
		e->fd = fd < 0 ? -1 : fd;
		e->fd_known = true;
	}
	if (e->fd < 0 && create) {
		fd = openat(e->ns->dirfd, e->oid, O_RDWR | O_CREAT | O_CLOEXEC,
			    0600);
		if (fd < 0)
			return -errno;
		e->fd = fd;
		*created = true;
	}
	return e->fd >= 0 ? e->fd : -ENOENT;
}

/* ---- op execution, on a worker ---- */

static int64_t localbe_do_read(struct localbe *be, struct localbe_entry *e,
			       struct storage_op *op)
{
	struct stat sb;
	int fd, own = -1;
	int64_t r;

	if (op->snap != STORAGE_SNAP_HEAD) {
		r = localbe_snap_find(be, e, op->snap, &own);
		if (r < 0)
			return r;
	}
	fd = own >= 0 ? own : localbe_entry_fd(e, false, NULL);
	if (fd < 0)
		return fd;
	if (op->code == STORAGE_OP_STAT) {
		r = fstat(fd, &sb) < 0 ? -errno : 0;
		op->size = r == 0 ? (uint64_t)sb.st_size : 0;
	} else {
		r = localbe_pread_all(fd, op->buf, op->len, op->off);
	}
	if (own >= 0)
		close(own);
	return r;
}

static int localbe_zero(int fd, uint64_t off, uint64_t len)
{
	static const char zeros[65536];
	struct stat sb;
	uint64_t end = off + len, size, n, k;
	int r;

	if (fstat(fd, &sb) < 0)
		return -errno;
	size = (uint64_t)sb.st_size;
	/* RADOS semantics: a range reaching the end truncates the object
	 * at its start; past the end nothing changes. */
	if (off >= size)
		return 0;
	if (end >= size)
		return ftruncate(fd, (off_t)off) < 0 ? -errno : 0;
	{
		n = len;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)off, (off_t)n) < 0) {
			if (errno != EOPNOTSUPP)
				return -errno;
			/* A filesystem without holes gets real zeros. */
			while (n) {
				k = n < sizeof(zeros) ? n : sizeof(zeros);
				r = localbe_pwrite_all(fd, zeros, k, off);
				if (r < 0)
					return r;
				off += k;
				n -= k;
			}
		}
	}
	return 0;
}

/* WRITE_FULL: the new content replaces the head by a rename, so a
 * reader or a crash sees the old object or the new one, never a mix.  It
 * runs on the object's worker after every op submitted before it, like
 * any op of the object; the cached fd moves to the new inode, since the
 * old one is nobody's any more. */
static int localbe_write_full(struct localbe_entry *e,
			      const struct storage_op *op,
			      struct localbe_dirt *dirt)
{
	char tmp[NAME_MAX + 1];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.full", e->oid) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;
	fd = localbe_install(e->ns->dirfd, tmp, e->oid, op->buf, op->len);
	if (fd < 0)
		return fd;
	if (e->fd_known && e->fd >= 0)
		close(e->fd);
	e->fd = fd;
	e->fd_known = true;
	/* The directory entry is what makes the new content the object's;
	 * if it cannot be made durable now, the next SYNC tries again. */
	r = localbe_fsync(e->ns->dirfd, false);
	dirt->dir = r < 0;
	return r;
}

static int localbe_do_mutate(struct localbe *be, struct localbe_entry *e,
			     struct storage_op *op,
			     const struct localbe_snapc *sc,
			     struct localbe_dirt *dirt)
{
	bool created = false, fua = op->flags & STORAGE_OPF_FUA;
	int fd, r;

	if (op->code == STORAGE_OP_REMOVE || op->code == STORAGE_OP_ZERO) {
		/* As in RADOS, zeroing an absent object leaves it absent. */
		fd = localbe_entry_fd(e, false, NULL);
		if (fd == -ENOENT && op->code == STORAGE_OP_ZERO)
			return 0;
		if (fd < 0)
			return fd;
	}
	r = localbe_cow(be, e, sc);
	if (r < 0)
		return r;
	if (op->code == STORAGE_OP_WRITE_FULL)
		return localbe_write_full(e, op, dirt);
	if (op->code == STORAGE_OP_REMOVE) {
		close(e->fd);
		e->fd = -1;
		if (unlinkat(e->ns->dirfd, e->oid, 0) < 0)
			return -errno;
		dirt->dir = true;
		if (!e->ss.nclones) {
			localbe_ss_clear(&e->ss);
			r = localbe_ss_store(e->ns->snapfd, e->oid, &e->ss,
					     false);
		}
		if (r == 0 && fua)
			r = localbe_fsync(e->ns->dirfd, false);
		dirt->dir = !fua;
		return r;
	}
	fd = localbe_entry_fd(e, true, &created);
	if (fd < 0)
		return fd;
	dirt->data = true;
	dirt->dir = created;
	switch (op->code) {
	case STORAGE_OP_WRITE:
		r = localbe_pwrite_all(fd, op->buf, op->len, op->off);
		if (r == 0 && !fua)
			localbe_writeback(e, op->len);
		break;
	case STORAGE_OP_ZERO:
		r = localbe_zero(fd, op->off, op->len);
		break;
	default:
		r = ftruncate(fd, (off_t)op->off) < 0 ? -errno : 0;
		break;
	}
	if (r == 0 && fua) {
		r = localbe_fsync(fd, true);
		if (r == 0 && created)
			r = localbe_fsync(e->ns->dirfd, false);
		if (r == 0)
			dirt->data = dirt->dir = false;
	}
	return r;
}

/* ---- workers ---- */

static void localbe_run(struct localbe_worker *w, struct storage_op *op)
{
	struct localbe_snapc *sc = op->backend_priv;
	struct localbe_io *io = sc->io;
	struct localbe *be = w->be;
	struct localbe_dirt dirt = {false, false};
	struct localbe_entry *e;

	pthread_rwlock_rdlock(&be->snaplock);
	if (op->code == STORAGE_OP_SYNC) {
		op->result = localbe_sync(io);
	} else {
		e = localbe_entry_get(w, io->ns, op->oid);
		if (op->code == STORAGE_OP_READ || op->code == STORAGE_OP_STAT)
			op->result = localbe_do_read(be, e, op);
		else
			op->result = localbe_do_mutate(be, e, op, sc, &dirt);
	}
	pthread_rwlock_unlock(&be->snaplock);
	/* A file we cannot remember cannot be synced later: fail the op
	 * rather than lose durability silently. */
	if ((dirt.data || dirt.dir) && localbe_dirty_add(io, op->oid, &dirt))
		op->result = op->result < 0 ? op->result : -ENOMEM;
	op->backend_priv = NULL;
	localbe_snapc_unref(sc);
	be->env->post(be->env->ctx, &op->comp);
}

static void localbe_cache_drop(struct localbe_worker *w)
{
	unsigned i;

	for (i = 0; i < LOCALBE_CACHE; i++)
		localbe_entry_drop(&w->cache[i]);
	w->dropped_tick = w->tick;
}

/* Waits for work; true if the worker stayed idle for LOCALBE_IDLE_MS
 * while it held cached files.  Lock held. */
static bool localbe_wait(struct localbe_worker *w)
{
	struct timespec ts;

	while (!w->head && !w->stop) {
		if (w->tick == w->dropped_tick) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += LOCALBE_IDLE_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
			    ETIMEDOUT &&
		    !w->head && !w->stop)
			return true;
	}
	return false;
}

static void *localbe_worker_main(void *arg)
{
	struct localbe_worker *w = arg;
	struct storage_completion *c;
	bool idle;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		idle = localbe_wait(w);
		c = w->head;
		if (c) {
			w->head = c->next;
			if (!w->head)
				w->tail = NULL;
		}
		pthread_mutex_unlock(&w->lock);
		/* An idle worker lets go of its files: an object that someone
		 * else removed (havenctl disk remove) must not keep its space
		 * through an fd cached here. */
		if (idle) {
			localbe_cache_drop(w);
			continue;
		}
		if (!c)
			break;
		c->next = NULL;
		localbe_run(w, (struct storage_op *)c);
	}
	localbe_cache_drop(w);
	return NULL;
}

static void localbe_submit(void *vio, struct storage_op *op)
{
	struct localbe_io *io = vio;
	struct localbe *be = io->be;
	struct localbe_worker *w;
	unsigned i;

	assert(io->magic == LOCALBE_IO_MAGIC);
	if (op->code != STORAGE_OP_SYNC && localbe_name_ok(op->oid) < 0) {
		op->result = -EINVAL;
		be->env->post(be->env->ctx, &op->comp);
		return;
	}
	/* The write context is the one current at submission. */
	atomic_fetch_add(&io->snapc->refs, 1);
	op->backend_priv = io->snapc;
	if (op->code == STORAGE_OP_SYNC)
		i = atomic_fetch_add(&be->next_sync, 1);
	else
		i = (unsigned)localbe_hash(io->ns->name, op->oid);
	w = &be->workers[i % LOCALBE_NWORKERS];
	op->comp.next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = &op->comp;
	else
		w->head = &op->comp;
	w->tail = &op->comp;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* ---- instance ---- */

static unsigned localbe_cache_ways(void)
{
	struct rlimit rl;
	rlim_t per_way = LOCALBE_NWORKERS * LOCALBE_SETS, ways;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return LOCALBE_WAYS;
	ways = rl.rlim_cur / 4 / per_way;
	return ways < 1		     ? 1
	       : ways > LOCALBE_WAYS ? LOCALBE_WAYS
				     : (unsigned)ways;
}

static int localbe_mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void localbe_close(void *vbe)
{
	struct localbe *be = vbe;
	struct localbe_ns *ns;
	unsigned i;

	if (!be)
		return;
	assert(be->magic == LOCALBE_MAGIC);
	for (i = 0; i < be->nstarted; i++) {
		pthread_mutex_lock(&be->workers[i].lock);
		be->workers[i].stop = true;
		pthread_cond_signal(&be->workers[i].cond);
		pthread_mutex_unlock(&be->workers[i].lock);
		pthread_join(be->workers[i].thread, NULL);
	}
	for (i = 0; i < LOCALBE_NWORKERS; i++) {
		pthread_cond_destroy(&be->workers[i].cond);
		pthread_mutex_destroy(&be->workers[i].lock);
	}
	while ((ns = be->nss)) {
		be->nss = ns->next;
		close(ns->snapfd);
		close(ns->dirfd);
		free(ns->name);
		free(ns);
	}
	pthread_rwlock_destroy(&be->snaplock);
	pthread_mutex_destroy(&be->lock);
	if (be->rootfd >= 0)
		close(be->rootfd);
	be->magic = 0;
	free(be);
}

static int localbe_open(const struct storage_route *route,
			const struct storage_env *env, void **out)
{
	struct localbe *be = NULL;
	pthread_rwlockattr_t attr;
	unsigned i;
	int r;

	*out = NULL;
	if (!route->path || !route->path[0])
		return -EINVAL;
	r = localbe_mkdir_p(route->path);
	if (r < 0)
		return r;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->magic = LOCALBE_MAGIC;
	be->env = env;
	be->ways = localbe_cache_ways();
	pthread_mutex_init(&be->lock, NULL);
	/* snap_remove must not starve behind a steady stream of ops. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&be->snaplock, &attr);
	pthread_rwlockattr_destroy(&attr);
	for (i = 0; i < LOCALBE_NWORKERS; i++) {
		pthread_mutex_init(&be->workers[i].lock, NULL);
		pthread_cond_init(&be->workers[i].cond, NULL);
	}
	be->rootfd = open(route->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (be->rootfd < 0) {
		r = -errno;
		goto out;
	}
	r = localbe_snapseq_load(be);
	if (r < 0)
		goto out;
	for (i = 0; i < LOCALBE_NWORKERS; i++) {
		be->workers[i].be = be;
		r = -pthread_create(&be->workers[i].thread, NULL,
				    localbe_worker_main, &be->workers[i]);
		if (r < 0)
			goto out;
		be->nstarted++;
	}
	*out = be;
	be = NULL;
	r = 0;
out:
	localbe_close(be);
	return r;
}

/* ---- namespaces and ioctxs ---- */

/* Creates a directory and makes its entry durable. */
static int localbe_subdir(int parent, const char *name, int *fd)
{
	int r = 0;

	if (mkdirat(parent, name, 0700) == 0)
		r = localbe_fsync(parent, false);
	else if (errno != EEXIST)
		return -errno;
	if (r < 0)
		return r;
	*fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *fd < 0 ? -errno : 0;
}

static int localbe_ns_get(struct localbe *be, const char *name,
			  struct localbe_ns **out)
{
	struct localbe_ns *ns;
	int r;

	for (ns = be->nss; ns; ns = ns->next) {
		if (strcmp(ns->name, name) == 0) {
			*out = ns;
			return 0;
		}
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	ns->dirfd = ns->snapfd = -1;
	ns->name = strdup(name);
	r = ns->name ? localbe_subdir(be->rootfd, name, &ns->dirfd) : -ENOMEM;
	if (r == 0)
		r = localbe_subdir(ns->dirfd, ".snaps", &ns->snapfd);
	if (r < 0) {
		if (ns->dirfd >= 0)
			close(ns->dirfd);
		free(ns->name);
		free(ns);
		return r;
	}
	ns->next = be->nss;
	be->nss = ns;
	*out = ns;
	return 0;
}

static int localbe_ioctx_open(void *vbe, const char *ns, void **out)
{
	struct localbe *be = vbe;
	struct localbe_io *io;
	int r;

	assert(be->magic == LOCALBE_MAGIC);
	*out = NULL;
	if (!ns || localbe_name_ok(ns) < 0 || strlen(ns) > NAME_MAX)
		return -EINVAL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->snapc = localbe_snapc_new(io, 0, NULL, 0);
	if (!io->snapc) {
		free(io);
		return -ENOMEM;
	}
	pthread_mutex_lock(&be->lock);
	r = localbe_ns_get(be, ns, &io->ns);
	pthread_mutex_unlock(&be->lock);
	if (r < 0) {
		localbe_snapc_unref(io->snapc);
		free(io);
		return r;
	}
	pthread_mutex_init(&io->lock, NULL);
	io->magic = LOCALBE_IO_MAGIC;
	io->be = be;
	*out = io;
	return 0;
}

/* Every op of the ioctx must have completed. */
static void localbe_ioctx_close(void *vio)
{
	struct localbe_io *io = vio;
	size_t i;

	if (!io)
		return;
	assert(io->magic == LOCALBE_IO_MAGIC);
	for (i = 0; i < io->dirty_cap; i++)
		free(io->dirty[i]);
	free(io->dirty);
	localbe_snapc_unref(io->snapc);
	pthread_mutex_destroy(&io->lock);
	io->magic = 0;
	free(io);
}

static int localbe_list(void *vio, const char *prefix,
			int (*cb)(void *arg, const char *oid, uint64_t size),
			void *arg, const atomic_bool *cancel)
{
	struct localbe_io *io = vio;
	const char *pfx = prefix ? prefix : "";
	size_t plen = strlen(pfx);
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd, r = 0;

	assert(io->magic == LOCALBE_IO_MAGIC);
	/* A fresh fd: a dup would share the directory offset. */
	fd = openat(io->ns->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (storage_cancelled(cancel)) {
			r = -ECANCELED;
			break;
		}
		if (de->d_name[0] == '.' || strncmp(de->d_name, pfx, plen))
			continue;
		/* Removed since readdir saw it: not an object any more. */
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		r = cb(arg, de->d_name, (uint64_t)sb.st_size);
	}
	if (r == 0 && errno)
		r = -errno;
	closedir(d);
	return r;
}

const struct storage_backend storage_backend_local = {
	.name = "local",
	.open = localbe_open,
	.close = localbe_close,
	.ioctx_open = localbe_ioctx_open,
	.ioctx_close = localbe_ioctx_close,
	.set_write_ctx = localbe_set_write_ctx,
	.submit = localbe_submit,
	.list = localbe_list,
	.snap_create = localbe_snap_create,
	.snap_remove = localbe_snap_remove,
	.snap_cloned = localbe_snap_cloned,
};
