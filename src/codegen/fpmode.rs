//! The floating-point mode compiled code runs in: subnormal numbers flushed to zero, as inputs
//! and as results (x86-64: MXCSR's DAZ and FTZ bits; AArch64: FPCR's FZ bit). A training run
//! whose values decay towards zero otherwise spends most of its time in the processor's slow
//! path for subnormal operands: measured twelvefold on a 2-core Xeon. XLA and TensorFlow run
//! their CPU threads in the same mode.
//!
//! The mode is per thread and belongs to the caller: [`Flushing`] sets it for the duration of a
//! call on the thread that makes it and restores the caller's mode when dropped, so the library
//! can be embedded in a program that relies on IEEE subnormals. Every thread that runs part of
//! compiled code (a split matrix product's second half) takes its own guard. On other
//! architectures the guard does nothing.

/// While alive, subnormal inputs and results of f32 arithmetic on this thread are zero.
#[must_use = "the mode holds only while the guard lives"]
pub struct Flushing {
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    saved: u64,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// MXCSR's flush-to-zero (results) and denormals-are-zero (inputs) bits.
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    pub fn read() -> u64 {
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit MXCSR register to the given address, a local of
        // the right size; SSE is part of the x86-64 baseline.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        u64::from(csr)
    }

    pub fn write(csr: u64) {
        let csr = csr as u32;
        // SAFETY: `ldmxcsr` loads MXCSR from the given address; the value is one `read` returned
        // with at most the FTZ and DAZ bits set, which are valid on every x86-64 processor with
        // DAZ (all since the Pentium 4's later steppings, and every x86-64 one).
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
    }

    pub fn flushing(csr: u64) -> u64 {
        csr | u64::from(FTZ_DAZ)
    }

    #[cfg(test)]
    pub fn is_flushing(csr: u64) -> bool {
        csr & u64::from(FTZ_DAZ) == u64::from(FTZ_DAZ)
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// FPCR's flush-to-zero bit (inputs and results, single and double precision).
    const FZ: u64 = 1 << 24;

    pub fn read() -> u64 {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effect.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
        fpcr
    }

    pub fn write(fpcr: u64) {
        // SAFETY: the value is one `read` returned with at most the FZ bit set.
        unsafe {
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
    }

    pub fn flushing(fpcr: u64) -> u64 {
        fpcr | FZ
    }

    #[cfg(test)]
    pub fn is_flushing(fpcr: u64) -> bool {
        fpcr & FZ == FZ
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    pub fn read() -> u64 {
        0
    }
    pub fn write(_: u64) {}
    pub fn flushing(mode: u64) -> u64 {
        mode
    }
    #[cfg(test)]
    pub fn is_flushing(_: u64) -> bool {
        false
    }
}

impl Flushing {
    /// Flush subnormals on this thread until the guard is dropped.
    pub fn begin() -> Flushing {
        let saved = arch::read();
        let wanted = arch::flushing(saved);
        if wanted != saved {
            arch::write(wanted);
        }
        Flushing { saved }
    }
}

impl Drop for Flushing {
    fn drop(&mut self) {
        if arch::read() != self.saved {
            arch::write(self.saved);
        }
    }
}

/// IEEE arithmetic on this thread (no flushing), whatever mode it inherited: worker threads
/// created while a guard was alive start flushing, which would hide a worker without a guard.
#[cfg(test)]
pub fn clear() {
    let bits = arch::flushing(0);
    arch::write(arch::read() & !bits);
}

/// Whether subnormals are flushed on this thread now.
#[cfg(test)]
pub fn is_flushing() -> bool {
    arch::is_flushing(arch::read())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subnormal f32, hidden from the optimizer so the arithmetic happens at run time.
    fn subnormal() -> f32 {
        std::hint::black_box(1e-40f32)
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn the_guard_flushes_and_restores_the_callers_mode() {
        // MXCSR's six low bits record exceptions that happened (sticky flags), not the mode.
        let mode = || arch::read() & !0x3f;
        let before = mode();
        assert!(!is_flushing(), "test threads start in IEEE mode");
        assert_ne!(subnormal() * std::hint::black_box(1.0f32), 0.0);
        {
            let _outer = Flushing::begin();
            assert!(is_flushing());
            assert_eq!(subnormal() * std::hint::black_box(1.0f32), 0.0);
            {
                // Nested guards (a kernel inside a call) leave the mode set when they end.
                let _inner = Flushing::begin();
            }
            assert!(is_flushing());
        }
        assert_eq!(mode(), before, "the caller's mode is back");
        assert_ne!(subnormal() * std::hint::black_box(1.0f32), 0.0);
    }
}
