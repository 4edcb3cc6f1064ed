/* The durability of the local store: the dirty set of an ioctx, and
 * SYNC.
 *
 * A plain WRITE lands in the page cache.  When an op completes, the
 * worker adds the object's name to its ioctx's dirty set (by name, not
 * fd: the worker's fd cache may close the file in between).  A SYNC
 * fdatasyncs every file in the set, or runs one syncfs() when there are
 * many, and fsyncs the namespace directory when names changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local-int.h"

/* Places an owned name into a set known not to hold it. */
static void localbe_dirty_place(char **slots, size_t cap, char *oid)
{
	size_t i = (size_t)localbe_hash("", oid) & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = oid;
}

/* 1 if added, 0 if already there. */
static int localbe_dirty_insert(char **slots, size_t cap, const char *oid)
{
	size_t i = (size_t)localbe_hash("", oid) & (cap - 1);

	while (slots[i]) {
		if (strcmp(slots[i], oid) == 0)
			return 0;
		i = (i + 1) & (cap - 1);
	}
	slots[i] = strdup(oid);
	return slots[i] ? 1 : -ENOMEM;
}

/* Called when an op completes, before it is posted, so that a SYNC
 * submitted after the owner saw the completion finds the file here. */
int localbe_dirty_add(struct localbe_io *io, const char *oid,
		      const struct localbe_dirt *dirt)
{
	char **nv;
	size_t i, cap;
	int r = 0;

	pthread_mutex_lock(&io->lock);
	io->dir_dirty |= dirt->dir;
	if (!dirt->data)
		goto out;
	if ((io->dirty_n + 1) * 2 > io->dirty_cap) {
		cap = io->dirty_cap ? io->dirty_cap * 2 : 64;
		nv = calloc(cap, sizeof(*nv));
		if (!nv) {
			r = -ENOMEM;
			goto out;
		}
		for (i = 0; i < io->dirty_cap; i++)
			if (io->dirty[i])
				localbe_dirty_place(nv, cap, io->dirty[i]);
		free(io->dirty);
		io->dirty = nv;
		io->dirty_cap = cap;
	}
	r = localbe_dirty_insert(io->dirty, io->dirty_cap, oid);
	if (r > 0)
		io->dirty_n++;
out:
	pthread_mutex_unlock(&io->lock);
	return r < 0 ? r : 0;
}

#define LOCALBE_SYNCFS_MIN 16

int localbe_sync(struct localbe_io *io)
{
	char **slots;
	size_t i, cap, n;
	bool dir;
	int fd, r = 0;

	pthread_mutex_lock(&io->lock);
	slots = io->dirty;
	cap = io->dirty_cap;
	n = io->dirty_n;
	dir = io->dir_dirty;
	io->dirty = NULL;
	io->dirty_cap = io->dirty_n = 0;
	io->dir_dirty = false;
	pthread_mutex_unlock(&io->lock);

	/* Many dirty objects (a replication burst): one syncfs() makes the
	 * data and the directory durable with one journal commit, where an
	 * fdatasync() per file would commit the journal once per object.
	 * Since Linux 5.8 syncfs() reports writeback errors too. */
	if (n > LOCALBE_SYNCFS_MIN) {
		r = syncfs(io->ns->dirfd) < 0 ? -errno : 0;
		for (i = 0; i < cap; i++)
			free(slots[i]);
		free(slots);
		return r;
	}
	for (i = 0; i < cap; i++) {
		if (!slots[i])
			continue;
		/* fdatasync flushes the inode, whichever fd names it. */
		fd = openat(io->ns->dirfd, slots[i], O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (fdatasync(fd) < 0 && r == 0)
				r = -errno;
			close(fd);
		} else if (errno != ENOENT && r == 0) {
			r = -errno;
		}
		free(slots[i]);
	}
	free(slots);
	if (dir && r == 0)
		r = localbe_fsync(io->ns->dirfd, false);
	return r;
}
