//! The download package: the container a toolchain hands a kernel, its writer
//! ([`Package::to_bytes`], [`Package::sign`]) and its defensive reader ([`Package::parse`],
//! [`authenticate`]).
//!
//! # Format, version 1
//! Every integer is little-endian. A package is a 24-byte header, then its sections back to
//! back (no padding), then, when authenticated, a 32-byte tag. Nothing may follow.
//!
//! ## Header (24 bytes)
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `b"UDFPKG\r\n"` |
//! | 8 | 2 | format version, `1` |
//! | 10 | 2 | flags: bit 0 = authenticated (a 32-byte HMAC-SHA-256 tag ends the package); every other bit 0 |
//! | 12 | 1 | program type: 1 `filter`, 2 `owns`, 3 `acl`, 4 `size` (anything else, `raw` included, is refused) |
//! | 13 | 1 | target of the native code: 0 none, 1 x86_64, 2 aarch64, 3 riscv64 |
//! | 14 | 2 | section count |
//! | 16 | 4 | context (metadata object) size; `0xFFFF_FFFF` = none. Must be none for a filter |
//! | 20 | 4 | total length of the package in bytes, tag included; equals the byte length |
//!
//! ## Sections
//! Each: kind u16, reserved u16 (0), payload length u32, then the payload. Kinds appear in
//! strictly increasing order, each at most once. `name`, `bytecode` and `facts` are mandatory;
//! `native` is present exactly when the target is not none; `source map` is optional.
//!
//! | kind | section | payload |
//! | --- | --- | --- |
//! | 1 | name | UTF-8, 1 to 64 bytes of `[A-Za-z0-9_.-]` |
//! | 2 | bytecode | raw 8-byte instructions (`udf_bytecode::Program::decode`), 1 to 65536 slots |
//! | 3 | facts | see below; the exact length its counts give |
//! | 4 | native | see below; the exact length its counts give |
//! | 5 | source map | count u32 (0 or the number of instructions, at most 65536), then per instruction start line u32, start column u32, end line u32, end column u32 |
//!
//! Facts (what the toolchain's verifier proved; the kernel recomputes and compares them):
//! max_insns u64, max_extents u64, stack_use u32, max_frames u32, loop count u32, per loop
//! (head u32, tail u32, max_iterations u64), access count u32, then one byte per instruction:
//! 0 none, 1 context, 2 stack, 3 either ([`udf_verifier::Access`]). Counts at most 65536.
//!
//! Native code: mode u8 (0 trusted, 1 checked), 3 reserved zero bytes, region count u32
//! (1 to 65536), per region (first slot u32, byte offset of its function u32), code length u32
//! (1 byte to 16 MiB), the code. The code is position-independent, has no relocation and calls
//! helpers only through the table in its environment ([`udf_runtime::native`]).
//!
//! ## Tag
//! When flag bit 0 is set, the last 32 bytes are HMAC-SHA-256 under the kernel's key of every
//! byte before them. [`authenticate`] checks it reading only the magic, version, flags and total
//! length, before anything else is parsed.
//!
//! A whole package is at most 32 MiB. The reader checks every length before it uses it, with
//! checked arithmetic, allocates only after a count is proven to fit the bytes present, and
//! returns a [`PackageError`] naming the byte offset and the values involved; it never panics.
//! It refuses anything [`Package::to_bytes`] would not write, so `to_bytes(parse(b)) == b` for
//! every accepted `b`.

mod error;
mod facts;
mod read;
mod write;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use udf_bytecode::ProgramType;
pub use udf_runtime::native::Target;
use udf_runtime::native::{RegionEntry, signed};

pub use error::PackageError;
pub use facts::{FactsField, FactsSection, LoopEntry};
pub use read::{Envelope, authenticate, check_name};

/// The first 8 bytes of every package.
pub const MAGIC: [u8; 8] = *b"UDFPKG\r\n";
/// The format version this reader and writer speak.
pub const VERSION: u16 = 1;
/// Flag bit: a tag ends the package.
pub const FLAG_AUTHENTICATED: u16 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = signed::HEADER_LEN;
/// Bytes of a section's header (kind, reserved, length).
pub const SECTION_HEADER_LEN: usize = signed::SECTION_HEADER_LEN;
/// Bytes of the authentication tag.
pub const TAG_LEN: usize = udf_runtime::mac::TAG_LEN;
/// Largest package accepted, in bytes.
pub const MAX_PACKAGE_LEN: usize = 32 << 20;
/// Longest name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most bytecode slots, and most entries of every per-instruction or per-loop list.
pub const MAX_SLOTS: usize = 65536;
/// Most native regions.
pub const MAX_REGIONS: usize = 65536;
/// Largest native code, in bytes.
pub const MAX_CODE_LEN: usize = 16 << 20;
/// The header's context size meaning "none".
pub const NO_CTX_SIZE: u32 = signed::NO_CTX_SIZE;

/// Offsets of the header's fields.
mod at {
    pub const VERSION: usize = 8;
    pub const FLAGS: usize = 10;
    pub const TYPE: usize = super::signed::TYPE_AT;
    pub const TARGET: usize = super::signed::TARGET_AT;
    pub const SECTIONS: usize = 14;
    pub const CTX_SIZE: usize = super::signed::CTX_SIZE_AT;
    pub const TOTAL_LEN: usize = 20;
}

/// The header byte of a native code target: 0 for none.
pub fn target_code(target: Option<Target>) -> u8 {
    target.map_or(0, Target::code)
}

/// The header byte of a program type (`raw` has none: it cannot be packaged).
pub use signed::type_code;

/// The program type with this header byte.
pub fn type_from_code(code: u8) -> Option<ProgramType> {
    ProgramType::ALL.into_iter().find(|&t| type_code(t) == Some(code))
}

/// The kinds of section, in the order they appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SectionKind {
    /// The program's name.
    Name = 1,
    /// Raw bytecode.
    Bytecode = signed::BYTECODE_SECTION as isize,
    /// The toolchain verifier's facts.
    Facts = 3,
    /// Native code for the header's target.
    Native = signed::NATIVE_SECTION as isize,
    /// Source position of each instruction.
    SourceMap = 5,
}

impl SectionKind {
    /// Every kind, in order.
    pub const ALL: [SectionKind; 5] = [
        SectionKind::Name,
        SectionKind::Bytecode,
        SectionKind::Facts,
        SectionKind::Native,
        SectionKind::SourceMap,
    ];

    /// Its number in a section header.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The kind with this number.
    pub fn from_code(code: u16) -> Option<SectionKind> {
        SectionKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Name => "name",
            SectionKind::Bytecode => "bytecode",
            SectionKind::Facts => "facts",
            SectionKind::Native => "native",
            SectionKind::SourceMap => "source map",
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `n` as a `u32`, saturating (every count the format stores is far below).
fn sat32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// How native code treats memory and the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeMode {
    /// Compiled with the verifier's facts: checks nothing, meters nothing.
    Trusted,
    /// Checks every access and meters a budget.
    Checked,
}

/// The native section: position-independent code for the header's target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeSection {
    /// Trusted or checked code.
    pub mode: NativeMode,
    /// Where each region's function starts.
    pub regions: Vec<RegionEntry>,
    /// The machine code.
    pub code: Vec<u8>,
}

/// Where one instruction comes from: 1-based lines and columns of the start and the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceSpan {
    /// Line of the first character.
    pub start_line: u32,
    /// Column of the first character.
    pub start_col: u32,
    /// Line just past the end.
    pub end_line: u32,
    /// Column just past the end.
    pub end_col: u32,
}

/// A download package, as parsed (structurally only: nothing here is verified or trusted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Format version ([`VERSION`]).
    pub version: u16,
    /// Program type (never `raw`).
    pub ty: ProgramType,
    /// Target of the native code; `None` exactly when there is none.
    pub target: Option<Target>,
    /// Size of the metadata object (`owns`, `acl`, `size`); `None` for filters. `Some(u32::MAX)`
    /// cannot be stored (it is the header's "none").
    pub ctx_size: Option<u32>,
    /// The program's name.
    pub name: String,
    /// Raw bytecode, as stored.
    pub bytecode: Vec<u8>,
    /// What the toolchain's verifier proved.
    pub facts: FactsSection,
    /// Native code, when the target is not none.
    pub native: Option<NativeSection>,
    /// Source positions, per instruction (or empty).
    pub source_map: Option<Vec<SourceSpan>>,
    /// The authentication tag, when the package is authenticated.
    pub tag: Option<[u8; TAG_LEN]>,
}
