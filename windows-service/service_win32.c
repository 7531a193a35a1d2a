/*
 * Windows: the Service Control Manager. "--service" hands the main thread to
 * the SCM's dispatcher, which runs service_main() on a thread of its own;
 * that thread is the daemon's (serve() runs there), and the dispatcher
 * thread calls control() for stop, shutdown and reload requests, which only
 * record them with sig_post() for the event loop to act on.
 *
 * The SCM has no reloading state and no status text: a reload stays
 * RUNNING, and the status line is not shown anywhere. Log lines go to the
 * Event Log while running as a service (source "zt-token-proxy", with the
 * message table of messages.mc); in a console, to stderr as elsewhere.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "service.h"

#include <windows.h>

#include "log.h"
#include "signals.h"
#include "svc.h"

/* Start-up reads the configuration and tokens and binds: seconds at most. */
#define START_WAIT_HINT_MS 10000
/*
 * Stopping waits for requests in flight (timeouts.shutdown, 10 s by default,
 * up to a day): the checkpoint moves on every STOP_PROGRESS_MS while the
 * loop turns, so the SCM sees progress however long the grace is.
 */
#define STOP_WAIT_HINT_MS 15000
#define STOP_PROGRESS_MS  5000

static int (*serve_fn)(const char *config_path);
static const char *serve_config;
static int serve_status;
static bool service_ran; /* service_main() was called */

/*
 * Shared by the service thread and the dispatcher thread (control()); the
 * lock also keeps their SetServiceStatus() calls in order.
 */
static SRWLOCK status_lock = SRWLOCK_INIT;
static SERVICE_STATUS_HANDLE status_handle;
static SERVICE_STATUS status = {.dwServiceType = SERVICE_WIN32_OWN_PROCESS};
static ULONGLONG progress_due; /* GetTickCount64() of the next STOP_PENDING checkpoint */

static HANDLE event_source;

/* Sets the state and tells the SCM; status_lock held. A stop under way is never undone. */
static void set_state_locked(DWORD state, DWORD wait_hint)
{
	if (status.dwCurrentState == SERVICE_STOP_PENDING && state != SERVICE_STOPPED &&
	    state != SERVICE_STOP_PENDING)
		return;
	if (state == status.dwCurrentState && state == SERVICE_RUNNING)
		return;
	status.dwCheckPoint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING
	                          ? status.dwCheckPoint + 1
	                          : 0;
	status.dwCurrentState = state;
	status.dwWaitHint = wait_hint;
	/* Stop and reload only once serving: before, sig_post() would have nowhere to go. */
	status.dwControlsAccepted =
	    state == SERVICE_RUNNING
	        ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE
	        : 0;
	if (state == SERVICE_STOP_PENDING)
		progress_due = GetTickCount64() + STOP_PROGRESS_MS;
	SetServiceStatus(status_handle, &status);
}

static void set_state(DWORD state, DWORD wait_hint)
{
	AcquireSRWLockExclusive(&status_lock);
	set_state_locked(state, wait_hint);
	ReleaseSRWLockExclusive(&status_lock);
}

/* The dispatcher thread: record, never act, and never log (the logger is the service thread's). */
static DWORD WINAPI control(DWORD code, DWORD type, void *data, void *ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	switch (code) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		set_state(SERVICE_STOP_PENDING, STOP_WAIT_HINT_MS);
		sig_post(SIG_EV_STOP);
		return NO_ERROR;
	case SERVICE_CONTROL_PARAMCHANGE:
		sig_post(SIG_EV_RELOAD);
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		/* The SCM answers from the last status we set. */
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

/* The log sink while running as a service: one event per line. */
static void eventlog_sink(enum log_level level, const char *msg)
{
	/* A UTF-8 line of n bytes takes at most n UTF-16 units; "debug: " is ASCII. */
	wchar_t line[LOG_LINE_MAX + 16];
	const wchar_t *strings[1] = {line};
	char buf[LOG_LINE_MAX + 16];
	WORD type = level == LOG_ERROR  ? EVENTLOG_ERROR_TYPE
	            : level == LOG_WARN ? EVENTLOG_WARNING_TYPE
	                                : EVENTLOG_INFORMATION_TYPE;

	/* Event Viewer has no debug level: the prefix tells these apart from info lines. */
	snprintf(buf, sizeof(buf), "%s%s", level == LOG_DEBUG ? "debug: " : "", msg);
	/* Not svc_widen(): a stray invalid byte becomes U+FFFD rather than losing the line. */
	if (MultiByteToWideChar(CP_UTF8, 0, buf, -1, line, sizeof(line) / sizeof(line[0])) == 0)
		return;
	ReportEventW(event_source, type, 0, SVC_EVENT_MSG_ID, NULL, 1, 0, strings, NULL);
}

static void WINAPI service_main(DWORD argc, wchar_t **argv)
{
	(void)argc;
	(void)argv;
	service_ran = true;
	status_handle = RegisterServiceCtrlHandlerExW(SVC_NAME, control, NULL);
	if (status_handle == NULL) {
		serve_status = SVC_EXIT_OSERR;
		return;
	}
	set_state(SERVICE_START_PENDING, START_WAIT_HINT_MS);
	event_source = RegisterEventSourceW(NULL, SVC_NAME);
	if (event_source != NULL)
		log_set_sink(eventlog_sink);
	serve_status = serve_fn(serve_config);
	log_set_sink(NULL);
	if (event_source != NULL)
		DeregisterEventSource(event_source);
	event_source = NULL;
	AcquireSRWLockExclusive(&status_lock);
	status.dwWin32ExitCode = serve_status == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
	status.dwServiceSpecificExitCode = (DWORD)serve_status;
	set_state_locked(SERVICE_STOPPED, 0);
	ReleaseSRWLockExclusive(&status_lock);
	/* The dispatcher returns in the main thread now, and the process may end at any moment. */
}

/* "--service [--config FILE]", as install wrote it: hand the main thread to the SCM. */
static int run_service(const char *config_path, int (*serve)(const char *config_path))
{
	static wchar_t name[] = SVC_NAME;
	SERVICE_TABLE_ENTRYW table[] = {{name, service_main}, {NULL, NULL}};
	BOOL ok;
	DWORD err;

	serve_fn = serve;
	serve_config = config_path;
	/*
	 * Wine's dispatcher has been seen to return success without running us
	 * (in a console, just after the prefix was created): not the SCM either.
	 */
	ok = StartServiceCtrlDispatcherW(table);
	err = GetLastError();
	if (ok && service_ran)
		return serve_status;
	if (ok || err == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
		fprintf(stderr, "zt-token-proxy: --service is for the Service Control Manager; run "
		                "without it in a console\n");
		return SVC_EXIT_USAGE;
	}
	svc_print_error("--service: cannot connect to the Service Control Manager", err);
	return SVC_EXIT_OSERR;
}

/*
 * The options after a command: only "--config FILE" ("-c FILE",
 * "--config=FILE"), when allowed. Returns false (reported) on anything else.
 */
static bool parse_config_option(const char *cmd, int argc, char **argv, bool allowed,
                                const char **config_path)
{
	*config_path = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (allowed && *config_path == NULL && strncmp(a, "--config=", 9) == 0 &&
		    a[9] != '\0') {
			*config_path = a + 9;
		} else if (allowed && *config_path == NULL &&
		           (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "zt-token-proxy: %s: %s needs a file name\n", cmd,
				        a);
				return false;
			}
			*config_path = argv[++i];
		} else {
			fprintf(stderr, "zt-token-proxy: %s: unexpected argument '%s'\n", cmd, a);
			return false;
		}
	}
	return true;
}

int service_command(int argc, char **argv, int (*serve)(const char *config_path))
{
	const char *config_path;

	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "install") == 0) {
		if (!parse_config_option("install", argc, argv, true, &config_path)) {
			fprintf(stderr, "usage: zt-token-proxy install [--config FILE]\n");
			return SVC_EXIT_USAGE;
		}
		return svc_install(config_path);
	}
	if (strcmp(argv[1], "uninstall") == 0) {
		if (!parse_config_option("uninstall", argc, argv, false, &config_path)) {
			fprintf(stderr, "usage: zt-token-proxy uninstall\n");
			return SVC_EXIT_USAGE;
		}
		return svc_uninstall();
	}
	if (strcmp(argv[1], "reload") == 0) {
		if (argc != 2) {
			fprintf(stderr, "usage: zt-token-proxy reload\n");
			return SVC_EXIT_USAGE;
		}
		return svc_reload();
	}
	if (strcmp(argv[1], "--service") == 0) {
		if (!parse_config_option("--service", argc, argv, true, &config_path)) {
			fprintf(stderr, "usage: zt-token-proxy --service [--config FILE]\n");
			return SVC_EXIT_USAGE;
		}
		return run_service(config_path, serve);
	}
	return -1;
}

const char *service_usage(void)
{
	return "       zt-token-proxy install [--config FILE] | uninstall | reload\n";
}

const char *service_control_help(void)
{
	return "Windows service: \"install\", from an elevated prompt, registers the service\n"
	       "zt-token-proxy (started at boot as LocalSystem, logging to the Event Log,\n"
	       "source zt-token-proxy) with FILE made absolute; \"uninstall\" stops and removes\n"
	       "it. \"reload\" (or \"sc control zt-token-proxy paramchange\") reloads the\n"
	       "configuration and tokens; \"sc stop zt-token-proxy\" stops. In a console,\n"
	       "Ctrl-C stops gracefully.\n";
}

void service_init(void)
{
}

void service_notify(enum service_state state, const char *status_line)
{
	(void)status_line;
	if (status_handle == NULL)
		return; /* a console: nobody to tell */
	switch (state) {
	case SERVICE_READY:
		set_state(SERVICE_RUNNING, 0);
		break;
	case SERVICE_STOPPING:
		set_state(SERVICE_STOP_PENDING, STOP_WAIT_HINT_MS);
		break;
	case SERVICE_RELOADING:
	case SERVICE_STATUS_LINE:
		break;
	}
}

/* Not a watchdog: while stopping, moves the checkpoint on so that the SCM sees progress. */
int service_watchdog(void)
{
	ULONGLONG now;
	int left = -1;

	if (status_handle == NULL)
		return -1;
	AcquireSRWLockExclusive(&status_lock);
	if (status.dwCurrentState == SERVICE_STOP_PENDING) {
		now = GetTickCount64();
		if (now >= progress_due)
			set_state_locked(SERVICE_STOP_PENDING, STOP_WAIT_HINT_MS);
		left = (int)(progress_due - now);
	}
	ReleaseSRWLockExclusive(&status_lock);
	return left;
}

size_t service_socket_count(void)
{
	return 0;
}

int service_socket(size_t i, const char **name)
{
	(void)i;
	*name = "";
	return -1;
}
