-- wrk script for tests/bench/bench.py: prints the run's figures as one line
-- "BENCH {json}" that the benchmark parses (latencies in microseconds;
-- "status" counts responses that were not 2xx or 3xx).
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,' ..
		'"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
		summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
		latency:percentile(50), latency:percentile(99), latency.max))
end
