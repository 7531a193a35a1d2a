/*
 * The file watcher on real files, for whichever backend this binary is built
 * with: every case changes a file the way some writer does and expects the
 * callback, reading the file, to see the final content within 2 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "watch.h"

#define WAIT_MS 2000

struct seen {
	char path[256];
	int calls;
	char content[64];
	struct timespec at; /* time of the last call */
	struct watch *w;    /* set with self: the callback removes its own entry */
	struct watch_entry *self;
};

static char tmp[64];

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double ms_of(const struct timespec *ts)
{
	return ts->tv_sec * 1e3 + ts->tv_nsec / 1e6;
}

static void on_change(void *arg)
{
	struct seen *s = arg;
	ssize_t n = -1;
	int fd = open(s->path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, s->content, sizeof(s->content) - 1);
		close(fd);
	}
	s->content[n > 0 ? n : 0] = '\0';
	s->calls++;
	clock_gettime(CLOCK_MONOTONIC, &s->at);
	if (s->self != NULL) {
		watch_remove(s->w, s->self);
		s->self = NULL;
	}
}

/* Runs the event loop the way the daemon does, for up to ms or until done(s) holds. */
static void pump(struct watch *w, struct seen *s, const char *want, int ms)
{
	double deadline = now_ms() + ms;

	for (;;) {
		struct pollfd p = {.fd = watch_fd(w), .events = POLLIN};
		double left = deadline - now_ms();
		int to = watch_timeout_ms(w);

		if (s != NULL && s->calls > 0 && strcmp(s->content, want) == 0)
			return;
		if (left <= 0)
			return;
		if (to < 0 || to > left)
			to = (int)left + 1;
		poll(&p, 1, to);
		watch_process(w);
	}
}

static bool wait_for(struct watch *w, struct seen *s, const char *want)
{
	pump(w, s, want, WAIT_MS);
	if (s->calls == 0 || strcmp(s->content, want) != 0)
		printf("# %s: %d calls, last saw \"%s\", want \"%s\"\n", s->path, s->calls,
		       s->content, want);
	return s->calls > 0 && strcmp(s->content, want) == 0;
}

static void in_tmp(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmp, name);
}

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
	close(fd);
}

static void make_dir(const char *name)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	CHECK(mkdir(p, 0700) == 0);
}

static void make_file(const char *name, const char *data)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	write_file(p, data);
}

static void make_link(const char *target, const char *name)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	CHECK(symlink(target, p) == 0);
}

static void rename_in_tmp(const char *from, const char *to)
{
	char a[256], b[256];

	in_tmp(a, sizeof(a), from);
	in_tmp(b, sizeof(b), to);
	CHECK(rename(a, b) == 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *name)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	CHECK(nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* A fresh directory and watcher per case, and s watching name in it. */
static struct watch *start(struct seen *s, const char *name)
{
	struct watch *w = NULL;
	struct watch_entry *e;

	memset(s, 0, sizeof(*s));
	in_tmp(s->path, sizeof(s->path), name);
	CHECK(watch_open(&w) == ZT_OK);
	if (w == NULL)
		abort();
	CHECK(watch_add(w, s->path, on_change, s, &e) == ZT_OK);
	return w;
}

static void finish(struct watch *w)
{
	watch_close(w);
	CHECK(nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
	CHECK(mkdir(tmp, 0700) == 0);
}

static bool is_inotify(void)
{
	return strcmp(watch_backend(), "inotify") == 0;
}

static bool is_poll(void)
{
	return strcmp(watch_backend(), "poll") == 0;
}

static void test_backend(void)
{
	struct watch *w = NULL;

	CHECK(watch_open(&w) == ZT_OK);
	CHECK(is_inotify() || is_poll() || strcmp(watch_backend(), "kqueue") == 0);
	if (!is_poll()) {
		/* Event-driven: a descriptor, and no timer while nothing is pending. */
		CHECK(watch_fd(w) >= 0);
		CHECK(watch_timeout_ms(w) == -1);
	} else {
		CHECK(watch_fd(w) == -1);
		CHECK(watch_timeout_ms(w) == -1); /* nothing to poll yet */
	}
	watch_close(w);
}

static void test_rewrite_in_place(void)
{
	struct seen s;
	struct watch *w;
	double t0;

	make_file("token", "one");
	w = start(&s, "token");
	if (is_poll())
		CHECK(watch_timeout_ms(w) >= 0 && watch_timeout_ms(w) <= 50);
	write_file(s.path, "second");
	t0 = now_ms();
	CHECK(wait_for(w, &s, "second"));
	if (is_inotify()) {
		printf("# inotify reported a rewrite after %.2f ms\n", ms_of(&s.at) - t0);
		CHECK(ms_of(&s.at) - t0 < 100);
	}
	/* And again: still watched after the first report. */
	write_file(s.path, "third!!");
	CHECK(wait_for(w, &s, "third!!"));
	finish(w);
}

static void test_delete_create(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	CHECK(unlink(s.path) == 0);
	pump(w, NULL, NULL, 150);
	make_file("token", "created");
	CHECK(wait_for(w, &s, "created"));
	finish(w);
}

static void test_rename_over(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	make_file("token.tmp", "renamed");
	rename_in_tmp("token.tmp", "token");
	CHECK(wait_for(w, &s, "renamed"));
	make_file("token.tmp", "renamed again");
	rename_in_tmp("token.tmp", "token");
	CHECK(wait_for(w, &s, "renamed again"));
	finish(w);
}

static void test_symlink_swap(void)
{
	struct seen s;
	struct watch *w;

	make_file("v1", "one");
	make_link("v1", "token");
	w = start(&s, "token");
	make_file("v2", "swapped");
	make_link("v2", "token.tmp");
	rename_in_tmp("token.tmp", "token");
	CHECK(wait_for(w, &s, "swapped"));
	/* The new target is watched too. */
	make_file("v2", "rewritten");
	CHECK(wait_for(w, &s, "rewritten"));
	finish(w);
}

static void test_kubernetes(void)
{
	struct seen s;
	struct watch *w;

	make_dir("..2024_a");
	make_file("..2024_a/authtoken.secret", "k8s-one");
	make_link("..2024_a", "..data");
	make_link("..data/authtoken.secret", "authtoken.secret");
	w = start(&s, "authtoken.secret");

	make_dir("..2024_b");
	make_file("..2024_b/authtoken.secret", "k8s-second");
	make_link("..2024_b", "..data_tmp");
	rename_in_tmp("..data_tmp", "..data");
	rm_tree("..2024_a");
	CHECK(wait_for(w, &s, "k8s-second"));

	make_dir("..2024_c");
	make_file("..2024_c/authtoken.secret", "k8s-third-one");
	make_link("..2024_c", "..data_tmp");
	rename_in_tmp("..data_tmp", "..data");
	rm_tree("..2024_b");
	CHECK(wait_for(w, &s, "k8s-third-one"));
	finish(w);
}

/* Configured through the "..data" directory link itself: its swap is one directory up. */
static void test_symlinked_directory(void)
{
	struct seen s;
	struct watch *w;

	make_dir("v1");
	make_file("v1/token", "one");
	make_link("v1", "current");
	w = start(&s, "current/token");
	make_dir("v2");
	make_file("v2/token", "dir swapped");
	make_link("v2", "current.tmp");
	rename_in_tmp("current.tmp", "current");
	CHECK(wait_for(w, &s, "dir swapped"));
	finish(w);
}

static void test_target_elsewhere(void)
{
	char target[256];
	struct seen s;
	struct watch *w;

	make_dir("d1");
	make_dir("d2");
	make_file("d2/real", "one");
	in_tmp(target, sizeof(target), "d2/real");
	make_link(target, "d1/token");
	w = start(&s, "d1/token");
	write_file(target, "target rewritten");
	CHECK(wait_for(w, &s, "target rewritten"));
	write_file(target, "target rewritten 2");
	CHECK(wait_for(w, &s, "target rewritten 2"));
	finish(w);
}

static void test_directory_later(void)
{
	struct seen s;
	struct watch *w;

	w = start(&s, "a/b/token");
	pump(w, NULL, NULL, 100);
	CHECK(s.calls == 0);
	make_dir("a");
	pump(w, NULL, NULL, 100);
	make_dir("a/b");
	pump(w, NULL, NULL, 100);
	make_file("a/b/token", "late");
	CHECK(wait_for(w, &s, "late"));
	finish(w);

	/* All at once, before the watcher looks. */
	w = start(&s, "a/b/token");
	make_dir("a");
	make_dir("a/b");
	make_file("a/b/token", "at once");
	CHECK(wait_for(w, &s, "at once"));
	finish(w);
}

static void test_directory_recreated(void)
{
	struct seen s;
	struct watch *w;

	make_dir("d");
	make_file("d/token", "one");
	w = start(&s, "d/token");
	rm_tree("d");
	pump(w, NULL, NULL, 150);
	make_dir("d");
	pump(w, NULL, NULL, 100);
	make_file("d/token", "recreated");
	CHECK(wait_for(w, &s, "recreated"));

	/* Moved away and replaced in one go. */
	rename_in_tmp("d", "old");
	make_dir("d");
	make_file("d/token", "replaced dir");
	CHECK(wait_for(w, &s, "replaced dir"));
	/* The moved-away directory is no longer the path. */
	pump(w, NULL, NULL, 150);
	s.calls = 0;
	make_file("old/token", "stale");
	pump(w, NULL, NULL, 200);
	CHECK(s.calls == 0);
	finish(w);
}

static void test_unrelated_quiet(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	make_file("other", "noise");
	make_file("other.tmp", "noise");
	rename_in_tmp("other.tmp", "other");
	pump(w, NULL, NULL, 300);
	CHECK(s.calls == 0);
	finish(w);
}

/* Entries sharing a directory (inotify hands out one descriptor per inode). */
static void test_shared_directory(void)
{
	struct seen a, b, c;
	struct watch *w = NULL;
	struct watch_entry *ea, *eb, *ec;

	make_dir("d");
	make_file("d/a", "a0");
	make_file("d/b", "b0");
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	in_tmp(a.path, sizeof(a.path), "d/a");
	in_tmp(b.path, sizeof(b.path), "d/b");
	in_tmp(c.path, sizeof(c.path), "d/sub/c"); /* waits in d, the others' directory */
	CHECK(watch_open(&w) == ZT_OK);
	if (w == NULL)
		return;
	CHECK(watch_add(w, a.path, on_change, &a, &ea) == ZT_OK);
	CHECK(watch_add(w, b.path, on_change, &b, &eb) == ZT_OK);
	CHECK(watch_add(w, c.path, on_change, &c, &ec) == ZT_OK);

	watch_remove(w, ea);
	watch_remove(w, ec);
	/* Had the shared descriptor gone with them, b would hear of it (IN_IGNORED). */
	pump(w, NULL, NULL, 150);
	CHECK(b.calls == 0);
	make_file("d/b", "b1 after removals");
	CHECK(wait_for(w, &b, "b1 after removals"));
	make_file("d/a", "a1");
	pump(w, NULL, NULL, 200);
	CHECK(a.calls == 0);

	/* Removed from its own callback: reported once, then never again. */
	b.w = w;
	b.self = eb;
	b.calls = 0;
	make_file("d/b", "b2 last one");
	CHECK(wait_for(w, &b, "b2 last one"));
	CHECK(b.calls == 1);
	make_file("d/b", "b3");
	pump(w, NULL, NULL, 200);
	CHECK(b.calls == 1);

	/* The same path twice: both hear of it. */
	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	in_tmp(a.path, sizeof(a.path), "d/a");
	in_tmp(c.path, sizeof(c.path), "d/a");
	CHECK(watch_add(w, a.path, on_change, &a, &ea) == ZT_OK);
	CHECK(watch_add(w, c.path, on_change, &c, &ec) == ZT_OK);
	make_file("d/a", "a2 twice");
	CHECK(wait_for(w, &a, "a2 twice"));
	CHECK(wait_for(w, &c, "a2 twice"));
	watch_remove(w, ec);
	make_file("d/a", "a3 once");
	CHECK(wait_for(w, &a, "a3 once"));
	finish(w);
}

/*
 * The cases below match those of the kqueue backend's event handling
 * (test_watch_vnode.c), so that the poll backend is shown to cover them too.
 */

static void test_moved_away(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	rename_in_tmp("token", "token.old");
	CHECK(wait_for(w, &s, ""));
	/* The moved file is no longer the path. */
	pump(w, NULL, NULL, 150);
	s.calls = 0;
	make_file("token.old", "stale");
	pump(w, NULL, NULL, 200);
	CHECK(s.calls == 0);
	make_file("token", "new one");
	CHECK(wait_for(w, &s, "new one"));
	finish(w);
}

/* A writer that pauses between its writes: the final content is what counts. */
static void test_slow_writer(void)
{
	struct seen s;
	struct watch *w;
	int fd;

	make_file("token", "one");
	w = start(&s, "token");
	fd = open(s.path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHECK(fd >= 0);
	for (int i = 0; i < 5 && fd >= 0; i++) {
		CHECK(write(fd, "ab", 2) == 2);
		pump(w, NULL, NULL, 15);
	}
	if (fd >= 0)
		close(fd);
	CHECK(wait_for(w, &s, "ababababab"));
	finish(w);
}

/* A mode change alone (the file may have just become readable) is reported. */
static void test_mode_change(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	CHECK(chmod(s.path, 0644) == 0);
	CHECK(wait_for(w, &s, "one"));
	finish(w);
}

/* A symlink whose target does not exist yet: only the target's directory sees it appear. */
static void test_dangling_target(void)
{
	char target[256];
	struct seen s;
	struct watch *w;

	make_dir("d1");
	make_dir("d2");
	in_tmp(target, sizeof(target), "d2/real");
	make_link(target, "d1/token");
	w = start(&s, "d1/token");
	pump(w, NULL, NULL, 100);
	CHECK(s.calls == 0);
	make_file("d2/real", "target created");
	CHECK(wait_for(w, &s, "target created"));
	finish(w);
}

static void test_symlink_loop(void)
{
	struct seen s;
	struct watch *w;

	make_link("loop1", "token");
	make_link("loop2", "loop1");
	make_link("loop1", "loop2");
	w = start(&s, "token");
	pump(w, NULL, NULL, 100);
	CHECK(s.calls == 0);
	make_file("real", "out of the loop");
	rename_in_tmp("real", "token");
	CHECK(wait_for(w, &s, "out of the loop"));
	finish(w);
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp, sizeof(tmp), "%s/ztp-watch-XXXXXX", base != NULL && *base ? base : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	printf("# backend %s\n", watch_backend());
	RUN(test_backend);
	RUN(test_rewrite_in_place);
	RUN(test_delete_create);
	RUN(test_rename_over);
	RUN(test_symlink_swap);
	RUN(test_kubernetes);
	RUN(test_symlinked_directory);
	RUN(test_target_elsewhere);
	RUN(test_directory_later);
	RUN(test_directory_recreated);
	RUN(test_unrelated_quiet);
	RUN(test_shared_directory);
	RUN(test_moved_away);
	RUN(test_slow_writer);
	RUN(test_mode_change);
	RUN(test_dangling_target);
	RUN(test_symlink_loop);
	rmdir(tmp);
	return CHECK_DONE();
}
