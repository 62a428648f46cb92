"""A stand-in for vLLM's OpenAI server, for fast tests of the launcher's process handling only.

Put this folder on PYTHONPATH and `python -m vllm.entrypoints.openai.api_server` runs it. It answers
/v1/models like vLLM (owned_by "vllm") and /v1/completions with a fixed text; FAKE_VLLM_DELAY_S
delays readiness, FAKE_VLLM_FAIL makes it exit at once with that message.
"""

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--served-model-name", nargs="+")
args, _unknown = parser.parse_known_args()
names = args.served_model_name or [args.model]

if os.environ.get("FAKE_VLLM_FAIL"):
    print(os.environ["FAKE_VLLM_FAIL"], flush=True)
    sys.exit(3)
print(f"fake vllm: loading {args.model}", flush=True)
time.sleep(float(os.environ.get("FAKE_VLLM_DELAY_S", "0")))


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": n, "owned_by": "vllm"} for n in names]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if body.get("model") not in names:
            self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
            return
        usage = {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}}
        self._send(200, {"model": names[0], "choices": [{"text": "ok", "finish_reason": "stop"}], "usage": usage})

    def log_message(self, fmt, *a):
        print("fake vllm: " + fmt % a, flush=True)


server = ThreadingHTTPServer((args.host, args.port), Handler)
print("fake vllm: Application startup complete.", flush=True)
server.serve_forever()
