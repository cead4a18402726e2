//! `trm chat`: load a trained run once, then continue each line read from stdin, keeping the
//! conversation as context.
//!
//! The context is the conversation's text as the model sees it: an end-of-text token (documents
//! start that way in training), the first line, its reply, then for each later turn a newline,
//! the line and its reply. So the first reply is exactly what `trm sample --prompt LINE` prints
//! after LINE, with the same seed and flags. The line's own newline is not part of it; the reply
//! continues the line directly. The context is cut from the left to the model's window
//! (`train.seq_len` tokens). A line `/reset` clears it. Reply i (counting from 0, across resets)
//! is drawn with seed + i, so turns differ but a whole session is reproducible. Each reply is
//! streamed to stdout and ends with a newline; a `> ` prompt marker goes to stderr when stdin is a
//! terminal. End of input (Ctrl-D) or a closed stdout ends the session with status 0.

use super::device::{dispatch, OnBackend};
use super::sample::{written, ModelFlags, SamplingFlags};
use crate::run::load_trained;
use crate::sample::continue_ids;
use anyhow::{Context, Result};
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    #[command(flatten)]
    pub sampling: SamplingFlags,
}

/// The line that clears the conversation.
const RESET: &str = "/reset";

struct Job(ChatArgs);

impl OnBackend for Job {
    type Output = ();
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let Job(args) = self;
        let trained = load_trained::<B::InnerBackend>(
            &args.model.checkpoint,
            args.model.tokenizer.as_deref(),
            &device,
        )?;
        let (model, tok) = (&trained.model, &trained.tokenizer);
        let window = model.max_len();
        let flags = &args.sampling;
        flags.check_model(&trained.model)?;
        let options = flags.options();
        let stdin = std::io::stdin();
        let interactive = stdin.is_terminal();
        let mut input = stdin.lock();
        let mut out = std::io::stdout().lock();
        let mut context: Vec<u32> = Vec::new(); // empty: no turn yet
        let mut turn: u64 = 0;
        let mut raw = Vec::new();
        loop {
            if interactive {
                eprint!("> ");
                let _ = std::io::stderr().flush();
            }
            raw.clear();
            let read = input
                .read_until(b'\n', &mut raw)
                .context("cannot read from stdin")?;
            if read == 0 {
                if interactive {
                    eprintln!();
                }
                return Ok(());
            }
            let line = String::from_utf8_lossy(&raw);
            let line = line.strip_suffix('\n').unwrap_or(&line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim() == RESET {
                context.clear();
                if interactive {
                    eprintln!("(conversation cleared)");
                }
                continue;
            }
            if context.is_empty() {
                context.push(tok.eot_id());
                context.extend(tok.encode(line));
            } else {
                context.extend(tok.encode(&format!("\n{line}")));
            }
            keep_last(&mut context, window);
            let params = flags.params(tok.eot_id(), flags.seed.wrapping_add(turn));
            turn += 1;
            let reply = continue_ids(model, tok, &context, &params, &options, &device, &mut out)
                .and_then(|reply| writeln!(out).and_then(|()| out.flush()).map(|()| reply));
            let Some(reply) = written(reply)? else {
                return Ok(());
            };
            context.extend(reply.ids);
            keep_last(&mut context, window);
        }
    }
}

/// Cut `ids` from the left to its last `n`.
fn keep_last(ids: &mut Vec<u32>, n: usize) {
    ids.drain(..ids.len().saturating_sub(n));
}

pub fn run(args: ChatArgs) -> Result<()> {
    args.sampling.check()?;
    let device = args.model.device;
    dispatch(device, Job(args))
}
