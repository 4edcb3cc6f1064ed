/* Shared by the two halves of havenctl failover: cmd-failover.c (the
 * table, and the commands that change things: test start and stop,
 * promote) and cmd-failover-show.c (test list and show, status).
 */
#ifndef HAVEN_CLI_FAILOVER_H
#define HAVEN_CLI_FAILOVER_H

#include "cli.h"

/* struct tenant_test and struct tenant_failover hold 16 disks. */
#define GW_CLI_FO_MAX_DISKS 16
/* "TENANT/VM/DISK@test-ID" */
#define GW_CLI_FO_PATH_LEN (3 * (TENANT_NAME_MAX + 1) + 32)

/* ---- cmd-failover.c ---- */

/* A tenant's VM and its disks, in name order. */
struct gw_cli_fo_vm {
	struct tenant_info t;
	char name[TENANT_NAME_MAX + 1];
	struct gw_cli_vec disks; /* struct tenant_disk; caller inits */
};

/* Resolves TENANT/VM into its disks (1..GW_CLI_FO_MAX_DISKS); reports. */
int gw_cli_fo_load_vm(struct tenant_catalog *cat, const char *arg,
		      struct gw_cli_fo_vm *vm);
const struct tenant_disk *gw_cli_fo_disk(const struct gw_cli_fo_vm *vm,
					 size_t i);
/* True for a non-empty string of digits. */
bool gw_cli_fo_is_id(const char *s);

/* ---- cmd-failover-show.c ---- */

/* to - from, or 0 if to is earlier (clocks step). */
uint64_t gw_cli_fo_ms(uint64_t from, uint64_t to);
/* "850 ms", "42 s", "5 min 3 s", "2 h 5 min", "3 d 4 h". */
void gw_cli_fo_fmt_age(uint64_t ms, char *buf, size_t len);
/* "running", "stopped", "failed". */
const char *gw_cli_fo_state_name(uint32_t state);

/* A test with the names and restore points it refers to, copied out of
 * the catalog so that printing holds no transaction. */
struct gw_cli_fo_view {
	struct tenant_test x;
	char tenant[TENANT_NAME_MAX + 1];
	struct {
		char name[TENANT_NAME_MAX + 1];
		struct tenant_rp rp; /* rp.id 0: removed since */
	} d[GW_CLI_FO_MAX_DISKS];
};

void gw_cli_fo_load_view(struct tenant_catalog *cat,
			 const struct tenant_test *x, struct gw_cli_fo_view *v);
json_t *gw_cli_fo_view_json(const struct gw_cli_fo_view *v);
/* Parses a test id and reads the test; reports. */
int gw_cli_fo_get_test(struct tenant_catalog *cat, const char *arg,
		       struct tenant_test *x);

int gw_cli_fo_test_list(struct gw_cli *cli, int argc, char **argv);
int gw_cli_fo_test_show(struct gw_cli *cli, int argc, char **argv);
int gw_cli_fo_status(struct gw_cli *cli, int argc, char **argv);

#endif
