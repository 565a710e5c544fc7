//! Calls into the Parquet reader that cannot panic the program: the reader asserts on some
//! damaged input (a run-length header longer than its format allows, say) rather than returning
//! an error, and nnc must answer any file with a diagnostic. [`guarded`] turns such a panic into
//! an error message, without the panic being printed.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`guarded`], where a panic is an answer, not a bug.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// `f`'s result, or the message of the panic it raised.
pub(super) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    quiet_when_guarded();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.map_err(|payload| {
        let message = (payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        format!("the file is damaged (the Parquet reader stopped: {message})")
    })
}

/// Install, once, a panic hook that prints nothing for a panic inside [`guarded`] and hands every
/// other panic to the hook that was there before.
fn quiet_when_guarded() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_an_error_and_the_guard_is_lifted_after() {
        assert_eq!(guarded(|| 7), Ok(7));
        let err = guarded(|| -> u8 { panic!("bad header") }).unwrap_err();
        assert!(err.contains("bad header"), "{err}");
        assert!(!GUARDED.with(Cell::get));
        let nested = guarded(|| guarded(|| -> u8 { panic!("inner") }).is_err());
        assert_eq!(nested, Ok(true));
    }
}
