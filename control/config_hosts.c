/*
 * control/config_hosts.c — host names and addresses in the config: the
 * listen, listen_tls and [admin] listen addresses, a zone's hosts, an
 * origin's url; and the host → zone table that cfg_zone_by_host reads
 * (built by config_check.c's cross-zone check). Contract in
 * core/config.h. Never resolves a name: a host name is checked for its
 * syntax only (DNS is the runtime's, at start and every dns_refresh_ms).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control/config_int.h"

/* ---- names and addresses ------------------------------------------------ */

/* RFC 1123 host name: labels of 1..63 [A-Za-z0-9-], no '-' at either end. */
static bool valid_dns_name(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > LIMIT_HOST_BYTES)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

/* An IPv4 literal or a DNS name; digits-and-dots must be a real IPv4. */
static bool valid_host(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) == 1)
		return true;
	if (strspn(s, "0123456789.") == strlen(s))
		return false;
	return valid_dns_name(s);
}

/*
 * "host:port", "[v6]:port" or "host" (port NULL) split in place. Returns
 * NULL or what is wrong with it.
 */
static const char *split_hostport(char *s, char **host, char **port, bool *v6)
{
	unsigned char a[16];
	char *c;

	*port = NULL;
	*host = s;
	*v6 = *s == '[';
	if (*v6) {
		c = strchr(s, ']');
		if (!c)
			return "has '[' without ']'";
		*c++ = '\0';
		*host = s + 1;
		if (inet_pton(AF_INET6, *host, a) != 1)
			return "is not a valid [IPv6] address";
		if (*c && *c != ':')
			return "has text after ']' that is not :port";
		*port = *c ? c + 1 : NULL;
		return NULL;
	}
	c = strchr(s, ':');
	if (c && strchr(c + 1, ':'))
		return "is an IPv6 address without brackets: write [address]:port";
	if (c) {
		*c = '\0';
		*port = c + 1;
	}
	return *s ? NULL : "has no host";
}

/* ---- listen, listen_tls, [admin] listen ---------------------------------- */

static bool listed(const struct cfg_listen *l, size_t n, const char *host, int64_t port)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].port == port && strcasecmp(l[i].host, host) == 0)
			return true;
	return false;
}

/* One address of `listen` (tls false) or `listen_tls` (tls true); an
 * address may be in only one of the two lists. */
static int add_listen_to(struct parse *p, char *item, bool tls)
{
	struct cfg_server *s = &p->ld->cfg->server;
	const char *key = tls ? "listen_tls" : "listen";
	struct cfg_listen *arr = tls ? s->listens_tls : s->listens;
	size_t *n = tls ? &s->n_listens_tls : &s->n_listens;
	char echo[LIMIT_CFG_ECHO_BYTES + 1], why[160], *host, *port;
	const char *bad;
	int64_t v;
	bool v6;

	snprintf(echo, sizeof(echo), "%.*s", LIMIT_CFG_ECHO_BYTES, item);
	if (*n == LIMIT_LISTEN_ADDRS)
		return pfail(p, key, "more than %d addresses", LIMIT_LISTEN_ADDRS);
	bad = split_hostport(item, &host, &port, &v6);
	if (!bad && !port)
		bad = "has no port (host:port)";
	if (!bad && !v6 && strcmp(host, "*") != 0 && !valid_host(host))
		bad = "is not an IP address, \"*\" or a host name";
	if (bad)
		return pfail(p, key, "\"%s\" %s", echo, bad);
	if (cfg_parse_int(port, 1, 65535, UNIT_NONE, &v, why, sizeof(why)))
		return pfail(p, key, "\"%s\": port %s", echo, why);
	if (listed(arr, *n, host, v))
		return pfail(p, key, "\"%s\" is listed twice", echo);
	if (listed(tls ? s->listens : s->listens_tls, tls ? s->n_listens : s->n_listens_tls,
		   host, v))
		return pfail(p, key, "\"%s\" is also in %s", echo, tls ? "listen" : "listen_tls");
	arr[*n].host = strdup(host);
	if (!arr[*n].host)
		return pfail_oom(p);
	arr[(*n)++].port = (uint16_t)v;
	return 0;
}

static int add_listen(struct parse *p, char *item)
{
	return add_listen_to(p, item, false);
}

static int add_listen_tls(struct parse *p, char *item)
{
	return add_listen_to(p, item, true);
}

int cfg_set_listen(struct parse *p, const char *val)
{
	struct cfg_server *s = &p->ld->cfg->server;

	return cfg_set_list(p, val, (void **)&s->listens, LIMIT_LISTEN_ADDRS,
			    sizeof(*s->listens), &p->ld->listen_line, add_listen);
}

int cfg_set_listen_tls(struct parse *p, const char *val)
{
	struct cfg_server *s = &p->ld->cfg->server;

	return cfg_set_list(p, val, (void **)&s->listens_tls, LIMIT_LISTEN_ADDRS,
			    sizeof(*s->listens_tls), &p->ld->listen_tls_line, add_listen_tls);
}

/* [admin] listen: one host:port; loopback unless token_file is set
 * (checked in cfg_admin_finish, when both keys are known). */
int cfg_set_admin_listen(struct parse *p, const char *val)
{
	struct cfg_admin *a = &p->ld->cfg->admin;
	char copy[LIMIT_CONFIG_LINE_BYTES + 1], why[160], *host, *port;
	const char *bad;
	int64_t v;
	bool v6;

	snprintf(copy, sizeof(copy), "%s", val);
	bad = split_hostport(copy, &host, &port, &v6);
	if (!bad && !port)
		bad = "has no port (host:port)";
	if (!bad && !v6 && strcmp(host, "*") != 0 && !valid_host(host))
		bad = "is not an IP address, \"*\" or a host name";
	if (bad)
		return pfail(p, "listen", "\"%.*s\" %s", LIMIT_CFG_ECHO_BYTES, val, bad);
	if (cfg_parse_int(port, 1, 65535, UNIT_NONE, &v, why, sizeof(why)))
		return pfail(p, "listen", "\"%.*s\": port %s", LIMIT_CFG_ECHO_BYTES, val, why);
	p->ld->admin_listen_line = p->line;
	a->listen.port = (uint16_t)v;
	return cfg_store_str(p, &a->listen.host, host, strlen(host));
}

bool cfg_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return strcasecmp(host, "localhost") == 0;
}

/* ---- a zone's hosts, an origin's url ------------------------------------- */

static int add_host(struct parse *p, char *h)
{
	struct cfg_zone *z = p->zone;

	lower_str(h);
	if (strcmp(h, "*") != 0 && !valid_host(h))
		return pfail(p, "hosts", "\"%.*s\" is not a host name or \"*\"", LIMIT_CFG_ECHO_BYTES, h);
	for (size_t i = 0; i < z->n_hosts; i++)
		if (strcmp(z->hosts[i], h) == 0)
			return pfail(p, "hosts", "\"%s\" is listed twice", h);
	if (z->n_hosts == LIMIT_ZONE_HOSTS)
		return pfail(p, "hosts", "more than %d hosts", LIMIT_ZONE_HOSTS);
	z->hosts[z->n_hosts] = strdup(h);
	if (!z->hosts[z->n_hosts])
		return pfail_oom(p);
	z->n_hosts++;
	z->is_default |= strcmp(h, "*") == 0;
	return 0;
}

int cfg_set_hosts(struct parse *p, const char *val)
{
	return cfg_set_list(p, val, (void **)&p->zone->hosts, LIMIT_ZONE_HOSTS,
			    sizeof(*p->zone->hosts), &p->zl->hosts, add_host);
}

/* scheme://host[:port][/]: no userinfo, path, query or fragment. */
int cfg_set_url(struct parse *p, const char *val)
{
	struct cfg_origin *o = p->origin;
	char auth[LIMIT_CONFIG_LINE_BYTES + 1], echo[LIMIT_CFG_ECHO_BYTES + 1], why[160];
	char *host, *port;
	const char *s, *bad;
	size_t alen;
	int64_t v;
	bool v6;

	if (strncasecmp(val, "http://", 7) == 0)
		o->scheme = CFG_SCHEME_HTTP;
	else if (strncasecmp(val, "https://", 8) == 0)
		o->scheme = CFG_SCHEME_HTTPS;
	else
		return pfail(p, "url", "must start with http:// or https://");
	s = val + (o->scheme == CFG_SCHEME_HTTP ? 7 : 8);
	o->port = o->scheme == CFG_SCHEME_HTTP ? 80 : 443;
	alen = strcspn(s, "/");
	if (has_ctl(val, strlen(val)) || strchr(val, ' '))
		return pfail(p, "url", "contains a space or a control character");
	if (strchr(s, '@'))      /* anywhere: a password may hold a '/' */
		return pfail(p, "url", "must not contain user information (user@)");
	if (strpbrk(val, "?#"))
		return pfail(p, "url", "must not have a query or a fragment");
	if (s[alen] && strcmp(s + alen, "/") != 0)
		return pfail(p, "url", "has a path \"%.*s\": the url is scheme://host[:port]; "
			     "put the path in base_path", LIMIT_CFG_ECHO_BYTES, s + alen);
	assert(alen < sizeof(auth));
	memcpy(auth, s, alen);
	auth[alen] = '\0';
	snprintf(echo, sizeof(echo), "%.*s", LIMIT_CFG_ECHO_BYTES, auth);
	bad = split_hostport(auth, &host, &port, &v6);
	if (!bad && !v6 && !valid_host(host))
		bad = "is not an IP address or a host name";
	if (bad)
		return pfail(p, "url", "host \"%s\" %s", echo, bad);
	if (port && cfg_parse_int(port, 1, 65535, UNIT_NONE, &v, why, sizeof(why)))
		return pfail(p, "url", "port %s", why);
	if (port)
		o->port = (uint16_t)v;
	if (cfg_store_str(p, &o->url, val, strlen(val)) ||
	    cfg_store_str(p, &o->host, host, strlen(host)))
		return p->ld->rc;
	lower_str(o->host);
	return 0;
}

/* ---- the host table ------------------------------------------------------ */

struct cfg_host_slot *cfg_table_new(size_t n, size_t *mask)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	*mask = cap - 1;
	return calloc(cap, sizeof(struct cfg_host_slot));
}
