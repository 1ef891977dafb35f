//! `udf-kernel`: a bare-metal x86-64 kernel that does what `udf kernel load` does, where it was
//! written to run. It boots under qemu (PVH: a `.note.Xen` note names its 32-bit entry), sets up
//! its own page tables (W^X enforced by the MMU: EFER.NXE and CR0.WP on, code pages
//! read+execute, everything else not executable), a frame allocator and a heap, and talks over
//! its only device, the serial port 0x3f8. kernel-glue is linked in unchanged: the kernel
//! authenticates, parses, re-verifies and installs the package it is sent
//! ([`udf_kernel_glue::Table::load`]), mapping trusted native code into pages of its own
//! ([`exec`]), and runs it on each input it is sent.
//!
//! # The protocol
//! Both directions are frames: a tag byte, a payload length (u32, little-endian, at most 16 MiB),
//! the payload.
//!
//! From the host, in this order:
//! - `K`: the kernel's key (empty: the kernel holds none);
//! - `P`: the package;
//! - `T` (optional, tests only): raw x86-64 code, mapped like a package's native code and run
//!   as a one-region trusted program on the next input instead of the package's code (how the
//!   tests make a program that writes to its own code, which no verified program does). Like
//!   any native code it needs the kernel's key: the payload is `udf-kernel test code\0`, the
//!   code, then an HMAC-SHA-256 tag of both under the key; without a key or a valid tag the
//!   next input is answered `F` and nothing runs;
//! - `N` (optional, benchmarks): a count (u32): the next input is run that many times, and the
//!   last run answered (how `udf-bench kernel` measures the cost of one invocation);
//! - `I`, any number: an input (the context bytes); each is answered before the next is read;
//! - `E` (empty): the end; the kernel answers `X` and stops the machine.
//!
//! From the kernel:
//! - `H` once at boot: `udf-kernel 1` (the host ignores whatever the firmware printed before);
//! - after `P`: `L` (installed: native u8, program type byte of the package format, object
//!   size u32 with `u32::MAX` for none, then name and engine as u32-length-prefixed UTF-8) or
//!   `R` (refused: kind u8, 1 when the package has no tag the policy requires, else 0, then
//!   the loader's message); after `R` the kernel waits for `E`;
//! - after each `I`: `O` (ran: `r0` u64, extent count u32, per extent start u64, count u64,
//!   kind u32) or `F` (the run was refused or faulted: the message; a fault the MMU caught says
//!   which access and where);
//! - after `E`: `X` (the exit status u8: 0, or 1 when the package or a run was refused); then
//!   the machine stops through `isa-debug-exit` with the same status (qemu exits with
//!   `status << 1 | 1`).
//!
//! A kernel bug is reported as a `!` frame (the message), then status 3; a line silent for
//! minutes (the host is gone) stops the machine with status 4.
//!
//! The kernel's policy is `udf kernel load`'s default ([`Policy::allow_untagged_bytecode`]).
#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod exec;
mod heap;
mod mem;
mod serial;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use udf_kernel_glue::{LoadError, Policy, Table};
use udf_runtime::Vm;

#[global_allocator]
static HEAP: heap::Bump = heap::Bump::empty();

/// Largest frame accepted (16 MiB; the heap has 48). `udf kernel boot` sends no larger one.
const MAX_FRAME: usize = 16 << 20;

/// Reads one frame: its tag and payload.
fn read_frame() -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    serial::read_exact(&mut head);
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        fatal(format_args!("a frame of {len} bytes"));
    }
    let mut payload = alloc::vec![0u8; len];
    serial::read_exact(&mut payload);
    (head[0], payload)
}

/// Sends one frame.
fn send(tag: u8, payload: &[u8]) {
    serial::write_byte(tag);
    serial::write(&(payload.len() as u32).to_le_bytes());
    serial::write(payload);
}

/// Appends a u32-length-prefixed string.
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reports a kernel bug over the line (`!` frame) and stops with status 3.
pub fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    let mut msg = String::new();
    let _ = msg.write_fmt(args);
    send(b'!', msg.as_bytes());
    serial::exit(3)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fatal(format_args!("kernel panic: {info}"))
}

/// The 64-bit entry (from [`boot`]): `start_info` is the PVH start info's physical address.
pub extern "C" fn kmain(_start_info: u32) -> ! {
    serial::init();
    mem::init(&HEAP);
    exec::init();
    send(b'H', b"udf-kernel 1");
    let status = serve();
    send(b'X', &[status]);
    serial::exit(status)
}

/// One session: key, package, inputs, end. Returns the exit status.
fn serve() -> u8 {
    let mut status = 0u8;
    let (tag, key) = read_frame();
    if tag != b'K' {
        fatal(format_args!("expected the key frame, got tag {tag}"));
    }
    let (tag, package) = read_frame();
    if tag != b'P' {
        fatal(format_args!("expected the package frame, got tag {tag}"));
    }
    let policy = Policy::allow_untagged_bytecode((!key.is_empty()).then(|| key.clone()));
    let mut table = Table::with_exec(&exec::KERNEL_EXEC);
    let loaded = table.load(&package, &policy);
    drop(package);
    let id = match loaded {
        Ok(id) => {
            let (Some(prog), Some(engine)) = (table.get(id), table.engine(id)) else {
                fatal(format_args!("installed, then not found"));
            };
            let mut out = Vec::new();
            out.push(u8::from(engine.is_native()));
            out.push(udf_runtime::native::signed::type_code(prog.ty()).unwrap_or(0));
            out.extend_from_slice(&prog.ctx_size().unwrap_or(u32::MAX).to_le_bytes());
            put_str(&mut out, prog.name());
            put_str(&mut out, &engine.to_string());
            send(b'L', &out);
            Some(id)
        }
        Err(e) => {
            let mut out = alloc::vec![u8::from(matches!(e, LoadError::Unauthenticated))];
            out.extend_from_slice(e.to_string().as_bytes());
            send(b'R', &out);
            status = 1;
            None
        }
    };
    let mut vm = Vm::new();
    let mut hook: Option<exec::TestProgram> = None;
    let mut repeat = 1u32;
    loop {
        let (tag, payload) = read_frame();
        match (tag, id) {
            (b'E', _) => return status,
            (b'T', _) => hook = Some(exec::TestProgram::new(&payload, &key)),
            (b'N', _) => {
                let Ok(n) = <[u8; 4]>::try_from(&payload[..]) else {
                    fatal(format_args!("a malformed `N` frame"));
                };
                repeat = u32::from_le_bytes(n).max(1);
            }
            (b'I', Some(id)) => {
                let Some(prog) = table.get(id) else { fatal(format_args!("program gone")) };
                let hook = hook.take();
                let mut result = Err(String::new());
                for _ in 0..core::mem::replace(&mut repeat, 1) {
                    result = match &hook {
                        Some(t) => t.invoke(&payload),
                        None => exec::invoke(prog, &mut vm, &payload),
                    };
                }
                match result {
                    Ok(run) => {
                        let mut out = Vec::new();
                        out.extend_from_slice(&run.r0.to_le_bytes());
                        out.extend_from_slice(&(run.extents.len() as u32).to_le_bytes());
                        for e in &run.extents {
                            out.extend_from_slice(&e.start.to_le_bytes());
                            out.extend_from_slice(&e.count.to_le_bytes());
                            out.extend_from_slice(&e.kind.to_le_bytes());
                        }
                        send(b'O', &out);
                    }
                    Err(msg) => {
                        send(b'F', msg.as_bytes());
                        status = 1;
                    }
                }
            }
            (b'I', None) => fatal(format_args!("an input after a refused package")),
            (t, _) => fatal(format_args!("unexpected frame tag {t}")),
        }
    }
}
