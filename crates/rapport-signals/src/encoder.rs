//! The accurate tier's sentence encoder: all-MiniLM-L6-v2 (Apache-2.0, `models/minilm/`), run on the CPU
//! with candle. A message becomes one 384-dimensional unit vector (mean of its token vectors), so that
//! paraphrases the hashed n-grams never saw ("is there an actual person", "can I talk to someone real")
//! land near each other. About 100 times slower than the fast tier: it reads live conversations, not
//! batch files.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// Dimensions of a sentence vector.
pub const DIM: usize = 384;

/// Tokens read per message (the model's training length); longer messages are cut.
pub const MAX_TOKENS: usize = 128;

/// Sentence vectors kept for re-reads (a conversation is read again at every new turn).
const CACHED: usize = 8192;

/// A sentence encoder: tokenizer plus BERT weights. `&self` only; share it across threads.
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    cache: Mutex<HashMap<String, Vec<f32>>>,
    cache_capacity: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("dim", &DIM).finish()
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidModel(format!("sentence encoder {what}: {e}"))
}

impl Encoder {
    /// Builds the encoder from its three files: `config.json`, `tokenizer.json` and `model.safetensors`
    /// (f16 or f32; computed in f32).
    pub fn from_parts(config: &[u8], tokenizer: &[u8], weights: &[u8]) -> Result<Self> {
        let config: Config =
            serde_json::from_slice(config).map_err(|e| invalid("config.json", e))?;
        if config.hidden_size != DIM {
            return Err(invalid(
                "config.json",
                format!("hidden size {} (expected {DIM})", config.hidden_size),
            ));
        }
        let mut tokenizer =
            Tokenizer::from_bytes(tokenizer).map_err(|e| invalid("tokenizer.json", e))?;
        // The shipped tokenizer pads every message to 128 tokens; mean pooling must see the words only.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| invalid("tokenizer.json", e))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_slice_safetensors(weights, DType::F32, &device)
            .map_err(|e| invalid("model.safetensors", e))?;
        let model = BertModel::load(vb, &config).map_err(|e| invalid("model.safetensors", e))?;
        Ok(Self {
            model,
            tokenizer,
            device,
            cache: Mutex::new(HashMap::new()),
            cache_capacity: CACHED,
        })
    }

    /// The same encoder keeping at most `capacity` sentence vectors for re-reads (0: none, as a
    /// benchmark of the encoder itself needs).
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The unit-length sentence vector of `text` into `out` (cleared first; [`DIM`] values). Empty text
    /// gives the vector of the bare special tokens. Never panics; an internal error (not expected) leaves
    /// zeros and is returned.
    pub fn embed_into(&self, text: &str, out: &mut Vec<f32>) -> Result<()> {
        out.clear();
        if self.cache_capacity > 0 {
            if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(text).cloned()) {
                out.extend(v);
                return Ok(());
            }
        }
        match self.embed_inner(text) {
            Ok(v) => {
                out.extend_from_slice(&v);
                if self.cache_capacity > 0 {
                    if let Ok(mut cache) = self.cache.lock() {
                        if cache.len() >= self.cache_capacity {
                            cache.clear();
                        }
                        cache.insert(text.to_string(), v);
                    }
                }
                Ok(())
            }
            Err(e) => {
                out.resize(DIM, 0.0);
                Err(e)
            }
        }
    }

    /// The unit-length sentence vector of `text`.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(DIM);
        self.embed_into(text, &mut out)?;
        Ok(out)
    }

    fn embed_inner(&self, text: &str) -> Result<Vec<f32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| invalid("tokenizer", e))?;
        let ids = encoding.get_ids();
        let n = ids.len();
        let run = || -> candle_core::Result<Vec<f32>> {
            let input = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
            let types = input.zeros_like()?;
            let hidden = self.model.forward(&input, &types, None)?; // 1 × n × DIM
            let mean = (hidden.sum(1)? / n.max(1) as f64)?.squeeze(0)?;
            let norm = mean.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
            let v = mean.to_vec1::<f32>()?;
            Ok(if norm > 0.0 {
                v.into_iter().map(|x| x / norm).collect()
            } else {
                v
            })
        };
        run().map_err(|e| invalid("forward pass", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn paraphrases_are_closer_than_unrelated_messages() {
        let Some(encoder) = crate::builtin::encoder().expect("built-in encoder loads") else {
            panic!("this build has no built-in sentence encoder (models/minilm)");
        };
        let person = encoder
            .embed("is there an actual person I can talk to")
            .expect("encodes");
        let human = encoder
            .embed("I want to speak to a real human")
            .expect("encodes");
        let parcel = encoder
            .embed("my parcel was delivered to the wrong address")
            .expect("encodes");
        assert_eq!(person.len(), DIM);
        let norm: f32 = cosine(&person, &person);
        assert!((norm - 1.0).abs() < 1e-3, "unit length, got {norm}");
        assert!(cosine(&person, &human) > cosine(&person, &parcel) + 0.2);
        let empty = encoder.embed("").expect("encodes");
        assert_eq!(empty.len(), DIM);
    }
}
