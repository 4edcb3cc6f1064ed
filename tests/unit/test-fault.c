/* The fault injector (storage/fault.c) around the memory backend: which
 * ops fail, with which errno, when; that a failed op leaves the store
 * untouched; delays; the rules file re-read when it changes; and bad
 * files refused as a whole with one log line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore.h"

struct fixture {
	char dir[64];
	char path[96];
	struct storage_route route;
	struct storage_sync *sync;
	struct storage_store *st;
	void *io;
};

static char last_log[1024];
static bool last_error;
static unsigned nlogs;

static void log_cb(bool error, const char *msg)
{
	snprintf(last_log, sizeof(last_log), "%s", msg);
	last_error = error;
	nlogs++;
}

/* Replaces the rules file the way a test script does: a new file and a
 * rename, so the injector sees a new inode. */
static void put_rules(struct fixture *f, const char *text)
{
	char tmp[128];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, f->path), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/haven-fault-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/rules", f->dir);
	f->route.type = "memory";
	f->route.fault_file = f->path;
	f->route.fault_log = log_cb;
	assert_int_equal(storage_sync_new(&f->sync), 0);
	assert_int_equal(storage_store_open(&f->route,
					    storage_sync_env(f->sync), &f->st),
			 0);
	assert_int_equal(f->st->be_ops->ioctx_open(f->st->be, "t1", &f->io), 0);
	last_log[0] = '\0';
	nlogs = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->st->be_ops->ioctx_close(f->io);
	storage_store_close(f->st);
	storage_sync_free(f->sync);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t run_io(struct fixture *f, void *io, enum storage_opcode code,
		      uint64_t off, void *buf, uint64_t len)
{
	struct storage_op op;

	storage_op_init(&op, code, NULL);
	snprintf(op.oid, sizeof(op.oid), "obj");
	op.off = off;
	op.len = len;
	op.buf = buf;
	storage_op_run(f->st, io, &op);
	return op.result;
}

static int64_t run(struct fixture *f, enum storage_opcode code, uint64_t off,
		   void *buf, uint64_t len)
{
	return run_io(f, f->io, code, off, buf, len);
}

static int64_t put(struct fixture *f, uint64_t off, char c)
{
	char b[16];

	memset(b, c, sizeof(b));
	return run(f, STORAGE_OP_WRITE, off, b, sizeof(b));
}

/* The byte at off (16-byte records), 0 if none. */
static char get(struct fixture *f, uint64_t off)
{
	char b[16] = {0};

	if (run(f, STORAGE_OP_READ, off, b, sizeof(b)) < 1)
		return 0;
	return b[0];
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_no_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(put(f, 0, 'a'), 0);
	assert_int_equal(get(f, 0), 'a');
	assert_string_equal(f->st->be_ops->name, "fault");
}

static void test_every_write(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(put(f, 0, 'a'), 0);
	put_rules(f, "op=write,errno=EIO\n");
	assert_int_equal(put(f, 0, 'b'), -EIO);
	assert_int_equal(put(f, 16, 'b'), -EIO);
	/* Nothing of the failed writes reached the store. */
	assert_int_equal(get(f, 0), 'a');
	assert_int_equal(get(f, 16), 0);
	assert_false(last_error);
	assert_non_null(strstr(last_log, "loaded: 1 rule(s)"));
	/* Removing the file clears the fault. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(put(f, 0, 'c'), 0);
	assert_int_equal(get(f, 0), 'c');
	assert_non_null(strstr(last_log, "gone"));
}

static void test_nth_count(void **state)
{
	struct fixture *f = *state;
	int64_t r[6];
	int i;

	put_rules(f, "# the 3rd write only\nop=write,errno=ENOSPC,nth=3\n");
	for (i = 0; i < 6; i++)
		r[i] = put(f, (uint64_t)i * 16, (char)('a' + i));
	for (i = 0; i < 6; i++) {
		assert_int_equal(r[i], i == 2 ? -ENOSPC : 0);
		assert_int_equal(get(f, (uint64_t)i * 16),
				 i == 2 ? 0 : 'a' + i);
	}
	/* Reads do not count towards a write rule; a reload restarts the
	 * count. */
	put_rules(f, "op=write , errno=ETIMEDOUT , nth=2 , count=2\n");
	for (i = 0; i < 5; i++)
		r[i] = put(f, 0, 'x');
	assert_int_equal(r[0], 0);
	assert_int_equal(r[1], -ETIMEDOUT);
	assert_int_equal(r[2], -ETIMEDOUT);
	assert_int_equal(r[3], 0);
	assert_int_equal(r[4], 0);
}

static void test_kinds_and_ns(void **state)
{
	struct fixture *f = *state;
	void *other = NULL;
	uint64_t id;
	char b[16];

	assert_int_equal(f->st->be_ops->ioctx_open(f->st->be, "t2", &other), 0);
	assert_int_equal(put(f, 0, 'a'), 0);
	put_rules(f, "op=read+stat,errno=EIO,ns=t1\nop=flush,errno=EROFS\n"
		     "op=snap,errno=EDQUOT\nop=zero+remove,errno=ENOSPC\n");
	assert_int_equal(run(f, STORAGE_OP_READ, 0, b, sizeof(b)), -EIO);
	assert_int_equal(run(f, STORAGE_OP_STAT, 0, NULL, 0), -EIO);
	assert_int_equal(run(f, STORAGE_OP_SYNC, 0, NULL, 0), -EROFS);
	assert_int_equal(run(f, STORAGE_OP_ZERO, 0, NULL, 8), -ENOSPC);
	assert_int_equal(run(f, STORAGE_OP_REMOVE, 0, NULL, 0), -ENOSPC);
	assert_int_equal(f->st->be_ops->snap_create(f->st->be, &id), -EDQUOT);
	/* Namespace t2 is not in the read rule. */
	assert_int_equal(run_io(f, other, STORAGE_OP_READ, 0, b, sizeof(b)),
			 -ENOENT);
	assert_int_equal(put(f, 32, 'w'), 0);
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(get(f, 0), 'a');
	assert_int_equal(get(f, 32), 'w');
	f->st->be_ops->ioctx_close(other);
}

static void test_delay(void **state)
{
	struct fixture *f = *state;
	uint64_t t0;

	put_rules(f, "op=write,delay=150\n");
	t0 = now_ms();
	assert_int_equal(put(f, 0, 'd'), 0);
	assert_true(now_ms() - t0 >= 150);
	/* Reads are not delayed and see the delayed write: it ran at once,
	 * only its completion was held. */
	t0 = now_ms();
	assert_int_equal(get(f, 0), 'd');
	assert_true(now_ms() - t0 < 100);

	put_rules(f, "op=write,delay=100,errno=EIO\n");
	t0 = now_ms();
	assert_int_equal(put(f, 0, 'e'), -EIO);
	assert_true(now_ms() - t0 >= 100);
	assert_int_equal(get(f, 0), 'd');
}

static void test_bad_files(void **state)
{
	static const char *const bad[][2] = {
		{"op=write\n", "needs errno= or delay="},
		{"op=wirte,errno=EIO\n", "bad op 'wirte'"},
		{"op=write,errno=EBOGUS\n", "unknown errno 'EBOGUS'"},
		{"op=write,errno=5\n", "unknown errno '5'"},
		{"op=write,errno=EIO,colour=red\n", "unknown key 'colour'"},
		{"op=write,errno=EIO,errno=EIO\n", "given twice"},
		{"op=write,errno=EIO,nth=0\n", "nth '0'"},
		{"op=write,errno=EIO,nth=-1\n", "nth '-1'"},
		{"op=write,errno=EIO,count=3x\n", "count '3x'"},
		{"op=write,delay=600001\n", "delay '600001'"},
		{"op=write,errno=EIO\nop=write errno=EIO\n", "line 2:"},
		{"op=write,errno=EIO,\n", "'' is not key=value"},
		{"op=write,errno=EIO\r\n", "control or non-ASCII"},
		{"op=,errno=EIO\n", "bad op ''"},
		{"op=write+,errno=EIO,ns=\n", "bad namespace"},
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		nlogs = 0;
		put_rules(f, bad[i][0]);
		/* A refused file injects nothing. */
		assert_int_equal(put(f, 0, (char)('a' + i)), 0);
		assert_int_equal(get(f, 0), 'a' + i);
		assert_int_equal(nlogs, 1);
		assert_true(last_error);
		if (!strstr(last_log, bad[i][1]))
			fail_msg("file %zu: log '%s' lacks '%s'", i, last_log,
				 bad[i][1]);
		assert_non_null(strstr(last_log, "no faults"));
	}
	/* A good file after bad ones works again; comments and blank lines
	 * are fine. */
	put_rules(f, "\n  # comment\n\top=write , errno=EIO  # tail\n\n");
	assert_int_equal(put(f, 0, 'z'), -EIO);
	assert_false(last_error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nth_count, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kinds_and_ns, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
