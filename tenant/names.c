/* Names and sizes as operators type them on the havenctl command line.
 *
 * A name ends up in LMDB keys, object names and export names (VM/DISK), so
 * the alphabet is deliberately small: no '/', no upper case (two tenants
 * that differ only in case would confuse people), and no ".." so that a
 * name can never walk out of a directory when the local backend maps it to
 * a path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tenant.h"

static bool name_char_ok(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	if (first)
		return false;
	return c == '.' || c == '_' || c == '-';
}

bool tenant_name_valid(const char *s)
{
	size_t i;

	if (!s || !s[0])
		return false;
	for (i = 0; s[i]; i++) {
		if (i >= TENANT_NAME_MAX)
			return false;
		if (!name_char_ok(s[i], i == 0))
			return false;
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

/* The shift for a K/M/G/T suffix (case-insensitive), or -1.  Sizes are
 * powers of 1024, as qemu-img and nbdkit read them.  A trailing "B" or
 * "iB" is refused rather than half-supported: "10G" is the one spelling. */
static int suffix_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return -1;
	}
}

int tenant_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int shift = 0;
	size_t i;

	if (!s || !out)
		return -EINVAL;
	/* Digits are parsed by hand: strtoull() would accept leading blanks
	 * and a minus sign, and silently negate. */
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (s[i]) {
		shift = suffix_shift(s[i]);
		if (shift < 0 || s[i + 1])
			return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}
