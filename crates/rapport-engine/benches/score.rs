//! Throughput of conversation metrics (what `rapport score` and the dashboard compute per conversation):
//! analysis of the six customer turns and audit of the six replies of a typical support conversation,
//! on one core. `rapport score` runs this on every core.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rapport_audit::Auditor;
use rapport_engine::policy::Policy;
use rapport_engine::score::{score, Overview};
use rapport_engine::{Engine, Role, Turn};
use std::hint::black_box;

const TURNS: [(&str, &str); 6] = [
    ("Hi, my order 48213 still hasn't arrived and it was due last Monday.", "I'm sorry your order is late. I've checked 48213: it left our warehouse on Monday and I've asked the courier to trace it today."),
    ("I already checked the tracking page, it just says in transit.", "Thanks for checking the tracking already. I've opened a trace with the courier and flagged it as urgent."),
    ("This is the second time I'm asking, nobody gets back to me.", "You shouldn't have had to ask twice. I'll email you the courier's answer by 5pm today."),
    ("I needed it for my daughter's birthday, I'm really upset.", "That's a real disappointment before a birthday. I've sent a replacement by express; it arrives tomorrow."),
    ("Can you just tell me when it will come?", "Tomorrow before noon; the tracking number is in the email I've just sent."),
    ("Ok, thank you, that's great.", "Glad that helps! Anything else I can do for you?"),
];

fn bench(c: &mut Criterion) {
    let engine = Engine::builtin().expect("built-in models");
    let auditor = Auditor::new();
    let policy = Policy::default();
    let turns: Vec<Turn> = TURNS
        .iter()
        .flat_map(|(customer, agent)| {
            [
                Turn {
                    role: Role::Customer,
                    text: customer.to_string(),
                },
                Turn {
                    role: Role::Agent,
                    text: agent.to_string(),
                },
            ]
        })
        .collect();
    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Elements(1));
    group.bench_function("conversation_6_customer_6_agent_turns", |b| {
        b.iter(|| {
            let analyses = engine.analyze_turns(black_box(&turns));
            score("bench", &turns, &analyses, &auditor, &policy)
        })
    });
    let analyses = engine.analyze_turns(&turns);
    let metrics = score("bench", &turns, &analyses, &auditor, &policy);
    group.bench_function("aggregate_add", |b| {
        let mut overview = Overview::default();
        b.iter(|| overview.add(black_box(&metrics)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
