//! The `.nn` front end: parse, resolve, shape-check, build the IR, explain, and what the editor
//! checks.
fn main() {
    nnc_fuzz::drive(|| (), |_, input| nnc_fuzz::targets::front_end(&nnc_fuzz::text(input)));
}
