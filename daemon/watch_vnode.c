/*
 * What the kqueue watcher watches and when it reports (see watch_vnode.h).
 * Resolving a path uses lstat() and readlink(); every descriptor is opened
 * and closed through struct vnode_ops.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "watch_link.h"
#include "watch_vnode.h"

/* Writes that paused this long are reported (about what the poll backend waits too). */
#define QUIET_MS 30
/* A file written without pause is reported after this anyway. */
#define SETTLE_MAX_MS 1000
/*
 * Something on the path exists but cannot be watched (permissions, no
 * descriptors left): look again this often, since a permission change there
 * raises no event on anything watched.
 */
#define RETRY_MS 1000
/* Descriptors per entry; a deeper symlink maze is watched only in part. */
#define POINTS_MAX 16
/* Symlinks followed per entry; also stops loops. */
#define LINKS_MAX 16

#define FILE_EVENTS (VNODE_WRITE | VNODE_EXTEND | VNODE_ATTRIB)
#define DEAD_EVENTS (VNODE_DELETE | VNODE_REVOKE)

struct point {
	int handle;
	struct vnode_id id;
	bool file; /* the file itself, else a directory on the way */
	/*
	 * Its vnode was deleted or revoked: never kept for a successor that
	 * happens to reuse the inode number.
	 */
	bool dead;
};

/* What the path led to when last resolved. */
struct target {
	int err; /* errno of opening it, 0: opened */
	struct vnode_id id;
};

struct watch_entry {
	struct watch_entry *next;
	char *path;
	watch_cb cb;
	void *arg;
	struct point points[POINTS_MAX];
	size_t npoints;
	struct target target;
	int warned;                       /* errno last logged, so a retry does not repeat it */
	int64_t settle_start, settle_due; /* while settling */
	int64_t retry_due;                /* while retrying */
	bool settling;                    /* writes seen, not yet reported */
	bool retrying;
	bool rearm;   /* re-resolve the path in the next vnode_run() */
	bool pending; /* call cb in the next vnode_run() */
	bool removed; /* freed when vnode_run() returns */
};

struct vnode_set {
	struct vnode_ops ops;
	struct watch_entry *entries;
	bool busy; /* inside vnode_run(): removed entries must stay allocated */
};

/* One re-resolution of an entry's path: the points it had, for reuse. */
struct arm {
	struct vnode_set *s;
	struct watch_entry *e;
	struct point old[POINTS_MAX];
	bool taken[POINTS_MAX];
	size_t nold;
	int links; /* symlinks still to follow */
	int err;   /* first errno that is more than "not there" */
};

static bool same_id(const struct vnode_id *a, const struct vnode_id *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

/*
 * Errors that a change in a watched directory clears (not there yet, a
 * symlink loop, a name too long): no need to look again on a timer.
 */
static bool cleared_by_event(int err)
{
	return err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG;
}

/*
 * Adds a freshly opened handle to the entry, or closes it again in favour of
 * the one already watching that vnode: a descriptor kept across a rearm keeps
 * the events queued on it.
 */
static void keep(struct arm *a, int handle, const struct vnode_id *id, bool file)
{
	struct watch_entry *e = a->e;
	struct point *p;

	for (size_t i = 0; i < e->npoints; i++) {
		if (e->points[i].file == file && same_id(&e->points[i].id, id)) {
			a->s->ops.close(a->s->ops.ctx, handle);
			return;
		}
	}
	if (e->npoints == POINTS_MAX) {
		a->s->ops.close(a->s->ops.ctx, handle);
		return;
	}
	for (size_t i = 0; i < a->nold; i++) {
		if (!a->taken[i] && !a->old[i].dead && a->old[i].file == file &&
		    same_id(&a->old[i].id, id)) {
			a->taken[i] = true;
			a->s->ops.close(a->s->ops.ctx, handle);
			handle = a->old[i].handle;
			break;
		}
	}
	p = &e->points[e->npoints++];
	p->handle = handle;
	p->id = *id;
	p->file = file;
	p->dead = false;
}

/* Opens path and keeps it; on failure returns errno. */
static int open_point(struct arm *a, const char *path, bool file, struct vnode_id *id)
{
	int h = a->s->ops.open(a->s->ops.ctx, path, !file, id);

	if (h < 0)
		return errno != 0 ? errno : EIO;
	keep(a, h, id, file);
	return 0;
}

static void note_error(struct arm *a, int err)
{
	if (!cleared_by_event(err) && a->err == 0)
		a->err = err;
}

/* Cuts dir to its parent in place; false at the top ("/" or "."). */
static bool to_parent(char *dir)
{
	size_t len = strlen(dir);
	char *slash;

	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0 || len == 0)
		return false;
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		strcpy(dir, ".");
		return true;
	}
	while (slash > dir && slash[-1] == '/')
		slash--; /* "a//b" */
	if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return true;
}

/*
 * Watches dir, or else its deepest ancestor that can be watched. dir is used
 * as scratch.
 */
static void watch_dir(struct arm *a, char *dir)
{
	struct vnode_id id;
	int err;

	while ((err = open_point(a, dir, false, &id)) != 0) {
		note_error(a, err);
		/* Out of descriptors or memory: an ancestor would fail alike. */
		if (!(cleared_by_event(err) || err == EACCES) || !to_parent(dir))
			return;
	}
}

static void arm_path(struct arm *a, const char *path);

/* Watches what the symlink at path (in directory dir) points to. */
static void follow_link(struct arm *a, const char *path, const char *dir)
{
	char link[PATH_MAX];

	if (watch_link_target(path, dir, link, sizeof(link)))
		arm_path(a, link);
}

/*
 * Watches the directories whose entries decide what path leads to: its own,
 * and, for every symlink met on the way (in the directories or at the end),
 * the symlink's directory and what it points to.
 */
static void arm_path(struct arm *a, const char *path)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;

	if (len == 0 || len >= sizeof(dir))
		return;
	memcpy(dir, path, len + 1);
	if (!to_parent(dir))
		return;
	len = strlen(dir);
	for (size_t i = 1; i <= len && a->links > 0; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		dir[i] = '\0';
		if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
			a->links--;
			arm_path(a, dir);
		}
		dir[i] = i < len ? '/' : '\0';
	}
	if (a->links > 0 && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		a->links--;
		follow_link(a, path, dir);
	}
	watch_dir(a, dir);
}

/*
 * Re-resolves e's path. Directories first, the file last: a change made
 * after a directory is watched raises an event there, so nothing falls
 * between the two. A path now leading elsewhere is reported.
 */
static void rearm(struct vnode_set *s, struct watch_entry *e, int64_t now)
{
	struct arm a = {.s = s, .e = e, .links = LINKS_MAX};
	struct target t = {0};
	int err;

	memcpy(a.old, e->points, e->npoints * sizeof(a.old[0]));
	a.nold = e->npoints;
	e->npoints = 0;
	e->rearm = false;
	arm_path(&a, e->path);
	t.err = open_point(&a, e->path, true, &t.id);
	if (t.err != 0) {
		t.id = (struct vnode_id){0};
		note_error(&a, t.err);
	}
	for (size_t i = 0; i < a.nold; i++)
		if (!a.taken[i])
			s->ops.close(s->ops.ctx, a.old[i].handle);
	if (t.err != e->target.err || !same_id(&t.id, &e->target.id))
		e->pending = true;
	e->target = t;

	e->retrying = a.err != 0;
	e->retry_due = now + RETRY_MS;
	/* Permissions are the token module's to report; other failures are the watcher's. */
	err = a.err == EACCES ? 0 : a.err;
	if (err != 0 && err != e->warned) {
		errno = err;
		log_errno(LOG_WARN, "cannot watch all of %s for changes, looking again every %d ms",
		          e->path, RETRY_MS);
	}
	e->warned = err;
}

static void settle(struct watch_entry *e, int64_t now)
{
	if (!e->settling) {
		e->settling = true;
		e->settle_start = now;
	}
	e->settle_due = now + QUIET_MS;
	if (e->settle_due > e->settle_start + SETTLE_MAX_MS)
		e->settle_due = e->settle_start + SETTLE_MAX_MS;
}

void vnode_event(struct vnode_set *s, int handle, unsigned flags, int64_t now_ms)
{
	for (struct watch_entry *e = s->entries; e != NULL; e = e->next) {
		if (e->removed)
			continue;
		for (size_t i = 0; i < e->npoints; i++) {
			struct point *p = &e->points[i];

			if (p->handle != handle)
				continue;
			if (flags & DEAD_EVENTS)
				p->dead = true;
			if (!p->file) {
				/* Some entry changed: which one, only a fresh look can tell. */
				e->rearm = true;
				continue;
			}
			if (flags & (DEAD_EVENTS | VNODE_RENAME | VNODE_LINK))
				e->rearm = true;
			/* The inode number may come back for the next file: report regardless. */
			if (flags & (DEAD_EVENTS | VNODE_CLOSE_WRITE))
				e->pending = true;
			else if (flags & FILE_EVENTS)
				settle(e, now_ms);
		}
	}
}

static void free_entry(struct vnode_set *s, struct watch_entry *e)
{
	for (size_t i = 0; i < e->npoints; i++)
		s->ops.close(s->ops.ctx, e->points[i].handle);
	free(e->path);
	free(e);
}

void vnode_run(struct vnode_set *s, int64_t now_ms)
{
	struct watch_entry *e, **pp;

	s->busy = true;
	for (e = s->entries; e != NULL; e = e->next) {
		if (e->removed)
			continue;
		if (e->retrying && now_ms >= e->retry_due)
			e->rearm = true;
		if (e->rearm)
			rearm(s, e, now_ms);
		if (e->settling && now_ms >= e->settle_due)
			e->pending = true;
	}
	for (e = s->entries; e != NULL; e = e->next) {
		if (e->pending && !e->removed) {
			e->pending = false;
			e->settling = false;
			e->cb(e->arg);
		}
	}
	s->busy = false;
	for (pp = &s->entries; (e = *pp) != NULL;) {
		if (e->removed) {
			*pp = e->next;
			free_entry(s, e);
		} else {
			pp = &e->next;
		}
	}
}

int vnode_timeout_ms(const struct vnode_set *s, int64_t now_ms)
{
	int64_t due = -1;

	for (const struct watch_entry *e = s->entries; e != NULL; e = e->next) {
		if (e->removed)
			continue;
		if (e->pending || e->rearm)
			return 0;
		if (e->settling && (due < 0 || e->settle_due < due))
			due = e->settle_due;
		if (e->retrying && (due < 0 || e->retry_due < due))
			due = e->retry_due;
	}
	if (due < 0)
		return -1;
	if (due <= now_ms)
		return 0;
	return due - now_ms > INT_MAX ? INT_MAX : (int)(due - now_ms);
}

enum zt_err vnode_set_new(const struct vnode_ops *ops, struct vnode_set **out)
{
	struct vnode_set *s = calloc(1, sizeof(*s));

	*out = s;
	if (s == NULL)
		return ZT_ERR_NOMEM;
	s->ops = *ops;
	return ZT_OK;
}

enum zt_err vnode_add(struct vnode_set *s, const char *path, watch_cb cb, void *arg, int64_t now_ms,
                      struct watch_entry **out)
{
	size_t len = strlen(path);
	struct watch_entry *e;

	*out = NULL;
	if (len == 0)
		return ZT_ERR_INVALID;
	if (len >= PATH_MAX)
		return ZT_ERR_TOOBIG;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return ZT_ERR_NOMEM;
	e->path = strdup(path);
	if (e->path == NULL) {
		free(e);
		return ZT_ERR_NOMEM;
	}
	e->cb = cb;
	e->arg = arg;
	e->next = s->entries;
	s->entries = e;
	rearm(s, e, now_ms);
	/* The caller reads the file after adding it; only later changes are news. */
	e->pending = false;
	*out = e;
	return ZT_OK;
}

void vnode_remove(struct vnode_set *s, struct watch_entry *e)
{
	struct watch_entry **pp;

	e->removed = true;
	for (size_t i = 0; i < e->npoints; i++)
		s->ops.close(s->ops.ctx, e->points[i].handle);
	e->npoints = 0;
	if (s->busy)
		return;
	for (pp = &s->entries; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	free_entry(s, e);
}

void vnode_set_free(struct vnode_set *s)
{
	struct watch_entry *e, *next;

	if (s == NULL)
		return;
	for (e = s->entries; e != NULL; e = next) {
		next = e->next;
		free_entry(s, e);
	}
	free(s);
}
