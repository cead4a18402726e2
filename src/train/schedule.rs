//! Learning rate: linear warm-up, then constant or cosine decay, indexed by optimizer update.

use crate::config::{Schedule, TrainConfig};

pub fn learning_rate(cfg: &TrainConfig, update: u64, total_updates: u64) -> f64 {
    if update < cfg.warmup {
        return cfg.lr * (update + 1) as f64 / cfg.warmup as f64;
    }
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Cosine => {
            let span = total_updates.saturating_sub(cfg.warmup).max(1) as f64;
            let progress = ((update - cfg.warmup) as f64 / span).min(1.0);
            let min_lr = cfg.lr * cfg.min_lr_ratio;
            min_lr + 0.5 * (cfg.lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_hits_hand_computed_points() {
        let cfg = TrainConfig {
            lr: 1.0,
            warmup: 10,
            min_lr_ratio: 0.1,
            schedule: Schedule::Cosine,
            ..Default::default()
        };
        assert!((learning_rate(&cfg, 0, 110) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&cfg, 9, 110) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&cfg, 10, 110) - 1.0).abs() < 1e-12);
        // halfway through the decay: min + (max - min) / 2
        assert!((learning_rate(&cfg, 60, 110) - 0.55).abs() < 1e-12);
        assert!((learning_rate(&cfg, 110, 110) - 0.1).abs() < 1e-12);
        let constant = TrainConfig {
            schedule: Schedule::Constant,
            ..cfg
        };
        assert_eq!(learning_rate(&constant, 100, 110), 1.0);
    }
}
