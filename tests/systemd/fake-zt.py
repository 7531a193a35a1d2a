#!/usr/bin/python3
"""A stand-in for ZeroTier One's API on 127.0.0.1:9993 inside the systemd guest: answers every
request with a JSON object of the path and the credential headers it received, so that a check can
see which token the proxy sent."""

import http.server
import json


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "x-zt1-auth": self.headers.get("X-ZT1-Auth"),
                           "authorization": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", 9993), Handler).serve_forever()
