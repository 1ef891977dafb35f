//! The library behind the `udf` command: loading and compiling programs from files, reading
//! captures, and rendering errors as miette diagnostics. Each command's body is a module
//! (`asm`, `compile`, `run`, `verify`, `jit`, `filter`, `demux`, `test_files`, `kernel`, `xn`, `demo`);
//! `main.rs` only parses arguments and dispatches. The test-file formats and their runners
//! live in `udf-filetests`.

pub mod asm;
pub mod boot;
pub mod capture;
pub mod compile;
pub mod demo;
pub mod demux;
pub mod exec;
pub mod filter;
pub mod input;
pub mod jit;
pub mod kernel;
pub mod output;
pub mod run;
pub mod test_files;
pub mod verify;
pub mod xn;

/// Exit status: success or accepted.
pub const EXIT_OK: u8 = 0;
/// Exit status: the input was understood and refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: bad usage or unreadable input.
pub const EXIT_USAGE: u8 = 2;
