/* This invocation's entry in the audit trail.
 *
 * Every havenctl command that changes something is recorded, by the
 * dispatcher rather than by each command: main() starts the entry with the
 * command line (gw_cli_audit_begin), and gw_cli_catalog_open() attaches it
 * to the catalog handle the command opens, so the catalog appends it in
 * the same write transaction as the command's first change (see
 * tenant_audit_attach()).  A command's changes thus never reach the
 * catalog before its entry does, and an entry never claims a change that
 * was rolled back (a later write of the same command that fails is
 * recorded as "failed", below).  After
 * the command, gw_cli_audit_end() appends in a transaction of its own what
 * only the outcome can tell: "refused" for a change command that failed
 * before it changed anything (with its error line), "failed" for one that
 * failed after its first change, and "ok" for an export (which reads
 * tenant data without changing the catalog).  Those after-the-fact
 * entries are best effort: when the catalog cannot be opened there is
 * nothing to record into.
 *
 * Commands add what the command line alone does not say: the tenant they
 * act on (gw_cli_tenant_get notes it) and details such as a credential's
 * pin.  havenctl runs one command per process, so the context is one
 * static object.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static struct {
	bool active;
	const struct gw_cli *cli;
	struct tenant_audit e;
	bool appended; /* committed with a change */
	/* Each part holds as much as fits; its _len counts all of it, and
	 * compose() marks the cut (tenant_audit_cut). */
	char args[512]; /* the command line */
	size_t args_len;
	char notes[256]; /* " key=value" pairs */
	size_t notes_len;
	char error[256]; /* the first error line printed */
	size_t error_len;
} audit;

/* The detail holds all three parts, full and marked, and the ": " before
 * the error (in the room of their NULs). */
_Static_assert(sizeof(audit.args) + sizeof(audit.notes) + sizeof(audit.error) <=
		       sizeof(audit.e.detail),
	       "the detail holds its parts");

static void set_actor(struct tenant_audit *e)
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd *pw = getpwuid(getuid());
	char user[64];

	if (pw && pw->pw_name)
		snprintf(user, sizeof(user), "%s", pw->pw_name);
	else
		snprintf(user, sizeof(user), "uid%u", (unsigned)getuid());
	/* Who ran sudo is only worth saying when sudo made us root. */
	if (getuid() == 0 && sudo && *sudo)
		snprintf(e->actor, sizeof(e->actor),
			 "havenctl:%s(%u),sudo:%.32s", user, (unsigned)getuid(),
			 sudo);
	else
		snprintf(e->actor, sizeof(e->actor), "havenctl:%s(%u)", user,
			 (unsigned)getuid());
}

/* Appends s to the command line: to args as far as it fits, to args_len
 * in full.  s is in single quotes when it holds characters that would
 * make the line ambiguous, parentheses included, so that no argument can
 * pass for the mark of a cut (tenant_audit_cut). */
static void append_arg(const char *s)
{
	size_t n = strlen(audit.args);
	bool quote = !*s || strpbrk(s, " \t\n'\"\\()") != NULL;
	int w;

	w = snprintf(audit.args + n, sizeof(audit.args) - n, "%s%s%s%s",
		     audit.args_len ? " " : "", quote ? "'" : "", s,
		     quote ? "'" : "");
	if (w > 0)
		audit.args_len += (size_t)w;
	/* Control characters would break the table; keep the rest. */
	for (char *p = audit.args + n; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* A part as far as it fits, ending in the mark of a cut when it did not. */
static const char *part(char *out, size_t cap, const char *s, size_t len)
{
	snprintf(out, cap, "%s", s);
	tenant_audit_cut(out, cap, len);
	return out;
}

/* detail = command line, notes, and ": error" once there is one. */
static void compose(void)
{
	char args[sizeof(audit.args)], notes[sizeof(audit.notes)],
		error[sizeof(audit.error)];

	snprintf(audit.e.detail, sizeof(audit.e.detail), "%s%s%s%s",
		 part(args, sizeof(args), audit.args, audit.args_len),
		 part(notes, sizeof(notes), audit.notes, audit.notes_len),
		 audit.error[0] ? ": " : "",
		 part(error, sizeof(error), audit.error, audit.error_len));
}

void gw_cli_audit_begin(const struct gw_cli *cli, int argc, char **argv)
{
	int i;

	memset(&audit, 0, sizeof(audit));
	audit.active = true;
	audit.cli = cli;
	set_actor(&audit.e);
	for (i = 0; i < argc; i++)
		append_arg(argv[i]);
	compose();
}

/* "failover test start" -> "failover.test.start". */
static void set_action(void)
{
	struct tenant_audit *e = &audit.e;
	char *p;

	snprintf(e->action, sizeof(e->action), "%s", audit.cli->cmd);
	for (p = e->action; *p; p++)
		if (*p == ' ')
			*p = '.';
}

void gw_cli_audit_attach(struct tenant_catalog *cat)
{
	if (!audit.active)
		return;
	set_action();
	snprintf(audit.e.result, sizeof(audit.e.result), "ok");
	tenant_audit_attach(cat, &audit.e, &audit.appended);
}

void gw_cli_audit_tenant(const char *name)
{
	if (!audit.active || !name || !tenant_name_valid(name))
		return;
	snprintf(audit.e.tenant, sizeof(audit.e.tenant), "%s", name);
}

void gw_cli_audit_note(const char *fmt, ...)
{
	size_t n = strlen(audit.notes);
	va_list ap;
	int w;

	if (!audit.active)
		return;
	/* Past a full buffer, the note only counts. */
	if (n + 1 < sizeof(audit.notes))
		audit.notes[n++] = ' ';
	va_start(ap, fmt);
	w = vsnprintf(audit.notes + n, sizeof(audit.notes) - n, fmt, ap);
	va_end(ap);
	if (w >= 0)
		audit.notes_len += 1 + (size_t)w;
	compose();
}

void gw_cli_audit_error(const char *line, size_t len)
{
	if (!audit.active || audit.error[0])
		return;
	snprintf(audit.error, sizeof(audit.error), "%s", line);
	audit.error_len = len;
}

/* Commands that only read (their last word says so: "tenant list",
 * "failover status", "status"), and the bare command groups, which only
 * print their usage, leave no entry when they fail. */
static bool read_only(const char *cmd)
{
	static const char *const groups[] = {
		"tenant",   "cert",	     "disk",  "rp",   "route",
		"failover", "failover test", "audit", "help", "",
	};
	static const char *const verbs[] = {"list", "show", "status"};
	const char *last = strrchr(cmd, ' ');
	size_t i;

	last = last ? last + 1 : cmd;
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(cmd, groups[i]))
			return true;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(last, verbs[i]))
			return true;
	return false;
}

void gw_cli_audit_end(int rc)
{
	struct tenant_catalog *cat = NULL;
	const char *cmd;
	char path[TENANT_PATH_MAX];

	if (!audit.active)
		return;
	audit.active = false;
	cmd = audit.cli->cmd;
	if (audit.appended && rc == GW_CLI_OK)
		return; /* recorded with the change */
	if (!audit.appended && rc == GW_CLI_OK && strcmp(cmd, "export") != 0)
		return; /* changed nothing: --help, a change with no effect */
	if (!audit.appended && rc != GW_CLI_OK && read_only(cmd))
		return;
	set_action();
	snprintf(audit.e.result, sizeof(audit.e.result), "%s",
		 rc == GW_CLI_OK  ? "ok"
		 : audit.appended ? "failed"
				  : "refused");
	compose();
	audit.e.time_ms = 0;
	if (gw_cli_path(audit.cli, GW_CLI_CATALOG, path, sizeof(path)) < 0 ||
	    access(path, F_OK) < 0 || tenant_catalog_open(path, 0, &cat) < 0)
		return;
	tenant_audit_append(cat, &audit.e);
	tenant_catalog_close(cat);
}
