//! Running native code in the kernel: the executable memory kernel-glue asks for
//! ([`KERNEL_EXEC`], an [`ExecHost`] on the kernel's page tables), the guarded call that turns
//! an MMU fault in native code into a reported fault (the kernel stays alive), and the kernel's
//! helper table of plain function pointers, reached through its own trampoline.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use udf_bytecode::ProgramType;
use udf_kernel_glue::{Installed, InvokeError, Run};
use udf_runtime::native::{
    CallGuard, DONE, Env, ExecHost, ExecPages, FAULT, HelperFn, NativeProgram, RegionEntry,
    RegionFn, status,
};
use udf_runtime::{Context, Extent, Fault, FaultKind, NoHelpers, RunOptions, Vm};

use crate::mem;

// ---------------------------------------------------------------- traps

core::arch::global_asm!(
    r#"
    .section .text
    .irp n, 0,1,2,3,4,5,6,7,9,16,18,19
exc_\n:
    push 0
    push \n
    jmp exc_common
    .endr
    .irp n, 8,10,11,12,13,14,17
exc_\n:
    push \n
    jmp exc_common
    .endr

/* [rsp]: vector, error code, rip, cs, rflags, rsp, ss. */
exc_common:
    push rax
    mov rax, [rsp + 8]
    mov [rip + trap_vector], rax
    mov rax, [rsp + 16]
    mov [rip + trap_error], rax
    mov rax, [rsp + 24]
    mov [rip + trap_rip], rax
    mov rax, cr2
    mov [rip + trap_addr], rax
    inc qword ptr [rip + trap_count]
    /* Only a trap in native code (the code window, from 512 GiB up) is the program's fault;
       one in the kernel's own code (a helper, ...) is a kernel bug. */
    mov rax, [rsp + 24]
    shr rax, 39
    jz 2f
    mov rax, [rip + guard_rsp]
    test rax, rax
    jz 2f
    /* In native code under a guard: return from the guard with FAULT. */
    mov [rsp + 48], rax
    lea rax, [rip + guard_recover]
    mov [rsp + 24], rax
    pop rax
    add rsp, 16
    iretq
2:
    and rsp, -16
    call {fatal}
3:
    hlt
    jmp 3b

/* u64 kernel_guarded_call(f, env, pc): f(env, pc), or FAULT after a trap. */
    .global kernel_guarded_call
kernel_guarded_call:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    sub rsp, 8
    mov [rip + guard_rsp], rsp
    mov rax, rdi
    mov rdi, rsi
    mov rsi, rdx
    call rax
    mov qword ptr [rip + guard_rsp], 0
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
guard_recover:
    mov qword ptr [rip + guard_rsp], 0
    cld
    mov rax, -2
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    .section .rodata
    .p2align 3
    .global exc_table
exc_table:
    .quad exc_0, exc_1, exc_2, exc_3, exc_4, exc_5, exc_6, exc_7
    .quad exc_8, exc_9, exc_10, exc_11, exc_12, exc_13, exc_14, 0
    .quad exc_16, exc_17, exc_18, exc_19

    .section .bss
    .p2align 3
    .global trap_vector, trap_error, trap_rip, trap_addr, trap_count
guard_rsp: .quad 0
trap_vector: .quad 0
trap_error: .quad 0
trap_rip: .quad 0
trap_addr: .quad 0
trap_count: .quad 0
    .section .text
"#,
    fatal = sym trap_fatal,
);

unsafe extern "C" {
    static exc_table: [u64; 20];
    static trap_vector: u64;
    static trap_error: u64;
    static trap_rip: u64;
    static trap_addr: u64;
    static trap_count: u64;
    fn kernel_guarded_call(f: RegionFn, env: *mut Env, pc: u64) -> u64;
}

/// The interrupt descriptor table: gates for the CPU's exceptions.
#[repr(C, align(16))]
struct Idt([u64; 64]);

struct IdtCell(core::cell::UnsafeCell<Idt>);
// SAFETY: written once by `init` before `lidt`, on the one CPU; read only by the CPU after.
unsafe impl Sync for IdtCell {}
static IDT: IdtCell = IdtCell(core::cell::UnsafeCell::new(Idt([0; 64])));

/// The last trap: vector, error code, instruction, address (CR2), and how many so far.
#[derive(Clone, Copy, Debug)]
struct Trap {
    vector: u64,
    error: u64,
    rip: u64,
    addr: u64,
}

fn trap_count_now() -> u64 {
    // SAFETY: a plain read of a word the trap handler writes (one CPU: not concurrently).
    unsafe { core::ptr::read_volatile(&raw const trap_count) }
}

fn last_trap() -> Trap {
    // SAFETY: plain reads of words only the trap handler writes (one CPU: not concurrently).
    unsafe {
        Trap {
            vector: core::ptr::read_volatile(&raw const trap_vector),
            error: core::ptr::read_volatile(&raw const trap_error),
            rip: core::ptr::read_volatile(&raw const trap_rip),
            addr: core::ptr::read_volatile(&raw const trap_addr),
        }
    }
}

impl core::fmt::Display for Trap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.vector {
            14 => {
                let what = if self.error & 0x10 != 0 {
                    "instruction fetch from"
                } else if self.error & 2 != 0 {
                    "write to"
                } else {
                    "read of"
                };
                let why =
                    if self.error & 1 != 0 { "a page that forbids it" } else { "an unmapped page" };
                write!(
                    f,
                    "the MMU stopped it: page fault, {what} {:#x} ({why}) by the instruction at {:#x}",
                    self.addr, self.rip
                )
            }
            13 => write!(f, "the CPU stopped it: general protection fault at {:#x}", self.rip),
            6 => write!(f, "the CPU stopped it: invalid opcode at {:#x}", self.rip),
            0 => write!(f, "the CPU stopped it: divide error at {:#x}", self.rip),
            v => write!(f, "the CPU stopped it: exception {v} at {:#x}", self.rip),
        }
    }
}

/// A trap outside native code: a kernel bug.
extern "C" fn trap_fatal() -> ! {
    crate::fatal(format_args!("kernel trap: {}", last_trap()))
}

/// Installs the exception gates.
pub fn init() {
    // SAFETY: `exc_table` is the handlers' address table of the asm above, read-only.
    let handlers: [u64; 20] = unsafe { exc_table };
    // SAFETY: `IDT` is written once, here, before `lidt`, and never again; one CPU.
    let idt = unsafe { &mut *IDT.0.get() };
    for (v, &h) in handlers.iter().enumerate() {
        if h == 0 {
            continue;
        }
        // A 64-bit interrupt gate: selector 0x08, present, DPL 0, type 0xE.
        let low = (h & 0xffff) | (0x08 << 16) | (0x8e00 << 32) | ((h >> 16) & 0xffff) << 48;
        idt.0[2 * v] = low;
        idt.0[2 * v + 1] = h >> 32;
    }
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let ptr = Pointer { limit: (size_of::<Idt>() - 1) as u16, base: idt.0.as_ptr() as u64 };
    // SAFETY: `ptr` describes `IDT`, a static of valid gates (or not-present zeroes) to
    // handlers that stay mapped executable; interrupts stay off, so only exceptions use it.
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &ptr, options(nostack, readonly)) };
}

// ---------------------------------------------------------------- executable memory

/// The kernel's executable memory: frames mapped read+execute in its own page tables
/// ([`mem::map_code`]); native code runs under [`guard`] and calls helpers through the
/// kernel's own [`trampoline`].
#[derive(Debug)]
pub struct KernelExec;

/// The kernel's [`ExecHost`].
pub static KERNEL_EXEC: KernelExec = KernelExec;

#[derive(Debug)]
struct Pages(Box<mem::CodePages>);

// SAFETY: `mem::map_code` maps exactly the code, read+execute and not writable, in pages only
// `CodePages`' drop unmaps.
unsafe impl ExecPages for Pages {
    fn base(&self) -> usize {
        self.0.base()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Calls `f(env, pc)` under the trap guard.
///
/// # Safety
/// As calling `f(env, pc)`.
unsafe fn guard(f: RegionFn, env: *mut Env, pc: u64) -> u64 {
    // SAFETY: the caller's contract; `kernel_guarded_call` calls `f(env, pc)`, saving and
    // restoring every callee-saved register; after a trap in `f` it returns FAULT from its own
    // saved frame (nothing of `f`'s frames is used again).
    unsafe { kernel_guarded_call(f, env, pc) }
}

// SAFETY: `map` returns `Pages` of exactly `code` (above); `guard` calls the function with its
// arguments, returning its result or FAULT after a trap; `trampoline` follows the helper
// contract (arguments from `env.regs[1..=5]`, the result in `env.regs[0]`, a status).
unsafe impl ExecHost for KernelExec {
    fn map(&self, code: &[u8]) -> Result<Box<dyn ExecPages>, String> {
        Ok(Box::new(Pages(mem::map_code(code)?)))
    }

    fn guard(&self) -> Option<CallGuard> {
        Some(guard)
    }

    fn trampoline(&self) -> Option<HelperFn> {
        Some(trampoline)
    }
}

// ---------------------------------------------------------------- helpers

/// One run's helper state.
struct HelperRun {
    /// The run's helper table (by id), a copy of the type's.
    table: &'static [Option<Helper>],
    extents: Vec<Extent>,
    limit: usize,
    /// The helper that failed, and why.
    failed: Option<(u64, &'static str)>,
}

/// A helper: arguments `r1`-`r5`, `r0` or why it failed.
type Helper = fn(&mut HelperRun, [u64; 5]) -> Result<u64, &'static str>;

/// `emit(start, count, kind)` (id 1): records an extent.
fn emit(run: &mut HelperRun, args: [u64; 5]) -> Result<u64, &'static str> {
    let kind = u32::try_from(args[2]).map_err(|_| "extent kind does not fit in u32")?;
    if args[0].checked_add(args[1]).is_none() {
        return Err("extent start + count overflows");
    }
    if run.extents.len() >= run.limit {
        return Err("too many extents emitted");
    }
    run.extents.push(Extent { start: args[0], count: args[1], kind });
    Ok(0)
}

/// The helper tables, by program type: `owns` has `emit` (id 1), the others none.
static OWNS_HELPERS: [Option<Helper>; 2] = [None, Some(emit)];
static NO_HELPERS: [Option<Helper>; 0] = [];

struct Current(RefCell<Option<HelperRun>>);
// SAFETY: one CPU, interrupts off: never reached concurrently.
unsafe impl Sync for Current {}
static CURRENT: Current = Current(RefCell::new(None));

/// The trampoline native code calls for `call imm`: the kernel's table, by id.
unsafe extern "C" fn trampoline(env: *mut Env, id: u64, _pc: u64) -> u64 {
    // SAFETY: native code passes back the `env` it was given by `NativeProgram::run`, a live
    // run record that nothing else refers to during the call.
    let env = unsafe { &mut *env };
    let mut current = CURRENT.0.borrow_mut();
    let Some(run) = current.as_mut() else { return status::FAILED };
    let helper = usize::try_from(id).ok().and_then(|i| run.table.get(i).copied().flatten());
    let Some(helper) = helper else {
        run.failed = Some((id, ""));
        return status::FAILED;
    };
    let args = [env.regs[1], env.regs[2], env.regs[3], env.regs[4], env.regs[5]];
    match helper(run, args) {
        Ok(v) => {
            env.regs[0] = v;
            status::VALUE
        }
        Err(why) => {
            run.failed = Some((id, why));
            status::FAILED
        }
    }
}

fn begin(ty: ProgramType, limit: usize) {
    let table: &'static [Option<Helper>] =
        if ty == ProgramType::Owns { &OWNS_HELPERS } else { &NO_HELPERS };
    *CURRENT.0.borrow_mut() = Some(HelperRun { table, extents: Vec::new(), limit, failed: None });
}

fn end() -> HelperRun {
    CURRENT.0.borrow_mut().take().unwrap_or(HelperRun {
        table: &NO_HELPERS,
        extents: Vec::new(),
        limit: 0,
        failed: None,
    })
}

/// What a native fault says: a trap the guard caught, a helper of the kernel's table that
/// failed (as the runtime's trampoline would say it), or the code's own fault record.
fn native_fault(fault: Fault, traps_before: u64, run: &HelperRun) -> String {
    if trap_count_now() != traps_before {
        return format!("the program faulted: {}", last_trap());
    }
    let fault = match run.failed {
        Some((id, "")) => Fault { pc: fault.pc, kind: FaultKind::UnknownHelper { id } },
        Some((id, reason)) => {
            Fault { pc: fault.pc, kind: FaultKind::HelperFailed { id: id as u32, reason } }
        }
        None => fault,
    };
    InvokeError::Fault(fault).to_string()
}

/// Runs an installed program on `input` (its `r3` the input's length): interpreted programs
/// as kernel-glue invokes them, native ones with the kernel's helper table.
pub fn invoke(prog: &Installed, vm: &mut Vm, input: &[u8]) -> Result<Run, String> {
    let len = input.len() as u64;
    if !prog.is_native() {
        return prog.invoke(vm, input, len).map_err(|e| e.to_string());
    }
    begin(prog.ty(), prog.extent_limit());
    let traps = trap_count_now();
    // The kernel's trampoline ignores the runtime's helper table.
    let r = prog.invoke_with(vm, input, len, &mut NoHelpers);
    let run = end();
    match r {
        Ok(r0) => Ok(Run { r0, extents: run.extents }),
        Err(InvokeError::Fault(f)) => Err(native_fault(f, traps, &run)),
        Err(e) => Err(e.to_string()),
    }
}

/// What a `T` frame's tag covers before the code (so that no package tag can pass for one).
pub const TEST_CODE_DOMAIN: &[u8] = b"udf-kernel test code\0";

/// The test hook (`T` frame): raw x86-64 code mapped like a package's native code and run as a
/// one-region trusted program (an `owns` one, for the helper table).
pub struct TestProgram(Result<NativeProgram, String>);

impl TestProgram {
    /// Maps the code of a `T` payload (domain, code, tag) if its tag is valid under `key`.
    pub fn new(payload: &[u8], key: &[u8]) -> TestProgram {
        let code = (!key.is_empty())
            .then(|| udf_runtime::mac::check_trailing(key, payload).ok())
            .flatten()
            .and_then(|body| body.strip_prefix(TEST_CODE_DOMAIN));
        let Some(code) = code else {
            return TestProgram(Err(String::from(
                "refused: the test code is not authenticated under the kernel's key",
            )));
        };
        let regions = vec![RegionEntry { start: 0, offset: 0 }];
        // SAFETY: the code comes with a tag under the kernel's key, which is what the kernel
        // trusts for every native code it maps (a holder of the key signs only code it vouches
        // for; here, the tests' code that writes to itself, which the MMU stops before the
        // write lands). It is mapped read+execute in the kernel's own pages and run under the
        // trap guard on a context of the input's length.
        let p = unsafe { NativeProgram::load_in(&KERNEL_EXEC, code, regions, false) };
        TestProgram(p.map_err(|e| e.to_string()))
    }

    /// Runs it on `input`.
    pub fn invoke(&self, input: &[u8]) -> Result<Run, String> {
        let prog = self.0.as_ref().map_err(Clone::clone)?;
        begin(ProgramType::Owns, 16);
        let traps = trap_count_now();
        let opts = RunOptions { budget: 1 << 20, r3: input.len() as u64 };
        let r = prog.run(&mut Vm::new(), Context::ReadOnly(input), &mut NoHelpers, &opts);
        let run = end();
        match r {
            Ok(out) => Ok(Run { r0: out.r0, extents: run.extents }),
            Err(f) => Err(native_fault(f, traps, &run)),
        }
    }
}

const _: () = assert!(DONE != FAULT);
