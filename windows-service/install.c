/*
 * "install" and "uninstall": the Service Control Manager entry and the Event
 * Log source. Both need an elevated prompt; each step says what it did, and
 * a step that only adds comfort (description, restart on failure, the Event
 * Log source) warns but does not fail the install, since the service runs
 * without it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "svc.h"

/* How long uninstall waits for a running service to stop; its shutdown grace is 10 s by default. */
#define STOP_WAIT_MS 30000
#define STOP_POLL_MS 250
/* Restart after a failure, three times, counting failures again after a quiet day. */
#define RESTART_DELAY_MS 5000
#define RESTART_TIMES    3
#define RESET_PERIOD_S   86400

/* The command line: two quoted paths, their escapes, and the options. */
#define CMDLINE_MAX (4 * SVC_PATH_MAX + 64)

bool svc_widen(const char *s, wchar_t *out, size_t cap)
{
	int n;

	out[0] = L'\0';
	if (cap > INT_MAX)
		cap = INT_MAX;
	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, out, (int)cap);
	if (n == 0)
		out[0] = L'\0';
	return n > 0;
}

void svc_narrow(const wchar_t *s, char *out, size_t cap)
{
	int need = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
	char *tmp;
	size_t len;

	out[0] = '\0';
	if (need <= 0)
		return;
	if ((size_t)need <= cap) {
		WideCharToMultiByte(CP_UTF8, 0, s, -1, out, need, NULL, NULL);
		return;
	}
	if ((tmp = malloc((size_t)need)) == NULL)
		return;
	WideCharToMultiByte(CP_UTF8, 0, s, -1, tmp, need, NULL, NULL);
	len = cap - 1;
	while (len > 0 && ((unsigned char)tmp[len] & 0xc0) == 0x80)
		len--;
	memcpy(out, tmp, len);
	out[len] = '\0';
	free(tmp);
}

void svc_print_error(const char *what, unsigned long err)
{
	wchar_t wmsg[512];
	char msg[1024];
	size_t len;
	DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
	                         err, 0, wmsg, sizeof(wmsg) / sizeof(wmsg[0]), NULL);

	msg[0] = '\0';
	if (n > 0)
		svc_narrow(wmsg, msg, sizeof(msg));
	/* System messages end in ".\r\n", which would break our one-line format. */
	len = strlen(msg);
	while (len > 0 && strchr(".\r\n ", msg[len - 1]) != NULL)
		msg[--len] = '\0';
	if (len > 0)
		fprintf(stderr, "zt-token-proxy: %s: %s (error %lu)\n", what, msg, err);
	else
		fprintf(stderr, "zt-token-proxy: %s: error %lu\n", what, err);
}

/* As svc_print_error, naming the fix for the errors a person can fix. */
static int fail(const char *what, DWORD err)
{
	svc_print_error(what, err);
	if (err == ERROR_ACCESS_DENIED) {
		fprintf(stderr,
		        "zt-token-proxy: this needs an administrator: run it from an elevated "
		        "prompt (right-click the Command Prompt, \"Run as administrator\")\n");
		return SVC_EXIT_FAIL;
	}
	return SVC_EXIT_OSERR;
}

/* Appends s to cmd (capacity cap, length *len); false when it does not fit. */
static bool append(wchar_t *cmd, size_t cap, size_t *len, const wchar_t *s)
{
	size_t n = wcslen(s);

	if (*len + n >= cap)
		return false;
	memcpy(cmd + *len, s, (n + 1) * sizeof(wchar_t));
	*len += n;
	return true;
}

/*
 * Appends arg to cmd as one argument in double quotes, escaped the way
 * CommandLineToArgvW and the C runtime read it back: backslashes are literal
 * except in a run before a quote (or before the closing one), which counts
 * twice. Returns false when it does not fit.
 */
static bool append_quoted(wchar_t *cmd, size_t cap, size_t *len, const wchar_t *arg)
{
	size_t n = *len, slashes = 0, extra;

	if (n + 1 >= cap)
		return false;
	cmd[n++] = L'"';
	for (const wchar_t *p = arg;; p++) {
		if (*p == L'\\') {
			slashes++;
		} else {
			extra = *p == L'"' || *p == L'\0' ? slashes + (*p == L'"') : 0;
			if (n + extra + 2 >= cap)
				return false;
			while (extra-- > 0)
				cmd[n++] = L'\\';
			slashes = 0;
			if (*p == L'\0')
				break;
		}
		cmd[n++] = *p;
	}
	cmd[n++] = L'"';
	cmd[n] = L'\0';
	*len = n;
	return true;
}

/* The config file's absolute path in out; false (reported) when it is not a readable file. */
static bool config_full_path(const char *path, wchar_t *out, size_t cap)
{
	wchar_t wpath[SVC_PATH_MAX];
	DWORD n, attr;
	HANDLE h;

	if (!svc_widen(path, wpath, SVC_PATH_MAX)) {
		fprintf(stderr,
		        "zt-token-proxy: install: the configuration path is too long or not "
		        "UTF-8\n");
		return false;
	}
	n = GetFullPathNameW(wpath, (DWORD)cap, out, NULL);
	if (n == 0 || n >= cap) {
		if (n == 0)
			svc_print_error("install: cannot make the configuration path absolute",
			                GetLastError());
		else
			fprintf(stderr,
			        "zt-token-proxy: install: the configuration path is too long\n");
		return false;
	}
	attr = GetFileAttributesW(out);
	if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY) != 0) {
		fprintf(stderr,
		        "zt-token-proxy: install: %s is a directory, not a configuration file\n",
		        path);
		return false;
	}
	h = CreateFileW(out, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
	                NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		char what[SVC_PATH_MAX + 64];

		snprintf(what, sizeof(what), "install: cannot read the configuration file %s",
		         path);
		svc_print_error(what, GetLastError());
		return false;
	}
	CloseHandle(h);
	return true;
}

/* `"<exe>" --service [--config "<config>"]`, the command the SCM runs. */
static bool service_cmdline(const wchar_t *exe, const wchar_t *config, wchar_t *cmd, size_t cap)
{
	size_t len = 0;

	cmd[0] = L'\0';
	/* The program name is read up to the next quote, without escapes: a path has no quote. */
	return append_quoted(cmd, cap, &len, exe) && append(cmd, cap, &len, L" --service") &&
	       (config == NULL ||
	        (append(cmd, cap, &len, L" --config ") && append_quoted(cmd, cap, &len, config)));
}

/* Description and restart-on-failure: comfort, so a refusal is only a warning. */
static void configure_extras(SC_HANDLE svc)
{
	SERVICE_DESCRIPTIONW desc = {.lpDescription = (wchar_t *)SVC_DESCRIPTION};
	SC_ACTION actions[RESTART_TIMES];
	SERVICE_FAILURE_ACTIONSW fa = {
	    .dwResetPeriod = RESET_PERIOD_S,
	    .cActions = RESTART_TIMES,
	    .lpsaActions = actions,
	};
	/* Also restart after a clean exit with an error status (e.g. 71, cannot listen yet). */
	SERVICE_FAILURE_ACTIONS_FLAG flag = {.fFailureActionsOnNonCrashFailures = TRUE};

	for (size_t i = 0; i < RESTART_TIMES; i++) {
		actions[i].Type = SC_ACTION_RESTART;
		actions[i].Delay = RESTART_DELAY_MS;
	}
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &desc))
		svc_print_error("warning: cannot set the service description", GetLastError());
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa))
		svc_print_error("warning: cannot set restart on failure", GetLastError());
	else if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag))
		svc_print_error("warning: cannot set restart after an exit with an error status",
		                GetLastError());
}

/* The Event Log source: without it Event Viewer shows our lines, but wrapped in a complaint. */
static void register_event_source(const wchar_t *exe)
{
	DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
	HKEY key;
	LSTATUS rc;

	rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, SVC_EVENTLOG_KEY, 0, NULL, 0, KEY_SET_VALUE, NULL,
	                     &key, NULL);
	if (rc != ERROR_SUCCESS) {
		svc_print_error("warning: cannot register the Event Log source", (DWORD)rc);
		return;
	}
	rc = RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *)exe,
	                    (DWORD)((wcslen(exe) + 1) * sizeof(wchar_t)));
	if (rc == ERROR_SUCCESS)
		rc = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD, (const BYTE *)&types,
		                    sizeof(types));
	RegCloseKey(key);
	if (rc != ERROR_SUCCESS)
		svc_print_error("warning: cannot register the Event Log source", (DWORD)rc);
}

int svc_install(const char *config_path)
{
	static wchar_t exe[SVC_PATH_MAX], config[SVC_PATH_MAX], cmd[CMDLINE_MAX];
	static char shown[CMDLINE_MAX * 3];
	SC_HANDLE scm, svc;
	DWORD err, n;

	if (config_path != NULL && !config_full_path(config_path, config, SVC_PATH_MAX))
		return SVC_EXIT_FAIL;
	n = GetModuleFileNameW(NULL, exe, SVC_PATH_MAX);
	if (n == 0)
		return fail("install: cannot find this program's path", GetLastError());
	if (n >= SVC_PATH_MAX) {
		fprintf(stderr, "zt-token-proxy: install: this program's path is too long\n");
		return SVC_EXIT_FAIL;
	}
	if (!service_cmdline(exe, config_path != NULL ? config : NULL, cmd, CMDLINE_MAX)) {
		fprintf(stderr, "zt-token-proxy: install: the service command line is too long\n");
		return SVC_EXIT_FAIL;
	}
	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
	if (scm == NULL)
		return fail("install: cannot open the Service Control Manager", GetLastError());
	/*
	 * LocalSystem (no account): it can read ZeroTier's authtoken.secret, which
	 * is for administrators only. SERVICE_START: restart-on-failure needs it.
	 */
	svc = CreateServiceW(scm, SVC_NAME, SVC_DISPLAY_NAME, SERVICE_CHANGE_CONFIG | SERVICE_START,
	                     SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
	                     cmd, NULL, NULL, NULL, NULL, NULL);
	if (svc == NULL) {
		err = GetLastError();
		CloseServiceHandle(scm);
		if (err == ERROR_SERVICE_EXISTS) {
			fprintf(stderr,
			        "zt-token-proxy: install: the service zt-token-proxy is already "
			        "installed; run \"zt-token-proxy uninstall\" first to change it\n");
			return SVC_EXIT_FAIL;
		}
		if (err == ERROR_SERVICE_MARKED_FOR_DELETE) {
			fprintf(stderr,
			        "zt-token-proxy: install: the old zt-token-proxy service is still "
			        "being removed; close the Services console and Event Viewer, "
			        "then try again\n");
			return SVC_EXIT_FAIL;
		}
		return fail("install: cannot create the service", err);
	}
	configure_extras(svc);
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	register_event_source(exe);
	svc_narrow(cmd, shown, sizeof(shown));
	printf(
	    "installed the service zt-token-proxy (\"ZeroTier token proxy\"), started at boot as "
	    "LocalSystem:\n  %s\n",
	    shown);
	if (config_path == NULL)
		printf("with no --config it serves the embedded defaults\n");
	else {
		svc_narrow(config, shown, sizeof(shown));
		printf("check the configuration with: zt-token-proxy --check-config --config "
		       "\"%s\"\n",
		       shown);
	}
	printf("logs go to Event Viewer, Windows Logs > Application, source zt-token-proxy\n"
	       "start it now with: sc start zt-token-proxy\n");
	return 0;
}

/* Asks a running service to stop and waits for it; says so when it does not stop. */
static void stop_and_wait(SC_HANDLE svc)
{
	SERVICE_STATUS st;
	DWORD waited = 0, err;

	if (!QueryServiceStatus(svc, &st) || st.dwCurrentState == SERVICE_STOPPED)
		return;
	printf("stopping the service...\n");
	fflush(stdout);
	/* Still starting, or already stopping: it takes no stop now, so just wait. */
	if (!ControlService(svc, SERVICE_CONTROL_STOP, &st) &&
	    (err = GetLastError()) != ERROR_SERVICE_NOT_ACTIVE &&
	    err != ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {
		svc_print_error("uninstall: cannot stop the service; it is removed once it stops",
		                err);
		return;
	}
	while (QueryServiceStatus(svc, &st) && st.dwCurrentState != SERVICE_STOPPED) {
		if (waited >= STOP_WAIT_MS) {
			fprintf(stderr,
			        "zt-token-proxy: uninstall: the service did not stop within %d s; "
			        "it is removed once it stops\n",
			        STOP_WAIT_MS / 1000);
			return;
		}
		/* It may have finished starting since, and take the stop now. */
		if (st.dwCurrentState == SERVICE_RUNNING)
			ControlService(svc, SERVICE_CONTROL_STOP, &st);
		Sleep(STOP_POLL_MS);
		waited += STOP_POLL_MS;
	}
}

static void remove_event_source(void)
{
	LSTATUS rc = RegDeleteKeyW(HKEY_LOCAL_MACHINE, SVC_EVENTLOG_KEY);

	if (rc == ERROR_SUCCESS)
		printf("removed the Event Log source zt-token-proxy (past events stay)\n");
	else if (rc != ERROR_FILE_NOT_FOUND)
		svc_print_error("warning: cannot remove the Event Log source", (DWORD)rc);
}

int svc_uninstall(void)
{
	SC_HANDLE scm, svc;
	DWORD err;

	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	if (scm == NULL)
		return fail("uninstall: cannot open the Service Control Manager", GetLastError());
	svc = OpenServiceW(scm, SVC_NAME, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
	if (svc == NULL) {
		err = GetLastError();
		CloseServiceHandle(scm);
		if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
			fprintf(stderr,
			        "zt-token-proxy: uninstall: the service zt-token-proxy is not "
			        "installed\n");
			/* A half-done uninstall may have left it behind. */
			remove_event_source();
			return SVC_EXIT_FAIL;
		}
		return fail("uninstall: cannot open the service", err);
	}
	stop_and_wait(svc);
	if (!DeleteService(svc)) {
		err = GetLastError();
		CloseServiceHandle(svc);
		CloseServiceHandle(scm);
		if (err == ERROR_SERVICE_MARKED_FOR_DELETE) {
			fprintf(stderr, "zt-token-proxy: uninstall: the service is already being "
			                "removed; close the Services console to let it go\n");
			return SVC_EXIT_FAIL;
		}
		return fail("uninstall: cannot remove the service", err);
	}
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	printf("removed the service zt-token-proxy\n");
	remove_event_source();
	return 0;
}

int svc_reload(void)
{
	SERVICE_STATUS st;
	SC_HANDLE scm, svc;
	DWORD err = 0;

	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	if (scm == NULL)
		return fail("reload: cannot open the Service Control Manager", GetLastError());
	/* PARAMCHANGE is allowed to those who may pause and continue the service. */
	svc = OpenServiceW(scm, SVC_NAME, SERVICE_PAUSE_CONTINUE);
	if (svc == NULL || !ControlService(svc, SERVICE_CONTROL_PARAMCHANGE, &st))
		err = GetLastError();
	if (svc != NULL)
		CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	if (err == ERROR_SERVICE_DOES_NOT_EXIST || err == ERROR_SERVICE_NOT_ACTIVE) {
		fprintf(stderr, "zt-token-proxy: reload: the service zt-token-proxy is %s\n",
		        err == ERROR_SERVICE_NOT_ACTIVE ? "not running" : "not installed");
		return SVC_EXIT_FAIL;
	}
	if (err != 0)
		return fail("reload: cannot reach the service", err);
	printf("asked the service zt-token-proxy to reload; its log says how it went\n");
	return 0;
}
