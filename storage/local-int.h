/* Internal to the local backend: the state shared by local.c (ops,
 * workers, the fd cache, durability) and local-snap.c (snapsets, clones,
 * snap ids, trimming).
 *
 * Layout under route->path:
 *   .snapseq                  last allocated snap id (decimal)
 *   <ns>/<oid>                the head of an object
 *   <ns>/.<oid>.full          WRITE_FULL's new content before its rename
 *   <ns>/.snaps/<oid>@<id>    a clone, id = 16 hex digits
 *   <ns>/.snaps/<oid>.snapset the object's snap state (seq and clones)
 * Names starting with '.' and names with '/' are refused, so objects never
 * collide with the metadata, and a clone name (ending in hex) never equals
 * a snapset name (ending in 't').
 *
 * Threads.  An op runs on the worker chosen by hashing (ns, oid), so a
 * worker is the only thread that touches the files of its objects: its
 * cache entries (fd and snapset) are used without locks.  snap_remove()
 * rewrites snapsets of any object under 'snaplock' held for writing;
 * workers hold it for reading while they run an op.
 */
#ifndef HAVEN_LOCAL_INT_H
#define HAVEN_LOCAL_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "objstore.h"

#define LOCALBE_MAGIC 0x6c6f6362u    /* "locb" */
#define LOCALBE_IO_MAGIC 0x6c6f6369u /* "loci" */
#define LOCALBE_NWORKERS 4
/* Open objects per worker, in sets of up to LOCALBE_WAYS found by the
 * object's hash: up to 1024 per instance, so that random I/O over a few
 * GiB does not open and close a file per request.  An instance uses at
 * most a quarter of the process's open-file limit (havend raises it at
 * start, gateway/main.c), so fewer ways under a low limit. */
#define LOCALBE_WAYS 8
#define LOCALBE_SETS 32
#define LOCALBE_CACHE (LOCALBE_WAYS * LOCALBE_SETS)
/* An idle worker closes its cached files after this long. */
#define LOCALBE_IDLE_MS 1000
#define LOCALBE_SNAPSET ".snapset"

struct localbe_clone {
	uint64_t id;
	unsigned nsnaps;
	uint64_t *snaps;
};

struct localbe_snapset {
	uint64_t seq;
	unsigned nclones; /* oldest first */
	struct localbe_clone *clones;
};

struct localbe_ns {
	struct localbe_ns *next;
	char *name;
	int dirfd, snapfd;
};

/* A write snap context, immutable once made and shared by the ops that
 * were submitted under it: the context is captured at submit time. */
struct localbe_snapc {
	atomic_uint refs;
	struct localbe_io *io;
	uint64_t seq;
	unsigned n;
	uint64_t snaps[]; /* descending */
};

struct localbe_entry {
	struct localbe_ns *ns; /* NULL: free slot */
	char oid[STORAGE_OID_MAX];
	int fd;	       /* head, -1 if absent */
	bool fd_known; /* fd was looked up */
	bool ss_loaded;
	uint64_t ss_gen;
	struct localbe_snapset ss;
	uint64_t used;
	uint64_t hash;	 /* localbe_hash(ns name, oid) */
	uint64_t behind; /* bytes written since the last writeback kick */
};

struct localbe_worker {
	struct localbe *be;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct storage_completion *head, *tail;
	bool stop;
	uint64_t tick;	       /* bumped by every use of a cache entry */
	uint64_t dropped_tick; /* tick when the cache was last emptied */
	struct localbe_entry cache[LOCALBE_CACHE];
};

struct localbe {
	uint32_t magic;
	const struct storage_env *env;
	int rootfd;
	pthread_mutex_t lock; /* nss, snap_seq */
	struct localbe_ns *nss;
	uint64_t snap_seq;
	pthread_rwlock_t snaplock;
	uint64_t ss_gen; /* changed under snaplock held for writing */
	atomic_uint next_sync;
	unsigned nstarted;
	unsigned ways; /* of each cache set, 1..LOCALBE_WAYS */
	struct localbe_worker workers[LOCALBE_NWORKERS];
};

/* The files that ops of this ioctx made dirty since its last SYNC. */
struct localbe_io {
	uint32_t magic;
	struct localbe *be;
	struct localbe_ns *ns;
	struct localbe_snapc *snapc;
	pthread_mutex_t lock; /* dirty set */
	char **dirty;	      /* open-addressing set of oids */
	size_t dirty_cap, dirty_n;
	bool dir_dirty;
};

/* What an op left to make durable: its file's data, the directory. */
struct localbe_dirt {
	bool data, dir;
};

/* ---- local.c: file helpers, the object cache ---- */

/* FNV-1a over a, '/', b. */
uint64_t localbe_hash(const char *a, const char *b);

int localbe_pwrite_all(int fd, const void *buf, uint64_t len, uint64_t off);
int64_t localbe_pread_all(int fd, void *buf, uint64_t len, uint64_t off);
int localbe_fsync(int fd, bool data_only);
/* Writes data to dir/tmp, makes it durable and renames it over
 * dir/name.  Returns the new file's fd, read-write, or a negative errno.
 * The rename itself is durable only once the caller fsyncs the
 * directory. */
int localbe_install(int dirfd, const char *tmp, const char *name,
		    const void *data, size_t len);
/* The head's fd, owned by the entry; -ENOENT if absent and not asked to
 * create it (then *created tells whether it was). */
int localbe_entry_fd(struct localbe_entry *e, bool create, bool *created);

/* ---- local-sync.c: durability ---- */

/* Remembers what a completed op of io left dirty; called on the worker
 * before the op is posted, so that a later SYNC finds it. */
int localbe_dirty_add(struct localbe_io *io, const char *oid,
		      const struct localbe_dirt *dirt);
/* SYNC: makes everything in io's dirty set durable and empties it. */
int localbe_sync(struct localbe_io *io);

/* ---- local-snap.c ---- */

/* Replaces dir/name with data[0..len) durably: localbe_install() and an
 * fsync of the directory. */
int localbe_replace(int dirfd, const char *name, const void *data, size_t len);
/* Reads a whole small file into a malloc'ed NUL-terminated buffer. */
int localbe_slurp(int dirfd, const char *name, char **out);
void localbe_ss_clear(struct localbe_snapset *ss);
/* Writes an object's snapset durably, or removes it once it says nothing
 * (no clones and no head). */
int localbe_ss_store(int snapfd, const char *oid,
		     const struct localbe_snapset *ss, bool head_exists);
/* Before a mutation: preserves the head for the snaps of 'sc' the object
 * has not seen yet, durably, before the head changes. */
int localbe_cow(struct localbe *be, struct localbe_entry *e,
		const struct localbe_snapc *sc);
/* Where a read at 'snap' (not HEAD) finds the object: 0 with *fd a
 * clone's fd that the caller closes, 0 with *fd = -1 for the head, or
 * -ENOENT when the object did not exist at that snap. */
int localbe_snap_find(struct localbe *be, struct localbe_entry *e,
		      uint64_t snap, int *fd);
/* A write context with one reference, for ops of 'io'. */
struct localbe_snapc *localbe_snapc_new(struct localbe_io *io, uint64_t seq,
					const uint64_t *snaps, unsigned n);
void localbe_snapc_unref(struct localbe_snapc *sc);
int localbe_set_write_ctx(void *io, uint64_t seq, const uint64_t *snaps,
			  unsigned nsnaps);
/* Reads the last allocated snap id at open. */
int localbe_snapseq_load(struct localbe *be);
int localbe_snap_create(void *be, uint64_t *id);
int localbe_snap_remove(void *be, uint64_t id);
/* The backend's snap_cloned: from the objects' snapsets. */
int localbe_snap_cloned(void *io, uint64_t snap,
			const char (*oids)[STORAGE_OID_MAX], size_t n,
			bool *cloned, const atomic_bool *cancel);

#endif
