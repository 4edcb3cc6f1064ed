/* The fault injector: a backend wrapped around another one, for tests.
 *
 * storage_store_open() puts it around the route's backend when the route
 * names a fault file (havend: the HAVEN_FAULT_FILE environment variable).
 * The file holds rules, one per line; '#' starts a comment:
 *
 *     op=write,errno=EIO,nth=50        fail the 50th WRITE from now
 *     op=read+stat,delay=200           every READ and STAT 200 ms late
 *     op=any,errno=ENOSPC,ns=acme      fail every op of tenant acme
 *
 * Keys: op (kinds joined by '+': read write zero truncate remove stat
 * write_full sync (alias flush) snap list probe any; default any), errno
 * (a name: EIO ENOSPC ETIMEDOUT EDQUOT EROFS EPERM ENOMEM EINVAL ENOTSUP
 * ESHUTDOWN EAGAIN ECONNRESET), delay (milliseconds, at most 600000),
 * nth (the first matching op to hit, 1-based; default 1), count (how many
 * matching ops from the nth are hit; default 1 with nth, else all), ns
 * (only this namespace).  A rule needs errno or delay or both.  Every
 * rule counts the ops it matches from the moment the file was loaded; the
 * first rule that hits an op decides what happens to it.
 *
 * "list" is a listing of a namespace (a disk's open after a crash, and
 * usage counts) and "probe" one snap_cloned call (the clone probe of
 * such an open, up to 64 objects); both block their caller anyway, so a
 * delay sleeps in the call (cut short with -ECANCELED when the caller
 * gives up on the open) and an error fails it.  "any" leaves them
 * out: name them to hit them.
 *
 * A failed op is never handed to the wrapped backend: the store is left
 * as it was, which is what lets a test check that a refused write left
 * the old data.  A delayed op runs at once and its completion is held
 * back until the delay is over, so ops on one object still run in
 * submission order.  A failed op with a delay is reported after it.
 *
 * The file is stat()ed at every op and re-read when it changed (a test
 * replaces it with a rename), so a test can inject a fault in the middle
 * of a stream and clear it again by removing the file.  A file that does
 * not parse is refused as a whole with one log line: no rule is active
 * until a good one replaces it.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "objstore.h"

#define FAULTBE_MAGIC 0x666c7462u    /* "fltb" */
#define FAULTBE_IO_MAGIC 0x666c7469u /* "flti" */
#define FAULT_FILE_MAX 65536
#define FAULT_RULES_MAX 64
#define FAULT_DELAY_MAX 600000u
#define FAULT_NS_MAX 128
/* Not opcodes: snap_create and snap_remove; listings; clone probes. */
#define FAULT_KIND_SNAP (STORAGE_OP_SYNC + 1)
#define FAULT_KIND_LIST (STORAGE_OP_SYNC + 2)
#define FAULT_KIND_PROBE (STORAGE_OP_SYNC + 3)
/* "any": the object ops and snap calls, not listings or probes. */
#define FAULT_KINDS_ANY ((1u << (FAULT_KIND_SNAP + 1)) - 1)

struct fault_rule {
	unsigned kinds; /* bit (1 << opcode), bit FAULT_KIND_SNAP */
	char ns[FAULT_NS_MAX];
	int err; /* negative errno or 0 */
	unsigned delay_ms;
	uint64_t nth, count; /* count 0: no end */
	uint64_t seen;	     /* matching ops since the load */
};

/* An op whose completion the injector holds back or has to change. */
struct fault_hold {
	struct fault_hold *next;
	struct storage_completion *comp;
	uint64_t due_ns; /* CLOCK_MONOTONIC */
};

struct faultbe {
	uint32_t magic;
	const struct storage_backend *inner_ops;
	void *inner;
	const struct storage_env *env; /* the embedder's */
	struct storage_env inner_env;  /* ours, handed to the inner backend */
	char *path;
	void (*log)(bool error, const char *msg);

	pthread_mutex_t lock; /* everything below */
	struct stat st;	      /* of the file last looked at */
	bool have_file;
	struct fault_rule rules[FAULT_RULES_MAX];
	unsigned nrules;
	struct fault_hold *running; /* delayed ops inside the inner backend */
	struct fault_hold *due;	    /* completions waiting, by due time */
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_on, stopping;
};

struct faultbe_io {
	uint32_t magic;
	struct faultbe *be;
	void *inner;
	char ns[FAULT_NS_MAX];
};

static const struct {
	const char *name;
	unsigned kinds;
} fault_kinds[] = {
	{"read", 1u << STORAGE_OP_READ},
	{"write", 1u << STORAGE_OP_WRITE},
	{"zero", 1u << STORAGE_OP_ZERO},
	{"truncate", 1u << STORAGE_OP_TRUNCATE},
	{"remove", 1u << STORAGE_OP_REMOVE},
	{"stat", 1u << STORAGE_OP_STAT},
	{"write_full", 1u << STORAGE_OP_WRITE_FULL},
	{"sync", 1u << STORAGE_OP_SYNC},
	{"flush", 1u << STORAGE_OP_SYNC},
	{"snap", 1u << FAULT_KIND_SNAP},
	{"list", 1u << FAULT_KIND_LIST},
	{"probe", 1u << FAULT_KIND_PROBE},
	{"any", FAULT_KINDS_ANY},
};

static const struct {
	const char *name;
	int err;
} fault_errnos[] = {
	{"EIO", EIO},
	{"ENOSPC", ENOSPC},
	{"ETIMEDOUT", ETIMEDOUT},
	{"EDQUOT", EDQUOT},
	{"EROFS", EROFS},
	{"EPERM", EPERM},
	{"ENOMEM", ENOMEM},
	{"EINVAL", EINVAL},
	{"ENOTSUP", ENOTSUP},
	{"ESHUTDOWN", ESHUTDOWN},
	{"EAGAIN", EAGAIN},
	{"ECONNRESET", ECONNRESET},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t fault_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the rules file ---- */

static int fault_parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

static int fault_parse_kinds(char *v, unsigned *kinds)
{
	char *save = NULL, *k;
	size_t i;

	*kinds = 0;
	for (k = strtok_r(v, "+", &save); k; k = strtok_r(NULL, "+", &save)) {
		for (i = 0; i < NELEM(fault_kinds); i++)
			if (strcmp(k, fault_kinds[i].name) == 0)
				break;
		if (i == NELEM(fault_kinds))
			return -EINVAL;
		*kinds |= fault_kinds[i].kinds;
	}
	return *kinds ? 0 : -EINVAL;
}

/* One "key=value" of a rule; 'have' remembers the keys already given. */
static int fault_parse_pair(char *tok, struct fault_rule *r, unsigned *have,
			    char *why, size_t wlen)
{
	static const char *const keys[] = {"op",  "errno", "delay",
					   "nth", "count", "ns"};
	char *eq = strchr(tok, '='), *v;
	uint64_t n;
	size_t k, i;

	if (!eq) {
		snprintf(why, wlen, "'%s' is not key=value", tok);
		return -EINVAL;
	}
	*eq = '\0';
	v = eq + 1;
	for (k = 0; k < NELEM(keys); k++)
		if (strcmp(tok, keys[k]) == 0)
			break;
	if (k == NELEM(keys)) {
		snprintf(why, wlen,
			 "unknown key '%s' (op, errno, delay, nth, count, ns)",
			 tok);
		return -EINVAL;
	}
	if (*have & (1u << k)) {
		snprintf(why, wlen, "key '%s' given twice", tok);
		return -EINVAL;
	}
	*have |= 1u << k;
	switch (k) {
	case 0:
		if (fault_parse_kinds(v, &r->kinds) == 0)
			return 0;
		snprintf(why, wlen,
			 "bad op '%s' (read write zero truncate "
			 "remove stat write_full sync flush snap any, joined "
			 "by '+')",
			 v);
		return -EINVAL;
	case 1:
		for (i = 0; i < NELEM(fault_errnos); i++) {
			if (strcmp(v, fault_errnos[i].name) == 0) {
				r->err = -fault_errnos[i].err;
				return 0;
			}
		}
		snprintf(why, wlen, "unknown errno '%s'", v);
		return -EINVAL;
	case 2:
		if (fault_parse_u64(v, FAULT_DELAY_MAX, &n) == 0) {
			r->delay_ms = (unsigned)n;
			return 0;
		}
		snprintf(why, wlen, "delay '%s' is not 0..%u ms", v,
			 FAULT_DELAY_MAX);
		return -EINVAL;
	case 3:
	case 4:
		if (fault_parse_u64(v, UINT32_MAX, &n) == 0 && n > 0) {
			*(k == 3 ? &r->nth : &r->count) = n;
			return 0;
		}
		snprintf(why, wlen, "%s '%s' is not a positive integer", tok,
			 v);
		return -EINVAL;
	default:
		if (*v && strlen(v) < sizeof(r->ns)) {
			snprintf(r->ns, sizeof(r->ns), "%s", v);
			return 0;
		}
		snprintf(why, wlen, "bad namespace '%s'", v);
		return -EINVAL;
	}
}

static int fault_parse_rule(char *line, struct fault_rule *r, char *why,
			    size_t wlen)
{
	char *tok, *next, *end;
	unsigned have = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	r->kinds = FAULT_KINDS_ANY;
	/* Split by hand: strtok would let ",," and a trailing ',' pass. */
	for (tok = line; tok; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		ret = fault_parse_pair(tok, r, &have, why, wlen);
		if (ret < 0)
			return ret;
	}
	if (!r->err && !r->delay_ms) {
		snprintf(why, wlen, "a rule needs errno= or delay=");
		return -EINVAL;
	}
	if (!r->nth)
		r->nth = 1;
	else if (!r->count)
		r->count = 1;
	return 0;
}

/* Parses the whole text into rules[]; on error nothing is kept. */
static int fault_parse(char *text, struct fault_rule *rules, unsigned *n,
		       char *why, size_t wlen)
{
	char *line, *hash, *p;
	char detail[256];
	unsigned lineno = 0, count = 0;
	int ret;

	for (p = text; *p; p++) {
		if (*p == '\r' || (unsigned char)*p >= 0x7f ||
		    ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')) {
			snprintf(why, wlen, "control or non-ASCII byte 0x%02x",
				 (unsigned char)*p);
			return -EINVAL;
		}
	}
	/* strtok_r would merge empty lines and lose the count. */
	for (line = text; line; line = p) {
		p = strchr(line, '\n');
		if (p)
			*p++ = '\0';
		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (strspn(line, " \t") == strlen(line))
			continue;
		if (count == FAULT_RULES_MAX) {
			snprintf(why, wlen, "more than %d rules",
				 FAULT_RULES_MAX);
			return -EINVAL;
		}
		ret = fault_parse_rule(line, &rules[count], detail,
				       sizeof(detail));
		if (ret < 0) {
			snprintf(why, wlen, "line %u: %s", lineno, detail);
			return ret;
		}
		count++;
	}
	*n = count;
	return 0;
}

static void fault_say(struct faultbe *be, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fault_say(struct faultbe *be, bool error, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!be->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	be->log(error, msg);
}

static void fault_load(struct faultbe *be)
{
	struct fault_rule rules[FAULT_RULES_MAX];
	char why[320];
	char *text = NULL;
	unsigned n = 0;
	size_t len;
	FILE *f;

	be->nrules = 0;
	text = malloc(FAULT_FILE_MAX + 1);
	f = text ? fopen(be->path, "r") : NULL;
	if (!f) {
		fault_say(be, true, "fault file %s unreadable (%s): no faults",
			  be->path, strerror(text ? errno : ENOMEM));
		goto out;
	}
	len = fread(text, 1, FAULT_FILE_MAX + 1, f);
	fclose(f);
	if (len > FAULT_FILE_MAX) {
		fault_say(be, true,
			  "fault file %s refused: over %d bytes; "
			  "no faults",
			  be->path, FAULT_FILE_MAX);
		goto out;
	}
	text[len] = '\0';
	if (memchr(text, '\0', len)) {
		fault_say(be, true,
			  "fault file %s refused: NUL byte; no faults",
			  be->path);
		goto out;
	}
	if (fault_parse(text, rules, &n, why, sizeof(why)) < 0) {
		fault_say(be, true, "fault file %s refused: %s; no faults",
			  be->path, why);
		goto out;
	}
	memcpy(be->rules, rules, n * sizeof(rules[0]));
	be->nrules = n;
	fault_say(be, false, "fault file %s loaded: %u rule(s)", be->path, n);
out:
	free(text);
}

/* Re-reads the file if it changed since the last look; lock held. */
static void fault_refresh(struct faultbe *be)
{
	struct stat st;

	if (stat(be->path, &st) < 0) {
		if (be->have_file)
			fault_say(be, false, "fault file %s gone: no faults",
				  be->path);
		be->have_file = false;
		be->nrules = 0;
		return;
	}
	if (be->have_file && st.st_ino == be->st.st_ino &&
	    st.st_dev == be->st.st_dev && st.st_size == be->st.st_size &&
	    st.st_mtim.tv_sec == be->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == be->st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == be->st.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == be->st.st_ctim.tv_nsec)
		return;
	be->st = st;
	be->have_file = true;
	fault_load(be);
}

/* Counts the op against every rule it matches; returns the rule that
 * hits it, or NULL.  Lock held. */
static const struct fault_rule *fault_match(struct faultbe *be, unsigned kind,
					    const char *ns)
{
	const struct fault_rule *hit = NULL;
	struct fault_rule *r;
	unsigned i;

	fault_refresh(be);
	for (i = 0; i < be->nrules; i++) {
		r = &be->rules[i];
		if (!(r->kinds & (1u << kind)) ||
		    (r->ns[0] && ns && strcmp(r->ns, ns) != 0))
			continue;
		r->seen++;
		if (!hit && r->seen >= r->nth &&
		    (!r->count || r->seen < r->nth + r->count))
			hit = r;
	}
	return hit;
}

/* ---- held completions ---- */

static void *fault_thread(void *arg)
{
	struct faultbe *be = arg;
	struct fault_hold *h;
	struct timespec ts;
	uint64_t now;

	pthread_mutex_lock(&be->lock);
	for (;;) {
		h = be->due;
		if (!h && be->stopping)
			break;
		if (!h) {
			pthread_cond_wait(&be->cond, &be->lock);
			continue;
		}
		now = fault_now_ns();
		/* At close the delays are cut short: nothing may stay
		 * behind in a store that is going away. */
		if (h->due_ns > now && !be->stopping) {
			ts.tv_sec = (time_t)(h->due_ns / 1000000000u);
			ts.tv_nsec = (long)(h->due_ns % 1000000000u);
			pthread_cond_timedwait(&be->cond, &be->lock, &ts);
			continue;
		}
		be->due = h->next;
		pthread_mutex_unlock(&be->lock);
		be->env->post(be->env->ctx, h->comp);
		free(h);
		pthread_mutex_lock(&be->lock);
	}
	pthread_mutex_unlock(&be->lock);
	return NULL;
}

/* Queues a completion for the thread, in due order; lock held.  Returns
 * false if it cannot (no memory, no thread): the caller posts it now. */
static bool fault_hold_due(struct faultbe *be, struct fault_hold *h)
{
	struct fault_hold **p;

	if (!be->thread_on) {
		if (pthread_create(&be->thread, NULL, fault_thread, be) != 0)
			return false;
		be->thread_on = true;
	}
	for (p = &be->due; *p && (*p)->due_ns <= h->due_ns; p = &(*p)->next)
		;
	h->next = *p;
	*p = h;
	pthread_cond_signal(&be->cond);
	return true;
}

/* The inner backend's post(): a held op waits for its due time, every
 * other completion goes straight to the embedder. */
static void fault_post(void *ctx, struct storage_completion *c)
{
	struct faultbe *be = ctx;
	struct fault_hold **p, *h = NULL;
	bool held = false;

	pthread_mutex_lock(&be->lock);
	for (p = &be->running; *p; p = &(*p)->next) {
		if ((*p)->comp == c) {
			h = *p;
			*p = h->next;
			break;
		}
	}
	if (h && h->due_ns > fault_now_ns())
		held = fault_hold_due(be, h);
	pthread_mutex_unlock(&be->lock);
	if (held)
		return;
	free(h);
	be->env->post(be->env->ctx, c);
}

/* ---- the backend ---- */

static void fault_submit(void *vio, struct storage_op *op)
{
	struct faultbe_io *io = vio;
	struct faultbe *be = io->be;
	const struct fault_rule *r;
	struct fault_hold *h = NULL;
	bool held = false;
	int err = 0;

	assert(io->magic == FAULTBE_IO_MAGIC);
	pthread_mutex_lock(&be->lock);
	r = fault_match(be, op->code, io->ns);
	if (r) {
		err = r->err;
		h = r->delay_ms ? calloc(1, sizeof(*h)) : NULL;
	}
	if (h) {
		h->comp = &op->comp;
		h->due_ns = fault_now_ns() + (uint64_t)r->delay_ms * 1000000u;
		if (err) {
			held = fault_hold_due(be, h);
		} else {
			h->next = be->running;
			be->running = h;
			held = true;
		}
	}
	pthread_mutex_unlock(&be->lock);
	if (err) {
		op->result = err;
		if (!held) {
			free(h);
			be->env->post(be->env->ctx, &op->comp);
		}
		return;
	}
	be->inner_ops->submit(io->inner, op);
}

/* Slices of a blocking call's delay: a listing or a probe asked to give
 * up stops sleeping within one. */
#define FAULT_SLICE_MS 50u

/* A blocking call (snap, list, probe): sleeps out its delay here, and
 * gives up with -ECANCELED once *cancel is set (NULL: never). */
static int fault_blocking_op(struct faultbe *be, unsigned kind, const char *ns,
			     const atomic_bool *cancel)
{
	const struct fault_rule *r;
	struct timespec ts;
	unsigned delay_ms = 0, ms;
	int err = 0;

	pthread_mutex_lock(&be->lock);
	r = fault_match(be, kind, ns);
	if (r) {
		err = r->err;
		delay_ms = r->delay_ms;
	}
	pthread_mutex_unlock(&be->lock);
	/* These calls block anyway (a monitor round trip, a listing). */
	while (delay_ms) {
		if (storage_cancelled(cancel))
			return -ECANCELED;
		ms = delay_ms < FAULT_SLICE_MS ? delay_ms : FAULT_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)ms * 1000000;
		nanosleep(&ts, NULL);
		delay_ms -= ms;
	}
	return err;
}

static int fault_snap_create(void *vbe, uint64_t *id)
{
	struct faultbe *be = vbe;
	int err = fault_blocking_op(be, FAULT_KIND_SNAP, NULL, NULL);

	return err ? err : be->inner_ops->snap_create(be->inner, id);
}

static int fault_snap_remove(void *vbe, uint64_t id)
{
	struct faultbe *be = vbe;
	int err = fault_blocking_op(be, FAULT_KIND_SNAP, NULL, NULL);

	return err ? err : be->inner_ops->snap_remove(be->inner, id);
}

static int fault_ioctx_open(void *vbe, const char *ns, void **out)
{
	struct faultbe *be = vbe;
	struct faultbe_io *io;
	int r;

	assert(be->magic == FAULTBE_MAGIC);
	*out = NULL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	r = be->inner_ops->ioctx_open(be->inner, ns, &io->inner);
	if (r < 0) {
		free(io);
		return r;
	}
	io->magic = FAULTBE_IO_MAGIC;
	io->be = be;
	snprintf(io->ns, sizeof(io->ns), "%s", ns ? ns : "");
	*out = io;
	return 0;
}

static void fault_ioctx_close(void *vio)
{
	struct faultbe_io *io = vio;

	if (!io)
		return;
	assert(io->magic == FAULTBE_IO_MAGIC);
	io->be->inner_ops->ioctx_close(io->inner);
	io->magic = 0;
	free(io);
}

static int fault_set_write_ctx(void *vio, uint64_t seq, const uint64_t *snaps,
			       unsigned nsnaps)
{
	struct faultbe_io *io = vio;

	return io->be->inner_ops->set_write_ctx(io->inner, seq, snaps, nsnaps);
}

static int fault_list(void *vio, const char *prefix,
		      int (*cb)(void *arg, const char *oid, uint64_t size),
		      void *arg, const atomic_bool *cancel)
{
	struct faultbe_io *io = vio;
	int err = fault_blocking_op(io->be, FAULT_KIND_LIST, io->ns, cancel);

	return err ? err
		   : io->be->inner_ops->list(io->inner, prefix, cb, arg,
					     cancel);
}

static int fault_snap_cloned(void *vio, uint64_t snap,
			     const char (*oids)[STORAGE_OID_MAX], size_t n,
			     bool *cloned, const atomic_bool *cancel)
{
	struct faultbe_io *io = vio;
	const struct storage_backend *in = io->be->inner_ops;
	int err = fault_blocking_op(io->be, FAULT_KIND_PROBE, io->ns, cancel);

	if (err)
		return err;
	return in->snap_cloned ? in->snap_cloned(io->inner, snap, oids, n,
						 cloned, cancel)
			       : -EOPNOTSUPP;
}

static void fault_close(void *vbe)
{
	struct faultbe *be = vbe;

	if (!be)
		return;
	assert(be->magic == FAULTBE_MAGIC);
	if (be->thread_on) {
		pthread_mutex_lock(&be->lock);
		be->stopping = true;
		pthread_cond_signal(&be->cond);
		pthread_mutex_unlock(&be->lock);
		pthread_join(be->thread, NULL);
	}
	be->inner_ops->close(be->inner);
	/* Ops still running inside the inner backend would be a caller bug
	 * (disks are closed first); their records go with the store. */
	while (be->running) {
		struct fault_hold *h = be->running;

		be->running = h->next;
		free(h);
	}
	pthread_cond_destroy(&be->cond);
	pthread_mutex_destroy(&be->lock);
	free(be->path);
	be->magic = 0;
	free(be);
}

int storage_fault_open(const struct storage_backend *inner,
		       const struct storage_route *route,
		       const struct storage_env *env, void **out)
{
	struct faultbe *be;
	pthread_condattr_t ca;
	bool have_lock = false, have_cond = false;
	int r = -ENOMEM;

	*out = NULL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->path = strdup(route->fault_file);
	if (!be->path)
		goto out;
	have_lock = pthread_mutex_init(&be->lock, NULL) == 0;
	if (!have_lock || pthread_condattr_init(&ca) != 0)
		goto out;
	/* Due times are monotonic: a clock step must not stretch a delay. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	have_cond = pthread_cond_init(&be->cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!have_cond)
		goto out;
	be->magic = FAULTBE_MAGIC;
	be->inner_ops = inner;
	be->env = env;
	be->log = route->fault_log;
	be->inner_env.post = fault_post;
	be->inner_env.ctx = be;
	r = inner->open(route, &be->inner_env, &be->inner);
	if (r < 0)
		goto out;
	pthread_mutex_lock(&be->lock);
	fault_refresh(be);
	pthread_mutex_unlock(&be->lock);
	*out = be;
	be = NULL;
out:
	if (be) {
		if (have_cond)
			pthread_cond_destroy(&be->cond);
		if (have_lock)
			pthread_mutex_destroy(&be->lock);
		free(be->path);
		free(be);
	}
	return r;
}

/* Never in the registry: storage_store_open() opens it around the
 * route's backend with storage_fault_open(). */
const struct storage_backend storage_backend_fault = {
	.name = "fault",
	.open = NULL,
	.close = fault_close,
	.ioctx_open = fault_ioctx_open,
	.ioctx_close = fault_ioctx_close,
	.set_write_ctx = fault_set_write_ctx,
	.submit = fault_submit,
	.list = fault_list,
	.snap_create = fault_snap_create,
	.snap_remove = fault_snap_remove,
	.snap_cloned = fault_snap_cloned,
};
