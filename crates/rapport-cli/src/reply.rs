//! `rapport reply` and `rapport chat`: the conversation engine from the command line.

use anyhow::{Context, Result};
use rapport_engine::kb::KnowledgeBase;
use rapport_engine::llm::{ClientConfig, OpenAiClient};
use rapport_engine::policy::Policy;
use rapport_engine::respond::{Responder, Response};
use rapport_engine::{Conversation, Engine, Role, Turn};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Where the policy and knowledge base come from.
#[derive(Debug, Clone, clap::Args)]
pub struct Setup {
    /// Company policy (TOML; default: the shipped example policy, see examples/policy.toml).
    #[arg(long, value_name = "FILE", env = "RAPPORT_POLICY")]
    pub policy: Option<PathBuf>,
    /// Knowledge base folder of Markdown articles (default: the policy's `knowledge_base.path`, else the
    /// shipped example).
    #[arg(long, value_name = "DIR", env = "RAPPORT_KB")]
    pub kb: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The conversation: `{"turns": [{"role": "customer"|"agent"|"bot"|"system", "text": ...}]}`; `-` reads
    /// stdin.
    #[arg(long, value_name = "FILE.json")]
    conversation: PathBuf,
    /// Scopes the conversation's pseudonyms (default: the file's `id`, else "conversation").
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    setup: Setup,
}

/// The shipped example policy, embedded so that `rapport` works from any folder.
pub const EXAMPLE_POLICY: &str = include_str!("../../../examples/policy.toml");

/// Other fields (metadata of the caller) are ignored.
#[derive(serde::Deserialize)]
pub(crate) struct Input {
    #[serde(default)]
    id: Option<String>,
    pub(crate) turns: Vec<Turn>,
}

impl Setup {
    /// The responder; configuration problems become diagnostics (and a safe reply), never a crash.
    pub fn responder(&self) -> Result<Responder> {
        let engine = std::sync::Arc::new(Engine::builtin().context("loading the built-in models")?);
        let policy: Result<Policy, String> = match &self.policy {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("policy: cannot read {}: {e}", path.display()))
                .and_then(|text| {
                    Policy::from_toml(&text).map_err(|e| format!("{} ({})", e, path.display()))
                }),
            None => Policy::from_toml(EXAMPLE_POLICY).map_err(|e| e.to_string()),
        };
        let kb_dir: Option<PathBuf> = self.kb.clone().or_else(|| {
            let p = policy.as_ref().ok()?;
            let dir = p.knowledge_base.path.trim();
            if dir.is_empty() {
                return None;
            }
            // Relative to the policy file.
            let base = self
                .policy
                .as_deref()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."));
            Some(base.join(dir))
        });
        let kb = match &kb_dir {
            Some(dir) => KnowledgeBase::load(dir),
            None => KnowledgeBase::example(),
        }
        .map_err(|e| e.to_string());
        let llm_settings = policy.as_ref().ok().map(|p| p.llm.clone());
        let mut responder = Responder::from_config(engine, policy, kb);
        if let Some(llm) = llm_settings.filter(|l| l.enabled) {
            let api_key = std::env::var(&llm.api_key_env)
                .ok()
                .filter(|k| !k.is_empty());
            let client = OpenAiClient::new(ClientConfig {
                base_url: llm.base_url,
                model: llm.model,
                api_key,
                timeout: Duration::from_millis(llm.timeout_ms),
                stream: llm.stream,
                temperature: llm.temperature,
                max_tokens: llm.max_tokens,
            })?;
            responder = responder.with_llm(Box::new(client));
        }
        Ok(responder)
    }
}

pub(crate) fn read_conversation(path: &Path) -> Result<Input> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading the conversation from stdin")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected {{\"turns\": [{{\"role\": \"customer\"|\"agent\"|\"bot\"|\"system\", \"text\": \"...\"}}]}}",
            path.display()
        )
    })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let input = read_conversation(&args.conversation)?;
    let responder = args.setup.responder()?;
    let id = args
        .id
        .or(input.id)
        .unwrap_or_else(|| "conversation".into());
    let response = responder.reply(&id, &Conversation { turns: input.turns })?;
    for problem in responder.problems() {
        eprintln!("rapport: warning: {problem}");
    }
    println!("{}", serde_json::to_string(&response)?);
    Ok(if responder.problems().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    setup: Setup,
    /// Print each response as JSON instead of the readable summary.
    #[arg(long)]
    json: bool,
}

/// An interactive session: type as the customer; Rapport shows the signals, the strategy and its reply.
pub fn chat(args: ChatArgs) -> Result<ExitCode> {
    let responder = args.setup.responder()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for problem in responder.problems() {
        writeln!(out, "warning: {problem}")?;
    }
    writeln!(
        out,
        "Rapport chat for {}. Type as the customer; /reset starts over, /quit (or Ctrl-D) leaves.",
        responder.policy().brand.name
    )?;
    let mut conversation = Conversation::default();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        write!(out, "\ncustomer> ")?;
        out.flush()?;
        let Some(line) = lines.next() else { break };
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                writeln!(out, "(could not read that line: {e})")?;
                continue;
            }
        };
        let text = line.trim();
        match text {
            "" => continue,
            "/quit" | "/exit" => break,
            "/reset" => {
                conversation.turns.clear();
                writeln!(out, "(new conversation)")?;
                continue;
            }
            _ => {}
        }
        if conversation.turns.len() + 2 > rapport_engine::MAX_TURNS {
            writeln!(
                out,
                "(the conversation reached {} turns; starting over)",
                rapport_engine::MAX_TURNS
            )?;
            conversation.turns.clear();
        }
        conversation.turns.push(Turn {
            role: Role::Customer,
            text: text.to_string(),
        });
        let response = responder.reply("chat", &conversation)?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&response)?)?;
        } else {
            show(&mut out, &response)?;
        }
        conversation.turns.push(Turn {
            role: Role::Bot,
            text: response.reply.clone(),
        });
    }
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

fn show(out: &mut impl Write, r: &Response) -> Result<()> {
    let trajectory = &r.trajectory;
    if let Some(point) = trajectory.points.last() {
        let signals = &r.signals;
        writeln!(
            out,
            "  signals   sentiment {:+.2}, distress {:.2}, trend {:?}{}",
            point.sentiment,
            point.distress,
            trajectory.trend,
            if signals.is_empty() {
                String::new()
            } else {
                format!(", {}", signals.join(", "))
            }
        )?;
    }
    for m in &r.strategy {
        let name = serde_json::to_value(m.kind)?;
        writeln!(
            out,
            "  strategy  {}: {}",
            name.as_str().unwrap_or_default(),
            m.reasons.join("; ")
        )?;
    }
    if let Some(h) = &r.handoff {
        writeln!(out, "  handoff   {}", h.summary)?;
    }
    for d in &r.diagnostics {
        writeln!(out, "  note      {d}")?;
    }
    writeln!(
        out,
        "  audit     {}/100{}",
        r.audit.score,
        if r.audit.hollow_sympathy {
            " (hollow sympathy)"
        } else {
            ""
        }
    )?;
    writeln!(out, "\nrapport> {}", r.reply.replace('\n', "\n         "))?;
    Ok(())
}
