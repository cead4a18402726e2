//! Bits per byte against hand counts on non-ASCII text: each token's bytes cut the text where its
//! tokens do (byte tokenizer, a trained byte-level BPE, GPT-2), and evaluation of both heads
//! divides by the `str::len` of exactly the text its scored tokens cover.

use burn::backend::Flex;
use trm::config::{Head, ModelConfig};
use trm::data::{train_bpe, TextTokenizer};
use trm::eval::{evaluate_lm, EvalSet};
use trm::tasks::text::TextLm;

mod common;
use common::{shared_data, temp};

/// Accents, a dash, CJK, an emoji: 1- to 4-byte characters that BPE tokens split.
const TEXT: &str = "Café — naïve 日本語, déjà vu™ 🙂 end";

/// The byte tokenizer, a byte-level BPE trained on ASCII text (so it holds the bytes of `TEXT`'s
/// other characters as separate tokens), and GPT-2 where the shared data has it.
fn tokenizers() -> Vec<(&'static str, TextTokenizer)> {
    let dir = temp("bpb-bpe");
    let txt = dir.path().join("corpus.txt");
    std::fs::write(&txt, "Cafe - naive, deja vu: the end.\n".repeat(20)).unwrap();
    let mut all = vec![
        ("bytes", TextTokenizer::bytes()),
        ("trained", train_bpe(&[txt], "text", 300, 0.0).unwrap()),
    ];
    if let Some(path) = shared_data("tokenizer/gpt2/tokenizer.json") {
        all.push(("gpt2", TextTokenizer::from_file(&path).unwrap()));
    }
    all
}

/// Cutting the token list after any token k and the text after the token bytes of the first k
/// tokens gives the same two pieces: the decoder (from_utf8_lossy of the raw bytes) shows each
/// side equal to the lossy text of that side's bytes, so the per-token counts are the real ones.
#[test]
fn token_bytes_cut_the_text_where_the_tokens_do() {
    for (name, tok) in tokenizers() {
        let ids = tok.encode(TEXT);
        assert_eq!(tok.token_bytes(tok.eot_id()), 0, "{name}");
        let mut cut = 0;
        let mut splits_a_character = false;
        for k in 0..=ids.len() {
            let (head, tail) = TEXT.as_bytes().split_at(cut);
            assert_eq!(
                tok.decode(&ids[..k]),
                String::from_utf8_lossy(head),
                "{name} k={k}"
            );
            assert_eq!(
                tok.decode(&ids[k..]),
                String::from_utf8_lossy(tail),
                "{name} k={k}"
            );
            splits_a_character |= !TEXT.is_char_boundary(cut);
            if let Some(&id) = ids.get(k) {
                cut += tok.token_bytes(id);
            }
        }
        assert_eq!(cut, TEXT.len(), "{name}");
        assert!(
            splits_a_character,
            "{name}: no token holds part of a character"
        );
    }
}

/// Windows of L+1 tokens overlapping by one token tile the stream eot, TEXT, eot padding, "!":
/// the causal head scores every token after the first (TEXT and "!"), the masked head every
/// token before the last (eot and TEXT), and the edges of the windows cut characters.
#[test]
fn evaluation_divides_by_the_bytes_of_the_scored_tokens() {
    const L: usize = 3;
    let device = Default::default();
    for (name, tok) in tokenizers() {
        let bang = tok.encode("!");
        assert_eq!(bang.len(), 1, "{name}");
        let mut stream = vec![tok.eot_id()];
        stream.extend(tok.encode(TEXT));
        let pad = (L - stream.len() % L) % L;
        stream.extend(std::iter::repeat_n(tok.eot_id(), pad));
        stream.extend(bang);
        assert_eq!((stream.len() - 1) % L, 0);
        let windows: Vec<Vec<u32>> = (0..stream.len() / L)
            .map(|i| stream[i * L..=(i + 1) * L].to_vec())
            .collect();
        assert!(
            windows
                .iter()
                .any(|w| tok.decode(&w[1..]).contains('\u{FFFD}')),
            "{name}: no window edge cuts a character"
        );
        let set = EvalSet::new(windows, &tok);
        for (head, text) in [
            (Head::Causal, format!("{TEXT}!")),
            (Head::Masked, TEXT.into()),
        ] {
            let cfg = ModelConfig {
                head,
                d_model: 16,
                n_layers: 1,
                n_heads: 2,
                n: 1,
                t: 1,
                n_sup: 1,
                ffn_multiple: 8,
                ..Default::default()
            };
            let model = TextLm::<Flex>::new(&cfg, tok.vocab_size(), L, &device);
            let report = evaluate_lm(&model, &set, 8, 1, &device);
            assert_eq!(report.bytes, text.len(), "{name} {head:?}");
            let nll_sum = report.final_nll() * report.tokens as f64;
            let by_hand = nll_sum / std::f64::consts::LN_2 / text.len() as f64;
            let bpb = report.final_bits_per_byte();
            assert!(
                (bpb - by_hand).abs() < 1e-12 * by_hand,
                "{name} {head:?}: {bpb} vs {by_hand}"
            );
        }
    }
}
