//! The `rapport` command-line tool: analysis, training and evaluation of Rapport's models.
//!
//! Every command reads stdin where a text argument is absent, exits non-zero with a one-line reason on bad
//! input, and prints machine-readable JSON; evaluation commands end with one JSON object on the last line.

mod analyze;
mod audit;
mod cx;
mod eval;
mod lines;
mod redact;
mod reply;
mod score;
mod serve;
mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "rapport",
    version,
    about = "Rapport: the empathy layer for customer conversations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse customer messages: emotions, sentiment, CX signals, vulnerability, sensitive topics, intent.
    ///
    /// Prints one JSON object per message. Without TEXT, reads stdin, one message per line.
    Analyze(analyze::Args),
    /// Score a draft reply: empathy (EPITOME mechanisms), actionability, specificity, hollow sympathy,
    /// repetition, dismissive wording, over-apology, readability, PII leaks, policy; with suggestions.
    Audit(audit::Args),
    /// Find personal data and redact, mask, hash or pseudonymise it.
    ///
    /// Prints one output line per input line. Without TEXT, reads stdin, one text per line.
    Redact(redact::Args),
    /// Decide and write the next reply to a conversation: strategy with reasons, reply, its audit, memory,
    /// trajectory and, when a person takes over, the handoff packet. Prints one JSON object.
    ///
    /// Exit status 1 when the policy or knowledge base could not be loaded (the reply is then a safe one).
    Reply(reply::Args),
    /// Talk to Rapport as a customer: after each line it shows the signals, the strategy and its reply.
    Chat(reply::ChatArgs),
    /// Run the HTTP service: JSON API under /v1, OpenAPI at /v1/openapi.json, /healthz, /readyz, /metrics.
    ///
    /// Needs RAPPORT_MASTER_KEY (64 hex digits) unless --dev. Stores data in SQLite in the data directory,
    /// or PostgreSQL when RAPPORT_DATABASE_URL starts with postgres://.
    Serve(serve::Config),
    /// Manage API keys: create one (printed once), or rotate the master key.
    #[command(subcommand)]
    Keys(serve::KeysCommand),
    /// Restore pseudonymised values from a sealed vault (RAPPORT_VAULT_KEY).
    Rehydrate(redact::RehydrateArgs),
    /// Train one of Rapport's models from a data set.
    #[command(subcommand)]
    Train(train::Command),
    /// Evaluate a model on a labelled data set; the last line of stdout is a JSON object.
    #[command(subcommand)]
    Eval(eval::Command),
    /// Score files of conversations: per-conversation metrics (sentiment trajectory, empathy of the
    /// replies, resolution, escalation, churn risk) in OUT/conversations.jsonl and .csv, and an offline
    /// HTML report with charts in OUT/report.html. Parallel, with a progress bar; resumes an interrupted
    /// run. The last line of stdout is a JSON summary; exit status 1 when some conversations could not be
    /// read (their output lines say why).
    Score(score::Args),
    /// Write synthetic support conversations as JSONL (input for `rapport score`).
    Generate(score::GenerateArgs),
}

/// Where to load models from: `--emotions-model`/`--intent-model` flags, else the built-in models.
#[derive(Debug, Clone, clap::Args)]
struct ModelPaths {
    /// Emotion model file (default: the built-in model).
    #[arg(long, value_name = "PATH", env = "RAPPORT_EMOTIONS_MODEL")]
    emotions_model: Option<PathBuf>,
    /// Intent model file (default: the built-in model).
    #[arg(long, value_name = "PATH", env = "RAPPORT_INTENT_MODEL")]
    intent_model: Option<PathBuf>,
    /// CX model file (default: the built-in model of the tier).
    #[arg(long, value_name = "PATH", env = "RAPPORT_CX_MODEL")]
    cx_model: Option<PathBuf>,
    /// Which reading: `fast` (n-grams, cues and the emotion model) or `accurate` (adds sentence vectors
    /// from a token table distilled from all-MiniLM-L6-v2: reads paraphrases, about 3x the fast tier's
    /// cost). Default: fast for single messages and batch files, accurate for a conversation.
    /// `RAPPORT_ENCODER=PATH` reads a token table from a file instead of the built-in one.
    #[arg(long, value_enum, env = "RAPPORT_TIER")]
    tier: Option<Tier>,
}

/// The two readings of a message (see `--tier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Tier {
    Fast,
    Accurate,
}

impl Tier {
    /// The inputs a CX model of this tier reads.
    fn cx_features(self) -> rapport_signals::cx::CxFeatures {
        match self {
            Tier::Fast => rapport_signals::cx::CxFeatures::default(),
            Tier::Accurate => rapport_signals::cx::CxFeatures::accurate(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Redact(args) => redact::run(args),
        Command::Rehydrate(args) => redact::rehydrate(args),
        Command::Reply(args) => reply::run(args),
        Command::Serve(config) => serve::serve(config),
        Command::Keys(command) => serve::keys(command),
        Command::Chat(args) => reply::chat(args),
        Command::Train(command) => train::run(command),
        Command::Eval(command) => eval::run(command),
        Command::Score(args) => score::run(args),
        Command::Generate(args) => score::generate(args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rapport: {err:#}");
            ExitCode::from(2)
        }
    }
}
