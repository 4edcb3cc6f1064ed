/* Internal to conn.c and transmission.c: one client connection. */
#ifndef HAVEN_GW_CONN_H
#define HAVEN_GW_CONN_H

#include "gw.h"

enum gw_phase {
	GW_PHASE_PLAIN,	   /* greeting and options before STARTTLS */
	GW_PHASE_TLS_HS,   /* TLS handshake running */
	GW_PHASE_OPTIONS,  /* options under TLS */
	GW_PHASE_TRANSMIT, /* NBD requests */
	GW_PHASE_CLOSING,
};

/* Where incoming transmission bytes go next. */
enum gw_rx {
	GW_RX_HEADER,
	GW_RX_PAYLOAD, /* a WRITE payload into cur->buf */
	GW_RX_DRAIN,   /* a rejected WRITE payload, discarded */
};

struct gw_request;

struct gw_write {
	uv_write_t req;
	size_t len;
	uint8_t data[];
};

struct gw_conn {
	uint32_t magic;
	uv_tcp_t tcp;
	uv_timer_t timer; /* handshake timeout */
	struct gw_server *srv;
	struct gw_conn *prev, *next;
	struct gw_conn *dirty_next;
	bool dirty;
	uint64_t id;
	char peer[64];
	enum gw_phase phase;
	const char *close_reason;
	unsigned handles; /* open uv handles; freed at 0 */

	struct gw_hs *hs;
	SSL *ssl;
	/* Received bytes not consumed yet, and OpenSSL's view of them. */
	struct gw_tls_io io;
	/* The next socket write, filled by the plaintext phase or by
	 * OpenSSL's records, sent at each flush. */
	struct gw_write *wp;
	size_t wp_cap;
	/* Plaintext read from TLS during the options phase but not consumed
	 * there: the first transmission bytes. */
	uint8_t *left;
	size_t left_off, left_len;

	bool identified;
	struct gw_identity ident;

	/* Transmission. */
	struct gw_export exp;
	struct gw_disk *disk;
	uint64_t disk_id;
	char export_name[NBD_MAX_STRING + 1];
	bool structured;
	bool base_alloc;
	uint32_t meta_id;
	enum gw_rx rx;
	uint8_t hdr[NBD_REQUEST_SIZE];
	size_t hdr_have;
	struct gw_request *cur;
	struct gw_load *load; /* the tenant's budget */
	uint64_t drain;
	struct gw_req drain_req; /* answered once its payload is drained */
	uint32_t drain_err;
	const char *drain_why;
	size_t inflight_bytes;
	unsigned inflight;
	bool reading;	/* uv_read_start active */
	bool disc;	/* NBD_CMD_DISC received */
	bool wrote;	/* counted in the disk's writers */
	bool throttled; /* waits for bandwidth tokens */
	bool draining;	/* no more requests; close when idle */
	uint64_t bytes_in, bytes_out, requests;
	uint64_t started_ms;
	uint64_t throttled_since; /* uv_hrtime(), while throttled */

	/* Plaintext output waiting for one SSL_write at the next flush. */
	uint8_t *out;
	size_t out_len, out_cap;
};

struct gw_request {
	uint32_t magic;
	struct gw_conn *conn;
	struct gw_request *qnext; /* in its tenant's queue */
	struct gw_req req;
	struct storage_req sreq;
	uint8_t *buf;
	uint64_t have;
	struct storage_extent *extents;
	uint64_t reserved;  /* ledger bytes held until submitted */
	uint64_t submit_ns; /* uv_hrtime() at the backend submit */
};

/* conn-out.c, for conn.c: the output path */
int gw_conn_flush_out(struct gw_conn *c);
int gw_conn_wp_send(struct gw_conn *c);
/* The gw_tls_io.out function: takes OpenSSL's records to send. */
int gw_conn_wp_append(void *arg, const void *buf, size_t len);

/* conn.c, for transmission.c */
int gw_conn_send(struct gw_conn *c, const void *buf, size_t len);
/* Sends header then data (data may be large; not copied twice). */
int gw_conn_send2(struct gw_conn *c, const void *hdr, size_t hlen,
		  const void *data, size_t dlen);
/* Reads plaintext: leftover bytes first, then TLS.  Returns bytes read,
 * 0 when no more is available now, or -errno (-ECONNRESET at EOF,
 * -EPERM when the client tried to renegotiate TLS). */
ssize_t gw_conn_read_plain(struct gw_conn *c, void *buf, size_t len);
void gw_conn_update_reading(struct gw_conn *c);
void gw_conn_maybe_finish(struct gw_conn *c);

/* transmission.c */
/* Consumes request bytes while the connection may accept more. */
void gw_tx_pump(struct gw_conn *c);
bool gw_tx_can_read(const struct gw_conn *c);
void gw_tx_free_pending(struct gw_conn *c);

#endif
