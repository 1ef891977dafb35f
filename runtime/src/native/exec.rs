//! Executable memory and the dispatcher that runs native code.
//!
//! Executable memory comes from the host ([`ExecHost`]): with `std`, [`MMAP_HOST`] maps
//! anonymous pages (memmap2); the bare-metal kernel (`kernel/`) maps frames into its own page
//! tables. Either way pages are filled while writable and not executable, then switched to
//! read+execute before anything runs; they are never writable and executable at once, and
//! they are released on drop.
#![allow(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::{DIRECT_HELPERS, DONE, DirectFn, Env, FAULT, RegionEntry, decode_fault, status};
use crate::fault::{Fault, FaultKind};
use crate::helpers::{HelperError, HelperReturn, Helpers, NoHelpers};
use crate::interp::{
    CTX_BASE, Context, MAX_CALL_DEPTH, RunOptions, STACK_BASE, STACK_FRAME, STACK_TOP, Vm,
};

/// Bytes of stack, all frames.
const STACK_SIZE: usize = STACK_FRAME * MAX_CALL_DEPTH;

/// Largest native program accepted, in bytes.
pub const MAX_CODE_SIZE: usize = 64 << 20;

/// Why native code could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// No code, or more than [`MAX_CODE_SIZE`] bytes.
    Size(usize),
    /// The region table is empty, unsorted, does not start at slot 0, or points outside the code.
    Regions,
    /// This host cannot run the code (only x86-64 hosts run native code so far: other
    /// architectures need an instruction-cache flush after writing code).
    Host(&'static str),
    /// Mapping or protecting the pages failed (the host's reason).
    Map(String),
    /// The package's tag is not valid under the key
    /// ([`NativeProgram::load_authenticated`]).
    Unauthenticated(crate::mac::MacError),
    /// The authenticated package does not fit the verified program or this host: the named
    /// part differs ([`NativeProgram::load_authenticated`]).
    Mismatch(&'static str),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Size(n) => {
                write!(f, "native code of {n} bytes (must be 1 to {MAX_CODE_SIZE} bytes)")
            }
            LoadError::Regions => write!(f, "malformed region table"),
            LoadError::Host(why) => write!(f, "cannot run native code here: {why}"),
            LoadError::Map(e) => write!(f, "cannot map executable memory: {e}"),
            LoadError::Unauthenticated(e) => write!(f, "the package is not authenticated: {e:?}"),
            LoadError::Mismatch(what) => write!(
                f,
                "the authenticated package does not fit the verified program here: its {what} differs"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LoadError {}

/// A region function: `(env, slot) -> next slot`, [`DONE`] or [`FAULT`] ([`crate::native`]).
pub type RegionFn = unsafe extern "C" fn(*mut Env, u64) -> u64;

/// How a host calls native code: `guard(f, env, pc)` calls `f(env, pc)` and returns what it
/// returns, or [`FAULT`] when the host stopped the code (the bare-metal kernel returns there
/// from an MMU fault).
pub type CallGuard = unsafe fn(RegionFn, *mut Env, u64) -> u64;

/// Pages holding code, read+execute, released on drop.
///
/// # Safety
/// `base()..base() + len()` must stay mapped readable and executable, never writable, and
/// hold exactly the bytes it was made from, for as long as the value lives.
pub unsafe trait ExecPages: core::fmt::Debug + Send + Sync {
    /// Address of the first byte.
    fn base(&self) -> usize;
    /// Bytes of code.
    fn len(&self) -> usize;
    /// Whether there is no code (never, for pages an [`ExecHost`] made).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the runtime asks its host for to run native code: executable memory, and optionally
/// how to call into it and a helper trampoline of its own.
///
/// # Safety
/// [`ExecHost::map`] must return pages that fulfil [`ExecPages`]' contract for `code`
/// (`len() == code.len()`); [`ExecHost::guard`], if any, must call the function it is given
/// with the arguments it is given and return its result, or return [`FAULT`] having stopped
/// the code; [`ExecHost::trampoline`], if any, must follow the helper contract of
/// [`crate::native`] (arguments in `env.regs[1..=5]`, the result in `env.regs[0]`, a
/// [`status`] code) and touch nothing else of the run.
pub unsafe trait ExecHost: core::fmt::Debug + Sync {
    /// Maps `code`: writable while it is copied in, then read+execute.
    fn map(&self, code: &[u8]) -> Result<Box<dyn ExecPages>, String>;

    /// How native code is called (`None`: directly).
    fn guard(&self) -> Option<CallGuard> {
        None
    }

    /// The helper trampoline native code calls (`None`: the runtime's, which calls the run's
    /// [`Helpers`]).
    fn trampoline(&self) -> Option<super::HelperFn> {
        None
    }
}

/// The std host's executable memory: anonymous pages (memmap2), mapped read+write, filled,
/// then made read+execute.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct MmapHost;

/// The std host.
#[cfg(feature = "std")]
pub static MMAP_HOST: MmapHost = MmapHost;

#[cfg(feature = "std")]
#[derive(Debug)]
struct MmapPages(memmap2::Mmap);

// SAFETY: the map is read+execute (`make_exec`) from the moment it exists as `MmapPages`,
// holds the bytes copied in, and is unmapped only on drop.
#[cfg(feature = "std")]
unsafe impl ExecPages for MmapPages {
    fn base(&self) -> usize {
        self.0.as_ptr() as usize
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// SAFETY: `map` returns `MmapPages` of exactly `code` (above); the default guard and
// trampoline are the runtime's own.
#[cfg(feature = "std")]
unsafe impl ExecHost for MmapHost {
    fn map(&self, code: &[u8]) -> Result<Box<dyn ExecPages>, String> {
        let mut map = memmap2::MmapMut::map_anon(code.len()).map_err(|e| e.to_string())?;
        map.copy_from_slice(code);
        let map = map.make_exec().map_err(|e| e.to_string())?;
        Ok(Box::new(MmapPages(map)))
    }
}

/// Read+execute pages holding code, from an [`ExecHost`]; released on drop.
#[derive(Debug)]
pub struct ExecMemory {
    pages: Box<dyn ExecPages>,
}

impl ExecMemory {
    /// Maps `code` writable, copies it in, then makes the pages read+execute (the std host's
    /// memory).
    #[cfg(feature = "std")]
    pub fn new(code: &[u8]) -> Result<ExecMemory, LoadError> {
        ExecMemory::new_in(&MMAP_HOST, code)
    }

    /// [`ExecMemory::new`] with `host`'s memory.
    pub fn new_in(host: &'static dyn ExecHost, code: &[u8]) -> Result<ExecMemory, LoadError> {
        if code.is_empty() || code.len() > MAX_CODE_SIZE {
            return Err(LoadError::Size(code.len()));
        }
        let pages = host.map(code).map_err(LoadError::Map)?;
        if pages.len() != code.len() {
            return Err(LoadError::Map(String::from("the host mapped another length")));
        }
        Ok(ExecMemory { pages })
    }

    /// Address of the first byte.
    pub fn base(&self) -> usize {
        self.pages.base()
    }

    /// The code.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ExecPages`' contract: `base..base + len` is mapped readable and unchanging
        // for as long as `self.pages` lives, which this borrow does not outlive.
        unsafe { core::slice::from_raw_parts(self.pages.base() as *const u8, self.pages.len()) }
    }

    /// Calls `f(env, pc)` the way the host wants ([`ExecHost::guard`]).
    ///
    /// # Safety
    /// As calling `f(env, pc)` directly.
    #[inline(always)]
    unsafe fn call(&self, guard: Option<CallGuard>, f: RegionFn, env: *mut Env, pc: u64) -> u64 {
        match guard {
            // SAFETY: the caller's contract; the guard calls `f` with these arguments.
            Some(g) => unsafe { g(f, env, pc) },
            // SAFETY: the caller's contract.
            None => unsafe { f(env, pc) },
        }
    }
}

/// A context as native code sees it: its host address, its length, and 1 when writable.
fn host_parts(ctx: Context<'_>) -> (u64, u64, u64) {
    match ctx {
        Context::ReadOnly(b) => (b.as_ptr() as u64, b.len() as u64, 0),
        Context::ReadWrite(b) => (b.as_mut_ptr() as u64, b.len() as u64, 1),
    }
}

/// Native code loaded and ready to run.
#[derive(Debug)]
pub struct NativeProgram {
    mem: ExecMemory,
    /// How the host calls the code ([`ExecHost::guard`]).
    guard: Option<CallGuard>,
    /// The helper trampoline runs give the code ([`ExecHost::trampoline`]).
    trampoline: super::HelperFn,
    /// The host dispatches helpers itself (it gave a trampoline of its own): runs never install
    /// the runtime's direct helpers, so every helper call reaches the host's table.
    host_helpers: bool,
    regions: Vec<RegionEntry>,
    checked: bool,
    /// Address of the function of region 0 (slot 0, where every run starts).
    entry: usize,
    /// Bytes under the top of any frame a run may write (see [`NativeProgram::set_stack_use`]).
    stack_use: usize,
    /// The context lengths runs accept (see [`NativeProgram::restrict_ctx_len`]).
    ctx_len: (u64, u64),
}

/// How a native run ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NativeOutcome {
    /// `r0` at exit.
    pub r0: u64,
    /// Instructions executed, counted by checked code; trusted code does not count.
    pub executed: Option<u64>,
}

/// The run's record: the part native code sees, then the host's.
#[repr(C)]
struct RunFrame<'h> {
    env: Env,
    /// The run's helper table, valid while native code runs (a [`NativeRunner`] keeps the
    /// last run's, dangling, between runs, and never uses it then).
    helpers: *mut (dyn Helpers + 'h),
    failed: Option<FaultKind>,
    /// Set when a helper was called: the code stored `r1`-`r5` in `env.regs` for it.
    clobbered: bool,
}

/// Calls `helpers` for native code (the trampoline and the direct helpers below) with `args`
/// (`r1`-`r5`): the result into `env.regs[0]`, a failure's [`FaultKind`] into `failed`.
#[inline(always)]
fn call_helper<H: Helpers + ?Sized>(
    helpers: &mut H,
    env: &mut Env,
    id: u64,
    args: [u64; 5],
    failed: &mut Option<FaultKind>,
) -> u64 {
    match helpers.call(id, args) {
        Ok(HelperReturn::Value(v)) => {
            env.regs[0] = v;
            status::VALUE
        }
        Ok(HelperReturn::Stop(v)) => {
            env.regs[0] = v;
            status::STOP
        }
        Err(HelperError::Unknown) => {
            *failed = Some(FaultKind::UnknownHelper { id });
            status::FAILED
        }
        Err(HelperError::Failed(reason)) => {
            *failed = Some(FaultKind::HelperFailed { id: id as u32, reason });
            status::FAILED
        }
    }
}

/// The trampoline native code calls for `call imm` and `callx`.
unsafe extern "C" fn trampoline(env: *mut Env, id: u64, _pc: u64) -> u64 {
    // SAFETY: native code passes back the `env` pointer it was given by `NativeProgram::run`
    // or `NativeRunner::run`, which points at the first field of a live `#[repr(C)]`
    // `RunFrame` that the caller holds no other reference to while the native call is in
    // progress.
    let frame = unsafe { &mut *env.cast::<RunFrame<'_>>() };
    let RunFrame { env, helpers, failed, clobbered } = frame;
    *clobbered = true;
    // SAFETY: both callers set `helpers` from a `&mut dyn Helpers` they borrow for the whole
    // native call, and use it themselves only after the call returns.
    let helpers = unsafe { &mut **helpers };
    let args = [env.regs[1], env.regs[2], env.regs[3], env.regs[4], env.regs[5]];
    unwind_guard(id, failed, |failed| call_helper(helpers, env, id, args, failed))
}

/// A direct helper ([`DirectFn`]): helper `ID` of a run whose helper table is an `H`, called
/// by native code with its arguments in registers. It does what the trampoline does (same
/// result, same failures, a panic caught the same way), with `H::call` dispatched statically
/// and no argument stored; it is only ever placed in a run made by
/// [`NativeProgram::run_with`] or [`NativeRunner::run_with`] with an `H`.
unsafe extern "C" fn direct_helper<H: Helpers, const ID: u64>(
    env: *mut Env,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
) -> u64 {
    // SAFETY: as for `trampoline`: `env` is the first field of the live `RunFrame` of the run
    // that called, which nothing else refers to during the native call.
    let frame = unsafe { &mut *env.cast::<RunFrame<'_>>() };
    let RunFrame { env, helpers, failed, .. } = frame;
    // SAFETY: only `run_with::<H>` installs this table, and it sets `helpers` from its
    // `&mut H`, borrowed for the whole native call: the trait object's data pointer is that
    // `H`, used by nothing else until the call returns.
    let helpers = unsafe { &mut *(*helpers).cast::<H>() };
    unwind_guard(ID, failed, |failed| call_helper(helpers, env, ID, [a1, a2, a3, a4, a5], failed))
}

/// Runs a helper for native code: with `std`, a panic becomes a `HelperFailed` fault instead of
/// unwinding through native frames; without `std` a panic aborts, so nothing unwinds either.
fn unwind_guard(
    id: u64,
    failed: &mut Option<FaultKind>,
    call: impl FnOnce(&mut Option<FaultKind>) -> u64,
) -> u64 {
    #[cfg(feature = "std")]
    {
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(failed)));
        res.unwrap_or_else(|_| {
            *failed =
                Some(FaultKind::HelperFailed { id: id as u32, reason: "the helper panicked" });
            status::FAILED
        })
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = id;
        call(failed)
    }
}

/// The direct helpers of helper tables of type `H`: entry `id` is helper `id`'s
/// [`direct_helper`].
struct DirectTable<H>(core::marker::PhantomData<H>);

impl<H: Helpers> DirectTable<H> {
    const FNS: [DirectFn; DIRECT_HELPERS] = [
        direct_helper::<H, 0>,
        direct_helper::<H, 1>,
        direct_helper::<H, 2>,
        direct_helper::<H, 3>,
        direct_helper::<H, 4>,
        direct_helper::<H, 5>,
        direct_helper::<H, 6>,
        direct_helper::<H, 7>,
        direct_helper::<H, 8>,
        direct_helper::<H, 9>,
        direct_helper::<H, 10>,
        direct_helper::<H, 11>,
        direct_helper::<H, 12>,
        direct_helper::<H, 13>,
        direct_helper::<H, 14>,
        direct_helper::<H, 15>,
    ];

    /// The table, for the run's `Env::direct`.
    fn get() -> *const [DirectFn; DIRECT_HELPERS] {
        &Self::FNS
    }
}

impl NativeProgram {
    /// Loads code made by udfkit's JIT for this host.
    ///
    /// # Safety
    /// `code` must be machine code for this host that follows the contract of
    /// [`crate::native`], with `regions` naming its region functions: it will be executed.
    /// The JIT's own output and authenticated packages from a trusted toolchain qualify.
    #[cfg(feature = "std")]
    pub unsafe fn load(
        code: &[u8],
        regions: Vec<RegionEntry>,
        checked: bool,
    ) -> Result<NativeProgram, LoadError> {
        // SAFETY: the caller's contract.
        unsafe { NativeProgram::load_in(&MMAP_HOST, code, regions, checked) }
    }

    /// [`NativeProgram::load`] into `host`'s executable memory, run as `host` says.
    ///
    /// # Safety
    /// As [`NativeProgram::load`].
    pub unsafe fn load_in(
        host: &'static dyn ExecHost,
        code: &[u8],
        regions: Vec<RegionEntry>,
        checked: bool,
    ) -> Result<NativeProgram, LoadError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(LoadError::Host(
                "only x86-64 hosts run native code (others need an instruction-cache flush)",
            ));
        }
        let sorted = regions.windows(2).all(|w| w[0].start < w[1].start);
        let inside = regions.iter().all(|r| (r.offset as usize) < code.len());
        if regions.first().map(|r| r.start) != Some(0) || !sorted || !inside {
            return Err(LoadError::Regions);
        }
        let mem = ExecMemory::new_in(host, code)?;
        let entry = mem.base() + regions[0].offset as usize;
        Ok(NativeProgram {
            guard: host.guard(),
            trampoline: host.trampoline().unwrap_or(trampoline),
            host_helpers: host.trampoline().is_some(),
            mem,
            regions,
            checked,
            entry,
            stack_use: STACK_FRAME,
            ctx_len: (0, u64::MAX),
        })
    }

    /// Declares that no run writes more than the top `bytes` bytes of any stack frame (for
    /// code from verified bytecode, the verifier's `Facts::stack_use`). A [`NativeRunner`] then
    /// zeroes only those bytes of the entry frame before a run instead of the whole frame: the
    /// rest is still zero from the runner's creation, and each local call zeroes its own frame.
    /// [`NativeProgram::run`] of trusted code (not checked) also zeroes only those bytes of the
    /// `Vm`'s entry frame. The default, a whole frame, suits any code.
    ///
    /// Memory safety never depends on it (native code touches only the stack, the context and
    /// its environment, whatever the stack holds); a declaration too small would only let a
    /// runner's run see bytes an earlier run left, which verified code cannot read anyway (the
    /// verifier rejects reads of stack bytes not written before).
    pub fn set_stack_use(&mut self, bytes: usize) {
        self.stack_use = bytes.min(STACK_FRAME);
    }

    /// Narrows the context lengths the code may run on to those also in `[min, max]` (for code
    /// compiled from the verifier's facts, `Facts::ctx_len`: trusted code is safe only on the
    /// lengths the proof assumed). Every run on any other length is refused before any
    /// instruction runs, with [`FaultKind::ContextRefused`]. The default accepts every length
    /// (checked code); a call never widens what an earlier one narrowed, so holding a
    /// `&mut NativeProgram` cannot make trusted code run on a length its proof did not cover.
    pub fn restrict_ctx_len(&mut self, min: u64, max: u64) {
        self.ctx_len = (self.ctx_len.0.max(min), self.ctx_len.1.min(max));
    }

    /// The context lengths runs accept.
    pub fn ctx_len(&self) -> (u64, u64) {
        self.ctx_len
    }

    /// `Err` (nothing runs) when a context of `len` bytes is outside [`Self::ctx_len`].
    #[inline(always)]
    fn admit(&self, len: u64) -> Result<(), Fault> {
        let (min, max) = self.ctx_len;
        if min <= len && len <= max {
            Ok(())
        } else {
            Err(Fault { pc: 0, kind: FaultKind::ContextRefused { len, min, max } })
        }
    }

    /// Bytes of the entry frame a [`NativeRunner`] zeroes before each run.
    pub fn stack_use(&self) -> usize {
        self.stack_use
    }

    /// A runner: the environment and stack of [`NativeProgram::run`], set up once and reused
    /// by every run it makes, for the cheapest call per run.
    pub fn runner(&self) -> NativeRunner<'_> {
        NativeRunner::new(self)
    }

    /// The code as mapped.
    pub fn code(&self) -> &[u8] {
        self.mem.bytes()
    }

    /// Whether the code checks accesses and meters a budget.
    pub fn is_checked(&self) -> bool {
        self.checked
    }

    /// Runs on `ctx` with `vm`'s stack, calling `helpers`; the same registers on entry, the same
    /// result and the same faults as [`Vm::run`]. Trusted code ignores `opts.budget`.
    ///
    /// Helpers are called through the trampoline (dynamic dispatch, arguments stored in the
    /// environment); [`NativeProgram::run_with`] calls them directly.
    pub fn run(
        &self,
        vm: &mut Vm,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        opts: &RunOptions,
    ) -> Result<NativeOutcome, Fault> {
        self.run_table(vm, ctx, helpers, core::ptr::null(), opts)
    }

    /// [`NativeProgram::run`] with a helper table of a known type: `call imm` of ids below
    /// [`DIRECT_HELPERS`] calls `H::call` through a table of plain function pointers made for
    /// `H` (arguments in registers, no trampoline, no dynamic dispatch). Same results and
    /// faults.
    pub fn run_with<H: Helpers>(
        &self,
        vm: &mut Vm,
        ctx: Context<'_>,
        helpers: &mut H,
        opts: &RunOptions,
    ) -> Result<NativeOutcome, Fault> {
        self.run_table(vm, ctx, helpers, self.direct_table::<H>(), opts)
    }

    /// The direct helpers for `H`, or null where the host dispatches helpers itself.
    fn direct_table<H: Helpers>(&self) -> *const [DirectFn; DIRECT_HELPERS] {
        if self.host_helpers { core::ptr::null() } else { DirectTable::<H>::get() }
    }

    /// `run`, with `direct` null or the direct table of `helpers`' concrete type.
    #[inline(always)]
    fn run_table(
        &self,
        vm: &mut Vm,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        direct: *const [DirectFn; DIRECT_HELPERS],
        opts: &RunOptions,
    ) -> Result<NativeOutcome, Fault> {
        let (ctx_ptr, ctx_len, writable) = host_parts(ctx);
        self.admit(ctx_len)?;
        // Trusted (and hardened) code reads no stack byte it did not write first (the
        // verifier's rule for every path), so the program cannot see what an earlier run left
        // there; only the top `stack_use` bytes, every byte of the entry frame a run may write
        // (as a `NativeRunner` does), are zeroed, so that the host sees the stack the
        // interpreter leaves when the same program ran on `vm` before. Checked code, which may
        // run anything, gets a zeroed frame.
        let stack =
            if self.checked { vm.fresh_stack() } else { vm.fresh_stack_top(self.stack_use) };
        let mut regs = [0u64; 11];
        regs[1] = CTX_BASE;
        regs[2] = ctx_len;
        regs[3] = opts.r3;
        regs[10] = STACK_TOP;
        let mut frame = RunFrame {
            env: Env {
                regs,
                ctx_delta: ctx_ptr.wrapping_sub(CTX_BASE),
                ctx_len,
                stack_delta: (stack as u64).wrapping_sub(STACK_BASE),
                left: opts.budget,
                writable,
                helper: self.trampoline,
                fault: [0; 4],
                frames: [[0; 5]; crate::MAX_CALL_DEPTH],
                direct,
            },
            helpers: core::ptr::from_mut(helpers),
            failed: None,
            clobbered: false,
        };
        // `frame` stays put (on this stack frame) until `run` returns. The pointer is made from
        // the whole frame, so the trampoline may reach the host fields behind `env` (the first
        // field of a `#[repr(C)]` struct).
        let env: *mut Env = core::ptr::from_mut(&mut frame).cast::<Env>();
        // SAFETY: `env` points at a live frame whose context and stack pointers stay valid for
        // the call (`ctx` and `vm` are borrowed for all of `run`) and whose helper table is
        // `helpers`, borrowed for all of `run`; nothing else refers to `frame` meanwhile.
        let next = unsafe {
            let first = self.mem.call(self.guard, self.entry_fn(), env, 0);
            self.continue_at(env, first)
        };
        if next == DONE {
            Ok(NativeOutcome {
                r0: frame.env.regs[0],
                executed: self.checked.then(|| opts.budget - frame.env.left),
            })
        } else {
            let helper = frame.failed.take();
            Err(decode_fault(&frame.env, helper, opts.budget))
        }
    }

    /// The function of region 0.
    fn entry_fn(&self) -> RegionFn {
        // SAFETY: `load`'s contract makes `entry` the address of the function of region 0, of
        // this host's C ABI, in pages that stay mapped as long as `self`.
        unsafe { core::mem::transmute::<usize, RegionFn>(self.entry) }
    }

    /// The function of the region holding slot `pc`.
    fn region_fn(&self, pc: u64) -> RegionFn {
        let at = self.regions.partition_point(|r| u64::from(r.start) <= pc) - 1;
        let entry = self.mem.base() + self.regions[at].offset as usize;
        // SAFETY: `load` checked that every region offset lies in the code, and its contract
        // makes each the address of a region function of this host's C ABI, in pages that
        // stay mapped as long as `self`.
        unsafe { core::mem::transmute::<usize, RegionFn>(entry) }
    }

    /// Continues a run whose last region returned `next`: calls the regions control moves on
    /// to until the run ends, and returns [`DONE`] or [`FAULT`].
    ///
    /// # Safety
    /// `env` must point at the `env` field of a live [`RunFrame`] that nothing else refers to
    /// during the call, whose `ctx_delta`/`ctx_len` describe live context memory (writable if
    /// `writable` is 1), whose `stack_delta` points at a live stack of `STACK_FRAME *
    /// MAX_CALL_DEPTH` bytes, and whose `helpers` is a live helper table.
    unsafe fn continue_at(&self, env: *mut Env, next: u64) -> u64 {
        let mut next = next;
        while next != DONE && next != FAULT {
            let f = self.region_fn(next);
            // SAFETY: `f` is a region function (`region_fn`) holding slot `next`, an entry of
            // it (a region returns only slots that are entries of their region); the caller
            // vouches for `env` (above); the code touches only what `env` describes, within
            // the bounds the verifier proved (trusted) or it checks (checked).
            next = unsafe { self.mem.call(self.guard, f, env, next) };
        }
        next
    }
}

/// A whole stack, aligned for the code's 8-byte accesses (and to a cache line).
#[repr(C, align(64))]
struct Stack([u8; STACK_SIZE]);

/// A runner's state, boxed so that it never moves: the run's record (what native code is
/// given), then the stack.
#[repr(C)]
struct RunnerState {
    frame: RunFrame<'static>,
    stack: Stack,
}

/// Runs one [`NativeProgram`] again and again, with the environment and the stack set up once,
/// when the runner is made ([`NativeProgram::runner`]), and reused. A run gives the same result
/// and the same fault as [`NativeProgram::run`] (and [`Vm::run`]), but costs a few stores and a
/// direct call. Per run it only:
///
/// - zeroes the top [`NativeProgram::stack_use`] bytes of the entry frame (every byte a run may
///   write there; for verified filters usually none), where [`NativeProgram::run`] zeroes the
///   whole 512-byte frame: the rest of the frame is zero since the runner was made, because no
///   run writes it, and each local call zeroes the frame it opens, as in [`NativeProgram::run`];
/// - sets `r0`-`r3`, `r10`, the context and the budget in the environment; `r4`-`r9` are
///   zeroed again only after a run that called a helper or left region 0 (native code writes
///   `env.regs` only then, or `r0` when the run ends: see [`crate::native`]); the helper
///   trampoline and the stack's address are set once, and the call-frame records and the fault
///   record are always written by the code before they are read;
/// - calls the function of region 0 directly (where every run starts); only code of several
///   regions looks regions up, when control leaves the first.
///
/// A runner does not allocate per run; it holds its own stack (4 KiB), so a run does not
/// touch a [`Vm`].
pub struct NativeRunner<'p> {
    prog: &'p NativeProgram,
    entry: RegionFn,
    state: Box<RunnerState>,
}

impl core::fmt::Debug for NativeRunner<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NativeRunner").field("prog", &self.prog).finish_non_exhaustive()
    }
}

impl<'p> NativeRunner<'p> {
    fn new(prog: &'p NativeProgram) -> NativeRunner<'p> {
        let helpers: *mut NoHelpers = core::ptr::null_mut();
        let mut state = Box::new(RunnerState {
            frame: RunFrame {
                env: Env {
                    regs: [0; 11],
                    ctx_delta: 0,
                    ctx_len: 0,
                    stack_delta: 0,
                    left: 0,
                    writable: 0,
                    helper: prog.trampoline,
                    fault: [0; 4],
                    frames: [[0; 5]; MAX_CALL_DEPTH],
                    direct: core::ptr::null(),
                },
                helpers,
                failed: None,
                clobbered: false,
            },
            stack: Stack([0; STACK_SIZE]),
        });
        // The box never moves: the stack stays at this address for the runner's life.
        state.frame.env.stack_delta = (state.stack.0.as_mut_ptr() as u64).wrapping_sub(STACK_BASE);
        NativeRunner { prog, entry: prog.entry_fn(), state }
    }

    /// The program this runner runs.
    pub fn program(&self) -> &'p NativeProgram {
        self.prog
    }

    /// The whole stack (all frames), as the last run left it.
    pub fn stack(&self) -> &[u8] {
        &self.state.stack.0
    }

    /// Runs on `ctx`, calling `helpers`: the same registers on entry, the same result and the
    /// same faults as [`NativeProgram::run`] and [`Vm::run`]. Trusted code ignores
    /// `opts.budget`.
    #[inline]
    pub fn run(
        &mut self,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        opts: &RunOptions,
    ) -> Result<NativeOutcome, Fault> {
        self.run_table(ctx, helpers, core::ptr::null(), opts)
    }

    /// [`NativeRunner::run`] calling helpers directly, as [`NativeProgram::run_with`].
    #[inline]
    pub fn run_with<H: Helpers>(
        &mut self,
        ctx: Context<'_>,
        helpers: &mut H,
        opts: &RunOptions,
    ) -> Result<NativeOutcome, Fault> {
        let direct = self.prog.direct_table::<H>();
        self.run_table(ctx, helpers, direct, opts)
    }

    #[inline(always)]
    fn run_table(
        &mut self,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        direct: *const [DirectFn; DIRECT_HELPERS],
        opts: &RunOptions,
    ) -> Result<NativeOutcome, Fault> {
        let (ctx_ptr, ctx_len, writable) = host_parts(ctx);
        self.prog.admit(ctx_len)?;
        let state = &mut *self.state;
        let zero = self.prog.stack_use;
        if zero > 0 {
            state.stack.0[STACK_SIZE - zero..].fill(0);
        }
        let env = &mut state.frame.env;
        // `r4`-`r9` are still 0 unless the last run called a helper or left region 0.
        if state.frame.clobbered {
            env.regs = [0; 11];
            state.frame.clobbered = false;
        }
        env.regs[..4].copy_from_slice(&[0, CTX_BASE, ctx_len, opts.r3]);
        env.regs[10] = STACK_TOP;
        env.ctx_delta = ctx_ptr.wrapping_sub(CTX_BASE);
        env.ctx_len = ctx_len;
        env.left = opts.budget;
        env.writable = writable;
        env.direct = direct;
        // SAFETY: this only drops the trait object's lifetime bound (the two pointer types
        // are the same but for it). The pointer is dereferenced only by the trampoline, during
        // the native call below, while `helpers` is borrowed; between runs it dangles unused.
        state.frame.helpers = unsafe {
            core::mem::transmute::<*mut (dyn Helpers + '_), *mut (dyn Helpers + 'static)>(
                core::ptr::from_mut(helpers),
            )
        };
        state.frame.failed = None;
        // Made from the whole state, so the code may reach the stack and the trampoline the
        // host fields behind `env` (the first field of `#[repr(C)]` structs, all the way in).
        let env: *mut Env = core::ptr::from_mut(state).cast::<Env>();
        // SAFETY: `self.entry` is region 0's function (`NativeProgram::entry_fn`), run at slot
        // 0, where it starts; `env` points at the runner's boxed state, which nothing else
        // refers to during the call (`self` is borrowed mutably); its context fields describe
        // `ctx`, borrowed for all of `run` (writable only for `Context::ReadWrite`), its stack
        // is the box's own, and its helper table is `helpers`, borrowed for all of `run`. The
        // code touches only those, within the bounds the verifier proved (trusted) or it
        // checks (checked).
        let next = unsafe { self.prog.mem.call(self.prog.guard, self.entry, env, 0) };
        if next == DONE {
            let env = &self.state.frame.env;
            return Ok(NativeOutcome {
                r0: env.regs[0],
                executed: self.prog.checked.then(|| opts.budget - env.left),
            });
        }
        self.rest(next, opts)
    }

    /// The rest of a run that did not end in region 0: the regions control moves on to, then
    /// how the run ended.
    #[cold]
    #[inline(never)]
    fn rest(&mut self, next: u64, opts: &RunOptions) -> Result<NativeOutcome, Fault> {
        let env: *mut Env = core::ptr::from_mut(&mut *self.state).cast::<Env>();
        // SAFETY: `env` points at the state `run` set up and vouched for; `run`'s borrows of
        // `ctx` and `helpers` last until it returns our result.
        let next = unsafe { self.prog.continue_at(env, next) };
        let frame = &mut self.state.frame;
        // Regions store every register when control leaves them.
        frame.clobbered = true;
        if next == DONE {
            Ok(NativeOutcome {
                r0: frame.env.regs[0],
                executed: self.prog.checked.then(|| opts.budget - frame.env.left),
            })
        } else {
            let helper = frame.failed.take();
            Err(decode_fault(&frame.env, helper, opts.budget))
        }
    }
}

/// The direct-call filter ABI: `(packet, captured length, wire length) -> r0`.
pub type FilterFn = unsafe extern "C" fn(*const u8, u64, u64) -> u64;

/// A trusted filter compiled with the direct-call ABI (the JIT's `Jit::compile_filter`): one
/// function of the host's C ABI, `extern "C" fn(packet: *const u8, len: u64, wire_len: u64)
/// -> u64`, called directly with the packet and its lengths in registers and its result in a
/// register. No environment, no stack but the function's own native frame, nothing set up or
/// zeroed per call: [`NativeFilter::run`] is a length check and a call.
///
/// The code keeps the interpreter's registers on entry, virtual addresses and results, so a
/// run returns what [`Vm::run`] returns for the same filter, packet and `r3`. It has no fault
/// exit (the JIT refuses a program whose code would need one), so a run cannot fault, only be
/// refused before it starts.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct NativeFilter {
    mem: ExecMemory,
    entry: FilterFn,
    /// The packet lengths runs accept.
    ctx_len: (u64, u64),
}

#[cfg(feature = "std")]
impl NativeFilter {
    /// Loads a direct-call filter: its function at offset 0 of `code`, safe to run on packets
    /// whose length is in `ctx_len` (`[min, max]`; any other length is refused).
    ///
    /// # Safety
    /// `code` must be machine code for this host whose offset 0 is a function of the host's C
    /// ABI with the [`FilterFn`] signature that, given a packet of `len` bytes (`len` in
    /// `ctx_len`) and any wire length, reads only those bytes and its own native frame, writes
    /// only its own frame, and returns. The JIT's `Jit::compile_filter` output qualifies (the
    /// verifier proved every access of the trusted program it lowers for those lengths).
    pub unsafe fn load(code: &[u8], ctx_len: (u64, u64)) -> Result<NativeFilter, LoadError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(LoadError::Host(
                "only x86-64 hosts run native code (others need an instruction-cache flush)",
            ));
        }
        let mem = ExecMemory::new(code)?;
        // SAFETY: the caller vouches that offset 0 of `code`, now mapped read+execute at
        // `mem.base()` for as long as `mem` (held beside the pointer), is a function of this
        // host's C ABI with the `FilterFn` signature.
        let entry = unsafe { core::mem::transmute::<usize, FilterFn>(mem.base()) };
        Ok(NativeFilter { mem, entry, ctx_len })
    }

    /// The packet lengths `[min, max]` runs accept.
    pub fn ctx_len(&self) -> (u64, u64) {
        self.ctx_len
    }

    /// The code as mapped.
    pub fn code(&self) -> &[u8] {
        self.mem.bytes()
    }

    /// The filter's `r0` on `packet` (the captured bytes; `r2` its length), `wire_len` its
    /// length on the wire (`r3`): the result of [`Vm::run`]. A packet whose length the proof
    /// did not cover is refused before anything runs ([`FaultKind::ContextRefused`]).
    #[inline]
    pub fn run(&self, packet: &[u8], wire_len: u64) -> Result<u64, Fault> {
        let len = packet.len() as u64;
        let (min, max) = self.ctx_len;
        if len < min || len > max {
            return Err(Fault { pc: 0, kind: FaultKind::ContextRefused { len, min, max } });
        }
        // SAFETY: `entry` is the loaded function (`load`'s contract), in pages mapped as long
        // as `self`; `packet` is borrowed for the call and `len`, its length, is one the
        // contract covers, so the code reads only `packet`'s bytes and its own frame.
        Ok(unsafe { (self.entry)(packet.as_ptr(), len, wire_len) })
    }
}
