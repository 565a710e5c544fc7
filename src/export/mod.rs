//! Export of a saved model to ONNX, the format serving engines (ONNX Runtime, tract, TensorRT,
//! …) read: one file that takes the raw feature columns to predictions, with the fitted
//! preprocessing inside (`columns`), the network that `nnc predict` runs (`network`), and the
//! outputs `nnc predict` writes — `probabilities` [N, K] and `label` [N] for classes, `value`
//! [N, 1] in the target's units for a regression. `graph` builds the nodes and `proto` is the
//! part of the ONNX schema written. It reads a saved folder and writes bytes; it trains nothing.

mod columns;
mod graph;
mod network;
mod proto;

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use crate::data::FittedTarget;
use crate::diag::Diagnostic;
use crate::train::saved::{self, SavedParts};
use graph::{Attr, Dim, Graph, DOUBLE, FLOAT, INT64};
use proto::{data_type, ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// The version of the standard operator set the graph uses (`Shape` with `start`/`end` needs
/// 15; 17 is read by every ONNX Runtime since 1.12 and by tract).
pub const OPSET: i64 = 17;
/// The version of `ai.onnx.ml` (`OneHotEncoder` 1, `LabelEncoder` 2).
pub const ML_OPSET: i64 = 3;
/// The file format's version that opset 17 requires.
const IR_VERSION: i64 = 8;

/// The output names: the classes' probabilities and label, or the regression's value.
pub const PROBABILITIES: &str = "probabilities";
pub const LABEL: &str = "label";
pub const VALUE: &str = "value";

/// The ONNX model of the saved folder `dir`, serialized.
pub fn onnx(dir: &Path) -> Result<Vec<u8>, Diagnostic> {
    let parts = saved::read_parts(dir)?;
    Ok(model(&parts, Scope::Columns)?.encode_to_vec())
}

/// What an exported graph starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One input per feature column, raw (the file `nnc export` writes).
    Columns,
    /// The model's input matrix `x` [N, width], preprocessed, to the network's `output` (and
    /// `logit`): only standard operators, for engines without `ai.onnx.ml`.
    Network,
}

/// The network alone (`Scope::Network`) of the saved folder `dir`, serialized.
pub fn onnx_network(dir: &Path) -> Result<Vec<u8>, Diagnostic> {
    let parts = saved::read_parts(dir)?;
    Ok(model(&parts, Scope::Network)?.encode_to_vec())
}

fn model(parts: &SavedParts, scope: Scope) -> Result<ModelProto, Diagnostic> {
    let p = &parts.preprocessing;
    let mut g = Graph::default();
    let outputs: &[&str] = match (scope, &p.target) {
        (Scope::Network, _) => &["output", crate::lower::LOGIT_OUTPUT],
        (Scope::Columns, FittedTarget::Classes { .. }) => &[PROBABILITIES, LABEL],
        (Scope::Columns, FittedTarget::Values { .. }) => &[VALUE],
    };
    for o in outputs {
        g.reserve(o);
    }
    let x = match scope {
        Scope::Columns => {
            for f in &p.features {
                if !g.reserve(f.name()) {
                    return Err(name_taken(f.name()));
                }
            }
            columns::emit(&mut g, &p.features)
        }
        Scope::Network => {
            g.reserve("x");
            let dims = [Dim::Batch, Dim::Fixed(p.input_width())];
            g.input("x", data_type::FLOAT, &dims);
            "x".to_string()
        }
    };
    let weights: HashMap<&str, (&[usize], &[f32])> = parts
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), (t.shape.as_slice(), t.data.as_slice())))
        .collect();
    let net = network::emit(&mut g, &parts.program.loss, &x, &weights);
    let width = parts
        .program
        .loss
        .shape(
            parts
                .program
                .loss
                .output_named("output")
                .expect("invariant: an output"),
        )
        .last_fixed()
        .expect("invariant: the output has a fixed width");
    match scope {
        Scope::Network => {
            g.node_into("", "Identity", &[&net.output], vec![], "output");
            g.output("output", data_type::FLOAT, &[Dim::Batch, Dim::Fixed(width)]);
            if let Some(logit) = &net.logit {
                g.node_into("", "Identity", &[logit], vec![], crate::lower::LOGIT_OUTPUT);
                let dims = [Dim::Batch, Dim::Fixed(1)];
                g.output(crate::lower::LOGIT_OUTPUT, data_type::FLOAT, &dims);
            }
        }
        Scope::Columns => predictions(&mut g, &p.target, &net, width),
    }
    let doc = describe(parts, scope);
    let metadata = [
        ("nnc_version", env!("CARGO_PKG_VERSION").to_string()),
        ("target", p.target_name().to_string()),
        (
            "classes",
            serde_json::to_string(p.class_names()).expect("strings serialize"),
        ),
    ];
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![
            OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET),
            },
            OperatorSetIdProto {
                domain: Some(graph::ML_DOMAIN.to_string()),
                version: Some(ML_OPSET),
            },
        ],
        producer_name: Some("nnc".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        doc_string: Some(doc.clone()),
        graph: Some(g.finish(&graph_name(parts), doc)),
        metadata_props: metadata
            .into_iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.to_string()),
                value: Some(v),
            })
            .collect(),
    })
}

/// The outputs `nnc predict` writes, from the network's.
fn predictions(g: &mut Graph, target: &FittedTarget, net: &network::Network, width: usize) {
    let out = net.output.as_str();
    match target {
        FittedTarget::Values { mean, std, .. } => {
            // In float64, as `Preprocessing::unscale_target` does, rounded once at the end.
            let wide = g.op("Cast", &[out], vec![("to", Attr::Int(DOUBLE))], "value");
            let std = g.double_tensor("target_std", &[], &[*std]);
            let mean = g.double_tensor("target_mean", &[], &[*mean]);
            let scaled = g.op("Mul", &[&wide, &std], vec![], "value");
            let shifted = g.op("Add", &[&scaled, &mean], vec![], "value");
            g.node_into(
                "",
                "Cast",
                &[&shifted],
                vec![("to", Attr::Int(FLOAT))],
                VALUE,
            );
            g.output(VALUE, data_type::FLOAT, &[Dim::Batch, Dim::Fixed(1)]);
        }
        FittedTarget::Classes { names, .. } => {
            let index = if width == 1 {
                // One sigmoid column: the negative class is sigmoid(−z) from the logit, as
                // `nnc predict` computes it (1 − p loses its digits as p nears 1).
                let negative = match &net.logit {
                    Some(z) => {
                        let minus = g.op("Neg", &[z], vec![], "negative_logit");
                        network::sigmoid(g, &minus, "negative")
                    }
                    None => {
                        let one = g.float_tensor("one", &[], &[1.0]);
                        g.op("Sub", &[&one, out], vec![], "negative")
                    }
                };
                g.node_into(
                    "",
                    "Concat",
                    &[&negative, out],
                    vec![("axis", Attr::Int(1))],
                    PROBABILITIES,
                );
                let half = g.float_tensor("threshold", &[], &[0.5]);
                let positive = g.op("Greater", &[out, &half], vec![], "positive");
                let index = g.op(
                    "Cast",
                    &[&positive],
                    vec![("to", Attr::Int(INT64))],
                    "index",
                );
                let axis = g.int64_vector("axes", &[1]);
                g.op("Squeeze", &[&index, &axis], vec![], "index")
            } else {
                g.node_into("", "Identity", &[out], vec![], PROBABILITIES);
                // The first of equal maxima, as `metrics::predicted_classes` takes it.
                let attrs = vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(0))];
                g.op("ArgMax", &[out], attrs, "index")
            };
            let classes = names.len();
            g.output(
                PROBABILITIES,
                data_type::FLOAT,
                &[Dim::Batch, Dim::Fixed(classes)],
            );
            let attrs = vec![
                ("keys_int64s", Attr::Ints((0..names.len() as i64).collect())),
                ("values_strings", Attr::Strings(names.clone())),
                ("default_string", Attr::Text(String::new())),
            ];
            g.node_into(graph::ML_DOMAIN, "LabelEncoder", &[&index], attrs, LABEL);
            g.output(LABEL, data_type::STRING, &[Dim::Batch]);
        }
    }
}

fn graph_name(parts: &SavedParts) -> String {
    let name = &parts.spec.source.name;
    Path::new(name)
        .file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned())
}

/// The graph's documentation: what goes in and what comes out.
fn describe(parts: &SavedParts, scope: Scope) -> String {
    let p = &parts.preprocessing;
    let mut doc = String::from("Exported by nnc. Inputs: ");
    match scope {
        Scope::Network => doc.push_str("`x`, the preprocessed input matrix."),
        Scope::Columns => {
            let inputs: Vec<String> = p
                .features
                .iter()
                .map(|f| match f {
                    crate::data::Feature::Numeric { name, .. } => {
                        format!("`{name}` float [N,1] (NaN when missing)")
                    }
                    crate::data::Feature::Categorical { name, .. } => {
                        format!("`{name}` string [N,1] (\"\" when missing)")
                    }
                })
                .collect();
            doc.push_str(&inputs.join(", "));
            doc.push('.');
        }
    }
    doc
}

fn name_taken(column: &str) -> Diagnostic {
    Diagnostic::new(
        "nnc::export::name_taken",
        format!("the feature column `{column}` has the name of an output of the exported model"),
    )
    .with_help(format!(
        "rename the column in the data and train again: the outputs are `{PROBABILITIES}` and `{LABEL}` for classes, `{VALUE}` for values"
    ))
}

/// Write the ONNX model of `dir` to `path`, atomically (a temporary file renamed over it).
pub fn write_onnx(dir: &Path, path: &Path) -> Result<usize, Diagnostic> {
    let bytes = onnx(dir)?;
    let fail = |e: std::io::Error| {
        Diagnostic::new(
            "nnc::export::write_failed",
            format!("cannot write `{}`: {e}", path.display()),
        )
        .with_help("check that the folder exists and is writable")
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, &bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })?;
    Ok(bytes.len())
}
