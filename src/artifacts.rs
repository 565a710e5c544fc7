//! A trained model saved as a directory, so that `nnc predict DIR` and `nnc eval DIR` can use it
//! later without the training data. This module owns the directory's layout and both directions:
//! `save` writes the weights (`model.safetensors`, F32), the model's text (`model.nn`), the fitted
//! preprocessing (`preprocessing.json`, opaque here), any extra human-facing files (metrics, plots)
//! and last the manifest `nnc-model.json`, which records the format version, the nnc version, the
//! `.nn` file's original name, the tensors' order (safetensors sorts names) and every file's size
//! and FNV-1a checksum; `load` checks the manifest and the files it uses (weights, text and
//! preprocessing), and turns every problem into a diagnostic. The other files are for people:
//! `load` never opens them, so a large `history.csv` costs nothing to a prediction.
//!
//! Saving is atomic so that an interrupted save (a crash, a full disk, Ctrl-C) never leaves a
//! directory that loads but is incomplete: everything is written and fsynced in a fresh hidden
//! sibling directory, which is then renamed into place in one step. An existing model directory
//! (or an empty one) is renamed aside first and removed only once the new one is in place; any
//! other existing folder is refused, never deleted. The manifest is what makes a directory a
//! model, and its sizes and checksums make any later damage to the files (truncation, an edited
//! byte) a `nnc::model::corrupt` error instead of wrong predictions.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::diag::Diagnostic;

/// The version of the directory layout and manifest. A directory with another version is refused
/// (`nnc::model::incompatible`) rather than guessed at.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest: its presence makes a directory an nnc model directory.
pub const MANIFEST_FILE: &str = "nnc-model.json";
/// The state of a run to continue from (`train::checkpoint`), written into the model directory
/// during training and kept in it when the model is saved.
pub const CHECKPOINT_FILE: &str = "checkpoint.nnc";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const SOURCE_FILE: &str = "model.nn";
pub const PREPROCESSING_FILE: &str = "preprocessing.json";

const RESERVED_FILES: [&str; 4] = [MANIFEST_FILE, WEIGHTS_FILE, SOURCE_FILE, PREPROCESSING_FILE];

/// Manifests are small; a larger file under that name is not one of ours.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// The most bytes of weights `load` reads: the largest model nnc builds has 2^30 parameters
/// (4 GiB as F32), and twice that leaves room for its statistics and the header. A manifest that
/// lists a larger weights file is refused before anything is read.
pub const MAX_WEIGHTS_BYTES: u64 = 8 << 30;

/// The most bytes `load` reads of the model's text or of its fitted preprocessing (a file of a
/// million columns fits).
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// The files `load` reads, each with the most bytes it reads of it; the manifest lists others
/// (metrics, history, plots), which it does not open.
const USED_FILES: [(&str, u64); 3] = [
    (WEIGHTS_FILE, MAX_WEIGHTS_BYTES),
    (SOURCE_FILE, MAX_TEXT_BYTES),
    (PREPROCESSING_FILE, MAX_TEXT_BYTES),
];

pub const NOT_FOUND: &str = "nnc::model::not_found";
pub const NOT_A_MODEL: &str = "nnc::model::not_a_model";
pub const INCOMPATIBLE: &str = "nnc::model::incompatible";
pub const CORRUPT: &str = "nnc::model::corrupt";
pub const UNREADABLE: &str = "nnc::model::unreadable";
pub const WOULD_OVERWRITE: &str = "nnc::model::would_overwrite";
pub const INVALID: &str = "nnc::model::invalid";
pub const WRITE_FAILED: &str = "nnc::model::write_failed";

/// One trained parameter: row-major data of the given shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Everything needed to use a trained model without its training data.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedModel {
    /// The `.nn` file's original name (e.g. `iris.nn`), for messages; stored as `model.nn`.
    pub model_file_name: String,
    /// The `.nn` text the model was trained from.
    pub model_source: String,
    /// The fitted preprocessing (feature scaling, class names, ...), opaque to this module.
    pub preprocessing: serde_json::Value,
    /// The trained weights, in the order the program declares them.
    pub tensors: Vec<Tensor>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    nnc_version: String,
    model_file_name: String,
    /// Tensor names in declaration order.
    tensors: Vec<String>,
    files: Vec<FileEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct FileEntry {
    name: String,
    size: u64,
    /// 64-bit FNV-1a of the file's bytes, as 16 lowercase hex digits.
    fnv1a64: String,
}

/// 64-bit FNV-1a, fed in pieces. Not a cryptographic hash: it detects accidental damage, and
/// any single changed byte changes it (each step is a bijection of the state).
struct Fnv1a64(u64);

impl Fnv1a64 {
    fn new() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// As the manifest writes it: 16 lowercase hex digits.
    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

fn checksum(bytes: &[u8]) -> String {
    let mut hash = Fnv1a64::new();
    hash.update(bytes);
    hash.hex()
}

/// A reader that hashes the bytes that pass through it, so that a file is checked as it is read.
struct Hashing<R> {
    inner: R,
    hash: Fnv1a64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A name that stays inside the directory: no separators, not `.` or `..`, not empty.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some_and(|n| n == name)
}

// ---------------------------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------------------------

/// Save `model` as the directory `dir`, with `extra` files (name → bytes) alongside. Atomic: `dir`
/// either keeps what it held before or holds the complete new model. An existing `dir` is replaced
/// only if it is empty or is an nnc model directory.
pub fn save(dir: &Path, model: &SavedModel, extra: &[(&str, Vec<u8>)]) -> Result<(), Diagnostic> {
    let files = encode(model, extra)?;
    let (parent, name) = split_target(dir)?;
    check_replaceable(dir)?;
    fs::create_dir_all(&parent)
        .map_err(|e| write_failed(dir, format!("cannot create `{}`", parent.display()), e))?;

    let mut staging = Staging::create(&parent, &name)
        .map_err(|e| write_failed(dir, "cannot create a temporary directory next to it", e))?;
    for (file, bytes) in &files {
        write_synced(&staging.path.join(file), bytes)
            .map_err(|e| write_failed(dir, format!("cannot write `{file}`"), e))?;
    }
    sync_dir(&staging.path);

    install(&mut staging, dir, &parent, &name)
}

/// The files of the directory, manifest last, as (name, bytes).
fn encode(
    model: &SavedModel,
    extra: &[(&str, Vec<u8>)],
) -> Result<Vec<(String, Vec<u8>)>, Diagnostic> {
    let mut names = HashSet::new();
    for t in &model.tensors {
        if !names.insert(t.name.as_str()) {
            return Err(invalid(format!("two tensors are named `{}`", t.name)));
        }
        if t.name == "__metadata__" {
            return Err(invalid(
                "a tensor cannot be named `__metadata__` (reserved by safetensors)",
            ));
        }
        let elements = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements != Some(t.data.len()) {
            return Err(invalid(format!(
                "tensor `{}` has shape {:?} but {} values",
                t.name,
                t.shape,
                t.data.len()
            )));
        }
    }
    let mut extra_names = HashSet::new();
    for (name, _) in extra {
        if !is_plain_file_name(name) || RESERVED_FILES.contains(name) {
            return Err(invalid(format!(
                "`{name}` cannot be an extra file of a model directory"
            )));
        }
        if !extra_names.insert(*name) {
            return Err(invalid(format!("two extra files are named `{name}`")));
        }
    }

    let bytes: Vec<Vec<u8>> = model
        .tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = model
        .tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|view| (t.name.as_str(), view))
                .map_err(|e| invalid(format!("tensor `{}`: {e}", t.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let weights = safetensors::serialize(views, None)
        .map_err(|e| invalid(format!("cannot encode the weights: {e}")))?;
    let preprocessing = serde_json::to_vec_pretty(&model.preprocessing)
        .map_err(|e| invalid(format!("cannot encode the preprocessing: {e}")))?;

    let mut files = vec![
        (WEIGHTS_FILE.to_string(), weights),
        (
            SOURCE_FILE.to_string(),
            model.model_source.clone().into_bytes(),
        ),
        (PREPROCESSING_FILE.to_string(), preprocessing),
    ];
    // What `load` would refuse to read is not written.
    for (name, max) in USED_FILES {
        let Some((_, bytes)) = files.iter().find(|(n, _)| n == name) else {
            continue;
        };
        if bytes.len() as u64 > max {
            return Err(invalid(format!(
                "`{name}` would have {} bytes, and a model's has at most {max}",
                bytes.len()
            )));
        }
    }
    files.extend(extra.iter().map(|(n, b)| (n.to_string(), b.clone())));

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        nnc_version: env!("CARGO_PKG_VERSION").to_string(),
        model_file_name: model.model_file_name.clone(),
        tensors: model.tensors.iter().map(|t| t.name.clone()).collect(),
        files: files
            .iter()
            .map(|(name, b)| FileEntry {
                name: name.clone(),
                size: b.len() as u64,
                fnv1a64: checksum(b),
            })
            .collect(),
    };
    // No trailing newline: then any manifest cut short is invalid JSON.
    let manifest = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| invalid(format!("cannot encode the manifest: {e}")))?;
    files.push((MANIFEST_FILE.to_string(), manifest));
    Ok(files)
}

/// The directory `dir` lives in and its own name.
fn split_target(dir: &Path) -> Result<(PathBuf, OsString), Diagnostic> {
    let Some(name) = dir.file_name() else {
        return Err(Diagnostic::new(
            INVALID,
            format!("`{}` does not name a directory to save into", dir.display()),
        )
        .with_help("give the model directory a name, e.g. `runs/iris`"));
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_os_string()))
}

/// Refuse to replace anything but nothing, an empty directory or an nnc model directory.
fn check_replaceable(dir: &Path) -> Result<(), Diagnostic> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(write_failed(dir, "cannot inspect it", e)),
    };
    let refuse = |what: String| {
        Diagnostic::new(
            WOULD_OVERWRITE,
            format!(
                "`{}` {what}; refusing to replace it with a model directory",
                dir.display()
            ),
        )
        .with_help(
            "save to a new directory name; an existing directory is replaced only if it is \
             empty or holds a model saved by nnc",
        )
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(refuse("exists and is a file".into()));
    }
    let entries = list_entries(dir).map_err(|e| write_failed(dir, "cannot list it", e))?;
    // A run writes its checkpoints into the directory before its model exists.
    let checkpoint_only = entries.iter().all(|e| is_checkpoint_file(e));
    if entries.is_empty()
        || checkpoint_only
        || fs::symlink_metadata(dir.join(MANIFEST_FILE)).is_ok_and(|m| m.is_file())
    {
        return Ok(());
    }
    Err(refuse(format!(
        "exists and is not an nnc model directory (it holds {})",
        describe_entries(&entries)
    )))
}

/// The checkpoint, or a temporary file of one being written (`write_checkpoint`).
fn is_checkpoint_file(name: &str) -> bool {
    name == CHECKPOINT_FILE || name.starts_with(&format!(".{CHECKPOINT_FILE}."))
}

/// Check, before a run trains, that its model can be saved as `dir`: what `save` would refuse
/// (a file, a link, a folder of other things) is refused now, not after the training.
pub fn check_target(dir: &Path) -> Result<(), Diagnostic> {
    split_target(dir)?;
    check_replaceable(dir)
}

/// Write `bytes` as `dir`'s checkpoint, atomically: into a temporary file beside it, synced, then
/// renamed over the previous checkpoint, so that a crash at any moment leaves the previous one or
/// the new one, whole. `dir` is created when missing; the model files in it are not touched.
pub fn write_checkpoint(dir: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    let failed = |what: &str, e: io::Error| {
        Diagnostic::new(
            WRITE_FAILED,
            format!(
                "cannot write the checkpoint into `{}`: {what}: {e}",
                dir.display()
            ),
        )
        .with_help(
            "check that the folder is writable and the disk has room; the previous checkpoint \
             and model in it are kept",
        )
    };
    check_replaceable(dir)?;
    fs::create_dir_all(dir).map_err(|e| failed("cannot create the folder", e))?;
    let temporary = dir.join(format!(".{CHECKPOINT_FILE}.{}", std::process::id()));
    let _ = fs::remove_file(&temporary);
    let written = write_synced(&temporary, bytes)
        .and_then(|()| fs::rename(&temporary, dir.join(CHECKPOINT_FILE)));
    if let Err(e) = written {
        let _ = fs::remove_file(&temporary);
        return Err(failed("cannot write it", e));
    }
    sync_dir(dir);
    Ok(())
}

/// The size and FNV-1a checksum of a regular file, read in pieces, or of a folder of Parquet
/// part files (their names and contents, in reading order); `None` for anything else (a pipe
/// cannot be read twice) or a file that cannot be read.
pub fn file_fingerprint(path: &Path) -> Option<(u64, String)> {
    let mut hash = Fnv1a64::new();
    let mut size = 0;
    let files = match fs::metadata(path).ok()?.is_dir() {
        true => crate::data::part_files(path)?,
        false => vec![path.to_path_buf()],
    };
    for file_path in &files {
        // Looked at before opening: opening a FIFO waits for a writer.
        if !fs::metadata(file_path).ok()?.is_file() {
            return None;
        }
        let file = File::open(file_path).ok()?;
        if files.len() > 1 || file_path != path {
            hash.update(file_path.file_name()?.as_encoded_bytes());
        }
        let mut reader = Hashing {
            inner: io::BufReader::with_capacity(1 << 20, file),
            hash,
        };
        size += io::copy(&mut reader, &mut io::sink()).ok()?;
        hash = reader.hash;
    }
    Some((size, hash.hex()))
}

/// Put the staged directory at `dir`, moving an existing one aside first and removing it after.
fn install(
    staging: &mut Staging,
    dir: &Path,
    parent: &Path,
    name: &OsString,
) -> Result<(), Diagnostic> {
    check_replaceable(dir)?;
    if fs::symlink_metadata(dir).is_err() {
        fs::rename(&staging.path, dir)
            .map_err(|e| write_failed(dir, "cannot move the new model into place", e))?;
        staging.disarm();
        sync_dir(parent);
        return Ok(());
    }

    let aside = unused_sibling(parent, name, "old")
        .map_err(|e| write_failed(dir, "cannot choose a name to move the old model aside", e))?;
    fs::rename(dir, &aside).map_err(|e| write_failed(dir, "cannot move the old model aside", e))?;
    if let Err(e) = fs::rename(&staging.path, dir) {
        // Put the old model back; if even that fails it stays whole under the hidden name.
        let _ = fs::rename(&aside, dir);
        return Err(write_failed(dir, "cannot move the new model into place", e));
    }
    staging.disarm();
    sync_dir(parent);
    // The new model is complete and in place; a failure to delete the old one only leaves a
    // hidden sibling behind.
    let _ = fs::remove_dir_all(&aside);
    Ok(())
}

static SIBLING_COUNTER: AtomicU64 = AtomicU64::new(0);

fn sibling_name(parent: &Path, name: &OsString, kind: &str) -> PathBuf {
    let n = SIBLING_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hidden = OsString::from(".");
    hidden.push(name);
    hidden.push(format!(".{kind}-{}-{n}", std::process::id()));
    parent.join(hidden)
}

fn unused_sibling(parent: &Path, name: &OsString, kind: &str) -> io::Result<PathBuf> {
    for _ in 0..1000 {
        let path = sibling_name(parent, name, kind);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(path),
            Err(e) => return Err(e),
            Ok(_) => continue,
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "every candidate name is taken",
    ))
}

/// A fresh hidden sibling directory that is removed on drop unless it was moved into place.
struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Staging {
    fn create(parent: &Path, name: &OsString) -> io::Result<Staging> {
        for _ in 0..1000 {
            let path = sibling_name(parent, name, "tmp");
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Staging { path, armed: true }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "every candidate name is taken",
        ))
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create_new(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Make a directory's entries durable where the platform allows opening a directory; elsewhere
/// (and on file systems that refuse) this is a no-op.
fn sync_dir(path: &Path) {
    if let Ok(dir) = File::open(path) {
        let _ = dir.sync_all();
    }
}

fn invalid(what: impl Into<String>) -> Diagnostic {
    Diagnostic::new(INVALID, format!("cannot save the model: {}", what.into()))
        .with_help("this is a bug in the caller of the model writer; nothing was written")
}

fn write_failed(dir: &Path, what: impl Into<String>, e: io::Error) -> Diagnostic {
    Diagnostic::new(
        WRITE_FAILED,
        format!(
            "cannot save the model to `{}`: {}: {e}",
            dir.display(),
            what.into()
        ),
    )
    .with_help(
        "check that the location is writable and the disk has room; whatever was at that path \
         before is kept unless the new model was saved completely",
    )
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Load a model directory written by `save`, checking every file against the manifest.
pub fn load(dir: &Path) -> Result<SavedModel, Diagnostic> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Diagnostic::new(
                NOT_FOUND,
                format!("the model directory `{}` does not exist", dir.display()),
            )
            .with_help("pass the directory a trained model was saved to"));
        }
        Err(e) => return Err(unreadable(dir, &dir.display().to_string(), e)),
    };
    if !meta.is_dir() {
        return Err(not_a_model(dir, "it is a file, not a directory".into()));
    }

    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest_bytes = match read_manifest(&manifest_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let holds = match list_entries(dir) {
                Ok(entries) => format!("it holds {}", describe_entries(&entries)),
                Err(e) => format!("its contents cannot be listed: {e}"),
            };
            return Err(not_a_model(
                dir,
                format!("it has no `{MANIFEST_FILE}`; {holds}"),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(corrupt(dir, MANIFEST_FILE, e.to_string()));
        }
        Err(e) => return Err(unreadable(dir, MANIFEST_FILE, e)),
    };
    let manifest = parse_manifest(dir, &manifest_bytes)?;

    let mut seen = HashSet::new();
    for entry in &manifest.files {
        if !is_plain_file_name(&entry.name) || entry.name == MANIFEST_FILE {
            return Err(corrupt(
                dir,
                MANIFEST_FILE,
                format!(
                    "lists `{}`, which is not a file name it may list",
                    entry.name
                ),
            ));
        }
        if !seen.insert(entry.name.as_str()) {
            return Err(corrupt(
                dir,
                MANIFEST_FILE,
                format!("lists `{}` twice", entry.name),
            ));
        }
    }
    let [weights, source, preprocessing] = USED_FILES.map(|(file, max)| {
        let entry = manifest
            .files
            .iter()
            .find(|e| e.name == file)
            .ok_or_else(|| {
                corrupt(
                    dir,
                    MANIFEST_FILE,
                    format!("does not list `{file}`, which every model directory has"),
                )
            })?;
        read_checked(dir, entry, max)
    });
    let (weights, source, preprocessing) = (weights?, source?, preprocessing?);

    let tensors = decode_weights(dir, &manifest.tensors, &weights)?;
    let model_source = String::from_utf8(source)
        .map_err(|e| corrupt(dir, SOURCE_FILE, format!("is not UTF-8 text: {e}")))?;
    let preprocessing = serde_json::from_slice(&preprocessing)
        .map_err(|e| corrupt(dir, PREPROCESSING_FILE, format!("is not valid JSON: {e}")))?;

    Ok(SavedModel {
        model_file_name: manifest.model_file_name,
        model_source,
        preprocessing,
        tensors,
    })
}

fn read_manifest(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is larger than {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// The version is checked before the rest, so that a future layout is reported as such rather
/// than as damage.
fn parse_manifest(dir: &Path, bytes: &[u8]) -> Result<Manifest, Diagnostic> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(dir, MANIFEST_FILE, format!("is not valid JSON: {e}")))?;
    let Some(version) = value.get("format_version") else {
        return Err(corrupt(
            dir,
            MANIFEST_FILE,
            "has no `format_version`".into(),
        ));
    };
    let Some(version) = version.as_u64() else {
        return Err(corrupt(
            dir,
            MANIFEST_FILE,
            format!("has a `format_version` that is not a version number: {version}"),
        ));
    };
    if version != u64::from(FORMAT_VERSION) {
        let saved_by = value
            .get("nnc_version")
            .and_then(|v| v.as_str())
            .map(|v| format!(" by nnc {v}"))
            .unwrap_or_default();
        return Err(Diagnostic::new(
            INCOMPATIBLE,
            format!(
                "the model in `{}` was saved{saved_by} in model format version {version}; this \
                 nnc ({}) reads format version {FORMAT_VERSION}",
                dir.display(),
                env!("CARGO_PKG_VERSION"),
            ),
        )
        .with_help(
            "use the nnc version that saved it, or train and save the model again with this one",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        corrupt(
            dir,
            MANIFEST_FILE,
            format!("does not describe a model: {e}"),
        )
    })
}

/// A listed file's bytes, checked against the manifest's size and checksum, the checksum computed
/// as the bytes are read. The sizes are checked before reading, so that a huge replacement file
/// (or a manifest's claim of one above `max`) is not read, and nothing is allocated from the
/// manifest's numbers alone.
fn read_checked(dir: &Path, entry: &FileEntry, max: u64) -> Result<Vec<u8>, Diagnostic> {
    if entry.size > max {
        return Err(corrupt(
            dir,
            MANIFEST_FILE,
            format!(
                "lists `{}` with {} bytes; a model's `{}` has at most {max}",
                entry.name, entry.size, entry.name
            ),
        ));
    }
    let path = dir.join(&entry.name);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(corrupt(dir, &entry.name, "is missing".into()));
        }
        Err(e) => return Err(unreadable(dir, &entry.name, e)),
    };
    if !meta.is_file() {
        return Err(corrupt(dir, &entry.name, "is not a file".into()));
    }
    let size_mismatch = |actual: u64| {
        corrupt(
            dir,
            &entry.name,
            format!(
                "has {actual} bytes but was saved with {} (cut short or changed)",
                entry.size
            ),
        )
    };
    if meta.len() != entry.size {
        return Err(size_mismatch(meta.len()));
    }
    let mut bytes = Vec::new();
    let mut reader = File::open(&path)
        .map(|f| Hashing {
            inner: f.take(entry.size.saturating_add(1)),
            hash: Fnv1a64::new(),
        })
        .map_err(|e| unreadable(dir, &entry.name, e))?;
    bytes.try_reserve_exact(meta.len() as usize).map_err(|e| {
        unreadable(
            dir,
            &entry.name,
            io::Error::new(io::ErrorKind::OutOfMemory, e),
        )
    })?;
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(dir, &entry.name, e))?;
    if bytes.len() as u64 != entry.size {
        return Err(size_mismatch(bytes.len() as u64));
    }
    let actual = reader.hash.hex();
    if actual != entry.fnv1a64 {
        return Err(corrupt(
            dir,
            &entry.name,
            format!(
                "has checksum {actual} but was saved with {} (its contents changed)",
                entry.fnv1a64
            ),
        ));
    }
    Ok(bytes)
}

fn decode_weights(dir: &Path, order: &[String], bytes: &[u8]) -> Result<Vec<Tensor>, Diagnostic> {
    let bad = |detail: String| corrupt(dir, WEIGHTS_FILE, detail);
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("is not a valid safetensors file: {e}")))?;

    let mut listed = HashSet::new();
    for name in order {
        if !listed.insert(name.as_str()) {
            return Err(corrupt(
                dir,
                MANIFEST_FILE,
                format!("lists tensor `{name}` twice"),
            ));
        }
    }
    let mut stored = file.names();
    stored.sort_unstable();
    if let Some(extra) = stored.iter().find(|n| !listed.contains(**n)) {
        return Err(bad(format!(
            "holds a tensor `{extra}` that the manifest does not list"
        )));
    }

    order
        .iter()
        .map(|name| {
            let view = file
                .tensor(name)
                .map_err(|_| bad(format!("has no tensor `{name}`")))?;
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "stores tensor `{name}` as {}, not F32",
                    view.dtype()
                )));
            }
            let shape = view.shape().to_vec();
            let expected = shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .and_then(|n| n.checked_mul(4));
            if expected != Some(view.data().len()) {
                return Err(bad(format!(
                    "stores tensor `{name}` with shape {shape:?} but {} bytes of data",
                    view.data().len()
                )));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok(Tensor {
                name: name.clone(),
                shape,
                data,
            })
        })
        .collect()
}

/// The entries of a directory, sorted by name.
fn list_entries(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// "nothing", "`a.csv`" or "3 entries: `a`, `b`, `c`", naming at most five.
fn describe_entries(entries: &[String]) -> String {
    const SHOWN: usize = 5;
    match entries {
        [] => "nothing".into(),
        [one] => format!("only `{one}`"),
        _ => {
            let mut named: Vec<String> = entries
                .iter()
                .take(SHOWN)
                .map(|e| format!("`{e}`"))
                .collect();
            if entries.len() > SHOWN {
                named.push(format!("and {} more", entries.len() - SHOWN));
            }
            format!("{} entries: {}", entries.len(), named.join(", "))
        }
    }
}

fn not_a_model(dir: &Path, why: String) -> Diagnostic {
    Diagnostic::new(
        NOT_A_MODEL,
        format!("`{}` is not an nnc model directory: {why}", dir.display()),
    )
    .with_help(format!(
        "pass the directory a trained model was saved to; it contains `{MANIFEST_FILE}`"
    ))
}

fn corrupt(dir: &Path, file: &str, detail: String) -> Diagnostic {
    Diagnostic::new(
        CORRUPT,
        format!(
            "the model in `{}` is damaged: `{file}` {detail}",
            dir.display()
        ),
    )
    .with_help(
        "its files changed after it was saved (edited, cut short or replaced); train and save \
         the model again, or restore the directory from a copy",
    )
}

fn unreadable(dir: &Path, file: &str, e: io::Error) -> Diagnostic {
    Diagnostic::new(
        UNREADABLE,
        format!(
            "cannot read `{file}` of the model in `{}`: {e}",
            dir.display()
        ),
    )
    .with_help("check the permissions of the directory and its files")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A fresh path under the system's temporary directory, removed (with whatever is there) when
    /// dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Scratch {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "nnc-artifacts-test-{label}-{}-{n}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Scratch(path)
        }

        /// The model directory inside the scratch directory (not created).
        fn model(&self) -> PathBuf {
            self.0.join("model")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn sample() -> SavedModel {
        SavedModel {
            model_file_name: "iris.nn".into(),
            model_source: "model iris {\n  input(4)\n  dense(3)\n}\n".into(),
            preprocessing: json!({"mean": [5.8, 3.0], "classes": ["setosa", "versicolor"]}),
            // Declaration order differs from sorted order on purpose.
            tensors: vec![
                Tensor {
                    name: "w1".into(),
                    shape: vec![2, 3],
                    data: vec![
                        -0.0,
                        0.0,
                        f32::from_bits(1),            // smallest subnormal
                        f32::MIN_POSITIVE / 3.0,      // subnormal
                        -f32::from_bits(0x007f_ffff), // largest negative subnormal
                        f32::MAX,
                    ],
                },
                Tensor {
                    name: "b1".into(),
                    shape: vec![3],
                    data: vec![f32::INFINITY, f32::NEG_INFINITY, 1.0e-30],
                },
                Tensor {
                    name: "a0".into(),
                    shape: vec![1, 1],
                    data: vec![std::f32::consts::PI],
                },
                Tensor {
                    name: "empty".into(),
                    shape: vec![0, 4],
                    data: vec![],
                },
            ],
        }
    }

    fn extras() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("metrics.json", b"{\"accuracy\": 0.97}\n".to_vec()),
            ("history.csv", b"epoch,loss\n1,0.5\n".to_vec()),
            ("loss.svg", b"<svg></svg>\n".to_vec()),
        ]
    }

    fn saved(scratch: &Scratch) -> PathBuf {
        let dir = scratch.model();
        save(&dir, &sample(), &extras()).unwrap();
        dir
    }

    fn bits(model: &SavedModel) -> Vec<(String, Vec<usize>, Vec<u32>)> {
        model
            .tensors
            .iter()
            .map(|t| {
                let b = t.data.iter().map(|x| x.to_bits()).collect();
                (t.name.clone(), t.shape.clone(), b)
            })
            .collect()
    }

    fn code_of(result: Result<SavedModel, Diagnostic>) -> &'static str {
        match result {
            Ok(_) => "loaded",
            Err(d) => d.code,
        }
    }

    fn manifest_of(dir: &Path) -> Manifest {
        serde_json::from_slice(&fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap()
    }

    /// Rewrite the manifest so that its sizes and checksums match the files as they are now:
    /// reaches the checks behind the checksum (safetensors parsing, tensor lookup, JSON).
    fn reseal(dir: &Path) {
        let mut manifest = manifest_of(dir);
        for entry in &mut manifest.files {
            let bytes = fs::read(dir.join(&entry.name)).unwrap();
            entry.size = bytes.len() as u64;
            entry.fnv1a64 = checksum(&bytes);
        }
        fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
    }

    fn siblings(scratch: &Scratch) -> Vec<String> {
        list_entries(&scratch.0).unwrap()
    }

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(checksum(b""), "cbf29ce484222325");
        assert_eq!(checksum(b"a"), "af63dc4c8601ec8c");
        assert_eq!(checksum(b"foobar"), "85944171f73967e8");
        // Fed in pieces, as a file is read, the same.
        let mut hash = Fnv1a64::new();
        hash.update(b"foo");
        hash.update(b"");
        hash.update(b"bar");
        assert_eq!(hash.hex(), "85944171f73967e8");
    }

    #[test]
    fn round_trip_is_bit_identical() {
        let scratch = Scratch::new("roundtrip");
        let dir = saved(&scratch);
        let loaded = load(&dir).unwrap();
        let original = sample();
        assert_eq!(bits(&loaded), bits(&original));
        assert_eq!(loaded.model_file_name, original.model_file_name);
        assert_eq!(loaded.model_source, original.model_source);
        assert_eq!(loaded.preprocessing, original.preprocessing);
        assert_eq!(
            fs::read(dir.join(SOURCE_FILE)).unwrap(),
            original.model_source.as_bytes()
        );
        for (name, bytes) in extras() {
            assert_eq!(fs::read(dir.join(name)).unwrap(), bytes);
        }
        let manifest = manifest_of(&dir);
        assert_eq!(manifest.format_version, FORMAT_VERSION);
        assert_eq!(manifest.nnc_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(manifest.model_file_name, "iris.nn");
        // Only the model directory: the temporary one was renamed into place.
        assert_eq!(siblings(&scratch), ["model"]);
    }

    #[test]
    fn tensor_order_is_preserved() {
        let scratch = Scratch::new("order");
        let dir = scratch.model();
        let mut model = sample();
        model.tensors.reverse();
        model.tensors.rotate_left(1);
        let names: Vec<String> = model.tensors.iter().map(|t| t.name.clone()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_ne!(names, sorted, "the test needs an unsorted order");
        save(&dir, &model, &[]).unwrap();
        let loaded = load(&dir).unwrap();
        let loaded_names: Vec<String> = loaded.tensors.iter().map(|t| t.name.clone()).collect();
        assert_eq!(loaded_names, names);
        assert_eq!(bits(&loaded), bits(&model));
    }

    #[test]
    fn a_model_without_tensors_or_extras_round_trips() {
        let scratch = Scratch::new("empty-model");
        let dir = scratch.model();
        let model = SavedModel {
            model_file_name: "none.nn".into(),
            model_source: String::new(),
            preprocessing: serde_json::Value::Null,
            tensors: vec![],
        };
        save(&dir, &model, &[]).unwrap();
        assert_eq!(load(&dir).unwrap(), model);
    }

    #[test]
    fn resaving_over_an_existing_model_replaces_it() {
        let scratch = Scratch::new("resave");
        let dir = saved(&scratch);
        let mut second = sample();
        second.tensors[0].data[0] = 42.0;
        second.tensors.truncate(2);
        second.model_file_name = "other.nn".into();
        save(&dir, &second, &[("notes.txt", b"second".to_vec())]).unwrap();
        let loaded = load(&dir).unwrap();
        assert_eq!(bits(&loaded), bits(&second));
        assert_eq!(loaded.model_file_name, "other.nn");
        // The old extras went with the old directory.
        assert!(!dir.join("metrics.json").exists());
        assert_eq!(fs::read(dir.join("notes.txt")).unwrap(), b"second");
        // Neither the temporary nor the moved-aside directory is left behind.
        assert_eq!(siblings(&scratch), ["model"]);
    }

    #[test]
    fn saving_into_an_empty_directory_works() {
        let scratch = Scratch::new("into-empty");
        let dir = scratch.model();
        fs::create_dir(&dir).unwrap();
        save(&dir, &sample(), &[]).unwrap();
        assert_eq!(bits(&load(&dir).unwrap()), bits(&sample()));
        assert_eq!(siblings(&scratch), ["model"]);
    }

    #[test]
    fn saving_creates_missing_parents() {
        let scratch = Scratch::new("parents");
        let dir = scratch.0.join("runs").join("iris");
        save(&dir, &sample(), &[]).unwrap();
        assert!(load(&dir).is_ok());
    }

    #[test]
    fn saving_over_a_foreign_folder_refuses_and_leaves_it_untouched() {
        let scratch = Scratch::new("foreign");
        let dir = scratch.model();
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("thesis.tex"), b"precious").unwrap();
        fs::create_dir(dir.join("figures")).unwrap();
        let err = save(&dir, &sample(), &extras()).unwrap_err();
        assert_eq!(err.code, WOULD_OVERWRITE);
        assert!(err.message.contains("thesis.tex"), "{}", err.message);
        assert!(err.help.is_some());
        assert_eq!(list_entries(&dir).unwrap(), ["figures", "thesis.tex"]);
        assert_eq!(fs::read(dir.join("thesis.tex")).unwrap(), b"precious");
        assert_eq!(siblings(&scratch), ["model"]);
    }

    #[test]
    fn saving_over_a_file_refuses_and_leaves_it_untouched() {
        let scratch = Scratch::new("over-file");
        let path = scratch.model();
        fs::write(&path, b"data").unwrap();
        assert_eq!(
            save(&path, &sample(), &[]).unwrap_err().code,
            WOULD_OVERWRITE
        );
        assert_eq!(fs::read(&path).unwrap(), b"data");
        assert_eq!(siblings(&scratch), ["model"]);
    }

    #[test]
    fn saving_refuses_invalid_models_and_writes_nothing() {
        let scratch = Scratch::new("invalid");
        let dir = scratch.model();
        let mut wrong_shape = sample();
        wrong_shape.tensors[0].shape = vec![4, 4];
        let mut overflowing = sample();
        overflowing.tensors[0].shape = vec![usize::MAX, 2];
        let mut duplicate = sample();
        duplicate.tensors[1].name = "w1".into();
        let mut reserved = sample();
        reserved.tensors[1].name = "__metadata__".into();
        for model in [wrong_shape, overflowing, duplicate, reserved] {
            assert_eq!(save(&dir, &model, &[]).unwrap_err().code, INVALID);
        }
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            MANIFEST_FILE,
            WEIGHTS_FILE,
            SOURCE_FILE,
        ] {
            let err = save(&dir, &sample(), &[(name, vec![])]).unwrap_err();
            assert_eq!(err.code, INVALID, "{name:?}");
        }
        let twice = [("a.txt", vec![]), ("a.txt", vec![1])];
        assert_eq!(save(&dir, &sample(), &twice).unwrap_err().code, INVALID);
        assert_eq!(
            save(Path::new(".."), &sample(), &[]).unwrap_err().code,
            INVALID
        );
        assert!(siblings(&scratch).is_empty());
    }

    #[test]
    fn the_staging_directory_is_removed_unless_installed() {
        let scratch = Scratch::new("staging");
        let name = OsString::from("model");
        let path = {
            let staging = Staging::create(&scratch.0, &name).unwrap();
            write_synced(&staging.path.join("half"), b"written").unwrap();
            assert!(staging
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".model.tmp-"));
            staging.path.clone()
        };
        assert!(!path.exists());
        assert!(siblings(&scratch).is_empty());
    }

    #[test]
    fn loading_a_missing_directory_is_not_found() {
        let scratch = Scratch::new("missing");
        let err = load(&scratch.model()).unwrap_err();
        assert_eq!(err.code, NOT_FOUND);
        assert!(err.message.contains("model"), "{}", err.message);
        assert!(err.help.is_some());
    }

    #[test]
    fn loading_an_empty_directory_is_not_a_model() {
        let scratch = Scratch::new("empty-dir");
        let err = load(&scratch.0).unwrap_err();
        assert_eq!(err.code, NOT_A_MODEL);
        assert!(err.message.contains("holds nothing"), "{}", err.message);
        assert!(err.message.contains(MANIFEST_FILE), "{}", err.message);
    }

    #[test]
    fn loading_a_directory_with_a_random_file_is_not_a_model() {
        let scratch = Scratch::new("random-file");
        fs::write(scratch.0.join("iris.csv"), b"a,b\n1,2\n").unwrap();
        let err = load(&scratch.0).unwrap_err();
        assert_eq!(err.code, NOT_A_MODEL);
        assert!(err.message.contains("only `iris.csv`"), "{}", err.message);
        for i in 0..7 {
            fs::write(scratch.0.join(format!("f{i}")), b"").unwrap();
        }
        let err = load(&scratch.0).unwrap_err();
        assert!(err.message.contains("8 entries"), "{}", err.message);
        assert!(err.message.contains("and 3 more"), "{}", err.message);
    }

    #[test]
    fn loading_a_file_is_not_a_model() {
        let scratch = Scratch::new("a-file");
        let path = scratch.0.join("iris.nn");
        fs::write(&path, b"model {}").unwrap();
        let err = load(&path).unwrap_err();
        assert_eq!(err.code, NOT_A_MODEL);
        assert!(err.message.contains("is a file"), "{}", err.message);
    }

    #[test]
    fn a_future_format_version_is_incompatible() {
        let scratch = Scratch::new("future");
        let dir = saved(&scratch);
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
        manifest["format_version"] = json!(2);
        manifest["nnc_version"] = json!("9.9.9");
        // A future version may change everything else too.
        manifest["files"] = json!("elsewhere");
        fs::write(dir.join(MANIFEST_FILE), manifest.to_string()).unwrap();
        let err = load(&dir).unwrap_err();
        assert_eq!(err.code, INCOMPATIBLE);
        assert!(err.message.contains("version 2"), "{}", err.message);
        assert!(err.message.contains("version 1"), "{}", err.message);
        assert!(err.message.contains("9.9.9"), "{}", err.message);
    }

    #[test]
    fn every_used_file_truncated_by_one_byte_is_corrupt() {
        let scratch = Scratch::new("truncate-one");
        let dir = saved(&scratch);
        let mut files: Vec<&str> = USED_FILES.iter().map(|(f, _)| *f).collect();
        files.push(MANIFEST_FILE);
        for file in files {
            let path = dir.join(file);
            let original = fs::read(&path).unwrap();
            fs::write(&path, &original[..original.len() - 1]).unwrap();
            let err = load(&dir).unwrap_err();
            assert_eq!(err.code, CORRUPT, "{file}: {}", err.message);
            assert!(err.message.contains(file), "{}", err.message);
            assert!(err.help.is_some());
            fs::write(&path, &original).unwrap();
            assert!(load(&dir).is_ok());
        }
    }

    #[test]
    fn a_flipped_byte_in_the_weights_is_corrupt() {
        let scratch = Scratch::new("flip");
        let dir = saved(&scratch);
        let path = dir.join(WEIGHTS_FILE);
        let mut bytes = fs::read(&path).unwrap();
        // The last byte is tensor data: the file still parses, only the checksum notices.
        *bytes.last_mut().unwrap() ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let err = load(&dir).unwrap_err();
        assert_eq!(err.code, CORRUPT);
        assert!(err.message.contains("checksum"), "{}", err.message);
        assert!(err.message.contains(WEIGHTS_FILE), "{}", err.message);
    }

    /// Loading reads the weights, the text and the preprocessing, and opens no other file: one
    /// changed, cut short, removed, replaced by a folder or grown to gigabytes (a sparse file,
    /// which reading would take seconds to hash) changes nothing.
    #[test]
    fn files_that_loading_does_not_use_are_not_read() {
        let scratch = Scratch::new("extra-changed");
        let dir = saved(&scratch);
        let expected = load(&dir).unwrap();
        fs::write(dir.join("metrics.json"), b"{\"accuracy\": 0.99}\n").unwrap();
        let history = dir.join("history.csv");
        File::options()
            .write(true)
            .open(&history)
            .unwrap()
            .set_len(3 << 30)
            .unwrap();
        fs::remove_file(dir.join("loss.svg")).unwrap();
        fs::create_dir(dir.join("loss.svg")).unwrap();
        assert_eq!(load(&dir).unwrap(), expected);
        fs::remove_file(&history).unwrap();
        assert_eq!(load(&dir).unwrap(), expected);
    }

    /// A manifest that lists a used file larger than loading reads is refused before reading.
    #[test]
    fn a_used_file_above_its_bound_is_refused_unread() {
        let scratch = Scratch::new("bound");
        let dir = saved(&scratch);
        for (file, max) in USED_FILES {
            let original = fs::read(dir.join(MANIFEST_FILE)).unwrap();
            let mut manifest = manifest_of(&dir);
            let entry = manifest.files.iter_mut().find(|e| e.name == file).unwrap();
            entry.size = max + 1;
            fs::write(
                dir.join(MANIFEST_FILE),
                serde_json::to_vec(&manifest).unwrap(),
            )
            .unwrap();
            let err = load(&dir).unwrap_err();
            assert_eq!(err.code, CORRUPT, "{file}");
            assert!(
                err.message.contains(&format!("at most {max}")),
                "{file}: {}",
                err.message
            );
            fs::write(dir.join(MANIFEST_FILE), original).unwrap();
        }
        assert!(load(&dir).is_ok());
    }

    #[test]
    fn garbage_json_is_corrupt() {
        let scratch = Scratch::new("garbage");
        let dir = saved(&scratch);
        let manifest = fs::read(dir.join(MANIFEST_FILE)).unwrap();
        for garbage in [
            &b"not json at all"[..],
            b"",
            b"[1, 2, 3]",
            b"{\"format_version\": \"one\"}",
            b"{\"format_version\": -1}",
            b"{\"nnc_version\": \"0.1.0\"}",
            b"{\"format_version\": 1}",
            b"{\"format_version\": 1, \"nnc_version\": 3, \"model_file_name\": \"a\", \"tensors\": [], \"files\": []}",
            b"\xff\xfe{}",
        ] {
            fs::write(dir.join(MANIFEST_FILE), garbage).unwrap();
            let err = load(&dir).unwrap_err();
            assert_eq!(err.code, CORRUPT, "{:?}", String::from_utf8_lossy(garbage));
            assert!(err.message.contains(MANIFEST_FILE), "{}", err.message);
        }
        fs::write(dir.join(MANIFEST_FILE), &manifest).unwrap();

        // Behind a matching checksum, broken preprocessing JSON is still caught.
        fs::write(dir.join(PREPROCESSING_FILE), b"{\"mean\": [5.8,").unwrap();
        reseal(&dir);
        let err = load(&dir).unwrap_err();
        assert_eq!(err.code, CORRUPT);
        assert!(err.message.contains(PREPROCESSING_FILE), "{}", err.message);
    }

    #[test]
    fn a_manifest_that_lists_the_wrong_files_is_corrupt() {
        let scratch = Scratch::new("listing");
        let dir = saved(&scratch);
        let original = manifest_of(&dir);
        let edits: [fn(&mut Manifest); 6] = [
            |m| m.files[0].name = "../model.safetensors".into(),
            |m| m.files[1].name = MANIFEST_FILE.into(),
            |m| m.files[3].name = m.files[4].name.clone(),
            |m| {
                m.files.remove(1);
            },
            |m| m.files[2].name = "absent.json".into(),
            |m| m.files[0].size = u64::MAX,
        ];
        for edit in edits {
            let mut manifest = original.clone();
            edit(&mut manifest);
            fs::write(
                dir.join(MANIFEST_FILE),
                serde_json::to_vec(&manifest).unwrap(),
            )
            .unwrap();
            assert_eq!(code_of(load(&dir)), CORRUPT, "{manifest:?}");
        }
        fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec(&original).unwrap(),
        )
        .unwrap();
        assert!(load(&dir).is_ok());
    }

    #[test]
    fn a_listed_file_that_is_missing_or_a_directory_is_corrupt() {
        let scratch = Scratch::new("missing-file");
        let dir = saved(&scratch);
        fs::remove_file(dir.join(SOURCE_FILE)).unwrap();
        let err = load(&dir).unwrap_err();
        assert_eq!(err.code, CORRUPT);
        assert!(err.message.contains("missing"), "{}", err.message);
        fs::create_dir(dir.join(SOURCE_FILE)).unwrap();
        assert_eq!(code_of(load(&dir)), CORRUPT);
    }

    #[test]
    fn weights_that_disagree_with_the_manifest_are_corrupt() {
        let scratch = Scratch::new("tensors");
        let dir = saved(&scratch);
        let write = |tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>| {
            let views: Vec<_> = tensors
                .iter()
                .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
                .collect();
            fs::write(
                dir.join(WEIGHTS_FILE),
                safetensors::serialize(views, None).unwrap(),
            )
            .unwrap();
            reseal(&dir);
        };
        let f32s = |n: usize| vec![0u8; 4 * n];
        let good = || {
            vec![
                ("w1", Dtype::F32, vec![2, 3], f32s(6)),
                ("b1", Dtype::F32, vec![3], f32s(3)),
                ("a0", Dtype::F32, vec![1, 1], f32s(1)),
                ("empty", Dtype::F32, vec![0, 4], f32s(0)),
            ]
        };
        write(good());
        assert!(load(&dir).is_ok());

        let mut missing = good();
        missing.remove(1);
        write(missing);
        let err = load(&dir).unwrap_err();
        assert_eq!(err.code, CORRUPT);
        assert!(err.message.contains("no tensor `b1`"), "{}", err.message);

        let mut unlisted = good();
        unlisted.push(("zz", Dtype::F32, vec![1], f32s(1)));
        write(unlisted);
        assert_eq!(code_of(load(&dir)), CORRUPT);

        let mut wrong_dtype = good();
        wrong_dtype[1] = ("b1", Dtype::F64, vec![3], vec![0; 24]);
        write(wrong_dtype);
        let err = load(&dir).unwrap_err();
        assert_eq!(err.code, CORRUPT);
        assert!(err.message.contains("F64"), "{}", err.message);

        let mut wrong_dtype_same_size = good();
        wrong_dtype_same_size[1] = ("b1", Dtype::I32, vec![3], f32s(3));
        write(wrong_dtype_same_size);
        assert_eq!(code_of(load(&dir)), CORRUPT);

        // A tensor listed twice in the manifest.
        write(good());
        let mut manifest = manifest_of(&dir);
        manifest.tensors.push("w1".into());
        fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        assert_eq!(code_of(load(&dir)), CORRUPT);
    }

    #[test]
    fn weights_cut_at_every_length_are_corrupt() {
        let scratch = Scratch::new("truncate-all");
        let dir = saved(&scratch);
        let path = dir.join(WEIGHTS_FILE);
        let manifest = fs::read(dir.join(MANIFEST_FILE)).unwrap();
        let full = fs::read(&path).unwrap();
        for len in 0..full.len() {
            fs::write(&path, &full[..len]).unwrap();
            // Caught by the recorded size...
            fs::write(dir.join(MANIFEST_FILE), &manifest).unwrap();
            assert_eq!(code_of(load(&dir)), CORRUPT, "cut at {len}");
            // ...and, with size and checksum made to match, by the safetensors reader.
            reseal(&dir);
            assert_eq!(code_of(load(&dir)), CORRUPT, "cut at {len}, resealed");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Mangled weights behind a matching checksum either load or are reported as corrupt.
        #[test]
        fn mangled_weights_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            do_cut in any::<bool>(),
        ) {
            let scratch = Scratch::new("mangle-weights");
            let dir = saved(&scratch);
            let path = dir.join(WEIGHTS_FILE);
            let mut bytes = fs::read(&path).unwrap();
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            if do_cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            fs::write(&path, &bytes).unwrap();
            reseal(&dir);
            let code = code_of(load(&dir));
            prop_assert!(code == "loaded" || code == CORRUPT, "{}", code);
        }

        /// Mangled manifests never panic and give one of the loader's codes.
        #[test]
        fn mangled_manifests_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let scratch = Scratch::new("mangle-manifest");
            let dir = saved(&scratch);
            let path = dir.join(MANIFEST_FILE);
            let mut bytes = fs::read(&path).unwrap();
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            fs::write(&path, &bytes).unwrap();
            let code = code_of(load(&dir));
            prop_assert!(
                ["loaded", CORRUPT, INCOMPATIBLE, UNREADABLE].contains(&code),
                "{}",
                code
            );
        }
    }
}
