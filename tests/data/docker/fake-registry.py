# A registry that serves a manifest whose layer blob is missing, so that a pull
# fails inside the HTTP 200 progress stream (pull-error-stream.jsonl):
#   python3 fake-registry.py &  # listens on 127.0.0.1:5999
#   curl --unix-socket /var/run/docker.sock -X POST \
#     "http://localhost/v1.41/images/create?fromImage=127.0.0.1%3A5999%2Ffixture-broken&tag=latest"
import hashlib, json, http.server, sys
cfg = json.dumps({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:"+"0"*64]}}).encode()
cfgd = "sha256:" + hashlib.sha256(cfg).hexdigest()
layerd = "sha256:" + "1"*64
man = json.dumps({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
  "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":len(cfg),"digest":cfgd},
  "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1234,"digest":layerd}]}).encode()
mand = "sha256:" + hashlib.sha256(man).hexdigest()
class H(http.server.BaseHTTPRequestHandler):
    def send(self, code, body=b"", ct="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        for k, v in (extra or {}).items(): self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def do_HEAD(self): self.do_GET()
    def do_GET(self):
        sys.stderr.write(self.command + " " + self.path + "\n")
        if self.path == "/v2/": return self.send(200, b"{}")
        if "/manifests/" in self.path:
            return self.send(200, man, "application/vnd.docker.distribution.manifest.v2+json", {"Docker-Content-Digest": mand})
        if self.path.endswith(cfgd): return self.send(200, cfg, "application/octet-stream")
        if "/blobs/" in self.path:
            return self.send(404, json.dumps({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":self.path.rsplit("/",1)[1]}]}).encode())
        self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}')
http.server.ThreadingHTTPServer(("127.0.0.1", 5999), H).serve_forever()
