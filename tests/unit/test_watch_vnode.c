/*
 * The kqueue watcher's event handling (watch_vnode.c) on real files, with
 * this test playing the kernel: each case changes files the way a writer
 * does, then posts the EVFILT_VNODE events the macOS kernel posts for that
 * change to every descriptor the core holds on the vnodes involved, and
 * expects the callback, reading the file, to see the final content.
 *
 * The events follow xnu's bsd/vfs/kpi_vfs.c: a create posts NOTE_WRITE on
 * the directory; unlink NOTE_DELETE|NOTE_LINK on the file and NOTE_WRITE on
 * the directory; rename NOTE_WRITE on both directories (with NOTE_LINK when
 * a directory changes parents, or replaces one), NOTE_DELETE on a replaced
 * target and NOTE_RENAME on the moved vnode; mkdir NOTE_WRITE|NOTE_LINK on
 * the parent; rmdir NOTE_DELETE|NOTE_LINK on the directory and
 * NOTE_WRITE|NOTE_LINK on the parent; link NOTE_LINK on the file and
 * NOTE_WRITE on the directory. Writes post NOTE_WRITE|NOTE_EXTEND; a
 * truncation or chmod NOTE_ATTRIB. A descriptor on a vnode that is gone
 * receives nothing more, even when a new file reuses the inode number.
 * Time is simulated: the core is given the clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "watch_vnode.h"

/* Handles per case; never reused within one, so a stale handle cannot alias a new one. */
#define HANDLES_MAX 1024
/* Longer than any wait the core asks for. */
#define SETTLED_MS 100

struct fake_fd {
	bool open;
	bool dead; /* its vnode is gone: no more events */
	struct vnode_id id;
};

static char tmp[64];
static struct fake_fd fds[HANDLES_MAX];
static int nfds;
static struct vnode_set *set;
static int64_t clock_ms;
/* Opening this path, or anything under it, fails with fail_errno. */
static char fail_path[256];
static int fail_errno;
/* A new file that reuses an old file's inode number: report alias_real as alias_shown. */
static struct vnode_id alias_real, alias_shown;

struct seen {
	char path[256];
	int calls;
	char content[64];
	struct watch_entry *self; /* set: the callback removes its own entry */
};

static void in_tmp(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s%s%s", tmp, *name ? "/" : "", name);
}

static bool id_at(const char *path, bool follow, struct vnode_id *id, struct stat *st)
{
	if ((follow ? stat(path, st) : lstat(path, st)) != 0)
		return false;
	*id = (struct vnode_id){st->st_dev, st->st_ino};
	if (id->dev == alias_real.dev && id->ino == alias_real.ino)
		*id = alias_shown;
	return true;
}

static int fake_open(void *ctx, const char *path, bool dir, struct vnode_id *id)
{
	size_t flen = strlen(fail_path);
	struct stat st;

	(void)ctx;
	if (fail_errno != 0 && strncmp(path, fail_path, flen) == 0 &&
	    (path[flen] == '\0' || path[flen] == '/')) {
		errno = fail_errno;
		return -1;
	}
	if (!id_at(path, true, id, &st))
		return -1;
	if (dir && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if (nfds == HANDLES_MAX) {
		errno = EMFILE;
		return -1;
	}
	fds[nfds] = (struct fake_fd){.open = true, .id = *id};
	return nfds++;
}

static void fake_close(void *ctx, int h)
{
	(void)ctx;
	CHECK(h >= 0 && h < nfds && fds[h].open);
	if (h >= 0 && h < nfds)
		fds[h].open = false;
}

static int open_handles(void)
{
	int n = 0;

	for (int h = 0; h < nfds; h++)
		n += fds[h].open;
	return n;
}

/* ---- the kernel's side ---------------------------------------------------------------- */

static bool same(const struct vnode_id *a, const struct vnode_id *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

static void post_id(const struct vnode_id *id, unsigned flags)
{
	for (int h = 0; h < nfds; h++)
		if (fds[h].open && !fds[h].dead && same(&fds[h].id, id))
			vnode_event(set, h, flags, clock_ms);
}

static void kill_id(const struct vnode_id *id)
{
	for (int h = 0; h < nfds; h++)
		if (same(&fds[h].id, id))
			fds[h].dead = true;
}

/* Posts flags to the vnode name leads to now (its directory for a parent name). */
static void post(const char *name, unsigned flags)
{
	char p[256];
	struct vnode_id id;
	struct stat st;

	in_tmp(p, sizeof(p), name);
	if (id_at(p, true, &id, &st))
		post_id(&id, flags);
}

static void parent_of(const char *name, char *buf, size_t cap)
{
	const char *slash = strrchr(name, '/');

	snprintf(buf, cap, "%.*s", slash != NULL ? (int)(slash - name) : 0, name);
}

static void post_parent(const char *name, unsigned flags)
{
	char d[256];

	parent_of(name, d, sizeof(d));
	post(d, flags);
}

/* open(O_CREAT | O_TRUNC), write, close: what fopen("w"), fputs, fclose do. */
static void k_write(const char *name, const char *data)
{
	char p[256];
	struct stat st;
	bool existed, had_data;
	int fd;

	in_tmp(p, sizeof(p), name);
	existed = stat(p, &st) == 0;
	had_data = existed && st.st_size > 0;
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	if (!existed)
		post_parent(name, VNODE_WRITE);
	else if (had_data)
		post(name, VNODE_ATTRIB);
	if (*data != '\0') {
		CHECK(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
		post(name, VNODE_WRITE | VNODE_EXTEND);
	}
	close(fd);
}

/* A file made before the watcher looks: no events. */
static void make_file(const char *name, const char *data)
{
	char p[256];
	int fd;

	in_tmp(p, sizeof(p), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
	close(fd);
}

static void k_unlink(const char *name)
{
	char p[256];
	struct vnode_id id;
	struct stat st;

	in_tmp(p, sizeof(p), name);
	CHECK(id_at(p, false, &id, &st));
	CHECK(unlink(p) == 0);
	post_id(&id, VNODE_DELETE | VNODE_LINK);
	if (st.st_nlink == 1)
		kill_id(&id);
	post_parent(name, VNODE_WRITE);
}

static void k_mkdir(const char *name)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	CHECK(mkdir(p, 0700) == 0);
	post_parent(name, VNODE_WRITE | VNODE_LINK);
}

static void k_rmdir(const char *name)
{
	char p[256];
	struct vnode_id id;
	struct stat st;

	in_tmp(p, sizeof(p), name);
	CHECK(id_at(p, false, &id, &st));
	CHECK(rmdir(p) == 0);
	post_id(&id, VNODE_DELETE | VNODE_LINK);
	kill_id(&id);
	post_parent(name, VNODE_WRITE | VNODE_LINK);
}

static void k_symlink(const char *target, const char *name)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	CHECK(symlink(target, p) == 0);
	post_parent(name, VNODE_WRITE);
}

static void k_link(const char *existing, const char *name)
{
	char a[256], b[256];

	in_tmp(a, sizeof(a), existing);
	in_tmp(b, sizeof(b), name);
	CHECK(link(a, b) == 0);
	post(existing, VNODE_LINK);
	post_parent(name, VNODE_WRITE);
}

static void k_chmod(const char *name, mode_t mode)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	CHECK(chmod(p, mode) == 0);
	post(name, VNODE_ATTRIB);
}

static void k_rename(const char *from, const char *to)
{
	char a[256], b[256], pa[256], pb[256];
	struct vnode_id fid, tid;
	struct stat fst, tst;
	bool replaced, dir, moved;
	unsigned events = VNODE_WRITE;

	in_tmp(a, sizeof(a), from);
	in_tmp(b, sizeof(b), to);
	parent_of(from, pa, sizeof(pa));
	parent_of(to, pb, sizeof(pb));
	CHECK(id_at(a, false, &fid, &fst));
	replaced = id_at(b, false, &tid, &tst);
	dir = S_ISDIR(fst.st_mode);
	moved = strcmp(pa, pb) != 0;
	CHECK(rename(a, b) == 0);
	if (dir && ((moved && !replaced) || (!moved && replaced)))
		events |= VNODE_LINK;
	post(pa, events);
	if (moved)
		post(pb, events);
	if (replaced) {
		post_id(&tid, VNODE_DELETE);
		if (S_ISDIR(tst.st_mode) || tst.st_nlink == 1)
			kill_id(&tid);
	}
	post_id(&fid, VNODE_RENAME);
}

static int k_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *name = path + strlen(tmp) + 1;

	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		k_rmdir(name);
	else
		k_unlink(name);
	return 0;
}

static void k_rmtree(const char *name)
{
	char p[256];

	in_tmp(p, sizeof(p), name);
	CHECK(nftw(p, k_rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* ---- the watcher's side --------------------------------------------------------------- */

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
	if (s->self != NULL) {
		vnode_remove(set, s->self);
		s->self = NULL;
	}
}

/* The event loop: runs what is due now, then lets ms pass, waking when the core asks to. */
static void pass(int ms)
{
	int64_t end = clock_ms + ms;

	vnode_run(set, clock_ms);
	for (int i = 0; i < 100000; i++) {
		int to = vnode_timeout_ms(set, clock_ms);

		if (to < 0 || clock_ms + to > end)
			break;
		clock_ms += to;
		vnode_run(set, clock_ms);
	}
	CHECK(vnode_timeout_ms(set, clock_ms) != 0);
	clock_ms = end;
}

static bool saw(const struct seen *s, int calls, const char *want)
{
	if (s->calls != calls || strcmp(s->content, want) != 0) {
		printf("# %s: %d calls, last saw \"%s\"; want %d, \"%s\"\n", s->path, s->calls,
		       s->content, calls, want);
		return false;
	}
	return true;
}

static void watch(struct seen *s, const char *name, struct watch_entry **e)
{
	struct watch_entry *dummy;

	memset(s, 0, sizeof(*s));
	in_tmp(s->path, sizeof(s->path), name);
	CHECK(vnode_add(set, s->path, on_change, s, clock_ms, e != NULL ? e : &dummy) == ZT_OK);
}

static void start(void)
{
	struct vnode_ops ops = {.open = fake_open, .close = fake_close};

	memset(fds, 0, sizeof(fds));
	nfds = 0;
	clock_ms = 1000;
	fail_errno = 0;
	alias_real = alias_shown = (struct vnode_id){0};
	CHECK(vnode_set_new(&ops, &set) == ZT_OK);
	if (set == NULL)
		abort();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void finish(void)
{
	vnode_set_free(set);
	set = NULL;
	CHECK(open_handles() == 0);
	CHECK(nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
	CHECK(mkdir(tmp, 0700) == 0);
}

/* ---- cases ---------------------------------------------------------------------------- */

static void test_rewrite_in_place(void)
{
	struct seen s;
	char p[256];
	int fd;

	start();
	make_file("token", "one");
	watch(&s, "token", NULL);
	CHECK(vnode_timeout_ms(set, clock_ms) == -1);
	k_write("token", "second");
	/* Not while the writes may go on: macOS does not say when the writer closes. */
	vnode_run(set, clock_ms);
	CHECK(s.calls == 0);
	CHECK(vnode_timeout_ms(set, clock_ms) > 0 && vnode_timeout_ms(set, clock_ms) <= 50);
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "second"));

	/* A writer pausing briefly between its writes is read once, at the end. */
	in_tmp(p, sizeof(p), "token");
	fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHECK(fd >= 0);
	post("token", VNODE_ATTRIB);
	for (int i = 0; i < 5; i++) {
		CHECK(write(fd, "ab", 2) == 2);
		post("token", VNODE_WRITE | VNODE_EXTEND);
		pass(10);
	}
	close(fd);
	CHECK(s.calls == 1);
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "ababababab"));

	/* One that never pauses is reported anyway, within about a second. */
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0);
	for (int i = 0; i < 150 && s.calls == 2; i++) {
		CHECK(write(fd, "x", 1) == 1);
		post("token", VNODE_WRITE | VNODE_EXTEND);
		pass(10);
	}
	close(fd);
	CHECK(s.calls == 3);

	/* Each flag alone is enough. */
	k_chmod("token", 0644);
	pass(SETTLED_MS);
	CHECK(s.calls == 4);
	post("token", VNODE_EXTEND);
	pass(SETTLED_MS);
	CHECK(s.calls == 5);
	finish();
}

/* FreeBSD and NetBSD say when the writer closed the file: no wait. */
static void test_close_write(void)
{
	struct seen s;

	start();
	make_file("token", "one");
	watch(&s, "token", NULL);
	k_write("token", "closed");
	post("token", VNODE_CLOSE_WRITE);
	vnode_run(set, clock_ms);
	CHECK(saw(&s, 1, "closed"));
	pass(SETTLED_MS);
	CHECK(s.calls == 1);
	finish();
}

static void test_delete_create(void)
{
	struct seen s;
	char p[256];
	int fd;

	start();
	make_file("token", "one");
	watch(&s, "token", NULL);
	k_unlink("token");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, ""));

	/* Created empty, seen before the first write, then written. */
	in_tmp(p, sizeof(p), "token");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	post("", VNODE_WRITE);
	pass(1);
	CHECK(saw(&s, 2, ""));
	CHECK(write(fd, "created", 7) == 7);
	post("token", VNODE_WRITE | VNODE_EXTEND);
	close(fd);
	pass(SETTLED_MS);
	CHECK(saw(&s, 3, "created"));

	/* And the new file is watched in place. */
	k_write("token", "rewritten");
	pass(SETTLED_MS);
	CHECK(saw(&s, 4, "rewritten"));
	finish();
}

static void test_rename_over(void)
{
	struct seen s;

	start();
	make_file("token", "one");
	watch(&s, "token", NULL);
	k_write("token.tmp", "renamed");
	pass(SETTLED_MS);
	CHECK(s.calls == 0);
	k_rename("token.tmp", "token");
	vnode_run(set, clock_ms);
	CHECK(saw(&s, 1, "renamed"));
	k_write("token.tmp", "renamed again");
	k_rename("token.tmp", "token");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "renamed again"));
	k_write("token", "in place");
	pass(SETTLED_MS);
	CHECK(saw(&s, 3, "in place"));
	finish();
}

static void test_moved_away(void)
{
	struct seen s;

	start();
	make_file("token", "one");
	watch(&s, "token", NULL);
	k_rename("token", "token.old");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, ""));
	/* The moved file is no longer the path. */
	k_write("token.old", "stale");
	pass(SETTLED_MS);
	CHECK(s.calls == 1);
	k_write("token", "new one");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "new one"));
	finish();
}

static void test_symlink_swap(void)
{
	struct seen s;

	start();
	make_file("v1", "one");
	k_symlink("v1", "token");
	watch(&s, "token", NULL);
	k_write("v2", "swapped");
	k_symlink("v2", "token.tmp");
	pass(SETTLED_MS);
	CHECK(s.calls == 0);
	k_rename("token.tmp", "token");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "swapped"));
	/* The new target is watched, the old one no longer. */
	k_write("v2", "rewritten");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "rewritten"));
	k_write("v1", "old target");
	pass(SETTLED_MS);
	CHECK(s.calls == 2);
	finish();
}

static void test_kubernetes(void)
{
	struct seen s;

	start();
	k_mkdir("..2024_a");
	k_write("..2024_a/authtoken.secret", "k8s-one");
	k_symlink("..2024_a", "..data");
	k_symlink("..data/authtoken.secret", "authtoken.secret");
	watch(&s, "authtoken.secret", NULL);

	k_mkdir("..2024_b");
	k_write("..2024_b/authtoken.secret", "k8s-second");
	k_symlink("..2024_b", "..data_tmp");
	k_rename("..data_tmp", "..data");
	k_rmtree("..2024_a");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "k8s-second"));

	/* The same again, with the loop running between the steps. */
	k_mkdir("..2024_c");
	pass(SETTLED_MS);
	k_write("..2024_c/authtoken.secret", "k8s-third-one");
	pass(SETTLED_MS);
	k_symlink("..2024_c", "..data_tmp");
	pass(SETTLED_MS);
	CHECK(s.calls == 1);
	k_rename("..data_tmp", "..data");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "k8s-third-one"));
	k_rmtree("..2024_b");
	pass(SETTLED_MS);
	CHECK(s.calls == 2);
	finish();
}

/* Configured through the "..data" directory link itself: its swap is one directory up. */
static void test_symlinked_directory(void)
{
	struct seen s;

	start();
	k_mkdir("v1");
	k_write("v1/token", "one");
	k_symlink("v1", "current");
	watch(&s, "current/token", NULL);
	k_mkdir("v2");
	k_write("v2/token", "dir swapped");
	k_symlink("v2", "current.tmp");
	k_rename("current.tmp", "current");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "dir swapped"));
	k_write("v2/token", "rewritten");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "rewritten"));
	finish();
}

static void test_target_elsewhere(void)
{
	char target[256];
	struct seen s;

	start();
	k_mkdir("d1");
	k_mkdir("d2");
	in_tmp(target, sizeof(target), "d2/real");
	k_symlink(target, "d1/token");
	watch(&s, "d1/token", NULL);
	/* Dangling at first: only the target's directory hears of its creation. */
	k_write("d2/real", "target created");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "target created"));
	k_write("d2/real", "target rewritten");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "target rewritten"));
	k_write("d2/real.tmp", "target replaced");
	k_rename("d2/real.tmp", "d2/real");
	pass(SETTLED_MS);
	CHECK(saw(&s, 3, "target replaced"));
	finish();
}

static void test_directory_later(void)
{
	struct seen s;
	char p[256];

	start();
	watch(&s, "a/b/token", NULL);
	pass(SETTLED_MS);
	CHECK(s.calls == 0);
	CHECK(vnode_timeout_ms(set, clock_ms) == -1); /* waits for events, not on a timer */
	k_mkdir("a");
	pass(SETTLED_MS);
	k_mkdir("a/b");
	pass(SETTLED_MS);
	CHECK(s.calls == 0);
	k_write("a/b/token", "late");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "late"));
	finish();

	/* All at once, before the watcher looks: only the top directory's event reaches it. */
	start();
	watch(&s, "a/b/token", NULL);
	in_tmp(p, sizeof(p), "a");
	CHECK(mkdir(p, 0700) == 0);
	in_tmp(p, sizeof(p), "a/b");
	CHECK(mkdir(p, 0700) == 0);
	make_file("a/b/token", "at once");
	post("", VNODE_WRITE | VNODE_LINK);
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "at once"));
	finish();
}

static void test_directory_recreated(void)
{
	struct seen s;

	start();
	k_mkdir("d");
	k_write("d/token", "one");
	watch(&s, "d/token", NULL);
	k_rmtree("d");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, ""));
	k_mkdir("d");
	pass(SETTLED_MS);
	CHECK(s.calls == 1);
	k_write("d/token", "recreated");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "recreated"));

	/* Moved away and replaced in one go. */
	k_rename("d", "old");
	k_mkdir("d");
	k_write("d/token", "replaced dir");
	pass(SETTLED_MS);
	CHECK(saw(&s, 3, "replaced dir"));
	/* The moved-away directory is no longer the path. */
	k_write("old/token", "stale");
	k_unlink("old/token");
	pass(SETTLED_MS);
	CHECK(s.calls == 3);
	finish();
}

static void test_unrelated_quiet(void)
{
	struct seen s;
	int kept;

	start();
	make_file("token", "one");
	watch(&s, "token", NULL);
	kept = nfds;
	k_write("other", "noise");
	k_write("other.tmp", "noise");
	k_rename("other.tmp", "other");
	k_mkdir("sub");
	k_rmdir("sub");
	/* (Unlinking it again would post NOTE_DELETE on the file: a spurious report.) */
	k_link("token", "token.hard");
	pass(SETTLED_MS);
	CHECK(s.calls == 0);
	/* The descriptors survived the looks again, and with them any event queued on them. */
	for (int h = 0; h < nfds; h++)
		CHECK(fds[h].open == (h < kept));
	finish();
}

/*
 * A file deleted and a new one that reuses its inode number: the
 * descriptor on the dead vnode hears nothing more, so it must not be kept.
 */
static void test_inode_reused(void)
{
	struct seen s;
	struct vnode_id old;
	struct stat st;
	char p[256];

	start();
	make_file("token", "one");
	watch(&s, "token", NULL);
	in_tmp(p, sizeof(p), "token");
	CHECK(id_at(p, false, &old, &st));
	k_unlink("token");
	make_file("token", "reborn");
	CHECK(stat(p, &st) == 0);
	alias_real = (struct vnode_id){st.st_dev, st.st_ino};
	alias_shown = old;
	post("", VNODE_WRITE);
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "reborn"));
	k_write("token", "rewritten");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "rewritten"));
	finish();
}

/* What exists but cannot be opened (permissions) is looked at again on a timer. */
static void test_unopenable(void)
{
	struct seen s;
	int to;

	start();
	make_file("token", "one");
	in_tmp(fail_path, sizeof(fail_path), "token");
	fail_errno = EACCES;
	watch(&s, "token", NULL);
	to = vnode_timeout_ms(set, clock_ms);
	CHECK(to > 0 && to <= 1000);
	pass(SETTLED_MS);
	CHECK(s.calls == 0);
	fail_errno = 0; /* chmod: an event on the file, which is not watched */
	pass(1000);
	CHECK(saw(&s, 1, "one"));
	CHECK(vnode_timeout_ms(set, clock_ms) == -1);
	k_write("token", "watched now");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "watched now"));
	finish();

	/* The same for a directory on the way, which is waited for in its parent. */
	start();
	k_mkdir("d");
	k_write("d/token", "one");
	in_tmp(fail_path, sizeof(fail_path), "d");
	fail_errno = EACCES;
	watch(&s, "d/token", NULL);
	fail_errno = 0;
	pass(1000 + SETTLED_MS);
	CHECK(saw(&s, 1, "one"));
	k_write("d/token", "two");
	pass(SETTLED_MS);
	CHECK(saw(&s, 2, "two"));
	finish();
}

static void test_symlink_loop(void)
{
	struct seen s;

	start();
	k_symlink("loop1", "token");
	k_symlink("loop2", "loop1");
	k_symlink("loop1", "loop2");
	watch(&s, "token", NULL);
	CHECK(vnode_timeout_ms(set, clock_ms) == -1);
	k_write("real", "out of the loop");
	k_rename("real", "token");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "out of the loop"));
	finish();
}

static void test_relative_path(void)
{
	char cwd[PATH_MAX];
	struct seen s;
	struct watch_entry *e;

	start();
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(tmp) == 0);
	make_file("token", "one");
	memset(&s, 0, sizeof(s));
	in_tmp(s.path, sizeof(s.path), "token");
	CHECK(vnode_add(set, "token", on_change, &s, clock_ms, &e) == ZT_OK);
	k_write("token.tmp", "relative");
	k_rename("token.tmp", "token");
	pass(SETTLED_MS);
	CHECK(saw(&s, 1, "relative"));
	CHECK(chdir(cwd) == 0);
	finish();
}

static void test_bad_paths(void)
{
	static char long_path[PATH_MAX + 8], marker;
	struct watch_entry *e = (struct watch_entry *)(void *)&marker;

	start();
	CHECK(vnode_add(set, "", on_change, NULL, clock_ms, &e) == ZT_ERR_INVALID);
	CHECK(e == NULL);
	memset(long_path, 'a', sizeof(long_path) - 1);
	CHECK(vnode_add(set, long_path, on_change, NULL, clock_ms, &e) == ZT_ERR_TOOBIG);
	finish();
}

/* Several entries: shared directories, the same path twice, removal from a callback. */
static void test_entries(void)
{
	struct seen a, b, c;
	struct watch_entry *ea, *eb, *ec;
	int before;

	start();
	k_mkdir("d");
	k_write("d/a", "a0");
	k_write("d/b", "b0");
	watch(&a, "d/a", &ea);
	watch(&b, "d/b", &eb);
	watch(&c, "d/sub/c", &ec); /* waits in d, the others' directory */
	before = open_handles();
	vnode_remove(set, ea);
	vnode_remove(set, ec);
	CHECK(open_handles() < before);
	k_write("d/b", "b1");
	k_write("d/a", "a1");
	pass(SETTLED_MS);
	CHECK(saw(&b, 1, "b1"));
	CHECK(a.calls == 0 && c.calls == 0);

	/* Many events in one go: one call. */
	k_write("d/b.tmp", "b2");
	k_chmod("d/b", 0644);
	k_rename("d/b.tmp", "d/b");
	k_write("d/b", "b3");
	pass(SETTLED_MS);
	CHECK(saw(&b, 2, "b3"));

	/* Removed from its own callback: reported once, then never again. */
	b.self = eb;
	k_write("d/b", "b4 last one");
	pass(SETTLED_MS);
	CHECK(saw(&b, 3, "b4 last one"));
	k_write("d/b", "b5");
	pass(SETTLED_MS);
	CHECK(b.calls == 3);
	CHECK(open_handles() == 0);

	/* The same path twice: both hear of it, and each can go alone. */
	watch(&a, "d/a", &ea);
	watch(&c, "d/a", &ec);
	k_write("d/a", "a2 twice");
	pass(SETTLED_MS);
	CHECK(saw(&a, 1, "a2 twice"));
	CHECK(saw(&c, 1, "a2 twice"));
	vnode_remove(set, ec);
	k_write("d/a", "a3 once");
	pass(SETTLED_MS);
	CHECK(saw(&a, 2, "a3 once"));
	CHECK(c.calls == 1);
	finish();
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp, sizeof(tmp), "%s/ztp-vnode-XXXXXX", base != NULL && *base ? base : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_rewrite_in_place);
	RUN(test_close_write);
	RUN(test_delete_create);
	RUN(test_rename_over);
	RUN(test_moved_away);
	RUN(test_symlink_swap);
	RUN(test_kubernetes);
	RUN(test_symlinked_directory);
	RUN(test_target_elsewhere);
	RUN(test_directory_later);
	RUN(test_directory_recreated);
	RUN(test_unrelated_quiet);
	RUN(test_inode_reused);
	RUN(test_unopenable);
	RUN(test_symlink_loop);
	RUN(test_relative_path);
	RUN(test_bad_paths);
	RUN(test_entries);
	rmdir(tmp);
	return CHECK_DONE();
}
