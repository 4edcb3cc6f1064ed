/* Which restore point interval a disk gets.  havend (rp.c, exports.c)
 * cuts checkpoints with it and havenctl (tenant show, disk show) reports
 * it, through this one function, so what an operator reads is what the
 * gateway does. */
#include "gw.h"

uint32_t gw_rp_interval_of(const struct gw_config *cfg,
			   const struct tenant_info *t,
			   const struct tenant_disk *td,
			   enum gw_rp_interval_from *from)
{
	enum gw_rp_interval_from f;
	uint32_t s;

	if (td && td->checkpoint_s) {
		f = GW_RP_INTERVAL_DISK;
		s = td->checkpoint_s;
	} else if (t->checkpoint_s) {
		f = GW_RP_INTERVAL_TENANT;
		s = t->checkpoint_s;
	} else {
		f = cfg->checkpoint_interval_set ? GW_RP_INTERVAL_CONF
						 : GW_RP_INTERVAL_DEFAULT;
		s = cfg->checkpoint_interval;
	}
	if (from)
		*from = f;
	return s;
}

const char *gw_rp_interval_from_name(enum gw_rp_interval_from from)
{
	switch (from) {
	case GW_RP_INTERVAL_DISK:
		return "disk";
	case GW_RP_INTERVAL_TENANT:
		return "tenant";
	case GW_RP_INTERVAL_CONF:
		return "haven.conf";
	case GW_RP_INTERVAL_DEFAULT:
		return "default";
	}
	return "unknown";
}
