//! udfkit's JIT: lowers bytecode to Cranelift IR and emits position-independent machine code
//! for x86-64, aarch64 and riscv64, following the contract of [`udf_runtime::native`].
//!
//! - [`Jit`] holds one target ISA and reuses its Cranelift contexts across compilations;
//! - [`Mode::Trusted`] takes the verifier's [`Verified`] program (only the verifier makes one, and
//!   the JIT refuses one for another program or type): every access is translated by the region
//!   the verifier proved and nothing is checked or metered; [`Mode::Hardened`] is the same but
//!   keeps a bounds check on every context access (a second line of defence: a verifier bug
//!   becomes the interpreter's out-of-bounds fault, not a wild read); [`Mode::Checked`] checks
//!   every access and meters an instruction budget, ending a bad run with the interpreter's
//!   typed fault;
//! - code compiled from facts runs only on the context lengths the facts assumed
//!   ([`Facts::ctx_len`]): a run on another length is refused before anything runs
//!   ([`udf_runtime::FaultKind::ContextRefused`]);
//! - the pre-run checks are those of the interpreter for the same program: code from facts
//!   skips the conservative register check (the verifier decided every read, path by path),
//!   checked code makes it ([`udf_runtime::pre_run_checks`]);
//! - [`MachineCode`] is the result: bytes, a region table, optionally Cranelift's disassembly;
//!   it has no relocation and calls helpers only through the table in the run's environment;
//! - [`Executable`] maps code for this host W^X and runs it (x86-64 hosts); its
//!   [`Executable::runner`] keeps a run's environment and stack across runs, for the cheapest
//!   call (what a filter run on every packet wants).
//!
//! - [`Jit::compile_filter`] is the direct-call ABI for trusted filters whose only memory is the
//!   packet and the stack: one function `extern "C" fn(packet, len, wire_len) -> r0`
//!   ([`FilterCode`], mapped as [`NativeFilter`]), no environment, no per-call set-up; what it
//!   refuses says why ([`NoDirect`]), and [`TrustedFilter`] falls back to the region ABI then.
//!
//! Large programs are compiled as regions of about [`Options::region_len`] instructions
//! ([`plan`]), each its own function, so compile time grows linearly: Cranelift's register
//! allocator is superlinear in function size. Loops that fit are kept inside one region.
//!
//! With the `fuzzing` feature, `fuzzing::jit_diff` is the oracle of the `jit_diff` fuzz target.

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod lower;
mod plan;

use std::fmt;

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use udf_bytecode::{CheckError, Insn, Program, ProgramType};
use udf_runtime::native::{LoadError, NativeFilter, NativeProgram, NativeRunner, RegionEntry};
use udf_runtime::{Context, Fault, NoHelpers, RunOptions, STACK_FRAME, pre_run_checks};
use udf_verifier::{Facts, Verified};

/// An instruction set the JIT emits code for (the runtime's, shared with the download package).
pub use udf_runtime::native::Target;

/// The target triple Cranelift is set up for.
fn triple(target: Target) -> &'static str {
    match target {
        Target::X86_64 => "x86_64-unknown-none",
        Target::Aarch64 => "aarch64-unknown-none",
        Target::Riscv64 => "riscv64gc-unknown-none-elf",
    }
}

/// How the code treats memory and the budget.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'f> {
    /// For a program the verifier accepted ([`Verified`]: the same program and type, or the
    /// compilation is refused): no checks, no metering.
    Trusted(&'f Verified),
    /// Like [`Mode::Trusted`], but every context access is checked against the context's
    /// length (faulting as the interpreter does); stack accesses keep the trusted translation
    /// and nothing is metered (termination is proven).
    Hardened(&'f Verified),
    /// For anything: every access checked, the budget metered, faults as the interpreter's.
    Checked,
}

/// Compilation settings.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Instructions per region (functions compiled separately); programs up to 1.5 times this
    /// are one region.
    pub region_len: usize,
    /// Keep Cranelift's disassembly of each region.
    pub disasm: bool,
    /// Plant a deliberately wrong region choice: an access proven "stack on some paths, context
    /// on others" is placed by its base register instead of base + offset (the mistake issue 15
    /// found), so the differential campaign can show it catches it.
    #[cfg(feature = "fault-injection")]
    pub fault_injection: bool,
    /// Keep Cranelift's frame in direct filters ([`Jit::compile_filter`]): `push %rbp; mov
    /// %rsp, %rbp` on entry, for profilers that walk frame pointers. Off by default: a leaf
    /// filter with nothing on the stack then has no frame (see [`FilterCode`]).
    pub keep_frame: bool,
    /// Whether direct filters ([`Jit::compile_filter`]) are lowered branch-free
    /// ([`IfConvert`]).
    pub if_convert: IfConvert,
    /// Plant an off-by-one in the direct filter ABI: the code takes the packet as one byte
    /// longer than it is, so the equivalence oracle can show it catches it.
    #[cfg(feature = "fault-injection")]
    pub fault_injection_direct_len: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            region_len: 1024,
            disasm: false,
            keep_frame: false,
            if_convert: IfConvert::Auto,
            #[cfg(feature = "fault-injection")]
            fault_injection: false,
            #[cfg(feature = "fault-injection")]
            fault_injection_direct_len: false,
        }
    }
}

/// The choice between the branchy and the if-converted (predicated, branch-free) code of a
/// direct filter ([`Jit::compile_filter`], [`FilterCode::is_predicated`]).
///
/// The if-converted code computes every path of the program and selects the result of the
/// one taken, so it mispredicts no branch but runs every instruction: it only applies to
/// small loop-free programs without calls or atomics whose accesses the verifier placed
/// (at most 64 instructions), see `jit/src/lower/predicate.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfConvert {
    /// The default: the branchy code. The branch-free code is not reliably faster on the
    /// filter benchmark (BENCHMARKS.md, "Single-filter speed": slower on all four filters in
    /// the quietest run, faster on two of them in most loaded runs, always slower on the other
    /// two), so no program gets it unless asked.
    Auto,
    /// Always the branchy code.
    Never,
    /// Branch-free wherever it applies.
    Always,
}

/// Why compilation or loading failed.
#[derive(Debug)]
pub enum JitError {
    /// The bytecode failed the checks every engine makes.
    Check(CheckError),
    /// A [`Verified`] program that is not the one compiled (or not of its type).
    Facts,
    /// Cranelift refused (a bug in the lowering).
    Codegen(String),
    /// Cranelift emitted a relocation (a bug: the code must be position-independent).
    Relocation,
    /// The code is for another machine than this one.
    NotHost(Target),
    /// Mapping the code failed.
    Load(LoadError),
}

impl Mode<'_> {
    /// The facts, for the modes that compile from them.
    pub fn facts(&self) -> Option<&Facts> {
        self.verified().map(Verified::facts)
    }

    /// The verified program behind trusted and hardened code.
    pub fn verified(&self) -> Option<&Verified> {
        match *self {
            Mode::Trusted(v) | Mode::Hardened(v) => Some(v),
            Mode::Checked => None,
        }
    }

    /// `trusted`, `hardened` or `checked`.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Trusted(_) => "trusted",
            Mode::Hardened(_) => "hardened",
            Mode::Checked => "checked",
        }
    }
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::Check(e) => write!(f, "{e}"),
            JitError::Facts => write!(
                f,
                "the verified program is another program, of another type, or was verified from a test suite's entry state"
            ),
            JitError::Codegen(e) => write!(f, "code generation failed: {e}"),
            JitError::Relocation => write!(f, "code generation produced a relocation"),
            JitError::NotHost(t) => write!(f, "code for {t} cannot run on this machine"),
            JitError::Load(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for JitError {}

/// Native code for one program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineCode {
    target: Target,
    checked: bool,
    hardened: bool,
    /// The context lengths the facts assumed (code from facts), every length for checked code.
    ctx_len: (u64, u64),
    bytes: Vec<u8>,
    regions: Vec<RegionEntry>,
    /// Bytes under the top of any frame a run may write.
    stack_use: u32,
    disasm: Vec<String>,
}

impl MachineCode {
    /// The target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Whether the code checks accesses and meters a budget.
    pub fn is_checked(&self) -> bool {
        self.checked
    }

    /// Whether the code is hardened trusted code ([`Mode::Hardened`]).
    pub fn is_hardened(&self) -> bool {
        self.hardened
    }

    /// `trusted`, `hardened` or `checked`.
    pub fn mode_name(&self) -> &'static str {
        match (self.checked, self.hardened) {
            (true, _) => "checked",
            (false, true) => "hardened",
            (false, false) => "trusted",
        }
    }

    /// The context lengths `[min, max]` runs accept: the verifier's [`Facts::ctx_len`] for
    /// code compiled from facts, every length for checked code.
    pub fn ctx_len(&self) -> (u64, u64) {
        self.ctx_len
    }

    /// The machine code of all regions.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where each region's function starts.
    pub fn regions(&self) -> &[RegionEntry] {
        &self.regions
    }

    /// Bytes under the top of any stack frame a run may write: the verifier's
    /// [`Facts::stack_use`] for trusted code, a whole frame for checked code.
    pub fn stack_use(&self) -> u32 {
        self.stack_use
    }

    /// Cranelift's disassembly, one text per region (with [`Options::disasm`]).
    pub fn disasm(&self) -> &[String] {
        &self.disasm
    }
}

/// A compiler for one target, reusing its ISA and Cranelift contexts.
pub struct Jit {
    target: Target,
    isa: OwnedTargetIsa,
    ctx: cranelift_codegen::Context,
    fctx: FunctionBuilderContext,
    /// Settings of the next compilations.
    pub options: Options,
}

impl fmt::Debug for Jit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jit").field("target", &self.target).field("options", &self.options).finish()
    }
}

impl Jit {
    /// A compiler for `target`, with the baseline features of the instruction set (so the
    /// code runs on any machine of it).
    pub fn new(target: Target) -> Result<Jit, JitError> {
        let cg = |e: &dyn fmt::Display| JitError::Codegen(e.to_string());
        let mut flags = settings::builder();
        for (k, v) in [
            ("opt_level", "speed"),
            ("is_pic", "true"),
            ("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" }),
            ("unwind_info", "false"),
            ("enable_probestack", "false"),
            ("regalloc_algorithm", "backtracking"),
            // Block offsets and edges, so `compile_filter` can find a leaf's epilogues.
            ("machine_code_cfg_info", "true"),
        ] {
            flags.set(k, v).map_err(|e| cg(&e))?;
        }
        let builder = cranelift_codegen::isa::lookup_by_name(triple(target)).map_err(|e| cg(&e))?;
        let isa = builder.finish(settings::Flags::new(flags)).map_err(|e| cg(&e))?;
        Ok(Jit {
            target,
            isa,
            ctx: cranelift_codegen::Context::new(),
            fctx: FunctionBuilderContext::new(),
            options: Options::default(),
        })
    }

    /// The target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Compiles `prog` (of type `ty`, which decides the pre-run checks) in `mode`.
    pub fn compile(
        &mut self,
        prog: &Program,
        ty: ProgramType,
        mode: Mode<'_>,
    ) -> Result<MachineCode, JitError> {
        let mut cfg = pre_run_checks(ty, mode.facts().is_some());
        // The helpers the very program was proven to call (a demultiplexer's lookup), no other.
        if let Some(v) = mode.verified()
            && v.program() == prog
            && v.ty() == ty
        {
            cfg.helpers = Some(v.helpers());
        }
        udf_bytecode::check(prog, &cfg).map_err(JitError::Check)?;
        // Code without checks only for the very program, type and entry state proven.
        if let Some(v) = mode.verified()
            && (v.program() != prog || v.ty() != ty || !v.for_type())
        {
            return Err(JitError::Facts);
        }
        let access = mode.facts().map(|facts| facts.access.as_slice());
        let harden = matches!(mode, Mode::Hardened(_));
        let plan = plan::Plan::new(prog, self.options.region_len);
        let mut bytes = Vec::new();
        let mut regions = Vec::new();
        let mut disasm = Vec::new();
        let align = self.isa.function_alignment().preferred.max(4) as usize;
        for region in &plan.regions {
            self.ctx.clear();
            self.ctx.set_disasm(self.options.disasm);
            let inp = lower::Input {
                prog,
                plan: &plan,
                region,
                access,
                harden,
                #[cfg(feature = "fault-injection")]
                plant_either_by_base: self.options.fault_injection,
                #[cfg(not(feature = "fault-injection"))]
                plant_either_by_base: false,
                direct: false,
                plant_direct_len: false,
                predicated: false,
                call_conv: self.isa.default_call_conv(),
                frontend: self.isa.frontend_config(),
            };
            lower::lower(&mut self.ctx.func, &mut self.fctx, &inp);
            let compiled = self
                .ctx
                .compile(&*self.isa, &mut ControlPlane::default())
                .map_err(|e| JitError::Codegen(format!("{:?}", e.inner)))?;
            if !compiled.buffer.relocs().is_empty() {
                return Err(JitError::Relocation);
            }
            while bytes.len() % align != 0 {
                bytes.push(0);
            }
            regions.push(RegionEntry { start: region.start as u32, offset: bytes.len() as u32 });
            bytes.extend_from_slice(compiled.code_buffer());
            if let Some(text) = &compiled.vcode {
                disasm.push(text.clone());
            }
        }
        let (stack_use, ctx_len) = match mode.facts() {
            Some(facts) => (facts.stack_use.min(STACK_FRAME as u32), facts.ctx_len),
            None => (STACK_FRAME as u32, (0, u64::MAX)),
        };
        Ok(MachineCode {
            target: self.target,
            checked: access.is_none(),
            hardened: harden,
            ctx_len,
            bytes,
            regions,
            stack_use,
            disasm,
        })
    }

    /// Compiles a verified filter with the direct-call ABI: one function
    /// `extern "C" fn(packet: *const u8, len: u64, wire_len: u64) -> u64` taking the packet
    /// and its lengths in registers and returning `r0` in a register, with no environment,
    /// nothing stored, and no stack set-up beyond its own native frame (see [`FilterCode`]).
    ///
    /// Only for what trusted code can run that way: a program of the `filter` type whose only
    /// memory is the packet and the stack, verified as that very program ([`Verified`]), of one
    /// region ([`Options::region_len`]), without local calls or helpers, and whose code needs
    /// no fault exit (every access placed by the verifier). Anything else is refused with the
    /// reason ([`NoDirect`]); [`TrustedFilter::compile`] then falls back to the region ABI.
    pub fn compile_filter(
        &mut self,
        prog: &Program,
        verified: &Verified,
    ) -> Result<FilterCode, NoDirect> {
        let ty = ProgramType::Filter;
        if verified.ty() != ty {
            return Err(NoDirect::NotFilter(verified.ty()));
        }
        let cfg = pre_run_checks(ty, true);
        udf_bytecode::check(prog, &cfg).map_err(|e| NoDirect::Jit(JitError::Check(e)))?;
        if verified.program() != prog || !verified.for_type() {
            return Err(NoDirect::Jit(JitError::Facts));
        }
        for (pc, insn) in prog.iter() {
            match insn {
                Insn::CallLocal { .. } => return Err(NoDirect::LocalCalls { slot: pc }),
                Insn::Call { .. } | Insn::CallReg { .. } | Insn::CallKfunc { .. } => {
                    return Err(NoDirect::Helpers { slot: pc });
                }
                Insn::LoadPseudo { .. } => return Err(NoDirect::Unsupported { slot: pc }),
                _ => {}
            }
        }
        let plan = plan::Plan::new(prog, self.options.region_len);
        if plan.regions.len() != 1 {
            return Err(NoDirect::Regions(plan.regions.len()));
        }
        let predicable = || {
            let max = lower::predicate::MAX_INSNS;
            lower::predicate::predicable(prog, &verified.access, max)
        };
        let predicated = match self.options.if_convert {
            IfConvert::Never => false,
            IfConvert::Always => predicable(),
            // Not reliably faster on the filter benchmark (BENCHMARKS.md, "Single-filter
            // speed"): never chosen by default.
            IfConvert::Auto => false,
        };
        self.ctx.clear();
        self.ctx.set_disasm(self.options.disasm);
        let inp = lower::Input {
            prog,
            plan: &plan,
            region: &plan.regions[0],
            access: Some(verified.access.as_slice()),
            harden: false,
            plant_either_by_base: false,
            direct: true,
            #[cfg(feature = "fault-injection")]
            plant_direct_len: self.options.fault_injection_direct_len,
            #[cfg(not(feature = "fault-injection"))]
            plant_direct_len: false,
            predicated,
            call_conv: self.isa.default_call_conv(),
            frontend: self.isa.frontend_config(),
        };
        let lowered = lower::lower(&mut self.ctx.func, &mut self.fctx, &inp);
        if let Some(slot) = lowered.env_exit {
            return Err(NoDirect::NeedsExit { slot });
        }
        let compiled = self
            .ctx
            .compile(&*self.isa, &mut ControlPlane::default())
            .map_err(|e| NoDirect::Jit(JitError::Codegen(format!("{:?}", e.inner))))?;
        if !compiled.buffer.relocs().is_empty() {
            return Err(NoDirect::Jit(JitError::Relocation));
        }
        let mut bytes = compiled.code_buffer().to_vec();
        let mut disasm = compiled.vcode.clone();
        let frame = compiled.buffer.frame_layout().map(|f| f.frame_to_fp_offset);
        if self.target == Target::X86_64
            && !self.options.keep_frame
            && frame == Some(0)
            && let Some(lean) = elide_x64_frame(&bytes, &compiled.bb_starts, &compiled.bb_edges)
        {
            bytes = lean;
            if let Some(text) = &mut disasm {
                text.insert_str(0, FRAME_ELIDED);
            }
        }
        Ok(FilterCode { target: self.target, ctx_len: verified.ctx_len, bytes, disasm, predicated })
    }
}

/// The first line of a direct filter's disassembly when its frame was elided.
const FRAME_ELIDED: &str = "; frame elided: the prologue (push %rbp; mov %rsp, %rbp) is cut off and each \
     epilogue (mov %rbp, %rsp; pop %rbp; ret) is a ret\n";

/// x86-64 `push %rbp; mov %rsp, %rbp`: Cranelift's frame set-up, always emitted.
const X64_PROLOGUE: [u8; 4] = [0x55, 0x48, 0x89, 0xe5];
/// x86-64 `mov %rbp, %rsp; pop %rbp; ret`: Cranelift's return from a frame of size 0.
const X64_EPILOGUE: [u8; 5] = [0x48, 0x89, 0xec, 0x5d, 0xc3];

/// The code of an x86-64 leaf function without its frame, or `None` when it does not have the
/// exact shape this relies on. Cranelift's x86-64 back end always sets up a frame pointer, even
/// for a leaf with nothing on the stack: four instructions a call that a filter does not need.
///
/// The caller passes only functions whose frame is empty (no spill, stack slot, clobbered
/// callee-saved register or outgoing argument: `frame_to_fp_offset` 0) and that make no call
/// (the direct filter ABI). Such a function touches neither `%rsp` nor `%rbp` between its
/// prologue and its epilogues (`%rbp` is not allocatable, the stack is unused), so neither is
/// needed: its return address stays at `(%rsp)`, and `%rbp`, callee-saved, is never changed.
/// (The branch-free lowering reads `%rsp` as an always-readable address for loads on paths not
/// taken: without the frame it points at the return address instead of the saved `%rbp`, 8
/// readable bytes either way.)
/// Checked here from Cranelift's block table (`machine_code_cfg_info`):
/// - the code starts with [`X64_PROLOGUE`] and the first block starts right after it; the
///   result is the code from that block on (every branch is relative to the code and its
///   targets are block starts, so cutting the prefix moves nothing relative to anything else);
/// - every block without a successor (a return: the direct ABI has no trap) ends, where the
///   next block starts or the code ends, with [`X64_EPILOGUE`], which becomes `ret` and 4
///   bytes of `int3` never reached (no branch lands inside an epilogue: targets are block
///   starts);
/// - the code holds no other copy of [`X64_EPILOGUE`] (so no return was missed).
fn elide_x64_frame(code: &[u8], starts: &[u32], edges: &[(u32, u32)]) -> Option<Vec<u8>> {
    let pro = X64_PROLOGUE.len();
    if !code.starts_with(&X64_PROLOGUE) || starts.first() != Some(&(pro as u32)) {
        return None;
    }
    if !starts.is_sorted_by(|a, b| a < b) || edges.iter().any(|&(_, to)| (to as usize) < pro) {
        return None;
    }
    let mut out = code.to_vec();
    let mut exits = 0;
    for (k, &start) in starts.iter().enumerate() {
        if edges.iter().any(|&(from, _)| from == start) {
            continue;
        }
        let end = starts.get(k + 1).map_or(code.len(), |&s| s as usize);
        let at = end.checked_sub(X64_EPILOGUE.len()).filter(|&at| at >= start as usize)?;
        if code[at..end] != X64_EPILOGUE {
            return None;
        }
        out[at..end].copy_from_slice(&[0xc3, 0xcc, 0xcc, 0xcc, 0xcc]);
        exits += 1;
    }
    let rets = code.windows(X64_EPILOGUE.len()).filter(|w| *w == X64_EPILOGUE).count();
    if exits == 0 || rets != exits {
        return None;
    }
    out.drain(..pro);
    Some(out)
}

/// Native code mapped for this host and ready to run.
#[derive(Debug)]
pub struct Executable {
    native: NativeProgram,
    code: MachineCode,
}

impl Executable {
    /// Maps `code` (made by [`Jit::compile`] for this host) read+execute.
    #[allow(unsafe_code)]
    pub fn new(code: MachineCode) -> Result<Executable, JitError> {
        if Target::host() != Some(code.target) {
            return Err(JitError::NotHost(code.target));
        }
        // SAFETY: `MachineCode` can only be made by `Jit::compile` (its fields are private),
        // which emits region functions for `code.target`, this host, following the native contract.
        let mut native =
            unsafe { NativeProgram::load(&code.bytes, code.regions.clone(), code.checked) }
                .map_err(JitError::Load)?;
        native.set_stack_use(code.stack_use as usize);
        native.restrict_ctx_len(code.ctx_len.0, code.ctx_len.1);
        Ok(Executable { native, code })
    }

    /// The code.
    pub fn code(&self) -> &MachineCode {
        &self.code
    }

    /// A runner for this code: runs with the results and faults of [`NativeProgram::run`] but
    /// keeps its environment and stack between runs, so a run costs a few stores and a direct
    /// call (see [`NativeRunner`]). Made once, used for many runs:
    ///
    /// ```no_run
    /// # fn f(exe: &udf_jit::Executable, packets: &[(Vec<u8>, u32)]) {
    /// use udf_runtime::{Context, NoHelpers, RunOptions};
    /// let mut runner = exe.runner();
    /// for (data, wire_len) in packets {
    ///     let opts = RunOptions { budget: u64::MAX, r3: u64::from(*wire_len) };
    ///     let r0 = runner
    ///         .run(Context::ReadOnly(data), &mut NoHelpers, &opts)
    ///         .map_or(0, |o| o.r0);
    /// #   let _ = r0;
    /// }
    /// # }
    /// ```
    pub fn runner(&self) -> NativeRunner<'_> {
        self.native.runner()
    }

    /// The loaded program.
    pub fn native(&self) -> &NativeProgram {
        &self.native
    }

    /// The loaded program, without the code it was loaded from.
    pub fn into_native(self) -> NativeProgram {
        self.native
    }
}

/// The mapped program: [`NativeProgram::run`] runs it (code compiled from facts refuses, before
/// running anything, a context whose length the facts do not cover:
/// [`udf_runtime::FaultKind::ContextRefused`]).
impl core::ops::Deref for Executable {
    type Target = NativeProgram;

    fn deref(&self) -> &NativeProgram {
        &self.native
    }
}

/// Why a program does not get the direct-call filter ABI ([`Jit::compile_filter`]).
#[derive(Debug)]
pub enum NoDirect {
    /// The program is of another type than `filter`.
    NotFilter(ProgramType),
    /// The program makes local calls (their frames need the environment), at this slot.
    LocalCalls {
        /// The slot of the first call.
        slot: usize,
    },
    /// The program calls a helper or a kfunc (through the environment), at this slot.
    Helpers {
        /// The slot of the first call.
        slot: usize,
    },
    /// A pseudo `lddw` (map references), which no engine runs.
    Unsupported {
        /// Its slot.
        slot: usize,
    },
    /// The program is compiled as this many regions (too long for one function).
    Regions(usize),
    /// The code for this slot would need a fault exit (an access the verifier did not place,
    /// at an instruction it found unreachable) or to leave its function, which only the
    /// region ABI's environment can report.
    NeedsExit {
        /// The slot.
        slot: usize,
    },
    /// Compilation failed as it would in any mode.
    Jit(JitError),
}

impl fmt::Display for NoDirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoDirect::NotFilter(t) => write!(f, "a {t} program, not a filter"),
            NoDirect::LocalCalls { slot } => write!(f, "a local call at slot {slot}"),
            NoDirect::Helpers { slot } => write!(f, "a helper call at slot {slot}"),
            NoDirect::Unsupported { slot } => {
                write!(f, "an unsupported instruction at slot {slot}")
            }
            NoDirect::Regions(n) => write!(f, "too long for one function ({n} regions)"),
            NoDirect::NeedsExit { slot } => write!(
                f,
                "the code at slot {slot} needs a fault exit (an access the verifier did not place)"
            ),
            NoDirect::Jit(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NoDirect {}

/// Native code of a verified filter with the direct-call ABI ([`Jit::compile_filter`]): one
/// function `extern "C" fn(packet: *const u8, len: u64, wire_len: u64) -> u64` at offset 0,
/// for the host C calling convention of the target.
///
/// On entry it sets the registers the interpreter does (`r1` the packet's virtual address
/// [`udf_runtime::CTX_BASE`], `r2` its length, `r3` the wire length, `r10` the top of the
/// stack, the rest 0); addresses stay virtual and are translated by the packet pointer and a
/// 512-byte slot of its own native frame (present only when the program touches the stack,
/// never zeroed: the verifier proves no stack byte is read before it is written). Nothing is
/// checked (the verifier placed every access) and nothing metered. Runs only on the
/// lengths the facts assumed ([`FilterCode::ctx_len`]). On x86-64, a filter that needs no
/// stack (no spill, no stack slot, no callee-saved register) has no frame: Cranelift's
/// `push %rbp; mov %rsp, %rbp` and `mov %rbp, %rsp; pop %rbp` are cut off after checking the
/// code has exactly that shape ([`Options::keep_frame`] keeps them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterCode {
    target: Target,
    ctx_len: (u64, u64),
    bytes: Vec<u8>,
    disasm: Option<String>,
    predicated: bool,
}

impl FilterCode {
    /// The target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The packet lengths `[min, max]` runs accept (the verifier's [`Facts::ctx_len`]).
    pub fn ctx_len(&self) -> (u64, u64) {
        self.ctx_len
    }

    /// The machine code.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the code is the if-converted (branch-free) lowering ([`IfConvert`]).
    pub fn is_predicated(&self) -> bool {
        self.predicated
    }

    /// Cranelift's disassembly (with [`Options::disasm`]).
    pub fn disasm(&self) -> Option<&str> {
        self.disasm.as_deref()
    }

    /// Maps the code for this host: a [`NativeFilter`], whose safe
    /// [`NativeFilter::run`] is the direct call.
    #[allow(unsafe_code)]
    pub fn load(&self) -> Result<NativeFilter, JitError> {
        if Target::host() != Some(self.target) {
            return Err(JitError::NotHost(self.target));
        }
        // SAFETY: a `FilterCode` is made only by `Jit::compile_filter` (its fields are
        // private), for `self.target`, this host: a function at offset 0 of the host's C ABI
        // with the direct filter signature, from a program the verifier accepted as a filter
        // on the lengths `self.ctx_len`, lowered so that it reads only the packet (within the
        // proven bounds) and its own native frame, and returns.
        unsafe { NativeFilter::load(&self.bytes, self.ctx_len) }.map_err(JitError::Load)
    }
}

/// A trusted filter's native code, with the cheapest call this program can have: the
/// direct-call ABI ([`Jit::compile_filter`]) where the program qualifies, else the region ABI
/// ([`Executable`], run by a [`NativeRunner`]), with the reason it did not qualify.
/// `run` gives the interpreter's result either way.
///
/// ```no_run
/// # fn f(prog: &udf_bytecode::Program, facts: &udf_verifier::Verified, packets: &[(Vec<u8>, u32)]) {
/// use udf_jit::{Jit, Target, TrustedFilter};
/// let mut jit = Jit::new(Target::host().unwrap()).unwrap();
/// let filter = TrustedFilter::compile(&mut jit, prog, facts).unwrap();
/// if let Some(why) = filter.fallback_reason() {
///     eprintln!("no direct call: {why}");
/// }
/// let mut runner = filter.runner();
/// for (data, wire_len) in packets {
///     let keep = runner.run(data, *wire_len).unwrap_or(0);
/// #   let _ = keep;
/// }
/// # }
/// ```
#[derive(Debug)]
pub enum TrustedFilter {
    /// The direct call.
    Direct(NativeFilter),
    /// The region ABI, and why not the direct call.
    Regions {
        /// The code.
        exe: Executable,
        /// Why the direct ABI was refused.
        why: NoDirect,
    },
}

impl TrustedFilter {
    /// Compiles `prog`, verified as a filter (`verified`), for this host: with the direct ABI
    /// where it qualifies, else with the region ABI in trusted mode.
    pub fn compile(
        jit: &mut Jit,
        prog: &Program,
        verified: &Verified,
    ) -> Result<TrustedFilter, JitError> {
        match jit.compile_filter(prog, verified) {
            Ok(code) => Ok(TrustedFilter::Direct(code.load()?)),
            Err(NoDirect::Jit(e)) => Err(e),
            Err(why) => {
                let code = jit.compile(prog, ProgramType::Filter, Mode::Trusted(verified))?;
                Ok(TrustedFilter::Regions { exe: Executable::new(code)?, why })
            }
        }
    }

    /// Why the filter runs through the region ABI (`None`: the direct call).
    pub fn fallback_reason(&self) -> Option<&NoDirect> {
        match self {
            TrustedFilter::Direct(_) => None,
            TrustedFilter::Regions { why, .. } => Some(why),
        }
    }

    /// A runner, for many packets.
    pub fn runner(&self) -> FilterRunner<'_> {
        match self {
            TrustedFilter::Direct(f) => FilterRunner::Direct(f),
            TrustedFilter::Regions { exe, .. } => FilterRunner::Regions(exe.runner()),
        }
    }
}

/// Runs a [`TrustedFilter`] on packet after packet.
#[derive(Debug)]
pub enum FilterRunner<'f> {
    /// The direct call.
    Direct(&'f NativeFilter),
    /// The region ABI's runner.
    Regions(NativeRunner<'f>),
}

impl FilterRunner<'_> {
    /// The filter's `r0` on `packet` (captured bytes), `wire_len` its length on the wire; a
    /// packet length the proof did not cover is refused
    /// ([`udf_runtime::FaultKind::ContextRefused`]).
    #[inline]
    pub fn run(&mut self, packet: &[u8], wire_len: u32) -> Result<u64, Fault> {
        match self {
            FilterRunner::Direct(f) => f.run(packet, u64::from(wire_len)),
            FilterRunner::Regions(r) => {
                let opts = RunOptions { budget: u64::MAX, r3: u64::from(wire_len) };
                r.run(Context::ReadOnly(packet), &mut NoHelpers, &opts).map(|o| o.r0)
            }
        }
    }
}
