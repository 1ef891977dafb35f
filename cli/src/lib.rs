//! The library behind the `udf` command: loading and compiling programs from files, reading
//! captures, and rendering errors as miette diagnostics. `main.rs` only parses arguments.

pub mod capture;
pub mod demo;
pub mod exec;
pub mod input;
pub mod kernel;
pub mod output;
pub mod verify;
pub mod xn;

/// Exit status: success or accepted.
pub const EXIT_OK: u8 = 0;
/// Exit status: the input was understood and refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: bad usage or unreadable input.
pub const EXIT_USAGE: u8 = 2;
