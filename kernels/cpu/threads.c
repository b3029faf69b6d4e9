/* threads.c - the CPU backend's workers: a parallel for over task indices,
 * the caller taking part.  Tasks write only their own outputs, which the
 * caller combines in task order afterwards, so results never depend on
 * which thread ran what.  Workers start on first use and sleep between
 * jobs. */
#include <pthread.h>
#include <stdlib.h>

#include "cpu.h"

struct cpu_pool {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	pthread_t *threads;
	int nthreads;
	bool quit;
	/* the job in progress */
	unsigned long generation;
	void (*fn)(void *arg, size_t task);
	void *arg;
	size_t ntasks, next, finished;
};

/* Takes tasks until none is left; called with mu held, returns with it held. */
static void take_tasks(struct cpu_pool *p)
{
	while (p->next < p->ntasks) {
		size_t t = p->next++;
		void (*fn)(void *, size_t) = p->fn;
		void *arg = p->arg;
		pthread_mutex_unlock(&p->mu);
		fn(arg, t);
		pthread_mutex_lock(&p->mu);
		if (++p->finished == p->ntasks)
			pthread_cond_broadcast(&p->done);
	}
}

static void *worker(void *arg)
{
	struct cpu_pool *p = arg;
	unsigned long seen = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && (p->generation == seen || p->next >= p->ntasks))
			pthread_cond_wait(&p->work, &p->mu);
		if (p->quit)
			break;
		seen = p->generation;
		take_tasks(p);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static struct cpu_pool *pool_new(int nthreads)
{
	struct cpu_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = calloc((size_t)nthreads, sizeof *p->threads);
	for (int i = 0; p->threads && i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
			break;
		p->nthreads++;
	}
	return p;
}

void cpu_pool_free(struct cpu_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}

void cpu_parallel_for(struct cpu_ctx *ctx, size_t ntasks, void (*fn)(void *arg, size_t task), void *arg)
{
	if (ntasks > 1 && ctx->threads > 1 && !ctx->pool)
		ctx->pool = pool_new(ctx->threads - 1);
	struct cpu_pool *p = ctx->pool;
	if (ntasks <= 1 || !p || !p->nthreads) { /* no workers: all here */
		for (size_t t = 0; t < ntasks; t++)
			fn(arg, t);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->ntasks = ntasks;
	p->next = p->finished = 0;
	p->generation++;
	pthread_cond_broadcast(&p->work);
	take_tasks(p);
	while (p->finished < p->ntasks)
		pthread_cond_wait(&p->done, &p->mu);
	p->ntasks = 0;
	pthread_mutex_unlock(&p->mu);
}
