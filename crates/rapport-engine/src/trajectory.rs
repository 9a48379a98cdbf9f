//! The emotional trajectory of a conversation: per customer turn sentiment and distress, the trend from
//! the first turns to the last, the peak, and repetition on both sides.

use rapport_signals::Analysis;
use serde::{Deserialize, Serialize};

/// One customer turn's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub turn: usize,
    pub sentiment: f32,
    pub distress: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Improving,
    Stable,
    Declining,
}

/// A repeated turn: the customer repeating a complaint, or the agent/bot repeating a question or apology.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repeat {
    pub turn: usize,
    /// The earlier turn it repeats.
    pub repeats: usize,
    pub what: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trajectory {
    pub points: Vec<Point>,
    pub trend: Trend,
    /// The customer turn with the worst mood (sentiment minus distress), if there is one.
    pub peak: Option<usize>,
    pub repetition: Vec<Repeat>,
}

/// A change of mood smaller than this (on the -1..1 scale, net of distress) counts as stable.
const STABLE_BAND: f32 = 0.15;

/// Builds the trajectory from each customer turn's analysis (`(turn index, analysis)`) and the repeats.
pub fn trajectory(customer: &[(usize, &Analysis)], repetition: Vec<Repeat>) -> Trajectory {
    let points: Vec<Point> = customer
        .iter()
        .map(|(turn, a)| Point {
            turn: *turn,
            sentiment: a.sentiment.score,
            distress: a.signals.get("distress").map_or(0.0, |s| s.score),
        })
        .collect();
    // Mood = sentiment minus distress; compare the first third of the turns with the last third.
    let mood = |p: &Point| p.sentiment - p.distress;
    let trend = if points.len() < 2 {
        Trend::Stable
    } else {
        let third = points.len().div_ceil(3);
        let mean = |ps: &[Point]| ps.iter().map(mood).sum::<f32>() / ps.len() as f32;
        let delta = mean(&points[points.len() - third..]) - mean(&points[..third]);
        if delta > STABLE_BAND {
            Trend::Improving
        } else if delta < -STABLE_BAND {
            Trend::Declining
        } else {
            Trend::Stable
        }
    };
    let peak = points
        .iter()
        .min_by(|a, b| mood(a).total_cmp(&mood(b)))
        .map(|p| p.turn);
    Trajectory {
        points,
        trend,
        peak,
        repetition,
    }
}

/// Content words of a text, lower case, for comparing turns.
pub fn content_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = rapport_text::tokens(text)
        .filter(|t| t.kind == rapport_text::TokenKind::Word && t.text.chars().count() >= 4)
        .map(|t| t.text.to_lowercase())
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// Overlap of two sorted, de-duplicated word lists: shared words over the shorter list, 0 unless at least
/// three words are shared (so that short turns do not look alike by accident).
pub fn similarity(a: &[String], b: &[String]) -> f32 {
    let common = a.iter().filter(|w| b.binary_search(w).is_ok()).count();
    if common < 3 {
        return 0.0;
    }
    common as f32 / a.len().min(b.len()) as f32
}
