//! Audits per second for typical (customer, reply) pairs, on one core.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rapport_audit::{Auditor, Policy, Role, Turn};

const PAIRS: &[(&str, &str)] = &[
    (
        "My order #48213 still hasn't arrived and it's been two weeks.",
        "I'm sorry order #48213 is so late. I've asked the courier to trace it and I'll email you an update by Friday.",
    ),
    (
        "I was charged twice for my subscription this month!!",
        "I understand your frustration. Please be patient.",
    ),
    (
        "How do I change the delivery address for my next order?",
        "Go to Account > Addresses, choose the new address and tap Save. It applies to orders from now on.",
    ),
    (
        "I want to speak to a real person.",
        "Of course. I'm transferring you to a colleague now; they'll have our chat history so you won't need to repeat anything.",
    ),
    (
        "The app crashes every time I open the payment page.",
        "That sounds really frustrating. Which phone and app version are you using? Meanwhile, please update the app and restart your phone.",
    ),
];

fn audits(c: &mut Criterion) {
    let auditor = Auditor::new();
    let policy = Policy::default();
    let history = vec![
        Turn {
            role: Role::Customer,
            text: "Hi, I need help with an order.".into(),
        },
        Turn {
            role: Role::Bot,
            text: "Sure, I can help with that. What's your order number?".into(),
        },
    ];
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(PAIRS.len() as u64));
    group.bench_function("typical_replies", |b| {
        b.iter(|| {
            for (customer, reply) in PAIRS {
                black_box(
                    auditor
                        .audit(black_box(customer), black_box(reply), &history, &policy)
                        .ok(),
                );
            }
        })
    });
    group.finish();
}

criterion_group!(benches, audits);
criterion_main!(benches);
