//! The customer's problem in their own words, and the question that moves it: what the composer needs to
//! write a reply that shows the message was read ("I'm sorry your Face ID isn't working") and that asks
//! the one thing a person on the team would ask next ("Which device and version are you using?") when the
//! knowledge base has no answer. Pure text work on the (pseudonymised) latest customer message; it knows
//! no company's products and promises nothing.
//!
//! Not a parser: a clause is read back only when it is short, a statement about the problem, and made of
//! known words (a typo or slang the reply would repeat makes it fall back to the plainer wording).

use rapport_privacy::names::Gazetteer;

/// Longest clause read back, in words.
const MAX_WORDS: usize = 18;

/// Problem markers ("isn't working", "still", "charged") and their weight, matched on the normalised
/// lower-case clause.
const PROBLEM: [(&str, u8); 60] = [
    ("did not get", 3),
    ("did not receive", 3),
    ("have not received", 3),
    ("did not", 1),
    ("not working", 3),
    ("isn't working", 3),
    ("stopped working", 3),
    ("doesn't work", 3),
    ("does not work", 3),
    ("don't work", 3),
    ("won't", 2),
    ("can't", 2),
    ("cannot", 2),
    ("can not", 2),
    ("unable", 2),
    ("not able", 2),
    ("didn't get", 3),
    ("didn't receive", 3),
    ("haven't received", 3),
    ("haven't got", 3),
    ("never got", 3),
    ("never received", 3),
    ("never arrived", 3),
    ("hasn't arrived", 3),
    ("not received", 3),
    ("isn't here", 3),
    ("didn't", 1),
    ("doesn't", 1),
    ("isn't", 1),
    ("hasn't", 1),
    ("still", 1),
    ("keeps", 2),
    ("keep ", 1),
    ("error", 2),
    ("crash", 2),
    ("corrupt", 2),
    ("deleted", 2),
    ("missing", 2),
    (" gone", 2),
    ("wrong", 2),
    ("stuck", 2),
    ("broken", 2),
    ("broke", 2),
    ("hacked", 3),
    ("locked", 2),
    ("denied", 2),
    ("failed", 2),
    ("charged", 2),
    ("even though", 2),
    ("lost", 2),
    ("disappeared", 2),
    ("no longer", 2),
    ("not loading", 3),
    ("not showing", 3),
    ("not registering", 3),
    ("not updating", 3),
    ("drains", 2),
    ("messed up", 2),
    ("glitch", 2),
    ("unavailable", 2),
];

/// Apostrophe-less contractions customers type, and their spelling.
const CONTRACTIONS: [(&str, &str); 16] = [
    ("didnt", "didn't"),
    ("dont", "don't"),
    ("doesnt", "doesn't"),
    ("cant", "can't"),
    ("wont", "won't"),
    ("isnt", "isn't"),
    ("wasnt", "wasn't"),
    ("havent", "haven't"),
    ("hasnt", "hasn't"),
    ("arent", "aren't"),
    ("couldnt", "couldn't"),
    ("wouldnt", "wouldn't"),
    ("im", "I'm"),
    ("ive", "I've"),
    ("everytime", "every time"),
    ("&amp;", "&"),
];

/// Openers that carry no content ("Hi,", "So", "Not sure what is causing this but").
const OPENERS: [&str; 24] = [
    "hi there",
    "hello there",
    "hey there",
    "hi",
    "hello",
    "hey",
    "so",
    "ok",
    "okay",
    "well",
    "also",
    "just",
    "please",
    "help",
    "and",
    "then",
    "as",
    "since",
    "but",
    "because",
    "thanks",
    "thank you",
    "thx",
    "cheers",
];

/// What kind of problem the message is, for the question that moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Paid or ordered something that did not arrive or does not show.
    PurchaseMissing,
    /// A charge, refund or bill.
    Charge,
    /// Cannot sign in, locked out, hacked.
    Access,
    /// Files, progress or data deleted, lost or corrupted.
    DataLoss,
    /// Something does not work: an app, a device, a feature.
    Fault,
    /// A suggestion or a request for the product ("please add ...").
    Feedback,
}

/// The customer's problem as the reply reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The clause in the second person ("your Face ID isn't working"), when one reads back cleanly.
    pub clause: Option<String>,
    /// A question the customer asked, as "how to ..." / "whether you can ...", when there is one.
    pub question: Option<String>,
    pub kind: Option<Kind>,
    /// The question a person on the team would ask next when no article answers the problem: the fact
    /// that moves it, without asking again what the message already says.
    pub next_question: Option<&'static str>,
}

impl Problem {
    /// Reads `text` (the latest customer message). `words` decides which words are known.
    pub fn read(text: &str, words: &Gazetteer) -> Self {
        let clean = normalise(text);
        let sentences = sentences(&clean);
        let clause = sentences
            .iter()
            .flat_map(|s| {
                // A question is the problem only as "why can't I ..."; a statement is cut in clauses.
                if s.ends_with('?') {
                    why_cant(s).into_iter().collect()
                } else {
                    candidates(s)
                        .into_iter()
                        .map(|c| why_cant(&c).unwrap_or(c))
                        .collect::<Vec<_>>()
                }
            })
            .map(|c| (cue_weight(&c), c))
            .filter(|(w, _)| *w > 0)
            // The strongest marker wins; the first on a tie.
            .fold(None::<(u8, String)>, |best, (w, c)| match best {
                Some((bw, _)) if bw >= w => best,
                _ => Some((w, c)),
            })
            .map(|(_, c)| c)
            .filter(|c| has_subject(c, words))
            .and_then(|c| read_back(&c, words));
        let question = sentences
            .iter()
            .find_map(|s| asked(s))
            .and_then(|q| read_back(&q, words));
        let lower = clean.to_lowercase();
        // "I can't find it" asks where something is; it is not a fault.
        let kind = kind(&lower.replace("can't find", ""));
        Self {
            clause,
            question,
            kind,
            next_question: kind.and_then(|k| next_question(k, &lower)),
        }
    }
}

/// The question that moves a problem of `kind`, given the message (normalised, lower case).
fn next_question(kind: Kind, lower: &str) -> Option<&'static str> {
    let has = |ws: &[&str]| ws.iter().any(|w| lower.contains(w));
    match kind {
        Kind::PurchaseMissing if !has(&["order number", "transaction id", "receipt number"]) => Some(
            "Could you send me the order or transaction number from your receipt, so our team can trace the purchase?",
        ),
        Kind::PurchaseMissing => None,
        Kind::Charge => Some(
            "Could you tell me the date and amount of the charge, and how you paid for it, so our team can find it?",
        ),
        Kind::Access
            if has(&[
                "hacked", "lost my", "new phone", "verification", "2step", "2-step", "two-step",
                "two factor", "authenticator", "2fa", "changed my password",
            ]) =>
        {
            Some(
                "Do you still have access to the email address and phone number on the account? That tells our team the quickest safe way to get you back in.",
            )
        }
        Kind::Access if has(&["error", "says", "said", "message"]) => Some(
            "Which email address or username is the account under (please don't send your password), so our team can look at it?",
        ),
        Kind::Access => Some(
            "What happens when you try to sign in: do you see an error message, and which email address or username is the account under (please don't send your password)?",
        ),
        // The customer already said when ("a couple of weeks ago").
        Kind::DataLoss if has(&[" ago", "yesterday", "today", "last week", "this morning"]) => None,
        Kind::DataLoss => Some(
            "Roughly when did it happen? That tells our team where to look for what can be recovered.",
        ),
        Kind::Fault if has(&["no error", "no fault", "no message", "without an error"]) => Some(
            "Which device and app version are you using, and at which step does it stop? A screenshot helps our team find the cause.",
        ),
        Kind::Fault if has(&["error"]) => Some(
            "What exactly does the error message say, and where do you see it? A screenshot of it helps our team find the cause.",
        ),
        Kind::Fault if has(&["website", " site", "web page", "browser"]) => Some(
            "Which web address and browser are you using, and what does the page show? A screenshot helps our team find the cause.",
        ),
        Kind::Fault if has(&DEVICES) => Some(
            "Which version of the app or system are you on, and do you see an error message when it happens? A screenshot helps our team find the cause.",
        ),
        Kind::Fault => Some(
            "Which device and version are you using, and do you see an error message when it happens? A screenshot helps our team find the cause.",
        ),
        Kind::Feedback => None,
    }
}

/// Chat slang and swearing: a reply quotes the customer up to it, not beyond.
const SLANG: [&str; 14] = [
    "lol", "lmao", "lmfao", "smh", "wtf", "omg", "tf", "af", "ffs", "fml", "rofl", "fuck",
    "fucking", "damn",
];

/// Words of software and sites: with "can't", the problem is a fault.
const TECH: [&str; 16] = [
    " app", "website", " site", "page", "load", "download", "install", "stream", "play ", "upload",
    "update", "sync", "connect", "print", "screen", "wifi",
];

/// Device words: when the customer named one, the question does not ask which device.
const DEVICES: [&str; 18] = [
    "iphone",
    "ipad",
    "android",
    " pc",
    "mac",
    "laptop",
    "windows",
    "xbox",
    "ps4",
    "ps5",
    "playstation",
    "switch",
    " tv",
    "phone",
    "tablet",
    "chromebook",
    "desktop",
    "browser",
];

fn kind(lower: &str) -> Option<Kind> {
    // Padded, so that a cue with a leading space matches a whole word ("charge", not "discharge").
    let padded = format!(" {lower} ");
    let has = |ws: &[&str]| ws.iter().any(|w| padded.contains(w));
    // "I don't want my feedback passed on, I want to be moved" rejects the word, it gives no feedback.
    let rejects = has(&[
        "don't want",
        "do not want",
        "not feedback",
        "not a suggestion",
    ]);
    if !rejects
        && has(&[
            "please add",
            "you should have",
            "you should make",
            "you guys should",
            "please use a",
            "any chance you",
            "i wish you",
            "would love it if",
            "why not add",
            "pls add",
            "plz add",
            "feedback",
            "suggestion",
            "would be nice",
            "would be great if",
            "you should add",
            "bring back",
        ])
    {
        return Some(Kind::Feedback);
    }
    let bought = has(&[
        "bought",
        "ordered",
        "purchased",
        "paid for",
        "redeem",
        "pre-order",
        "preorder",
    ]);
    if bought
        && has(&[
            "didn't get",
            "not received",
            "haven't received",
            "haven't got",
            "never got",
            "never received",
            "nothing",
            "not on my account",
            "did not get",
            "did not receive",
            "have not received",
            "not showing",
            "doesn't show",
            "missing",
            "didn't receive",
            "repurchase",
        ])
    {
        return Some(Kind::PurchaseMissing);
    }
    // "won't charge the laptop" is a battery, not a bill.
    let battery = has(&[
        "won't charge",
        "not charging",
        "wont charge",
        "charger",
        "charging",
        "battery",
    ]);
    if !battery
        && has(&[
            " charged",
            " charge ",
            "refund",
            "billed",
            "double charge",
            "overcharged",
        ])
    {
        return Some(Kind::Charge);
    }
    if has(&[
        "log in",
        "login",
        "log into",
        "sign in",
        "signin",
        "password",
        "verification code",
        "locked out",
        "hacked",
        "two-step",
        "2step",
        "2-step",
        "two factor",
        "authenticator",
        "verification",
        "2fa",
        "denied access",
    ]) {
        return Some(Kind::Access);
    }
    if has(&[
        "deleted",
        "corrupt",
        "lost all",
        "lost my",
        "files are gone",
        "is gone",
        "are gone",
        "wiped",
    ]) {
        return Some(Kind::DataLoss);
    }
    if has(&[
        "not working",
        "isn't working",
        "stopped working",
        "doesn't work",
        "does not work",
        "don't work",
        "won't load",
        "won't open",
        "won't start",
        "won't work",
        "won't turn",
        "won't connect",
        "won't let",
        "won't play",
        "won't update",
        "won't install",
        "won't sync",
        "won't download",
        "won't upload",
        "won't charge",
        "crash",
        "error",
        "keeps loading",
        "loading",
        "freez",
        "frozen",
        "glitch",
        "bug",
        "broken",
        "not updating",
        "aren't updating",
        "isn't updating",
        "not loading",
        "isn't loading",
        "not syncing",
        "not registering",
        "not showing",
        "drains",
        "draining",
        "messed up",
        "unavailable",
    ]) {
        return Some(Kind::Fault);
    }
    // "I can't" is a fault only about a device, an app or a site ("I can't open the app"), not "I
    // can't get through on the phone" or "I can't cancel my flight".
    let calling = has(&["on the phone", "by phone", "get through", "through to"]);
    if has(&["can't", "cannot"]) && !calling && (has(&DEVICES) || has(&TECH)) {
        return Some(Kind::Fault);
    }
    None
}

/// Straight apostrophes, spelled-out contractions, no handles, links or hashtags.
fn normalise(text: &str) -> String {
    let text = text.replace(['\u{2019}', '\u{2018}'], "'");
    let mut words: Vec<String> = Vec::new();
    for raw in text.split_whitespace() {
        if raw.starts_with('@') || raw.starts_with('#') || raw.contains("://") {
            // A handle or a link ends nothing: the sentence goes on around it.
            continue;
        }
        let core = raw.trim_end_matches([',', '.', '!', '?', ';', ':']);
        let tail = &raw[core.len()..];
        let spelled = CONTRACTIONS
            .iter()
            .find(|(typed, _)| core.eq_ignore_ascii_case(typed))
            .map(|(_, s)| (*s).to_string());
        words.push(match spelled {
            Some(s) => format!("{s}{tail}"),
            None => raw.to_string(),
        });
    }
    // A link the channel replaced by the word "link" at the very end ("my Face ID isn't working link").
    if words.len() > 1 && words.last().is_some_and(|w| w == "link") {
        let before = words[words.len() - 2].to_lowercase();
        if ![
            "the",
            "a",
            "this",
            "that",
            "reset",
            "download",
            "your",
            "my",
            "verification",
            "confirmation",
            "magic",
            "tracking",
        ]
        .contains(&before.as_str())
        {
            words.pop();
        }
    }
    words.join(" ")
}

/// Sentences, each with its closing mark ('?' kept so that questions can be told apart).
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        let end = matches!(c, '.' | '!' | '?' | '\n')
            && chars
                .get(i + 1)
                .is_none_or(|n| n.is_whitespace() || matches!(n, '!' | '?'));
        if end {
            push_sentence(&mut out, &current);
            current.clear();
        }
    }
    push_sentence(&mut out, &current);
    out
}

fn push_sentence(out: &mut Vec<String>, raw: &str) {
    let question = raw.contains('?');
    let mut s = raw
        .trim()
        .trim_end_matches(['.', '!', '?', '\n', ' '])
        .trim()
        .to_string();
    if s.is_empty() {
        return;
    }
    if question {
        s.push('?');
    }
    out.push(s);
}

/// Where a sentence is cut in clauses, and how many bytes of the match go before the next clause: "and"
/// goes ("and my account said ..." -> "my account said ..."), a new "I am" stays.
const CUTS: [(&str, usize); 17] = [
    (", ", 2),
    ("; ", 2),
    (" but ", 5),
    (" because ", 9),
    (" - ", 3),
    (" and i ", 5),
    (" and my ", 5),
    (" and it ", 5),
    (" and now ", 5),
    (" and then ", 5),
    (" and for ", 5),
    (" and when ", 5),
    (" and after ", 5),
    (" i am ", 1),
    (" i'm ", 1),
    (" and i'm ", 5),
    (" and i've ", 5),
];

/// A clause of a sentence and the words that joined it to the one before (", ", " but ", "").
struct Clause {
    joiner: String,
    text: String,
}

/// A sentence cut at its clause boundaries.
fn clauses(sentence: &str) -> Vec<Clause> {
    let lower = sentence.to_lowercase();
    let mut cuts: Vec<(usize, usize)> = CUTS
        .iter()
        .flat_map(|(pattern, skip)| lower.match_indices(pattern).map(move |(at, _)| (at, *skip)))
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    let mut joiner = String::new();
    for (at, skip) in cuts {
        // Lower-casing keeps byte offsets for the ASCII patterns only when the text before is ASCII-sized
        // alike; a cut that does not land on a boundary of the original is skipped.
        if at < from || !sentence.is_char_boundary(at) || !sentence.is_char_boundary(at + skip) {
            continue;
        }
        out.push(Clause {
            joiner: std::mem::take(&mut joiner),
            text: sentence[from..at].to_string(),
        });
        joiner = sentence[at..at + skip].to_string();
        from = at + skip;
    }
    if from <= sentence.len() && sentence.is_char_boundary(from) {
        out.push(Clause {
            joiner,
            text: sentence[from..].to_string(),
        });
    }
    out
}

/// The candidate problem clauses of a sentence: each clause, and a clause that starts with a pronoun
/// joined to the one before it ("I try to upload an mp4 but it doesn't work", not "it doesn't work").
fn candidates(sentence: &str) -> Vec<String> {
    let parts = clauses(sentence);
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let text = strip_openers(part.text.trim());
        let lower = text.to_lowercase();
        let pronoun = ["it ", "they ", "this ", "that ", "he ", "she "]
            .iter()
            .any(|p| lower.starts_with(p))
            // "... but I didn't get it": short, and "it" is in the clause before.
            || (text.split_whitespace().count() < 6
                && [" it", " them", " this", " that"].iter().any(|p| lower.ends_with(p)));
        if pronoun && i > 0 {
            let before = strip_openers(parts[i - 1].text.trim());
            out.push(format!("{before}{}{}", part.joiner, part.text.trim()));
        } else if text.split_whitespace().count() >= 3 {
            out.push(text);
        }
    }
    out
}

fn strip_openers(mut clause: &str) -> String {
    loop {
        let lower = clause.to_lowercase();
        let Some(opener) = OPENERS.iter().find(|o| {
            lower.starts_with(*o)
                && lower[o.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric())
        }) else {
            break;
        };
        clause = clause[opener.len()..].trim_start_matches([',', ' ', '-', '!', '.']);
    }
    clause.to_string()
}

fn cue_weight(clause: &str) -> u8 {
    let lower = format!(" {} ", clause.to_lowercase());
    let sum: u8 = PROBLEM
        .iter()
        .filter(|(cue, _)| lower.contains(cue))
        .map(|(_, w)| *w)
        .sum();
    // "still" alone ("one of the few who still use your mail") is not a problem.
    if sum >= 2 {
        sum
    } else {
        0
    }
}

/// "why can't I save videos to my watch later" -> "I can't save videos to my watch later".
fn why_cant(sentence: &str) -> Option<String> {
    let body = sentence.trim_end_matches('?');
    let lower = body.to_lowercase();
    let rest = ["why can't i ", "why cant i ", "why can i not "]
        .iter()
        .find_map(|p| lower.starts_with(p).then(|| &body[p.len()..]))?;
    Some(format!("I can't {rest}"))
}

/// "How do I go back to the old system?" -> "how to go back to the old system". A question about "this"
/// or "it" names nothing to read back.
fn asked(sentence: &str) -> Option<String> {
    let body = sentence.trim_end_matches('?');
    let body = strip_openers(body);
    let lower = body.to_lowercase();
    for (prefix, reads) in [
        ("how do i ", "how to "),
        ("how can i ", "how to "),
        ("how would i ", "how to "),
        ("how do you ", "how to "),
        ("is there a way to ", "whether there's a way to "),
        ("can i ", "whether you can "),
        ("is it possible to ", "whether it's possible to "),
        ("what's the best way to ", "the best way to "),
        ("what is the best way to ", "the best way to "),
        ("is there anyway i can ", "whether you can "),
        ("is there any way i can ", "whether you can "),
        ("is there any way to ", "whether there's a way to "),
        ("do i need to ", "whether you need to "),
        ("do i have to ", "whether you have to "),
    ] {
        if let Some(rest) = lower.starts_with(prefix).then(|| &body[prefix.len()..]) {
            return names_something(rest, 3).then(|| format!("{reads}{rest}"));
        }
    }
    // Asked inside a longer sentence: "we've been trying to figure out how to create a cohost", "do you
    // have a video on how to mute all?".
    let at = lower.find(" how to ")? + " how to ".len();
    let rest = body.get(at..)?;
    names_something(rest, 2).then(|| format!("how to {rest}"))
}

/// Whether what a question asks about names something: at least `min_words` words, not ending on
/// "this", "it" or "that".
fn names_something(rest: &str, min_words: usize) -> bool {
    let lower = rest.to_lowercase();
    rest.split_whitespace().count() >= min_words
        && !["this", "it", "that"]
            .iter()
            .any(|w| lower.ends_with(&format!(" {w}")))
}

/// The clause in the second person, or `None` when it would not read back cleanly: too long, a word the
/// reply should not repeat (a typo, slang, a swear word), or a quote.
fn read_back(clause: &str, words: &Gazetteer) -> Option<String> {
    // Chat slang ends what reads back ("every file is gone lmao send help" -> "every file is gone").
    let clause = match clause.split_whitespace().position(|w| {
        SLANG.contains(
            &w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
                .as_str(),
        )
    }) {
        Some(at) => clause
            .split_whitespace()
            .take(at)
            .collect::<Vec<_>>()
            .join(" "),
        None => clause.to_string(),
    };
    // "... please help" / "... thanks": the request, not the problem.
    let mut clause = clause
        .trim()
        .trim_end_matches(['.', '!', '?', ',', ';', ':'])
        .to_string();
    for filler in [
        " please help",
        " pls help",
        " plz help",
        " help",
        " please",
        " pls",
        " plz",
        " thanks",
        " thx",
    ] {
        if clause.to_lowercase().ends_with(filler) {
            clause.truncate(clause.len() - filler.len());
        }
    }
    let clause = clause
        .trim()
        .trim_end_matches(['.', '!', '?', ',', ';', ':']);
    let count = clause.split_whitespace().count();
    if !(3..=MAX_WORDS).contains(&count) || clause.contains(['"', '\u{201c}', '\u{201d}', '(', '*'])
    {
        return None;
    }
    let known = clause.split_whitespace().all(|raw| {
        let w = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
        let lower = w.to_lowercase();
        w.is_empty()
            || w.chars().any(|c| c.is_ascii_digit())
            || w.chars().next().is_some_and(char::is_uppercase) && w != "I"
            || lower.contains('\'')
            || lower.len() <= 2
            || words.is_common(&lower)
            || !misspelt(&lower, words)
    });
    // Stretched words ("aaand", "sooo") are the customer's voice, not words to quote back.
    let stretched = clause.split_whitespace().any(|w| {
        let chars: Vec<char> = w.to_lowercase().chars().collect();
        chars
            .windows(3)
            .any(|t| t[0].is_alphabetic() && t[0] == t[1] && t[1] == t[2])
    });
    if stretched {
        return None;
    }
    // Shouting is the customer's; the reply does not repeat it.
    let shouted = clause
        .split_whitespace()
        .filter(|w| w.len() > 3 && w.chars().all(|c| !c.is_alphabetic() || c.is_uppercase()))
        .count()
        > 1;
    if !known || shouted {
        return None;
    }
    Some(second_person(clause))
}

/// Words a clause that reads back can start with: a subject ("my app", "the update", "I", "it") or a
/// conjunction before one ("whenever I start it"). A clause without one ("Locked out of all accounts
/// twice yesterday", "Can't take the risk") reads badly after "I'm sorry".
const SUBJECT_STARTS: [&str; 45] = [
    "i",
    "i'm",
    "i've",
    "i'd",
    "my",
    "our",
    "we",
    "we're",
    "we've",
    "the",
    "this",
    "that",
    "these",
    "those",
    "it",
    "it's",
    "its",
    "a",
    "an",
    "some",
    "all",
    "every",
    "each",
    "nothing",
    "none",
    "they",
    "they're",
    "he",
    "she",
    "his",
    "her",
    "their",
    "whenever",
    "when",
    "since",
    "after",
    "one",
    "both",
    "someone",
    "somebody",
    "nobody",
    "everyone",
    "everything",
    "there",
    "no",
];

/// Whether `clause` starts with a subject: a word of [`SUBJECT_STARTS`], a number, or a name that is
/// not a common word (a product: "Spotify keeps pausing").
fn has_subject(clause: &str, words: &Gazetteer) -> bool {
    let Some(first) = clause.split_whitespace().next() else {
        return false;
    };
    let bare = first.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
    let lower = bare.to_lowercase();
    SUBJECT_STARTS.contains(&lower.as_str())
        || bare.chars().next().is_some_and(|c| c.is_ascii_digit())
        || (bare.chars().next().is_some_and(char::is_uppercase) && !words.is_common(&lower))
}

/// A word that is not common but one edit away from a common word is taken for a typo ("accont"); a rare
/// word that is nothing else ("enterprise") is not.
fn misspelt(word: &str, words: &Gazetteer) -> bool {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 4 || !word.is_ascii() {
        return false;
    }
    let common = |candidate: Vec<char>| {
        let candidate: String = candidate.into_iter().collect();
        candidate.len() >= 3 && words.is_common(&candidate)
    };
    // A regular form of a common word ("joiners", "registering", "muted") is the word, not a typo of it.
    let inflected = ["s", "es", "ed", "ing", "er", "ers"].iter().any(|end| {
        word.strip_suffix(end).is_some_and(|stem| {
            stem.len() >= 3 && (words.is_common(stem) || words.is_common(&format!("{stem}e")))
        })
    });
    if inflected {
        return false;
    }
    let letters = 'a'..='z';
    (0..chars.len()).any(|i| {
        let mut deleted = chars.clone();
        deleted.remove(i);
        let mut swapped = chars.clone();
        if i + 1 < chars.len() {
            swapped.swap(i, i + 1);
        }
        common(deleted)
            || (i + 1 < chars.len() && common(swapped))
            || letters.clone().any(|c| {
                let mut replaced = chars.clone();
                replaced[i] = c;
                let mut inserted = chars.clone();
                inserted.insert(i, c);
                (c != chars[i] && common(replaced)) || common(inserted)
            })
    }) || letters.clone().any(|c| {
        let mut appended = chars.clone();
        appended.push(c);
        common(appended)
    })
}

/// "I restarted my router twice" -> "you restarted your router twice" (we / our / us are the customer's
/// too: "every file we need" -> "every file you need").
pub fn second_person(statement: &str) -> String {
    let mut out = Vec::new();
    let mut after_i = false;
    for (i, word) in statement.split_whitespace().enumerate() {
        let lower = word.to_lowercase();
        let bare = lower.trim_end_matches([',', '.', '!', '?']);
        // "I was" -> "you were", not "you was".
        let was = after_i && bare == "was";
        after_i = matches!(bare, "i" | "we");
        let swapped = match bare {
            _ if was => Some("were"),
            "i" | "we" => Some("you"),
            "i've" | "we've" => Some("you've"),
            "i'm" | "we're" => Some("you're"),
            "i'd" | "we'd" => Some("you'd"),
            "i'll" | "we'll" => Some("you'll"),
            "my" | "our" => Some("your"),
            "me" | "us" => Some("you"),
            "mine" | "ours" => Some("yours"),
            "myself" | "ourselves" => Some("yourself"),
            "am" => Some("are"),
            _ => None,
        };
        match swapped {
            Some(s) => {
                let tail = &word[word.trim_end_matches([',', '.', '!', '?']).len()..];
                out.push(format!("{s}{tail}"));
            }
            // The first word loses its sentence capital, not a name's ("The app" -> "the app", "Face ID").
            None if i == 0 && word.chars().skip(1).all(|c| !c.is_uppercase()) => out.push(lower),
            None => out.push(word.to_string()),
        }
    }
    out.join(" ")
        .trim_end_matches(['.', '!', '?', ','])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Problem {
        Problem::read(text, &Gazetteer::builtin())
    }

    #[test]
    fn i_cant_is_a_fault_only_about_a_device_an_app_or_a_site() {
        let cases = [
            ("I can't get through on the phone. I need an answer.", None),
            ("why can't I cancel my flight to Italy in May?", None),
            ("I can't open the app on my iphone", Some(Kind::Fault)),
            ("the charger case drains super quickly", Some(Kind::Fault)),
            (
                "likes and dislikes not registering on my videos",
                Some(Kind::Fault),
            ),
            (
                "the chargers I tried won't charge the laptop at all",
                Some(Kind::Fault),
            ),
            (
                "maybe monday or tuesday for discharge but not certain",
                None,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(read(text).kind, want, "{text}");
        }
    }

    #[test]
    fn the_problem_clause_reads_back_in_the_second_person() {
        let cases = [
            ("Hey @Apple my Face ID isn’t working link", Some("your Face ID isn't working")),
            (
                "@RockstarSupport i ordered the criminal enterprise pack over 48 hours ago and didnt get anything",
                Some("you ordered the criminal enterprise pack over 48 hours ago and didn't get anything"),
            ),
            (
                "@DropboxSupport the new update does not work for me and has caused me to waste a lot of time. How do I go back to the old system?",
                Some("the new update does not work for you and has caused you to waste a lot of time"),
            ),
            ("@TeamYouTube why can't I save certain videos to my watch later", Some("you can't save certain videos to your watch later")),
            // A typo the reply would repeat: no read-back (a rare word is not a typo).
            ("I have waiting 48 hours and nothing i can enter in my accont", None),
            ("the enterprise pack never arrived", Some("the enterprise pack never arrived")),
            // No problem in it.
            ("how's your day going? lovely weather", None),
            // No subject: it would read "I'm sorry locked out of all accounts ...".
            ("Locked out of all accounts twice yesterday. It keeps asking again", None),
            ("Can't take the risk due to my husband's health", None),
            // A stretched word is the customer's voice, not a word to quote.
            ("aaand it's gone again, 502 in the middle of the demo", None),
        ];
        for (text, want) in cases {
            assert_eq!(read(text).clause.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn questions_and_kinds_are_read() {
        let p = read("@DropboxSupport How can I combine my Dropbox accounts so I can have all my files is one place ?");
        assert_eq!(
            p.question.as_deref(),
            Some(
                "how to combine your Dropbox accounts so you can have all your files is one place"
            )
        );
        assert_eq!(
            read("I was charged twice this month").kind,
            Some(Kind::Charge)
        );
        assert_eq!(
            read("I can't log into my account, it says incorrect password").kind,
            Some(Kind::Access)
        );
        assert_eq!(read("please add the new album").kind, Some(Kind::Feedback));
        assert_eq!(
            read("my app keeps crashing on my iPhone").kind,
            Some(Kind::Fault)
        );
        let fault = read("my app keeps crashing on my iPhone");
        assert!(fault
            .next_question
            .is_some_and(|q| !q.contains("Which device")));
        assert_eq!(read("the weather is nice").kind, None);
        // Asked inside a longer sentence, with a plural a typo check must not reject.
        assert_eq!(
            read("do you have a quick video on how to mute all and mute new joiners?")
                .question
                .as_deref(),
            Some("how to mute all and mute new joiners")
        );
        assert_eq!(
            read("we've been trying to figure out how to create a cohost")
                .question
                .as_deref(),
            Some("how to create a cohost")
        );
        for suggestion in [
            "You should have a way to broadcast live.",
            "any chance you are opening up your WiFi hotspots to kids?",
        ] {
            assert_eq!(read(suggestion).kind, Some(Kind::Feedback), "{suggestion}");
        }
    }
}
