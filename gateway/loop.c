/* The completion queue: backend threads post finished operations here and
 * the loop thread runs them.  One uv_async_t, drained completely on every
 * wake-up, because libuv coalesces uv_async_send() calls. */
#include <stdatomic.h>

#include "gw.h"

static void queue_drain(uv_async_t *a)
{
	struct gw_queue *q = a->data;
	struct storage_completion *c, *next;

	uv_mutex_lock(&q->lock);
	c = q->head;
	q->head = q->tail = NULL;
	uv_mutex_unlock(&q->lock);

	for (; c; c = next) {
		next = c->next;
		c->next = NULL;
		storage_complete(c);
	}
	if (q->after)
		q->after(q->arg);
}

int gw_queue_init(struct gw_queue *q, uv_loop_t *loop, void (*after)(void *arg),
		  void *arg)
{
	int r;

	q->head = q->tail = NULL;
	q->after = after;
	q->arg = arg;
	r = uv_mutex_init(&q->lock);
	if (r < 0)
		return r;
	r = uv_async_init(loop, &q->async, queue_drain);
	if (r < 0) {
		uv_mutex_destroy(&q->lock);
		return r;
	}
	q->async.data = q;
	return 0;
}

void gw_queue_post(void *arg, struct storage_completion *c)
{
	struct gw_queue *q = arg;
	bool was_empty;

	c->next = NULL;
	uv_mutex_lock(&q->lock);
	was_empty = q->head == NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	uv_mutex_unlock(&q->lock);
	/* libuv before 1.53 needs a full fence before uv_async_send(); only
	 * the empty -> non-empty transition has to wake the loop. */
	atomic_thread_fence(memory_order_seq_cst);
	if (was_empty)
		uv_async_send(&q->async);
}

static void queue_closed(uv_handle_t *h)
{
	struct gw_queue *q = h->data;

	uv_mutex_destroy(&q->lock);
}

void gw_queue_close(struct gw_queue *q)
{
	uv_close((uv_handle_t *)&q->async, queue_closed);
}
