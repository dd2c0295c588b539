/* core/counters.c — the counter registry and its two printers. See counters.h. */
#include "core/counters.h"

#include <errno.h>
#include <string.h>

static const char *const core_names[CTR__COUNT] = {
#define COUNTER_NAME(name, doc) #name,
	COUNTERS(COUNTER_NAME)
#undef COUNTER_NAME
};

static const char *const core_docs[CTR__COUNT] = {
#define COUNTER_DOC(name, doc) doc,
	COUNTERS(COUNTER_DOC)
#undef COUNTER_DOC
};

struct counters_block counters_core = {
	.prefix = "", .names = core_names, .docs = core_docs, .n = CTR__COUNT,
	.base = 0, .registered = true,
};

/* Written by the control thread before shards start, read-only after. */
static struct counters_block *blocks[LIMIT_COUNTER_BLOCKS] = { &counters_core };
static unsigned n_blocks = 1;
static unsigned n_used = CTR__COUNT;

_Static_assert(CTR__COUNT <= LIMIT_COUNTERS, "LIMIT_COUNTERS below the core block");

/* Does a registered block already print a counter named prefix + name? */
static bool name_taken(const char *prefix, const char *name)
{
	char want[LIMIT_COUNTER_NAME_BYTES], have[LIMIT_COUNTER_NAME_BYTES];

	/* Registered names were checked to fit; a longer one is refused first. */
	if (snprintf(want, sizeof(want), "%s%s", prefix, name) >= (int)sizeof(want))
		return true;
	for (unsigned b = 0; b < n_blocks; b++)
		for (unsigned i = 0; i < blocks[b]->n; i++)
			if (snprintf(have, sizeof(have), "%s%s", blocks[b]->prefix,
				     blocks[b]->names[i]) < (int)sizeof(have) &&
			    strcmp(want, have) == 0)
				return true;
	return false;
}

static bool family_taken(const char *family)
{
	for (unsigned b = 0; b < n_blocks; b++)
		if (blocks[b]->family && strcmp(blocks[b]->family, family) == 0)
			return true;
	return false;
}

int counters_register(struct counters_block *b)
{
	for (unsigned k = 0; k < n_blocks; k++)
		if (blocks[k] == b)
			return 0;
	if (!b->prefix || !b->names || b->n == 0 || (b->family && !b->label) ||
	    (!b->family && !b->docs))
		return -EINVAL;
	if (n_blocks == LIMIT_COUNTER_BLOCKS || (!b->sum && b->n > LIMIT_COUNTERS - n_used))
		return -ENOSPC;
	if (b->family && family_taken(b->family))
		return -EEXIST;
	for (unsigned i = 0; i < b->n; i++) {
		if (strlen(b->prefix) + strlen(b->names[i]) >= LIMIT_COUNTER_NAME_BYTES)
			return -EINVAL;
		if (name_taken(b->prefix, b->names[i]))
			return -EEXIST;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(b->names[i], b->names[j]) == 0)
				return -EEXIST;
	}
	b->base = b->sum ? 0 : n_used;
	n_used += b->sum ? 0 : b->n;
	b->registered = true;
	blocks[n_blocks++] = b;
	return 0;
}

unsigned counters_used(void)
{
	return n_used;
}

uint64_t counters_sum(const struct counters_block *b, unsigned i,
		      const uint64_t *const *arrs, unsigned n)
{
	uint64_t s = 0;

	if (b->sum)
		return b->ctx ? b->sum(b->ctx, i) : 0;
	for (unsigned k = 0; k < n; k++)
		s += counters_get(arrs[k], counters_slot(b, i));
	return s;
}

static bool is_gauge(const char *doc)
{
	size_t l = doc ? strlen(doc) : 0;

	return l >= 7 && strcmp(doc + l - 7, "(gauge)") == 0;
}

static void prom_head(FILE *f, const char *name, const char *suffix, bool gauge,
		      const char *help)
{
	fprintf(f, "# HELP edgecache_%s%s %s\n# TYPE edgecache_%s%s %s\n", name, suffix,
		help && *help ? help : name, name, suffix, gauge ? "gauge" : "counter");
}

static void write_block(FILE *f, enum counters_format fmt, const struct counters_block *b,
			const uint64_t *const *arrs, unsigned n)
{
	const char *doc = "";
	char name[LIMIT_COUNTER_NAME_BYTES];

	if (fmt == COUNTERS_PROMETHEUS && b->family)
		prom_head(f, b->family, "", false, b->family_doc);
	for (unsigned i = 0; i < b->n; i++) {
		unsigned long long v = (unsigned long long)counters_sum(b, i, arrs, n);

		snprintf(name, sizeof(name), "%s%s", b->prefix, b->names[i]);
		if (fmt == COUNTERS_FILE) {
			fprintf(f, "%s %llu\n", name, v);
		} else if (b->family) {
			fprintf(f, "edgecache_%s{%s=\"%s\"} %llu\n", b->family, b->label,
				b->names[i], v);
		} else {
			doc = *b->docs[i] ? b->docs[i] : doc;   /* "" repeats the doc above */
			bool gauge = is_gauge(doc);
			const char *suffix = gauge ? "" : "_total";

			prom_head(f, name, suffix, gauge, doc);
			fprintf(f, "edgecache_%s%s %llu\n", name, suffix, v);
		}
	}
}

void counters_write(FILE *f, enum counters_format fmt, const uint64_t *const *arrs,
		    unsigned n)
{
	for (unsigned b = 0; b < n_blocks; b++)
		if (!blocks[b]->sum || blocks[b]->ctx)
			write_block(f, fmt, blocks[b], arrs, n);
}
