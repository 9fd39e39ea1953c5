"""An OTLP/HTTP endpoint owned by a test: it records what the collector (or the proxy) exports to it.

It answers like any OTLP receiver (200 and an empty protobuf response) and keeps every request
(protobuf or JSON) decoded, so a test can check what the collector sent to the address where Tempo,
Loki or the ingester would be. It checks the collector's output; it does not imitate those backends.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _ids_to_base64(body: bytes) -> str:
    """OTLP/HTTP JSON writes trace and span ids in hex, where protobuf's JSON mapping expects base64."""
    data = json.loads(body)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return json.dumps(data)


class OtlpCapture:
    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.logs: list[ExportLogsServiceRequest] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message: Any = (
                    ExportLogsServiceRequest()
                    if self.path.endswith("/v1/logs")
                    else ExportTraceServiceRequest()
                )
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    json_format.Parse(_ids_to_base64(body), message)
                else:
                    message.ParseFromString(body)
                with capture._lock:
                    capture.raw.append(body)
                    (capture.logs if self.path.endswith("/v1/logs") else capture.traces).append(message)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
