//! Throughput of PII detection plus redaction with all detectors on, over realistic support messages
//! (the same corpus as the signals bench), and on a 1 MB text to show detection stays linear.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rapport_privacy::{apply, Detector, Operator};

const CORPUS: &str = include_str!("../../rapport-signals/benches/corpus.txt");
const WITH_PII: &str = "Hi, I'm Ann Smith. My card 4111 1111 1111 1111 was charged twice, call me on +44 20 7946 0958 or mail ann.smith@example.com.";

fn redaction(c: &mut Criterion) {
    let detector = Detector::new();
    let mut messages: Vec<&str> = CORPUS.lines().filter(|l| !l.is_empty()).collect();
    messages.push(WITH_PII);
    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("messages", |b| {
        b.iter(|| {
            for message in &messages {
                let entities = detector.detect(black_box(message));
                black_box(apply(message, &entities, Operator::Redact, None, None).ok());
            }
        })
    });
    let megabyte = WITH_PII.repeat((1 << 20) / WITH_PII.len());
    group.throughput(Throughput::Bytes(megabyte.len() as u64));
    group.sample_size(10);
    group.bench_function("one_megabyte_text", |b| {
        b.iter(|| black_box(detector.detect(black_box(&megabyte)).len()))
    });
    group.finish();
}

criterion_group!(benches, redaction);
criterion_main!(benches);
