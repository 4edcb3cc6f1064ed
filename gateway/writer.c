/* Job chains: work that must not run on the loop thread (catalog write
 * transactions, which fsync; snap id allocation, a monitor round trip on
 * Ceph) runs on libuv's thread pool, one job of a chain at a time, so the
 * order the loop decided is the order things happen. */
#include "gw.h"

static void chain_next(struct gw_chain *ch);

static void job_work(uv_work_t *w)
{
	struct gw_job *j = w->data;

	j->fn(j);
}

static void job_after(uv_work_t *w, int status)
{
	struct gw_job *j = w->data;
	struct gw_chain *ch = j->chain;

	(void)status; /* jobs are never cancelled */
	ch->running = false;
	j->done(j);
	chain_next(ch);
}

static void chain_next(struct gw_chain *ch)
{
	struct gw_job *j = ch->head;

	if (ch->running || !j)
		return;
	ch->head = j->next;
	if (!ch->head)
		ch->tail = NULL;
	ch->running = true;
	j->work.data = j;
	uv_queue_work(ch->loop, &j->work, job_work, job_after);
}

void gw_chain_init(struct gw_chain *ch, uv_loop_t *loop)
{
	ch->loop = loop;
	ch->head = ch->tail = NULL;
	ch->running = false;
}

void gw_chain_push(struct gw_chain *ch, struct gw_job *j)
{
	j->chain = ch;
	j->next = NULL;
	if (ch->tail)
		ch->tail->next = j;
	else
		ch->head = j;
	ch->tail = j;
	chain_next(ch);
}

bool gw_chain_idle(const struct gw_chain *ch)
{
	return !ch->running && !ch->head;
}
