//! Data set readers and metrics for Rapport's evaluations: GoEmotions TSV and Bitext CSV readers,
//! multi-label F1 and accuracy.
//!
//! Not for: models or analysis. Readers turn files into plain rows with clear, line-numbered errors; metrics
//! are pure functions over label sets.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

/// Errors reading a data set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {why}")]
    Malformed {
        path: String,
        line: usize,
        why: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn read_file(path: &Path) -> Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
    Ok(text)
}

/// One GoEmotions row.
#[derive(Debug, Clone, PartialEq)]
pub struct GoEmotionsRow {
    pub text: String,
    pub labels: Vec<usize>,
}

/// Reads a GoEmotions TSV file (`text \t label_ids \t comment_id`, no header).
pub fn read_goemotions(path: &Path, label_count: usize) -> Result<Vec<GoEmotionsRow>> {
    let text = read_file(path)?;
    parse_goemotions(&text, label_count).map_err(|(line, why)| Error::Malformed {
        path: path.display().to_string(),
        line,
        why,
    })
}

/// Parses GoEmotions TSV content; errors carry the 1-based line number.
pub fn parse_goemotions(
    content: &str,
    label_count: usize,
) -> Result<Vec<GoEmotionsRow>, (usize, String)> {
    let mut rows = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(text), Some(ids)) = (fields.next(), fields.next()) else {
            return Err((i + 1, "expected `text<TAB>label_ids[<TAB>id]`".into()));
        };
        let mut labels = Vec::new();
        for id in ids.split(',') {
            let id: usize = id
                .trim()
                .parse()
                .map_err(|_| (i + 1, format!("label id {id:?} is not a number")))?;
            if id >= label_count {
                return Err((
                    i + 1,
                    format!("label id {id} is out of range 0..{label_count}"),
                ));
            }
            labels.push(id);
        }
        rows.push(GoEmotionsRow {
            text: text.to_string(),
            labels,
        });
    }
    Ok(rows)
}

/// One Bitext row: the customer's text and its intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentRow {
    pub text: String,
    pub intent: String,
}

/// Reads a Bitext customer-support CSV (header with `instruction` and `intent` columns).
pub fn read_bitext(path: &Path) -> Result<Vec<IntentRow>> {
    Ok(read_csv_columns(path, &["instruction", "intent"])?
        .into_iter()
        .map(|(_, mut fields)| {
            let intent = fields.pop().unwrap_or_default();
            let text = fields.pop().unwrap_or_default();
            IntentRow { text, intent }
        })
        .collect())
}

/// The named columns of every record of a CSV file with a header, with each record's line number.
fn read_csv_columns(path: &Path, names: &[&str]) -> Result<Vec<(usize, Vec<String>)>> {
    let display = path.display().to_string();
    let malformed = |line: usize, why: String| Error::Malformed {
        path: display.clone(),
        line,
        why,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.kind() {
        csv::ErrorKind::Io(_) => Error::Io {
            path: display.clone(),
            source: std::io::Error::other(e.to_string()),
        },
        _ => malformed(0, e.to_string()),
    })?;
    let headers = reader
        .headers()
        .map_err(|e| malformed(1, e.to_string()))?
        .clone();
    let columns = names
        .iter()
        .map(|name| {
            headers
                .iter()
                .position(|h| h == *name)
                .ok_or_else(|| malformed(1, format!("missing column `{name}`")))
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record
            .map_err(|e| malformed(e.position().map_or(0, |p| p.line() as usize), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let fields = columns
            .iter()
            .map(|&c| {
                record
                    .get(c)
                    .map(str::to_string)
                    .ok_or_else(|| malformed(line, "row has too few columns".into()))
            })
            .collect::<Result<Vec<String>>>()?;
        rows.push((line, fields));
    }
    Ok(rows)
}

/// One gold span of a PII sample, in byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldSpan {
    pub entity_type: String,
    pub start: usize,
    pub end: usize,
}

/// One presidio-research synthetic sample: text and gold spans (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct PiiSample {
    pub text: String,
    pub spans: Vec<GoldSpan>,
}

#[derive(serde::Deserialize)]
struct RawSample {
    full_text: String,
    #[serde(default)]
    spans: Vec<RawSpan>,
}

#[derive(serde::Deserialize)]
struct RawSpan {
    entity_type: String,
    start_position: usize,
    end_position: usize,
}

/// Reads a presidio-research synthetic data set (JSON list of `full_text` + `spans` with character
/// offsets) and converts the offsets to bytes.
pub fn read_presidio(path: &Path) -> Result<Vec<PiiSample>> {
    let text = read_file(path)?;
    let display = path.display().to_string();
    let raw: Vec<RawSample> = serde_json::from_str(&text).map_err(|e| Error::Malformed {
        path: display.clone(),
        line: e.line(),
        why: e.to_string(),
    })?;
    raw.into_iter()
        .enumerate()
        .map(|(index, sample)| {
            let byte_at = |char_offset: usize| -> Option<usize> {
                if char_offset == sample.full_text.chars().count() {
                    return Some(sample.full_text.len());
                }
                sample
                    .full_text
                    .char_indices()
                    .nth(char_offset)
                    .map(|(b, _)| b)
            };
            let mut spans = Vec::with_capacity(sample.spans.len());
            for span in &sample.spans {
                let (Some(start), Some(end)) =
                    (byte_at(span.start_position), byte_at(span.end_position))
                else {
                    return Err(Error::Malformed {
                        path: display.clone(),
                        line: 0,
                        why: format!(
                            "sample {index}: span {}..{} is outside the text",
                            span.start_position, span.end_position
                        ),
                    });
                };
                spans.push(GoldSpan {
                    entity_type: span.entity_type.clone(),
                    start,
                    end,
                });
            }
            Ok(PiiSample {
                text: sample.full_text,
                spans,
            })
        })
        .collect()
}

/// One EPITOME row: the seeker's post, the response and the response's level (0-2).
#[derive(Debug, Clone, PartialEq)]
pub struct EpitomeRow {
    pub seeker: String,
    pub response: String,
    pub level: u8,
}

/// Reads one EPITOME csv (`seeker_post`, `response_post`, `level` columns).
pub fn read_epitome(path: &Path) -> Result<Vec<EpitomeRow>> {
    read_csv_columns(path, &["seeker_post", "response_post", "level"])?
        .into_iter()
        .map(|(line, fields)| {
            let level = fields[2]
                .trim()
                .parse()
                .ok()
                .filter(|l: &u8| *l <= 2)
                .ok_or_else(|| Error::Malformed {
                    path: path.display().to_string(),
                    line,
                    why: format!("level {:?} is not 0, 1 or 2", fields[2]),
                })?;
            Ok(EpitomeRow {
                seeker: fields[0].clone(),
                response: fields[1].clone(),
                level,
            })
        })
        .collect()
}

/// The labels of an annotated customer turn (`../shared/data/cx_gold/GUIDELINES.md`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct CxLabels {
    pub sentiment: i8,
    #[serde(default)]
    pub signals: Vec<String>,
    #[serde(default)]
    pub vulnerability: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    pub problem: String,
    #[serde(default)]
    pub pushback: bool,
    #[serde(default)]
    pub need: String,
}

/// How annotators rated a reply (an agent or bot turn, or an alternative reply), 1-5 each.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ReplyRating {
    /// How heard the customer would feel.
    pub heard: u8,
    /// How far it moves the problem.
    pub moved: u8,
    pub overall: u8,
    #[serde(default)]
    pub flags: Vec<String>,
}

/// One turn of an annotated conversation; `labels` only for customer turns, `rating` for rated agent
/// or bot turns.
#[derive(Debug, Clone, PartialEq)]
pub struct CxTurn {
    pub role: String,
    pub text: String,
    pub labels: Option<CxLabels>,
    pub rating: Option<ReplyRating>,
}

/// A reply annotators wrote to a conversation's customer turn `after_turn` (cx_gold): `hollow` (scripted
/// sympathy) or `best`, rated like the agent turns.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct CxAlternative {
    pub kind: String,
    pub after_turn: usize,
    pub text: String,
    #[serde(rename = "labels")]
    pub rating: ReplyRating,
}

/// What a good next reply does (cx_dialogues).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct CxExpect {
    pub handoff: bool,
    pub safety: bool,
    pub resolved: bool,
    #[serde(default)]
    pub not_ask: Vec<String>,
}

/// One annotated conversation (cx_gold or cx_dialogues format).
#[derive(Debug, Clone, PartialEq)]
pub struct CxConversation {
    /// The file it was read from (folder and name), for figures per data set.
    pub source: String,
    pub session: String,
    pub company: String,
    pub turns: Vec<CxTurn>,
    pub expect: Option<CxExpect>,
    pub alternatives: Vec<CxAlternative>,
}

#[derive(serde::Deserialize)]
struct RawCxConversation {
    session: String,
    #[serde(default)]
    company: String,
    turns: Vec<RawCxTurn>,
    #[serde(default)]
    expect: Option<CxExpect>,
    #[serde(default)]
    alternatives: Vec<CxAlternative>,
}

#[derive(serde::Deserialize)]
struct RawCxTurn {
    role: String,
    text: String,
    #[serde(default)]
    labels: Option<serde_json::Value>,
}

/// A data file's name with its folder (`cx_gold/conversations.jsonl`): data sets keep one file name in
/// folders of their own.
pub fn source_name(path: &Path) -> String {
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
    };
    match (name(path.parent()), name(Some(path))) {
        (Some(dir), Some(file)) => format!("{dir}/{file}"),
        (_, file) => file.unwrap_or_default(),
    }
}

/// Reads annotated conversations, one JSON object a line; errors name the line and what is wrong.
pub fn read_cx(path: &Path) -> Result<Vec<CxConversation>> {
    let text = read_file(path)?;
    let malformed = |line: usize, why: String| Error::Malformed {
        path: path.display().to_string(),
        line,
        why,
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawCxConversation = serde_json::from_str(line).map_err(|e| {
            malformed(
                i + 1,
                format!("not an annotated conversation ({{\"session\", \"turns\": [{{\"role\", \"text\", \"labels\"}}]}}): {e}"),
            )
        })?;
        let mut turns = Vec::with_capacity(raw.turns.len());
        for (t, turn) in raw.turns.into_iter().enumerate() {
            let rating = match (turn.role.as_str(), &turn.labels) {
                ("agent" | "bot", Some(value)) if value.get("overall").is_some() => Some(
                    serde_json::from_value(value.clone())
                        .map_err(|e| malformed(i + 1, format!("turn {t}: reply rating: {e}")))?,
                ),
                _ => None,
            };
            let labels = match (turn.role.as_str(), turn.labels) {
                ("customer", Some(value)) => Some(
                    serde_json::from_value(value)
                        .map_err(|e| malformed(i + 1, format!("turn {t}: customer labels: {e}")))?,
                ),
                ("customer", None) => {
                    return Err(malformed(
                        i + 1,
                        format!("turn {t}: customer turn without labels"),
                    ))
                }
                ("agent" | "bot", _) => None,
                (other, _) => {
                    return Err(malformed(
                        i + 1,
                        format!("turn {t}: role {other:?} (expected customer, agent or bot)"),
                    ))
                }
            };
            turns.push(CxTurn {
                role: turn.role,
                text: turn.text,
                labels,
                rating,
            });
        }
        out.push(CxConversation {
            source: source_name(path),
            session: raw.session,
            company: raw.company,
            turns,
            expect: raw.expect,
            alternatives: raw.alternatives,
        });
    }
    if out.is_empty() {
        return Err(malformed(1, "no conversations in the file".into()));
    }
    Ok(out)
}

/// Spearman's rank correlation (average ranks for ties); 0 when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(x: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
        let mut r = vec![0.0; x.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
                j += 1;
            }
            let rank = (i + j) as f64 / 2.0 + 1.0;
            for &k in &order[i..=j] {
                r[k] = rank;
            }
            i = j + 1;
        }
        r
    }
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (ra, rb) = (ranks(&a[..n]), ranks(&b[..n]));
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - mean) * (y - mean);
        va += (x - mean).powi(2);
        vb += (y - mean).powi(2);
    }
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// F1 of one class from counts; 0 when the class never occurs and is never predicted.
pub fn f1(tp: usize, fp: usize, fn_: usize) -> f64 {
    let denominator = 2 * tp + fp + fn_;
    if denominator == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denominator as f64
    }
}

/// Per-class and micro-averaged F1 over multi-label predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiLabelScores {
    /// (class, F1, support) for every class in `classes`.
    pub per_class: Vec<(String, f64, usize)>,
    pub macro_f1: f64,
    pub micro_f1: f64,
}

/// Scores predicted label sets against gold label sets over the given classes.
pub fn multilabel_f1<S: AsRef<str>>(
    classes: &[S],
    gold: &[BTreeSet<String>],
    predicted: &[BTreeSet<String>],
) -> MultiLabelScores {
    let (mut all_tp, mut all_fp, mut all_fn) = (0, 0, 0);
    let mut per_class = Vec::with_capacity(classes.len());
    for class in classes {
        let class = class.as_ref();
        let (mut tp, mut fp, mut fn_, mut support) = (0, 0, 0, 0);
        for (g, p) in gold.iter().zip(predicted) {
            let (in_gold, in_pred) = (g.contains(class), p.contains(class));
            support += usize::from(in_gold);
            match (in_gold, in_pred) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                (false, false) => {}
            }
        }
        all_tp += tp;
        all_fp += fp;
        all_fn += fn_;
        per_class.push((class.to_string(), f1(tp, fp, fn_), support));
    }
    let macro_f1 = if per_class.is_empty() {
        0.0
    } else {
        per_class.iter().map(|c| c.1).sum::<f64>() / per_class.len() as f64
    };
    MultiLabelScores {
        per_class,
        macro_f1,
        micro_f1: f1(all_tp, all_fp, all_fn),
    }
}

/// Rounds to four decimals for reports.
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Deterministic split by text: true for about `percent`% of texts (FNV-1a of the text, modulo 100).
pub fn in_holdout(text: &str, percent: u8) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % 100) < u64::from(percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: &[&str]) -> BTreeSet<String> {
        labels.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn multilabel_f1_counts_each_class() {
        let gold = [set(&["a"]), set(&["b"]), set(&["a", "b"])];
        let pred = [set(&["a"]), set(&["a"]), set(&["b"])];
        let s = multilabel_f1(&["a", "b"], &gold, &pred);
        // a: tp 1, fp 1, fn 1 -> 0.5; b: tp 1, fp 0, fn 1 -> 0.667
        assert!((s.per_class[0].1 - 0.5).abs() < 1e-9);
        assert!((s.per_class[1].1 - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.macro_f1 - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
        assert!((s.micro_f1 - 4.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn goemotions_parser_reports_the_line() {
        let rows = parse_goemotions("hi\t27\tx\nyay\t15,17\ty\n", 28).expect("valid");
        assert_eq!(rows[1].labels, [15, 17]);
        assert_eq!(
            parse_goemotions("ok\t1\na\t99\n", 28).expect_err("bad").0,
            2
        );
        assert_eq!(parse_goemotions("no tab\n", 28).expect_err("bad").0, 1);
    }

    #[test]
    fn spearman_handles_ties_and_order() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-9);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-9);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
        let tied = spearman(&[1.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        assert!(tied > 0.9 && tied < 1.0, "{tied}");
    }

    #[test]
    fn cx_reader_names_the_line_and_the_problem() {
        let dir = std::env::temp_dir().join(format!("rapport-cx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("cx.jsonl");
        let good = r#"{"session":"s","turns":[{"turn":0,"role":"customer","text":"hi","labels":{"sentiment":0,"signals":[],"vulnerability":[],"topics":[],"problem":"open","pushback":false,"need":"x"}},{"role":"agent","text":"hello","labels":{"heard":3}}]}"#;
        std::fs::write(&path, format!("{good}\n{{\"turns\": 3}}\n")).expect("write");
        let err = read_cx(&path)
            .expect_err("second line is malformed")
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        std::fs::write(&path, format!("{good}\n")).expect("write");
        let conversations = read_cx(&path).expect("valid");
        assert_eq!(conversations[0].turns.len(), 2);
        assert!(conversations[0].turns[1].labels.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn holdout_split_is_stable_and_roughly_sized() {
        let texts: Vec<String> = (0..2000).map(|i| format!("text {i}")).collect();
        let held = texts.iter().filter(|t| in_holdout(t, 20)).count();
        assert!((300..500).contains(&held), "{held}");
        assert_eq!(in_holdout("abc", 20), in_holdout("abc", 20));
    }
}
