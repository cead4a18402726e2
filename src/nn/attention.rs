//! Multi-head self-attention with RoPE; the mask (causal, full, or causal with a KV cache) is
//! chosen by the task.

use super::linear::{split_matmul, SPLIT_FROM_ROWS};
use super::precision::cast_to;
use super::{Init, Linear, Rope};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use std::cell::RefCell;
use std::rc::Rc;

/// Which positions may attend to which: supplied by the task, never decided by the core.
#[derive(Clone, Debug)]
pub enum AttnMask<B: Backend> {
    /// Bidirectional (puzzles, masked LM).
    Full,
    /// Additive [1, 1, L, L] bias: 0 on and below the diagonal, -inf above (autoregressive LM).
    Causal(Tensor<B, 4>),
    /// Causal, for new positions appended after the ones already in the cache (inference only).
    Cached(KvCache<B>),
}

/// Keys and values of every attention call made so far, one slot per call in call order.
///
/// A causal TRM makes the same sequence of attention calls for every token (supervision step x
/// recursion pass x layer), and each call only looks backwards, so slot i of the cache holds the
/// keys and values that call i produced for all earlier positions.
///
/// Adaptive depth (per-token exit) keeps that layout: a position that has exited is *frozen*, and
/// in every later supervision step its keys and values are those of the same call in its last
/// step (see [`KvCache::freeze`]); when all new positions have exited, [`KvCache::repeat_slots`]
/// fills the remaining steps' slots the same way, so later tokens find every slot complete.
#[derive(Clone, Debug, Default)]
pub struct KvCache<B: Backend> {
    inner: Rc<RefCell<CacheSlots<B>>>,
}

#[derive(Debug, Default)]
struct CacheSlots<B: Backend> {
    slots: Vec<(Tensor<B, 4>, Tensor<B, 4>)>,
    /// The slot the next attention call uses.
    next: usize,
    /// Positions already cached.
    len: usize,
    /// New positions that have exited ([B, 1, L_new, 1], true = frozen) and how many slots back
    /// the same call of the previous supervision step lies.
    frozen: Option<(Tensor<B, 4, Bool>, usize)>,
}

impl<B: Backend> KvCache<B> {
    pub fn new() -> Self {
        Self {
            inner: Rc::new(RefCell::new(CacheSlots {
                slots: Vec::new(),
                next: 0,
                len: 0,
                frozen: None,
            })),
        }
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.inner.borrow().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Call after a forward pass over `new` positions: they are now part of the cache.
    pub fn advance(&self, new: usize) {
        let mut c = self.inner.borrow_mut();
        c.len += new;
        c.next = 0;
        c.frozen = None;
    }

    /// The slot the next attention call will use.
    pub fn cursor(&self) -> usize {
        self.inner.borrow().next
    }

    /// From now on, the new positions where `frozen` ([B, L_new], true = exited) is set keep the
    /// keys and values of the call `back` slots earlier (the same call one supervision step
    /// before) instead of the ones computed now; None unfreezes all.
    pub fn freeze(&self, frozen: Option<Tensor<B, 2, Bool>>, back: usize) {
        self.inner.borrow_mut().frozen = frozen.map(|f| {
            let [b, l] = f.dims();
            (f.reshape([b, 1, l, 1]), back)
        });
    }

    /// Append the new positions of slots `from..from + count` to the slots starting at `to`
    /// (which hold only the cached positions): the later supervision steps of positions that all
    /// exited before them.
    pub fn repeat_slots(&self, from: usize, count: usize, to: usize, new: usize) {
        let mut c = self.inner.borrow_mut();
        let len = c.len;
        for i in 0..count {
            let (k, v) = c.slots[from + i].clone();
            c.append(to + i, k.narrow(2, len, new), v.narrow(2, len, new));
        }
    }

    /// Keys and values of the cached positions followed by `k`, `v`, for the next call's slot.
    fn extend(&self, k: Tensor<B, 4>, v: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let mut c = self.inner.borrow_mut();
        let slot = c.next;
        c.next += 1;
        let (k, v) = match &c.frozen {
            Some((frozen, back)) => {
                let (k0, v0) = &c.slots[slot - back];
                let (len, dims) = (c.len, k.dims());
                let frozen = frozen.clone().expand(dims);
                let before = |t: &Tensor<B, 4>| t.clone().narrow(2, len, dims[2]);
                (
                    k.mask_where(frozen.clone(), before(k0)),
                    v.mask_where(frozen, before(v0)),
                )
            }
            None => (k, v),
        };
        c.append(slot, k, v)
    }
}

impl<B: Backend> CacheSlots<B> {
    /// Slot `slot` becomes its cached positions followed by `k`, `v` (a slot not made yet, the
    /// next one, starts with them); returns its keys and values.
    fn append(
        &mut self,
        slot: usize,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.slots.get(slot) {
            Some((k0, v0)) => (
                Tensor::cat(vec![k0.clone(), k], 2),
                Tensor::cat(vec![v0.clone(), v], 2),
            ),
            None => (k, v),
        };
        if slot < self.slots.len() {
            self.slots[slot] = (k.clone(), v.clone());
        } else {
            assert_eq!(slot, self.slots.len(), "slots are made in call order");
            self.slots.push((k.clone(), v.clone()));
        }
        (k, v)
    }
}

impl<B: Backend> AttnMask<B> {
    /// Absolute position of the first query: the positions already in a KV cache, else 0.
    pub fn offset(&self) -> usize {
        match self {
            AttnMask::Cached(cache) => cache.len(),
            _ => 0,
        }
    }

    pub fn causal(len: usize, device: &B::Device) -> Self {
        // burn's tril_mask marks what lies OUTSIDE the lower triangle: exactly the future positions.
        let above = Tensor::<B, 2, Bool>::tril_mask([len, len], 0, device);
        let bias = Tensor::<B, 2>::zeros([len, len], device).mask_fill(above, f32::NEG_INFINITY);
        Self::Causal(bias.reshape([1, 1, len, len]))
    }
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    qkv: Linear<B>,
    out: Linear<B>,
    n_heads: usize,
}

impl<B: Backend> Attention<B> {
    pub fn new(init: &mut Init<B>, d: usize, n_heads: usize) -> Self {
        Self {
            qkv: Linear::new(init, d, 3 * d),
            out: Linear::new(init, d, d),
            n_heads,
        }
    }

    /// h: [B, L, D] -> [B, L, D].
    pub fn forward(&self, h: Tensor<B, 3>, rope: &Rope<B>, mask: &AttnMask<B>) -> Tensor<B, 3> {
        let [b, l, d] = h.dims();
        let hd = d / self.n_heads;
        let offset = mask.offset();
        let graph = B::ad_enabled(&h.device());
        let [q, k, v]: [Tensor<B, 2>; 3] =
            split_matmul(h.reshape([b * l, d]), self.qkv.weight.val(), 3)
                .try_into()
                .expect("three projections");
        let flat = |t: Tensor<B, 2>| t.reshape([b, l, d]);
        let per_head = !graph && b * l >= SPLIT_FROM_ROWS;
        let heads = |t: Tensor<B, 3>| {
            if !per_head {
                t.reshape([b, l, self.n_heads, hd]).swap_dims(1, 2)
            } else {
                split_heads(t, self.n_heads)
            }
        };
        let q = heads(rope.apply(flat(q), offset));
        let k = heads(rope.apply(flat(k), offset));
        let v = heads(flat(v));
        let (k, v) = match mask {
            AttnMask::Cached(cache) => cache.extend(k, v),
            _ => (k, v),
        };
        let ctx = if graph {
            attend_differentiable(q, k, v, mask)
        } else {
            // Without a graph to record, the backend's fused kernel (causal masking aligned to the
            // last query, as the KV cache needs: query i sees keys up to offset + i).
            let options = AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: !matches!(mask, AttnMask::Full),
            };
            attention(q, k, v, None, None, options)
        };
        let ctx = if per_head {
            merge_heads(ctx)
        } else {
            ctx.swap_dims(1, 2).reshape([b, l, d])
        };
        self.out.forward(ctx)
    }
}

/// [B, L, H * hd] -> [B, H, L, hd], contiguous. Without a graph the heads are moved one at a time:
/// each head's [B * L, hd] slice and the final stacking are copies the CPU backend makes at memory
/// speed, where one [B, L, H, hd] -> [B, H, L, hd] transpose is copied element by element. (With a
/// graph, the per-head slices would each cost a full-size gradient buffer in the backward pass.)
fn split_heads<B: Backend>(t: Tensor<B, 3>, n_heads: usize) -> Tensor<B, 4> {
    let [b, l, d] = t.dims();
    let hd = d / n_heads;
    let rows = t.reshape([b * l, d]);
    let heads = (0..n_heads)
        .map(|h| rows.clone().narrow(1, h * hd, hd).reshape([b, 1, l, hd]))
        .collect();
    Tensor::cat(heads, 1)
}

/// [B, H, L, hd] -> [B, L, H * hd], contiguous, one head at a time (see [`split_heads`]).
fn merge_heads<B: Backend>(t: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, n_heads, l, hd] = t.dims();
    let heads = (0..n_heads)
        .map(|h| t.clone().narrow(1, h, 1).reshape([b * l, hd]))
        .collect();
    Tensor::cat(heads, 1).reshape([b, l, n_heads * hd])
}

/// softmax(q k^T / sqrt(hd) + mask) v from differentiable operations (burn 0.21's fused attention
/// has no backward pass of its own). q: [B, H, L, hd], k and v: [B, H, Lk, hd].
fn attend_differentiable<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: &AttnMask<B>,
) -> Tensor<B, 4> {
    let [b, h, l, hd] = q.dims();
    let lk = k.dims()[2];
    let dtype = q.dtype();
    let scores = q
        .matmul(k.swap_dims(2, 3))
        .mul_scalar(1.0 / (hd as f64).sqrt());
    let scores = match mask {
        AttnMask::Full => scores,
        // one [L * L] row shared by every (batch, head): a contiguous broadcast
        AttnMask::Causal(bias) => (scores.reshape([b * h, l * lk])
            + cast_to(bias.clone().reshape([1, l * lk]), dtype))
        .reshape([b, h, l, lk]),
        AttnMask::Cached(_) => {
            // new position i (absolute lk - l + i) sees cached and new positions j <= lk - l + i
            let future =
                Tensor::<B, 2, Bool>::tril_mask([l, lk], (lk - l) as i64, &scores.device());
            let bias = Tensor::<B, 2>::zeros([l, lk], &scores.device())
                .mask_fill(future, f32::NEG_INFINITY);
            scores + cast_to(bias.reshape([1, 1, l, lk]), dtype)
        }
    };
    softmax(scores, 3).matmul(v)
}
