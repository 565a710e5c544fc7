//! Collecting every independent error of one part of a file (the options of a call, the entries
//! of the model) instead of stopping at the first, so that `nnc check` and the editor show them
//! all at once. Each check still runs on its own; a failed one leaves a stand-in value that no
//! result is ever built from, because `finish` refuses to build once an error was kept.

use crate::diag::Diagnostic;

#[derive(Default)]
pub(super) struct Errors(Vec<Diagnostic>);

impl Errors {
    /// The value of a check that succeeded, or `stand_in` after keeping its errors.
    pub fn take<T, E: Into<Vec<Diagnostic>>>(&mut self, r: Result<T, E>, stand_in: T) -> T {
        r.unwrap_or_else(|e| {
            self.0.extend(e.into());
            stand_in
        })
    }

    /// `build()` when every check passed, else the errors kept, in the order of the file.
    pub fn finish<T>(self, build: impl FnOnce() -> T) -> Result<T, Vec<Diagnostic>> {
        if self.0.is_empty() {
            return Ok(build());
        }
        let mut errors = self.0;
        // A stable sort: errors at one place keep the order they were found in.
        errors.sort_by_key(|e| e.labels.first().map(|l| l.span.start));
        Err(errors)
    }
}
