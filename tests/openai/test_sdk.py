"""The OpenAI-compatible endpoint driven by the official `openai` Python SDK, against the stand-in
upstream (standin.py). Environment: RAPPORT_URL, RAPPORT_KEY, STANDIN_URL. Prints `# pass N` and
`# fail N` for CI's summary line."""

import json
import os
import sys
import unittest
import urllib.request

import openai

RAPPORT = os.environ["RAPPORT_URL"]
KEY = os.environ["RAPPORT_KEY"]
STANDIN = os.environ["STANDIN_URL"]

client = openai.OpenAI(base_url=f"{RAPPORT}/openai/v1", api_key=KEY, max_retries=0, timeout=30)

EMAIL = "dana.whitfield@example.com"
PHONE = "07700 900123"
CUSTOMER = (
    f"Hi, I'm Dana Whitfield ({EMAIL}, {PHONE}). My order 77120 still hasn't arrived "
    "and it was due last week."
)


def http(method, url, body=None, key=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def mode(name):
    http("POST", f"{STANDIN}/_mode", {"mode": name})


def received():
    return http("GET", f"{STANDIN}/_received")


def conversation(external):
    page = http("GET", f"{RAPPORT}/v1/conversations?limit=200", key=KEY)
    found = [c for c in page["items"] if c.get("external_id") == external]
    assert len(found) == 1, f"one conversation {external!r}, found {len(found)}"
    return http("GET", f"{RAPPORT}/v1/conversations/{found[0]['id']}", key=KEY)


def ask(conversation_id, messages, **kw):
    return client.chat.completions.create(
        model="standin-1",
        messages=messages,
        extra_headers={"X-Rapport-Conversation": conversation_id},
        **kw,
    )


class Endpoint(unittest.TestCase):
    def setUp(self):
        http("POST", f"{STANDIN}/_reset", {})

    def assert_no_raw_pii(self):
        sent = json.dumps(received())
        for raw in (EMAIL, PHONE, "Dana", "Whitfield"):
            self.assertNotIn(raw, sent, f"the upstream received {raw!r}")

    def test_plain_completion_is_guided_pseudonymised_and_audited(self):
        done = ask("sdk-plain", [
            {"role": "system", "content": "You are ShopBot for Example Shop."},
            {"role": "user", "content": CUSTOMER},
        ])
        self.assertEqual(done.object, "chat.completion")
        self.assertIn("opened a trace", done.choices[0].message.content)
        rapport = done.model_extra["rapport"]
        self.assertEqual(rapport["source"], "llm")
        self.assertGreaterEqual(rapport["audit"]["score"], 0)
        self.assertEqual(rapport["external_id"], "sdk-plain")
        self.assert_no_raw_pii()
        system = received()[0]["messages"][0]
        self.assertEqual(system["role"], "system")
        self.assertIn("You are ShopBot", system["content"])
        self.assertIn("Guidance from Rapport", system["content"])
        self.assertEqual(received()[0]["model"], "standin-1")
        self.assertNotIn("user", received()[0])

    def test_streamed_completion_is_audited_before_its_first_token(self):
        stream = ask("sdk-stream", [{"role": "user", "content": CUSTOMER}], stream=True)
        text, rapport, finish = "", None, None
        for chunk in stream:
            self.assertEqual(chunk.object, "chat.completion.chunk")
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
            rapport = (chunk.model_extra or {}).get("rapport") or rapport
        self.assertIn("opened a trace", text)
        self.assertEqual(finish, "stop")
        self.assertEqual(rapport["source"], "llm")
        self.assert_no_raw_pii()

    def test_a_request_for_a_person_hands_off_without_calling_the_upstream(self):
        done = ask("sdk-human", [{"role": "user", "content": "This is useless. I want to speak to a real person, now."}])
        self.assertEqual(received(), [], "the upstream was called")
        self.assertTrue(done.choices[0].message.content.strip())
        self.assertIsNotNone(done.model_extra["rapport"]["handoff"])
        queue = http("GET", f"{RAPPORT}/v1/conversations?status=handoff&limit=200", key=KEY)
        self.assertIn("sdk-human", [c.get("external_id") for c in queue["items"]])

    def test_an_upstream_failure_still_answers_with_the_fallback(self):
        for failure in ("error", "slow"):
            with self.subTest(failure):
                mode(failure)
                done = ask(f"sdk-{failure}", [{"role": "user", "content": CUSTOMER}])
                self.assertTrue(done.choices[0].message.content.strip())
                self.assertEqual(done.model_extra["rapport"]["source"], "composer")
                self.assertTrue(done.model_extra["rapport"]["diagnostics"])

    def test_an_answer_that_fails_the_audit_never_reaches_the_customer(self):
        mode("hollow")
        for stream in (False, True):
            with self.subTest(stream=stream):
                done = ask(f"sdk-hollow-{stream}", [{"role": "user", "content": CUSTOMER}], stream=stream)
                if stream:
                    text = "".join(c.choices[0].delta.content or "" for c in done if c.choices)
                else:
                    text = done.choices[0].message.content
                self.assertNotIn("apologise for any inconvenience", text)
                self.assertTrue(text.strip())
        # Each call asked once and repaired once.
        self.assertEqual(len(received()), 4)

    def test_a_resent_history_adds_no_duplicate_turns(self):
        first = [{"role": "user", "content": "My order 77120 hasn't arrived."}]
        a1 = ask("sdk-history", first).choices[0].message.content
        second = first + [
            {"role": "assistant", "content": a1},
            {"role": "user", "content": "It was due on Monday and I need it for a birthday."},
        ]
        ask("sdk-history", second)
        ask("sdk-history", second)  # the same call again (a retry)
        turns = conversation("sdk-history")["turns"]
        self.assertEqual([t["role"] for t in turns], ["customer", "bot", "customer", "bot"])
        self.assertEqual(turns[1]["text"], a1)

    def test_a_tool_call_passes_through(self):
        mode("tool")
        tools = [{"type": "function", "function": {"name": "lookup_order", "description": "Finds an order",
                  "parameters": {"type": "object", "properties": {"email": {"type": "string"}}}}}]
        done = ask("sdk-tool", [{"role": "user", "content": f"Where is my order? My e-mail is {EMAIL}."}], tools=tools)
        call = done.choices[0].message.tool_calls[0]
        self.assertEqual(done.choices[0].finish_reason, "tool_calls")
        self.assertEqual(call.function.name, "lookup_order")
        # The bot's function gets the real address back; the upstream only ever saw its placeholder.
        self.assertEqual(json.loads(call.function.arguments)["email"], EMAIL)
        self.assertEqual(received()[0]["tools"], tools)
        self.assertNotIn(EMAIL, json.dumps(received()))

    def test_errors_have_openai_shape(self):
        bad = openai.OpenAI(base_url=f"{RAPPORT}/openai/v1", api_key="rk_not_a_key", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            bad.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
        with self.assertRaises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="x", messages=[])
        self.assertIn("messages", caught.exception.message)

    def test_models_are_listed(self):
        self.assertIn("standin-1", [m.id for m in client.models.list()])


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(Endpoint)
    )
    failed = len(result.failures) + len(result.errors)
    print(f"# pass {result.testsRun - failed}")
    print(f"# fail {failed}")
    sys.exit(1 if failed else 0)
