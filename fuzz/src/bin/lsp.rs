//! The language server's message handling, on a recorded session of framed messages.
fn main() {
    nnc_fuzz::drive(|| (), |_, input| nnc_fuzz::targets::lsp(input));
}
