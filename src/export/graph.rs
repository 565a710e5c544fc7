//! A small builder of ONNX graphs: nodes in the order they are added (so topologically sorted
//! when each node's inputs exist before it), constants as initializers, and names that never
//! collide. Every name a user chose (a column, the outputs) is reserved first; the names the
//! builder makes up for intermediate values get a numbered suffix when taken, so a column named
//! like an internal value cannot capture or break the graph.

use std::collections::HashSet;

use super::proto::{
    attribute_type, data_type, AttributeProto, Dimension, DimensionValue, GraphProto, NodeProto,
    TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};

/// The domain of the classical machine-learning operators (`OneHotEncoder`, `LabelEncoder`).
pub const ML_DOMAIN: &str = "ai.onnx.ml";

/// The symbolic batch dimension of every input and output.
pub const BATCH: &str = "N";

/// One attribute of a node.
pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Strings(Vec<String>),
    Text(String),
}

/// A dimension of a declared input or output.
#[derive(Clone, Copy)]
pub enum Dim {
    Batch,
    Fixed(usize),
}

#[derive(Default)]
pub struct Graph {
    taken: HashSet<String>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
}

impl Graph {
    /// Reserve the names a user gave (inputs and outputs), which must stay exactly as they are.
    pub fn reserve(&mut self, name: &str) -> bool {
        self.taken.insert(name.to_string())
    }

    /// A fresh name built from `hint`.
    pub fn fresh(&mut self, hint: &str) -> String {
        let mut name = hint.to_string();
        let mut n = 1;
        while self.taken.contains(&name) {
            n += 1;
            name = format!("{hint}_{n}");
        }
        self.taken.insert(name.clone());
        name
    }

    /// Declare a graph input (its name reserved beforehand).
    pub fn input(&mut self, name: &str, elem_type: i32, dims: &[Dim]) {
        self.inputs.push(value_info(name, elem_type, dims));
    }

    /// Declare a graph output (its name reserved beforehand, and given by a node).
    pub fn output(&mut self, name: &str, elem_type: i32, dims: &[Dim]) {
        self.outputs.push(value_info(name, elem_type, dims));
    }

    /// Add a node of the standard domain with one output named after `hint`.
    pub fn op(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        hint: &str,
    ) -> String {
        self.op_in("", op, inputs, attrs, hint)
    }

    /// Add a node of `domain` (`ML_DOMAIN`, or "" for the standard one) with one output named
    /// after `hint`.
    pub fn op_in(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        hint: &str,
    ) -> String {
        let out = self.fresh(hint);
        self.node_into(domain, op, inputs, attrs, &out);
        out
    }

    /// Add a node whose one output has the given (reserved) name.
    pub fn node_into(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        out: &str,
    ) {
        let name = self.fresh(&format!("{op}_node"));
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name: Some(name),
            op_type: Some(op.to_string()),
            domain: (!domain.is_empty()).then(|| domain.to_string()),
            attribute: attrs.into_iter().map(|(n, a)| attribute(n, a)).collect(),
        });
    }

    /// A float32 constant of shape `dims` (row-major `data`).
    pub fn float_tensor(&mut self, hint: &str, dims: &[usize], data: &[f32]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(hint, data_type::FLOAT, dims, raw)
    }

    /// A float64 constant of shape `dims`.
    pub fn double_tensor(&mut self, hint: &str, dims: &[usize], data: &[f64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(hint, data_type::DOUBLE, dims, raw)
    }

    /// An int64 vector constant.
    pub fn int64_vector(&mut self, hint: &str, data: &[i64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(hint, data_type::INT64, &[data.len()], raw)
    }

    fn tensor(&mut self, hint: &str, elem_type: i32, dims: &[usize], raw: Vec<u8>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(elem_type),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..TensorProto::default()
        });
        name
    }

    pub fn finish(self, name: &str, doc: String) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: Some(name.to_string()),
            initializer: self.initializers,
            doc_string: Some(doc),
            input: self.inputs,
            output: self.outputs,
        }
    }
}

fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Batch => DimensionValue::DimParam(BATCH.to_string()),
                Dim::Fixed(n) => DimensionValue::DimValue(*n as i64),
            }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: None,
    }
}

fn attribute(name: &str, value: Attr) -> AttributeProto {
    let mut a = AttributeProto {
        name: Some(name.to_string()),
        ..AttributeProto::default()
    };
    match value {
        Attr::Int(i) => (a.r#type, a.i) = (Some(attribute_type::INT), Some(i)),
        Attr::Float(f) => (a.r#type, a.f) = (Some(attribute_type::FLOAT), Some(f)),
        Attr::Text(s) => (a.r#type, a.s) = (Some(attribute_type::STRING), Some(s.into_bytes())),
        Attr::Ints(v) => (a.r#type, a.ints) = (Some(attribute_type::INTS), v),
        Attr::Strings(v) => {
            a.r#type = Some(attribute_type::STRINGS);
            a.strings = v.into_iter().map(String::into_bytes).collect();
        }
    }
    a
}

/// The element type of a bool tensor, for `Cast`.
pub const BOOL: i64 = data_type::BOOL as i64;
/// The element type of a float tensor, for `Cast`.
pub const FLOAT: i64 = data_type::FLOAT as i64;
/// The element type of a double tensor, for `Cast`.
pub const DOUBLE: i64 = data_type::DOUBLE as i64;
/// The element type of an int64 tensor, for `Cast`.
pub const INT64: i64 = data_type::INT64 as i64;
