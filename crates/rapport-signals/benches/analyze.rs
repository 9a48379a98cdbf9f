//! Throughput of the full per-message analysis on a fixed corpus of realistic customer messages
//! (about 100 characters each), of the conversation reading (the same messages as customer turns
//! answering a company reply each), and the cost of loading the built-in models.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rapport_signals::analysis::Speaker;
use rapport_signals::Analyzer;

const CORPUS: &str = include_str!("corpus.txt");

fn analysis(c: &mut Criterion) {
    let analyzer = Analyzer::builtin().expect("built-in models");
    let messages: Vec<&str> = CORPUS.lines().filter(|l| !l.is_empty()).collect();
    let bytes: usize = messages.iter().map(|m| m.len()).sum();

    let mut group = c.benchmark_group("analyze");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("messages", |b| {
        b.iter(|| {
            for message in &messages {
                black_box(analyzer.analyze(black_box(message)));
            }
        })
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("bytes", |b| {
        b.iter(|| {
            for message in &messages {
                black_box(analyzer.analyze(black_box(message)));
            }
        })
    });
    group.finish();

    let reply = "Sorry about that! Could you tell me your order number so I can check?";
    let turns: Vec<(Speaker, &str)> = messages
        .iter()
        .flat_map(|m| [(Speaker::Company, reply), (Speaker::Customer, *m)])
        .collect();
    let mut group = c.benchmark_group("analyze_conversation");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("customer_turns", |b| {
        b.iter(|| black_box(analyzer.analyze_conversation(black_box(&turns))))
    });
    group.finish();

    c.bench_function("load_builtin_models", |b| {
        b.iter(|| black_box(Analyzer::builtin().expect("built-in models")))
    });
}

criterion_group!(benches, analysis);
criterion_main!(benches);
