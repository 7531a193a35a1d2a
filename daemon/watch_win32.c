/*
 * File watching with ReadDirectoryChangesW (Windows).
 *
 * Entries in one directory share a directory handle, on which an overlapped
 * ReadDirectoryChangesW (that directory only, no subtree) is always
 * outstanding. The event loop can wait only on sockets (select), not
 * on the reads' completion events, so the reads are collected on a timer:
 * every TICK_MS, watch_process() takes each directory's finished reads,
 * matches the records' file names against the directory's entries
 * (case-insensitively, as NTFS compares names), and re-arms the read. A read
 * that completes with no records (the system's buffer overflowed) reports
 * every entry of that directory, as does ERROR_NOTIFY_ENUM_DIR (which Wine
 * gives instead). Any action on the name counts: created,
 * removed, modified, renamed away or renamed over.
 *
 * Windows has no "closed after writing" event, and a record may come while
 * the writer is half-way through. An entry is therefore reported on the
 * first tick that brings no new record for it: a writer that never pauses
 * for a whole tick is reported once, after its last write (100 to 200 ms
 * later); one that never stops is reported every SETTLE_TICKS ticks anyway.
 *
 * A directory that does not exist (yet), or not any more, or is no longer
 * the one at its path (deleted, or renamed away and replaced): a failed read
 * closes its handle, and every tick checks that the open directory is not
 * "delete pending" and that the path still names it (volume serial number
 * and file index), and tries to open a missing one again, however much of
 * the path is missing. Losing the directory reports its entries; finding it
 * again reports those whose file exists. A handle is never kept on a deleted
 * directory: Windows cannot create one of that name while it is open.
 * Wine 8 falls short here: it removes a directory deleted through its API
 * only once no handle has it open, and tells the handles nothing, so there a
 * directory that a Windows program deletes stays (and stays watched) while
 * watched; one deleted from the Linux side is seen to go.
 *
 * Not covered, unlike watch.h's other backends: symbolic links and junctions.
 * A path is watched in the directory that its directory resolves to: a swap
 * of that directory's link is seen (by the identity check), and so is a swap
 * of the file's own link (a rename in its directory), but not a change to
 * the file that a symlinked file points to, nor a Kubernetes-style "..data"
 * swap. Nor are records that name a file by its 8.3 short name (the path's
 * own spelling is compared), nor file systems without change notification:
 * watch_add() says ZT_ERR_UNSUPPORTED there.
 *
 * Callbacks may call watch_remove() and watch_add(), but not watch_process()
 * or watch_close().
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 /* Windows 7: CancelIoEx, CompareStringOrdinal, GetTickCount64 */
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>

#include "watch.h"

/*
 * How often watch_process() wants to run while anything is watched. The loop
 * cannot wait on the reads' completions, so they are picked up this often:
 * short enough that a change is seen within a fraction of a second, long
 * enough that an idle daemon barely wakes.
 */
#define TICK_MS 100
/* Ticks of constant change (one second) after which an entry is reported anyway. */
#define SETTLE_TICKS 10
/* Each directory's record buffer. Overflowing it: a read of 0 bytes, or ERROR_NOTIFY_ENUM_DIR. */
#define BUF_BYTES (16 * 1024)
/* Reads taken per directory and tick, so that a flood of changes cannot starve the loop. */
#define READS_MAX 16
/* Windows' own limits, in UTF-16 units with the NUL: a path, and a name (NTFS: 255). */
#define PATH_CAP 32768
#define NAME_CAP 256
/* UTF-8 bytes accepted for a path: at most 3 per UTF-16 unit. */
#define PATH_UTF8_CAP (3 * PATH_CAP)

/*
 * Names, sizes, times, and attributes and security (a file may have just
 * become readable, as inotify's IN_ATTRIB covers elsewhere).
 */
#define NOTIFY_FILTER                                                                              \
	(FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_DIR_NAME |                              \
	 FILE_NOTIFY_CHANGE_LAST_WRITE | FILE_NOTIFY_CHANGE_SIZE | FILE_NOTIFY_CHANGE_CREATION |   \
	 FILE_NOTIFY_CHANGE_ATTRIBUTES | FILE_NOTIFY_CHANGE_SECURITY)

#define SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

struct watch_dir {
	struct watch_dir *next;
	wchar_t *path; /* full path */
	HANDLE h;      /* INVALID_HANDLE_VALUE while the directory is missing */
	OVERLAPPED ov; /* ov.hEvent lives as long as the struct */
	bool reading;  /* a read is outstanding: ov and buf belong to the system */
	bool have_id;  /* the file system gave vol and idx below */
	DWORD vol, idx_hi, idx_lo;
	unsigned refs;                        /* live entries in this directory */
	DWORD buf[BUF_BYTES / sizeof(DWORD)]; /* DWORD-aligned, as ReadDirectoryChangesW wants */
};

struct watch_entry {
	struct watch_entry *next;
	struct watch_dir *dir; /* NULL once removed */
	wchar_t *path;         /* full path */
	const wchar_t *name;   /* its last component, inside path */
	int name_len;
	watch_cb cb;
	void *arg;
	bool changed; /* something named it since the last tick */
	int settling; /* ticks in a row that brought changes; 0: nothing to report */
	bool removed; /* freed when watch_process() returns */
};

struct watch {
	struct watch_entry *entries;
	struct watch_dir *dirs; /* empty exactly when no live entry is left */
	ULONGLONG due;          /* GetTickCount64() time of the next tick */
	bool busy;              /* inside watch_process(): removed entries must stay allocated */
};

const char *watch_backend(void)
{
	return "ReadDirectoryChangesW";
}

static void schedule(struct watch *w)
{
	w->due = GetTickCount64() + TICK_MS;
}

enum zt_err watch_open(struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));

	*out = w;
	if (w == NULL)
		return ZT_ERR_NOMEM;
	schedule(w);
	return ZT_OK;
}

int watch_fd(const struct watch *w)
{
	(void)w;
	return -1;
}

int watch_timeout_ms(const struct watch *w)
{
	ULONGLONG t;

	if (w->dirs == NULL)
		return -1;
	t = GetTickCount64();
	return t >= w->due ? 0 : (int)(w->due - t);
}

static bool is_sep(wchar_t c)
{
	return c == L'\\' || c == L'/';
}

static bool same_name(const wchar_t *a, int alen, const wchar_t *b, int blen)
{
	return CompareStringOrdinal(a, alen, b, blen, TRUE) == CSTR_EQUAL;
}

/*
 * The full path of the UTF-8 path (relative to the current directory if
 * it is), in *full, and its directory in *dir; both to be freed. *name_at
 * is where the last component starts in *full.
 */
static enum zt_err split_path(const char *path, wchar_t **full, wchar_t **dir, size_t *name_at)
{
	wchar_t *wide, *f, *d;
	size_t len = strlen(path), at, dlen;
	int n;
	DWORD need, got;

	*full = *dir = NULL;
	if (len == 0)
		return ZT_ERR_INVALID;
	if (len >= PATH_UTF8_CAP)
		return ZT_ERR_TOOBIG;
	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
	if (n <= 0)
		return ZT_ERR_INVALID;
	if (n > PATH_CAP)
		return ZT_ERR_TOOBIG;
	wide = malloc((size_t)n * sizeof(*wide));
	if (wide == NULL)
		return ZT_ERR_NOMEM;
	MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, wide, n);
	need = GetFullPathNameW(wide, 0, NULL, NULL);
	if (need == 0 || need > PATH_CAP) {
		free(wide);
		return need == 0 ? ZT_ERR_INVALID : ZT_ERR_TOOBIG;
	}
	f = malloc(need * sizeof(*f));
	if (f == NULL) {
		free(wide);
		return ZT_ERR_NOMEM;
	}
	got = GetFullPathNameW(wide, need, f, NULL);
	free(wide);
	if (got == 0 || got >= need) {
		free(f);
		return ZT_ERR_IO; /* the current directory changed in between */
	}
	for (at = got; at > 0 && !is_sep(f[at - 1]); at--)
		;
	/* A full path always has a separator; a name is needed after the last one. */
	if (at == 0 || at == got) {
		free(f);
		return ZT_ERR_INVALID;
	}
	if (got - at >= NAME_CAP) {
		free(f);
		return ZT_ERR_TOOBIG;
	}
	/* The directory without trailing separators, except for a root: "C:\", "\\?\C:\", "\". */
	for (dlen = at - 1; dlen > 0 && is_sep(f[dlen - 1]); dlen--)
		;
	if (dlen == 0 || f[dlen - 1] == L':')
		dlen++;
	d = malloc((dlen + 1) * sizeof(*d));
	if (d == NULL) {
		free(f);
		return ZT_ERR_NOMEM;
	}
	memcpy(d, f, dlen * sizeof(*d));
	d[dlen] = L'\0';
	*full = f;
	*dir = d;
	*name_at = at;
	return ZT_OK;
}

/* Starts the next read; false if the directory cannot be read (any more). */
static bool arm(struct watch_dir *d)
{
	HANDLE ev = d->ov.hEvent;

	memset(&d->ov, 0, sizeof(d->ov));
	d->ov.hEvent = ev;
	if (!ReadDirectoryChangesW(d->h, d->buf, sizeof(d->buf), FALSE, NOTIFY_FILTER, NULL, &d->ov,
	                           NULL))
		return false;
	d->reading = true;
	return true;
}

static void close_dir(struct watch_dir *d)
{
	DWORD n;

	if (d->h == INVALID_HANDLE_VALUE)
		return;
	if (d->reading) {
		/* The system writes to ov and buf until the read has ended, cancelled or not. */
		CancelIoEx(d->h, &d->ov);
		GetOverlappedResult(d->h, &d->ov, &n, TRUE);
		d->reading = false;
	}
	CloseHandle(d->h);
	d->h = INVALID_HANDLE_VALUE;
}

/* Opens d's directory and starts reading it: 0, or the Windows error. */
static DWORD open_dir(struct watch_dir *d)
{
	BY_HANDLE_FILE_INFORMATION fi;
	DWORD err;

	d->h = CreateFileW(d->path, FILE_LIST_DIRECTORY, SHARE_ALL, NULL, OPEN_EXISTING,
	                   FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED, NULL);
	if (d->h == INVALID_HANDLE_VALUE)
		return GetLastError();
	d->have_id = GetFileInformationByHandle(d->h, &fi);
	if (d->have_id && (fi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
		err = ERROR_DIRECTORY;
	} else if (!arm(d)) {
		err = GetLastError();
	} else {
		d->vol = fi.dwVolumeSerialNumber;
		d->idx_hi = fi.nFileIndexHigh;
		d->idx_lo = fi.nFileIndexLow;
		return 0;
	}
	close_dir(d);
	return err != 0 ? err : ERROR_GEN_FAILURE;
}

/*
 * False when d's path no longer names the directory d has open: deleted
 * (Windows keeps a deleted directory that is still open as "delete pending",
 * and may not fail the read), or another one in its place. The path is
 * opened for attributes only, which no other opener's sharing mode refuses.
 */
static bool still_there(const struct watch_dir *d)
{
	FILE_STANDARD_INFO si;
	BY_HANDLE_FILE_INFORMATION fi;
	HANDLE h;
	bool same;

	if (GetFileInformationByHandleEx(d->h, FileStandardInfo, &si, sizeof(si)) &&
	    si.DeletePending)
		return false;
	h = CreateFileW(d->path, FILE_READ_ATTRIBUTES, SHARE_ALL, NULL, OPEN_EXISTING,
	                FILE_FLAG_BACKUP_SEMANTICS, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return GetLastError() == ERROR_SHARING_VIOLATION;
	/* Without an identity to compare, only a failed read tells. */
	same = !d->have_id || !GetFileInformationByHandle(h, &fi) ||
	       (fi.dwVolumeSerialNumber == d->vol && fi.nFileIndexHigh == d->idx_hi &&
	        fi.nFileIndexLow == d->idx_lo);
	CloseHandle(h);
	return same;
}

/* Marks d's entries as changed; with only_existing, those whose file exists. */
static void mark_dir(struct watch *w, const struct watch_dir *d, bool only_existing)
{
	for (struct watch_entry *e = w->entries; e != NULL; e = e->next)
		if (!e->removed && e->dir == d &&
		    (!only_existing || GetFileAttributesW(e->path) != INVALID_FILE_ATTRIBUTES))
			e->changed = true;
}

/* The directory is gone or replaced: stop reading it, and report its entries. */
static void lose(struct watch *w, struct watch_dir *d)
{
	close_dir(d);
	mark_dir(w, d, false);
}

static void mark_name(struct watch *w, const struct watch_dir *d, const wchar_t *name, int len)
{
	for (struct watch_entry *e = w->entries; e != NULL; e = e->next)
		if (!e->removed && e->dir == d && same_name(name, len, e->name, e->name_len))
			e->changed = true;
}

/*
 * Walks the n bytes of FILE_NOTIFY_INFORMATION records in d's buffer. Windows
 * puts each record at a DWORD boundary, Wine does not: they are copied out.
 */
static void take_records(struct watch *w, const struct watch_dir *d, DWORD n)
{
	const size_t head = offsetof(FILE_NOTIFY_INFORMATION, FileName);
	const unsigned char *p = (const unsigned char *)d->buf;
	size_t off = 0, size = n < sizeof(d->buf) ? n : sizeof(d->buf);
	wchar_t name[NAME_CAP];

	while (size - off >= head) {
		FILE_NOTIFY_INFORMATION r;
		size_t len;

		memcpy(&r, p + off, head);
		len = r.FileNameLength / sizeof(WCHAR);
		if (r.FileNameLength > size - off - head)
			break;
		/* A longer name is none of ours: split_path() refused those. */
		if (len < NAME_CAP) {
			memcpy(name, p + off + head, len * sizeof(WCHAR));
			mark_name(w, d, name, (int)len);
		}
		if (r.NextEntryOffset == 0 || r.NextEntryOffset > size - off)
			break;
		off += r.NextEntryOffset;
	}
}

/* Takes d's finished reads and re-arms; loses d if it cannot be read any more. */
static void drain(struct watch *w, struct watch_dir *d)
{
	for (int i = 0; i < READS_MAX && d->reading; i++) {
		DWORD n = 0, err = 0;

		if (!GetOverlappedResult(d->h, &d->ov, &n, FALSE)) {
			err = GetLastError();
			if (err == ERROR_IO_INCOMPLETE)
				return;
		}
		d->reading = false;
		if (err == 0 && n > 0) {
			take_records(w, d, n);
		} else if (err == 0 || err == ERROR_NOTIFY_ENUM_DIR) {
			mark_dir(w, d, false); /* overflow: anything may have changed */
		} else {
			lose(w, d); /* deleted, or its volume went away */
			return;
		}
		if (!arm(d)) {
			lose(w, d);
			return;
		}
	}
}

static void check_dir(struct watch *w, struct watch_dir *d)
{
	if (d->h != INVALID_HANDLE_VALUE) {
		drain(w, d);
		if (d->h != INVALID_HANDLE_VALUE && !still_there(d))
			lose(w, d);
	}
	/* Armed before looking, so that a file created meanwhile is not missed. */
	if (d->h == INVALID_HANDLE_VALUE && open_dir(d) == 0)
		mark_dir(w, d, true);
}

static void free_entry(struct watch_entry *e)
{
	free(e->path);
	free(e);
}

void watch_process(struct watch *w)
{
	struct watch_entry *e, **pp;

	if (watch_timeout_ms(w) != 0)
		return;
	/* First every directory, then the callbacks, which may add and remove. */
	for (struct watch_dir *d = w->dirs; d != NULL; d = d->next)
		check_dir(w, d);
	w->busy = true;
	for (e = w->entries; e != NULL; e = e->next) {
		if (e->removed)
			continue;
		if (e->changed) {
			e->changed = false;
			if (++e->settling <= SETTLE_TICKS)
				continue;
		} else if (e->settling == 0) {
			continue;
		}
		e->settling = 0;
		e->cb(e->arg);
	}
	w->busy = false;
	for (pp = &w->entries; (e = *pp) != NULL;) {
		if (e->removed) {
			*pp = e->next;
			free_entry(e);
		} else {
			pp = &e->next;
		}
	}
	schedule(w);
}

static void free_dir(struct watch_dir *d)
{
	close_dir(d);
	if (d->ov.hEvent != NULL)
		CloseHandle(d->ov.hEvent);
	free(d->path);
	free(d);
}

/* What a directory that cannot be opened at watch_add() means; ZT_OK: wait for it. */
static enum zt_err open_error(DWORD err)
{
	switch (err) {
	case 0:
		return ZT_OK;
	case ERROR_INVALID_FUNCTION: /* no change notification on this file system */
	case ERROR_NOT_SUPPORTED:
		return ZT_ERR_UNSUPPORTED;
	case ERROR_INVALID_NAME:
	case ERROR_BAD_PATHNAME:
		return ZT_ERR_INVALID;
	case ERROR_FILENAME_EXCED_RANGE:
		return ZT_ERR_TOOBIG;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return ZT_ERR_NOMEM;
	default:
		return ZT_OK; /* missing (or not ours to read yet): retried every tick */
	}
}

/* The directory dir (taken over), shared with the entries already in it. */
static enum zt_err get_dir(struct watch *w, wchar_t *dir, struct watch_dir **out)
{
	struct watch_dir *d;
	enum zt_err err;

	for (d = w->dirs; d != NULL; d = d->next) {
		if (same_name(d->path, -1, dir, -1)) {
			free(dir);
			*out = d;
			return ZT_OK;
		}
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		free(dir);
		return ZT_ERR_NOMEM;
	}
	d->path = dir;
	d->h = INVALID_HANDLE_VALUE;
	d->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
	err = d->ov.hEvent == NULL ? ZT_ERR_IO : open_error(open_dir(d));
	if (err != ZT_OK) {
		free_dir(d);
		return err;
	}
	if (w->dirs == NULL)
		schedule(w);
	d->next = w->dirs;
	w->dirs = d;
	*out = d;
	return ZT_OK;
}

static void release_dir(struct watch *w, struct watch_dir *d)
{
	struct watch_dir **pp;

	if (--d->refs > 0)
		return;
	for (pp = &w->dirs; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	free_dir(d);
}

enum zt_err watch_add(struct watch *w, const char *path, watch_cb cb, void *arg,
                      struct watch_entry **out)
{
	struct watch_entry *e;
	wchar_t *full, *dir;
	size_t name_at;
	enum zt_err err;

	*out = NULL;
	err = split_path(path, &full, &dir, &name_at);
	if (err != ZT_OK)
		return err;
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		free(full);
		free(dir);
		return ZT_ERR_NOMEM;
	}
	err = get_dir(w, dir, &e->dir);
	if (err != ZT_OK) {
		free(full);
		free(e);
		return err;
	}
	e->dir->refs++;
	e->path = full;
	e->name = full + name_at;
	e->name_len = (int)wcslen(e->name);
	e->cb = cb;
	e->arg = arg;
	e->next = w->entries;
	w->entries = e;
	*out = e;
	return ZT_OK;
}

void watch_remove(struct watch *w, struct watch_entry *e)
{
	struct watch_entry **pp;

	e->removed = true;
	release_dir(w, e->dir);
	e->dir = NULL;
	if (w->busy)
		return;
	for (pp = &w->entries; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	free_entry(e);
}

void watch_close(struct watch *w)
{
	struct watch_entry *e, *enext;
	struct watch_dir *d, *dnext;

	if (w == NULL)
		return;
	for (e = w->entries; e != NULL; e = enext) {
		enext = e->next;
		free_entry(e);
	}
	for (d = w->dirs; d != NULL; d = dnext) {
		dnext = d->next;
		free_dir(d);
	}
	free(w);
}
