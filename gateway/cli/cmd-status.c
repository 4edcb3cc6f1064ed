/* havenctl status: the live sessions of a running havend, per tenant,
 * with rates.  Only havend knows them, so this asks it: an HTTP GET of
 * /status on its metrics endpoint, whose address havend writes into
 * DIR/havend.metrics when it starts.  The server side is libmicrohttpd;
 * this side is one request on a socket, which needs no library. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define STATUS_TIMEOUT_MS 5000
#define STATUS_MAX (16u << 20) /* bytes of answer we accept */

static const char status_usage[] =
	"Usage: havenctl [-d DIR] status [--json]\n"
	"Show the live sessions of the running havend: per tenant, the\n"
	"sessions, the disks they have open and the bytes per second written\n"
	"(in) and read (out) over the last few seconds, then each session.\n"
	"Asks havend over its metrics endpoint ([metrics] listen).\n"
	"\n"
	"  --json      print havend's answer as JSON\n"
	"  -h, --help  show this help\n";

/* True when a havend holds DIR/havend.lock. */
static bool havend_running(const struct gw_cli *cli)
{
	char path[TENANT_PATH_MAX];
	bool running = false;
	int fd;

	if (gw_cli_path(cli, GW_CLI_LOCK, path, sizeof(path)) < 0)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		running = true;
	close(fd); /* drops a lock we may have taken */
	return running;
}

/* Reads DIR/havend.metrics: "HOST:PORT" or "[V6]:PORT". */
static int read_addr(const struct gw_cli *cli, char *host, size_t hostlen,
		     char *port, size_t portlen)
{
	char path[TENANT_PATH_MAX], line[200], *colon, *h = line;
	FILE *f;

	if (gw_cli_path(cli, GW_CLI_METRICS, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	colon = strrchr(line, ':');
	if (!colon || colon == line)
		return -EINVAL;
	*colon = '\0';
	if (h[0] == '[' && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	if (strlen(h) >= hostlen || strlen(colon + 1) >= portlen)
		return -EINVAL;
	strcpy(host, h);
	strcpy(port, colon + 1);
	return 0;
}

/* Waits until fd is ready for events; -ETIMEDOUT after the deadline. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	do
		n = poll(&p, 1, STATUS_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n == 0 ? -ETIMEDOUT : 0;
}

static int connect_to(const char *host, const char *port, int *out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	socklen_t elen = sizeof(int);
	int fd = -1, err, soerr = 0;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -errno;
	if (err == -EINPROGRESS) {
		err = wait_fd(fd, POLLOUT);
		if (err == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) == 0)
			err = -soerr;
	}
out:
	freeaddrinfo(ai);
	if (err < 0 && fd >= 0)
		close(fd);
	else
		*out = fd;
	return err;
}

/* GET path over fd; the body of a 200 answer into *body (malloc'ed). */
static int http_get(int fd, const char *host, const char *path, char **body)
{
	char req[300], *buf = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;
	int err = 0;

	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
		 path, host);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		return -EIO;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			p = cap > STATUS_MAX + 1 ? NULL : realloc(buf, cap);
			if (!p) {
				err = -EFBIG;
				goto out;
			}
			buf = p;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n == 0)
			break;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			err = wait_fd(fd, POLLIN);
			if (err < 0)
				goto out;
			continue;
		}
		if (n < 0) {
			err = -errno;
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	p = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || !p || strlen(buf) < 12 ||
	    strncmp(buf + 8, " 200", 4) != 0) {
		err = -EPROTO;
		goto out;
	}
	*body = strdup(p + 4);
	err = *body ? 0 : -ENOMEM;
out:
	free(buf);
	return err;
}

/* havend's /status as JSON; reports. */
static int fetch_status(const struct gw_cli *cli, json_t **out)
{
	char host[128], port[16], *body = NULL;
	json_error_t jerr;
	int fd = -1, err;

	if (!havend_running(cli))
		return gw_cli_fail("havend is not running on %s", cli->dir),
		       -ESRCH;
	err = read_addr(cli, host, sizeof(host), port, sizeof(port));
	if (err == -ENOENT)
		return gw_cli_fail("havend on %s runs without its metrics "
				   "endpoint (off, or its address was taken: "
				   "see havend's log); status needs it",
				   cli->dir),
		       err;
	if (err < 0)
		return gw_cli_fail("%s/%s: %s", cli->dir, GW_CLI_METRICS,
				   err == -EINVAL ? "not HOST:PORT"
						  : strerror(-err)),
		       err;
	err = connect_to(host, port, &fd);
	if (err == 0)
		err = http_get(fd, host, "/status", &body);
	if (fd >= 0)
		close(fd);
	if (err < 0)
		return gw_cli_fail("cannot ask havend at %s port %s: %s", host,
				   port,
				   err == -EPROTO ? "unexpected answer"
						  : strerror(-err)),
		       err;
	*out = json_loads(body, 0, &jerr);
	free(body);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		return gw_cli_fail("havend's status is not valid JSON: %s",
				   jerr.text),
		       -EPROTO;
	}
	return 0;
}

static void fmt_rate(json_t *v, char *buf, size_t len)
{
	gw_cli_fmt_size((uint64_t)json_number_value(v), buf, len);
	strncat(buf, "/s", len - strlen(buf) - 1);
}

static int print_tenants(json_t *tenants)
{
	static const char *const cols[] = {"TENANT", ">SESSIONS", ">DISKS",
					   ">IN",    ">OUT",	  ">WRITTEN",
					   ">READ",  ">THROTTLED"};
	struct gw_cli_table *tab;
	size_t i;
	json_t *t;
	int err;

	err = gw_cli_table_new(cols, 8, &tab);
	if (err < 0)
		return gw_cli_fail("status: %s", strerror(-err)), err;
	json_array_foreach(tenants, i, t)
	{
		char s[16], d[16], in[32], out[32], w[32], r[32], th[32];
		const char *cells[8] = {
			json_string_value(json_object_get(t, "tenant")),
			s,
			d,
			in,
			out,
			w,
			r,
			th};

		snprintf(s, sizeof(s), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(t, "sessions")));
		snprintf(
			d, sizeof(d), "%" JSON_INTEGER_FORMAT,
			json_integer_value(json_object_get(t, "disks_in_use")));
		fmt_rate(json_object_get(t, "in_bytes_per_second"), in,
			 sizeof(in));
		fmt_rate(json_object_get(t, "out_bytes_per_second"), out,
			 sizeof(out));
		gw_cli_fmt_size((uint64_t)json_integer_value(
					json_object_get(t, "written_bytes")),
				w, sizeof(w));
		gw_cli_fmt_size((uint64_t)json_integer_value(
					json_object_get(t, "read_bytes")),
				r, sizeof(r));
		snprintf(th, sizeof(th), "%.1f s",
			 json_number_value(
				 json_object_get(t, "throttled_seconds")));
		if (!cells[0])
			cells[0] = "?";
		err = gw_cli_table_add(tab, cells);
		if (err < 0)
			break;
	}
	if (err == 0)
		gw_cli_table_print(tab);
	gw_cli_table_free(tab);
	return err < 0 ? gw_cli_fail("status: %s", strerror(-err)), err : 0;
}

static int print_sessions(json_t *tenants)
{
	static const char *const cols[] = {"CONN", "TENANT", "SITE", "EXPORT",
					   ">AGE", ">IN",    ">OUT", "STATE"};
	struct gw_cli_table *tab;
	size_t i, k;
	json_t *t, *c;
	int err;

	err = gw_cli_table_new(cols, 8, &tab);
	if (err < 0)
		return gw_cli_fail("status: %s", strerror(-err)), err;
	json_array_foreach(tenants, i, t)
	{
		json_array_foreach(json_object_get(t, "connections"), k, c)
		{
			char id[24], age[24], in[32], out[32];
			const char *cells[8] = {
				id,
				json_string_value(json_object_get(t, "tenant")),
				json_string_value(json_object_get(c, "site")),
				json_string_value(json_object_get(c, "export")),
				age,
				in,
				out,
				json_is_true(json_object_get(c, "closing"))
					? "closing"
				: json_is_true(json_object_get(c, "throttled"))
					? "throttled"
					: "active"};

			snprintf(
				id, sizeof(id), "%" JSON_INTEGER_FORMAT,
				json_integer_value(json_object_get(c, "conn")));
			snprintf(age, sizeof(age), "%.0f s",
				 json_number_value(
					 json_object_get(c, "seconds")));
			gw_cli_fmt_size((uint64_t)json_integer_value(
						json_object_get(c, "bytes_in")),
					in, sizeof(in));
			gw_cli_fmt_size(
				(uint64_t)json_integer_value(
					json_object_get(c, "bytes_out")),
				out, sizeof(out));
			for (unsigned j = 1; j < 4; j++)
				if (!cells[j])
					cells[j] = "?";
			err = gw_cli_table_add(tab, cells);
			if (err < 0)
				goto out;
		}
	}
	gw_cli_table_print(tab);
out:
	gw_cli_table_free(tab);
	return err < 0 ? gw_cli_fail("status: %s", strerror(-err)), err : 0;
}

int gw_cli_cmd_status(struct gw_cli *cli, int argc, char **argv)
{
	json_t *st = NULL, *tenants;
	bool json = false, ready;
	const char *why;
	int rc, err;

	rc = gw_cli_opts_json(cli, argc, argv, status_usage, &json);
	if (rc != GW_CLI_OK)
		return gw_cli_exit(rc);
	if (gw_cli_nargs(cli, argc - optind, 0, 0, "") < 0)
		return GW_CLI_USAGE;
	if (fetch_status(cli, &st) < 0)
		return GW_CLI_FAIL;
	if (json)
		return gw_cli_json_print(st) < 0 ? GW_CLI_FAIL : GW_CLI_OK;
	tenants = json_object_get(st, "tenants");
	ready = json_is_true(json_object_get(st, "ready"));
	why = json_string_value(json_object_get(st, "not_ready_reason"));
	printf("havend %s on %s: %s%s, %" JSON_INTEGER_FORMAT
	       " connection(s) open\n",
	       json_string_value(json_object_get(st, "version")), cli->dir,
	       ready ? "ready" : "not ready: ", ready || !why ? "" : why,
	       json_integer_value(json_object_get(st, "connections_open")));
	if (!json_array_size(tenants)) {
		printf("no live sessions\n");
		json_decref(st);
		return GW_CLI_OK;
	}
	printf("\n");
	err = print_tenants(tenants);
	if (err == 0) {
		printf("\n");
		err = print_sessions(tenants);
	}
	json_decref(st);
	return err < 0 ? GW_CLI_FAIL : GW_CLI_OK;
}
