//! Throughput of the full per-message analysis on a fixed corpus of realistic customer messages
//! (about 100 characters each), of the conversation reading (the same messages as customer turns
//! answering a company reply each), of the accurate tier (sentence encoder + its CX model), and the cost
//! of loading the built-in models.

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

    // The accurate tier: the same messages through the sentence encoder (the distilled token table)
    // and the CX model that reads it.
    if let (Some(encoder), Some(cx)) = (
        rapport_signals::builtin::encoder().expect("encoder loads"),
        rapport_signals::builtin::cx_accurate_model().expect("accurate model loads"),
    ) {
        let accurate = Analyzer::builtin()
            .expect("built-in models")
            .with_cx(Some(cx))
            .with_encoder(Some(std::sync::Arc::new(encoder)));
        let mut times: Vec<f64> = messages
            .iter()
            .map(|m| {
                let started = std::time::Instant::now();
                black_box(accurate.analyze(m));
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        eprintln!(
            "accurate tier, one pass over {} messages: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            times.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
        let mut group = c.benchmark_group("analyze_accurate");
        group.sample_size(10);
        group.throughput(Throughput::Elements(messages.len() as u64));
        group.bench_function("messages", |b| {
            b.iter(|| {
                for message in &messages {
                    black_box(accurate.analyze(black_box(message)));
                }
            })
        });
        group.finish();
    }

    c.bench_function("load_builtin_models", |b| {
        b.iter(|| black_box(Analyzer::builtin().expect("built-in models")))
    });
}

criterion_group!(benches, analysis);
criterion_main!(benches);
