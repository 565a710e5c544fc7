//! Checkpoints: the whole state of a run between two steps, in one file of the `--out` folder
//! (`artifacts::CHECKPOINT_FILE`), from which `--resume` continues to the same bits as a run
//! never stopped. The file is safetensors: every persistent buffer of the executor (parameters,
//! optimizer state, the step counter of the random tensors, batch normalization's statistics)
//! as `state/NAME`, the best epoch's snapshot as `best/NAME`, and in the metadata, as JSON, the
//! driver's `Progress` (epochs and batches done, history, early stopping) and a `Fingerprint` of
//! everything that decides the result: the model file, the settings given on the command line
//! and each data file's size and checksum. The shuffle order is not stored: it is replayed from
//! the seed. Resuming with a different fingerprint is an error that names what changed; only
//! the number of epochs may change.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::{Executor, Progress};
use crate::artifacts::CHECKPOINT_FILE;
use crate::diag::Diagnostic;

/// The version of the file's layout; another is refused with a clear message.
const FORMAT: u32 = 1;
/// The metadata key of the JSON header.
const HEADER_KEY: &str = "nnc_checkpoint";

/// Everything that decides a run's result besides its number of epochs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The model file's text as read (before `--set`, which is among `settings`).
    pub model_text: String,
    /// The command-line settings that change the result, as (flag, value).
    pub settings: Vec<(String, String)>,
    /// Each data file read.
    pub data: Vec<DataFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// `data`, `test` or `validation`.
    pub role: String,
    pub path: String,
    /// Size and FNV-1a checksum, when the file is a regular file (a pipe cannot be read again).
    pub content: Option<(u64, String)>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    /// The epochs the run was set to when it wrote the checkpoint.
    epochs: usize,
    fingerprint: Fingerprint,
    progress: Progress,
}

/// A checkpoint read back.
pub struct Checkpoint {
    /// The epochs the run was set to.
    pub epochs: usize,
    pub fingerprint: Fingerprint,
    pub progress: Progress,
    /// The persistent buffers by name.
    pub state: Vec<(String, Vec<f32>)>,
    /// The best epoch's snapshot, in the order of `state` (empty without one).
    pub best: Vec<Vec<f32>>,
}

/// The file's bytes for a run at `progress` whose executor is `exec`.
pub fn encode(
    progress: &Progress,
    fingerprint: &Fingerprint,
    epochs: usize,
    exec: &dyn Executor,
) -> Vec<u8> {
    let state = exec.persistent();
    let best = exec.snapshot_values();
    let header = Header {
        format: FORMAT,
        epochs,
        fingerprint: fingerprint.clone(),
        progress: progress.clone(),
    };
    let header =
        serde_json::to_string(&header).expect("invariant: a checkpoint's header serializes");
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = state
        .iter()
        .map(|(name, v)| (format!("state/{name}"), v))
        .chain(
            best.iter()
                .zip(&state)
                .map(|(v, (name, _))| (format!("best/{name}"), v)),
        )
        .map(|(name, v)| {
            let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (name, vec![v.len()], data)
        })
        .collect();
    let views = bytes.iter().map(|(name, shape, data)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), data)
            .expect("invariant: a buffer's bytes are 4 per float");
        (name.as_str(), view)
    });
    let metadata = HashMap::from([(HEADER_KEY.to_string(), header)]);
    safetensors::serialize(views, Some(metadata))
        .expect("invariant: distinct tensor names serialize")
}

/// The checkpoint in `dir`, `None` when it has none.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>, Diagnostic> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(unreadable(
                &path,
                format!("cannot read it: {e}"),
                "check the folder's permissions",
            ))
        }
    };
    decode(&bytes).map(Some).map_err(|what| {
        unreadable(
            &path,
            what,
            "it is damaged or was written by another version of nnc; start the run again \
             without `--resume`",
        )
    })
}

fn unreadable(path: &Path, what: String, help: &str) -> Diagnostic {
    Diagnostic::new(
        "nnc::train::bad_checkpoint",
        format!("cannot resume from `{}`: {what}", path.display()),
    )
    .with_help(help.to_string())
}

fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a checkpoint ({e})"))?;
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a checkpoint ({e})"))?;
    let header = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(HEADER_KEY))
        .ok_or("not a checkpoint (no header)")?;
    let header: Header =
        serde_json::from_str(header).map_err(|e| format!("its header does not read: {e}"))?;
    if header.format != FORMAT {
        return Err(format!(
            "it has layout {}, this nnc reads layout {FORMAT}",
            header.format
        ));
    }
    let floats = |name: &str| -> Result<Vec<f32>, String> {
        let t = file
            .tensor(name)
            .map_err(|_| format!("tensor `{name}` is missing"))?;
        if t.dtype() != Dtype::F32 {
            return Err(format!("tensor `{name}` is not f32"));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let mut names: Vec<String> = file
        .names()
        .into_iter()
        .filter_map(|n| n.strip_prefix("state/").map(str::to_string))
        .collect();
    names.sort();
    let mut state = Vec::with_capacity(names.len());
    let mut best = Vec::new();
    for name in names {
        let values = floats(&format!("state/{name}"))?;
        if file.tensor(&format!("best/{name}")).is_ok() {
            best.push(floats(&format!("best/{name}"))?);
        }
        state.push((name, values));
    }
    if !best.is_empty() && best.len() != state.len() {
        return Err("its snapshot of the best epoch is incomplete".into());
    }
    Ok(Checkpoint {
        epochs: header.epochs,
        fingerprint: header.fingerprint,
        progress: header.progress,
        state,
        best,
    })
}

/// Put a checkpoint's buffers into `exec` (the snapshot in the executor's order); the name of a
/// buffer that does not fit, if any.
pub fn restore(c: &Checkpoint, exec: &mut dyn Executor) -> Result<(), String> {
    let order: Vec<String> = exec.persistent().into_iter().map(|(n, _)| n).collect();
    if order.len() != c.state.len() {
        return Err(format!(
            "it holds {} buffers, the model has {}",
            c.state.len(),
            order.len()
        ));
    }
    for (name, values) in &c.state {
        if !exec.set_persistent(name, values) {
            return Err(format!("its buffer `{name}` does not fit the model"));
        }
    }
    if !c.best.is_empty() {
        // `c.best` follows `c.state`'s (sorted) order; the executor wants its own.
        let by_name: HashMap<&str, &Vec<f32>> = c
            .state
            .iter()
            .map(|(n, _)| n.as_str())
            .zip(&c.best)
            .collect();
        let best: Option<Vec<Vec<f32>>> = order
            .iter()
            .map(|n| by_name.get(n.as_str()).map(|v| (*v).clone()))
            .collect();
        if !best.is_some_and(|b| exec.set_snapshot_values(b)) {
            return Err("its snapshot of the best epoch does not fit the model".into());
        }
    }
    Ok(())
}

const SAME_SETTINGS: &str = "give the same settings as the run that wrote the checkpoint (only \
                             `--epochs` may change), or start again without `--resume`";
const SAME_DATA: &str =
    "resume with the data the run was started with, or start again without `--resume`";

/// Check that a run may continue from `saved`: the same model (but for its epochs), settings
/// and data. The error names the first thing that changed.
pub fn compare(dir: &Path, saved: &Fingerprint, now: &Fingerprint) -> Result<(), Diagnostic> {
    let changed = |what: String, help: &str| {
        Diagnostic::new(
            "nnc::train::checkpoint_mismatch",
            format!(
                "cannot resume from `{}`: {what} since the checkpoint",
                dir.display()
            ),
        )
        .with_help(help.to_string())
    };
    if saved.model_text != now.model_text
        && without_epochs(&saved.model_text) != without_epochs(&now.model_text)
    {
        let line = first_difference(&saved.model_text, &now.model_text);
        return Err(changed(
            format!("the model file changed (first at line {line})"),
            "a checkpoint continues the run that wrote it: undo the change, or start again \
             without `--resume` (only `epochs` may change)",
        ));
    }
    for (flag, value) in &saved.settings {
        let current = now.settings.iter().find(|(f, _)| f == flag).map(|(_, v)| v);
        if current != Some(value) {
            return Err(changed(
                format!(
                    "`{flag}` changed (was {value}, is {})",
                    current.map_or("not given".into(), |v| v.clone())
                ),
                SAME_SETTINGS,
            ));
        }
    }
    if let Some((flag, value)) = now
        .settings
        .iter()
        .find(|(f, _)| !saved.settings.iter().any(|(g, _)| g == f))
    {
        return Err(changed(
            format!("`{flag}` was added ({value})"),
            SAME_SETTINGS,
        ));
    }
    for (old, new) in saved.data.iter().zip(&now.data) {
        if old.path != new.path || old.role != new.role {
            return Err(changed(
                format!(
                    "the {} file changed from `{}` to `{}`",
                    old.role, old.path, new.path
                ),
                SAME_DATA,
            ));
        }
        if old.content != new.content {
            return Err(changed(
                format!(
                    "the content of the {} file `{}` changed",
                    old.role, old.path
                ),
                SAME_DATA,
            ));
        }
    }
    if saved.data.len() != now.data.len() {
        return Err(changed(
            format!(
                "the run read {} data files and now reads {}",
                saved.data.len(),
                now.data.len()
            ),
            SAME_DATA,
        ));
    }
    Ok(())
}

/// The text with the `train` block's `epochs` set to one value (`set`), so that two files that
/// differ only there compare equal.
fn without_epochs(text: &str) -> Option<String> {
    let source = crate::diag::Source::new("model.nn", text);
    let edited = crate::set::apply(&source, &["train.epochs=1".to_string()]).ok()?;
    Some(edited.source.text.to_string())
}

/// The number of the first line where two texts differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut lines = a.lines().zip(b.lines());
    lines
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(text: &str) -> Fingerprint {
        Fingerprint {
            model_text: text.into(),
            settings: vec![("--seed".into(), "3".into())],
            data: vec![DataFile {
                role: "data".into(),
                path: "d.csv".into(),
                content: Some((10, "00ff".into())),
            }],
        }
    }

    #[test]
    fn what_is_not_a_checkpoint_is_an_error() {
        assert!(decode(b"damaged\n").is_err());
        let data = [0u8; 4];
        let view = TensorView::new(Dtype::F32, vec![1], &data).unwrap();
        for header in ["{}", "[1, 2]", "{\"format\": 1}", ""] {
            let meta = HashMap::from([(HEADER_KEY.to_string(), header.to_string())]);
            let bytes = safetensors::serialize([("state/w", view.clone())], Some(meta)).unwrap();
            let e = decode(&bytes).err().expect("refused");
            assert!(e.contains("header"), "{e}");
            // Cut anywhere, it is refused too.
            for cut in [0, 1, 8, bytes.len() / 2, bytes.len() - 1] {
                assert!(decode(&bytes[..cut]).is_err());
            }
        }
    }

    #[test]
    fn only_the_epochs_may_change() {
        let dir = Path::new("out");
        let text = "model {\n  input(2)\n  output(1)\n}\nloss: mse\ntrain {\n  epochs: 5\n}\n";
        let more = text.replace("epochs: 5", "epochs: 50");
        assert!(compare(dir, &fingerprint(text), &fingerprint(&more)).is_ok());
        let other = text.replace("input(2)", "input(3)");
        let e = compare(dir, &fingerprint(text), &fingerprint(&other)).unwrap_err();
        assert!(
            e.message.contains("model file changed (first at line 2)"),
            "{}",
            e.message
        );
        let mut seed = fingerprint(text);
        seed.settings[0].1 = "4".into();
        let e = compare(dir, &fingerprint(text), &seed).unwrap_err();
        assert!(
            e.message.contains("`--seed` changed (was 3, is 4)"),
            "{}",
            e.message
        );
        let mut data = fingerprint(text);
        data.data[0].content = Some((10, "00fe".into()));
        let e = compare(dir, &fingerprint(text), &data).unwrap_err();
        assert!(
            e.message.contains("content of the data file `d.csv`"),
            "{}",
            e.message
        );
        assert_eq!(e.code, "nnc::train::checkpoint_mismatch");
    }
}
