//! The driver every harness shares: each input goes to one target function of
//! `tests/common/targets.rs` (the same functions `tests/no_panic.rs` feeds random text). Built with
//! the feature `afl`, a harness runs under AFL++ in persistent mode (many inputs per process, read
//! from standard input); built without it, it runs each file named on its command line, or
//! standard input, once: how the corpora are replayed. A target's panic aborts the process, which
//! is what AFL++ records as a crash.

#[path = "../../tests/common/targets.rs"]
pub mod targets;

use std::io::Read;

#[cfg(feature = "afl")]
extern "C" {
    fn __afl_persistent_loop(max: u32) -> i32;
    fn __afl_manual_init();
}

/// Markers AFL++ looks for in a binary to use persistent mode and a deferred fork server.
#[cfg(feature = "afl")]
#[used]
static PERSISTENT: &[u8] = b"##SIG_AFL_PERSISTENT##\0";
#[cfg(feature = "afl")]
#[used]
static DEFERRED: &[u8] = b"##SIG_AFL_DEFER_FORKSRV##\0";

/// Run `target` on every input: AFL++'s under `afl`, else the files named in the arguments (or
/// standard input). `setup` runs once, before the fork server starts.
pub fn drive<S>(setup: impl FnOnce() -> S, target: impl Fn(&S, &[u8])) {
    let state = setup();
    #[cfg(feature = "afl")]
    {
        // SAFETY: AFL++'s runtime is linked in by `fuzz/run.sh`; both calls are its documented
        // interface for a deferred fork server and a persistent loop.
        unsafe { __afl_manual_init() };
        let mut input = Vec::new();
        while unsafe { __afl_persistent_loop(10_000) } != 0 {
            input.clear();
            if std::io::stdin().read_to_end(&mut input).is_ok() {
                target(&state, &input);
            }
        }
    }
    #[cfg(not(feature = "afl"))]
    {
        let files: Vec<String> = std::env::args().skip(1).collect();
        if files.is_empty() {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .expect("standard input reads");
            target(&state, &input);
        }
        for file in files {
            let input = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
            target(&state, &input);
        }
    }
}

/// The input as text, as a file would be read (invalid UTF-8 replaced).
pub fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}
