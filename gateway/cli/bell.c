/* Ringing havend's doorbell (gateway/bell.c) after each change havenctl
 * commits to the catalog, so that a running havend acts on it at once
 * rather than at its next catalog poll.  Best effort and silent: with no
 * havend (ENOENT, ECONNREFUSED), a full queue (EAGAIN: havend will look
 * anyway), a socket this user may not write (EACCES), or anything else,
 * havend's poll still finds the change within GW_WATCH_INTERVAL_MS.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

void gw_cli_bell_ring(const struct gw_cli *cli)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n, fd;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", cli->dir,
		     GW_CLI_BELL);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* The content means nothing to havend. */
	(void)sendto(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
		     (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
}

/* havenctl runs one command per process, with one data directory. */
static const struct gw_cli *bell_cli;

static void ring(void *arg)
{
	(void)arg;
	gw_cli_bell_ring(bell_cli);
}

void gw_cli_bell_attach(const struct gw_cli *cli, struct tenant_catalog *cat)
{
	bell_cli = cli;
	tenant_catalog_on_change(cat, ring, NULL);
}
