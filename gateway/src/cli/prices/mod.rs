//! `tollgate prices import --from litellm FILE [--dry-run]`: the prices, context lengths and
//! modalities of the models a config lists, from a published price list, written to the
//! config's prices overlay (`prices_file:`, `config/prices.rs`). The config file itself is
//! never rewritten — its comments and layout stay the operator's — and the overlay is
//! generated whole, so nothing hand-written is lost either. What changed is printed.
//!
//! | module | source |
//! | --- | --- |
//! | [`litellm`] | LiteLLM's `model_prices_and_context_window.json` |

pub mod litellm;

use crate::config::prices::{parse_overlay, OverlayPricing, PriceEntry, PricesOverlay};
use crate::config::raw::{Decimal, RawConfig};
use crate::config::Config;
use clap::{Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tollgate_billing::Price;

#[derive(Subcommand)]
pub enum PricesOp {
    /// Import prices for the models the config lists into its `prices_file` overlay and
    /// print what changed (the config file itself is not rewritten).
    Import {
        /// The price list's format.
        #[arg(long, value_enum)]
        from: Source,
        /// The price list (LiteLLM: `model_prices_and_context_window.json`).
        file: PathBuf,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Source {
    /// LiteLLM's model_prices_and_context_window.json.
    Litellm,
}

pub fn run(config_path: &Path, op: PricesOp) -> ExitCode {
    let PricesOp::Import {
        from: Source::Litellm,
        file,
        dry_run,
    } = op;
    match import(config_path, &file, dry_run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate prices import: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import(config_path: &Path, list: &Path, dry_run: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
    let raw: RawConfig =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let Some(overlay_name) = raw.prices_file.clone() else {
        return Err(format!(
            "{} has no prices_file: add e.g. `prices_file: prices.yaml` (the import writes that file and never edits the config)",
            config_path.display()
        ));
    };
    let overlay_path = config_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&overlay_name);
    let old: PricesOverlay = match std::fs::read_to_string(&overlay_path) {
        Ok(t) => parse_overlay(&t).map_err(|e| format!("{}: {e}", overlay_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PricesOverlay::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", overlay_path.display())),
    };
    let litellm = litellm::LiteLlm::parse(
        &std::fs::read_to_string(list)
            .map_err(|e| format!("cannot read {}: {e}", list.display()))?,
    )
    .map_err(|e| format!("{}: {e}", list.display()))?;

    let mut new = PricesOverlay::new();
    let (mut changed, mut same, mut missing) = (0, 0, 0);
    for p in &raw.providers {
        for m in &p.models {
            let name = format!("{}/{}", p.id, m.id);
            let upstream = m.upstream_model.as_deref().unwrap_or(&m.id);
            let (by_kind, by_provider) = (
                format!("{}/{upstream}", p.kind),
                format!("{}/{upstream}", p.id),
            );
            let Some(key) = litellm.find(&[upstream, &by_kind, &m.id, &by_provider]) else {
                missing += 1;
                match old.get(&name) {
                    Some(prev) => {
                        println!(
                            "{name}: not in {}; its previous import stays",
                            list.display()
                        );
                        new.insert(name, prev.clone());
                    }
                    None => println!(
                        "{name}: not in {}; the config's values stay",
                        list.display()
                    ),
                }
                continue;
            };
            let imported = litellm
                .import(key)
                .map_err(|e| format!("{name} ({key}): {e}"))?;
            let before = effective(m, old.get(&name));
            let after = effective(m, Some(&imported.entry));
            let diff = differences(&before, &after);
            if diff.is_empty() {
                println!("{name} (litellm {key}): unchanged");
                same += 1;
            } else {
                println!("{name} (litellm {key}):");
                for d in &diff {
                    println!("  {d}");
                }
                changed += 1;
            }
            for n in &imported.notes {
                println!("  note: {n}");
            }
            new.insert(name, imported.entry);
        }
    }
    let out = render(&new, list)?;
    // The new overlay must make a valid config (the env-dependent parts aside).
    if let Err(errors) = Config::load_with_prices(config_path, Some(&out)) {
        let ours: Vec<String> = errors
            .0
            .iter()
            .filter(|e| {
                e.path.starts_with("prices_file")
                    || [".pricing", ".context_length", "_modalities"]
                        .iter()
                        .any(|f| e.path.contains(f))
            })
            .map(|e| e.to_string())
            .collect();
        if !ours.is_empty() {
            return Err(format!(
                "the imported values are refused:\n{}",
                ours.join("\n")
            ));
        }
    }
    let summary = format!("{changed} models changed, {same} unchanged, {missing} not in the list");
    if dry_run {
        println!("{summary}; dry run: {} not written", overlay_path.display());
        return Ok(());
    }
    write_atomically(&overlay_path, &out)?;
    println!("{summary}; wrote {}", overlay_path.display());
    Ok(())
}

/// A model's values as the gateway would see them: the overlay's where it has one.
#[derive(PartialEq)]
struct Values {
    fields: Vec<(&'static str, Option<String>)>,
}

fn effective(m: &crate::config::raw::RawModel, o: Option<&PriceEntry>) -> Values {
    let file = m.pricing.as_ref();
    let over = o.map(|e| &e.pricing);
    let pick = |f: fn(&OverlayPricing) -> &Option<String>,
                g: fn(&crate::config::raw::RawPricing) -> &Option<Decimal>| {
        over.and_then(|p| f(p).clone())
            .or_else(|| file.and_then(|p| g(p).as_ref().map(|d| d.0.clone())))
            .map(|t| Price::parse_usd(&t).map_or(t, |p| p.to_string()))
    };
    let list = |v: Option<&Vec<String>>| v.map(|v| format!("[{}]", v.join(", ")));
    Values {
        fields: vec![
            ("pricing.prompt", pick(|p| &p.prompt, |p| &p.prompt)),
            (
                "pricing.completion",
                pick(|p| &p.completion, |p| &p.completion),
            ),
            (
                "pricing.cache_read",
                pick(|p| &p.cache_read, |p| &p.cache_read),
            ),
            (
                "pricing.cache_write_5m",
                pick(|p| &p.cache_write_5m, |p| &p.cache_write_5m),
            ),
            (
                "pricing.cache_write_1h",
                pick(|p| &p.cache_write_1h, |p| &p.cache_write_1h),
            ),
            (
                "context_length",
                o.and_then(|e| e.context_length)
                    .or(m.context_length)
                    .map(|n| n.to_string()),
            ),
            (
                "input_modalities",
                list(o.and_then(|e| e.input_modalities.as_ref()))
                    .or_else(|| list(m.input_modalities.as_ref())),
            ),
            (
                "output_modalities",
                list(o.and_then(|e| e.output_modalities.as_ref()))
                    .or_else(|| list(m.output_modalities.as_ref())),
            ),
        ],
    }
}

fn differences(before: &Values, after: &Values) -> Vec<String> {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
    before
        .fields
        .iter()
        .zip(&after.fields)
        .filter(|((_, b), (_, a))| a != b)
        .map(|((name, b), (_, a))| format!("{name}: {} -> {}", show(b), show(a)))
        .collect()
}

fn render(overlay: &PricesOverlay, list: &Path) -> Result<String, String> {
    let body = serde_yaml_ng::to_string(overlay).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Generated by `tollgate prices import --from litellm {}`: the next import rewrites it.\n\
         # Prices are USD per 1M tokens, exact; they replace the config file's for these models.\n\
         {body}",
        list.display()
    ))
}

/// Write beside the target and rename over it: a crash leaves the old file or the new one.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
