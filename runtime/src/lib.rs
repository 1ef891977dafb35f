//! udfkit's runtime: the reference interpreter, whose behaviour is the definition of what a
//! program means, and the helper tables programs call through.
//!
//! - [`Compiled`] ([`decoded`]): a program decoded once into a flat dispatch form;
//! - [`Vm::run`] ([`interp`]): exact RFC 9669 semantics, every access bounds-checked, an
//!   instruction budget, typed [`Fault`]s naming the instruction ([`fault`]);
//! - [`Helpers`] ([`helpers`]): the table the caller supplies;
//! - [`prepare`]: the pre-run checks of [`udf_bytecode::check`], then decoding;
//! - [`native`]: the contract JIT-compiled code follows, executable memory as a trait the host
//!   implements ([`native::ExecHost`]; with `std`, memmap2's), and the dispatcher that runs
//!   native code with the interpreter's results and faults;
//! - [`typed`]: running a program as its type says (context, helpers, `r3`) on any engine;
//! - [`mac`]: HMAC-SHA-256, the one implementation of package authentication;
//! - `mapped` (with `std`): a file's bytes mapped read-only (how `udf filter` reads captures);
//! - `fuzzing` (feature `fuzzing`): the verifier's fuzz oracle, `verify_then_check`.
//!
//! The core is `no_std` + `alloc`, native code included (given a host's executable memory); the
//! `std` feature adds the process's executable memory (memmap2) and mapped files.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod checking;
pub mod decoded;
pub mod fault;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod helpers;
pub mod interp;
pub mod mac;
#[cfg(feature = "std")]
pub mod mapped;
pub mod native;
pub mod typed;

pub use decoded::Compiled;
pub use fault::{Fault, FaultKind, LenRange};
pub use helpers::{EmitHelpers, Extent, HelperError, HelperReturn, Helpers, NoHelpers};
pub use interp::{
    CTX_BASE, Context, MAX_CALL_DEPTH, Observer, Outcome, RunOptions, STACK_BASE, STACK_FRAME,
    STACK_TOP, Vm,
};
pub use typed::{Runnable, TypeHelpers, TypedRun};

use udf_bytecode::{CheckConfig, CheckError, Program, ProgramType};

/// Runs the checks every engine makes before a run, then decodes the program for the
/// interpreter.
pub fn prepare(prog: &Program, cfg: &CheckConfig<'_>) -> Result<Compiled, CheckError> {
    udf_bytecode::check(prog, cfg)?;
    Ok(Compiled::new(prog))
}

/// The pre-run checks every engine makes before running a program of type `ty`. For a verified
/// program (`verified`: run on the strength of the verifier's facts) the conservative register
/// check is left out: the verifier decided every register read path by path, so a register
/// read only in dead code is fine. An unverified program gets every check. The interpreter and
/// the JIT take their checks from here, so they refuse exactly the same programs.
pub fn pre_run_checks(ty: ProgramType, verified: bool) -> CheckConfig<'static> {
    let mut cfg = CheckConfig::for_type(ty);
    if verified {
        cfg.check_registers = false;
    }
    cfg
}
