//! `rapport score`: metrics for files of conversations, in parallel, resumable; and `rapport generate`,
//! synthetic conversations to try it (and to measure it) on.
//!
//! Streaming: the input is read in batches, each batch is scored on all cores (`rayon`) and written in
//! input order, so memory stays flat whatever the file's size. After every batch a checkpoint
//! (`.score-checkpoint.json`: input size, where the next conversation starts, output lengths, the
//! aggregate so far) is replaced atomically; an interrupted run resumes from it, truncating the outputs to
//! what the checkpoint covers.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rapport_audit::Auditor;
use rapport_engine::policy::Policy;
use rapport_engine::score::{self, Metrics, Overview};
use rapport_engine::{Engine, Role, Turn, MAX_TURNS};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

/// Conversations scored between two checkpoints.
const BATCH: usize = 2_000;
const CHECKPOINT: &str = ".score-checkpoint.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Conversations: JSONL, one `{"id", "turns": [{"role", "text"}]}` a line (roles: customer, agent,
    /// bot, system); or CSV with a header and the columns `id,role,text`, one turn a row, the rows of a
    /// conversation next to each other.
    input: PathBuf,
    /// Input format (default: CSV for a `.csv` file, else JSONL).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Output folder: `conversations.jsonl` (one metrics object per input conversation, in input order),
    /// `conversations.csv`, `report.html` (offline charts).
    #[arg(long, value_name = "DIR", default_value = "rapport-score")]
    out: PathBuf,
    /// Company policy: distress threshold, escalation and banned phrases (default: the example policy).
    #[arg(long, value_name = "FILE", env = "RAPPORT_POLICY")]
    policy: Option<PathBuf>,
    /// Start again from the first conversation even if DIR holds an unfinished run of this input.
    #[arg(long)]
    restart: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Where the run stands; written after every batch.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    input: String,
    input_bytes: u64,
    format: Format,
    /// Conversations written (scored or with an error line).
    done: u64,
    errors: u64,
    /// Where the next conversation starts in the input (byte, line, CSV record).
    next: Position,
    jsonl_bytes: u64,
    csv_bytes: u64,
    complete: bool,
    overview: Overview,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Position {
    byte: u64,
    line: u64,
    record: u64,
}

/// One conversation as read: JSON still to parse (in parallel), turns from CSV, or why it is unreadable.
#[derive(Debug)]
enum Source {
    Json(String),
    Turns(String, Vec<Turn>),
    Invalid(String),
}

#[derive(Debug)]
struct Item {
    /// The input line where the conversation starts (1-based).
    line: u64,
    source: Source,
}

#[derive(Debug)]
struct Batch {
    items: Vec<Item>,
    next: Position,
}

/// A scored conversation, serialised for both outputs.
#[derive(Debug)]
struct Scored {
    json: String,
    csv: Option<[String; 19]>,
    metrics: Option<Metrics>,
}

#[derive(Deserialize)]
struct JsonConversation {
    id: Option<serde_json::Value>,
    turns: Vec<Turn>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let format = args.format.unwrap_or_else(|| {
        if args
            .input
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Format::Csv
        } else {
            Format::Jsonl
        }
    });
    let input_bytes = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?
        .len();
    let policy = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read policy {}", path.display()))?;
            Policy::from_toml(&text).with_context(|| format!("policy {}", path.display()))?
        }
        None => Policy::from_toml(crate::reply::EXAMPLE_POLICY)?,
    };
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("starting worker threads")?;
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let jsonl_path = args.out.join("conversations.jsonl");
    let csv_path = args.out.join("conversations.csv");
    let checkpoint_path = args.out.join(CHECKPOINT);
    let input_name = args.input.display().to_string();

    let previous = read_checkpoint(&checkpoint_path)?;
    let resume = match previous {
        Some(c) if !args.restart && !c.complete => {
            if c.input != input_name || c.input_bytes != input_bytes || c.format != format {
                bail!(
                    "{} holds an unfinished run of {} ({} bytes); score it again with --restart, or choose another --out",
                    args.out.display(),
                    c.input,
                    c.input_bytes
                );
            }
            Some(c)
        }
        _ => None,
    };
    let mut state = match resume {
        Some(c) => {
            eprintln!(
                "rapport: resuming {}: {} conversations already scored",
                args.out.display(),
                c.done
            );
            truncate(&jsonl_path, c.jsonl_bytes)?;
            truncate(&csv_path, c.csv_bytes)?;
            c
        }
        None => {
            let mut csv = csv::Writer::from_writer(Vec::new());
            csv.write_record(Metrics::CSV_HEADER)?;
            let header = csv.into_inner().context("writing the CSV header")?;
            std::fs::write(&jsonl_path, b"")
                .with_context(|| format!("cannot write {}", jsonl_path.display()))?;
            std::fs::write(&csv_path, &header)
                .with_context(|| format!("cannot write {}", csv_path.display()))?;
            Checkpoint {
                input: input_name.clone(),
                input_bytes,
                format,
                done: 0,
                errors: 0,
                next: Position {
                    byte: 0,
                    line: 1,
                    record: 0,
                },
                jsonl_bytes: 0,
                csv_bytes: header.len() as u64,
                complete: false,
                overview: Overview::default(),
            }
        }
    };
    let already = state.done;

    let engine = Engine::builtin_fast().context("loading the built-in models")?;
    let auditor = Auditor::new();
    let bar = ProgressBar::new(input_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta} left) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(state.next.byte);

    let started = Instant::now();
    let (batches_tx, batches_rx) = mpsc::sync_channel::<Batch>(2);
    let (scored_tx, scored_rx) = mpsc::sync_channel::<(Vec<Scored>, Position)>(2);
    let input = args.input.clone();
    let start = state.next;
    let write_result = std::thread::scope(|scope| -> Result<()> {
        let reader = scope.spawn(move || match format {
            Format::Jsonl => read_jsonl(&input, start, &batches_tx),
            Format::Csv => read_csv(&input, start, &batches_tx),
        });
        let scorer = scope.spawn(move || {
            for batch in batches_rx {
                let scored: Vec<Scored> = batch
                    .items
                    .into_par_iter()
                    .map(|item| score_item(item, &engine, &auditor, &policy))
                    .collect();
                if scored_tx.send((scored, batch.next)).is_err() {
                    break;
                }
            }
        });
        let written = write_batches(
            &mut state,
            scored_rx,
            &jsonl_path,
            &csv_path,
            &checkpoint_path,
            &bar,
            already,
            started,
        );
        let read = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
        scorer
            .join()
            .map_err(|_| anyhow::anyhow!("the scoring threads panicked"))?;
        written?;
        read
    });
    bar.finish_and_clear();
    write_result?;

    let seconds = started.elapsed().as_secs_f64();
    let scored_now = state.done - already;
    let report = args.out.join("report.html");
    let subtitle = format!(
        "{} conversations from {} ({} could not be read); scored by rapport {}",
        state.done,
        state.input,
        state.errors,
        env!("CARGO_PKG_VERSION")
    );
    std::fs::write(
        &report,
        rapport_service::dashboard::report_html(&state.overview, "Rapport score report", &subtitle),
    )
    .with_context(|| format!("cannot write {}", report.display()))?;
    state.complete = true;
    write_checkpoint(&checkpoint_path, &state)?;
    let summary = serde_json::json!({
        "conversations": state.done,
        "errors": state.errors,
        "resumed_from": already,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "conversations_per_second": if seconds > 0.0 { (scored_now as f64 / seconds).round() } else { 0.0 },
        "resolution_rate": state.overview.resolution_rate(),
        "escalation_rate": state.overview.escalation_rate(),
        "mean_empathy": state.overview.empathy.value(),
        "out": args.out.display().to_string(),
    });
    println!("{summary}");
    if state.errors > 0 {
        eprintln!(
            "rapport: {} conversations could not be scored; their lines in {} say why",
            state.errors,
            jsonl_path.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn write_batches(
    state: &mut Checkpoint,
    scored: mpsc::Receiver<(Vec<Scored>, Position)>,
    jsonl_path: &Path,
    csv_path: &Path,
    checkpoint_path: &Path,
    bar: &ProgressBar,
    already: u64,
    started: Instant,
) -> Result<()> {
    let open = |path: &Path| -> Result<BufWriter<File>> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(BufWriter::with_capacity(1 << 20, file))
    };
    let mut jsonl = open(jsonl_path)?;
    let mut csv = csv::Writer::from_writer(open(csv_path)?);
    for (batch, next) in scored {
        for s in batch {
            jsonl.write_all(s.json.as_bytes())?;
            jsonl.write_all(b"\n")?;
            state.jsonl_bytes += s.json.len() as u64 + 1;
            match (s.csv, s.metrics) {
                (Some(row), Some(m)) => {
                    csv.write_record(&row)?;
                    state.overview.add(&m);
                }
                _ => state.errors += 1,
            }
            state.done += 1;
        }
        jsonl.flush()?;
        csv.flush()?;
        state.csv_bytes = csv.get_ref().get_ref().metadata()?.len();
        state.next = next;
        write_checkpoint(checkpoint_path, state)?;
        bar.set_position(next.byte);
        let rate = (state.done - already) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{} conversations, {rate:.0}/s", state.done));
    }
    Ok(())
}

fn score_item(item: Item, engine: &Engine, auditor: &Auditor, policy: &Policy) -> Scored {
    let error = |id: Option<&str>, message: &str| Scored {
        json: serde_json::json!({"id": id, "line": item.line, "error": message}).to_string(),
        csv: None,
        metrics: None,
    };
    let (id, turns) = match item.source {
        Source::Invalid(message) => return error(None, &message),
        Source::Turns(id, turns) => (id, turns),
        Source::Json(text) => match serde_json::from_str::<JsonConversation>(&text) {
            Ok(c) => {
                let id = match c.id {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => s,
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => return error(None, "`id` must be a non-empty string or a number"),
                };
                (id, c.turns)
            }
            Err(e) => {
                return error(
                    None,
                    &format!(
                        "not a conversation ({{\"id\", \"turns\": [{{\"role\", \"text\"}}]}}): {e}"
                    ),
                )
            }
        },
    };
    if turns.is_empty() {
        return error(Some(&id), "the conversation has no turns");
    }
    if turns.len() > MAX_TURNS {
        return error(
            Some(&id),
            &format!(
                "the conversation has {} turns; the limit is {MAX_TURNS}",
                turns.len()
            ),
        );
    }
    let analyses = engine.analyze_turns(&turns);
    let metrics = score::score(&id, &turns, &analyses, auditor, policy);
    Scored {
        json: serde_json::to_string(&metrics).unwrap_or_default(),
        csv: Some(metrics.csv_record()),
        metrics: Some(metrics),
    }
}

fn read_jsonl(path: &Path, start: Position, out: &mpsc::SyncSender<Batch>) -> Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    file.seek(SeekFrom::Start(start.byte))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut position = start;
    let mut items = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        let line = position.line;
        position.byte += n as u64;
        position.line += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let source = match std::str::from_utf8(&buf) {
            Ok(text) => Source::Json(text.to_string()),
            Err(e) => Source::Invalid(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
        };
        items.push(Item { line, source });
        if items.len() == BATCH {
            let batch = Batch {
                items: std::mem::replace(&mut items, Vec::with_capacity(BATCH)),
                next: position,
            };
            if out.send(batch).is_err() {
                return Ok(());
            }
        }
    }
    if !items.is_empty() {
        let _ = out.send(Batch {
            items,
            next: position,
        });
    }
    Ok(())
}

fn role(name: &str) -> Option<Role> {
    match name.trim().to_ascii_lowercase().as_str() {
        "customer" | "user" => Some(Role::Customer),
        "agent" => Some(Role::Agent),
        "bot" | "assistant" => Some(Role::Bot),
        "system" => Some(Role::System),
        _ => None,
    }
}

fn read_csv(path: &Path, start: Position, out: &mpsc::SyncSender<Batch>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no CSV header", path.display()))?
        .clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let (Some(id_col), Some(role_col), Some(text_col)) = (
        column(&["id", "conversation_id"]),
        column(&["role"]),
        column(&["text"]),
    ) else {
        bail!(
            "{}: the CSV header must name the columns id, role and text (found: {})",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(",")
        );
    };
    if start.byte > 0 {
        let mut p = csv::Position::new();
        p.set_byte(start.byte)
            .set_line(start.line)
            .set_record(start.record);
        reader.seek(p)?;
    }
    let position_of = |p: &csv::Position| Position {
        byte: p.byte(),
        line: p.line(),
        record: p.record(),
    };
    let mut items = Vec::with_capacity(BATCH);
    // The conversation being gathered: id, first line, turns, or the first problem found in its rows.
    let mut current: Option<(String, u64, Vec<Turn>, Option<String>)> = None;
    let mut record = csv::StringRecord::new();
    loop {
        let row_start = position_of(reader.position());
        let more = match reader.read_record(&mut record) {
            Ok(more) => more,
            Err(e) => bail!("{}: {e}", path.display()),
        };
        let id = more.then(|| record.get(id_col).unwrap_or("").to_string());
        if let Some((cid, line, turns, problem)) = current.take_if(|c| Some(&c.0) != id.as_ref()) {
            let source = match problem {
                Some(p) => Source::Invalid(p),
                None => Source::Turns(cid, turns),
            };
            items.push(Item { line, source });
            if items.len() >= BATCH {
                let batch = Batch {
                    items: std::mem::replace(&mut items, Vec::with_capacity(BATCH)),
                    next: row_start,
                };
                if out.send(batch).is_err() {
                    return Ok(());
                }
            }
        }
        let Some(id) = id else { break };
        let entry = current.get_or_insert_with(|| (id.clone(), row_start.line, Vec::new(), None));
        if entry.3.is_some() {
            continue;
        }
        if id.is_empty() {
            entry.3 = Some(format!("line {}: empty id", row_start.line));
            continue;
        }
        match (record.get(role_col).and_then(role), record.get(text_col)) {
            (Some(role), Some(text)) => entry.2.push(Turn {
                role,
                text: text.to_string(),
            }),
            (None, _) => {
                entry.3 = Some(format!(
                    "line {}: role must be customer, agent, bot or system, got {:?}",
                    row_start.line,
                    record.get(role_col).unwrap_or("")
                ))
            }
            (_, None) => entry.3 = Some(format!("line {}: no text column", row_start.line)),
        }
    }
    if !items.is_empty() {
        let next = position_of(reader.position());
        let _ = out.send(Batch { items, next });
    }
    Ok(())
}

fn read_checkpoint(path: &Path) -> Result<Option<Checkpoint>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_checkpoint(path: &Path, state: &Checkpoint) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(state)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot resume: {} is missing", path.display()))?;
    if file.metadata()?.len() < len {
        bail!(
            "cannot resume: {} is shorter than its checkpoint says; score again with --restart",
            path.display()
        );
    }
    file.set_len(len)?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// How many conversations.
    #[arg(long, default_value_t = 1_000)]
    conversations: u64,
    /// Seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Customer situations: an opening, follow-ups, and agent replies that fit them.
const SITUATIONS: [(&str, &[&str], &[&str]); 6] = [
    (
        "Hi, my order {order} still hasn't arrived and it was due last {day}.",
        &[
            "I already checked the tracking page, it just says in transit.",
            "This is the second time I'm asking, nobody gets back to me.",
            "I needed it for my daughter's birthday, I'm really upset.",
            "Can you just tell me when it will come?",
        ],
        &[
            "I'm sorry your order is late. I've checked {order}: it left our warehouse on {day} and I've asked the courier to trace it today. You'll get an update by email within 24 hours.",
            "Thanks for checking the tracking already. I've opened a trace with the courier and flagged it as urgent.",
            "Please check your tracking page again.",
        ],
    ),
    (
        "I was charged twice for my subscription, {amount} taken two times this month.",
        &[
            "I have the bank statement showing both payments.",
            "I'm on a tight budget and can't afford this, I'm behind on rent.",
            "When will the money be back in my account?",
            "If this isn't fixed I'm cancelling and switching to another provider.",
        ],
        &[
            "You're right, I can see the duplicate charge of {amount}. I've refunded it now; it takes 3-5 working days to reach your account.",
            "I understand your frustration.",
            "I've flagged your account so this can't happen again, and sent you a confirmation email of the refund.",
        ],
    ),
    (
        "I can't log in to my account, it says my password is wrong but I just reset it.",
        &[
            "I tried three times and now it's locked.",
            "I don't understand what I'm supposed to do with the code.",
            "I need to get in today, my invoices are in there.",
            "Ok I'm in now, thank you so much!",
        ],
        &[
            "Let's get you back in. I've unlocked your account; please use the reset link I've just sent, then sign in within 15 minutes.",
            "The code is the six digits in the text message we sent; type it on the sign-in page after your password.",
            "Sorry for the inconvenience.",
        ],
    ),
    (
        "My husband passed away last month and I need to close his account.",
        &[
            "I don't know where to start, it's all a bit overwhelming.",
            "I have the death certificate.",
            "Thank you for being so kind about it.",
        ],
        &[
            "I'm so sorry for your loss. I can take care of this for you: reply with a photo of the certificate and I'll close the account and refund any unused balance to you.",
            "There's no rush. Once I have the certificate I'll handle everything and confirm by email.",
        ],
    ),
    (
        "The blender I received is cracked, it arrived damaged.",
        &[
            "I have photos of the box and the crack.",
            "This is ridiculous, I paid {amount} for it.",
            "I'd like a replacement, not a refund.",
            "Can I speak to a real person please?",
        ],
        &[
            "I'm sorry it arrived damaged. I've sent a free replacement today and a prepaid label for the broken one; you'll have it in 2 days.",
            "Please upload the photos here and I'll attach them to the claim for order {order}.",
            "Of course, I'm connecting you with a colleague now; they can see everything we discussed.",
        ],
    ),
    (
        "Hello, how do I change the delivery address on order {order}?",
        &[
            "The new address is in the same city.",
            "Great, that worked, thanks!",
        ],
        &[
            "You can change it under Orders > {order} > Edit address until it ships. I've also noted it on the order for you.",
            "Glad that worked! Anything else I can help with?",
        ],
    ),
];

const DAYS: [&str; 5] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];

/// `rapport generate`: synthetic support conversations as JSONL, for trying and timing `rapport score`.
pub fn generate(args: GenerateArgs) -> Result<()> {
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut rng = fastrand::Rng::with_seed(args.seed);
    for n in 0..args.conversations {
        let (opening, follow_ups, replies) = SITUATIONS[rng.usize(..SITUATIONS.len())];
        let order = format!("{}", rng.u32(100_000..999_999));
        let amount = format!("£{}.{:02}", rng.u32(5..400), rng.u32(0..100));
        let day = DAYS[rng.usize(..DAYS.len())];
        let fill = |t: &str| {
            t.replace("{order}", &order)
                .replace("{amount}", &amount)
                .replace("{day}", day)
        };
        let customer_turns = rng.usize(5..=7);
        let first_reply = rng.usize(..replies.len());
        let mut turns = Vec::with_capacity(customer_turns * 2);
        for i in 0..customer_turns {
            let text = if i == 0 {
                fill(opening)
            } else {
                fill(follow_ups[rng.usize(..follow_ups.len())])
            };
            turns.push(serde_json::json!({"role": "customer", "text": text}));
            if i + 1 < customer_turns || rng.bool() {
                let role = if rng.u8(..4) == 0 { "bot" } else { "agent" };
                // Replies follow the situation's script in order, as a well-run team would.
                let reply = fill(replies[(first_reply + i) % replies.len()]);
                turns.push(serde_json::json!({"role": role, "text": reply}));
            }
        }
        let line =
            serde_json::json!({"id": format!("synthetic-{}-{n}", args.seed), "turns": turns});
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}
