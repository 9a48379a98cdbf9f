//! `rapport audit`: scores a draft reply for perceived empathy and usefulness.

use anyhow::{Context, Result};
use rapport_audit::{Auditor, Policy, Turn};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The customer's message the reply answers.
    #[arg(long)]
    customer: String,
    /// The draft reply to audit.
    #[arg(long)]
    reply: String,
    /// The conversation so far: a JSON list of `{"role": "customer"|"agent"|"bot"|"system", "text": ...}`.
    #[arg(long, value_name = "FILE.json")]
    history: Option<PathBuf>,
    /// A phrase the reply must not contain (repeatable).
    #[arg(long, value_name = "PHRASE")]
    banned: Vec<String>,
    /// A disclosure the reply must contain (repeatable), e.g. "automated assistant".
    #[arg(long, value_name = "PHRASE")]
    require: Vec<String>,
    /// The company's own name, contacts or text the reply may quote without leaking anything
    /// (repeatable), e.g. "Wells Fargo" or "billing@example.com".
    #[arg(long, value_name = "TEXT")]
    company: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let history: Vec<Turn> = match &args.history {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a JSON list of {{\"role\", \"text\"}} turns (role: customer, agent, bot or system)",
                    path.display()
                )
            })?
        }
        None => Vec::new(),
    };
    let policy = Policy {
        banned_phrases: args.banned,
        required_disclosures: args.require,
        company_text: args.company,
    };
    let audit = Auditor::new().audit(&args.customer, &args.reply, &history, &policy)?;
    println!("{}", serde_json::to_string(&audit)?);
    Ok(ExitCode::SUCCESS)
}
