/* logfmt logging on stderr: one line per event, "ts= level= ..." first,
 * so journald and log shippers can parse every line the same way. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gw.h"

static enum gw_log_level min_level = GW_LOG_INFO;

static const char *const level_names[] = {
	[GW_LOG_DEBUG] = "debug",
	[GW_LOG_INFO] = "info",
	[GW_LOG_WARN] = "warn",
	[GW_LOG_ERROR] = "error",
};

void gw_log_set_level(enum gw_log_level level)
{
	min_level = level;
}

int gw_log_parse_level(const char *s, enum gw_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum gw_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void gw_log(enum gw_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line keeps lines whole when several processes
	 * share the terminal. */
	fprintf(stderr, "%s\n", line);
}

const char *gw_log_quote(char *buf, size_t len, const char *s)
{
	size_t o = 0;
	bool plain = *s != '\0';

	for (const char *p = s; *p; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p < 0x21)
			plain = false;
	if (plain) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	if (len < 3) {
		buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (const char *p = s; *p && o + 3 < len; p++) {
		if (*p == '"' || *p == '\\')
			buf[o++] = '\\';
		buf[o++] = (*p >= 0x20 && *p != 0x7f) ? *p : '?';
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

uint64_t gw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
