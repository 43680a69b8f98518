"""A minimal OCI registry (distribution API v2, read-only) on loopback, serving Helm charts as Helm
stores them (config `application/vnd.cncf.helm.config.v1+json`, one chart-content layer), with
an anonymous bearer-token challenge on the tag list as ghcr.io has."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.helm.config.v1+json"
CHART_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
TOKEN = "anonymous-test-token"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.tags: dict[str, dict[str, str]] = {}  # repository -> tag -> manifest digest
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def add_chart(self, repository: str, tgz: Path) -> None:
        with tarfile.open(tgz) as tar:
            member = next(
                m for m in tar.getmembers() if m.name.endswith("/Chart.yaml") and m.name.count("/") == 1
            )
            chart = yaml.safe_load(tar.extractfile(member).read())  # type: ignore[union-attr]
        config = json.dumps(chart).encode()
        layer = tgz.read_bytes()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": {"mediaType": CONFIG_TYPE, "digest": _digest(config), "size": len(config)},
                "layers": [{"mediaType": CHART_TYPE, "digest": _digest(layer), "size": len(layer)}],
            }
        ).encode()
        for blob in (config, layer, manifest):
            self.blobs[_digest(blob)] = blob
        self.tags.setdefault(repository, {})[str(chart["version"])] = _digest(manifest)

    def start(self) -> None:
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):  # noqa: N802 (http.server's name)
                self.do_GET()

            def do_GET(self):  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path == "/token":
                    return self._send(200, json.dumps({"token": TOKEN}).encode())
                if path == "/v2/":
                    return self._send(200, b"{}")
                m = re.fullmatch(r"/v2/(?P<name>.+)/(?P<what>tags|manifests|blobs)/(?P<ref>.+)", path)
                if not m or m["name"] not in registry.tags:
                    return self._send(404)
                name, what, ref = m["name"], m["what"], m["ref"]
                if what == "tags":
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        challenge = f'Bearer realm="http://{registry.host}/token",service="test",scope="repository:{name}:pull"'
                        return self._send(401, b"{}", {"WWW-Authenticate": challenge})
                    return self._send(
                        200, json.dumps({"name": name, "tags": sorted(registry.tags[name])}).encode()
                    )
                digest = registry.tags[name].get(ref, ref)
                blob = registry.blobs.get(digest)
                if blob is None:
                    return self._send(404)
                content_type = MANIFEST_TYPE if what == "manifests" else "application/octet-stream"
                return self._send(200, blob, {"Content-Type": content_type, "Docker-Content-Digest": digest})

        return Handler
