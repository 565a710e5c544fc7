//! The IR text parser and verifier, and the printer's round trip.
fn main() {
    nnc_fuzz::drive(|| (), |_, input| nnc_fuzz::targets::ir(&nnc_fuzz::text(input)));
}
