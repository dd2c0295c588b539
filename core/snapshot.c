/* core/snapshot.c — epoch-based reclamation (see snapshot.h). */
#include "core/snapshot.h"

#include <errno.h>
#include <stdlib.h>

int snap_domain_init(struct snap_domain *d, unsigned n_readers)
{
	d->readers = aligned_alloc(_Alignof(struct snap_reader),
				   (n_readers ? n_readers : 1) * sizeof(*d->readers));
	if (!d->readers)
		return -ENOMEM;
	for (unsigned i = 0; i < (n_readers ? n_readers : 1); i++)
		atomic_init(&d->readers[i].seen, 0);
	atomic_init(&d->epoch, 1);
	d->n_readers = n_readers;
	d->retired = NULL;
	d->n_retired = d->n_freed = 0;
	return 0;
}

void snap_domain_free(struct snap_domain *d)
{
	while (d->retired) {
		struct snap_node *n = d->retired;
		d->retired = n->next;
		d->n_freed++;
		n->free_fn(n);
	}
	free(d->readers);
	d->readers = NULL;
}

void snap_retire(struct snap_domain *d, struct snap_node *n, void (*free_fn)(struct snap_node *))
{
	/* seq_cst: ordered after the caller's store of the replacement, so a
	 * reader that reads the bumped epoch then loads the new pointer. */
	n->epoch = atomic_fetch_add(&d->epoch, 1);
	n->free_fn = free_fn;
	n->next = d->retired;
	d->retired = n;
	d->n_retired++;
}

/* The oldest epoch some reader may still be in. */
static uint64_t min_seen(const struct snap_domain *d)
{
	uint64_t m = UINT64_MAX;

	for (unsigned i = 0; i < d->n_readers; i++) {
		uint64_t s = atomic_load(&d->readers[i].seen);
		if (s < m)
			m = s;
	}
	return m;
}

unsigned snap_reclaim(struct snap_domain *d)
{
	uint64_t m = min_seen(d);
	unsigned n = 0;

	for (struct snap_node **pp = &d->retired; *pp;) {
		struct snap_node *x = *pp;
		if (x->epoch >= m) {
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		d->n_freed++;
		n++;
		x->free_fn(x);
	}
	return n;
}
