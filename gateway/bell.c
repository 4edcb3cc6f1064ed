/* havenctl's doorbell: DIR/havend.bell, an AF_UNIX datagram socket.
 *
 * havenctl changes the catalog and then sends a datagram here, so that
 * havend looks at the catalog at once instead of at the next watch tick
 * (server.c, every 250 ms, which stays as the fallback).  A datagram
 * carries nothing havend reads: it only means "look now", so any
 * content, or a flood of them, can at most make havend look more often.
 * Each wake-up reads at most GW_BELL_DRAIN datagrams and then runs the
 * watch once; what is left waits for the next loop iteration, after the
 * connections have had their turn.
 *
 * The socket is 0600 and owned like the data directory: whoever may
 * ring may also write the catalog.  havend holds DIR/havend.lock, so a
 * socket file already there is a stale one of an earlier run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gw.h"

static void on_ring(uv_poll_t *p, int status, int events)
{
	struct gw_server *srv = p->data;
	char buf[64];
	unsigned n;

	(void)events;
	if (status < 0) {
		/* The timer still looks every 250 ms. */
		gw_log(GW_LOG_WARN, "event=bell_off error=\"%s\"",
		       uv_strerror(status));
		uv_poll_stop(p);
		return;
	}
	for (n = 0; n < GW_BELL_DRAIN; n++)
		if (recv(srv->bell.fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
		    errno != EINTR)
			break;
	if (n)
		gw_server_watch(srv);
}

/* The data directory's owner gets the socket when havend runs as root
 * on a directory that is not root's. */
static void own_like_dir(const char *dir, const char *path)
{
	struct stat st;

	if (geteuid() != 0 || stat(dir, &st) < 0 ||
	    (st.st_uid == 0 && st.st_gid == 0))
		return;
	if (chown(path, st.st_uid, st.st_gid) < 0)
		gw_log(GW_LOG_WARN, "event=bell_chown path=%s error=\"%s\"",
		       path, strerror(errno));
}

static int bell_bind(struct gw_server *srv, struct sockaddr_un *sa)
{
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Linux creates the file with the socket's mode (less the umask):
	 * never wider than 0600, not even until the chmod below. */
	(void)fchmod(fd, 0600);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		gw_log(GW_LOG_WARN, "event=bell_stale path=%s error=\"%s\"",
		       sa->sun_path, strerror(errno));
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    chmod(sa->sun_path, 0600) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	own_like_dir(srv->cfg.dir, sa->sun_path);
	return fd;
}

void gw_bell_open(struct gw_server *srv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n, fd;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", srv->cfg.dir,
		     GW_BELL_FILE);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		gw_log(GW_LOG_WARN,
		       "event=bell_off reason=\"data directory path too long "
		       "for a socket\" fallback=poll_%ums",
		       GW_WATCH_INTERVAL_MS);
		return;
	}
	fd = bell_bind(srv, &sa);
	if (fd < 0) {
		gw_log(GW_LOG_WARN,
		       "event=bell_off path=%s error=\"%s\" fallback=poll_%ums",
		       sa.sun_path, strerror(-fd), GW_WATCH_INTERVAL_MS);
		return;
	}
	if (uv_poll_init(srv->loop, &srv->bell.poll, fd) < 0) {
		close(fd);
		unlink(sa.sun_path);
		return;
	}
	srv->bell.fd = fd;
	srv->bell.on = true;
	srv->bell.poll.data = srv;
	snprintf(srv->bell.path, sizeof(srv->bell.path), "%s", sa.sun_path);
	uv_poll_start(&srv->bell.poll, UV_READABLE, on_ring);
	gw_log(GW_LOG_DEBUG, "event=bell path=%s", srv->bell.path);
}

static void bell_closed(uv_handle_t *h)
{
	struct gw_server *srv = h->data;

	close(srv->bell.fd);
	srv->bell.on = false;
}

void gw_bell_close(struct gw_server *srv)
{
	if (!srv->bell.on || uv_is_closing((uv_handle_t *)&srv->bell.poll))
		return;
	/* Gone before the descriptor: a ring from now on finds no file
	 * (ENOENT), and the next havend binds afresh. */
	unlink(srv->bell.path);
	uv_close((uv_handle_t *)&srv->bell.poll, bell_closed);
}
