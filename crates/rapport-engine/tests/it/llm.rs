//! The LLM backend against a real HTTP server on 127.0.0.1 that speaks the chat-completions protocol,
//! including slow, failing, malformed and empty answers: the customer always gets a reply.

use crate::scenarios::shared_engine;
use rapport_engine::kb::KnowledgeBase;
use rapport_engine::llm::{ClientConfig, OpenAiClient};
use rapport_engine::policy::Policy;
use rapport_engine::respond::{Responder, Response, Source};
use rapport_engine::{Conversation, Role, Turn};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers to one request.
struct Answer {
    delay: Duration,
    status: u16,
    content_type: &'static str,
    body: String,
}

fn completion(content: &str) -> Answer {
    Answer {
        delay: Duration::ZERO,
        status: 200,
        content_type: "application/json",
        body: serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
        })
        .to_string(),
    }
}

fn stream(pieces: &[&str]) -> Answer {
    let mut body = String::new();
    for p in pieces {
        let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"content": p}}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    Answer {
        delay: Duration::ZERO,
        status: 200,
        content_type: "text/event-stream",
        body,
    }
}

/// A server answering the n-th request with `answers[n]` (the last one repeats); returns its base URL
/// and the request bodies it received.
fn serve(answers: Vec<Answer>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).map(|r| r > 2).unwrap_or(false) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock()
                .expect("log")
                .push(String::from_utf8_lossy(&body).into_owned());
            let a = &answers[n.min(answers.len() - 1)];
            std::thread::sleep(a.delay);
            let _ = write!(
                stream,
                "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                a.status,
                a.content_type,
                a.body.len(),
                a.body
            );
        }
    });
    (url, seen)
}

fn responder(url: &str, timeout_ms: u64, stream: bool) -> Responder {
    let client = OpenAiClient::new(ClientConfig {
        base_url: url.to_string(),
        model: "test".into(),
        api_key: Some("test-key".into()),
        timeout: Duration::from_millis(timeout_ms),
        stream,
        temperature: 0.2,
        max_tokens: 300,
    })
    .expect("client");
    Responder::new(
        shared_engine(),
        Policy::default(),
        Some(KnowledgeBase::example().expect("kb")),
    )
    .with_llm(Box::new(client))
}

fn conversation() -> Conversation {
    Conversation {
        turns: vec![Turn {
            role: Role::Customer,
            text: "Hi, my name is Sarah Jones and my email is sarah.jones@example.com. My refund for order A-12345 still hasn't arrived and I'm annoyed.".into(),
        }],
    }
}

/// A good reply, written with the pseudonym the engine gives the customer's name.
const GOOD: &str = "Hi <PERSON_1>, that's frustrating, and I can see why. I've re-issued the refund for order A-12345 today, and it reaches your card within 3-5 working days. If you'd rather talk to a person, just say so.";

fn reply(r: &Responder) -> Response {
    r.reply("llm-test", &conversation()).expect("reply")
}

#[test]
fn a_good_answer_is_used_rehydrated_and_the_prompt_has_no_raw_pii() {
    let (url, seen) = serve(vec![completion(GOOD)]);
    let r = reply(&responder(&url, 5_000, false));
    assert_eq!(r.source, Source::Llm, "{:?}", r.diagnostics);
    assert!(r.reply.contains("Hi Sarah Jones,"), "{}", r.reply);
    assert!(r.audit.score >= 70);
    let requests = seen.lock().expect("log");
    assert_eq!(requests.len(), 1);
    let body = &requests[0];
    assert!(
        !body.contains("sarah.jones@example.com") && !body.contains("Sarah"),
        "{body}"
    );
    assert!(
        body.contains("<EMAIL_1>") && body.contains("A-12345"),
        "{body}"
    );
    assert!(body.contains("\"model\":\"test\""), "{body}");
}

/// What the LLM server receives holds no account number, card number or birth date, in the transcript or
/// in the memory section, even where a value recurs in a turn the detector alone would not flag.
#[test]
fn account_card_and_birth_date_never_reach_the_llm_server() {
    let (url, seen) = serve(vec![completion(GOOD)]);
    let conversation = Conversation {
        turns: vec![
            Turn {
                role: Role::Customer,
                text: "my account number is GB82WEST12345698765432 and my date of birth is 12/03/1980".into(),
            },
            Turn {
                role: Role::Agent,
                text: "Thanks, can you also confirm the card you paid with?".into(),
            },
            Turn {
                role: Role::Customer,
                text: "account no 4111111111111111. Ticket 4111111111111111 is still open and nobody has called me".into(),
            },
        ],
    };
    let r = responder(&url, 5_000, false)
        .reply("llm-memory", &conversation)
        .expect("reply");
    assert_eq!(r.source, Source::Llm, "{:?}", r.diagnostics);
    let requests = seen.lock().expect("log");
    assert_eq!(requests.len(), 1);
    for raw in ["GB82WEST12345698765432", "4111111111111111", "12/03/1980"] {
        assert!(
            !requests[0].contains(raw),
            "{raw} reached the LLM: {}",
            requests[0]
        );
    }
}

#[test]
fn a_streamed_answer_is_assembled() {
    let (url, _) = serve(vec![stream(&[&GOOD[..40], &GOOD[40..100], &GOOD[100..]])]);
    let r = reply(&responder(&url, 5_000, true));
    assert_eq!(r.source, Source::Llm, "{:?}", r.diagnostics);
    assert!(r.reply.ends_with("just say so."), "{}", r.reply);
}

#[test]
fn a_hollow_answer_is_repaired_once_with_the_audit_suggestions() {
    let (url, seen) = serve(vec![
        completion("I understand your frustration. Sorry for any inconvenience."),
        completion(GOOD),
    ]);
    let r = reply(&responder(&url, 5_000, false));
    assert_eq!(r.source, Source::LlmRepaired, "{:?}", r.diagnostics);
    let requests = seen.lock().expect("log");
    assert_eq!(requests.len(), 2);
    assert!(requests[1].contains("audit scored"), "{}", requests[1]);
}

#[test]
fn two_failed_audits_fall_back_to_the_composer() {
    let (url, seen) = serve(vec![completion("I understand your frustration.")]);
    let r = reply(&responder(&url, 5_000, false));
    assert_eq!(r.source, Source::Composer);
    assert!(
        r.diagnostics[0].contains("failed the audit twice"),
        "{:?}",
        r.diagnostics
    );
    assert!(r.audit.score >= 70 && !r.reply.is_empty());
    assert_eq!(seen.lock().expect("log").len(), 2, "one repair only");
}

#[test]
fn every_llm_failure_falls_back_to_the_composer_with_a_clear_diagnostic() {
    let slow = Answer {
        delay: Duration::from_millis(1_500),
        ..completion(GOOD)
    };
    let failing = Answer {
        status: 500,
        body: "{\"error\":{\"message\":\"model overloaded\"}}".into(),
        ..completion(GOOD)
    };
    let malformed = Answer {
        body: "<html>Bad gateway</html>".into(),
        ..completion(GOOD)
    };
    let bad_stream = Answer {
        body: "data: {not json\n\n".into(),
        content_type: "text/event-stream",
        ..completion(GOOD)
    };
    for (answer, timeout, expected) in [
        (slow, 300, "did not answer within 300 ms"),
        (failing, 5_000, "HTTP 500"),
        (malformed, 5_000, "not a chat completion"),
        (completion("   "), 5_000, "empty"),
        (bad_stream, 5_000, "stream chunk"),
    ] {
        let (url, _) = serve(vec![answer]);
        let started = std::time::Instant::now();
        let r = reply(&responder(&url, timeout, false));
        assert_eq!(r.source, Source::Composer, "{expected}");
        assert!(
            r.diagnostics
                .iter()
                .any(|d| d.contains(expected) && d.contains("composer")),
            "{expected}: {:?}",
            r.diagnostics
        );
        assert!(
            r.reply.contains("A-12345") && r.audit.score >= 70,
            "{}",
            r.reply
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{expected}: the timeout holds"
        );
    }
}

#[test]
fn an_llm_that_is_down_falls_back_to_the_composer() {
    // Bind and drop: nothing listens on that port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let r = reply(&responder(
        &format!("http://127.0.0.1:{port}/v1"),
        1_000,
        false,
    ));
    assert_eq!(r.source, Source::Composer);
    assert!(
        r.diagnostics[0].contains("could not be reached"),
        "{:?}",
        r.diagnostics
    );
}

#[test]
fn self_harm_risk_never_waits_for_the_llm() {
    let (url, seen) = serve(vec![completion(GOOD)]);
    let r = responder(&url, 5_000, false)
        .reply(
            "llm-safety",
            &Conversation {
                turns: vec![Turn {
                    role: Role::Customer,
                    text: "I want to end my life, nothing matters any more.".into(),
                }],
            },
        )
        .expect("reply");
    assert_eq!(r.source, Source::Composer);
    assert!(r.reply.contains("116 123"));
    assert!(
        seen.lock().expect("log").is_empty(),
        "no LLM call in a crisis"
    );
}
