//! Embeds the shipped models (`models/*.rplm`, `models/cx*.rpcx` and the distilled sentence encoder in `models/minilm/`
//! at the workspace root) when they
//! exist, so the `rapport` binary works from any directory. Without them (bootstrapping a first training
//! run) the crate still builds and `builtin` reports that no built-in model is available.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rapport_builtin_models)");
    println!("cargo::rustc-check-cfg=cfg(rapport_builtin_cx)");
    println!("cargo::rustc-check-cfg=cfg(rapport_builtin_cx_accurate)");
    println!("cargo::rustc-check-cfg=cfg(rapport_builtin_encoder)");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    for name in [
        "emotions.rplm",
        "intent.rplm",
        "cx.rpcx",
        "cx-accurate.rpcx",
        "minilm/tokenizer.json",
        "minilm/static.safetensors",
    ] {
        println!("cargo::rerun-if-changed={}", models.join(name).display());
    }
    if models.join("emotions.rplm").exists() && models.join("intent.rplm").exists() {
        println!("cargo::rustc-cfg=rapport_builtin_models");
    }
    if models.join("cx.rpcx").exists() {
        println!("cargo::rustc-cfg=rapport_builtin_cx");
    }
    let encoder = ["tokenizer.json", "static.safetensors"]
        .iter()
        .all(|name| models.join("minilm").join(name).exists());
    if encoder {
        println!("cargo::rustc-cfg=rapport_builtin_encoder");
        if models.join("cx-accurate.rpcx").exists() {
            println!("cargo::rustc-cfg=rapport_builtin_cx_accurate");
        }
    }
}
