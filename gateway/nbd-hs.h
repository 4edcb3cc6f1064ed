/* Internal to the handshake machine: the state shared by
 * nbd-handshake.c (field collection, replies, option dispatch, the
 * public API) and nbd-options.c (the options that name an export: INFO,
 * GO, EXPORT_NAME and the meta context options).  gw_hs__ names are
 * internal to these two files.
 */
#ifndef HAVEN_NBD_HS_H
#define HAVEN_NBD_HS_H

#include "nbd.h"

enum phase {
	PH_INIT,     /* gw_hs_start() not called yet */
	PH_CFLAGS,   /* collecting the 4-byte client flags */
	PH_OPT_HDR,  /* collecting a 16-byte option header */
	PH_OPT_DATA, /* inside an option payload, see enum step */
	PH_WAIT_TLS, /* STARTTLS acknowledged, waiting for gw_hs_tls_up() */
	PH_READY,
	PH_CLOSED,
};

/* Which field of the option payload is being collected. */
enum step {
	ST_SKIP,	/* discard the rest, then send the pending error */
	ST_NAME_LEN,	/* INFO, GO, meta options: u32 export name length */
	ST_NAME,	/* the export name */
	ST_NINFO,	/* INFO/GO: u16 number of info requests */
	ST_INFO,	/* INFO/GO: one u16 info request */
	ST_NQUERIES,	/* meta options: u32 number of queries */
	ST_QUERY_LEN,	/* meta options: u32 query length */
	ST_QUERY,	/* the query; only a prefix is kept */
	ST_EXPORT_NAME, /* EXPORT_NAME: the whole payload is the name */
};

/* Long enough to hold "base:allocation", the longest query we match. */
#define QUERY_KEEP 16

struct gw_hs {
	const struct gw_hs_ops *ops;
	void *arg;
	enum phase phase;
	bool tls;
	bool no_zeroes;
	bool structured;
	bool in_list; /* emit() is only valid inside ops->list */
	int send_err; /* first failure of ops->send; closes the machine */

	/* The field being collected: 'want' more bytes are expected; the
	 * first 'cap' bytes of the field are stored at 'dst', the rest are
	 * only counted. */
	uint8_t *dst;
	size_t cap;
	size_t got;
	size_t want;
	uint8_t scratch[NBD_OPTION_HDR_SIZE];

	uint32_t opt;	 /* option being parsed */
	uint32_t remain; /* its payload bytes not yet consumed */
	enum step step;
	uint32_t count;	    /* info requests or queries still to come */
	uint32_t info_mask; /* bit n set: NBD_INFO n was requested */
	bool had_queries;   /* the meta option carried at least one query */
	bool meta_hit;	    /* a query matched base:allocation */
	uint32_t pend_rep;  /* error sent once ST_SKIP has finished */
	char msg[GW_HS_MSG_MAX];

	char name[NBD_MAX_STRING + 1];
	uint32_t name_len;
	char query[QUERY_KEEP];
	uint32_t query_len;

	/* Negotiated state; all of it is forgotten at STARTTLS. */
	bool meta_selected;
	char meta_export[NBD_MAX_STRING + 1];
	struct gw_export exp;

	const char *reason;
	char reason_buf[GW_HS_MSG_MAX + 64];
};

/* ---- nbd-handshake.c: field collection and replies ---- */

/* Collects the next field: 'want' bytes, the first 'cap' kept at dst. */
void gw_hs__expect(struct gw_hs *hs, void *dst, size_t cap, size_t want);
/* Waits for the next option header. */
void gw_hs__next_option(struct gw_hs *hs);
/* Ends the handshake; 'reason' must outlive the machine (static or
 * hs->reason_buf). */
enum gw_hs_event gw_hs__closing(struct gw_hs *hs, const char *reason);
int gw_hs__send_bytes(struct gw_hs *hs, const void *buf, size_t len);
/* Sends the 20-byte reply header; the caller sends 'len' payload bytes. */
int gw_hs__reply_hdr(struct gw_hs *hs, uint32_t type, size_t len);
int gw_hs__send_ack(struct gw_hs *hs);
int gw_hs__send_error(struct gw_hs *hs, uint32_t rep, const char *msg);
/* Skips what is left of the option, then replies with the error.  The
 * message must outlive the skip: a static string or hs->msg. */
enum gw_hs_event gw_hs__fail(struct gw_hs *hs, uint32_t rep, const char *msg);

/* ---- nbd-options.c: field handlers of the export options ---- */

/* Forgets everything negotiated (at STARTTLS). */
void gw_hs__forget_negotiation(struct gw_hs *hs);
enum gw_hs_event gw_hs__on_name_len(struct gw_hs *hs);
enum gw_hs_event gw_hs__on_name(struct gw_hs *hs);
enum gw_hs_event gw_hs__on_info_count(struct gw_hs *hs);
enum gw_hs_event gw_hs__on_info_request(struct gw_hs *hs);
enum gw_hs_event gw_hs__on_query_count(struct gw_hs *hs);
enum gw_hs_event gw_hs__on_query_len(struct gw_hs *hs);
enum gw_hs_event gw_hs__on_query(struct gw_hs *hs);
enum gw_hs_event gw_hs__finish_export_name(struct gw_hs *hs);

#endif
