/* The local backend's snapshots: snapsets, clones, snap ids, trimming.
 *
 * The model is the memory backend's (see memory.c), kept in files: before
 * the first mutation under a newer write context, the head is copied to a
 * clone covering the context's snaps newer than the object's seq.  The
 * clone and the snapset are durable before the head changes, so a crash
 * never lets new data into a snapshot.  Workers cache snapsets in their
 * object entries; snap_remove() rewrites them on disk and bumps a
 * generation that tells the workers their copies are stale.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local-int.h"

/* ---- metadata files ---- */

int localbe_replace(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[NAME_MAX + 1];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = localbe_install(dirfd, tmp, name, data, len);
	if (fd < 0)
		return fd;
	close(fd);
	return localbe_fsync(dirfd, false);
}

int localbe_slurp(int dirfd, const char *name, char **out)
{
	struct stat sb;
	char *buf = NULL;
	int fd, r = 0;
	int64_t n;

	*out = NULL;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	if (sb.st_size > (1 << 24)) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	n = localbe_pread_all(fd, buf, (uint64_t)sb.st_size, 0);
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- snapsets ---- */

void localbe_ss_clear(struct localbe_snapset *ss)
{
	unsigned i;

	for (i = 0; i < ss->nclones; i++)
		free(ss->clones[i].snaps);
	free(ss->clones);
	memset(ss, 0, sizeof(*ss));
}

/* Text, one clone per line, so that an operator can read it:
 *   haven-snapset 1
 *   seq <seq>
 *   clone <id> <nsnaps> <snap>...
 */
static int localbe_ss_parse(char *text, struct localbe_snapset *ss)
{
	struct localbe_clone *c, *v;
	char *line, *save = NULL, *p, *end;
	unsigned i;

	line = strtok_r(text, "\n", &save);
	if (!line || strcmp(line, "haven-snapset 1") != 0)
		return -EUCLEAN;
	line = strtok_r(NULL, "\n", &save);
	if (!line || sscanf(line, "seq %" SCNu64, &ss->seq) != 1)
		return -EUCLEAN;
	while ((line = strtok_r(NULL, "\n", &save))) {
		v = realloc(ss->clones, (ss->nclones + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ss->clones = v;
		c = &v[ss->nclones];
		memset(c, 0, sizeof(*c));
		if (strncmp(line, "clone ", 6) != 0)
			return -EUCLEAN;
		c->id = strtoull(line + 6, &end, 10);
		c->nsnaps = (unsigned)strtoul(end, &p, 10);
		if (p == end || c->nsnaps == 0 || c->nsnaps > 1u << 20)
			return -EUCLEAN;
		c->snaps = calloc(c->nsnaps, sizeof(*c->snaps));
		if (!c->snaps)
			return -ENOMEM;
		ss->nclones++;
		for (i = 0; i < c->nsnaps; i++) {
			c->snaps[i] = strtoull(p, &end, 10);
			if (end == p)
				return -EUCLEAN;
			p = end;
		}
	}
	return 0;
}

static int localbe_ss_load(int snapfd, const char *oid,
			   struct localbe_snapset *ss)
{
	char name[NAME_MAX + 1], *text = NULL;
	int r;

	memset(ss, 0, sizeof(*ss));
	snprintf(name, sizeof(name), "%s" LOCALBE_SNAPSET, oid);
	r = localbe_slurp(snapfd, name, &text);
	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = localbe_ss_parse(text, ss);
	if (r < 0)
		localbe_ss_clear(ss);
	free(text);
	return r;
}

/* Writes the snapset durably, or removes it once it says nothing. */
int localbe_ss_store(int snapfd, const char *oid,
		     const struct localbe_snapset *ss, bool head_exists)
{
	char name[NAME_MAX + 1], *buf = NULL, *p;
	size_t cap = 64, len;
	unsigned i, j;
	int r;

	snprintf(name, sizeof(name), "%s" LOCALBE_SNAPSET, oid);
	if (!ss->nclones && !head_exists) {
		if (unlinkat(snapfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	for (i = 0; i < ss->nclones; i++)
		cap += 64 + 21 * (size_t)ss->clones[i].nsnaps;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	p = buf;
	p += sprintf(p, "haven-snapset 1\nseq %" PRIu64 "\n", ss->seq);
	for (i = 0; i < ss->nclones; i++) {
		p += sprintf(p, "clone %" PRIu64 " %u", ss->clones[i].id,
			     ss->clones[i].nsnaps);
		for (j = 0; j < ss->clones[i].nsnaps; j++)
			p += sprintf(p, " %" PRIu64, ss->clones[i].snaps[j]);
		*p++ = '\n';
	}
	len = (size_t)(p - buf);
	r = localbe_replace(snapfd, name, buf, len);
	free(buf);
	return r;
}

static int localbe_clone_name(char *buf, size_t len, const char *oid,
			      uint64_t id)
{
	int n = snprintf(buf, len, "%s@%016" PRIx64, oid, id);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Copies the head into a new clone file and makes it durable.  A reflink
 * where the filesystem has them, else an in-kernel copy, else plain
 * reads and writes. */
static int localbe_copy(int src, int snapfd, const char *name)
{
	char buf[65536];
	struct stat sb;
	int dst, r = 0;
	off_t in = 0, out = 0;
	ssize_t n;

	dst = openat(snapfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0600);
	if (dst < 0)
		return -errno;
	if (ioctl(dst, FICLONE, src) == 0)
		goto sync;
	if (fstat(src, &sb) < 0) {
		r = -errno;
		goto out;
	}
	while (in < sb.st_size) {
		n = copy_file_range(src, &in, dst, &out,
				    (size_t)(sb.st_size - in), 0);
		if (n <= 0)
			break;
	}
	while (in < sb.st_size) {
		n = pread(src, buf, sizeof(buf), in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		r = localbe_pwrite_all(dst, buf, (uint64_t)n, (uint64_t)in);
		if (r < 0)
			goto out;
		in += n;
	}
	/* A head shrunk behind our back would leave the clone short; the
	 * size is part of what the snapshot preserves. */
	if (r == 0 && ftruncate(dst, sb.st_size) < 0)
		r = -errno;
sync:
	if (r == 0)
		r = localbe_fsync(dst, true);
out:
	close(dst);
	if (r < 0)
		unlinkat(snapfd, name, 0);
	return r;
}

/* ---- clones: taking them, reading them ---- */

static int localbe_entry_ss(struct localbe *be, struct localbe_entry *e)
{
	int r;

	if (e->ss_loaded && e->ss_gen == be->ss_gen)
		return 0;
	localbe_ss_clear(&e->ss);
	e->ss_loaded = false;
	r = localbe_ss_load(e->ns->snapfd, e->oid, &e->ss);
	if (r < 0)
		return r;
	e->ss_loaded = true;
	e->ss_gen = be->ss_gen;
	return 0;
}

int localbe_snap_find(struct localbe *be, struct localbe_entry *e,
		      uint64_t snap, int *fd)
{
	const struct localbe_clone *c;
	char name[NAME_MAX + 1];
	unsigned i, j;
	int r;

	*fd = -1;
	r = localbe_entry_ss(be, e);
	if (r < 0)
		return r;
	for (i = 0; i < e->ss.nclones; i++) {
		c = &e->ss.clones[i];
		for (j = 0; j < c->nsnaps; j++) {
			if (c->snaps[j] != snap)
				continue;
			r = localbe_clone_name(name, sizeof(name), e->oid,
					       c->id);
			if (r < 0)
				return r;
			*fd = openat(e->ns->snapfd, name, O_RDONLY | O_CLOEXEC);
			return *fd < 0 ? -errno : 0;
		}
	}
	/* No clone: the head is what the snap saw, unless the object was
	 * mutated after the snap was taken without existing before. */
	return snap <= e->ss.seq ? -ENOENT : 0;
}

/* Before the first mutation under a newer context: keep the head for
 * the context's snaps the object has not seen, durably. */
int localbe_cow(struct localbe *be, struct localbe_entry *e,
		const struct localbe_snapc *sc)
{
	struct localbe_snapset *ss = &e->ss;
	struct localbe_clone *v, *c;
	char name[NAME_MAX + 1];
	unsigned n = 0;
	int fd, r;

	r = localbe_entry_ss(be, e);
	if (r < 0 || sc->seq <= ss->seq)
		return r;
	while (n < sc->n && sc->snaps[n] > ss->seq)
		n++;
	if (n == 0) {
		/* No snap to protect: nothing worth a disk write. */
		ss->seq = sc->seq;
		return 0;
	}
	fd = localbe_entry_fd(e, false, NULL);
	if (fd < 0 && fd != -ENOENT)
		return fd;
	if (fd >= 0) {
		r = localbe_clone_name(name, sizeof(name), e->oid, sc->seq);
		if (r == 0)
			r = localbe_copy(fd, e->ns->snapfd, name);
		if (r < 0)
			return r;
		v = realloc(ss->clones, (ss->nclones + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ss->clones = v;
		c = &v[ss->nclones];
		c->snaps = malloc(n * sizeof(*c->snaps));
		if (!c->snaps)
			return -ENOMEM;
		memcpy(c->snaps, sc->snaps, n * sizeof(*c->snaps));
		c->nsnaps = n;
		c->id = sc->seq;
		ss->nclones++;
	}
	/* Without a clone the seq alone records that the object did not
	 * exist at those snaps. */
	ss->seq = sc->seq;
	r = localbe_ss_store(e->ns->snapfd, e->oid, ss, true);
	if (r < 0)
		e->ss_loaded = false; /* reload what is on disk */
	return r;
}

/* ---- write snap contexts ---- */

struct localbe_snapc *localbe_snapc_new(struct localbe_io *io, uint64_t seq,
					const uint64_t *snaps, unsigned n)
{
	struct localbe_snapc *sc;

	sc = malloc(sizeof(*sc) + n * sizeof(sc->snaps[0]));
	if (!sc)
		return NULL;
	atomic_init(&sc->refs, 1);
	sc->io = io;
	sc->seq = seq;
	sc->n = n;
	if (n)
		memcpy(sc->snaps, snaps, n * sizeof(sc->snaps[0]));
	return sc;
}

void localbe_snapc_unref(struct localbe_snapc *sc)
{
	if (sc && atomic_fetch_sub(&sc->refs, 1) == 1)
		free(sc);
}

int localbe_set_write_ctx(void *vio, uint64_t seq, const uint64_t *snaps,
			  unsigned nsnaps)
{
	struct localbe_io *io = vio;
	struct localbe_snapc *sc;
	unsigned i;

	assert(io->magic == LOCALBE_IO_MAGIC);
	if (nsnaps && snaps[0] > seq)
		return -EINVAL;
	for (i = 1; i < nsnaps; i++)
		if (snaps[i] >= snaps[i - 1])
			return -EINVAL;
	sc = localbe_snapc_new(io, seq, snaps, nsnaps);
	if (!sc)
		return -ENOMEM;
	/* Ops already queued keep the context they were submitted with. */
	localbe_snapc_unref(io->snapc);
	io->snapc = sc;
	return 0;
}

/* ---- snap ids ---- */

int localbe_snapseq_load(struct localbe *be)
{
	char *text = NULL;
	int r;

	r = localbe_slurp(be->rootfd, ".snapseq", &text);
	if (r == 0)
		be->snap_seq = strtoull(text, NULL, 10);
	free(text);
	return r == -ENOENT ? 0 : r;
}

int localbe_snap_create(void *vbe, uint64_t *id)
{
	struct localbe *be = vbe;
	char buf[32];
	int r;

	assert(be->magic == LOCALBE_MAGIC);
	pthread_mutex_lock(&be->lock);
	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", be->snap_seq + 1);
	/* Durable before use: an id must never be handed out twice. */
	r = localbe_replace(be->rootfd, ".snapseq", buf, strlen(buf));
	if (r == 0)
		*id = ++be->snap_seq;
	pthread_mutex_unlock(&be->lock);
	return r;
}

/* Drops 'id' from one object's snapset, deleting clones left without a
 * snap.  Returns 1 if the snapset changed. */
static int localbe_trim_one(int snapfd, const char *oid,
			    struct localbe_snapset *ss, uint64_t id)
{
	struct localbe_clone *c;
	char name[NAME_MAX + 1];
	unsigned i, j;
	int changed = 0;

	for (i = 0; i < ss->nclones;) {
		c = &ss->clones[i];
		for (j = 0; j < c->nsnaps; j++) {
			if (c->snaps[j] == id) {
				memmove(&c->snaps[j], &c->snaps[j + 1],
					(c->nsnaps - j - 1) *
						sizeof(*c->snaps));
				c->nsnaps--;
				changed = 1;
				break;
			}
		}
		if (c->nsnaps) {
			i++;
			continue;
		}
		if (localbe_clone_name(name, sizeof(name), oid, c->id))
			return -ENAMETOOLONG;
		if (unlinkat(snapfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
		free(c->snaps);
		memmove(c, c + 1, (ss->nclones - i - 1) * sizeof(*c));
		ss->nclones--;
	}
	return changed;
}

static int localbe_trim_ns(int nsfd, int snapfd, uint64_t id)
{
	struct localbe_snapset ss;
	char oid[NAME_MAX + 1];
	struct dirent *de;
	size_t len, sl = strlen(LOCALBE_SNAPSET);
	DIR *d;
	int fd, r = 0;

	fd = openat(snapfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (r >= 0 && (de = readdir(d))) {
		len = strlen(de->d_name);
		if (len <= sl || strcmp(de->d_name + len - sl, LOCALBE_SNAPSET))
			continue;
		memcpy(oid, de->d_name, len - sl);
		oid[len - sl] = '\0';
		r = localbe_ss_load(snapfd, oid, &ss);
		if (r == 0)
			r = localbe_trim_one(snapfd, oid, &ss, id);
		if (r > 0)
			r = localbe_ss_store(snapfd, oid, &ss,
					     faccessat(nsfd, oid, F_OK, 0) ==
						     0);
		localbe_ss_clear(&ss);
	}
	closedir(d);
	return r < 0 ? r : 0;
}

int localbe_snap_remove(void *vbe, uint64_t id)
{
	struct localbe *be = vbe;
	struct dirent *de;
	DIR *d = NULL;
	int fd, nsfd, snapfd, r = 0;

	assert(be->magic == LOCALBE_MAGIC);
	pthread_mutex_lock(&be->lock);
	if (id == 0 || id > be->snap_seq)
		r = -ENOENT;
	pthread_mutex_unlock(&be->lock);
	if (r < 0)
		return r;
	/* Workers cache snapsets and write them: keep them out while the
	 * snapsets of every namespace are rewritten. */
	pthread_rwlock_wrlock(&be->snaplock);
	fd = openat(be->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		nsfd = openat(fd, de->d_name,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nsfd < 0)
			continue;
		snapfd = openat(nsfd, ".snaps",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (snapfd >= 0) {
			r = localbe_trim_ns(nsfd, snapfd, id);
			close(snapfd);
		}
		close(nsfd);
	}
	closedir(d);
out:
	be->ss_gen++;
	pthread_rwlock_unlock(&be->snaplock);
	return r;
}

/* ---- after a crash: which objects keep a clone for a snap ---- */

/* The snapset, not the clone file, is the truth: localbe_cow() makes a
 * clone durable before the snapset that names it, so a clone file the
 * snapset does not name is one a crash interrupted, and the head was
 * never changed after it. */
int localbe_snap_cloned(void *vio, uint64_t snap,
			const char (*oids)[STORAGE_OID_MAX], size_t n,
			bool *cloned, const atomic_bool *cancel)
{
	struct localbe_io *io = vio;
	struct localbe_snapset ss;
	unsigned i, j;
	size_t k;
	int r = 0;

	assert(io->magic == LOCALBE_IO_MAGIC);
	/* snap_remove() rewrites snapsets under the write lock. */
	pthread_rwlock_rdlock(&io->be->snaplock);
	for (k = 0; k < n && r == 0; k++) {
		cloned[k] = false;
		if (storage_cancelled(cancel)) {
			r = -ECANCELED;
			break;
		}
		r = localbe_ss_load(io->ns->snapfd, oids[k], &ss);
		for (i = 0; r == 0 && i < ss.nclones && !cloned[k]; i++)
			for (j = 0; j < ss.clones[i].nsnaps; j++)
				if (ss.clones[i].snaps[j] == snap)
					cloned[k] = true;
		localbe_ss_clear(&ss);
	}
	pthread_rwlock_unlock(&io->be->snaplock);
	return r;
}
