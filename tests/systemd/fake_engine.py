"""A stand-in for the Docker Engine on a Unix socket, just enough for
endpointd to negotiate the API version, watch events, find no containers and
have every image pull refused.  Endpoints created against it reach Failed
quickly, with no Docker Engine on the machine."""

import json
import os
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler

API_VERSION = "1.41"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def address_string(self):  # AF_UNIX peers have no host
        return "unix"

    def _send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _path(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/v1.") and "/" in path[1:]:
            path = path[path.index("/", 1):]
        return path

    def do_GET(self):
        path = self._path()
        self.server.requests.append(("GET", self.path))
        if path == "/_ping":
            self._send(200, b"OK", "text/plain; charset=utf-8")
        elif path == "/version":
            self._send(200, {"Version": "20.10.24", "ApiVersion": API_VERSION,
                             "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64"})
        elif path == "/events":
            self.send_response(200)
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            while not self.server.stopping.is_set():
                time.sleep(0.05)
            self.close_connection = True
        elif path == "/containers/json":
            self._send(200, [])
        elif path.startswith("/images/") and path.endswith("/json"):
            name = path[len("/images/"):-len("/json")]
            self._send(404, {"message": f"no such image: {name}: No such image: {name}"})
        else:
            self._send(404, {"message": "page not found"})

    def do_POST(self):
        self.server.requests.append(("POST", self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self._path() == "/images/create":
            self._send(500, {"message": "pull access denied: the fake engine of the tests pulls nothing"})
        else:
            self._send(404, {"message": "page not found"})

    def do_DELETE(self):
        self.server.requests.append(("DELETE", self.path))
        self._send(404, {"message": "No such container"})


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeEngine:
    """Serves on path until stop()."""

    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.server = _Server(path, _Handler)
        self.server.requests = []
        self.server.stopping = threading.Event()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return list(self.server.requests)

    def stop(self):
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
