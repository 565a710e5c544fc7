//! Calling compiled code: binding the caller's buffers to the entry point's table after checking
//! each one's length against its argument's shape at the batch size, running the entry point, and
//! reporting a failed bounds check of checked mode. Persistent buffers (parameters and state) are
//! taken mutably and data buffers read-only; nothing is allocated. Compiled code runs with
//! subnormal numbers flushed to zero (`fpmode`).

use super::fpmode::Flushing;
use super::team::Part;
use super::{emit, CodegenError, CompiledFunction};

impl CompiledFunction {
    /// Run the function once on `batch` rows. `persistent` holds one buffer per parameter or
    /// state argument and `data` one per data argument, each in argument order (see
    /// `ir::Function::persistent_args`): data buffers hold `batch` rows (row-major), persistent
    /// ones their full size. Data buffers are only read. Afterwards every update has been written
    /// back into its argument's buffer. Nothing is allocated.
    pub fn call<P, D>(
        &mut self,
        persistent: &mut [P],
        data: &[D],
        batch: usize,
    ) -> Result<(), CodegenError>
    where
        P: AsMut<[f32]>,
        D: AsRef<[f32]>,
    {
        if batch == 0 || batch > self.max_batch {
            return Err(CodegenError::Arguments(format!(
                "batch size {batch} is outside 1..={} that `{}` was compiled for",
                self.max_batch, self.function.name
            )));
        }
        self.bind(persistent, data, batch, true)?;
        // SAFETY: `bind` checked every buffer's length against its shape at this batch, the
        // arena was sized by the plan for `max_batch >= batch`, and the generated code touches
        // nothing else; it writes only the arena and persistent buffers, which are borrowed
        // mutably and therefore alias nothing else.
        #[allow(unsafe_code)]
        let rc = unsafe { self.run(batch) };
        self.finish_call(rc, batch)
    }

    /// Fill the buffer table from the caller's buffers, checking (when `check`) that each has the
    /// length its argument needs at `batch`.
    fn bind<P, D>(
        &mut self,
        persistent: &mut [P],
        data: &[D],
        batch: usize,
        check: bool,
    ) -> Result<(), CodegenError>
    where
        P: AsMut<[f32]>,
        D: AsRef<[f32]>,
    {
        let f = &self.function;
        if persistent.len() != self.persistent_count || data.len() != self.data_count {
            return Err(CodegenError::Arguments(format!(
                "`{}` takes {} persistent and {} data buffers, got {} and {}",
                f.name,
                self.persistent_count,
                self.data_count,
                persistent.len(),
                data.len()
            )));
        }
        for (slot, (b, a)) in self.bindings.iter().zip(&f.args).enumerate() {
            let (ptr, len) = if b.persistent {
                let buf = persistent[b.index].as_mut();
                (buf.as_mut_ptr(), buf.len())
            } else {
                let buf = data[b.index].as_ref();
                // Generated code never writes a data argument (updates target only parameters
                // and state, which the verifier checks), so handing out a `*mut` is sound.
                (buf.as_ptr().cast_mut(), buf.len())
            };
            let want = if b.batched {
                b.row.checked_mul(batch)
            } else {
                Some(b.row)
            };
            if check && want != Some(len) {
                return Err(CodegenError::Arguments(format!(
                    "argument `{}` of {} needs {} floats at batch {batch}, got {len}",
                    f.name_of(a.value),
                    f.shape(a.value),
                    want.map_or_else(|| "more than usize::MAX".into(), |w| w.to_string())
                )));
            }
            self.table[slot] = ptr;
            self.lens[slot] = len as i64;
        }
        let n = f.args.len();
        self.table[n] = self.arena.as_mut_ptr();
        self.lens[n] = self.arena.len() as i64;
        self.table[n + 1] = self.descriptors.as_ptr().cast_mut().cast();
        Ok(())
    }

    fn finish_call(&mut self, rc: i32, batch: usize) -> Result<(), CodegenError> {
        self.last_batch = batch;
        if rc != 0 {
            let f = &self.function;
            return Err(CodegenError::BoundsCheck {
                function: f.name.clone(),
                location: emit::describe_failure(f, rc),
            });
        }
        Ok(())
    }

    /// Run the entry point on the table `bind` filled.
    ///
    /// # Safety
    /// Unless the function was compiled in checked mode, the table must hold buffers of the
    /// lengths the arguments need at `batch` (as `bind` checks), and `batch` must not exceed
    /// `max_batch`.
    #[allow(unsafe_code)]
    unsafe fn run(&mut self, batch: usize) -> i32 {
        // Subnormals flushed while the code runs, the caller's mode restored after (`fpmode`).
        let _flushing = Flushing::begin();
        let (table, lens) = (self.table.as_ptr(), self.lens.as_ptr());
        match &mut self.team {
            // SAFETY: the caller's promise, or the generated checks in checked mode; the code was
            // compiled for this team's number of parts.
            Some(team) => unsafe { team.run(self.entry, table, lens, batch as i64) },
            // SAFETY: as above, for code compiled for one thread.
            None => unsafe { (self.entry)(table, lens, batch as i64, &Part::alone()) },
        }
    }

    /// Run the entry point with buffers and a batch that `call` would refuse, so tests can see
    /// checked mode catch what the plan does not cover.
    #[cfg(test)]
    pub(super) fn call_unguarded(
        &mut self,
        persistent: &mut [&mut [f32]],
        data: &[&[f32]],
        batch: usize,
    ) -> i32 {
        assert!(
            self.checked,
            "invariant: only checked code may run unguarded"
        );
        self.bind(persistent, data, batch, false)
            .expect("the right number of buffers");
        // SAFETY: checked mode verifies every range against the lengths in the table before
        // touching it.
        #[allow(unsafe_code)]
        unsafe {
            self.run(batch)
        }
    }
}
