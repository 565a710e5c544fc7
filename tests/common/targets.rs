//! What every input of each fuzzed stage must come to: a result or a diagnostic with a help line,
//! never a panic (and, where a stage promises more, that promise: the printed IR reads back to the
//! same text, formatting is idempotent). `tests/no_panic.rs` feeds these random and edited text;
//! the coverage-guided harnesses of `fuzz/` (which include this file) feed them what AFL++ finds.

use std::path::Path;

use nnc::codegen::CodegenOptions;
use nnc::data::{
    self, ColumnSettings, DataOrigin, Missing, PrepareConfig, SplitConfig, TargetEncoding,
    TargetKind,
};
use nnc::diag::{Diagnostic, Source};
use nnc::ir::ArgRole;
use nnc::train::session::exec_error;
use nnc::train::{Executor, JitExecutor};

pub fn well_formed(d: &Diagnostic) {
    assert!(d.help.is_some(), "{}", d.render_plain());
    // Rendering must not panic either (spans inside the text, on char boundaries).
    let _ = d.render_plain();
}

/// The front end: parse and resolve, shape-check and build every function, explain; a
/// diagnostic with a help line for what does not get through.
pub fn front_end(text: &str) {
    let source = Source::new("fuzz.nn", text);
    let spec = match nnc::program::parse_model(&source) {
        Ok(spec) => spec,
        Err(d) => return well_formed(&d),
    };
    match nnc::program::build(&spec, None) {
        Ok(program) => {
            let explanation = nnc::explain::explain(&program);
            assert!(!nnc::explain::render_text(&explanation).is_empty());
        }
        Err(d) => well_formed(&d),
    }
    // What the editor shows of the same text.
    for d in nnc::train::session::check_text(Path::new("fuzz.nn"), text.to_string()) {
        well_formed(&d);
    }
}

/// Build what parses; compile what builds, with bounds checks on, and run a training step and an
/// evaluation on a batch of zeros.
pub fn compile(text: &str) {
    let source = Source::new("fuzz.nn", text);
    let spec = match nnc::program::parse_model(&source) {
        Ok(spec) => spec,
        Err(d) => return well_formed(&d),
    };
    let program = match nnc::program::build(&spec, None) {
        Ok(p) => p,
        Err(d) => return well_formed(&d),
    };
    assert!(!program.step.body.is_empty());
    // Every built program explains, in text and as a page.
    let explanation = nnc::explain::explain(&program);
    assert!(!nnc::explain::render_text(&explanation).is_empty());
    assert!(nnc::explain::html::render(&explanation, "fuzz").contains("</html>"));
    let opts = CodegenOptions {
        checked: true,
        ..Default::default()
    };
    let mut exec = match JitExecutor::new(&program, 1, &opts) {
        Ok(e) => e,
        Err(e) => return well_formed(&exec_error(&spec, e)),
    };
    let width = |name: &str| {
        let f = &program.loss;
        let v = f
            .args_with_role(ArgRole::Data)
            .find(|&v| f.name_of(v) == name)
            .unwrap();
        f.shape(v).last_fixed().unwrap()
    };
    let (x, y) = (vec![0.0; width("x")], vec![0.0; width("y")]);
    exec.step(&x, &y, 1)
        .unwrap_or_else(|e| panic!("a built program runs: {e}"));
    let mut predictions = nnc::train::Predictions::default();
    exec.evaluate(&x, &y, 1, &mut predictions)
        .unwrap_or_else(|e| panic!("a built program evaluates: {e}"));
    assert_eq!(predictions.outputs.len(), width("y"));
}

/// Load the text as a CSV file with several targets and target kinds; split and prepare what
/// loads, with every encoding, at several fractions.
pub fn load(text: &str) {
    let source = Source::new("fuzz.csv", text);
    for kind in [TargetKind::Classes, TargetKind::Values] {
        for target in ["label", "a", "missing"] {
            let table = match data::parse_csv(&source, target, kind, &DataOrigin::default()) {
                Ok(t) => t,
                Err(d) => {
                    well_formed(&d);
                    continue;
                }
            };
            for (test_fraction, validation_fraction) in [(0.2, 0.1), (0.0, 0.0), (0.5, 0.45)] {
                let cfg = SplitConfig {
                    test_fraction,
                    validation_fraction,
                    seed: 3,
                };
                let config = |missing| PrepareConfig {
                    defaults: ColumnSettings {
                        missing,
                        ..ColumnSettings::default()
                    },
                    columns: Vec::new(),
                };
                let target = &table.target.as_ref().unwrap().data;
                let rows = match data::usable_rows(&table, &config(Missing::Drop)) {
                    Ok(usable) => usable.rows,
                    Err(d) => {
                        well_formed(&d);
                        continue;
                    }
                };
                let split = match data::split(target, &rows, &cfg) {
                    Ok(s) => s,
                    Err(d) => {
                        well_formed(&d);
                        continue;
                    }
                };
                let encodings: &[TargetEncoding] = match table.class_names() {
                    Some(names) if names.len() == 2 => {
                        &[TargetEncoding::OneHot, TargetEncoding::Binary]
                    }
                    Some(_) => &[TargetEncoding::OneHot],
                    None => &[TargetEncoding::Standardized],
                };
                for &encoding in encodings {
                    for missing in [Missing::Drop, Missing::Mean, Missing::MostFrequent] {
                        match data::prepare(&table, &split, encoding, &config(missing), &[]) {
                            Ok(p) => assert!(p.train.x.data.iter().all(|v| v.is_finite())),
                            Err(d) => well_formed(&d),
                        }
                    }
                }
            }
        }
    }
}

/// IR text: what parses verifies, and prints to a text that parses to the same print.
pub fn ir(text: &str) {
    let Ok(f) = nnc::ir::parse_function(text) else {
        return;
    };
    let printed = nnc::ir::print_function(&f);
    let again = nnc::ir::parse_function(&printed)
        .unwrap_or_else(|e| panic!("printed IR does not read back: {e}\n{printed}"));
    assert_eq!(
        nnc::ir::print_function(&again),
        printed,
        "print ∘ parse ∘ print"
    );
}

/// `nnc fmt`: a file formats (its output then formats to itself) or is a diagnostic; never the
/// internal error that says the output lost the meaning or a comment.
pub fn format(text: &str) {
    match nnc::fmt::format_text("fuzz.nn", text) {
        Ok(once) => {
            let twice = nnc::fmt::format_text("fuzz.nn", &once)
                .unwrap_or_else(|d| panic!("formatted text does not format: {}", d.render_plain()));
            assert_eq!(twice, once, "formatting is idempotent");
        }
        Err(d) => {
            assert_ne!(d.code, "nnc::fmt::internal", "{}", d.render_plain());
            well_formed(&d);
        }
    }
}

/// The language server on a recorded session: it answers or ends, never panics.
pub fn lsp(input: &[u8]) {
    let _ = nnc::lsp::answer(input);
}

/// A saved model folder with one file replaced by `content` (the manifest resealed for it, so
/// that the loader reads past the checksum): `open` refuses it with a diagnostic, or the model
/// predicts `data`. `which` picks the file; `template` is a whole saved folder, `work` a folder
/// the target may overwrite.
pub fn saved(template: &Path, work: &Path, which: u8, content: &[u8], data: &Path) {
    const FILES: [&str; 4] = [
        "preprocessing.json",
        "model.nn",
        "model.safetensors",
        "nnc-model.json",
    ];
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).unwrap();
    for entry in std::fs::read_dir(template).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), work.join(entry.file_name())).unwrap();
    }
    let file = FILES[usize::from(which) % FILES.len()];
    std::fs::write(work.join(file), content).unwrap();
    if file != "nnc-model.json" {
        reseal(work, file, content);
    }
    match nnc::train::saved::open(work) {
        Ok(mut model) => match model.predict(data) {
            Ok(p) => {
                let _ = model.predictions_csv(&p);
            }
            Err(d) => well_formed(&d),
        },
        Err(d) => well_formed(&d),
    }
}

/// Rewrite the manifest's size and FNV-1a checksum of `file` for `content`.
fn reseal(dir: &Path, file: &str, content: &[u8]) {
    let path = dir.join("nnc-model.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let Ok(mut manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in content {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if let Some(files) = manifest["files"].as_array_mut() {
        for entry in files {
            if entry["name"] == file {
                entry["size"] = serde_json::json!(content.len());
                entry["fnv1a64"] = serde_json::json!(format!("{hash:016x}"));
            }
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

/// Bytes as a Parquet file at `path`, read whole with two targets of both kinds and a chunk at a
/// time, rendered for a diagnostic: a table or a diagnostic, never a panic.
pub fn load_parquet(bytes: &[u8], path: &Path) {
    std::fs::write(path, bytes).expect("the scratch folder is writable");
    for kind in [TargetKind::Classes, TargetKind::Values] {
        for target in ["label", "a"] {
            let spec = data::TargetSpec::required(target, kind);
            let opts = data::ReadOptions::default();
            match data::load_table(path, Some(&spec), &opts, &DataOrigin::default()) {
                Ok(table) => {
                    // What a diagnostic about any of its rows would show.
                    let _ = table.text.source();
                }
                Err(d) => well_formed(&d),
            }
            let mut rows = 0;
            let chunks = data::load_table_chunks(
                path,
                Some(&spec),
                &opts,
                &DataOrigin::default(),
                &mut |t| {
                    rows += t.rows;
                    Ok(())
                },
            );
            if let Err(d) = chunks {
                well_formed(&d);
            }
        }
    }
}
