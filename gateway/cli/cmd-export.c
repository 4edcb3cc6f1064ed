/* havenctl export: copy a disk, or one of its restore points, out of the
 * store into a file or onto stdout.
 *
 * It reads the store directly (havend need not run) and only reads, so it
 * is safe while havend runs.  The allocation map (STORAGE_STATUS) says
 * where the holes are: a file gets real holes (nothing written there, a
 * final ftruncate to the full size), a pipe gets zeros.  Reads go through
 * the storage_sync env several at a time, in order: the oldest is waited
 * for and written while the younger ones keep the store busy.  Everything
 * written, holes as zeros, is hashed with SHA-256 and the digest printed
 * at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"
#include "storage.h"

#define EXPORT_CHUNK (UINT64_C(8) << 20) /* bytes per read */
#define EXPORT_DEPTH 4			 /* reads in flight */
#define EXPORT_RUNS 256			 /* status runs fetched at once */
/* Zeros inside data are left as holes in a file at this granularity. */
#define EXPORT_ZERO_BLOCK 65536
#define EXPORT_TICK_NS (UINT64_C(250) * 1000 * 1000)

static const char export_usage[] =
	"Usage: havenctl [-d DIR] export TENANT/VM/DISK[@RP] -o FILE|-\n"
	"Copy a disk, or a restore point of it (RP: an id, a name or "
	"'latest'),\n"
	"out of the store into FILE (created or truncated, mode 0600) or onto\n"
	"stdout ('-').  Holes stay holes in FILE and are zeros on stdout.\n"
	"Prints 'sha256 HEX  FILE' (on stderr when the data goes to stdout).\n"
	"Reads the store directly: havend need not run.  While it runs, a\n"
	"live disk can change during the copy; export @latest or another\n"
	"restore point for a point-in-time image.\n"
	"\n"
	"  -o, --output FILE  where to write the image ('-': stdout)\n"
	"  -q, --quiet        no progress line on a terminal\n"
	"  -h, --help         show this help\n";

/* One segment of the image, in order: a read in flight, or a hole. */
struct slot {
	struct storage_req r;
	uint8_t *buf;
	uint64_t off;
	uint64_t len;
	bool hole;
	bool done;
	int result;
};

struct job {
	const char *arg; /* TENANT/VM/DISK[@RP] as given */
	struct tenant_catalog *cat;
	struct tenant_info t;
	struct tenant_disk d;
	struct tenant_rp rp; /* rp.id 0: the live disk */
	struct gw_cli_store s;
	struct storage_disk *sd;
	uint64_t size;

	/* The allocation map from 'next' on, fetched EXPORT_RUNS at a time. */
	struct storage_extent runs[EXPORT_RUNS];
	size_t nruns;
	size_t run;	   /* the run 'next' lies in */
	uint64_t run_used; /* bytes of runs[run] scheduled already */
	uint64_t next;	   /* first byte not scheduled yet */

	struct slot slots[EXPORT_DEPTH];
	unsigned head; /* oldest scheduled slot */
	unsigned count;
	uint8_t *zeros; /* EXPORT_CHUNK zero bytes */

	const char *path; /* NULL: stdout */
	int fd;
	bool seekable; /* a regular file: holes are skipped */
	bool created;  /* remove it on failure */
	EVP_MD_CTX *md;
	uint64_t written;

	bool progress;
	bool drawn;
	uint64_t start_ns;
	uint64_t tick_ns;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	/* The first signal stops the copy cleanly (the partial file is
	 * removed); a second one, say while the store hangs, kills. */
	if (interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	interrupted = 1;
}

static void catch_signals(bool on)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on ? on_signal : SIG_DFL;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- progress ---- */

static void fmt_eta(uint64_t secs, char *buf, size_t len)
{
	if (secs >= 3600)
		snprintf(buf, len, "ETA %" PRIu64 ":%02u:%02u", secs / 3600,
			 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
	else
		snprintf(buf, len, "ETA %u:%02u", (unsigned)(secs / 60),
			 (unsigned)(secs % 60));
}

/* One line on stderr, rewritten in place at most every EXPORT_TICK_NS. */
static void progress_show(struct job *j, bool final)
{
	uint64_t now = mono_ns(), left = j->size - j->written;
	double secs, rate;
	char done[32], total[32], eta[32];
	unsigned pct;

	if (!j->progress || (!final && now - j->tick_ns < EXPORT_TICK_NS))
		return;
	j->tick_ns = now;
	secs = (double)(now - j->start_ns) / 1e9;
	rate = secs > 0 ? (double)j->written / secs : 0;
	pct = j->size ? (unsigned)(j->written * 100 / j->size) : 100;
	gw_cli_fmt_size(j->written, done, sizeof(done));
	gw_cli_fmt_size(j->size, total, sizeof(total));
	if (final)
		snprintf(eta, sizeof(eta), "in %.1f s", secs);
	else if (rate > 0)
		fmt_eta((uint64_t)((double)left / rate), eta, sizeof(eta));
	else
		snprintf(eta, sizeof(eta), "ETA -");
	fprintf(stderr, "\r%s / %s  %3u%%  %.1f MiB/s  %s\033[K", done, total,
		pct, rate / (1 << 20), eta);
	j->drawn = true;
}

/* Ends the progress line, so that what follows starts a line. */
static void progress_end(struct job *j)
{
	if (j->drawn)
		fputc('\n', stderr);
	j->drawn = false;
}

/* ---- the source ---- */

/* Splits TENANT/VM/DISK[@RP] and finds the disk and the restore point;
 * reports. */
static int resolve(struct job *j)
{
	char path[TENANT_PATH_MAX];
	const char *at;
	int err;

	at = strchr(j->arg, '@');
	if (strlen(j->arg) >= sizeof(path) || (at && !at[1])) {
		gw_cli_fail("invalid disk '%s': use TENANT/VM/DISK[@RP]",
			    j->arg);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%.*s",
		 at ? (int)(at - j->arg) : (int)strlen(j->arg), j->arg);
	err = gw_cli_disk_lookup(j->cat, path, &j->t, &j->d);
	if (err < 0 || !at)
		return err;
	err = tenant_rp_find(j->cat, j->d.id, at + 1, &j->rp);
	if (err == -ENOENT || err == -EINVAL)
		gw_cli_fail("disk '%s' has no restore point '%s'", path,
			    at + 1);
	else if (err < 0)
		gw_cli_fail("cannot read the restore points of '%s': %s", path,
			    gw_cli_strerror(err));
	return err;
}

/* Opens the live disk read-only, or the restore point's view of it with
 * its size and allocation map; reports. */
static int open_source(struct job *j)
{
	struct storage_disk_params p = {
		.ns = j->t.ns,
		.id = j->d.id,
		.size = j->d.size,
		.extent_size = j->d.extent_size,
		.read_only = true,
		.snap = STORAGE_SNAP_HEAD,
	};
	uint8_t *map = NULL;
	size_t len = 0;
	int err;

	err = gw_cli_store_open(j->cat, &j->t, &j->s);
	if (err < 0) {
		gw_cli_fail("cannot open route '%s' of tenant '%s': %s",
			    j->t.route, j->t.name, gw_cli_strerror(err));
		return err;
	}
	if (j->rp.id) {
		p.size = j->rp.size;
		p.snap = j->rp.snap_id;
		/* Without a recorded map every extent reads as data. */
		err = tenant_rp_map(j->cat, j->d.id, j->rp.id, &map, &len);
		if (err == 0) {
			p.map = map;
			p.map_len = len;
		} else if (err != -ENOENT) {
			gw_cli_fail("cannot read the allocation map of '%s': "
				    "%s",
				    j->arg, gw_cli_strerror(err));
			return err;
		}
	}
	err = storage_disk_open(j->s.st, &p, &j->sd);
	free(map);
	if (err < 0) {
		gw_cli_fail("cannot open '%s' in the store: %s", j->arg,
			    gw_cli_strerror(err));
		return err;
	}
	j->size = storage_disk_size(j->sd);
	return 0;
}

/* havend holds its lock while it runs (see gw_cli_lock); the lock is
 * only tested here, never kept, so that havend can start meanwhile. */
static bool havend_running(const struct gw_cli *cli)
{
	char path[TENANT_PATH_MAX];
	bool busy = false;
	int fd;

	if (gw_cli_path(cli, GW_CLI_LOCK, path, sizeof(path)) < 0)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false; /* havend never ran here */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		busy = true;
	close(fd);
	return busy;
}

/* ---- reading ---- */

static void req_done(struct storage_req *r, int result)
{
	struct slot *s = r->priv;

	s->result = result;
	s->done = true;
}

/* Fetches the allocation runs from 'next' on. */
static int fetch_runs(struct job *j)
{
	struct slot s = {.done = false};

	s.r.cmd = STORAGE_STATUS;
	s.r.off = j->next;
	s.r.len = j->size - j->next;
	s.r.extents = j->runs;
	s.r.nextents = EXPORT_RUNS;
	s.r.done = req_done;
	s.r.priv = &s;
	storage_disk_submit(j->sd, &s.r);
	storage_sync_wait(j->s.sync, &s.done);
	if (s.result < 0)
		return s.result;
	if (s.r.nextents == 0)
		return -EIO;
	j->nruns = s.r.nextents;
	j->run = 0;
	j->run_used = 0;
	return 0;
}

/* The next segment: within one run and one EXPORT_CHUNK-aligned chunk.
 * 1: filled in, 0: the end of the disk. */
static int next_segment(struct job *j, struct slot *s)
{
	const struct storage_extent *e;
	uint64_t len;
	int err;

	if (j->next >= j->size)
		return 0;
	if (j->run == j->nruns) {
		err = fetch_runs(j);
		if (err < 0)
			return err;
	}
	e = &j->runs[j->run];
	len = EXPORT_CHUNK - j->next % EXPORT_CHUNK;
	if (len > e->length - j->run_used)
		len = e->length - j->run_used;
	if (len > j->size - j->next)
		len = j->size - j->next;
	s->off = j->next;
	s->len = len;
	s->hole = e->hole;
	j->next += len;
	j->run_used += len;
	if (j->run_used >= e->length) {
		j->run++;
		j->run_used = 0;
	}
	return 1;
}

/* Schedules segments until EXPORT_DEPTH are pending or the disk ends. */
static int fill(struct job *j)
{
	struct slot *s;
	int rc;

	while (j->count < EXPORT_DEPTH) {
		s = &j->slots[(j->head + j->count) % EXPORT_DEPTH];
		rc = next_segment(j, s);
		if (rc <= 0)
			return rc;
		j->count++;
		s->result = 0;
		s->done = s->hole;
		if (s->hole)
			continue;
		memset(&s->r, 0, sizeof(s->r));
		s->r.cmd = STORAGE_READ;
		s->r.off = s->off;
		s->r.len = s->len;
		s->r.buf = s->buf;
		s->r.done = req_done;
		s->r.priv = s;
		storage_disk_submit(j->sd, &s->r);
	}
	return 0;
}

/* Waits for every read still in flight: their buffers and requests must
 * outlive them. */
static void drain(struct job *j)
{
	unsigned i;

	for (i = 0; i < j->count; i++)
		storage_sync_wait(j->s.sync,
				  &j->slots[(j->head + i) % EXPORT_DEPTH].done);
	j->count = 0;
}

/* ---- writing ---- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Writes a data segment into a file, leaving all-zero blocks as holes
 * (the file was truncated, so they read as zeros). */
static int write_sparse(struct job *j, const struct slot *s)
{
	size_t pos = 0, start, blk;
	int err;

	while (pos < s->len) {
		blk = s->len - pos < EXPORT_ZERO_BLOCK ? s->len - pos
						       : EXPORT_ZERO_BLOCK;
		if (all_zero(s->buf + pos, blk)) {
			pos += blk;
			continue;
		}
		start = pos;
		while (pos < s->len && !all_zero(s->buf + pos, blk)) {
			pos += blk;
			blk = s->len - pos < EXPORT_ZERO_BLOCK
				      ? s->len - pos
				      : EXPORT_ZERO_BLOCK;
		}
		err = pwrite_all(j->fd, s->buf + start, pos - start,
				 s->off + start);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Hashes and writes the oldest segment. */
static int emit(struct job *j, const struct slot *s)
{
	const uint8_t *data = s->hole ? j->zeros : s->buf;
	int err = 0;

	if (EVP_DigestUpdate(j->md, data, s->len) != 1)
		return -ENOMEM;
	if (j->seekable && !s->hole)
		err = write_sparse(j, s);
	else if (!j->seekable)
		err = write_all(j->fd, data, s->len);
	if (err == 0)
		j->written += s->len;
	return err;
}

static void copy_fail(const struct job *j, int err, bool writing, uint64_t at)
{
	if (err == -EINTR)
		gw_cli_fail("export of '%s' interrupted", j->arg);
	else if (writing)
		gw_cli_fail("cannot write %s: %s",
			    j->path ? j->path : "to stdout", strerror(-err));
	else
		gw_cli_fail("cannot read '%s' at byte %" PRIu64 ": %s", j->arg,
			    at, gw_cli_strerror(err));
}

/* The copy loop; reports. */
static int copy(struct job *j)
{
	bool writing = false;
	struct slot *s;
	uint64_t at = 0;
	int err;

	for (;;) {
		at = j->next;
		err = fill(j);
		if (err < 0 || j->count == 0)
			break;
		s = &j->slots[j->head];
		at = s->off;
		storage_sync_wait(j->s.sync, &s->done);
		err = s->result;
		if (err < 0)
			break;
		writing = true;
		err = emit(j, s);
		if (err < 0)
			break;
		writing = false;
		j->head = (j->head + 1) % EXPORT_DEPTH;
		j->count--;
		if (interrupted) {
			err = -EINTR;
			break;
		}
		progress_show(j, false);
	}
	drain(j);
	if (err == 0)
		progress_show(j, true);
	progress_end(j);
	if (err < 0)
		copy_fail(j, err, writing, at);
	return err;
}

/* ---- the sink ---- */

/* Opens FILE (or takes stdout); reports. */
static int open_sink(struct job *j)
{
	struct stat st;
	int err;

	if (!j->path) {
		if (isatty(STDOUT_FILENO)) {
			gw_cli_fail("refusing to write a disk image to a "
				    "terminal (use -o FILE or a pipe)");
			return -ENOTTY;
		}
		j->fd = STDOUT_FILENO;
		return 0;
	}
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (j->fd < 0 || fstat(j->fd, &st) < 0) {
		err = -errno;
		gw_cli_fail("cannot create %s: %s", j->path, strerror(-err));
		return err;
	}
	/* Only a regular file can have holes; a device or a FIFO gets
	 * zeros, and is never removed on failure. */
	j->seekable = S_ISREG(st.st_mode);
	j->created = j->seekable;
	return 0;
}

/* Sizes, syncs and closes FILE; reports. */
static int close_sink(struct job *j)
{
	const char *what = "size";
	int err = 0;

	if (!j->path)
		return 0;
	if (j->seekable && ftruncate(j->fd, (off_t)j->size) < 0)
		err = -errno;
	if (err == 0 && j->seekable && fsync(j->fd) < 0) {
		what = "sync";
		err = -errno;
	}
	if (close(j->fd) < 0 && err == 0) {
		what = "close";
		err = -errno;
	}
	j->fd = -1;
	if (err < 0)
		gw_cli_fail("cannot %s %s: %s", what, j->path, strerror(-err));
	return err;
}

/* A restore point removed during the copy may have been read after its
 * snapshot went: the image would be a mix.  Ids are never reused, so
 * finding it still there afterwards proves every read saw it. */
static int check_rp(struct job *j)
{
	struct tenant_rp now;
	int err;

	if (!j->rp.id)
		return 0;
	err = tenant_rp_get(j->cat, j->d.id, j->rp.id, &now);
	if (err == 0 && now.snap_id != j->rp.snap_id)
		err = -ENOENT;
	if (err == -ENOENT)
		gw_cli_fail("restore point %" PRIu64 " of '%s' was removed "
			    "during the export",
			    j->rp.id, j->arg);
	else if (err < 0)
		gw_cli_fail("cannot read restore point %" PRIu64 ": %s",
			    j->rp.id, gw_cli_strerror(err));
	return err;
}

static int print_digest(struct job *j)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned n = 0, i;

	if (EVP_DigestFinal_ex(j->md, md, &n) != 1) {
		gw_cli_fail("cannot compute the SHA-256 digest");
		return -EIO;
	}
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	fprintf(j->path ? stdout : stderr, "sha256 %s  %s\n", hex,
		j->path ? j->path : "-");
	return 0;
}

/* ---- the command ---- */

static int alloc_buffers(struct job *j)
{
	unsigned i;

	j->zeros = calloc(1, EXPORT_CHUNK);
	if (!j->zeros)
		return -ENOMEM;
	for (i = 0; i < EXPORT_DEPTH; i++) {
		j->slots[i].buf = malloc(EXPORT_CHUNK);
		if (!j->slots[i].buf)
			return -ENOMEM;
	}
	j->md = EVP_MD_CTX_new();
	if (!j->md || EVP_DigestInit_ex(j->md, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	return 0;
}

static void job_free(struct job *j)
{
	unsigned i;

	drain(j);
	if (j->path && j->fd >= 0)
		close(j->fd);
	EVP_MD_CTX_free(j->md);
	for (i = 0; i < EXPORT_DEPTH; i++)
		free(j->slots[i].buf);
	free(j->zeros);
	storage_disk_close(j->sd);
	gw_cli_store_close(&j->s);
	tenant_catalog_close(j->cat);
}

/* Everything after the options; reports. */
static int run_export(struct gw_cli *cli, struct job *j)
{
	int err;

	if (gw_cli_catalog_open(cli, &j->cat) < 0 || resolve(j) < 0 ||
	    open_source(j) < 0)
		return -EINVAL;
	err = alloc_buffers(j);
	if (err < 0) {
		gw_cli_fail("cannot export '%s': %s", j->arg, strerror(-err));
		return err;
	}
	err = open_sink(j);
	if (err < 0)
		return err;
	if (!j->rp.id && havend_running(cli))
		fprintf(stderr,
			"havenctl: warning: havend is running: the live disk "
			"may change while it is copied, so the image need not "
			"be consistent; export %s@latest or another restore "
			"point for a point-in-time image\n",
			j->arg);
	j->start_ns = j->tick_ns = mono_ns();
	catch_signals(true);
	err = copy(j);
	catch_signals(false);
	if (err == 0)
		err = close_sink(j);
	if (err == 0)
		err = check_rp(j);
	if (err < 0)
		return err;
	return print_digest(j);
}

int gw_cli_cmd_export(struct gw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct job j = {.fd = -1, .progress = true};
	const char *out = NULL;
	int c, err;

	while ((c = gw_cli_getopt(cli, argc, argv, "o:qh", opts)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'q')
			j.progress = false;
		else if (c == 'h')
			return gw_cli_help(export_usage);
		else
			return GW_CLI_USAGE;
	}
	if (gw_cli_nargs(cli, argc - optind, 1, 1, "TENANT/VM/DISK[@RP]") < 0)
		return GW_CLI_USAGE;
	if (!out || !*out)
		return gw_cli_usage_error(cli, "missing -o FILE (or -o -)");
	j.arg = argv[optind];
	j.path = strcmp(out, "-") == 0 ? NULL : out;
	j.progress = j.progress && isatty(STDERR_FILENO);
	interrupted = 0;
	err = run_export(cli, &j);
	if (err < 0) {
		progress_end(&j);
		if (j.created && unlink(j.path) < 0)
			fprintf(stderr,
				"havenctl: warning: cannot remove %s: %s\n",
				j.path, strerror(errno));
	}
	job_free(&j);
	return err < 0 ? GW_CLI_FAIL : GW_CLI_OK;
}
