/* Refused logins in the catalog's audit trail (tenant/catalog-audit.c).
 *
 * An authentication failure is a client certificate that TLS refused
 * (another CA, self-signed, expired: the verify error says which), a
 * handshake without a certificate, or a verified certificate whose pin is
 * unknown (revoked) or whose tenant is suspended.  Other TLS failures
 * (garbage, a protocol mismatch) say nothing about identity and stay in
 * the log only.
 *
 * The loop never writes the catalog: each entry is appended by a job on
 * the catalog chain (writer.c), after the catalog writes decided before
 * it.  Anyone who can reach the port can fail logins, so what reaches the
 * catalog is bounded: per window of a minute, at most AUDIT_PER_PEER
 * entries per peer address and AUDIT_PER_WINDOW in all.  What is held
 * back is counted, and when the window closes one summary entry records
 * the count (suppressed=K) and the address that lost most.  At most
 * AUDIT_PER_WINDOW + 1 entries a minute, whatever the attacker does.
 *
 * Changes havend makes on its own (a tenant suspended when its lease
 * ended) are recorded by the job that made them, right after the change
 * (gw_audit_append_sync).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "gw.h"

#define AUDIT_WINDOW_MS 60000
#define AUDIT_PER_PEER 5
#define AUDIT_PER_WINDOW 30
/* Jobs not finished yet: a catalog stuck behind a long havenctl write
 * must not make us queue without end either. */
#define AUDIT_PENDING_MAX 64

struct audit_job {
	struct gw_job job;
	struct gw_server *srv;
	struct tenant_audit e;
	int err;
};

static void audit_work(struct gw_job *j)
{
	struct audit_job *aj = (struct audit_job *)j;

	aj->err = tenant_audit_append(aj->srv->cat, &aj->e);
}

static void audit_done(struct gw_job *j)
{
	struct audit_job *aj = (struct audit_job *)j;
	struct gw_server *srv = aj->srv;

	if (aj->err < 0)
		gw_log(GW_LOG_ERROR,
		       "event=audit_append_failed action=%s error=\"%s\"",
		       aj->e.action, strerror(-aj->err));
	srv->audit.pending--;
	free(aj);
	/* A stopping server waits for the catalog chain to be idle. */
	gw_server_maybe_done(srv);
}

static void fill(struct tenant_audit *e, const char *tenant, const char *action,
		 const char *result, const char *detail)
{
	e->time_ms = gw_now_ms();
	snprintf(e->actor, sizeof(e->actor), "havend");
	if (tenant && tenant_name_valid(tenant))
		snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
	snprintf(e->action, sizeof(e->action), "%s", action);
	snprintf(e->result, sizeof(e->result), "%s", result);
	snprintf(e->detail, sizeof(e->detail), "%s", detail);
	tenant_audit_cut(e->detail, sizeof(e->detail), strlen(detail));
}

void gw_audit_append_sync(struct gw_server *srv, const char *tenant,
			  const char *action, const char *detail)
{
	struct tenant_audit e = {0};
	int err;

	fill(&e, tenant, action, "ok", detail);
	err = tenant_audit_append(srv->cat, &e);
	if (err < 0)
		gw_log(GW_LOG_ERROR,
		       "event=audit_append_failed action=%s error=\"%s\"",
		       action, strerror(-err));
}

static void push_entry(struct gw_server *srv, const char *tenant,
		       const char *detail)
{
	struct audit_job *aj = calloc(1, sizeof(*aj));

	if (!aj)
		return;
	aj->srv = srv;
	fill(&aj->e, tenant, "auth.fail", "refused", detail);
	aj->job.fn = audit_work;
	aj->job.done = audit_done;
	srv->audit.pending++;
	gw_chain_push(&srv->catalog_chain, &aj->job);
}

/* Closes the window: one entry for what it held back, then a fresh
 * count. */
static void window_close(struct gw_server *srv)
{
	struct gw_audit_limit *a = &srv->audit;
	char detail[256];
	unsigned i, top = 0;

	if (a->suppressed) {
		for (i = 1; i < a->npeers; i++)
			if (a->peers[i].dropped > a->peers[top].dropped)
				top = i;
		snprintf(detail, sizeof(detail),
			 "suppressed=%" PRIu64 " window_s=%u limit_per_peer=%u "
			 "limit=%u top_peer=%s top_peer_suppressed=%u",
			 a->suppressed, AUDIT_WINDOW_MS / 1000, AUDIT_PER_PEER,
			 AUDIT_PER_WINDOW, a->npeers ? a->peers[top].addr : "-",
			 a->npeers ? a->peers[top].dropped : 0);
		gw_log(GW_LOG_WARN,
		       "event=auth_failures_suppressed count=%" PRIu64,
		       a->suppressed);
		push_entry(srv, NULL, detail);
	}
	a->window_start = uv_now(srv->loop);
	a->logged = 0;
	a->npeers = 0;
	a->suppressed = 0;
}

void gw_audit_tick(struct gw_server *srv)
{
	if (uv_now(srv->loop) - srv->audit.window_start >= AUDIT_WINDOW_MS)
		window_close(srv);
}

void gw_audit_flush(struct gw_server *srv)
{
	window_close(srv);
}

/* The peer's slot ("HOST" of "HOST:PORT"); NULL when the table is full. */
static struct gw_audit_peer *peer_slot(struct gw_audit_limit *a,
				       const char *peer)
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
	struct gw_audit_peer *p;
	unsigned i;

	if (n >= sizeof(a->peers[0].addr))
		n = sizeof(a->peers[0].addr) - 1;
	for (i = 0; i < a->npeers; i++) {
		p = &a->peers[i];
		if (strlen(p->addr) == n && !memcmp(p->addr, peer, n))
			return p;
	}
	if (a->npeers == GW_AUDIT_PEERS)
		return NULL;
	p = &a->peers[a->npeers++];
	memcpy(p->addr, peer, n);
	p->addr[n] = '\0';
	p->logged = p->dropped = 0;
	return p;
}

void gw_audit_auth_fail(struct gw_server *srv, const char *peer,
			const char *tenant, const char *reason,
			const char *more)
{
	struct gw_audit_limit *a = &srv->audit;
	struct gw_audit_peer *p;
	char detail[TENANT_AUDIT_DETAIL_MAX + 1];
	int w;

	gw_audit_tick(srv);
	p = peer_slot(a, peer);
	if (!p || p->logged >= AUDIT_PER_PEER ||
	    a->logged >= AUDIT_PER_WINDOW || a->pending >= AUDIT_PENDING_MAX) {
		a->suppressed++;
		if (p)
			p->dropped++;
		return;
	}
	p->logged++;
	a->logged++;
	w = snprintf(detail, sizeof(detail), "peer=%s reason=%s%s%s", peer,
		     reason, more && *more ? " " : "", more ? more : "");
	if (w > 0)
		tenant_audit_cut(detail, sizeof(detail), (size_t)w);
	push_entry(srv, tenant, detail);
}

/* "haven tenant NAME" is the organisation havenctl puts in a tenant's
 * certificates.  Only a certificate our CA signed gets this far, so the
 * name is the one we issued it to; it only labels the entry (the tenant
 * of a session always comes from the pin). */
static void tenant_of_subject(X509 *x, char *out, size_t len)
{
	static const char prefix[] = "haven tenant ";
	char org[128];
	int n;

	out[0] = '\0';
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
				      NID_organizationName, org, sizeof(org));
	if (n > (int)sizeof(prefix) - 1 &&
	    !strncmp(org, prefix, sizeof(prefix) - 1)) {
		const char *name = org + sizeof(prefix) - 1;

		if (strlen(name) < len && tenant_name_valid(name))
			memcpy(out, name, strlen(name) + 1);
	}
}

void gw_audit_cert_refused(struct gw_server *srv, const char *peer, X509 *x,
			   const char *pin_hex, const char *tenant, int err)
{
	/* The same reasons as conn.c's event=auth_failed log line. */
	const char *reason = err == -ENOENT   ? "unknown_or_revoked_certificate"
			     : err == -EACCES ? "tenant_suspended"
					      : "catalog_error";
	char name[TENANT_NAME_MAX + 1], subject[256], more[512];
	char q[300];

	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	if (!tenant) {
		tenant_of_subject(x, name, sizeof(name));
		tenant = name;
	}
	snprintf(more, sizeof(more), "pin=%s subject=%s", pin_hex,
		 gw_log_quote(q, sizeof(q), subject));
	gw_audit_auth_fail(srv, peer, tenant, reason, more);
}

void gw_audit_tls_fail(struct gw_server *srv, const char *peer, SSL *ssl)
{
	long vr = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();
	char q[160], more[200];

	/* Call before gw_tls_error(), which empties the error queue. */
	if (vr != X509_V_OK) {
		snprintf(more, sizeof(more), "verify_error=%s",
			 gw_log_quote(q, sizeof(q),
				      X509_verify_cert_error_string(vr)));
		gw_audit_auth_fail(srv, peer, NULL, "certificate_rejected",
				   more);
	} else if (ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		gw_audit_auth_fail(srv, peer, NULL, "no_client_certificate",
				   NULL);
}
