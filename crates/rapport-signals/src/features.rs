//! Hashed text features shared by training and inference: lower-cased word unigrams and bigrams plus
//! character n-grams of each word, hashed into a fixed number of buckets.
//!
//! The hash is part of the model file format: changing it invalidates every shipped model, so it is a small
//! fixed function here rather than a hasher whose output may change between crate versions.

use serde::{Deserialize, Serialize};

/// How a text becomes features; stored in each model file so inference matches training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// log2 of the number of hash buckets.
    pub bucket_bits: u32,
    /// Shortest and longest character n-gram taken from each word (with `<` `>` word-boundary marks);
    /// `char_min` 0 means no character n-grams.
    pub char_min: usize,
    pub char_max: usize,
    /// Whether word bigrams are features.
    pub word_bigrams: bool,
    /// Whether word trigrams are features.
    #[serde(default)]
    pub word_trigrams: bool,
}

impl FeatureConfig {
    pub fn buckets(&self) -> usize {
        1 << self.bucket_bits
    }

    /// A named feature view with `bucket_bits` buckets: `chars35` (words, bigrams, char 3-5-grams),
    /// `chars26`, `chars14`, `chars47` (the same with other char n-gram lengths) or `words` (words,
    /// bigrams, trigrams; no char n-grams).
    pub fn view(name: &str, bucket_bits: u32) -> Option<Self> {
        let base = Self {
            bucket_bits,
            ..Self::default()
        };
        match name {
            "chars35" => Some(base),
            "chars26" => Some(Self {
                char_min: 2,
                char_max: 6,
                ..base
            }),
            "chars14" => Some(Self {
                char_min: 1,
                char_max: 4,
                ..base
            }),
            "chars47" => Some(Self {
                char_min: 4,
                char_max: 7,
                ..base
            }),
            "words" => Some(Self {
                char_min: 0,
                char_max: 0,
                word_trigrams: true,
                ..base
            }),
            _ => None,
        }
    }
}

/// The names [`FeatureConfig::view`] accepts.
pub const VIEW_NAMES: [&str; 5] = ["chars35", "chars26", "chars14", "chars47", "words"];

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            bucket_bits: 18,
            char_min: 3,
            char_max: 5,
            word_bigrams: true,
            word_trigrams: false,
        }
    }
}

const NS_WORD: u64 = 0x9e37_79b9_7f4a_7c15;
const NS_BIGRAM: u64 = 0xc2b2_ae3d_27d4_eb4f;
const NS_TRIGRAM: u64 = 0x27d4_eb2f_1656_67c5;
const NS_CHAR: u64 = 0x1656_67b1_9e37_79f9;

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Final avalanche (murmur3 fmix64) so low bits are well mixed before masking.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Reusable feature extractor; keeps its buffers between calls so steady-state extraction does not allocate.
#[derive(Debug, Default)]
pub struct Featurizer {
    lower: String,
    word_ends: Vec<(usize, usize)>,
    marked: Vec<u8>,
    char_bounds: Vec<usize>,
}

impl Featurizer {
    /// Writes the sorted, de-duplicated feature buckets of `text` into `out` (cleared first).
    pub fn extract(&mut self, config: &FeatureConfig, text: &str, out: &mut Vec<u32>) {
        out.clear();
        self.lower.clear();
        for c in text.chars() {
            if c.is_ascii() {
                self.lower.push(c.to_ascii_lowercase());
            } else if c == '\u{2019}' {
                self.lower.push('\'');
            } else {
                self.lower.extend(c.to_lowercase());
            }
        }
        self.word_ends.clear();
        for token in rapport_text::tokens(&self.lower) {
            self.word_ends.push((token.span.start, token.span.end));
        }
        let mask = (config.buckets() - 1) as u64;
        let Self {
            lower,
            word_ends,
            marked,
            char_bounds,
        } = self;
        let lower_str = lower.as_str();
        let lower = lower.as_bytes();
        let mut prev: Option<&[u8]> = None;
        let mut prev2: Option<&[u8]> = None;
        for &(start, end) in word_ends.iter() {
            let word = &lower[start..end];
            out.push((fnv1a(NS_WORD, word) & mask) as u32);
            if config.word_bigrams {
                let prev_word = prev.unwrap_or(b"<s>");
                let h = fnv1a(fnv1a(NS_BIGRAM, prev_word), word);
                out.push((h & mask) as u32);
            }
            if config.word_trigrams {
                let h = fnv1a(
                    fnv1a(
                        fnv1a(NS_TRIGRAM, prev2.unwrap_or(b"<s>")),
                        prev.unwrap_or(b"<s>"),
                    ),
                    word,
                );
                out.push((h & mask) as u32);
            }
            prev2 = prev;
            prev = Some(word);
            if config.char_min == 0 {
                continue;
            }
            push_char_ngrams(
                config,
                &lower_str[start..end],
                marked,
                char_bounds,
                mask,
                out,
            );
        }
        out.sort_unstable();
        out.dedup();
    }
}

fn push_char_ngrams(
    config: &FeatureConfig,
    word: &str,
    marked: &mut Vec<u8>,
    bounds: &mut Vec<usize>,
    mask: u64,
    out: &mut Vec<u32>,
) {
    marked.clear();
    marked.push(b'<');
    marked.extend_from_slice(word.as_bytes());
    marked.push(b'>');
    // N-grams over chars, not bytes, so that multi-byte letters are whole units.
    bounds.clear();
    bounds.push(0);
    bounds.extend(word.char_indices().map(|(i, _)| i + 1));
    bounds.push(marked.len() - 1);
    bounds.push(marked.len());
    let chars = bounds.len() - 1;
    for n in config.char_min..=config.char_max {
        if n > chars {
            break;
        }
        for i in 0..=chars - n {
            let gram = &marked[bounds[i]..bounds[i + n]];
            out.push((fnv1a(NS_CHAR, gram) & mask) as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_case_insensitive_and_deterministic() {
        let config = FeatureConfig::default();
        let mut f = Featurizer::default();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        f.extract(&config, "Where is MY order?", &mut a);
        f.extract(&config, "where is my order?", &mut b);
        assert_eq!(a, b);
        assert!(!a.is_empty());
        assert!(a.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn empty_text_has_no_features() {
        let mut out = vec![1];
        Featurizer::default().extract(&FeatureConfig::default(), "", &mut out);
        assert!(out.is_empty());
    }
}
