//! The train/validation split of documents: a stable hash of each document's text decides, so the
//! loader, the evaluation and tokenizer training agree on it without storing anything.

/// Documents are assigned to the validation split when `hash % HASH_BUCKETS` falls below
/// `val_fraction * HASH_BUCKETS`.
const HASH_BUCKETS: u64 = 10_000;

/// 64-bit FNV-1a: a small, stable hash (the same on every platform and run).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub(crate) fn val_cutoff(val_fraction: f64) -> u64 {
    (val_fraction * HASH_BUCKETS as f64).round() as u64
}

pub(crate) fn is_val(text: &str, cutoff: u64) -> bool {
    fnv1a64(text.as_bytes()) % HASH_BUCKETS < cutoff
}

/// True if a document is in the validation share `val_fraction`.
pub fn held_out(text: &str, val_fraction: f64) -> bool {
    is_val(text, val_cutoff(val_fraction))
}
