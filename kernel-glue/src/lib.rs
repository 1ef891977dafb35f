//! udfkit's kernel glue: what a kernel links to accept downloaded programs, and the exokernel's
//! XN built on them.
//!
//! - [`package`]: the download package (versioned, little-endian sections, HMAC-SHA-256 tag),
//!   its writer and its defensive reader;
//! - [`loader`]: authenticate, parse, re-verify, compare facts, map native code W^X or fall
//!   back to the interpreter, install into a [`loader::Table`] of programs;
//! - [`program`]: an installed program and how the kernel invokes it;
//! - [`device`]: block I/O through a small trait, so a kernel supplies its own buffer cache;
//! - [`demux`]: DPF's merged packet demultiplexer (filters with owners, merged into one trie of
//!   field tests; the result of a packet is the set of owners accepting it);
//! - [`xn`]: templates, the registry of metadata blocks, the checked allocate / free / write
//!   operations and free-map reconstruction; [`order`]: the block-cache registry that orders
//!   XN's writes so a crash leaves at most leaked blocks; [`ext`]: the ext2/ext4 front end.
//!
//! The core is `no_std` + `alloc`. The `std` feature maps native code (the host's executable
//! memory); `jit` lets the kernel compile bytecode packages itself. Nothing here compiles source.
#![cfg_attr(not(feature = "std"), no_std)]
// Native code is mapped by the runtime, which authenticates it itself
// (`udf_runtime::native::NativeProgram::load_authenticated`), or by the JIT: nothing here is
// taken on trust.
#![forbid(unsafe_code)]

extern crate alloc;

pub mod demux;
pub mod device;
pub mod ext;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "fuzzing")]
pub mod fuzzing_xn;
pub mod loader;
pub mod order;
pub mod package;
pub mod program;
pub mod xn;

pub use device::{BlockDevice, IoError, MemDevice};
pub use loader::{LoadError, NativePolicy, Policy, ProgramId, Table};
pub use package::{Package, PackageError, Target};

pub use program::{Installed, InvokeError, Run};
