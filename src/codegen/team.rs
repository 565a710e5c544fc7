//! Threads that run one compiled function together. A function compiled for `parts` threads is
//! run by all of them at once, each with its own [`Part`] (its index and the team's shared
//! state): every thread walks the same code, takes its share of each kernel (a range of a fused
//! loop's elements, a block of a matrix product's output) and waits at a barrier before a step
//! that reads what another thread wrote (see `schedule`). The calling thread is part 0; the
//! others are workers the team owns for the function's lifetime, which wait for the next call by
//! spinning for a while (training calls the step back to back) and then sleeping.
//!
//! A team is owned by one `CompiledFunction`, whose calls take `&mut self`, so one job runs at a
//! time. The caller writes the job, then publishes it by incrementing a sequence number; a worker
//! reads it only after seeing the new number and reports back by incrementing `finished`, and the
//! caller returns only when every worker has: so the job is never written while read, and every
//! buffer of the call outlives every thread's use of it.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::fpmode::Flushing;
use super::jit::EntryFn;

/// What each thread's code is given: which part it runs, of how many, and the team's barrier.
/// Generated code reads `index` (and passes the pointer to the helpers that split their work);
/// `#[repr(C)]` fixes the offsets it reads at.
#[repr(C)]
pub(super) struct Part {
    pub index: i64,
    pub count: i64,
    shared: *const Shared,
}

/// Byte offset of `Part::index`, for generated code.
pub(super) const PART_INDEX_OFFSET: i32 = 0;

impl Part {
    /// The part of a function compiled for one thread: no team behind it.
    pub fn alone() -> Part {
        Part {
            index: 0,
            count: 1,
            shared: std::ptr::null(),
        }
    }
}

/// One call's arguments, as the entry point takes them.
#[derive(Clone, Copy)]
struct Job {
    entry: EntryFn,
    table: *const *mut f32,
    lens: *const i64,
    batch: i64,
}

/// A value alone on its cache lines (two, since processors fetch lines in adjacent pairs): the
/// counters that different threads write would otherwise bounce one line between the cores.
#[repr(align(128))]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Shared {
    parts: usize,
    /// Incremented to publish a job in `job`.
    sequence: Line<AtomicU64>,
    job: UnsafeCell<Option<Job>>,
    /// Workers that have finished the current job.
    finished: Line<AtomicUsize>,
    /// Each worker's return code for the current job.
    codes: Vec<AtomicI32>,
    /// The barrier: threads arrived in this round, and the round number.
    arrived: Line<AtomicUsize>,
    round: Line<AtomicU64>,
    /// A part stopped (a failed bounds check in checked mode): the others leave their barrier.
    aborted: Line<AtomicBool>,
    /// Workers asleep (or about to be), and what wakes them.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
}

// SAFETY: `job` is written only by the caller between jobs, when no worker reads it (see the
// module comment); every other field is atomic or a lock. The raw pointers in a job are only
// dereferenced by the entry point during the call that owns the buffers.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

/// Spins before yielding the processor while waiting: a step's threads meet within microseconds
/// when both have a core, but on a loaded machine the other thread may not be running at all.
fn wait_until(mut done: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < 1 << 14 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

impl Shared {
    /// Wait until every part has arrived; `false` when a part aborted instead.
    fn barrier(&self) -> bool {
        let round = self.round.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.parts {
            self.arrived.store(0, Ordering::Relaxed);
            self.round.fetch_add(1, Ordering::Release);
        } else {
            wait_until(|| {
                self.round.load(Ordering::Acquire) != round || self.aborted.load(Ordering::Acquire)
            });
        }
        !self.aborted.load(Ordering::Acquire)
    }
}

/// The workers of one compiled function and what they share.
pub(super) struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Team {
    /// A team of `parts` threads: the caller and `parts - 1` workers, started now.
    pub fn new(parts: usize) -> std::io::Result<Team> {
        let shared = Arc::new(Shared {
            parts,
            sequence: Line(AtomicU64::new(0)),
            job: UnsafeCell::new(None),
            finished: Line(AtomicUsize::new(0)),
            codes: (0..parts).map(|_| AtomicI32::new(0)).collect(),
            arrived: Line(AtomicUsize::new(0)),
            round: Line(AtomicU64::new(0)),
            aborted: Line(AtomicBool::new(false)),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(parts.saturating_sub(1));
        for index in 1..parts {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("nnc-part-{index}"))
                .spawn(move || work(&shared, index))?;
            workers.push(handle);
        }
        Ok(Team { shared, workers })
    }

    pub fn parts(&self) -> usize {
        self.shared.parts
    }
    /// Run `entry` on every part at once; the calling thread is part 0. Returns the first
    /// non-zero code of the parts (checked mode's failures), else 0.
    ///
    /// # Safety
    /// The entry point's contract for `table`, `lens` and `batch` (see `CompiledFunction::run`),
    /// for code compiled for this team's number of parts.
    pub unsafe fn run(
        &mut self,
        entry: EntryFn,
        table: *const *mut f32,
        lens: *const i64,
        batch: i64,
    ) -> i32 {
        let s = &*self.shared;
        // SAFETY: every worker finished the previous job (the previous call waited for it) and
        // reads `job` only after the sequence number below changes.
        unsafe {
            *s.job.get() = Some(Job {
                entry,
                table,
                lens,
                batch,
            })
        };
        s.finished.store(0, Ordering::Relaxed);
        s.arrived.store(0, Ordering::Relaxed);
        s.aborted.store(false, Ordering::Relaxed);
        s.sequence.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let part = Part {
            index: 0,
            count: s.parts as i64,
            shared: s,
        };
        // SAFETY: the caller's contract.
        let code = unsafe { entry(table, lens, batch, &part) };
        if code != 0 {
            abort(s);
        }
        wait_until(|| s.finished.load(Ordering::Acquire) == s.parts - 1);
        let codes =
            std::iter::once(code).chain(s.codes[1..].iter().map(|c| c.load(Ordering::Relaxed)));
        // A real failure's code before the "another part failed" code of those it stopped.
        codes
            .clone()
            .find(|&c| c > 0)
            .or_else(|| codes.clone().find(|&c| c != 0))
            .unwrap_or(0)
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.shutdown.store(true, Ordering::SeqCst);
        {
            let _guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            // A worker never panics (it only runs generated code and atomics); if one did, the
            // panic was reported on its thread already.
            let _ = w.join();
        }
    }
}

fn abort(s: &Shared) {
    s.aborted.store(true, Ordering::Release);
}

/// A worker's life: wait for a job, run its part, report, until the team is dropped.
fn work(shared: &Shared, index: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        loop {
            if shared.sequence.load(Ordering::Acquire) != seen
                || shared.shutdown.load(Ordering::Acquire)
            {
                break;
            }
            if spins < 1 << 16 {
                std::hint::spin_loop();
                spins += 1;
                continue;
            }
            // Asleep until the next job: registered as a sleeper before checking once more,
            // so a job published meanwhile is seen here or wakes the condition variable.
            let guard = shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            shared.sleepers.fetch_add(1, Ordering::SeqCst);
            let _guard = shared
                .wake
                .wait_while(guard, |_| {
                    shared.sequence.load(Ordering::SeqCst) == seen
                        && !shared.shutdown.load(Ordering::SeqCst)
                })
                .unwrap_or_else(|e| e.into_inner());
            shared.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        seen = shared.sequence.load(Ordering::Acquire);
        // SAFETY: the caller wrote the job before publishing the sequence number just read, and
        // does not write it again before this worker reports it finished.
        let job = unsafe { *shared.job.get() }.expect("invariant: a published job is present");
        let part = Part {
            index: index as i64,
            count: shared.parts as i64,
            shared,
        };
        let code = {
            let _flushing = Flushing::begin();
            // SAFETY: the caller of `Team::run` promised the entry point's contract, and keeps
            // the buffers alive until this worker reports below.
            unsafe { (job.entry)(job.table, job.lens, job.batch, &part) }
        };
        if code != 0 {
            abort(shared);
        }
        shared.codes[index].store(code, Ordering::Relaxed);
        shared.finished.fetch_add(1, Ordering::Release);
    }
}

/// Generated code's barrier between steps: returns 0 when every part arrived, 1 when a part
/// aborted (the caller then returns `ABORTED`).
///
/// # Safety
/// `part` is the `Part` the entry point was given.
pub(super) unsafe extern "C" fn nnc_barrier(part: *const Part) -> i32 {
    // SAFETY: the caller's promise; a part compiled for several threads has a team behind it.
    let shared = unsafe { &*(*part).shared };
    i32::from(!shared.barrier())
}

/// The code a part returns when it left a barrier because another part failed.
pub(super) const ABORTED: i32 = -1;
