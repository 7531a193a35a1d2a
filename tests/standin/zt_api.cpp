/*
 * zt-api-standin: ZeroTier One's local API server as the scenarios and the
 * benchmark meet it (issue 13).
 *
 * ZeroTier One 1.14 serves its API with cpp-httplib on the library's defaults,
 * and those defaults decide how its callers fare: TCP_NODELAY off (a request
 * on a reused connection waits ~40 ms: Nagle on the server meets delayed ACK
 * on the client), a listen backlog of 5, a pool of max(8, cores - 1) worker
 * threads in which each open keep-alive connection holds one worker until it
 * closes, keep-alive at most 5 requests / 5 s. This program keeps every one of
 * them by building on Debian's cpp-httplib and changing nothing: no
 * set_tcp_nodelay, no set_keep_alive_*, no thread count of its own.
 *
 *   zt-api-standin [--reread-token] [--port-file PATH] PORT TOKEN_FILE
 *
 * It listens on 127.0.0.1:PORT (0: a free port) and prints, before it serves,
 *   listening on 127.0.0.1:PORT
 *   control on 127.0.0.1:PORT
 * The token is read once at start-up, trimmed of whitespace and NULs, as
 * ZeroTier does; --reread-token reads TOKEN_FILE on every request instead
 * (rotation scenarios). --port-file writes the port there, as ZeroTier writes
 * zerotier-one.port.
 *
 * Credentials are checked in ZeroTier's order: X-ZT1-Auth header, else the
 * auth query parameter, else Authorization: Bearer; the first one present
 * decides. Missing or wrong: 401 {} (application/json).
 *   GET /status, /network, /network/ID, /peer   realistic JSON (/network/ID
 *       also POST, PUT, DELETE)
 *   GET /health                                  no token needed
 *   GET /slow?ms=N                               answers after N ms
 *   GET /hang[?ms=N]                             answers only when the client
 *       has gone away (then the write fails and the connection closes), or
 *       after N ms (default 600000)
 *   GET /_standin/connections                    the counts below, no token
 *
 * The counts (JSON): connections accepted, open (accepted - closed), closed,
 * busy (held by a worker), queued (accepted, waiting for a worker), requests
 * (other than /_standin/), hanging (requests in /hang now), and workers (the
 * size of the pool). On the API port the query is itself a connection and
 * takes a worker; the control port answers the same counts from a server of
 * its own, so that watching changes nothing and works while every worker is
 * held.
 */
#include <httplib.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

namespace
{

const long max_wait_ms = 600000;
const size_t token_cap = 4096;
const char address[] = "8056c2e21c";
const char network_id[] = "8056c2e21c000001";

struct counts {
	std::atomic<long> accepted{0};
	std::atomic<long> started{0};
	std::atomic<long> closed{0};
	std::atomic<long> requests{0};
	std::atomic<long> hanging{0};
};

/*
 * The library's own thread pool, sized by the library's own default, with
 * counters around each task. Server::listen_internal() enqueues exactly one
 * task per accepted connection, and the task returns once
 * process_and_close_socket() has closed it: so this sees every connection's
 * accept, the moment a worker takes it, and its close, through the public
 * new_task_queue hook, without touching the library's connection handling.
 */
class counting_pool : public httplib::TaskQueue
{
      public:
	explicit counting_pool(counts &c) : counts_(c), pool_(CPPHTTPLIB_THREAD_POOL_COUNT)
	{
	}

	void enqueue(std::function<void()> fn) override
	{
		counts_.accepted++;
		counts &c = counts_;
		pool_.enqueue([&c, fn]() {
			c.started++;
			fn();
			c.closed++;
		});
	}

	void shutdown() override
	{
		pool_.shutdown();
	}

      private:
	counts &counts_;
	httplib::ThreadPool pool_;
};

struct options {
	bool reread_token = false;
	const char *port_file = nullptr;
	int port = -1;
	const char *token_file = nullptr;
};

std::mutex token_lock;
std::string token; /* guarded by token_lock */
counts stats;
int api_port;

bool read_token(const char *path, std::string &out)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		return false;
	std::string s(token_cap, '\0');
	f.read(&s[0], token_cap);
	s.resize(static_cast<size_t>(f.gcount()));
	const char *trim = " \t\r\n";
	size_t b = 0, e = s.size();
	while (b < e && (s[b] == '\0' || strchr(trim, s[b])))
		b++;
	while (e > b && (s[e - 1] == '\0' || strchr(trim, s[e - 1])))
		e--;
	out = s.substr(b, e - b);
	return true;
}

bool token_ok(const options &o, const std::string &given)
{
	std::lock_guard<std::mutex> l(token_lock);
	if (o.reread_token && !read_token(o.token_file, token))
		token.clear();
	return !token.empty() && given == token;
}

bool authorized(const options &o, const httplib::Request &req)
{
	if (req.has_header("X-ZT1-Auth"))
		return token_ok(o, req.get_header_value("X-ZT1-Auth"));
	if (req.has_param("auth"))
		return token_ok(o, req.get_param_value("auth"));
	if (req.has_header("Authorization")) {
		std::string a = req.get_header_value("Authorization");
		return a.compare(0, 7, "Bearer ") == 0 && token_ok(o, a.substr(7));
	}
	return false;
}

long long now_ms()
{
	using namespace std::chrono;
	return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/* ZeroTier's JSON comes from nlohmann::json: compact, keys in sorted order. */
std::string version_fields()
{
	return "\"version\":\"1.14.1\",\"versionBuild\":0,\"versionMajor\":1,\"versionMinor\":14,"
	       "\"versionRev\":1";
}

std::string status_json()
{
	std::string identity = std::string(address) + ":0:";
	for (int i = 0; i < 128; i++)
		identity += "0123456789abcdef"[(i * 7 + 3) % 16];
	std::ostringstream o;
	o << "{\"address\":\"" << address << "\",\"clock\":" << now_ms()
	  << ",\"config\":{\"settings\":{\"allowTcpFallbackRelay\":true,\"forceTcpRelay\":false,"
	  << "\"homeDir\":\"/var/lib/zerotier-one\",\"listeningOn\":[\"192.0.2.10/9993\","
	  << "\"192.0.2.10/21445\"],\"portMappingEnabled\":true,\"primaryPort\":" << api_port
	  << ",\"secondaryPort\":21445,\"softwareUpdate\":\"disable\","
	  << "\"softwareUpdateChannel\":\"release\",\"surfaceAddresses\":[\"198.51.100.7/9993\"],"
	  << "\"tertiaryPort\":0}},\"online\":true,\"planetWorldId\":149604618,"
	  << "\"planetWorldTimestamp\":1644592324813,\"publicIdentity\":\"" << identity
	  << "\",\"tcpFallbackActive\":false," << version_fields() << "}";
	return o.str();
}

std::string network_json()
{
	std::ostringstream o;
	o << "{\"allowDNS\":false,\"allowDefault\":false,\"allowGlobal\":false,\"allowManaged\":"
	     "true,"
	  << "\"assignedAddresses\":[\"10.147.17.23/"
	     "24\"],\"bridge\":false,\"broadcastEnabled\":true,"
	  << "\"dhcp\":false,\"dns\":{\"domain\":\"\",\"servers\":[]},\"id\":\"" << network_id
	  << "\",\"mac\":\"f2:5a:1b:0c:33:7e\",\"mtu\":2800,\"multicastSubscriptions\":"
	  << "[{\"adi\":4294967295,\"mac\":\"ff:ff:ff:ff:ff:ff\"}],\"name\":\"standin\","
	  << "\"netconfRevision\":3,\"nwid\":\"" << network_id << "\",\"portDeviceName\":"
	  << "\"ztabcdefgh\",\"portError\":0,\"routes\":[{\"flags\":0,\"metric\":0,\"target\":"
	  << "\"10.147.17.0/24\",\"via\":null}],\"status\":\"OK\",\"type\":\"PRIVATE\"}";
	return o.str();
}

std::string health_json()
{
	return "{\"clock\":" + std::to_string(now_ms()) + ",\"online\":true," + version_fields() +
	       "}";
}

std::string counts_json()
{
	long accepted = stats.accepted, started = stats.started, closed = stats.closed;
	std::ostringstream o;
	o << "{\"accepted\":" << accepted << ",\"open\":" << accepted - closed
	  << ",\"closed\":" << closed << ",\"busy\":" << started - closed
	  << ",\"queued\":" << accepted - started << ",\"requests\":" << stats.requests
	  << ",\"hanging\":" << stats.hanging << ",\"workers\":" << CPPHTTPLIB_THREAD_POOL_COUNT
	  << "}";
	return o.str();
}

long param_ms(const httplib::Request &req, long fallback)
{
	if (!req.has_param("ms"))
		return fallback;
	long ms = std::atol(req.get_param_value("ms").c_str());
	return std::max(0L, std::min(ms, max_wait_ms));
}

/*
 * cpp-httplib 0.11 tells a handler nothing about its connection but the
 * addresses, so the connection's descriptor is found by them. None found
 * means the client has reset the connection already: getpeername() fails on
 * a reset socket.
 */
int connection_fd(const httplib::Request &req)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == nullptr)
		return -1;
	int found = -1;
	while (struct dirent *e = readdir(d)) {
		int fd = atoi(e->d_name);
		struct sockaddr_in peer, self;
		socklen_t pl = sizeof(peer), sl = sizeof(self);
		if (e->d_name[0] == '.' || fd == dirfd(d) ||
		    getpeername(fd, reinterpret_cast<struct sockaddr *>(&peer), &pl) != 0 ||
		    peer.sin_family != AF_INET ||
		    getsockname(fd, reinterpret_cast<struct sockaddr *>(&self), &sl) != 0)
			continue;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
		if (ntohs(peer.sin_port) == req.remote_port &&
		    ntohs(self.sin_port) == req.local_port && req.remote_addr == ip) {
			found = fd;
			break;
		}
	}
	closedir(d);
	return found;
}

/* Holds the worker until the client closes or resets its connection, or ms pass. */
void hang(const httplib::Request &req, httplib::Response &res)
{
	long ms = param_ms(req, max_wait_ms);
	stats.hanging++;
	int fd = connection_fd(req);
	auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
	bool gone = fd < 0;
	while (!gone) {
		auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
		                end - std::chrono::steady_clock::now())
		                .count();
		if (left <= 0)
			break;
		/* POLLRDHUP: a FIN; a RST also reports POLLHUP and POLLERR. */
		struct pollfd p = {fd, POLLRDHUP, 0};
		int n = poll(&p, 1, static_cast<int>(left));
		if (n < 0 && errno != EINTR)
			break;
		gone = n > 0;
	}
	stats.hanging--;
	res.set_content("{\"hung_ms\":" + std::to_string(ms) +
	                    ",\"client_gone\":" + (gone ? "true" : "false") + "}",
	                "application/json");
}

void json(httplib::Response &res, const std::string &body)
{
	res.set_content(body, "application/json");
}

void serve_api(httplib::Server &svr, const options &o)
{
	svr.new_task_queue = [] { return new counting_pool(stats); };
	svr.set_pre_routing_handler([&o](const httplib::Request &req, httplib::Response &res) {
		if (req.path.compare(0, 10, "/_standin/") == 0)
			return httplib::Server::HandlerResponse::Unhandled;
		stats.requests++;
		if (req.path == "/health" || authorized(o, req))
			return httplib::Server::HandlerResponse::Unhandled;
		json(res, "{}");
		res.status = 401;
		return httplib::Server::HandlerResponse::Handled;
	});
	svr.Get("/status",
	        [](const httplib::Request &, httplib::Response &res) { json(res, status_json()); });
	svr.Get("/health",
	        [](const httplib::Request &, httplib::Response &res) { json(res, health_json()); });
	svr.Get("/network", [](const httplib::Request &, httplib::Response &res) {
		json(res, "[" + network_json() + "]");
	});
	auto network = [](const httplib::Request &req, httplib::Response &res) {
		if (req.matches[1] != network_id) {
			res.status = 404;
			json(res, "");
			return;
		}
		json(res, req.method == "DELETE" ? "{\"result\":true}" : network_json());
	};
	const char *network_path = "/network/([0-9a-fA-F]{16})";
	svr.Get(network_path, network);
	svr.Post(network_path, network);
	svr.Put(network_path, network);
	svr.Delete(network_path, network);
	svr.Get("/peer", [](const httplib::Request &, httplib::Response &res) { json(res, "[]"); });
	svr.Get("/slow", [](const httplib::Request &req, httplib::Response &res) {
		long ms = param_ms(req, 1000);
		std::this_thread::sleep_for(std::chrono::milliseconds(ms));
		json(res, "{\"slept_ms\":" + std::to_string(ms) + "}");
	});
	svr.Get("/hang", hang);
	svr.Get("/_standin/connections",
	        [](const httplib::Request &, httplib::Response &res) { json(res, counts_json()); });
}

int usage()
{
	fprintf(stderr,
	        "usage: zt-api-standin [--reread-token] [--port-file PATH] PORT TOKEN_FILE\n");
	return 2;
}

bool parse_args(int argc, char **argv, options &o)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (strcmp(argv[i], "--reread-token") == 0)
			o.reread_token = true;
		else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			o.port_file = argv[++i];
		else
			return false;
	}
	if (argc - i != 2)
		return false;
	char *end;
	long port = strtol(argv[i], &end, 10);
	if (*argv[i] == '\0' || *end != '\0' || port < 0 || port > 65535)
		return false;
	o.port = static_cast<int>(port);
	o.token_file = argv[i + 1];
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	options o;
	if (!parse_args(argc, argv, o))
		return usage();
	if (!read_token(o.token_file, token)) {
		fprintf(stderr, "zt-api-standin: cannot read %s: %s\n", o.token_file,
		        strerror(errno));
		return 1;
	}
	/* As ZeroTier One: a write to a connection the client closed must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	httplib::Server api;
	serve_api(api, o);
	api_port = o.port == 0 ? api.bind_to_any_port("127.0.0.1")
	                       : (api.bind_to_port("127.0.0.1", o.port) ? o.port : -1);
	if (api_port <= 0) {
		fprintf(stderr, "zt-api-standin: cannot listen on 127.0.0.1:%d\n", o.port);
		return 1;
	}
	httplib::Server control;
	control.new_task_queue = [] { return new httplib::ThreadPool(2); };
	control.Get("/connections", [](const httplib::Request &, httplib::Response &res) {
		json(res, counts_json());
	});
	int control_port = control.bind_to_any_port("127.0.0.1");
	if (control_port <= 0) {
		fprintf(stderr, "zt-api-standin: cannot listen for control\n");
		return 1;
	}
	if (o.port_file) {
		std::ofstream f(o.port_file, std::ios::binary | std::ios::trunc);
		f << api_port;
		if (!f) {
			fprintf(stderr, "zt-api-standin: cannot write %s\n", o.port_file);
			return 1;
		}
	}
	printf("listening on 127.0.0.1:%d\ncontrol on 127.0.0.1:%d\n", api_port, control_port);
	fflush(stdout);
	std::thread control_thread([&control] { control.listen_after_bind(); });
	bool ok = api.listen_after_bind();
	control.stop();
	control_thread.join();
	return ok ? 0 : 1;
}
