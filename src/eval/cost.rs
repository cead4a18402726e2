//! Compute per token, by formula: forward FLOPs of one token at inference (all supervision steps),
//! counting a multiply-add as 2 FLOPs. Used to pair the TRM with FLOP-matched baselines.

use crate::config::{ModelConfig, ModelKind};

/// Parameters of one block (attention or MLP-T mixing is not counted for MLP-T here: LM only).
pub fn block_params(cfg: &ModelConfig) -> usize {
    let d = cfg.d_model;
    4 * d * d + 3 * d * cfg.ffn_inner()
}

/// Applications of the recursive network f per token at inference (0 for the baseline).
pub fn net_passes(cfg: &ModelConfig) -> usize {
    match cfg.kind {
        ModelKind::Trm => cfg.n_sup * cfg.t * (cfg.n + 1),
        ModelKind::Transformer => 0,
    }
}

/// How many block applications one token goes through at inference: the recursion's, the
/// prelude's once and the coda's once (on the answer that is read).
pub fn block_passes(cfg: &ModelConfig) -> usize {
    match cfg.kind {
        ModelKind::Trm => net_passes(cfg) * cfg.n_layers + cfg.prelude_layers + cfg.coda_layers,
        ModelKind::Transformer => cfg.n_layers,
    }
}

/// Forward FLOPs per token with a causal context of `seq_len` (attention averaged over positions):
/// passes x (2 x block params + 2 x D x L for QK^T and AV), plus the output head once.
pub fn forward_flops_per_token(cfg: &ModelConfig, vocab: usize, seq_len: usize) -> f64 {
    let d = cfg.d_model as f64;
    let attention = 2.0 * d * seq_len as f64;
    let per_pass = 2.0 * block_params(cfg) as f64 + attention;
    // concatenated injection: a [2D -> D] adapter before every application of f
    let adapter = match cfg.injection {
        crate::config::Injection::Add => 0.0,
        crate::config::Injection::Concat => net_passes(cfg) as f64 * 2.0 * 2.0 * d * d,
    };
    block_passes(cfg) as f64 * per_pass + adapter + 2.0 * d * vocab as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_by_hand_for_a_tiny_trm_and_its_baselines() {
        // D = 4, ffn_multiple 4 -> inner round(4*4*2/3) = 11 -> 12; block params 4*16 + 3*4*12 = 208
        let trm = ModelConfig {
            d_model: 4,
            ffn_multiple: 4,
            n_layers: 1,
            n: 2,
            t: 2,
            n_sup: 2,
            ..Default::default()
        };
        assert_eq!(block_params(&trm), 208);
        assert_eq!(block_passes(&trm), 12);
        // per pass 2*208 + 2*4*8 = 480; 12 passes + head 2*4*10 = 5840
        assert_eq!(forward_flops_per_token(&trm, 10, 8), 5840.0);
        let deep = ModelConfig {
            kind: ModelKind::Transformer,
            n_layers: 12,
            ..trm.clone()
        };
        assert_eq!(forward_flops_per_token(&deep, 10, 8), 5840.0);
        // a prelude and a coda block add two passes; concatenated injection adds a 2D x D
        // adapter (2 * 2 * 4 * 4 = 64 FLOPs) before each of the 12 applications of f
        let recipe = ModelConfig {
            prelude_layers: 1,
            coda_layers: 1,
            injection: crate::config::Injection::Concat,
            ..trm.clone()
        };
        assert_eq!(block_passes(&recipe), 14);
        assert_eq!(
            forward_flops_per_token(&recipe, 10, 8),
            14.0 * 480.0 + 12.0 * 64.0 + 80.0
        );
    }
}
