/* core/counters.c — the names and docs of the counter table. */
#include "core/counters.h"

const char *const counter_names[CTR__COUNT] = {
#define COUNTER_NAME(name, doc) #name,
	COUNTERS(COUNTER_NAME)
#undef COUNTER_NAME
};

const char *const counter_docs[CTR__COUNT] = {
#define COUNTER_DOC(name, doc) doc,
	COUNTERS(COUNTER_DOC)
#undef COUNTER_DOC
};
