//! The CSV reader and the preprocessing: typing, targets, splits, fitting and applying.
fn main() {
    nnc_fuzz::drive(|| (), |_, input| nnc_fuzz::targets::load(&nnc_fuzz::text(input)));
}
