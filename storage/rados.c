/* The rados backend: objects in a Ceph pool through the librados C API.
 *
 * One rados_t per route (store), one ioctx per open disk: librados keeps
 * one write snap context and one read snap per ioctx, and captures both
 * when an operation is submitted, so the disk's snap context switches
 * exactly between two submissions on the owner thread.
 *
 * Completions run on librados threads; they only record the result and
 * hand the op to env->post().  Writes are durable on completion (Ceph
 * acknowledges once the write is committed on every replica), so FUA and
 * SYNC need nothing more. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rados/librados.h>

#include "config.h"
#include "objstore.h"

struct radosbe {
	rados_t cluster;
	rados_ioctx_t meta; /* no namespace, no snap context: snap ids */
	char pool[128];
	struct storage_env env;
};

struct radosbe_io {
	struct radosbe *be;
	rados_ioctx_t io;
};

static uint64_t or_default(uint64_t v, uint64_t def)
{
	return v ? v : def;
}

static int radosbe_conf(rados_t cl, const struct storage_route *r)
{
	/* librados blocks the submitting thread once its own throttle is
	 * full; haven bounds what it has in flight itself, so the library's
	 * limits are raised above haven's to keep the loop from blocking.
	 * A cluster that stays unreachable fails the client's request (EIO)
	 * after rados_osd_op_timeout instead of hanging it forever; shorter
	 * outages only stall writes, never acknowledge them. */
	const struct {
		const char *name;
		uint64_t value;
	} settings[] = {
		{"objecter_inflight_ops", or_default(r->inflight_ops, 65536)},
		{"objecter_inflight_op_bytes",
		 or_default(r->inflight_bytes, UINT64_C(4) << 30)},
		{"client_mount_timeout", or_default(r->mount_timeout, 10)},
		{"rados_mon_op_timeout", or_default(r->mon_op_timeout, 30)},
		{"rados_osd_op_timeout", or_default(r->op_timeout, 120)},
	};
	char value[32];
	int ret;

	ret = rados_conf_read_file(cl, r->ceph_conf);
	if (ret < 0)
		return ret;
	if (r->keyring) {
		ret = rados_conf_set(cl, "keyring", r->keyring);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		snprintf(value, sizeof(value), "%" PRIu64, settings[i].value);
		ret = rados_conf_set(cl, settings[i].name, value);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int radosbe_open(const struct storage_route *r,
			const struct storage_env *env, void **out)
{
	char name[128];
	struct radosbe *be;
	int ret;

	if (!r->ceph_conf || !r->pool || strlen(r->pool) >= sizeof(be->pool))
		return -EINVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->env = *env;
	snprintf(be->pool, sizeof(be->pool), "%s", r->pool);
	snprintf(name, sizeof(name), "client.%s",
		 r->client_id ? r->client_id : "admin");
	ret = rados_create2(&be->cluster, "ceph", name, 0);
	if (ret < 0)
		goto fail_free;
	ret = radosbe_conf(be->cluster, r);
	if (ret < 0)
		goto fail_shutdown;
	ret = rados_connect(be->cluster);
	if (ret < 0)
		goto fail_shutdown;
	ret = rados_ioctx_create(be->cluster, be->pool, &be->meta);
	if (ret < 0)
		goto fail_shutdown;
	*out = be;
	return 0;
fail_shutdown:
	rados_shutdown(be->cluster);
fail_free:
	free(be);
	return ret;
}

static void radosbe_close(void *arg)
{
	struct radosbe *be = arg;

	if (!be)
		return;
	rados_ioctx_destroy(be->meta);
	/* Joins librados' threads: no callback runs after this. */
	rados_shutdown(be->cluster);
	free(be);
}

static int radosbe_ioctx_open(void *arg, const char *ns, void **out)
{
	struct radosbe *be = arg;
	struct radosbe_io *io;
	int ret;

	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->be = be;
	ret = rados_ioctx_create(be->cluster, be->pool, &io->io);
	if (ret < 0) {
		free(io);
		return ret;
	}
	rados_ioctx_set_namespace(io->io, ns && *ns ? ns : NULL);
	*out = io;
	return 0;
}

static void radosbe_ioctx_close(void *arg)
{
	struct radosbe_io *io = arg;

	if (!io)
		return;
	rados_ioctx_destroy(io->io);
	free(io);
}

static int radosbe_set_write_ctx(void *arg, uint64_t seq, const uint64_t *snaps,
				 unsigned n)
{
	struct radosbe_io *io = arg;
	rados_snap_t *s = NULL;
	int ret;

	for (unsigned i = 0; i < n; i++)
		if (snaps[i] > seq || (i > 0 && snaps[i] >= snaps[i - 1]))
			return -EINVAL;
	if (n) {
		s = malloc(n * sizeof(*s));
		if (!s)
			return -ENOMEM;
		for (unsigned i = 0; i < n; i++)
			s[i] = snaps[i];
	}
	ret = rados_ioctx_selfmanaged_snap_set_write_ctx(io->io, seq, s,
							 (int)n);
	free(s);
	return ret;
}

struct radosbe_pending {
	struct radosbe *be;
	struct storage_op *op;
	rados_write_op_t wop;
	time_t mtime;
};

static void radosbe_done(rados_completion_t c, void *arg)
{
	struct radosbe_pending *p = arg;
	struct storage_op *op = p->op;
	struct storage_env env = p->be->env;
	int ret = rados_aio_get_return_value(c);

	/* Runs on a librados thread: record, release, hand back. */
	if (op->code == STORAGE_OP_STAT && ret == 0)
		op->result = 0;
	else
		op->result = ret;
	if (p->wop)
		rados_release_write_op(p->wop);
	rados_aio_release(c);
	free(p);
	env.post(env.ctx, &op->comp);
}

static int radosbe_start(struct radosbe_io *io, struct storage_op *op,
			 struct radosbe_pending *p, rados_completion_t c)
{
	switch (op->code) {
	case STORAGE_OP_READ:
		return rados_aio_read(io->io, op->oid, c, op->buf, op->len,
				      op->off);
	case STORAGE_OP_WRITE:
		return rados_aio_write(io->io, op->oid, c, op->buf, op->len,
				       op->off);
	case STORAGE_OP_WRITE_FULL:
		/* One OSD op: the object is replaced atomically. */
		return rados_aio_write_full(io->io, op->oid, c, op->buf,
					    op->len);
	case STORAGE_OP_REMOVE:
		return rados_aio_remove(io->io, op->oid, c);
	case STORAGE_OP_STAT:
		return rados_aio_stat(io->io, op->oid, c, &op->size, &p->mtime);
	case STORAGE_OP_ZERO:
	case STORAGE_OP_TRUNCATE:
		p->wop = rados_create_write_op();
		if (!p->wop)
			return -ENOMEM;
		if (op->code == STORAGE_OP_ZERO) {
			/* RADOS does not create or extend an object to zero
			 * it; absent bytes read as zeros anyway. */
			rados_write_op_zero(p->wop, op->off, op->len);
		} else {
			rados_write_op_create(p->wop,
					      LIBRADOS_CREATE_IDEMPOTENT, NULL);
			rados_write_op_truncate(p->wop, op->off);
		}
		return rados_aio_write_op_operate(p->wop, io->io, c, op->oid,
						  NULL, 0);
	case STORAGE_OP_SYNC:
	default:
		return -EINVAL;
	}
}

static void radosbe_submit(void *arg, struct storage_op *op)
{
	struct radosbe_io *io = arg;
	struct radosbe_pending *p;
	rados_completion_t c;
	bool at_snap;
	int ret;

	if (op->code == STORAGE_OP_SYNC) {
		/* Every completed write is already durable. */
		op->result = 0;
		io->be->env.post(io->be->env.ctx, &op->comp);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		op->result = -ENOMEM;
		io->be->env.post(io->be->env.ctx, &op->comp);
		return;
	}
	p->be = io->be;
	p->op = op;
	rados_aio_create_completion2(p, radosbe_done, &c);
	/* The read snap is captured at submission; the ioctx is only used
	 * from the owner thread, so switching it around one call is safe. */
	at_snap =
		(op->code == STORAGE_OP_READ || op->code == STORAGE_OP_STAT) &&
		op->snap != STORAGE_SNAP_HEAD;
	if (at_snap)
		rados_ioctx_snap_set_read(io->io, op->snap);
	ret = radosbe_start(io, op, p, c);
	if (at_snap)
		rados_ioctx_snap_set_read(io->io, LIBRADOS_SNAP_HEAD);
	if (ret < 0) {
		if (p->wop)
			rados_release_write_op(p->wop);
		rados_aio_release(c);
		free(p);
		op->result = ret;
		io->be->env.post(io->be->env.ctx, &op->comp);
	}
}

static int radosbe_list(void *arg, const char *prefix,
			int (*cb)(void *arg, const char *oid, uint64_t size),
			void *cbarg, const atomic_bool *cancel)
{
	struct radosbe_io *io = arg;
	size_t plen = strlen(prefix);
	rados_list_ctx_t lc;
	const char *entry;
	int ret;

	ret = rados_nobjects_list_open(io->io, &lc);
	if (ret < 0)
		return ret;
	while ((ret = rados_nobjects_list_next(lc, &entry, NULL, NULL)) == 0) {
		uint64_t size = 0;
		time_t mt;

		/* A listing fetches a batch of names per round trip: the
		 * flag is looked at once per name, as cheap as it gets. */
		if (storage_cancelled(cancel)) {
			ret = -ECANCELED;
			break;
		}
		if (strncmp(entry, prefix, plen) != 0)
			continue;
		/* Listing does not return sizes; stat only the matches. */
		if (rados_stat(io->io, entry, &size, &mt) < 0)
			continue;
		ret = cb(cbarg, entry, size);
		if (ret != 0)
			break;
	}
	rados_nobjects_list_close(lc);
	return ret == -ENOENT ? 0 : ret;
}

static int radosbe_snap_create(void *arg, uint64_t *id)
{
	struct radosbe *be = arg;
	rados_snap_t s;
	int ret;

	ret = rados_ioctx_selfmanaged_snap_create(be->meta, &s);
	if (ret == 0)
		*id = s;
	return ret;
}

static int radosbe_snap_remove(void *arg, uint64_t id)
{
	struct radosbe *be = arg;

	return rados_ioctx_selfmanaged_snap_remove(be->meta, id);
}

/* Which objects keep a clone for 'snap'.  The C API cannot list an
 * object's clones (list_snaps is C++ only), so each object is stat'ed
 * twice, at the snap and at head, and the object versions the OSD
 * answers with are compared.  A read at a snap gets the clone that
 * covers it if a mutation since made one, else the head as long as
 * nothing changed it since the snap, else -ENOENT; a read replies with
 * the user_version of the object it read, and a clone keeps the version
 * its head had when it was made, while every mutation gives the head a
 * new one.  So: no object at the snap, no clone; an object at the snap
 * but none at head, or another version at head, a clone.  All stats of
 * a batch are in flight together. */
struct radosbe_probe {
	rados_completion_t c[2]; /* at the snap, at head */
	uint64_t size[2];
	time_t mtime[2];
};

static int radosbe_snap_cloned(void *arg, uint64_t snap,
			       const char (*oids)[STORAGE_OID_MAX], size_t n,
			       bool *cloned, const atomic_bool *cancel)
{
	struct radosbe_io *io = arg;
	struct radosbe_probe *pr;
	rados_completion_t c;
	uint64_t v[2] = {0, 0};
	int ret = 0, r[2];
	size_t i;
	unsigned j;

	/* A batch is in flight together and short: it is not cut. */
	(void)cancel;
	pr = calloc(n ? n : 1, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	/* The read snap is captured at submission.  The disk is still
	 * opening: nothing else submits on this ioctx. */
	for (i = 0; i < n && ret == 0; i++) {
		for (j = 0; j < 2 && ret == 0; j++) {
			ret = rados_aio_create_completion2(NULL, NULL, &c);
			if (ret < 0)
				break;
			rados_ioctx_snap_set_read(io->io, j ? LIBRADOS_SNAP_HEAD
							    : snap);
			ret = rados_aio_stat(io->io, oids[i], c, &pr[i].size[j],
					     &pr[i].mtime[j]);
			if (ret < 0)
				rados_aio_release(c);
			else
				pr[i].c[j] = c;
		}
	}
	rados_ioctx_snap_set_read(io->io, LIBRADOS_SNAP_HEAD);
	for (i = 0; i < n; i++) {
		for (j = 0; j < 2; j++) {
			r[j] = -ECANCELED;
			if (!pr[i].c[j])
				continue;
			rados_aio_wait_for_complete(pr[i].c[j]);
			r[j] = rados_aio_get_return_value(pr[i].c[j]);
			v[j] = rados_aio_get_version(pr[i].c[j]);
			rados_aio_release(pr[i].c[j]);
		}
		if (ret < 0)
			continue;
		cloned[i] = false;
		if (r[0] == -ENOENT)
			continue;
		if (r[0] < 0 || (r[1] < 0 && r[1] != -ENOENT))
			ret = r[0] < 0 ? r[0] : r[1];
		else
			cloned[i] = r[1] == -ENOENT || v[0] != v[1];
	}
	free(pr);
	return ret;
}

const struct storage_backend storage_backend_rados = {
	.name = "rados",
	.open = radosbe_open,
	.close = radosbe_close,
	.ioctx_open = radosbe_ioctx_open,
	.ioctx_close = radosbe_ioctx_close,
	.set_write_ctx = radosbe_set_write_ctx,
	.submit = radosbe_submit,
	.list = radosbe_list,
	.snap_create = radosbe_snap_create,
	.snap_remove = radosbe_snap_remove,
	.snap_cloned = radosbe_snap_cloned,
};
