//! `rapport redact`: finds personal data and replaces it (redact, mask, keyed hash or pseudonyms).

use anyhow::{Context, Result};
use rapport_privacy::{apply, Detector, HashKey, Operator, Vault, VaultKey};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OperatorArg {
    /// `[EMAIL]`
    Redact,
    /// `****-****-****-1111`: numbers keep their last four digits
    Mask,
    /// `[EMAIL:9f86d081884c7d65]`, HMAC-SHA256 keyed by RAPPORT_HASH_KEY
    Hash,
    /// `<EMAIL_1>`, stable across the lines of one run (one conversation)
    Pseudonymize,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The text; without it, stdin is read, one text per line, one output line per input line.
    text: Option<String>,
    /// Print `{"text": transformed, "entities": [{"type","start","end","confidence"}]}` (byte offsets
    /// into the original text).
    #[arg(long)]
    json: bool,
    /// How to replace what is found.
    #[arg(long, value_enum, default_value = "redact")]
    operator: OperatorArg,
    /// With `--operator pseudonymize`: write the pseudonym vault here, sealed with RAPPORT_VAULT_KEY, so
    /// that `rapport rehydrate` can restore values later.
    #[arg(long, value_name = "FILE")]
    vault: Option<PathBuf>,
    /// The conversation the pseudonyms belong to (bound into the sealed vault).
    #[arg(long, default_value = "cli")]
    conversation: String,
}

#[derive(Debug, clap::Args)]
pub struct RehydrateArgs {
    /// Text with pseudonyms; without it, stdin is read line by line.
    text: Option<String>,
    /// Sealed vault written by `rapport redact --operator pseudonymize --vault FILE`.
    #[arg(long, value_name = "FILE")]
    vault: PathBuf,
    /// The conversation the vault belongs to.
    #[arg(long, default_value = "cli")]
    conversation: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let operator = match args.operator {
        OperatorArg::Redact => Operator::Redact,
        OperatorArg::Mask => Operator::Mask,
        OperatorArg::Hash => Operator::Hash,
        OperatorArg::Pseudonymize => Operator::Pseudonymize,
    };
    let hash_key = match operator {
        Operator::Hash => Some(HashKey::from_env()?),
        _ => None,
    };
    let vault_key = match (&args.vault, operator) {
        (Some(_), Operator::Pseudonymize) => Some(VaultKey::from_env()?),
        (Some(_), _) => anyhow::bail!("--vault only goes with --operator pseudonymize"),
        _ => None,
    };
    let detector = Detector::new();
    let mut vault = Vault::new(args.conversation.clone());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut one = |text: &str, out: &mut dyn Write| -> Result<()> {
        let entities = detector.detect(text);
        let transformed = apply(
            text,
            &entities,
            operator,
            hash_key.as_ref(),
            Some(&mut vault),
        )?;
        if args.json {
            serde_json::to_writer(
                &mut *out,
                &serde_json::json!({"text": transformed, "entities": entities}),
            )?;
            writeln!(out)?;
        } else {
            writeln!(out, "{transformed}")?;
        }
        Ok(())
    };
    let failed = match &args.text {
        Some(text) => {
            one(text, &mut out)?;
            out.flush()?;
            false
        }
        None => crate::lines::for_each_stdin_line(&mut out, &mut one)?,
    };
    if let (Some(path), Some(key)) = (&args.vault, &vault_key) {
        std::fs::write(path, vault.seal(key)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn rehydrate(args: RehydrateArgs) -> Result<ExitCode> {
    let key = VaultKey::from_env()?;
    let sealed =
        std::fs::read(&args.vault).with_context(|| format!("reading {}", args.vault.display()))?;
    let vault = Vault::open(&key, &args.conversation, &sealed)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match &args.text {
        Some(text) => writeln!(out, "{}", vault.rehydrate(text))?,
        None => {
            for line in std::io::stdin().lock().lines() {
                writeln!(out, "{}", vault.rehydrate(&line.context("reading stdin")?))?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
