//! Checkpoints that are never half-written: each one is a folder written under a temporary name and
//! renamed into place; `latest` and `best` are pointer files replaced atomically.
//!
//! ```text
//! RUN/checkpoints/step-000300/{model.mpk, ema.mpk, optim.mpk, state.json}
//! RUN/checkpoints/latest   -> "step-000300"
//! RUN/checkpoints/best     -> "step-000200"
//! RUN/checkpoints/good     -> "step-000200"   (finite weights that gave a finite loss)
//! ```
//!
//! A new checkpoint is `latest` at once but becomes `good` only when the next training step has
//! computed a finite loss with its weights; until then the previous good one is kept, so a run
//! whose last update poisoned its weights still has a checkpoint to resume from.

use crate::files::{sync_dir, sync_tree, write_atomic, write_synced};
use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::prelude::*;
use burn::record::{
    FullPrecisionSettings, NamedMpkBytesRecorder, NamedMpkFileRecorder, Record, Recorder,
};
use burn::store::ModuleSnapshot;
use serde::{de::DeserializeOwned, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

pub type Rec = NamedMpkFileRecorder<FullPrecisionSettings>;

/// Which pointer to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Latest,
    Best,
    /// The newest checkpoint whose weights gave a finite loss.
    Good,
}

impl Which {
    fn file(self) -> &'static str {
        match self {
            Which::Latest => "latest",
            Which::Best => "best",
            Which::Good => "good",
        }
    }
}

pub struct Checkpoints {
    root: PathBuf,
}

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
        }
    }

    /// The folder a pointer names, if the pointer exists.
    pub fn resolve(&self, which: Which) -> Result<Option<PathBuf>> {
        let pointer = self.root.join(which.file());
        if !pointer.exists() {
            return Ok(None);
        }
        let name = fs::read_to_string(&pointer)
            .with_context(|| format!("cannot read {}", pointer.display()))?;
        let dir = self.root.join(name.trim());
        if !dir.join("state.json").exists() {
            bail!(
                "{} points to {}, which holds no complete checkpoint",
                pointer.display(),
                dir.display()
            );
        }
        Ok(Some(dir))
    }

    pub fn step_dir(&self, step: u64) -> PathBuf {
        self.root.join(format!("step-{step:06}"))
    }

    /// Write a checkpoint for `step` and point `latest` (and `best` when asked) at it; then remove
    /// folders no pointer names. The folder is always written afresh (a leftover one of the same
    /// step may hold another trajectory's weights), every file and the folder are fsynced before
    /// the rename, and the rename is synced before a pointer names it.
    pub fn save<B, M, E, O, S>(
        &self,
        step: u64,
        model: &M,
        ema: &E,
        optim: O,
        state: &S,
        best: bool,
    ) -> Result<PathBuf>
    where
        B: burn::tensor::backend::AutodiffBackend,
        M: Module<B>,
        E: Module<B::InnerBackend>,
        O: Record<B>,
        S: Serialize,
    {
        let dir = self.write_step(step, state, |tmp| {
            write_record::<B, _>(model.clone().into_record(), &tmp.join("model.mpk"))?;
            write_record::<B::InnerBackend, _>(ema.clone().into_record(), &tmp.join("ema.mpk"))?;
            write_record::<B, _>(optim, &tmp.join("optim.mpk"))
        })?;
        if best {
            self.point(Which::Best, &dir.file_name().unwrap().to_string_lossy())?;
        }
        self.prune()?;
        Ok(dir)
    }

    /// Write weights that were not trained here (an import) as checkpoint `step`: the same
    /// weights as model and EMA, no optimizer, `state` describing where they came from; point
    /// `latest` at it.
    pub fn save_weights<B: Backend, M: Module<B>, S: Serialize>(
        &self,
        step: u64,
        model: &M,
        state: &S,
    ) -> Result<PathBuf> {
        self.write_step(step, state, |tmp| {
            for name in ["model.mpk", "ema.mpk"] {
                write_record::<B, _>(model.clone().into_record(), &tmp.join(name))?;
            }
            Ok(())
        })
    }

    /// The folder of checkpoint `step`, written afresh into a temporary folder by `fill` (the
    /// weights) with `state` as state.json: every file and the folder are fsynced, then it
    /// replaces any folder of that step, the rename is synced and `latest` names it.
    fn write_step(
        &self,
        step: u64,
        state: &impl Serialize,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        let dir = self.step_dir(step);
        let tmp = self
            .root
            .join(format!(".tmp-step-{step:06}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        let written = fill(&tmp)
            .and_then(|_| {
                let json = serde_json::to_string(state)?;
                write_synced(&tmp.join("state.json"), json.as_bytes())
            })
            .and_then(|_| sync_tree(&tmp));
        if let Err(e) = written {
            // a full disk: give the space back, keep the previous checkpoints as they are
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&tmp, &dir)
            .with_context(|| format!("cannot move checkpoint into {}", dir.display()))?;
        sync_dir(&self.root)?;
        self.point(Which::Latest, &dir.file_name().unwrap().to_string_lossy())?;
        Ok(dir)
    }

    fn point(&self, which: Which, name: &str) -> Result<()> {
        write_atomic(&self.root.join(which.file()), name.as_bytes())
    }

    /// The latest checkpoint's weights gave a finite loss: it is `good` now, and older folders no
    /// pointer names go.
    pub fn certify(&self) -> Result<()> {
        if let Some(dir) = self.resolve(Which::Latest)? {
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            self.point(Which::Good, &name)?;
        }
        self.prune()
    }

    /// The latest checkpoint's weights gave a non-finite loss: remove it and point `latest` (and
    /// `best`, if it named it) back at the good one. Returns the good checkpoint, if any.
    pub fn discard_latest(&self) -> Result<Option<PathBuf>> {
        let good = self.resolve(Which::Good)?;
        let Some(bad) = self.resolve(Which::Latest)? else {
            return Ok(good);
        };
        if good.as_ref() == Some(&bad) {
            return Ok(good);
        }
        for which in [Which::Latest, Which::Best] {
            if self.resolve(which).ok().flatten().as_ref() == Some(&bad) {
                match &good {
                    Some(g) => self.point(which, &g.file_name().unwrap().to_string_lossy())?,
                    None => {
                        let _ = fs::remove_file(self.root.join(which.file()));
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&bad);
        Ok(good)
    }

    /// Remove step folders that no pointer names, and leftovers of interrupted writes.
    fn prune(&self) -> Result<()> {
        let keep: Vec<PathBuf> = [Which::Latest, Which::Best, Which::Good]
            .into_iter()
            .filter_map(|w| self.resolve(w).ok().flatten())
            .collect();
        for entry in fs::read_dir(&self.root)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let stale = (name.starts_with("step-") || name.starts_with(".tmp-step-"))
                && !keep.contains(&path);
            if stale && path.is_dir() {
                let _ = fs::remove_dir_all(&path);
            }
        }
        Ok(())
    }
}

/// Load a module's weights from `dir/name.mpk` into `module`, which must have the same shapes (a
/// config.toml edited after training, or an .mpk of another model, is an error here, not a panic
/// at the first forward pass).
pub fn load_module<B: Backend, M: Module<B>>(
    module: M,
    dir: &Path,
    name: &str,
    device: &B::Device,
) -> Result<M> {
    let path = dir.join(name);
    let record = read_record(&path, device)?;
    let shapes = |m: &M| -> Vec<(String, Vec<usize>)> {
        m.collect(None, None, false)
            .into_iter()
            .map(|s| (s.full_path(), s.shape.to_vec()))
            .collect()
    };
    let expected = shapes(&module);
    let loaded = module.load_record(record);
    for ((name, want), (_, got)) in expected.iter().zip(shapes(&loaded)) {
        if *want != got {
            bail!(
                "{}.mpk does not fit the model its run's config.toml describes: `{name}` is {got:?} there but {want:?} in the model (was config.toml edited, or the file copied from another run?)",
                path.display()
            );
        }
    }
    Ok(loaded)
}

pub fn load_record<B: Backend, R: Record<B>>(
    dir: &Path,
    name: &str,
    device: &B::Device,
) -> Result<R> {
    read_record(&dir.join(name), device)
}

/// `path.mpk` as a record. A file written before the recurrent-depth options existed lacks their
/// fields (TextLm's `prelude`, `coda`, `rope`; Net's `adapter`; Block's `sandwich`): it is read
/// again with them added as the paper's recipe has them (no blocks, no adapter, not sandwich), so
/// runs made with earlier versions keep loading.
fn read_record<B: Backend, R: Record<B>>(path: &Path, device: &B::Device) -> Result<R> {
    let error = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "cannot load {}.mpk: {}",
            path.display(),
            one_line(&e.to_string())
        )
    };
    match Rec::new().load(path.to_path_buf(), device) {
        Ok(record) => Ok(record),
        Err(e) if e.to_string().contains("missing field") => {
            let file = path.with_extension("mpk");
            let bytes = fs::read(&file).map_err(|e| error(&e))?;
            let Some(upgraded) = upgrade_legacy(&bytes) else {
                return Err(error(&e));
            };
            NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
                .load(upgraded, device)
                .map_err(|e| error(&e))
        }
        Err(e) => Err(error(&e)),
    }
}

/// The named-MessagePack record `bytes` with the fields of the paper's recipe that older files
/// lack added (see [`read_record`]); None when it does not decode.
fn upgrade_legacy(bytes: &[u8]) -> Option<Vec<u8>> {
    use rmpv::Value;
    fn has(map: &[(Value, Value)], key: &str) -> bool {
        map.iter().any(|(k, _)| k.as_str() == Some(key))
    }
    fn add(map: &mut Vec<(Value, Value)>, key: &str, value: Value) {
        if !has(map, key) {
            map.push((Value::from(key), value));
        }
    }
    fn walk(value: &mut Value) {
        match value {
            Value::Map(map) => {
                if has(map, "embed") && has(map, "core") && has(map, "lm_head") {
                    add(map, "prelude", Value::Array(Vec::new()));
                    add(map, "coda", Value::Array(Vec::new()));
                    add(map, "rope", Value::Nil);
                }
                if has(map, "blocks") && has(map, "rope") && !has(map, "embed") {
                    add(map, "adapter", Value::Nil);
                }
                if has(map, "mix") && has(map, "mlp") && has(map, "pre_norm") {
                    add(map, "sandwich", Value::Nil);
                }
                for (_, v) in map.iter_mut() {
                    walk(v);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = rmpv::decode::read_value(&mut &bytes[..]).ok()?;
    walk(&mut value);
    let mut out = Vec::with_capacity(bytes.len() + 64);
    rmpv::encode::write_value(&mut out, &value).ok()?;
    Some(out)
}

pub fn load_state<S: DeserializeOwned>(dir: &Path) -> Result<S> {
    let path = dir.join("state.json");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid training state", path.display()))
}

/// A record as the bytes burn's `.mpk` file recorder writes (named MessagePack), written and
/// fsynced by us: burn's writer turns a full disk into a MessagePack encoding error and leaves
/// its final flush unchecked; here the error names the file and the OS's reason.
fn write_record<B: Backend, R: Record<B>>(record: R, path: &Path) -> Result<()> {
    let bytes = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .record(record, ())
        .map_err(|e| anyhow::anyhow!("cannot encode {}: {e}", path.display()))?;
    write_synced(path, &bytes)
}

/// burn's load error as one line that says what is wrong: burn appends a hint about its 0.14
/// format change to every decoding error, which misleads for a file that is merely cut short.
fn one_line(s: &str) -> String {
    if s.contains("UnexpectedEof") {
        return "the file ends early: it is truncated (a copy cut short, or written on a full disk)"
            .into();
    }
    let s = s
        .split("The internal data format has changed")
        .next()
        .unwrap_or(s);
    let s = s
        .trim()
        .trim_start_matches("Unknown(\"")
        .trim_end_matches("\")");
    let s = s.replace("\\n", " ");
    let s = format!("not a readable checkpoint file ({})", s.trim());
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::tasks::text::TextLm;
    use burn::backend::Flex;

    /// A checkpoint of an earlier version (without the recurrent-depth fields) still loads, to the
    /// same weights: made here by removing those fields from a current file.
    #[test]
    fn checkpoints_without_the_recurrent_depth_fields_still_load() {
        let device = Default::default();
        let cfg = ModelConfig {
            d_model: 16,
            n_heads: 2,
            ffn_multiple: 8,
            ..Default::default()
        };
        let model = TextLm::<Flex>::new(&cfg, 11, 8, &device);
        let dir = std::env::temp_dir().join(format!("trm-legacy-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ema.mpk");
        write_record::<Flex, _>(model.clone().into_record(), &path).unwrap();
        let mut value = rmpv::decode::read_value(&mut &fs::read(&path).unwrap()[..]).unwrap();
        fn strip(value: &mut rmpv::Value, removed: &mut usize) {
            match value {
                rmpv::Value::Map(map) => {
                    let before = map.len();
                    let text_lm = map.iter().any(|(k, _)| k.as_str() == Some("lm_head"));
                    map.retain(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            Some("prelude" | "coda" | "adapter" | "sandwich")
                        ) && (!text_lm || k.as_str() != Some("rope"))
                    });
                    *removed += before - map.len();
                    map.iter_mut().for_each(|(_, v)| strip(v, removed));
                }
                rmpv::Value::Array(items) => items.iter_mut().for_each(|v| strip(v, removed)),
                _ => {}
            }
        }
        let mut removed = 0;
        strip(&mut value, &mut removed);
        // prelude, coda and rope of TextLm, adapter of Net, sandwich of its one block
        assert_eq!(removed, 5);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &value).unwrap();
        fs::write(&path, bytes).unwrap();
        let fresh = TextLm::<Flex>::new(&ModelConfig { seed: 9, ..cfg }, 11, 8, &device);
        let loaded = load_module(fresh, &dir, "ema", &device).unwrap();
        assert_eq!(
            loaded.embed_weights().into_data(),
            model.embed_weights().into_data()
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
