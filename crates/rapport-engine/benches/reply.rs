//! Latency of one reply with the built-in composer on a 20-turn conversation (10 customer turns), with the
//! knowledge-base index already built: state (analysis, pseudonyms, memory, trajectory), strategy,
//! retrieval, composition, audit and handoff packet.
//!
//! Besides criterion's estimate, prints p50/p99/max over 2,000 timed replies, since the target is a p99.

use criterion::{criterion_group, criterion_main, Criterion};
use rapport_engine::kb::KnowledgeBase;
use rapport_engine::policy::Policy;
use rapport_engine::respond::Responder;
use rapport_engine::{Conversation, Engine, Role, Turn};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CUSTOMER: [&str; 10] = [
    "Hi, my name is Dana Whitfield. My order 48213 was supposed to arrive on Monday and it still isn't here.",
    "The tracking link says it's been in the depot since Saturday. I've already called the courier twice.",
    "That's what you said last time. I paid £89.99 for next-day delivery and it's now five days late!",
    "I'm getting really frustrated, this is a birthday present for my daughter and the party is on Friday.",
    "Can you at least refund the delivery charge? You can email me at dana.w@example.com.",
    "I still haven't had any email. Why does nobody answer?",
    "Honestly I'm worried it's lost. What happens if it doesn't turn up by Thursday?",
    "OK, a replacement would be fine if it can come by Thursday. Same address as before.",
    "Will I get a confirmation? Last time nobody told me anything.",
    "This is the third time I'm asking. I want to speak to a manager.",
];

fn conversation() -> Conversation {
    let mut turns = Vec::new();
    for (i, text) in CUSTOMER.iter().enumerate() {
        turns.push(Turn {
            role: Role::Customer,
            text: text.to_string(),
        });
        if i + 1 < CUSTOMER.len() {
            turns.push(Turn {
                role: Role::Bot,
                text: format!("Thanks for waiting. I've checked the courier scan for order 48213 (update {i}); we'll open a trace within 48 hours."),
            });
        }
    }
    assert_eq!(turns.len(), 19);
    turns.push(Turn {
        role: Role::Bot,
        text: "Here's what we'll do next: we send a replacement by next-day delivery.".into(),
    });
    turns.push(Turn {
        role: Role::Customer,
        text: "Is it on its way?".into(),
    });
    Conversation { turns }
}

fn bench(c: &mut Criterion) {
    let engine = Arc::new(Engine::builtin().expect("models"));
    let policy = Policy::from_toml(include_str!("../../../examples/policy.toml")).expect("policy");
    let responder = Responder::new(engine, policy, Some(KnowledgeBase::example().expect("kb")));
    let conversation = conversation();

    let mut times: Vec<Duration> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            black_box(
                responder
                    .reply("bench", black_box(&conversation))
                    .expect("reply"),
            );
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "reply, 21-turn conversation: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} replies",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );

    c.bench_function("reply_20_turns", |b| {
        b.iter(|| {
            responder
                .reply("bench", black_box(&conversation))
                .expect("reply")
        })
    });
    c.bench_function("kb_search", |b| {
        let kb = KnowledgeBase::example().expect("kb");
        b.iter(|| {
            kb.search(
                black_box("my parcel is late and the tracking has not moved"),
                3,
            )
            .len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
