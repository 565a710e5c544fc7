//! The preprocessing half of an exported model: one graph input per feature column, turned into
//! the model's input matrix exactly as `data::apply` does it. A numeric column (float, NaN for a
//! missing value) is filled, clipped, centred and scaled in float64 with the fitted constants,
//! in the order `apply` uses, and only then rounded to float32, so the matrix matches nnc's bit for
//! bit for the same float input. (`ai.onnx.ml`'s `Imputer` and `Scaler` hold their constants as
//! float32, which would cost a column with a large offset, such as a year, its digits.) A
//! categorical column (string, "" for a missing value) is one-hot encoded by `ai.onnx.ml`'s
//! `OneHotEncoder` with the training categories, a missing value taking its fill category's
//! place.

use super::graph::{Attr, Dim, Graph, DOUBLE, FLOAT, ML_DOMAIN};
use super::proto::data_type;
use crate::data::{Feature, Unseen};

/// Declare an input per feature and build the model input [N, width] from them; returns its
/// name. The inputs' names were reserved by the caller.
pub fn emit(g: &mut Graph, features: &[Feature]) -> String {
    let mut blocks = Vec::new();
    for f in features {
        blocks.push(match f {
            Feature::Numeric {
                name,
                reference,
                fill,
                clip,
                center,
                scale,
                ..
            } => {
                g.input(name, data_type::FLOAT, &[Dim::Batch, Dim::Fixed(1)]);
                numeric(g, name, *reference, *fill, *clip, *center, *scale)
            }
            Feature::Categorical {
                name,
                categories,
                fill,
                unseen,
                ..
            } => {
                g.input(name, data_type::STRING, &[Dim::Batch, Dim::Fixed(1)]);
                categorical(g, name, categories, fill.as_deref(), *unseen)
            }
        });
    }
    match blocks.as_slice() {
        [one] => one.clone(),
        _ => {
            let blocks: Vec<&str> = blocks.iter().map(String::as_str).collect();
            g.op("Concat", &blocks, vec![("axis", Attr::Int(1))], "features")
        }
    }
}

/// `((x − reference, or fill where missing) clipped − center) / scale`, in float64.
fn numeric(
    g: &mut Graph,
    name: &str,
    reference: f64,
    fill: Option<f64>,
    clip: Option<(f64, f64)>,
    center: f64,
    scale: f64,
) -> String {
    let hint = format!("{name}_scaled");
    let wide = g.op("Cast", &[name], vec![("to", Attr::Int(DOUBLE))], &hint);
    let reference = g.double_tensor("reference", &[], &[reference]);
    let mut d = g.op("Sub", &[&wide, &reference], vec![], &hint);
    if let Some(fill) = fill {
        // NaN alone is not equal to itself (`IsNaN` would say the same; not every engine types
        // its result as bool).
        let present = g.op("Equal", &[&d, &d], vec![], &hint);
        let fill = g.double_tensor("fill", &[], &[fill]);
        d = g.op("Where", &[&present, &d, &fill], vec![], &hint);
    }
    if let Some((lo, hi)) = clip {
        let lo = g.double_tensor("clip_low", &[], &[lo]);
        let hi = g.double_tensor("clip_high", &[], &[hi]);
        d = g.op("Clip", &[&d, &lo, &hi], vec![], &hint);
    }
    let center = g.double_tensor("center", &[], &[center]);
    let scale = g.double_tensor("scale", &[], &[scale]);
    let centred = g.op("Sub", &[&d, &center], vec![], &hint);
    let z = g.op("Div", &[&centred, &scale], vec![], &hint);
    g.op("Cast", &[&z], vec![("to", Attr::Int(FLOAT))], &hint)
}

/// One column per training category: 1 for the row's category. With a fill, "" is encoded as
/// one more category whose column is then moved onto the fill's (a product with the identity
/// and the fill's row below it). An unseen category (and "" without a fill) is a row of zeros
/// under `unseen: zeros`, and an error of the engine under `unseen: error`.
fn categorical(
    g: &mut Graph,
    name: &str,
    categories: &[String],
    fill: Option<&str>,
    unseen: Unseen,
) -> String {
    let hint = format!("{name}_onehot");
    let mut cats = categories.to_vec();
    if fill.is_some() {
        cats.push(String::new());
    }
    let zeros = i64::from(unseen == Unseen::Zeros);
    let encoded = g.op_in(
        ML_DOMAIN,
        "OneHotEncoder",
        &[name],
        vec![
            ("cats_strings", Attr::Strings(cats)),
            ("zeros", Attr::Int(zeros)),
        ],
        &hint,
    );
    // [N, 1, K] → [N, K].
    let axis = g.int64_vector("axes", &[1]);
    let onehot = g.op("Squeeze", &[&encoded, &axis], vec![], &hint);
    let Some(fill) = fill else {
        return onehot;
    };
    let k = categories.len();
    let mut moves = vec![0.0f32; (k + 1) * k];
    for i in 0..k {
        moves[i * k + i] = 1.0;
    }
    if let Some(at) = categories.iter().position(|c| c == fill) {
        moves[k * k + at] = 1.0;
    }
    let moves = g.float_tensor("fill_onto", &[k + 1, k], &moves);
    g.op("MatMul", &[&onehot, &moves], vec![], &hint)
}
