//! The puzzle adapter (Sudoku, Maze, ARC): grid tokens plus a puzzle-id prefix in, full attention
//! (or MLP-T), a token head on the grid positions and one halting logit per puzzle, read at the
//! first position (docs/trm.md §2-3). Losses: stablemax (or softmax) cross-entropy averaged over each
//! puzzle's labelled cells, and BCE of the halting logit against "the whole puzzle is right".

use super::core::Core;
use crate::config::{Config, ModelConfig, PuzzleConfig, PuzzleLoss};
use crate::data::puzzle::{Example, PuzzleData};
use crate::nn::loss::{bce_with_logits, sequence_mean, token_nll, token_nll_stablemax};
use crate::nn::{precision, trunc_normal, AttnMask, Init, Linear};
use crate::trm::{Noise, State};
use burn::module::{Param, ParamId};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

#[derive(Module, Debug)]
pub struct PuzzleModel<B: Backend> {
    /// Token embedding [V, D], std 1/sqrt(D); the embedded sequence is scaled by sqrt(D).
    embed: Param<Tensor<B, 2>>,
    /// Puzzle-id embedding [ids, D], zeros at init, trained by sign-SGD (not by Adam).
    puzzle_emb: Param<Tensor<B, 2>>,
    pub core: Core<B>,
    lm_head: Linear<B>,
    prefix: usize,
    n_sup: usize,
    stablemax: bool,
}

/// A batch of puzzles: grid tokens [B, L], labels [B, L] (0 = ignored), puzzle ids [B].
#[derive(Clone, Debug)]
pub struct PuzzleBatch<B: Backend> {
    pub inputs: Tensor<B, 2, Int>,
    pub labels: Tensor<B, 2, Int>,
    pub puzzle_ids: Tensor<B, 1, Int>,
}

impl<B: Backend> PuzzleBatch<B> {
    /// Stack examples (all of one length) into a batch on `device`.
    pub fn new(examples: &[Example], device: &B::Device) -> Self {
        let b = examples.len();
        let l = examples[0].inputs.len();
        let ints = |f: &dyn Fn(&Example) -> &[u8]| -> Vec<i64> {
            examples
                .iter()
                .flat_map(|e| f(e).iter().map(|&t| t as i64))
                .collect()
        };
        Self {
            inputs: Tensor::from_data(TensorData::new(ints(&|e| &e.inputs), [b, l]), device),
            labels: Tensor::from_data(TensorData::new(ints(&|e| &e.labels), [b, l]), device),
            puzzle_ids: Tensor::from_data(
                TensorData::new(examples.iter().map(|e| e.puzzle_id as i64).collect(), [b]),
                device,
            ),
        }
    }
}

/// What one supervision step predicts: grid logits [B, L, V] and the halting logit [B].
pub struct PuzzleOutput<B: Backend> {
    pub state: State<B>,
    pub logits: Tensor<B, 3>,
    /// None for the transformer baseline (no halting head).
    pub q: Option<Tensor<B, 1>>,
}

/// Losses and per-puzzle correctness of one supervision step.
pub struct PuzzleLossOut<B: Backend> {
    pub total: Tensor<B, 1>,
    pub lm: Tensor<B, 1>,
    pub halt: Tensor<B, 1>,
    /// Per puzzle: share of labelled cells right [B], and whether all are right [B] (0/1).
    pub token_accuracy: Tensor<B, 1>,
    pub exact: Tensor<B, 1>,
}

impl<B: Backend> PuzzleModel<B> {
    pub fn new(
        cfg: &ModelConfig,
        puzzle: &PuzzleConfig,
        vocab_size: usize,
        seq_len: usize,
        num_puzzle_ids: usize,
        device: &B::Device,
    ) -> Self {
        let mut init = Init::new(cfg.seed, device);
        let d = cfg.d_model;
        let embed = Param::from_tensor(trunc_normal(
            &mut init,
            [vocab_size, d],
            1.0 / (d as f64).sqrt(),
        ));
        let puzzle_emb = Param::from_tensor(Tensor::zeros([num_puzzle_ids.max(1), d], device));
        let prefix = puzzle.puzzle_emb_len;
        let (core, n_sup) = Core::new(&mut init, cfg, prefix + seq_len);
        Self {
            embed,
            puzzle_emb,
            core,
            lm_head: Linear::new(&mut init, d, vocab_size),
            prefix,
            n_sup,
            stablemax: puzzle.loss == PuzzleLoss::Stablemax,
        }
    }

    /// The model `config` describes, sized for `data` (vocabulary, grid length, puzzle ids).
    pub fn for_data(config: &Config, data: &PuzzleData, device: &B::Device) -> Self {
        Self::new(
            &config.model,
            &config.puzzle,
            data.vocab_size,
            data.seq_len,
            data.num_puzzle_ids,
            device,
        )
    }

    pub fn n_sup(&self) -> usize {
        self.n_sup
    }

    pub fn puzzle_emb_id(&self) -> ParamId {
        self.puzzle_emb.id
    }

    pub fn puzzle_emb(&self) -> Tensor<B, 2> {
        self.puzzle_emb.val()
    }

    /// The same model with a new puzzle-id table (same parameter id): the sign-SGD update.
    pub fn with_puzzle_emb(mut self, table: Tensor<B, 2>) -> Self {
        self.puzzle_emb = Param::initialized(self.puzzle_emb.id, table);
        self
    }

    /// x = [puzzle_emb(id), 0 x (prefix - 1), embed(tokens)] * sqrt(D): [B, prefix + L, D].
    pub fn embed(&self, inputs: Tensor<B, 2, Int>, puzzle_ids: Tensor<B, 1, Int>) -> Tensor<B, 3> {
        let d = self.embed.dims()[1];
        let [b, _] = inputs.dims();
        let tokens = burn::tensor::module::embedding(self.embed.val(), inputs);
        let x = if self.prefix == 0 {
            tokens
        } else {
            let id =
                burn::tensor::module::embedding(self.puzzle_emb.val(), puzzle_ids.unsqueeze_dim(1));
            let mut parts = vec![id];
            if self.prefix > 1 {
                parts.push(Tensor::zeros([b, self.prefix - 1, d], &tokens.device()));
            }
            parts.push(tokens);
            Tensor::cat(parts, 1)
        };
        x.mul_scalar((d as f64).sqrt())
    }

    pub fn initial_state(&self, x: &Tensor<B, 3>) -> State<B> {
        // puzzles start from the paper's fixed vectors (the config refuses a noise start)
        self.core.initial_state(x, Noise::default())
    }

    /// Grid logits (prefix dropped) and the halting logit of position 0.
    pub fn heads(&self, state: State<B>) -> PuzzleOutput<B> {
        let [b, len, _] = state.y.dims();
        let grid = state.y.clone().narrow(1, self.prefix, len - self.prefix);
        let logits = precision::f32(self.lm_head.forward(grid));
        let q = self
            .core
            .q_logits(state.y.clone().narrow(1, 0, 1))
            .map(|q| q.reshape([b]));
        PuzzleOutput { state, logits, q }
    }

    /// The argmax tokens of every grid position after each of `steps` supervision steps:
    /// [step][example][position] (a puzzle family's `Predict`).
    pub fn predict(&self, examples: &[Example], steps: usize) -> Vec<Vec<Vec<u8>>> {
        let batch = PuzzleBatch::new(examples, &self.embed.device());
        let l = examples[0].inputs.len();
        self.forward_steps(&batch, steps)
            .into_iter()
            .map(|out| {
                let tokens: Vec<i64> = out
                    .logits
                    .argmax(2)
                    .into_data()
                    .convert::<i64>()
                    .to_vec()
                    .expect("ints");
                tokens
                    .chunks(l)
                    .map(|row| row.iter().map(|&t| t as u8).collect())
                    .collect()
            })
            .collect()
    }

    /// Inference: the outputs after each of `steps` supervision steps (all puzzles run all steps).
    pub fn forward_steps(&self, batch: &PuzzleBatch<B>, steps: usize) -> Vec<PuzzleOutput<B>> {
        let x = self.embed(batch.inputs.clone(), batch.puzzle_ids.clone());
        let mut state = self.initial_state(&x);
        (0..steps)
            .map(|_| {
                state = self
                    .core
                    .supervision_step(&x, state.clone(), &AttnMask::Full);
                self.heads(state.clone())
            })
            .collect()
    }

    /// Loss of one supervision step: token loss averaged over each puzzle's labelled cells, then
    /// over the batch; plus `halt_weight` x BCE(q, puzzle exactly right).
    pub fn loss(
        &self,
        out: &PuzzleOutput<B>,
        labels: Tensor<B, 2, Int>,
        halt_weight: f64,
    ) -> PuzzleLossOut<B> {
        let valid = labels.clone().not_equal_elem(0).float();
        let nll = if self.stablemax {
            token_nll_stablemax(out.logits.clone(), labels.clone())
        } else {
            token_nll(out.logits.clone(), labels.clone())
        };
        let lm = sequence_mean(nll, valid.clone()).mean();
        let (token_accuracy, exact) = correctness(out.logits.clone().detach(), labels, valid);
        let halt = match &out.q {
            Some(q) => bce_with_logits(q.clone(), exact.clone()),
            None => Tensor::zeros([1], &exact.device()),
        };
        PuzzleLossOut {
            total: lm.clone() + halt.clone().mul_scalar(halt_weight),
            lm,
            halt,
            token_accuracy,
            exact,
        }
    }
}

/// Per puzzle: the share of labelled cells whose argmax is the label, and 1 if all are.
pub fn correctness<B: Backend>(
    logits: Tensor<B, 3>,
    labels: Tensor<B, 2, Int>,
    valid: Tensor<B, 2>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let right = logits.argmax(2).squeeze_dim::<2>(2).equal(labels).float() * valid.clone();
    let count = valid.sum_dim(1).squeeze_dim::<1>(1);
    let hits = right.sum_dim(1).squeeze_dim::<1>(1);
    let accuracy = hits.clone().div(count.clone().clamp_min(1.0));
    let exact = hits.greater_equal(count).float();
    (accuracy, exact)
}

impl<B: AutodiffBackend> PuzzleModel<B> {
    /// One supervision step for training from the carried state.
    pub fn supervision_step_grad(&self, x: &Tensor<B, 3>, s: State<B>) -> PuzzleOutput<B> {
        let state = self.core.supervision_step_grad(x, s, &AttnMask::Full);
        self.heads(state)
    }
}
