//! udfkit's runtime: the reference interpreter, whose behaviour is the definition of what a
//! program means, and the helper tables programs call through.
//!
//! - [`Compiled`] ([`decoded`]): a program decoded once into a flat dispatch form;
//! - [`Vm::run`] ([`interp`]): exact RFC 9669 semantics, every access bounds-checked, an
//!   instruction budget, typed [`Fault`]s naming the instruction ([`fault`]);
//! - [`Helpers`] ([`helpers`]): the table the caller supplies;
//! - [`prepare`]: the pre-run checks of [`udf_bytecode::check`], then decoding.
//!
//! The core is `no_std` + `alloc`; the `std` feature is reserved for executable memory (JIT).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod checking;
pub mod decoded;
pub mod fault;
pub mod helpers;
pub mod interp;

pub use decoded::Compiled;
pub use fault::{Fault, FaultKind};
pub use helpers::{EmitHelpers, Extent, HelperError, HelperReturn, Helpers, NoHelpers};
pub use interp::{
    CTX_BASE, Context, MAX_CALL_DEPTH, Observer, Outcome, RunOptions, STACK_BASE, STACK_FRAME,
    STACK_TOP, Vm,
};

use udf_bytecode::{CheckConfig, CheckError, Program};

/// Runs the checks every engine makes before a run, then decodes the program for the
/// interpreter.
pub fn prepare(prog: &Program, cfg: &CheckConfig<'_>) -> Result<Compiled, CheckError> {
    udf_bytecode::check(prog, cfg)?;
    Ok(Compiled::new(prog))
}
