/*
 * The ReadDirectoryChangesW watcher on real files (Windows, or Wine): every
 * case changes a file the way some writer does and expects the callback,
 * reading the file, to see the final content within 2 s. test_watch.c is
 * its POSIX counterpart; its symlink cases have none here (watch_win32.c
 * does not cover them). Under Wine, some changes are also made by Linux
 * programs (/bin/sh through Z:), as happens when the prefix's files are
 * edited from the Linux side.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>

#include "check.h"
#include "watch.h"

#define WAIT_MS     2000
#define PATH_MAX_U8 1024

struct seen {
	char path[PATH_MAX_U8]; /* UTF-8, as given to watch_add() */
	int calls;
	char content[64];
	struct watch *w;          /* with self: the callback removes its own entry */
	struct watch_entry *self; /* cleared once removed */
	struct seen *add;         /* the callback adds this one (once) */
	struct watch_entry *added;
};

static char tmp[PATH_MAX_U8]; /* UTF-8 */

static void wide(const char *path, wchar_t *out, int cap)
{
	if (MultiByteToWideChar(CP_UTF8, 0, path, -1, out, cap) <= 0)
		out[0] = L'\0';
}

static void in_tmp(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s\\%s", tmp, name);
}

static HANDLE open_file(const char *path, DWORD access, DWORD disposition)
{
	wchar_t p[PATH_MAX_U8];

	wide(path, p, PATH_MAX_U8);
	return CreateFileW(p, access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
	                   disposition, FILE_ATTRIBUTE_NORMAL, NULL);
}

static void read_into(const char *path, char *out, size_t cap)
{
	HANDLE h = open_file(path, GENERIC_READ, OPEN_EXISTING);
	DWORD n = 0;

	if (h != INVALID_HANDLE_VALUE) {
		if (!ReadFile(h, out, (DWORD)cap - 1, &n, NULL))
			n = 0;
		CloseHandle(h);
	}
	out[n] = '\0';
}

static void on_change(void *arg)
{
	struct seen *s = arg;

	read_into(s->path, s->content, sizeof(s->content));
	s->calls++;
	if (s->self != NULL) {
		watch_remove(s->w, s->self);
		s->self = NULL;
	}
	if (s->add != NULL) {
		CHECK(watch_add(s->w, s->add->path, on_change, s->add, &s->added) == ZT_OK);
		s->add = NULL;
	}
}

/* Runs the event loop the way daemon/loop.c does, for up to ms or until s has seen want. */
static void pump(struct watch *w, struct seen *s, const char *want, int ms)
{
	ULONGLONG deadline = GetTickCount64() + (ULONGLONG)ms;

	for (;;) {
		ULONGLONG t = GetTickCount64();
		int to = watch_timeout_ms(w);

		if (s != NULL && s->calls > 0 && strcmp(s->content, want) == 0)
			return;
		if (t >= deadline)
			return;
		if (to < 0 || (ULONGLONG)to > deadline - t)
			to = (int)(deadline - t);
		Sleep((DWORD)to);
		if (watch_timeout_ms(w) == 0)
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

static void write_path(const char *path, const char *data, DWORD disposition)
{
	HANDLE h = open_file(path, GENERIC_WRITE, disposition);
	DWORD n = 0;

	CHECK(h != INVALID_HANDLE_VALUE);
	if (h == INVALID_HANDLE_VALUE)
		return;
	CHECK(WriteFile(h, data, (DWORD)strlen(data), &n, NULL) && n == strlen(data));
	CloseHandle(h);
}

/* Creates or replaces the content of name (the same file, if it exists). */
static void make_file(const char *name, const char *data)
{
	char p[PATH_MAX_U8];

	in_tmp(p, sizeof(p), name);
	write_path(p, data, CREATE_ALWAYS);
}

/* Rewrites name in place: truncated and written through the same file. */
static void rewrite_file(const char *name, const char *data)
{
	char p[PATH_MAX_U8];

	in_tmp(p, sizeof(p), name);
	write_path(p, data, TRUNCATE_EXISTING);
}

/* A change to name (a file moved away from the watched path) is not reported. */
static void check_not_watched(struct watch *w, struct seen *s, const char *name)
{
	pump(w, NULL, NULL, 300); /* lets the move's own events settle */
	s->calls = 0;
	rewrite_file(name, "stale");
	pump(w, NULL, NULL, 300);
	CHECK(s->calls == 0);
}

static void make_dir(const char *name)
{
	char p[PATH_MAX_U8];
	wchar_t wp[PATH_MAX_U8];

	in_tmp(p, sizeof(p), name);
	wide(p, wp, PATH_MAX_U8);
	CHECK(CreateDirectoryW(wp, NULL));
}

static void delete_file(const char *name)
{
	char p[PATH_MAX_U8];
	wchar_t wp[PATH_MAX_U8];

	in_tmp(p, sizeof(p), name);
	wide(p, wp, PATH_MAX_U8);
	CHECK(DeleteFileW(wp));
}

static void move_in_tmp(const char *from, const char *to)
{
	char a[PATH_MAX_U8], b[PATH_MAX_U8];
	wchar_t wa[PATH_MAX_U8], wb[PATH_MAX_U8];

	in_tmp(a, sizeof(a), from);
	in_tmp(b, sizeof(b), to);
	wide(a, wa, PATH_MAX_U8);
	wide(b, wb, PATH_MAX_U8);
	CHECK(MoveFileExW(wa, wb, MOVEFILE_REPLACE_EXISTING));
}

static bool rm_tree_w(const wchar_t *path)
{
	wchar_t pattern[PATH_MAX_U8], child[PATH_MAX_U8];
	WIN32_FIND_DATAW fd;
	HANDLE f;
	bool ok = true;

	if (wcslen(path) + 3 > PATH_MAX_U8)
		return false;
	wcscpy(pattern, path);
	wcscat(pattern, L"\\*");
	f = FindFirstFileW(pattern, &fd);
	if (f != INVALID_HANDLE_VALUE) {
		do {
			if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
				continue;
			if (wcslen(path) + 1 + wcslen(fd.cFileName) + 1 > PATH_MAX_U8) {
				ok = false;
				continue;
			}
			wcscpy(child, path);
			wcscat(child, L"\\");
			wcscat(child, fd.cFileName);
			if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
				ok &= rm_tree_w(child);
			else
				ok &= SetFileAttributesW(child, FILE_ATTRIBUTE_NORMAL) &&
				      DeleteFileW(child);
		} while (FindNextFileW(f, &fd));
		FindClose(f);
	}
	return RemoveDirectoryW(path) && ok;
}

static void rm_tree(const char *name)
{
	char p[PATH_MAX_U8];
	wchar_t wp[PATH_MAX_U8];

	in_tmp(p, sizeof(p), name);
	wide(p, wp, PATH_MAX_U8);
	CHECK(rm_tree_w(wp));
}

static bool on_wine(void)
{
	HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");

	return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

/*
 * Under Wine only: runs script with /bin/sh in the temporary directory,
 * that is, changes the files from the Linux side. Wine starts Unix programs
 * but cannot wait for them: the script leaves its exit status next to the
 * temporary directory.
 */
static bool linux_sh(const char *script)
{
	char line[1024], rc[PATH_MAX_U8], status[16] = "";
	wchar_t cmd[1024], dir[PATH_MAX_U8], wrc[PATH_MAX_U8];
	STARTUPINFOW si = {.cb = sizeof(si)};
	PROCESS_INFORMATION pi;

	snprintf(line, sizeof(line), "/bin/sh -c \"(%s); echo $? > ../${PWD##*/}.rc\"", script);
	snprintf(rc, sizeof(rc), "%s.rc", tmp);
	wide(line, cmd, 1024);
	wide(tmp, dir, PATH_MAX_U8);
	wide(rc, wrc, PATH_MAX_U8);
	DeleteFileW(wrc);
	if (!CreateProcessW(L"Z:\\bin\\sh", cmd, NULL, NULL, FALSE, 0, NULL, dir, &si, &pi))
		return false;
	CloseHandle(pi.hThread);
	CloseHandle(pi.hProcess);
	for (int i = 0; i < 1000 && strchr(status, '\n') == NULL; i++) {
		Sleep(5);
		read_into(rc, status, sizeof(status));
	}
	DeleteFileW(wrc);
	if (strcmp(status, "0\n") != 0)
		printf("# sh -c '%s': status \"%s\"\n", script, status);
	return strcmp(status, "0\n") == 0;
}

/*
 * Creates directory name, which was just removed. Windows may keep a deleted
 * directory that is still open (by the watcher) until the watcher lets go.
 */
static void remake_dir(struct watch *w, const char *name)
{
	char p[PATH_MAX_U8];
	wchar_t wp[PATH_MAX_U8];
	bool made = false;

	in_tmp(p, sizeof(p), name);
	wide(p, wp, PATH_MAX_U8);
	for (int i = 0; i < WAIT_MS / 20 && !made; i++) {
		made = CreateDirectoryW(wp, NULL);
		if (!made)
			pump(w, NULL, NULL, 20);
	}
	CHECK(made);
}

static void init_seen(struct seen *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	in_tmp(s->path, sizeof(s->path), name);
}

/* A fresh watcher per case, and s watching name in the temporary directory. */
static struct watch *start(struct seen *s, const char *name)
{
	struct watch *w = NULL;
	struct watch_entry *e;

	init_seen(s, name);
	CHECK(watch_open(&w) == ZT_OK);
	if (w == NULL)
		abort();
	CHECK(watch_add(w, s->path, on_change, s, &e) == ZT_OK);
	return w;
}

/* Closes the watcher and empties the temporary directory. */
static void finish(struct watch *w)
{
	wchar_t wp[PATH_MAX_U8];

	watch_close(w);
	wide(tmp, wp, PATH_MAX_U8);
	CHECK(rm_tree_w(wp));
	CHECK(CreateDirectoryW(wp, NULL));
}

static void test_backend(void)
{
	struct watch *w = NULL;
	struct watch_entry *e = NULL;
	struct seen s;
	int t;

	CHECK(watch_open(&w) == ZT_OK);
	if (w == NULL)
		return;
	CHECK_STR(watch_backend(), "ReadDirectoryChangesW");
	/* select() waits only on sockets: a timer, and none while nothing is watched. */
	CHECK(watch_fd(w) == -1);
	CHECK(watch_timeout_ms(w) == -1);
	make_file("token", "one");
	init_seen(&s, "token");
	CHECK(watch_add(w, s.path, on_change, &s, &e) == ZT_OK);
	t = watch_timeout_ms(w);
	CHECK(t >= 0 && t <= 100);
	watch_remove(w, e);
	CHECK(watch_timeout_ms(w) == -1);
	/* Nothing to split, and not UTF-8. */
	CHECK(watch_add(w, "", on_change, &s, &e) == ZT_ERR_INVALID);
	CHECK(e == NULL);
	CHECK(watch_add(w, "bad\xff\xfe", on_change, &s, &e) == ZT_ERR_INVALID);
	{
		char dir[PATH_MAX_U8];

		in_tmp(dir, sizeof(dir), "sub\\");
		CHECK(watch_add(w, dir, on_change, &s, &e) == ZT_ERR_INVALID);
	}
	finish(w);
}

static void test_rewrite_in_place(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	pump(w, NULL, NULL, 150);
	CHECK(s.calls == 0); /* only later changes are news */
	rewrite_file("token", "second");
	CHECK(wait_for(w, &s, "second"));
	/* And again: still watched after the first report. */
	rewrite_file("token", "third!!");
	CHECK(wait_for(w, &s, "third!!"));
	pump(w, NULL, NULL, 300);
	CHECK(s.calls == 2);
	finish(w);
}

static void test_delete_create(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	delete_file("token");
	pump(w, NULL, NULL, 300);
	CHECK(s.calls == 1 && s.content[0] == '\0'); /* the deletion itself */
	make_file("token", "created");
	CHECK(wait_for(w, &s, "created"));
	finish(w);
}

static void test_rename_over(void)
{
	char a[PATH_MAX_U8], b[PATH_MAX_U8];
	wchar_t wa[PATH_MAX_U8], wb[PATH_MAX_U8];
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	make_file("token.tmp", "renamed");
	move_in_tmp("token.tmp", "token");
	CHECK(wait_for(w, &s, "renamed"));
	make_file("token.tmp", "renamed again");
	move_in_tmp("token.tmp", "token");
	CHECK(wait_for(w, &s, "renamed again"));
	/* Several records (old name, new name) in one go give one callback each time. */
	pump(w, NULL, NULL, 300);
	CHECK(s.calls == 2);

	/* C's rename() does not replace on Windows: remove, then rename. */
	make_file("token.tmp", "c rename");
	in_tmp(a, sizeof(a), "token.tmp");
	in_tmp(b, sizeof(b), "token");
	wide(a, wa, PATH_MAX_U8);
	wide(b, wb, PATH_MAX_U8);
	CHECK(_wremove(wb) == 0);
	CHECK(_wrename(wa, wb) == 0);
	CHECK(wait_for(w, &s, "c rename"));
	finish(w);
}

static void test_moved_away(void)
{
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	move_in_tmp("token", "token.old");
	CHECK(wait_for(w, &s, ""));
	/* The moved file is no longer the path. */
	check_not_watched(w, &s, "token.old");
	make_file("token", "new one");
	CHECK(wait_for(w, &s, "new one"));
	finish(w);
}

static void test_directory_later(void)
{
	struct seen s;
	struct watch *w;

	/* '/' separators, and two missing directories. */
	w = start(&s, "a/b/token");
	pump(w, NULL, NULL, 150);
	CHECK(s.calls == 0);
	make_dir("a");
	pump(w, NULL, NULL, 150);
	make_dir("a\\b");
	pump(w, NULL, NULL, 150);
	CHECK(s.calls == 0); /* the directory alone is no news */
	make_file("a\\b\\token", "late");
	CHECK(wait_for(w, &s, "late"));
	finish(w);

	/* All at once, before the watcher looks. */
	w = start(&s, "a\\b\\token");
	make_dir("a");
	make_dir("a\\b");
	make_file("a\\b\\token", "at once");
	CHECK(wait_for(w, &s, "at once"));
	finish(w);
}

/*
 * Wine, unlike Windows, removes a directory deleted through the Windows API
 * only once no handle has it open, and tells the handles nothing: under Wine
 * the directory is removed from the Linux side instead.
 */
static void remove_dir(const char *name)
{
	char script[256];

	if (!on_wine()) {
		rm_tree(name);
		return;
	}
	snprintf(script, sizeof(script), "rm -r %s", name);
	CHECK(linux_sh(script));
}

static void test_directory_recreated(void)
{
	struct seen s;
	struct watch *w;

	make_dir("d");
	make_file("d\\token", "one");
	w = start(&s, "d\\token");
	remove_dir("d");
	CHECK(wait_for(w, &s, "")); /* gone */
	remake_dir(w, "d");
	pump(w, NULL, NULL, 150);
	make_file("d\\token", "recreated");
	CHECK(wait_for(w, &s, "recreated"));

	/* Removed and recreated, file and all, between two looks. */
	if (on_wine()) {
		CHECK(linux_sh("rm -r d && mkdir d && printf 'between looks' > d/token"));
	} else {
		rm_tree("d");
		remake_dir(w, "d");
		make_file("d\\token", "between looks");
	}
	CHECK(wait_for(w, &s, "between looks"));

	/* Moved away and replaced in one go. */
	move_in_tmp("d", "old");
	make_dir("d");
	make_file("d\\token", "replaced dir");
	CHECK(wait_for(w, &s, "replaced dir"));
	/* The moved-away directory is no longer the path. */
	check_not_watched(w, &s, "old\\token");
	rewrite_file("d\\token", "still watched");
	CHECK(wait_for(w, &s, "still watched"));
	finish(w);
}

/* Under Wine: changes made by Linux programs to files in the prefix's drive_c. */
static void test_linux_side(void)
{
	struct seen s;
	struct watch *w;

	if (!on_wine()) {
		printf("# not under Wine: nothing to do\n");
		return;
	}
	make_file("token", "one");
	w = start(&s, "token");
	CHECK(linux_sh("printf 'linux rewrite' > token"));
	CHECK(wait_for(w, &s, "linux rewrite"));
	CHECK(linux_sh("printf 'linux rename' > token.tmp && mv token.tmp token"));
	CHECK(wait_for(w, &s, "linux rename"));
	CHECK(linux_sh("rm token"));
	CHECK(wait_for(w, &s, ""));
	CHECK(linux_sh("printf 'linux create' > token"));
	CHECK(wait_for(w, &s, "linux create"));
	pump(w, NULL, NULL, 300);
	s.calls = 0;
	CHECK(linux_sh("chmod 0400 token"));
	CHECK(wait_for(w, &s, "linux create"));
	pump(w, NULL, NULL, 300);
	s.calls = 0;
	CHECK(linux_sh("printf noise > other && mv other other2 && rm other2"));
	pump(w, NULL, NULL, 300);
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
	move_in_tmp("other.tmp", "other");
	make_file("token2", "noise");
	make_file("tok", "noise");
	make_dir("tokendir");
	pump(w, NULL, NULL, 400);
	CHECK(s.calls == 0);
	finish(w);
}

/* Two entries in one directory: each hears of its own file only. */
static void test_shared_directory(void)
{
	struct seen a, b, c;
	struct watch *w = NULL;
	struct watch_entry *ea, *eb, *ec;

	make_dir("d");
	make_file("d\\a", "a0");
	make_file("d\\b", "b0");
	init_seen(&a, "d\\a");
	init_seen(&b, "d/b");
	CHECK(watch_open(&w) == ZT_OK);
	if (w == NULL)
		return;
	CHECK(watch_add(w, a.path, on_change, &a, &ea) == ZT_OK);
	CHECK(watch_add(w, b.path, on_change, &b, &eb) == ZT_OK);

	rewrite_file("d\\b", "b1");
	CHECK(wait_for(w, &b, "b1"));
	make_file("d\\other", "noise");
	pump(w, NULL, NULL, 300);
	CHECK(a.calls == 0);
	CHECK(b.calls == 1);
	rewrite_file("d\\a", "a1");
	CHECK(wait_for(w, &a, "a1"));
	pump(w, NULL, NULL, 300);
	CHECK(b.calls == 1);

	/* b's directory stays watched when a, sharing it, goes. */
	watch_remove(w, ea);
	rewrite_file("d\\b", "b2 after a went");
	CHECK(wait_for(w, &b, "b2 after a went"));

	/* The same path twice: both hear of it; then one goes. */
	init_seen(&a, "d\\a");
	init_seen(&c, "d\\a");
	CHECK(watch_add(w, a.path, on_change, &a, &ea) == ZT_OK);
	CHECK(watch_add(w, c.path, on_change, &c, &ec) == ZT_OK);
	rewrite_file("d\\a", "a2 twice");
	CHECK(wait_for(w, &a, "a2 twice"));
	CHECK(wait_for(w, &c, "a2 twice"));
	watch_remove(w, ec);
	rewrite_file("d\\a", "a3 once");
	CHECK(wait_for(w, &a, "a3 once"));
	CHECK(c.calls == 1);
	finish(w);
}

/* Callbacks that remove their own entry, and add another. */
static void test_callback_edits(void)
{
	struct seen a, b, c;
	struct watch *w = NULL;
	struct watch_entry *ea, *eb;

	make_file("a", "a0");
	make_file("b", "b0");
	init_seen(&a, "a");
	init_seen(&b, "b");
	init_seen(&c, "c\\token");
	CHECK(watch_open(&w) == ZT_OK);
	if (w == NULL)
		return;
	CHECK(watch_add(w, a.path, on_change, &a, &ea) == ZT_OK);
	CHECK(watch_add(w, b.path, on_change, &b, &eb) == ZT_OK);
	a.w = w;
	a.self = ea;
	b.w = w;
	b.add = &c;
	c.w = w;
	c.self = NULL;

	/* Both in the same tick: a removes itself while b adds c. */
	rewrite_file("a", "a1 last one");
	rewrite_file("b", "b1");
	CHECK(wait_for(w, &a, "a1 last one"));
	CHECK(wait_for(w, &b, "b1"));
	CHECK(a.calls == 1);
	CHECK(b.added != NULL);
	rewrite_file("a", "a2");
	pump(w, NULL, NULL, 300);
	CHECK(a.calls == 1);

	/* The entry added from a callback, in a directory that appears later. */
	make_dir("c");
	make_file("c\\token", "c1");
	CHECK(wait_for(w, &c, "c1"));

	/* The last entry of a directory removes itself. */
	c.self = b.added;
	rewrite_file("c\\token", "c2 last");
	CHECK(wait_for(w, &c, "c2 last"));
	rewrite_file("c\\token", "c3");
	pump(w, NULL, NULL, 300);
	CHECK(c.calls == 2);
	watch_remove(w, eb);
	CHECK(watch_timeout_ms(w) == -1);
	finish(w);
}

/* NTFS compares names case-insensitively, and paths are UTF-8. */
static void test_case_and_utf8(void)
{
	struct seen s;
	struct watch *w;

	make_dir("d\xc3\xa9j\xc3\xa0");                                   /* déjà */
	make_file("d\xc3\xa9j\xc3\xa0\\t\xc3\xb6k\xc3\xa9n", "one");      /* tökén */
	w = start(&s, "D\xc3\x89J\xc3\x80\\T\xc3\x96K\xc3\x89N");         /* DÉJÀ\TÖKÉN */
	rewrite_file("d\xc3\xa9j\xc3\xa0\\t\xc3\xb6k\xc3\xa9n", "utf-8"); /* as spelled on disk */
	CHECK(wait_for(w, &s, "utf-8"));
	make_file("d\xc3\xa9j\xc3\xa0\\t\xc3\xb6k\xc3\xa9n.tmp", "renamed");
	move_in_tmp("d\xc3\xa9j\xc3\xa0\\t\xc3\xb6k\xc3\xa9n.tmp",
	            "d\xc3\xa9j\xc3\xa0\\T\xc3\xb6K\xc3\xa9n");
	CHECK(wait_for(w, &s, "renamed"));
	finish(w);
}

/* A writer that pauses between its writes: reported once, with the final content. */
static void test_slow_writer(void)
{
	struct seen s;
	struct watch *w;
	HANDLE h;

	make_file("token", "one");
	w = start(&s, "token");
	h = open_file(s.path, GENERIC_WRITE, TRUNCATE_EXISTING);
	CHECK(h != INVALID_HANDLE_VALUE);
	for (int i = 0; i < 5 && h != INVALID_HANDLE_VALUE; i++) {
		DWORD n = 0;

		CHECK(WriteFile(h, "ab", 2, &n, NULL) && n == 2);
		pump(w, NULL, NULL, 20);
	}
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	CHECK(wait_for(w, &s, "ababababab"));
	printf("# slow writer: %d call(s)\n", s.calls);
	CHECK(s.calls == 1);
	finish(w);
}

/* The read-only attribute changed: the file may have become readable, or not. */
static void test_attributes(void)
{
	char p[PATH_MAX_U8];
	wchar_t wp[PATH_MAX_U8];
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	in_tmp(p, sizeof(p), "token");
	wide(p, wp, PATH_MAX_U8);
	CHECK(SetFileAttributesW(wp, FILE_ATTRIBUTE_READONLY));
	CHECK(wait_for(w, &s, "one"));
	finish(w);
}

/* More records than the buffer holds: the change is still reported. */
static void test_flood(void)
{
	char name[64];
	struct seen s;
	struct watch *w;

	make_file("token", "one");
	w = start(&s, "token");
	for (int i = 0; i < 400; i++) {
		snprintf(name, sizeof(name), "noise-%04d-padding-padding-padding-padding", i);
		make_file(name, "x");
	}
	rewrite_file("token", "after the flood");
	CHECK(wait_for(w, &s, "after the flood"));
	finish(w);
}

static bool make_tmp(void)
{
	wchar_t base[MAX_PATH + 1], dir[PATH_MAX_U8];
	char b[PATH_MAX_U8];
	DWORD n = GetTempPathW(MAX_PATH + 1, base);

	if (n == 0 || n > MAX_PATH ||
	    WideCharToMultiByte(CP_UTF8, 0, base, -1, b, sizeof(b), NULL, NULL) <= 0)
		return false;
	n = (DWORD)strlen(b);
	while (n > 0 && (b[n - 1] == '\\' || b[n - 1] == '/'))
		b[--n] = '\0';
	snprintf(tmp, sizeof(tmp), "%s\\ztp-watch-%lu-%llu", b,
	         (unsigned long)GetCurrentProcessId(), (unsigned long long)GetTickCount64());
	wide(tmp, dir, PATH_MAX_U8);
	return CreateDirectoryW(dir, NULL);
}

int main(void)
{
	wchar_t dir[PATH_MAX_U8];

	if (!make_tmp()) {
		printf("# cannot make a temporary directory (%lu)\n",
		       (unsigned long)GetLastError());
		return 1;
	}
	printf("# backend %s in %s\n", watch_backend(), tmp);
	RUN(test_backend);
	RUN(test_rewrite_in_place);
	RUN(test_delete_create);
	RUN(test_rename_over);
	RUN(test_moved_away);
	RUN(test_directory_later);
	RUN(test_directory_recreated);
	RUN(test_unrelated_quiet);
	RUN(test_shared_directory);
	RUN(test_callback_edits);
	RUN(test_case_and_utf8);
	RUN(test_slow_writer);
	RUN(test_attributes);
	RUN(test_flood);
	RUN(test_linux_side);
	wide(tmp, dir, PATH_MAX_U8);
	rm_tree_w(dir);
	return CHECK_DONE();
}
