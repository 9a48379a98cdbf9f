//! The built-in composer: writes the reply the strategy asks for, with no LLM. It works on the
//! pseudonymised conversation (the customer's name stays a `<PERSON_n>` token until the reply is
//! re-hydrated for the customer), refers to the customer's situation, varies its wording across the
//! conversation, gives the concrete steps of the best knowledge-base article, never asks again for a fact
//! the customer already gave, and always leaves a path to a person.

use crate::kb::{Article, Hit, Need};
use crate::memory::{FactKind, Memory};
use crate::policy::{Formality, Policy};
use crate::problem::{second_person, Kind, Problem};
use crate::strategy::{Move, MoveKind};
use crate::{Role, State};
use rapport_privacy::{EntityKind, Vault};
use rapport_signals::Analysis;

/// Steps quoted from an article in one reply.
const MAX_STEPS: usize = 3;

/// How gently a reply must speak: from the conversation reading (vulnerabilities) or the article's `Kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Care {
    Bereavement,
    Hardship,
    Plain,
}

/// What the customer's problem is about, from the conversation reading and the knowledge-base article
/// relevant to it (its `Kind`, `Subject` and `Needs`). The composer knows no company's topics: a bank's
/// or a game studio's knowledge base names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic<'a> {
    pub care: Care,
    /// How to name the customer's situation ("your refund"); `None`: "this".
    pub subject: Option<&'a str>,
    /// The fact a reply needs to act.
    pub needs: Option<FactKind>,
}

impl<'a> Topic<'a> {
    /// From the reading of the latest customer turn and the relevant article, if any.
    pub fn of(article: Option<&'a Article>, analysis: &Analysis) -> Self {
        let present = |n: &str| analysis.vulnerability.get(n).is_some_and(|s| s.present());
        let kind = article.and_then(|a| a.kind.as_deref());
        let care = if present("bereavement") || kind == Some("bereavement") {
            Care::Bereavement
        } else if present("financial_hardship") || kind == Some("hardship") {
            Care::Hardship
        } else {
            Care::Plain
        };
        Self {
            care,
            subject: article
                .and_then(|a| a.subject.as_deref())
                .filter(|_| care == Care::Plain),
            needs: article.and_then(|a| a.needs).map(|n| match n {
                Need::OrderNumber => FactKind::OrderId,
                Need::AccountEmail => FactKind::Contact,
            }),
        }
    }
}

/// Everything the composer reads.
#[derive(Debug)]
pub struct Context<'a> {
    pub state: &'a State,
    pub moves: &'a [Move],
    pub policy: &'a Policy,
    /// Knowledge-base hits for the latest customer turn, best first.
    pub hits: &'a [Hit<'a>],
    /// The conversation touches a topic the policy treats discreetly.
    pub discreet: bool,
    /// Sensitive phrases the customer used (lower case) that a discreet reply must not repeat.
    pub sensitive: &'a [String],
    /// The customer threatens to leave over the problem (rather than asking how to cancel).
    pub retention: bool,
    /// Which words are known English (a clause with a typo is not read back to the customer).
    pub words: &'a rapport_privacy::names::Gazetteer,
}

/// A reply being written: sentences grouped in blocks (paragraphs or lists).
struct Writer {
    blocks: Vec<String>,
}

impl Writer {
    fn line(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !text.trim().is_empty() {
            self.blocks.push(text);
        }
    }
}

/// Picks the first variant not already used by an agent or bot turn, starting at a position that moves
/// with the number of replies so far (so that consecutive replies differ).
fn vary<'v>(variants: &[&'v str], earlier: &[&str], replies: usize) -> &'v str {
    let n = variants.len();
    (0..n)
        .map(|k| variants[(replies + k) % n])
        .find(|v| {
            let head: String = v.chars().take(24).collect::<String>().to_lowercase();
            !earlier.iter().any(|e| e.to_lowercase().contains(&head))
        })
        .unwrap_or(variants[replies % n])
}

fn present(a: &Analysis, name: &str) -> bool {
    a.signals
        .get(name)
        .or_else(|| a.vulnerability.get(name))
        .is_some_and(|s| s.present())
}

/// The customer's first name as a pseudonym token, for the greeting.
fn first_name(memory: &Memory, vault: &mut Vault) -> Option<String> {
    let token = memory
        .facts
        .iter()
        .find(|f| f.kind == FactKind::Name)?
        .value
        .clone();
    let full = vault.rehydrate(&token);
    let mut words = full.split_whitespace();
    let first = words.next()?;
    let titled = matches!(
        first.trim_end_matches('.').to_lowercase().as_str(),
        "mr" | "mrs" | "ms" | "miss" | "dr" | "mx" | "prof"
    );
    if titled || words.next().is_none() {
        Some(token)
    } else {
        Some(vault.token_for(EntityKind::Person, first))
    }
}

/// The words that name the customer's situation in an acknowledgement.
fn situation(topic: Topic<'_>, memory: &Memory, discreet: bool) -> String {
    if discreet {
        return "this".into();
    }
    let order = memory
        .facts
        .iter()
        .find(|f| f.kind == FactKind::OrderId)
        .map(|f| f.value.as_str());
    match (topic.needs, order, topic.subject) {
        (Some(FactKind::OrderId), Some(id), _) => format!("order {id}"),
        (_, _, Some(subject)) => subject.to_string(),
        _ => "this".into(),
    }
}

/// "my Face ID isn't working" -> "your Face ID": the first thing the customer calls theirs, up to three
/// words, when it is a thing (not a person, their name or their contact details).
fn owned_thing(text: &str) -> Option<String> {
    const STOP: [&str; 80] = [
        "is",
        "isn't",
        "was",
        "wasn't",
        "won't",
        "will",
        "keeps",
        "has",
        "hasn't",
        "had",
        "got",
        "get",
        "gets",
        "does",
        "doesn't",
        "did",
        "didn't",
        "and",
        "but",
        "or",
        "to",
        "for",
        "from",
        "in",
        "on",
        "at",
        "with",
        "that",
        "which",
        "not",
        "still",
        "just",
        "never",
        "can",
        "can't",
        "cannot",
        "are",
        "aren't",
        "been",
        "be",
        "so",
        "because",
        "again",
        "now",
        "i",
        "you",
        "he",
        "she",
        "it",
        "they",
        "we",
        "said",
        "says",
        "when",
        "where",
        "if",
        "as",
        "this",
        "after",
        "before",
        "while",
        "since",
        "until",
        "also",
        "too",
        "all",
        "every",
        "about",
        "into",
        "of",
        "the",
        "a",
        "an",
        "instead",
        "yet",
        "anymore",
        "today",
        "yesterday",
        "please",
        "pls",
    ];
    const NOT_THINGS: [&str; 24] = [
        "name", "email", "e-mail", "number", "phone", "address", "husband", "wife", "mum", "mom",
        "dad", "son", "daughter", "father", "mother", "friend", "partner", "god", "bad", "own",
        "life", "family", "kids", "self",
    ];
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.starts_with('@') && !w.contains("://"))
        .collect();
    let at = words.iter().position(|w| w.eq_ignore_ascii_case("my"))?;
    let mut thing = Vec::new();
    for raw in &words[at + 1..] {
        let word = raw.trim_end_matches(['.', ',', '!', '?', ';', ':', ')']);
        let lower = word.to_lowercase();
        let verb_like = lower.len() > 4 && (lower.ends_with("ed") || lower.ends_with("ing"));
        if word.is_empty()
            || STOP.contains(&lower.as_str())
            || verb_like
            || !word
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '\'')
        {
            break;
        }
        thing.push(word);
        // Three words only for a named thing ("your Apple TV subscription" -> "your Apple TV").
        let named = thing
            .iter()
            .any(|w| w.chars().next().is_some_and(char::is_uppercase));
        if thing.len() == 3 || (thing.len() == 2 && !named) || raw.len() != word.len() {
            break;
        }
    }
    let first = thing.first()?.to_lowercase();
    let last = thing.last()?.to_lowercase();
    (!NOT_THINGS.contains(&first.as_str()) && !NOT_THINGS.contains(&last.as_str()))
        .then(|| format!("your {}", thing.join(" ")))
}

/// The question that gets the missing fact for a topic.
fn ask_for(kind: FactKind) -> &'static str {
    match kind {
        FactKind::OrderId => {
            "Could you send me your order number? You'll find it in your confirmation email."
        }
        FactKind::Contact => "What's the email address on your account, so I can find it?",
        _ => "Could you tell me a bit more about what happened, so I can find the right fix?",
    }
}

/// Writes the reply for `ctx` (pseudonymised; re-hydrate it for the customer). `vault` may gain the
/// customer's first name as a token.
pub fn compose(ctx: &Context<'_>, vault: &mut Vault) -> String {
    let state = ctx.state;
    let policy = ctx.policy;
    let has = |k: MoveKind| ctx.moves.iter().any(|m| m.kind == k);
    let earlier: Vec<&str> = state
        .turns
        .iter()
        .filter(|t| matches!(t.role, Role::Agent | Role::Bot))
        .map(|t| t.text.as_str())
        .collect();
    let replies = earlier.len();
    let last = state.analyses.iter().rev().flatten().next();
    // A later message that thanks us, confirms or goes along with what we said ("Payment sent with the
    // reference. Thank you, very clear.") is not a new grievance: it is thanked, not consoled.
    let cooperative =
        replies > 0 && !state.latest_customer_text().contains('?') && last.is_some_and(cooperative);
    // Such a customer is not asking for a procedure either: an article's steps go on once started, but
    // do not start on that turn (the people on the case are working on something else).
    let article = ctx
        .hits
        .iter()
        .find(|h| h.relevant())
        .map(|h| h.article)
        .filter(|a| !cooperative || started(a, &earlier));
    let topic = last.map_or(
        Topic {
            care: Care::Plain,
            subject: None,
            needs: None,
        },
        |a| Topic::of(article, a),
    );
    let name = if policy.brand.use_customer_name {
        first_name(&state.memory, vault)
    } else {
        None
    };
    let casual = policy.brand.formality == Formality::Casual;
    let mut w = Writer { blocks: Vec::new() };

    // Greeting: by name when we have it, else only on the first reply.
    let hello = match policy.brand.formality {
        Formality::Casual => "Hi",
        Formality::Neutral => "Hello",
        Formality::Formal => "Good day",
    };
    let greeted_by_name = name.as_ref().is_some_and(|n| {
        let value = vault.rehydrate(n);
        earlier.iter().any(|e| vault.rehydrate(e).contains(&value))
    });
    match (&name, replies) {
        (Some(n), _) if !greeted_by_name => w.line(format!("{hello} {n},")),
        (_, 0) => w.line(format!("{hello},")),
        _ => {}
    }

    if last.is_none() {
        w.line("I'm here to help. Send us your order number or tell us what went wrong, and I'll check it right away.");
        w.line("What can I help you with today?");
        return finish(w, ctx);
    }

    if has(MoveKind::SafetyProtocol) {
        w.line(policy.safety.message.clone());
        w.line(
            policy
                .safety
                .resources
                .iter()
                .map(|r| format!("- {r}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        w.line("Are you safe right now? You can reply here at any time, and a person on our team will join this chat right away.");
        return finish(w, ctx);
    }

    let mut sit = situation(topic, &state.memory, ctx.discreet);
    if sit == "this" && !ctx.discreet && topic.care == Care::Plain {
        // No article names it: the thing the customer says is theirs ("my Face ID isn't working").
        // A typo is the customer's; the reply does not repeat it ("your accont").
        let known = |thing: &String| {
            thing
                .split_whitespace()
                .skip(1)
                .all(|w| w.chars().next().is_some_and(char::is_uppercase) || ctx.words.is_common(w))
        };
        if let Some(own) = owned_thing(state.latest_customer_text()).filter(known) {
            sit = own;
        }
    }
    if has(MoveKind::ConfirmResolution) {
        let what = if sit == "this" {
            "that".to_string()
        } else {
            sit.clone()
        };
        let glad = vary(
            &[
                "Thank you for letting me know! I'm so glad {} is sorted.",
                "Thank you, that's great news. I'm so glad {} worked out.",
                "Thank you for confirming; I'm really glad {} is fixed.",
            ],
            &earlier,
            replies,
        );
        w.line(glad.replace("{}", &what));
        w.line("I'll update your case to resolved today. Just reply here if anything changes, and we'll pick it up straight away.");
        w.line("Is there anything else you need from us?");
        return finish(w, ctx);
    }

    // The customer's problem in their own words, read back when it reads cleanly; never in a discreet,
    // bereaved or hardship conversation, which get the gentle wording and no quote.
    let problem = (!ctx.discreet && topic.care == Care::Plain)
        .then(|| Problem::read(state.latest_customer_text(), ctx.words));
    // An article's subject or the order already names the situation ("order A-12345"); the customer's
    // words are read back where nothing else would.
    let clause = problem
        .as_ref()
        .and_then(|p| p.clause.as_deref())
        .filter(|_| article.is_none() || sit == "this");
    // The strategy asks for an acknowledgement; a later turn still about the problem gets one too, to
    // show we read it before moving on.
    let acknowledge =
        has(MoveKind::Acknowledge) || (replies > 0 && !has(MoveKind::Handoff) && !cooperative);
    let mut apologised = false;
    if let (Some(clause), Some(a), true) = (clause, last, acknowledge || replies == 0) {
        w.line(acknowledge_problem(clause, a, &earlier, replies));
        apologised = true;
    } else if acknowledge {
        if let Some(a) = last {
            w.line(acknowledgement(
                a,
                topic,
                &sit,
                ctx.discreet,
                &earlier,
                replies,
            ));
        }
    } else if cooperative && !has(MoveKind::Handoff) {
        w.line(vary(
            &[
                "Thank you, that's really helpful.",
                "Thanks for letting me know.",
            ],
            &earlier,
            replies,
        ));
    } else if replies == 0 && !has(MoveKind::Handoff) {
        let question = problem.as_ref().and_then(|p| p.question.as_deref());
        let feedback = problem
            .as_ref()
            .is_some_and(|p| p.kind == Some(Kind::Feedback));
        w.line(match question {
            Some(q) => format!("Thanks for asking {q}."),
            None if feedback => String::new(),
            None if sit == "this" => "Thanks for getting in touch.".to_string(),
            None if article.is_some() => {
                format!("Thanks for getting in touch about {sit}; I can help with that.")
            }
            None => format!("Thanks for getting in touch about {sit}."),
        });
    }

    if has(MoveKind::Reflect) {
        let tried = state.memory.tried.last();
        let repeated = state
            .trajectory
            .repetition
            .iter()
            .any(|r| r.what == "customer_complaint");
        let restated = tried.map(|t| second_person(&t.text));
        let said_before = restated
            .as_ref()
            .is_some_and(|r| earlier.iter().any(|e| e.contains(r.as_str())));
        match tried {
            Some(_) if said_before => {}
            Some(_) if !ctx.discreet => w.line(format!(
                "So you've already tried this ({}), and I won't ask you to do it again.",
                restated.unwrap_or_default()
            )),
            Some(_) => w.line(
                "Thank you for everything you've already tried; I won't ask you to repeat it.",
            ),
            None if repeated && !cooperative => w.line(
                "I can see you've had to explain this more than once, and you shouldn't have to.",
            ),
            None => {}
        }
    }

    // A threat to leave is heard as what it is: the customer wants the problem fixed, not the exit.
    if ctx.retention && !has(MoveKind::Handoff) && !ctx.discreet {
        w.line(vary(
            &[
                "I don't want this to be the reason you leave us, so let's get it put right.",
                "I'd really rather fix this than lose you as a customer.",
            ],
            &earlier,
            replies,
        ));
    }

    if has(MoveKind::Apologize) && !apologised {
        let repeat = last.is_some_and(|a| present(a, "repeat_contact"));
        w.line(if repeat {
            "I'm sorry you've had to chase us about this."
        } else {
            "I'm sorry this has gone wrong."
        });
    }

    if has(MoveKind::Handoff) {
        let asked = last.is_some_and(|a| present(a, "human_request"));
        if asked && !has(MoveKind::Acknowledge) {
            w.line("Of course, I understand.");
        }
        let why = if asked {
            "as you asked"
        } else {
            "so the right person can sort this out"
        };
        let about = if sit == "this" {
            String::new()
        } else {
            format!(" about {sit}")
        };
        let when = promised(&policy.commitments.handoff_reply, "as soon as they can");
        w.line(format!(
            "I'll connect you with a colleague on our team now, {why}. I've passed on everything you've told me{about}, so you won't need to repeat yourself, and they'll reply here {when}."
        ));
    }

    // Remind the customer of the facts we hold, so they know they need not repeat them.
    if let Some(order) = state
        .memory
        .facts
        .iter()
        .find(|f| f.kind == FactKind::OrderId)
    {
        if topic.needs == Some(FactKind::OrderId) && !ctx.discreet && sit == "this" {
            w.line(format!("I have your order number, {}.", order.value));
        }
    }

    let mut settled = false;
    if has(MoveKind::Inform) && !has(MoveKind::Handoff) {
        match article {
            Some(article) => inform(&mut w, ctx, article, &earlier, has(MoveKind::Reassure)),
            None => settled = no_answer(&mut w, ctx, problem.as_ref(), clause.is_some()),
        }
    } else if has(MoveKind::Inform) {
        // A handoff still tells the customer what the colleague will look at.
        if let Some(a) = article {
            if let Some(step) = relevant_steps(ctx, a, &earlier).first() {
                w.line(format!(
                    "While you wait, here's what they'll start with: {step}"
                ));
            }
        }
    }

    if has(MoveKind::Reassure) && !has(MoveKind::Handoff) {
        // Once the reply said who replies and when, a second timeline would contradict it.
        let (first, second) = if settled {
            (
                "You won't need to chase us: the answer will come here.".to_string(),
                "You don't need to do anything else right now.".to_string(),
            )
        } else {
            let when = promised(&policy.commitments.update, "as soon as there's news");
            (
                format!("You're in good hands: I'll keep this open until it's fixed, and we'll update you here {when}."),
                format!("You don't need to do anything else right now; we'll keep you posted here {when}."),
            )
        };
        w.line(vary(&[&first, &second], &earlier, replies));
    }

    if has(MoveKind::Clarify) {
        let needed = topic.needs.filter(|k| !state.memory.knows(*k));
        // "Explain differently" needs an explanation before it.
        let question = if last.is_some_and(|a| present(a, "confusion")) && replies > 0 {
            Some("Which part would you like me to explain differently?")
        } else if let Some(kind) = needed {
            Some(ask_for(kind))
        } else if settled {
            None
        } else if article.is_none() {
            problem
                .as_ref()
                .and_then(|p| p.next_question)
                // A long message already told the story: no "tell me more".
                .or(
                    (state.latest_customer_text().split_whitespace().count() < 25).then_some(
                        "Could you tell me a bit more about what happened, so I can find the right fix?",
                    ),
                )
        } else {
            None
        };
        if let Some(q) = question.filter(|q| !earlier.iter().any(|e| e.contains(q))) {
            w.line(q);
        }
    } else if let Some(kind) = topic.needs.filter(|k| !state.memory.knows(*k)) {
        if has(MoveKind::Inform) && !has(MoveKind::Handoff) && !ctx.discreet {
            let question = ask_for(kind);
            if !earlier.iter().any(|e| e.contains(question)) {
                w.line(question);
            }
        }
    }

    let offered = w.blocks.iter().any(|b| b.contains("colleague"));
    if !has(MoveKind::Handoff) && policy.escalation.offer_human && !offered {
        w.line(if casual {
            "If you'd rather talk to a person at any point, just say so."
        } else {
            "If you would prefer to speak with a person at any point, just say so."
        });
    }
    finish(w, ctx)
}

/// A message with no negative feeling that thanks us or goes along with the conversation (the caller
/// also rules out questions): no complaint to console.
fn cooperative(a: &Analysis) -> bool {
    const NEGATIVE: [&str; 7] = [
        "anger",
        "frustration",
        "anxiety",
        "distress",
        "confusion",
        "churn_threat",
        "human_request",
    ];
    let pushback = a.reading.as_ref().is_some_and(|r| r.pushback.present());
    a.sentiment.label != "negative" && !pushback && !NEGATIVE.iter().any(|n| present(a, n))
}

/// The feeling an acknowledgement speaks to.
enum Feeling {
    Frustrated,
    Worried,
    Neutral,
}

fn feeling(a: &Analysis) -> Feeling {
    if present(a, "anger") || present(a, "frustration") {
        Feeling::Frustrated
    } else if present(a, "anxiety") || present(a, "distress") {
        Feeling::Worried
    } else {
        Feeling::Neutral
    }
}

/// The acknowledgement that reads the customer's problem back ("I'm sorry your Face ID isn't working"),
/// with the feeling the reading found.
fn acknowledge_problem(clause: &str, a: &Analysis, earlier: &[&str], replies: usize) -> String {
    let variants: [&str; 2] = match feeling(a) {
        Feeling::Frustrated => [
            "I'm sorry {}; I can see how frustrating that is.",
            "I'm sorry {}. That's frustrating, and I want to get it fixed for you.",
        ],
        Feeling::Worried => [
            "I'm sorry {}; I know how worrying that is.",
            "I'm sorry {}. That sounds stressful, and I want to get it sorted for you.",
        ],
        Feeling::Neutral => [
            "Sorry to hear {}.",
            "I'm sorry {}; let's get to the bottom of it.",
        ],
    };
    vary(&variants, earlier, replies).replace("{}", clause)
}

fn acknowledgement(
    a: &Analysis,
    topic: Topic<'_>,
    sit: &str,
    discreet: bool,
    earlier: &[&str],
    replies: usize,
) -> String {
    if topic.care == Care::Bereavement {
        return vary(
            &[
                "Please accept my condolences. Thank you for letting us know at such a hard time.",
                "My condolences for your loss; we'll keep this as simple as we can for you.",
            ],
            earlier,
            replies,
        )
        .to_string();
    }
    if topic.care == Care::Hardship || discreet {
        return vary(
            &[
                "Thank you for telling me. That sounds like a tough time, and you don't need to explain more than you want to.",
                "I hear you, and I'm glad you reached out; we'll find an option that works for you.",
            ],
            earlier,
            replies,
        )
        .to_string();
    }
    let variants: Vec<String> = match (feeling(a), sit == "this") {
        // Nothing specific to name ("this"): the acknowledgement stands without a vague object.
        (Feeling::Frustrated, true) => vec![
            "That's frustrating, and I can see why you're upset.".into(),
            "I get why you're fed up with this.".into(),
            "I can see why this is so frustrating.".into(),
        ],
        (Feeling::Frustrated, false) => vec![
            format!("That's frustrating, and I can see why you're upset about {sit}."),
            format!("How frustrating to still be dealing with {sit}; I get why you're fed up."),
            format!("I can see why this is so frustrating, and I want {sit} fixed for you."),
        ],
        (Feeling::Worried, true) => vec![
            "I can tell how worrying this is, and I want to get it sorted for you.".into(),
            "That sounds really stressful; let's get it sorted.".into(),
        ],
        (Feeling::Worried, false) => vec![
            format!("I can tell how worrying {sit} is, and I want to get it sorted for you."),
            format!("That sounds really stressful; let's get {sit} sorted."),
            format!("I can see why {sit} has you worried."),
        ],
        (Feeling::Neutral, _) => vec![
            format!("I can see {sit} hasn't gone the way it should."),
            format!("It sounds like {sit} still isn't right."),
        ],
    };
    let refs: Vec<&str> = variants.iter().map(String::as_str).collect();
    vary(&refs, earlier, replies).to_string()
}

/// Whether an earlier agent or bot turn already gave one of the article's steps.
fn started(article: &Article, earlier: &[&str]) -> bool {
    article
        .steps
        .iter()
        .any(|s| earlier.iter().any(|e| e.contains(s.as_str())))
}

/// The article's steps that no earlier agent or bot turn already gave; once some were given, only those
/// that speak to what the customer just said.
fn relevant_steps<'a>(ctx: &Context<'_>, article: &'a Article, earlier: &[&str]) -> Vec<&'a str> {
    let customer = ctx.state.latest_customer_text();
    let given = |s: &str| earlier.iter().any(|e| e.contains(s));
    // A step the customer says they already took ("I've restarted my phone and reinstalled the app")
    // is not given again.
    let tried = |s: &str| {
        ctx.state
            .memory
            .tried
            .iter()
            .any(|t| overlap(s, &t.text) > 0)
    };
    let started = started(article, earlier);
    article
        .steps
        .iter()
        .map(String::as_str)
        .filter(|s| !given(s) && !tried(s))
        .filter(|s| !started || overlap(s, customer) > 0)
        .collect()
}

/// No article answers the problem: the reply asks the question a person on the team would ask next
/// (and says what happens once the customer answers), or passes the problem on in the customer's words.
/// Returns whether the reply is complete without a further question (it asked one or passed the problem on).
fn no_answer(
    w: &mut Writer,
    ctx: &Context<'_>,
    problem: Option<&Problem>,
    read_back: bool,
) -> bool {
    let when = promised(&ctx.policy.commitments.support_reply, "as soon as they can");
    if let Some(p) = problem {
        if p.kind == Some(Kind::Feedback) {
            w.line("I've passed your suggestion on to the team that looks after this; thank you for taking the time to send it.");
            return true;
        }
        if let Some(q) = p.next_question {
            w.line(format!(
                "{q} Once I have that, I'll pass everything you've told me to our support team, who'll reply here {when}."
            ));
            return true;
        }
        if p.question.is_some() && !read_back {
            w.line(format!(
                "I'd rather get you the right answer than guess, so I've passed your question to our support team; they'll reply here {when}."
            ));
            return true;
        }
    }
    if read_back {
        w.line(format!(
            "I've passed this to our support team with everything you've told me; they'll look into it and reply here {when}."
        ));
        return true;
    }
    // Nothing to pass on yet ("PLZ FIX IT"): ask first.
    let said: usize = ctx
        .state
        .turns
        .iter()
        .filter(|t| t.role == Role::Customer)
        .map(|t| {
            t.text
                .split_whitespace()
                .filter(|w| !w.starts_with('@'))
                .count()
        })
        .sum();
    if problem.is_some_and(|p| p.kind.is_none() && p.question.is_none()) && said < 6 {
        w.line("Could you tell me a bit more about what's going wrong, so I can get it to the right person straight away?");
        return true;
    }
    w.line(format!(
        "I've passed this to our support team; they'll look into it and reply here {when}."
    ));
    // Passed on: a further "tell me more" would contradict it.
    true
}

fn inform(w: &mut Writer, ctx: &Context<'_>, article: &Article, earlier: &[&str], reassure: bool) {
    let confused = ctx
        .state
        .analyses
        .iter()
        .rev()
        .flatten()
        .next()
        .is_some_and(|a| present(a, "confusion"));
    if confused && !earlier.is_empty() {
        w.line("I can see how that was confusing. I can connect you with a colleague right away who can walk you through it, or I'll go through it with you here, one step at a time.");
        return;
    }
    let fresh = relevant_steps(ctx, article, earlier);
    if fresh.is_empty() {
        w.line("Since the usual steps haven't fixed this, the best next step is a colleague who can look at your case directly. Just reply \"person\" and I'll pass it over with everything you've told me.");
        return;
    }
    let customer = ctx.state.latest_customer_text();
    // The steps that speak most to what the customer said, in the article's order.
    let mut ranked: Vec<(usize, &str)> = fresh
        .into_iter()
        .filter(|s| !ctx.discreet || !mentions(s, ctx.sensitive))
        .enumerate()
        .collect();
    ranked.sort_by_key(|&(i, s)| (std::cmp::Reverse(overlap(s, customer)), i));
    ranked.truncate(MAX_STEPS);
    ranked.sort_by_key(|&(i, _)| i);
    let steps: Vec<&str> = ranked.into_iter().map(|(_, s)| s).collect();
    if steps.is_empty() {
        w.line("A specialist on our team can go through the options with you privately.");
        return;
    }
    let intro = if reassure {
        "Here's exactly what happens next, so you know where things stand:"
    } else if !earlier.is_empty() {
        "Here's what we'll do next:"
    } else {
        "Here's how we'll sort it:"
    };
    w.line(intro);
    w.line(
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

/// Content words (5+ letters, compared on their first 5) that a step shares with the customer's message.
fn overlap(step: &str, customer: &str) -> usize {
    let stems = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 5)
            .map(|w| w.to_lowercase().chars().take(5).collect())
            .collect()
    };
    let theirs = stems(customer);
    let mut mine = stems(step);
    mine.sort();
    mine.dedup();
    mine.iter().filter(|w| theirs.contains(w)).count()
}

fn mentions(text: &str, phrases: &[String]) -> bool {
    let lower = text.to_lowercase();
    phrases.iter().any(|p| lower.contains(p.as_str()))
}

/// Required disclosures, then the policy's filters: no banned phrase and, in discreet mode, none of the
/// customer's sensitive words.
fn finish(mut w: Writer, ctx: &Context<'_>) -> String {
    for disclosure in &ctx.policy.language.required_disclosures {
        w.line(disclosure.clone());
    }
    let banned: Vec<String> = ctx
        .policy
        .language
        .banned_phrases
        .iter()
        .map(|p| p.to_lowercase())
        .collect();
    let mut out: Vec<String> = Vec::with_capacity(w.blocks.len());
    for block in w.blocks {
        let kept: Vec<&str> = block
            .split_inclusive(['\n'])
            .filter(|line| {
                let hides = ctx.discreet && !ctx.policy.discreet.repeat_details;
                let sensitive = hides && mentions(line, ctx.sensitive);
                !sensitive && !mentions(line, &banned)
            })
            .collect();
        let text = kept.concat().trim_end().to_string();
        if !text.is_empty() {
            out.push(text);
        }
    }
    let mut reply = String::new();
    for (i, block) in out.iter().enumerate() {
        if i > 0 {
            // The greeting and list items stay on their own line; other blocks join as one paragraph.
            let list =
                block.starts_with("- ") || block.starts_with("1. ") || out[i - 1].ends_with(':');
            let after_greeting = i == 1 && out[0].ends_with(',');
            reply.push_str(if list || after_greeting || out[i - 1].contains('\n') {
                "\n"
            } else {
                " "
            });
        }
        reply.push_str(block);
    }
    if ctx.policy.brand.emoji && ctx.policy.brand.formality == Formality::Casual && !ctx.discreet {
        reply.push_str(" 🙂");
    }
    reply
}

/// A response time the company committed to, or `otherwise` when it named none: the composer never
/// invents a deadline.
fn promised<'a>(committed: &'a str, otherwise: &'a str) -> &'a str {
    match committed.trim() {
        "" => otherwise,
        time => time,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn owned_things_are_named_people_and_contacts_are_not() {
        assert_eq!(
            owned_thing("Hey @Apple my Face ID isn't working link").as_deref(),
            Some("your Face ID")
        );
        assert_eq!(
            owned_thing("almost a year since my account got hacked").as_deref(),
            Some("your account")
        );
        assert_eq!(
            owned_thing("I restarted GTA and my progress got reset").as_deref(),
            Some("your progress")
        );
        assert_eq!(owned_thing("my husband passed away"), None);
        assert_eq!(owned_thing("my email is a@b.com"), None);
        assert_eq!(owned_thing("nothing of mine here"), None);
    }

    use super::*;

    #[test]
    fn statements_turn_to_the_second_person() {
        assert_eq!(
            second_person("I restarted my router twice."),
            "you restarted your router twice"
        );
        assert_eq!(
            second_person("I've already reset the password"),
            "you've already reset the password"
        );
    }

    #[test]
    fn variants_are_not_reused() {
        let v = [
            "First variant of a sentence here.",
            "Second variant of a sentence.",
        ];
        assert_eq!(vary(&v, &[], 0), v[0]);
        assert_eq!(
            vary(&v, &["First variant of a sentence here. More."], 0),
            v[1]
        );
        assert_eq!(vary(&v, &[], 1), v[1]);
    }
}
