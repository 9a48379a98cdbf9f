//! The accurate tier's sentence encoder. A message becomes one 384-dimensional unit vector, so that
//! paraphrases the hashed n-grams never saw ("is there an actual person", "can I talk to someone real")
//! land near each other. Two backends share the interface:
//! - the transformer: all-MiniLM-L6-v2 (Apache-2.0, `models/minilm/`), run on the CPU with candle; about
//!   20 ms a message on one core, so it is the teacher, not what serves;
//! - the static table distilled from it ([`distill`]): one vector per WordPiece token, a message is the
//!   normalised sum of its tokens' vectors; tens of microseconds a message. This is what ships
//!   (`models/minilm/static.safetensors`).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use crate::{Error, Result};
use std::collections::HashMap;

/// Dimensions of a sentence vector.
pub const DIM: usize = 384;

/// Tokens read per message (the model's training length); longer messages are cut.
pub const MAX_TOKENS: usize = 128;

/// A sentence encoder: tokenizer plus BERT weights or a distilled token table. `&self` only; share it
/// across threads.
pub struct Encoder {
    backend: Backend,
    tokenizer: Tokenizer,
}

enum Backend {
    Transformer(Box<BertModel>),
    /// `vocab × DIM` token vectors, row-major.
    Static(Vec<f32>),
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.backend {
            Backend::Transformer(_) => "transformer",
            Backend::Static(_) => "static",
        };
        f.debug_struct("Encoder")
            .field("dim", &DIM)
            .field("backend", &backend)
            .finish()
    }
}

/// The name of the token table inside a static encoder's safetensors file.
pub const STATIC_TENSOR: &str = "embeddings";
/// The unit-length sum of `table`'s `rows`.
fn pool(table: &[f32], rows: &[u32], out: &mut Vec<f32>) {
    out.clear();
    out.resize(DIM, 0.0);
    for &r in rows {
        if let Some(row) = table.get(r as usize * DIM..(r as usize + 1) * DIM) {
            out.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
    }
    normalise(out);
}

fn load_tokenizer(tokenizer: &[u8]) -> Result<Tokenizer> {
    let mut tokenizer =
        Tokenizer::from_bytes(tokenizer).map_err(|e| invalid("tokenizer.json", e))?;
    // The shipped tokenizer pads every message to 128 tokens; pooling must see the words only.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        }))
        .map_err(|e| invalid("tokenizer.json", e))?;
    Ok(tokenizer)
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
        let tokenizer = load_tokenizer(tokenizer)?;
        let vb = VarBuilder::from_slice_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| invalid("model.safetensors", e))?;
        let model = BertModel::load(vb, &config).map_err(|e| invalid("model.safetensors", e))?;
        Ok(Self {
            backend: Backend::Transformer(Box::new(model)),
            tokenizer,
        })
    }

    /// Builds the static encoder from `tokenizer.json` and a safetensors file holding one
    /// `vocab × 384` tensor named [`STATIC_TENSOR`] (f16 or f32), as [`distill`] writes it.
    pub fn from_static(tokenizer: &[u8], table: &[u8]) -> Result<Self> {
        let tokenizer = load_tokenizer(tokenizer)?;
        let tensors = candle_core::safetensors::load_buffer(table, &Device::Cpu)
            .map_err(|e| invalid("token table", e))?;
        let tensor = tensors
            .get(STATIC_TENSOR)
            .ok_or_else(|| invalid("token table", format!("no tensor named {STATIC_TENSOR}")))?;
        let vocab = tokenizer.get_vocab_size(true);
        if tensor.dims() != [vocab, DIM] {
            return Err(invalid(
                "token table",
                format!("shape {:?} (expected [{vocab}, {DIM}])", tensor.dims()),
            ));
        }
        let table = tensor
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| invalid("token table", e))?;
        Ok(Self {
            backend: Backend::Static(table),
            tokenizer,
        })
    }

    /// The token ids of `text` as the encoder reads them (with the special tokens, cut at
    /// [`MAX_TOKENS`]).
    fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| invalid("tokenizer", e))
    }

    /// The tokenizer's vocabulary size (special tokens included).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The unit-length sentence vector of `text` into `out` (cleared first; [`DIM`] values). Empty text
    /// gives the vector of the bare special tokens. Never panics; an internal error (not expected) leaves
    /// zeros and is returned.
    pub fn embed_into(&self, text: &str, out: &mut Vec<f32>) -> Result<()> {
        out.clear();
        let encoding = match self.tokenizer.encode(text, true) {
            Ok(encoding) => encoding,
            Err(e) => {
                out.resize(DIM, 0.0);
                return Err(invalid("tokenizer", e));
            }
        };
        let ids = encoding.get_ids();
        match &self.backend {
            Backend::Static(table) => {
                pool(table, ids, out);
                Ok(())
            }
            Backend::Transformer(model) => match transformer_batch(model, &[ids]) {
                Ok(mut batch) => {
                    out.extend(batch.pop().unwrap_or_default());
                    out.resize(DIM, 0.0);
                    Ok(())
                }
                Err(e) => {
                    out.resize(DIM, 0.0);
                    Err(e)
                }
            },
        }
    }

    /// The unit-length sentence vector of `text`.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(DIM);
        self.embed_into(text, &mut out)?;
        Ok(out)
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Mean-pooled, unit-length vectors of equally long token sequences.
fn transformer_batch(model: &BertModel, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
    let Some(n) = ids.first().map(|s| s.len()) else {
        return Ok(Vec::new());
    };
    if ids.iter().any(|s| s.len() != n) {
        return Err(Error::InvalidInput(
            "a transformer batch needs sequences of one length".into(),
        ));
    }
    let run = || -> candle_core::Result<Vec<Vec<f32>>> {
        let flat: Vec<u32> = ids.iter().flat_map(|s| s.iter().copied()).collect();
        let input = Tensor::from_vec(flat, (ids.len(), n), &Device::Cpu)?;
        let types = input.zeros_like()?;
        let hidden = model.forward(&input, &types, None)?; // batch × n × DIM
        let mean = (hidden.sum(1)? / n.max(1) as f64)?;
        mean.to_vec2::<f32>()
    };
    let mut out = run().map_err(|e| invalid("forward pass", e))?;
    out.iter_mut().for_each(|v| normalise(v));
    Ok(out)
}

/// How [`distill`] fits the token table.
#[derive(Debug, Clone, Copy)]
pub struct DistillConfig {
    /// Passes over the corpus.
    pub epochs: usize,
    /// Step size of the cosine loss.
    pub rate: f32,
    /// Pull of each token vector back to its vector read alone (keeps rare tokens sane).
    pub l2: f32,
    /// Sequences per forward pass of the teacher.
    pub batch: usize,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            epochs: 8,
            rate: 0.5,
            l2: 1e-4,
            batch: 64,
        }
    }
}

/// What [`distill`] reports while it runs: `(stage, done, total)`.
pub type DistillProgress<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

/// The distilled token table and how closely it follows the teacher.
#[derive(Debug)]
pub struct Distilled {
    /// `vocab × DIM`, row-major.
    pub table: Vec<f32>,
    /// Mean cosine between the table's and the teacher's vectors of held-out corpus messages (every
    /// 20th), before fitting (tokens read alone) and after.
    pub heldout_cosine_before: f32,
    pub heldout_cosine_after: f32,
    pub heldout: usize,
}

/// Distils the transformer `teacher` into a static token table: each token's vector starts as the
/// teacher's vector of that token read alone, then the table is fitted so that the normalised sum of a
/// message's token vectors follows the teacher's vector of the whole message (cosine loss, SGD), on
/// `corpus` (plain messages, no labels). Every 20th message is held out to report the fit.
pub fn distill(
    teacher: &Encoder,
    corpus: &[String],
    config: &DistillConfig,
    progress: DistillProgress<'_>,
) -> Result<Distilled> {
    use rayon::prelude::*;
    let vocab = teacher.vocab_size();
    let special = |name: &str| teacher.tokenizer.token_to_id(name);
    let (cls, sep) = match (special("[CLS]"), special("[SEP]")) {
        (Some(c), Some(s)) => (c, s),
        _ => return Err(invalid("tokenizer", "no [CLS]/[SEP] tokens")),
    };
    let Backend::Transformer(model) = &teacher.backend else {
        return Err(invalid(
            "distillation",
            "the teacher must be the transformer",
        ));
    };
    // The teacher's vectors of batches of equally long sequences, in parallel, in order.
    let teach = |batches: Vec<Vec<&[u32]>>, stage: &str| -> Result<Vec<Vec<f32>>> {
        let total: usize = batches.iter().map(Vec::len).sum();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let out: Vec<Vec<Vec<f32>>> = batches
            .par_iter()
            .map(|batch| {
                let out = transformer_batch(model, batch)?;
                let n = done.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
                progress(stage, n + batch.len(), total);
                Ok(out)
            })
            .collect::<Result<_>>()?;
        Ok(out.into_iter().flatten().collect())
    };
    // 1. Every token read alone: [CLS] t [SEP].
    let batch = config.batch.max(1);
    let ids: Vec<[u32; 3]> = (0..vocab as u32).map(|t| [cls, t, sep]).collect();
    let batches = ids
        .chunks(batch * 4)
        .map(|chunk| chunk.iter().map(|s| &s[..]).collect())
        .collect();
    let mut table: Vec<f32> = teach(batches, "tokens")?.into_iter().flatten().collect();
    // The special tokens start as zeros: they are in every message and learn a shared offset.
    for t in [cls, sep] {
        table[t as usize * DIM..(t as usize + 1) * DIM].fill(0.0);
    }
    let base = table.clone();

    // 2. The teacher's vector of every corpus message, batched by token length (no padding).
    let mut messages: Vec<Vec<u32>> = corpus
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| teacher.token_ids(t))
        .collect::<Result<_>>()?;
    messages.sort();
    messages.dedup();
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by_key(|&i| messages[i].len());
    let batches = order
        .chunk_by(|&a, &b| messages[a].len() == messages[b].len())
        .flat_map(|g| g.chunks(batch))
        .map(|c| c.iter().map(|&i| &messages[i][..]).collect())
        .collect();
    let total = messages.len();
    // The batches follow `order`, so the k-th vector is that of message `order[k]`.
    let mut targets = vec![Vec::new(); total];
    for (i, v) in order.iter().zip(teach(batches, "messages")?) {
        targets[*i] = v;
    }
    let (train, heldout): (Vec<usize>, Vec<usize>) = (0..total).partition(|i| i % 20 != 0);
    let cosine = |table: &[f32]| -> f32 {
        if heldout.is_empty() {
            return 0.0;
        }
        let mut v = Vec::with_capacity(DIM);
        let sum: f32 = heldout
            .iter()
            .map(|&i| {
                pool(table, &messages[i], &mut v);
                v.iter().zip(&targets[i]).map(|(a, b)| a * b).sum::<f32>()
            })
            .sum();
        sum / heldout.len() as f32
    };
    let before = cosine(&table);

    // 3. SGD on 1 - cos(sum of rows, target), in a fixed shuffled order.
    let mut shuffled = train.clone();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for epoch in 0..config.epochs {
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let rate = config.rate * (1.0 - epoch as f32 / config.epochs.max(1) as f32).max(0.1);
        let mut sum = vec![0.0f32; DIM];
        let mut grad = vec![0.0f32; DIM];
        for &i in &shuffled {
            let tokens = &messages[i];
            let target = &targets[i];
            sum.fill(0.0);
            for &t in tokens {
                let row = &table[t as usize * DIM..(t as usize + 1) * DIM];
                sum.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
            let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            let cos = sum.iter().zip(target).map(|(a, b)| a * b).sum::<f32>() / norm;
            // d(-cos)/d(sum) = -(target - cos · sum/|sum|) / |sum|
            for ((g, s), y) in grad.iter_mut().zip(&sum).zip(target) {
                *g = -(y - cos * s / norm) / norm;
            }
            for &t in tokens {
                let at = t as usize * DIM;
                let row = &mut table[at..at + DIM];
                let anchor = &base[at..at + DIM];
                for ((w, g), a) in row.iter_mut().zip(&grad).zip(anchor) {
                    *w -= rate * (g + config.l2 * (*w - a));
                }
            }
        }
        progress("epochs", epoch + 1, config.epochs);
    }
    Ok(Distilled {
        heldout_cosine_before: before,
        heldout_cosine_after: cosine(&table),
        heldout: heldout.len(),
        table,
    })
}

/// Writes a distilled table to `path` as safetensors (f16, named [`STATIC_TENSOR`]), as
/// [`Encoder::from_static`] reads it.
pub fn save_static_table(table: &[f32], path: &std::path::Path) -> Result<()> {
    let run = || -> candle_core::Result<()> {
        let tensor = Tensor::from_slice(table, (table.len() / DIM, DIM), &Device::Cpu)?
            .to_dtype(DType::F16)?;
        candle_core::safetensors::save(&HashMap::from([(STATIC_TENSOR.to_string(), tensor)]), path)
    };
    run().map_err(|e| invalid("token table", e))
}
