//! `nnc fmt`: the output parses to the same tree (checked inside), and formats to itself.
fn main() {
    nnc_fuzz::drive(|| (), |_, input| nnc_fuzz::targets::format(&nnc_fuzz::text(input)));
}
