"""A stand-in OpenAI-compatible upstream for the SDK tests: answers at once, records every request.

POST /v1/chat/completions answers by the mode set with POST /_mode {"mode": ...}:
  ok      a specific, actionable reply (what a good bot model writes)
  hollow  sympathy with no substance (fails Rapport's audit)
  error   HTTP 500
  slow    sleeps longer than Rapport's upstream timeout
  tool    a tool call that echoes the e-mail placeholder it was given
GET /_received returns every chat request body received since the last POST /_reset.
Usage: python3 standin.py PORT
"""

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "ok", "received": []}
LOCK = threading.Lock()

GOOD = (
    "I'm sorry your order still hasn't arrived, that's really frustrating when you've been waiting. "
    "I've opened a trace with the courier today and I'll email you an update by 5pm tomorrow. "
    "If you'd rather talk it through, reply here and a colleague will pick it up."
)
HOLLOW = "We apologise for any inconvenience caused. Thank you for your patience."


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):
        if self.path == "/_received":
            with LOCK:
                return self.reply(200, STATE["received"])
        if self.path == "/v1/models":
            return self.reply(200, {"object": "list", "data": [{"id": "standin-1", "object": "model", "created": 0, "owned_by": "standin"}]})
        self.reply(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = self.body()
        if self.path == "/_mode":
            with LOCK:
                STATE["mode"] = body["mode"]
            return self.reply(200, {})
        if self.path == "/_reset":
            with LOCK:
                STATE["received"] = []
                STATE["mode"] = "ok"
            return self.reply(200, {})
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": "not found"}})
        with LOCK:
            STATE["received"].append(body)
            mode = STATE["mode"]
        if mode == "error":
            return self.reply(500, {"error": {"message": "stand-in failure", "type": "server_error"}})
        if mode == "slow":
            time.sleep(4)
        message = {"role": "assistant", "content": HOLLOW if mode == "hollow" else GOOD}
        finish = "stop"
        if mode == "tool" and body.get("tools"):
            text = json.dumps(body["messages"])
            email = re.search(r"<EMAIL_\d+>", text)
            args = json.dumps({"email": email.group(0) if email else "none"})
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": args}}],
            }
            finish = "tool_calls"
        self.reply(200, {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "standin-1"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        })


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
