/* Fixtures shared by the unit tests (fixture.c): a fresh directory under
 * /tmp and its removal.  Test-only code; the catalog and store fixtures
 * are in fixture-catalog.h and fixture-store.h. */
#ifndef HAVEN_TEST_FIXTURE_H
#define HAVEN_TEST_FIXTURE_H

#include <stddef.h>

/* Makes the directory /tmp/NAME-XXXXXX (X: random) and writes its path to
 * dir[size]; fails the test if it cannot. */
void fixture_tmpdir(char *dir, size_t size, const char *name);

/* Removes a directory and everything below it; an empty path is none. */
void fixture_rmtree(const char *dir);

#endif
