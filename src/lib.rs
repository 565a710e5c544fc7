//! nnc: a compiler for a small declarative language of neural networks.
//!
//! The stages, in pipeline order (see `docs/architecture.md`): `syntax` parses a `.nn` file into an
//! AST with spans; `lower` resolves names and options into a `ModelSpec` and builds IR; `shape` owns
//! every shape rule; `autodiff` differentiates IR into IR; `optim` appends the optimizer update so a
//! training step is one IR function; `optimize` removes repeated and constant work from the
//! functions that run, changing no result; `interp` evaluates IR as the oracle; `codegen` compiles
//! IR with Cranelift; `data` reads and prepares CSV files; `train` runs the loop on either
//! executor.
//! Beside the pipeline, `explain` writes the model's forward and backward formulas off the IR
//! (`nnc explain`), `lsp` serves editors (`nnc lsp`) from the same checks, and `fmt` writes a
//! file in its canonical layout (`nnc fmt`).
//!
//! `unsafe` is denied everywhere but in the code generator's modules that call generated code or
//! read raw buffers (`codegen` and its `helpers`, `strided`, `vmath`, `gemm`, `random` and
//! `kernels`), and every `unsafe` block there states why it is sound in a `// SAFETY:` comment
//! (enforced by clippy).

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod artifacts;
pub mod autodiff;
pub mod codegen;
pub mod data;
pub mod diag;
pub mod explain;
pub mod export;
pub mod fmt;
pub mod interp;
pub mod ir;
pub mod lower;
pub mod lsp;
pub mod monitor;
pub mod optim;
pub mod optimize;
pub mod philox;
pub mod plots;
pub mod program;
pub mod random;
pub mod set;
pub mod shape;
pub mod summary;
pub mod syntax;
pub mod train;
