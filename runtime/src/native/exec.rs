//! Executable memory and the dispatcher that runs native code (`std` only).
//!
//! Pages are mapped read+write, filled, then switched to read+execute before anything runs;
//! they are never writable and executable at once, and they are unmapped on drop.
#![allow(unsafe_code)]

use std::vec::Vec;

use super::{DONE, Env, FAULT, RegionEntry, decode_fault, status};
use crate::fault::{Fault, FaultKind};
use crate::helpers::{HelperError, HelperReturn, Helpers};
use crate::interp::{CTX_BASE, Context, RunOptions, STACK_BASE, STACK_TOP, Vm};

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
    /// Mapping or protecting the pages failed.
    Map(std::io::Error),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Size(n) => write!(
                f,
                "native code of {n} bytes (must be 1 to {MAX_CODE_SIZE} bytes)"
            ),
            LoadError::Regions => write!(f, "malformed region table"),
            LoadError::Host(why) => write!(f, "cannot run native code here: {why}"),
            LoadError::Map(e) => write!(f, "cannot map executable memory: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Read+execute pages holding code; unmapped on drop.
#[derive(Debug)]
pub struct ExecMemory {
    map: memmap2::Mmap,
}

impl ExecMemory {
    /// Maps `code` writable, copies it in, then makes the pages read+execute.
    pub fn new(code: &[u8]) -> Result<ExecMemory, LoadError> {
        if code.is_empty() || code.len() > MAX_CODE_SIZE {
            return Err(LoadError::Size(code.len()));
        }
        let mut map = memmap2::MmapMut::map_anon(code.len()).map_err(LoadError::Map)?;
        map.copy_from_slice(code);
        let map = map.make_exec().map_err(LoadError::Map)?;
        Ok(ExecMemory { map })
    }

    /// Address of the first byte.
    pub fn base(&self) -> usize {
        self.map.as_ptr() as usize
    }

    /// The code.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

type RegionFn = unsafe extern "C" fn(*mut Env, u64) -> u64;

/// Native code loaded and ready to run.
#[derive(Debug)]
pub struct NativeProgram {
    mem: ExecMemory,
    regions: Vec<RegionEntry>,
    checked: bool,
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
    helpers: &'h mut dyn Helpers,
    failed: Option<FaultKind>,
}

/// Calls `helpers` for native code (the trampoline below): arguments from
/// `env.regs[1..=5]`, the result into `env.regs[0]`, a failure's [`FaultKind`] into `failed`.
fn call_helper(
    helpers: &mut dyn Helpers,
    env: &mut Env,
    id: u64,
    failed: &mut Option<FaultKind>,
) -> u64 {
    let args = [
        env.regs[1],
        env.regs[2],
        env.regs[3],
        env.regs[4],
        env.regs[5],
    ];
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
            *failed = Some(FaultKind::HelperFailed {
                id: id as u32,
                reason,
            });
            status::FAILED
        }
    }
}

/// The trampoline native code calls for `call imm` and `callx`.
unsafe extern "C" fn trampoline(env: *mut Env, id: u64, _pc: u64) -> u64 {
    // SAFETY: native code passes back the `env` pointer it was given by `NativeProgram::run`,
    // which points at the first field of a live `#[repr(C)]` `RunFrame` that `run` holds no
    // other reference to while the native call is in progress.
    let frame = unsafe { &mut *env.cast::<RunFrame<'_>>() };
    let RunFrame {
        env,
        helpers,
        failed,
    } = frame;
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        call_helper(&mut **helpers, env, id, failed)
    }));
    res.unwrap_or_else(|_| {
        *failed = Some(FaultKind::HelperFailed {
            id: id as u32,
            reason: "the helper panicked",
        });
        status::FAILED
    })
}

impl NativeProgram {
    /// Loads code made by udfkit's JIT for this host.
    ///
    /// # Safety
    /// `code` must be machine code for this host that follows the contract of
    /// [`crate::native`], with `regions` naming its region functions: it will be executed.
    /// The JIT's own output and authenticated packages from a trusted toolchain qualify.
    pub unsafe fn load(
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
        let mem = ExecMemory::new(code)?;
        Ok(NativeProgram {
            mem,
            regions,
            checked,
        })
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
    pub fn run(
        &self,
        vm: &mut Vm,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        opts: &RunOptions,
    ) -> Result<NativeOutcome, Fault> {
        let stack = vm.fresh_stack();
        let (ctx_ptr, ctx_len, writable) = match ctx {
            Context::ReadOnly(b) => (b.as_ptr() as u64, b.len() as u64, 0),
            Context::ReadWrite(b) => (b.as_mut_ptr() as u64, b.len() as u64, 1),
        };
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
                helper: trampoline,
                fault: [0; 4],
                frames: [[0; 5]; crate::MAX_CALL_DEPTH],
            },
            helpers,
            failed: None,
        };
        // `frame` stays put (on this stack frame) until `run` returns. The pointer is made from
        // the whole frame, so the trampoline may reach the host fields behind `env` (the first
        // field of a `#[repr(C)]` struct).
        let env: *mut Env = core::ptr::from_mut(&mut frame).cast::<Env>();
        let mut pc = 0u64;
        loop {
            let at = self.regions.partition_point(|r| u64::from(r.start) <= pc) - 1;
            let entry = self.mem.base() + self.regions[at].offset as usize;
            // SAFETY: `load`'s contract makes `entry` a region function of this host's C ABI;
            // `env` points at a live frame whose context and stack pointers stay valid for the
            // call (`ctx` and `vm` are borrowed for all of `run`); the code touches only those,
            // within the bounds the verifier proved (trusted) or it checks (checked).
            let next = unsafe {
                let f: RegionFn = core::mem::transmute::<usize, RegionFn>(entry);
                f(env, pc)
            };
            match next {
                DONE => {
                    return Ok(NativeOutcome {
                        r0: frame.env.regs[0],
                        executed: self.checked.then(|| opts.budget - frame.env.left),
                    });
                }
                FAULT => {
                    let helper = frame.failed.take();
                    return Err(decode_fault(&frame.env, helper, opts.budget));
                }
                n => pc = n,
            }
        }
    }
}
