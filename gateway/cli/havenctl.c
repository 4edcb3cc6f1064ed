/* havenctl: the operator's tool to set up a haven data directory and
 * onboard tenants (certificates, disks).  main() parses the global
 * options and hands the rest to a subcommand table; each command group
 * lives in its own cmd-*.c file with a table of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "cli.h"

static int cmd_help(struct gw_cli *cli, int argc, char **argv);

static const struct gw_cli_cmd commands[] = {
	{"init", gw_cli_cmd_init, "create the data directory, CA and catalog"},
	{"tenant", gw_cli_cmd_tenant, "add, list, show and set tenants"},
	{"cert", gw_cli_cmd_cert, "issue, list and revoke site certificates"},
	{"disk", gw_cli_cmd_disk,
	 "create, list, show, resize and remove disks"},
	{"rp", gw_cli_cmd_rp, "list, create and remove restore points"},
	{"route", gw_cli_cmd_route, "add and list storage routes"},
	{"export", gw_cli_cmd_export,
	 "copy a disk or a restore point into a file"},
	{"audit", gw_cli_cmd_audit,
	 "show or verify the audit trail of changes and refused logins"},
	{"failover", gw_cli_cmd_failover,
	 "DR tests, failover and failover status of a VM"},
	{"status", gw_cli_cmd_status,
	 "live sessions per tenant with rates (asks havend)"},
	{"help", cmd_help, "show the usage of a command"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(void)
{
	printf("Usage: havenctl [-d DIR] COMMAND [ARGS]...\n"
	       "Set up a haven gateway's data directory and onboard tenants.\n"
	       "\n"
	       "Options:\n"
	       "  -d, --dir DIR   data directory (default: $HAVEN_DIR, "
	       "then " GW_CLI_DEFAULT_DIR ")\n"
	       "  -h, --help      show this help\n"
	       "  -V, --version   show the version\n"
	       "\n"
	       "Commands:\n");
	gw_cli_print_cmds(commands, NCOMMANDS);
	printf("\nRun 'havenctl COMMAND --help' for the usage of a command.\n");
}

static int run(struct gw_cli *cli, int argc, char **argv)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == NCOMMANDS)
		return gw_cli_usage_error(cli, "unknown command '%s'", argv[0]);
	snprintf(cli->cmd, sizeof(cli->cmd), "%s", commands[i].name);
	optind = 0; /* a fresh getopt for the command's own argv */
	return commands[i].fn(cli, argc, argv);
}

/* "havenctl help tenant add" is "havenctl tenant add --help". */
static int cmd_help(struct gw_cli *cli, int argc, char **argv)
{
	char **args;
	int i, rc;

	if (argc < 2) {
		usage();
		return GW_CLI_OK;
	}
	if (strcmp(argv[1], "help") == 0 || argv[1][0] == '-') {
		usage();
		return GW_CLI_OK;
	}
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args)
		return gw_cli_fail("help: %s", strerror(ENOMEM));
	for (i = 1; i < argc; i++)
		args[i - 1] = argv[i];
	args[argc - 1] = "--help";
	args[argc] = NULL;
	cli->cmd[0] = '\0';
	rc = run(cli, argc, args);
	free(args);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct gw_cli cli = {0};
	int c, rc;

	/* Everything havenctl writes (keys, catalog, bundles) is private to
	 * the gateway's user; library code that forgets a mode stays safe. */
	umask(077);

	cli.dir = getenv("HAVEN_DIR");
	if (!cli.dir || !*cli.dir)
		cli.dir = GW_CLI_DEFAULT_DIR;

	/* '+': stop at the command, whose options are its own. */
	while ((c = gw_cli_getopt(&cli, argc, argv, "+d:hV", opts)) != -1) {
		switch (c) {
		case 'd':
			cli.dir = optarg;
			break;
		case 'h':
			usage();
			return GW_CLI_OK;
		case 'V':
			printf("havenctl %s\n", HAVEN_VERSION);
			return GW_CLI_OK;
		default:
			return GW_CLI_USAGE;
		}
	}
	if (optind >= argc)
		return gw_cli_usage_error(&cli, "missing command");
	if (!*cli.dir)
		return gw_cli_usage_error(&cli, "empty data directory");

	/* Every change is recorded in the catalog's audit trail (audit.c):
	 * with the change itself, or after the command when it failed. */
	gw_cli_audit_begin(&cli, argc - optind, argv + optind);
	rc = run(&cli, argc - optind, argv + optind);

	/* A full disk or a closed pipe must not pass for success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc == GW_CLI_OK)
			rc = gw_cli_fail("writing output: %s", strerror(errno));
	}
	gw_cli_audit_end(rc);
	return rc;
}
