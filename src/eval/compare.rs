//! Comparison reports: a Markdown table and SVG plots (plotters) of models trained on the same data,
//! tokenizer, token budget and seed, evaluated on the same held-out windows.

use super::PerplexityReport;
use anyhow::{Context, Result};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One validation point during training.
#[derive(Clone, Debug)]
pub struct CurvePoint {
    pub tokens: f64,
    pub seconds: f64,
    pub val_ppl: f64,
}

#[derive(Clone, Debug)]
pub struct RunResult {
    pub name: String,
    pub kind: String,
    pub parameters: usize,
    pub flops_per_token: f64,
    pub train_tokens: u64,
    pub train_seconds: f64,
    /// The final evaluation on the shared held-out windows, after each supervision step up to
    /// 4x the trained number (test-time depth; one step for the baseline).
    pub val: PerplexityReport,
    /// Supervision steps the model was trained with: the table reads this step.
    pub trained_steps: usize,
    pub curve: Vec<CurvePoint>,
}

/// Read the validation points a run wrote into its metrics.jsonl.
pub fn read_curve(metrics: &Path) -> Result<Vec<CurvePoint>> {
    let text = std::fs::read_to_string(metrics)
        .with_context(|| format!("cannot read {}", metrics.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some(CurvePoint {
                tokens: v.get("tokens")?.as_f64()?,
                seconds: v.get("train_seconds")?.as_f64()?,
                val_ppl: v.get("val_ppl")?.as_f64()?,
            })
        })
        .collect())
}

/// Write `DIR/README.md` and the SVG plots; returns the Markdown path.
pub fn write_report(
    dir: &Path,
    title: &str,
    setup: &str,
    results: &[RunResult],
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut md = format!("# {title}\n\n{setup}\n\n");
    md.push_str("| model | kind | parameters | forward FLOPs/token | training tokens | wall-clock (s) | tokens/s | val perplexity | bits per byte |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2}M | {} | {:.0} | {:.0} | **{:.3}** | {:.4} |",
            r.name,
            r.kind,
            r.parameters,
            r.flops_per_token / 1e6,
            r.train_tokens,
            r.train_seconds,
            r.train_tokens as f64 / r.train_seconds.max(1e-9),
            r.val.ppl_per_step()[r.trained_steps - 1],
            r.val.bits_per_byte_per_step()[r.trained_steps - 1]
        );
    }
    let per_step: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.val.nll_per_step.len() > 1)
        .collect();
    if !per_step.is_empty() {
        md.push_str("\nPerplexity after each supervision step (TRM), from 1 to 4x the trained number (**bold**: the trained number; later steps are test-time depth):\n\n");
        for r in &per_step {
            let steps: Vec<String> = r
                .val
                .ppl_per_step()
                .iter()
                .enumerate()
                .map(|(s, p)| {
                    if s + 1 == r.trained_steps {
                        format!("**{p:.3}**")
                    } else {
                        format!("{p:.3}")
                    }
                })
                .collect();
            let _ = writeln!(md, "- {}: {}", r.name, steps.join(", "));
        }
    }
    md.push_str("\n![validation perplexity against training tokens](val_ppl_vs_tokens.svg)\n");
    md.push_str("![validation perplexity against wall-clock](val_ppl_vs_time.svg)\n");
    md.push_str("![TRM perplexity against supervision step](ppl_vs_supervision_step.svg)\n");

    let curves = |f: fn(&CurvePoint) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        results
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.curve.iter().map(|p| (f(p), p.val_ppl)).collect(),
                )
            })
            .collect()
    };
    line_plot(
        &dir.join("val_ppl_vs_tokens.svg"),
        "validation perplexity vs training tokens",
        "training tokens",
        &curves(|p| p.tokens),
    )?;
    line_plot(
        &dir.join("val_ppl_vs_time.svg"),
        "validation perplexity vs wall-clock",
        "training seconds",
        &curves(|p| p.seconds),
    )?;
    let steps: Vec<(String, Vec<(f64, f64)>)> = results
        .iter()
        .map(|r| {
            let ppl = r.val.ppl_per_step();
            let points = if ppl.len() == 1 {
                // a one-pass baseline is drawn flat across the TRM's steps for reference
                let max_steps = results
                    .iter()
                    .map(|q| q.val.nll_per_step.len())
                    .max()
                    .unwrap_or(1)
                    .max(2);
                vec![(1.0, ppl[0]), (max_steps as f64, ppl[0])]
            } else {
                ppl.iter()
                    .enumerate()
                    .map(|(s, p)| ((s + 1) as f64, *p))
                    .collect()
            };
            (r.name.clone(), points)
        })
        .collect();
    line_plot(
        &dir.join("ppl_vs_supervision_step.svg"),
        "perplexity vs supervision step",
        "supervision step",
        &steps,
    )?;

    crate::files::write_atomic(
        &dir.join("results.json"),
        serde_json::to_string_pretty(&results_json(setup, results))?.as_bytes(),
    )?;
    let path = dir.join("README.md");
    std::fs::write(&path, md).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The report's numbers for other tools (tools/seed_table.py averages them over seeds).
fn results_json(setup: &str, results: &[RunResult]) -> serde_json::Value {
    let models: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "kind": r.kind,
                "parameters": r.parameters,
                "flops_per_token": r.flops_per_token,
                "train_tokens": r.train_tokens,
                "train_seconds": r.train_seconds,
                "trained_steps": r.trained_steps,
                "eval_tokens": r.val.tokens,
                "ppl_per_step": r.val.ppl_per_step(),
                "bits_per_byte_per_step": r.val.bits_per_byte_per_step(),
                "curve": r.curve.iter().map(|p| serde_json::json!({
                    "tokens": p.tokens, "seconds": p.seconds, "val_ppl": p.val_ppl,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "setup": setup, "models": models })
}

fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    // a diverged run (infinite or huge perplexity) must neither hang the axis nor flatten the
    // others: non-finite points are left out and the axis stops at 4x the best value, the points
    // above drawn on its edge
    let series: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, p)| {
            let finite = p
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite());
            (name.clone(), finite.collect())
        })
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in series.iter().flat_map(|(_, p)| p.iter()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 1.0, 2.0);
    }
    let y_cap = if y0 > 0.0 { y1.min(4.0 * y0) } else { y1 };
    let y1 = y_cap;
    let series: Vec<(String, Vec<(f64, f64)>)> = series
        .into_iter()
        .map(|(name, p)| {
            (
                name,
                p.into_iter().map(|(x, y)| (x, y.min(y_cap))).collect(),
            )
        })
        .collect();
    let pad = (y1 - y0).max(1e-3) * 0.05;
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1.max(x0 + 1e-9), (y0 - pad)..(y1 + pad))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("perplexity")
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .draw()?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba().stroke_width(2);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart.draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

/// A short tick label: `150k` rather than `150000.0`, `2.5` rather than `2.5000000001`.
fn tick(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        trim(format!("{v:.2}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{line_plot, tick};

    #[test]
    fn a_diverged_run_neither_hangs_nor_flattens_the_plot() {
        let dir = std::env::temp_dir().join(format!("trm-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.svg");
        let series = vec![
            ("good".to_string(), vec![(1.0, 6.0), (2.0, 5.5)]),
            (
                "diverged".to_string(),
                vec![(1.0, 1922.0), (2.0, f64::INFINITY), (3.0, f64::NAN)],
            ),
        ];
        line_plot(&path, "t", "x", &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("diverged") && svg.trim_end().ends_with("</svg>"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(150_000.0), "150k");
        assert_eq!(tick(1_250_000.0), "1.25M");
        assert_eq!(tick(12_500.0), "12.5k");
        assert_eq!(tick(900.0), "900");
        assert_eq!(tick(6.0), "6");
        assert_eq!(tick(6.853), "6.85");
        assert_eq!(tick(0.0), "0");
    }
}
