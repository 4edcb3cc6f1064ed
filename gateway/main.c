/* havend: the haven gateway.
 *
 * Reads top-down: options -> configuration -> catalog -> TLS -> listen ->
 * run the loop -> drain and exit. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "gw.h"
#include "metrics.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: havend [-d DIR] [--listen HOST:PORT[,HOST:PORT]...] "
		"[--metrics HOST:PORT|off]\n"
		"              [--log-level LEVEL] [--check-config]\n"
		"\n"
		"Serves the disks of the catalog in DIR (default $HAVEN_DIR,\n"
		"then /var/lib/haven) over NBD with mandatory TLS, configured\n"
		"by DIR/haven.conf (see havend(8)).\n"
		"  -d, --dir DIR        data directory made by 'havenctl "
		"init'\n"
		"  -l, --listen H:P     listen addresses, comma-separated "
		"(overrides\n"
		"                       [gateway] listen; default "
		"0.0.0.0:10809)\n"
		"      --metrics H:P    /metrics, /healthz and /status address "
		"(overrides\n"
		"                       [metrics] listen; default "
		"127.0.0.1:9309; off)\n"
		"      --log-level L    debug, info, warn or error (overrides "
		"[log] level)\n"
		"      --check-config   validate haven.conf, print the "
		"effective\n"
		"                       configuration and exit\n"
		"  -h, --help           show this help\n"
		"  -V, --version        print the version\n"
		"\n"
		"Signals: SIGHUP reloads haven.conf and the certificates; "
		"SIGTERM drains\n"
		"(stops accepting, finishes in-flight requests, cuts "
		"session-end restore\n"
		"points) and exits.\n");
}

struct options {
	const char *dir;
	const char *listen;
	const char *log_level;
	const char *metrics;
	bool check;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"log-level", required_argument, NULL, 'L'},
		{"metrics", required_argument, NULL, 'M'},
		{"check-config", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	o->dir = getenv("HAVEN_DIR");
	if (!o->dir || !*o->dir)
		o->dir = "/var/lib/haven";
	while ((ch = getopt_long(argc, argv, "d:l:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->dir = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'L':
			o->log_level = optarg;
			break;
		case 'M':
			o->metrics = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("havend %s\n", HAVEN_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "havend: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* One havend per data directory: it alone owns the snap context of the
 * disks it serves.  havenctl takes the same lock to know whether to ask a
 * running havend or to act itself. */
static int take_lock(const char *dir)
{
	char path[1200];
	int fd, i;

	snprintf(path, sizeof(path), "%s/havend.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "havend: %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* havenctl holds it for a moment while it acts alone. */
	for (i = 0; i < 100; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		usleep(100000);
	}
	fprintf(stderr, "havend: another havend is running on %s\n", dir);
	close(fd);
	return -1;
}

/* Every connection is a descriptor, and the local store keeps up to
 * 1024 object files open: the usual soft limit of 1024 is too low, and
 * the hard limit is there to be used.  Says so if it stays low. */
static void raise_fd_limit(const struct gw_config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_connections + 2048;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		gw_log(GW_LOG_WARN,
		       "event=fd_limit limit=%llu wanted=%llu "
		       "msg=\"raise the open file limit (LimitNOFILE, "
		       "ulimit -n) or lower [limits] max_connections\"",
		       (unsigned long long)rl.rlim_cur,
		       (unsigned long long)want);
}

int main(int argc, char **argv)
{
	static struct gw_server srv; /* large: holds the read buffer */
	char err[512], path[1200];
	struct options o = {0};
	uv_loop_t loop;
	int r;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (gw_config_load(&srv.cfg, o.dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "havend: %s\n", err);
		return 1;
	}
	if (gw_config_override(&srv.cfg, o.listen, o.log_level, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "havend: %s\n", err);
		return 2;
	}
	if (o.metrics && gw_config_metrics(&srv.cfg, o.metrics) < 0) {
		fprintf(stderr,
			"havend: --metrics '%s': expected HOST:PORT or off\n",
			o.metrics);
		return 2;
	}
	/* Kept for SIGHUP: the command line still wins after a reload. */
	srv.opt_listen = o.listen;
	srv.opt_log_level = o.log_level;
	gw_log_set_level(srv.cfg.log_level);
	if (o.check) {
		gw_config_print(&srv.cfg, stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	/* Request buffers of up to 32 MiB come and go all the time; served
	 * from mmap each would cost a page fault and a zeroed page per 4 KiB.
	 * Keep them in the heap (bounded by the per-connection limits). */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	raise_fd_limit(&srv.cfg);
	srv.lock_fd = take_lock(srv.cfg.dir);
	if (srv.lock_fd < 0)
		return 1;
	/* A client that vanishes must not kill the daemon with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	snprintf(path, sizeof(path), "%s/catalog", srv.cfg.dir);
	r = tenant_catalog_open(path, 0, &srv.cat);
	if (r < 0) {
		fprintf(stderr, "havend: cannot open the catalog in %s: %s%s\n",
			path, strerror(-r),
			r == -ENOENT ? " (run 'havenctl init' first)" : "");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/pki", srv.cfg.dir);
	r = gw_tls_io_init();
	if (r == 0)
		r = gw_tls_ctx_new(path, &srv.cfg, &srv.ssl_ctx);
	if (r < 0) {
		fprintf(stderr, "havend: cannot load the TLS keys in %s\n",
			path);
		tenant_catalog_close(srv.cat);
		return 1;
	}
	uv_loop_init(&loop);
	r = gw_metrics_start(&srv, &loop);
	if (r < 0) {
		uv_loop_close(&loop);
		SSL_CTX_free(srv.ssl_ctx);
		gw_tls_io_exit();
		tenant_catalog_close(srv.cat);
		return 1;
	}
	r = gw_server_start(&srv, &loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	SSL_CTX_free(srv.ssl_ctx);
	gw_tls_io_exit();
	tenant_catalog_close(srv.cat);
	return r < 0 ? 1 : 0;
}
