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

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use udf_bytecode::ProgramType;
use udf_bytecode::progtype::CtxSize;
use udf_runtime::native::RegionEntry;
use udf_verifier::{Access, Facts};

/// The first 8 bytes of every package.
pub const MAGIC: [u8; 8] = *b"UDFPKG\r\n";
/// The format version this reader and writer speak.
pub const VERSION: u16 = 1;
/// Flag bit: a tag ends the package.
pub const FLAG_AUTHENTICATED: u16 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 24;
/// Bytes of a section's header (kind, reserved, length).
pub const SECTION_HEADER_LEN: usize = 8;
/// Bytes of the authentication tag.
pub const TAG_LEN: usize = 32;
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
pub const NO_CTX_SIZE: u32 = u32::MAX;

/// Offsets of the header's fields.
mod at {
    pub const VERSION: usize = 8;
    pub const FLAGS: usize = 10;
    pub const TYPE: usize = 12;
    pub const TARGET: usize = 13;
    pub const SECTIONS: usize = 14;
    pub const CTX_SIZE: usize = 16;
    pub const TOTAL_LEN: usize = 20;
}

/// The HMAC the tag is made with.
type HmacSha256 = Hmac<Sha256>;

/// What machine a package's native code is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// No native code: a bytecode package.
    None,
    /// x86-64 (System V calling convention).
    X86_64,
    /// AArch64.
    Aarch64,
    /// RISC-V 64 (RV64GC).
    Riscv64,
}

impl Target {
    /// Every target, `None` first.
    pub const ALL: [Target; 4] = [
        Target::None,
        Target::X86_64,
        Target::Aarch64,
        Target::Riscv64,
    ];

    /// Its byte in the header.
    pub fn code(self) -> u8 {
        match self {
            Target::None => 0,
            Target::X86_64 => 1,
            Target::Aarch64 => 2,
            Target::Riscv64 => 3,
        }
    }

    /// The target with this header byte.
    pub fn from_code(code: u8) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Its name on the command line (`none`, `x86_64`, `aarch64`, `riscv64`).
    pub fn name(self) -> &'static str {
        match self {
            Target::None => "none",
            Target::X86_64 => "x86_64",
            Target::Aarch64 => "aarch64",
            Target::Riscv64 => "riscv64",
        }
    }

    /// Parses [`Target::name`].
    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The instruction set this code was built for (`None` on any other).
    pub fn host() -> Target {
        if cfg!(target_arch = "x86_64") {
            Target::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Target::Aarch64
        } else if cfg!(target_arch = "riscv64") {
            Target::Riscv64
        } else {
            Target::None
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The header byte of a program type (`raw` has none: it cannot be packaged).
pub fn type_code(ty: ProgramType) -> Option<u8> {
    match ty {
        ProgramType::Filter => Some(1),
        ProgramType::Owns => Some(2),
        ProgramType::Acl => Some(3),
        ProgramType::Size => Some(4),
        ProgramType::Raw => None,
    }
}

/// The program type with this header byte.
pub fn type_from_code(code: u8) -> Option<ProgramType> {
    ProgramType::ALL
        .into_iter()
        .find(|&t| type_code(t) == Some(code))
}

/// The kinds of section, in the order they appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SectionKind {
    /// The program's name.
    Name = 1,
    /// Raw bytecode.
    Bytecode = 2,
    /// The toolchain verifier's facts.
    Facts = 3,
    /// Native code for the header's target.
    Native = 4,
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

/// A loop and its proven bound, as the facts section stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopEntry {
    /// Index of the head.
    pub head: u32,
    /// Index of the last instruction.
    pub tail: u32,
    /// Most iterations of one execution of the loop.
    pub max_iterations: u64,
}

/// The facts section: what the toolchain's verifier proved. A kernel never trusts it; it
/// recomputes the facts and compares ([`FactsSection::disagreement`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactsSection {
    /// Most instructions any run executes.
    pub max_insns: u64,
    /// Most extents any run emits.
    pub max_extents: u64,
    /// Bytes of the deepest stack frame written.
    pub stack_use: u32,
    /// Most frames live at once.
    pub max_frames: u32,
    /// Loops with their bounds.
    pub loops: Vec<LoopEntry>,
    /// Per instruction, the memory it touches.
    pub access: Vec<Access>,
}

/// A field of the facts, named when a package's facts and the kernel's disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactsField {
    /// `max_insns`.
    MaxInsns,
    /// `max_extents`.
    MaxExtents,
    /// `stack_use`.
    StackUse,
    /// `max_frames`.
    MaxFrames,
    /// `loops`.
    Loops,
    /// `access`.
    Access,
}

impl FactsField {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            FactsField::MaxInsns => "max_insns",
            FactsField::MaxExtents => "max_extents",
            FactsField::StackUse => "stack_use",
            FactsField::MaxFrames => "max_frames",
            FactsField::Loops => "loops",
            FactsField::Access => "access",
        }
    }
}

impl fmt::Display for FactsField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `n` as a `u32`, saturating (every count the format stores is far below).
fn sat32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl FactsSection {
    /// The section for facts the verifier computed.
    pub fn from_facts(facts: &Facts) -> FactsSection {
        FactsSection {
            max_insns: facts.max_insns,
            max_extents: facts.max_extents,
            stack_use: facts.stack_use,
            max_frames: sat32(facts.max_frames),
            loops: facts
                .loops
                .iter()
                .map(|l| LoopEntry {
                    head: sat32(l.head),
                    tail: sat32(l.tail),
                    max_iterations: l.max_iterations,
                })
                .collect(),
            access: facts.access.clone(),
        }
    }

    /// The first field (in the section's order) where these facts and `facts` differ, or
    /// `None` when they agree on every field the section holds. Compared without narrowing.
    pub fn disagreement(&self, facts: &Facts) -> Option<FactsField> {
        let loops_agree = self.loops.len() == facts.loops.len()
            && self.loops.iter().zip(&facts.loops).all(|(a, b)| {
                usize::try_from(a.head).ok() == Some(b.head)
                    && usize::try_from(a.tail).ok() == Some(b.tail)
                    && a.max_iterations == b.max_iterations
            });
        if self.max_insns != facts.max_insns {
            Some(FactsField::MaxInsns)
        } else if self.max_extents != facts.max_extents {
            Some(FactsField::MaxExtents)
        } else if self.stack_use != facts.stack_use {
            Some(FactsField::StackUse)
        } else if usize::try_from(self.max_frames).ok() != Some(facts.max_frames) {
            Some(FactsField::MaxFrames)
        } else if !loops_agree {
            Some(FactsField::Loops)
        } else if self.access != facts.access {
            Some(FactsField::Access)
        } else {
            None
        }
    }
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
    /// Target of the native code; [`Target::None`] exactly when there is none.
    pub target: Target,
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

/// Why bytes are not a well-formed package, or not authentic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageError {
    /// Shorter than the header (or, when authenticated, than the header and the tag).
    TooShort {
        /// Its length.
        len: usize,
        /// The least length it could have.
        min: usize,
    },
    /// Longer than [`MAX_PACKAGE_LEN`].
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The first 8 bytes are not [`MAGIC`].
    Magic,
    /// A format version this reader does not speak.
    Version {
        /// The version found.
        found: u16,
    },
    /// Flag bits other than [`FLAG_AUTHENTICATED`].
    Flags {
        /// The flags found.
        flags: u16,
    },
    /// A program type byte that is not 1 to 4.
    ProgramType {
        /// The byte found.
        found: u8,
    },
    /// A target byte that is not 0 to 3.
    Target {
        /// The byte found.
        found: u8,
    },
    /// A context size for a type whose context has no template (a filter).
    CtxSize {
        /// The type.
        ty: ProgramType,
        /// The size found.
        size: u32,
    },
    /// The header's total length is not the number of bytes given.
    TotalLength {
        /// What the header says.
        declared: u32,
        /// The bytes given.
        actual: usize,
    },
    /// A section count that cannot hold the mandatory sections or exceeds the kinds there are.
    SectionCount {
        /// The count found.
        count: u16,
    },
    /// A section header or payload runs past the end of the sections.
    Truncated {
        /// Offset of the section.
        at: usize,
        /// Bytes it needs from there.
        needed: u64,
        /// Bytes left from there.
        left: usize,
    },
    /// An unknown section kind.
    SectionKind {
        /// Offset of the section.
        at: usize,
        /// The kind found.
        kind: u16,
    },
    /// A section kind not greater than the one before it.
    SectionOrder {
        /// Offset of the section.
        at: usize,
        /// Its kind.
        kind: u16,
        /// The kind before it.
        after: u16,
    },
    /// A reserved field or byte that is not zero.
    Reserved {
        /// Its offset.
        at: usize,
        /// Its value.
        value: u32,
    },
    /// A mandatory section is missing (or `native` is, for a target other than none).
    MissingSection {
        /// The kind.
        kind: SectionKind,
    },
    /// A native section in a package whose target is none.
    UnexpectedSection {
        /// Offset of the section.
        at: usize,
        /// The kind.
        kind: SectionKind,
    },
    /// A section's payload is not the length its contents give.
    SectionLength {
        /// Offset of the payload.
        at: usize,
        /// The section.
        kind: SectionKind,
        /// The length its contents need (at least this many when it is too short).
        needed: u64,
        /// Its length.
        len: u64,
    },
    /// A count or length outside its bounds.
    Count {
        /// Offset of the field (or of the payload, for a payload's length).
        at: usize,
        /// What is counted.
        what: &'static str,
        /// The value found.
        value: u64,
        /// Least allowed.
        min: u64,
        /// Most allowed.
        max: u64,
    },
    /// A name that is not 1 to 64 bytes of `[A-Za-z0-9_.-]`.
    Name {
        /// Offset of the first offending byte (or of the payload, for a bad length).
        at: usize,
    },
    /// An access byte that is not 0 to 3.
    Access {
        /// Its offset.
        at: usize,
        /// Its value.
        value: u8,
    },
    /// A native mode byte that is not 0 or 1.
    NativeMode {
        /// Its offset.
        at: usize,
        /// Its value.
        value: u8,
    },
    /// Bytes after the last section (before the tag, if any).
    TrailingBytes {
        /// Offset of the first.
        at: usize,
        /// How many.
        count: usize,
    },
    /// [`authenticate`] on a package whose flags do not say it is authenticated.
    NotAuthenticated,
    /// The tag is not the HMAC of the package under the key.
    BadTag,
    /// An empty key (a kernel must hold a real secret).
    EmptyKey,
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PackageError as E;
        match self {
            E::TooShort { len, min } => {
                write!(f, "package of {len} bytes: at least {min} are needed")
            }
            E::TooLong { len } => write!(
                f,
                "package of {len} bytes: at most {MAX_PACKAGE_LEN} are accepted"
            ),
            E::Magic => write!(f, "not a package (bad magic at offset 0)"),
            E::Version { found } => write!(
                f,
                "format version {found} at offset {} (this reader speaks {VERSION})",
                at::VERSION
            ),
            E::Flags { flags } => write!(
                f,
                "flags {flags:#06x} at offset {}: only bit 0 (authenticated) is defined",
                at::FLAGS
            ),
            E::ProgramType { found } => write!(
                f,
                "program type {found} at offset {} (1 filter, 2 owns, 3 acl, 4 size)",
                at::TYPE
            ),
            E::Target { found } => write!(
                f,
                "target {found} at offset {} (0 none, 1 x86_64, 2 aarch64, 3 riscv64)",
                at::TARGET
            ),
            E::CtxSize { ty, size } => write!(
                f,
                "context size {size} at offset {} for a {ty} program (its context has no template)",
                at::CTX_SIZE
            ),
            E::TotalLength { declared, actual } => write!(
                f,
                "total length {declared} at offset {} for {actual} bytes",
                at::TOTAL_LEN
            ),
            E::SectionCount { count } => write!(
                f,
                "section count {count} at offset {} (3 to 5)",
                at::SECTIONS
            ),
            E::Truncated { at, needed, left } => write!(
                f,
                "section at offset {at} needs {needed} bytes, {left} are left"
            ),
            E::SectionKind { at, kind } => {
                write!(f, "unknown section kind {kind} at offset {at}")
            }
            E::SectionOrder { at, kind, after } => write!(
                f,
                "section kind {kind} at offset {at} after kind {after} (kinds must increase)"
            ),
            E::Reserved { at, value } => {
                write!(f, "reserved field at offset {at} holds {value}, not 0")
            }
            E::MissingSection { kind } => write!(f, "no {kind} section"),
            E::UnexpectedSection { at, kind } => write!(
                f,
                "{kind} section at offset {at} in a package whose target is none"
            ),
            E::SectionLength {
                at,
                kind,
                needed,
                len,
            } => write!(
                f,
                "{kind} payload at offset {at} is {len} bytes, its contents need {needed}"
            ),
            E::Count {
                at,
                what,
                value,
                min,
                max,
            } => write!(f, "{what} {value} at offset {at} (must be {min} to {max})"),
            E::Name { at } => write!(
                f,
                "bad name at offset {at} (1 to {MAX_NAME_LEN} bytes of A-Z a-z 0-9 _ . -)"
            ),
            E::Access { at, value } => {
                write!(f, "access byte {value} at offset {at} (0 to 3)")
            }
            E::NativeMode { at, value } => write!(
                f,
                "native mode {value} at offset {at} (0 trusted, 1 checked)"
            ),
            E::TrailingBytes { at, count } => {
                write!(f, "{count} bytes after the last section, at offset {at}")
            }
            E::NotAuthenticated => write!(f, "the package is not authenticated"),
            E::BadTag => write!(f, "the authentication tag does not match"),
            E::EmptyKey => write!(f, "an empty authentication key"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PackageError {}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The fixed header fields authentication needs: checks the length bounds, the magic, the
/// version, the flags and the total length. Returns the flags.
fn check_envelope(bytes: &[u8]) -> Result<u16, PackageError> {
    if bytes.len() < HEADER_LEN {
        return Err(PackageError::TooShort {
            len: bytes.len(),
            min: HEADER_LEN,
        });
    }
    if bytes.len() > MAX_PACKAGE_LEN {
        return Err(PackageError::TooLong { len: bytes.len() });
    }
    if bytes[..8] != MAGIC {
        return Err(PackageError::Magic);
    }
    let version = u16_at(bytes, at::VERSION);
    if version != VERSION {
        return Err(PackageError::Version { found: version });
    }
    let flags = u16_at(bytes, at::FLAGS);
    if flags & !FLAG_AUTHENTICATED != 0 {
        return Err(PackageError::Flags { flags });
    }
    let declared = u32_at(bytes, at::TOTAL_LEN);
    if usize::try_from(declared).ok() != Some(bytes.len()) {
        return Err(PackageError::TotalLength {
            declared,
            actual: bytes.len(),
        });
    }
    if flags & FLAG_AUTHENTICATED != 0 && bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(PackageError::TooShort {
            len: bytes.len(),
            min: HEADER_LEN + TAG_LEN,
        });
    }
    Ok(flags)
}

/// The header fields a kernel decides on before parsing: whether the package says it is
/// authenticated, and its raw target byte. Checks what [`authenticate`] checks of the header
/// (length bounds, magic, version, flags, total length) and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Flag bit 0.
    pub authenticated: bool,
    /// The target byte, unchecked (0 = none).
    pub target: u8,
}

impl Envelope {
    /// Reads the envelope of `bytes`.
    pub fn read(bytes: &[u8]) -> Result<Envelope, PackageError> {
        let flags = check_envelope(bytes)?;
        Ok(Envelope {
            authenticated: flags & FLAG_AUTHENTICATED != 0,
            target: bytes[at::TARGET],
        })
    }
}

fn mac(key: &[u8]) -> Result<HmacSha256, PackageError> {
    if key.is_empty() {
        return Err(PackageError::EmptyKey);
    }
    HmacSha256::new_from_slice(key).map_err(|_| PackageError::EmptyKey)
}

/// Checks the tag of an authenticated package under `key`, reading only the magic, version,
/// flags and total length first (nothing else of the package is looked at). The comparison is
/// constant-time.
pub fn authenticate(bytes: &[u8], key: &[u8]) -> Result<(), PackageError> {
    let flags = check_envelope(bytes)?;
    if flags & FLAG_AUTHENTICATED == 0 {
        return Err(PackageError::NotAuthenticated);
    }
    let mut m = mac(key)?;
    let body = bytes.len() - TAG_LEN; // `check_envelope` made sure the tag is there
    m.update(&bytes[..body]);
    m.verify_slice(&bytes[body..])
        .map_err(|_| PackageError::BadTag)
}

/// Whether `name` is 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9_.-]`; else the index of the
/// first offending byte (0 for a bad length).
pub fn check_name(name: &[u8]) -> Result<(), usize> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(0);
    }
    match name
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
    {
        Some(i) => Err(i),
        None => Ok(()),
    }
}

/// A cursor over one section's payload, knowing its offset in the package for messages.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
    kind: SectionKind,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: usize, kind: SectionKind) -> Reader<'a> {
        Reader {
            bytes,
            pos: 0,
            base,
            kind,
        }
    }

    /// Offset in the package of the next byte.
    fn at(&self) -> usize {
        self.base + self.pos
    }

    fn short(&self, needed: u64) -> PackageError {
        PackageError::SectionLength {
            at: self.base,
            kind: self.kind,
            needed,
            len: self.bytes.len() as u64,
        }
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], PackageError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|e| self.bytes.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.short((self.pos as u64).saturating_add(n as u64))),
        }
    }

    fn u8(&mut self) -> Result<u8, PackageError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PackageError> {
        let b = self.take(4)?;
        Ok(u32_at(b, 0))
    }

    fn u64(&mut self) -> Result<u64, PackageError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Checks that exactly `count` items of `size` bytes, then `after` more bytes, are left
    /// (so a count is proven to fit before anything is allocated for it).
    fn expect_items(&self, count: u64, size: u64, after: u64) -> Result<(), PackageError> {
        let needed = count
            .checked_mul(size)
            .and_then(|n| n.checked_add(after))
            .and_then(|n| n.checked_add(self.pos as u64));
        let len = self.bytes.len() as u64;
        match needed {
            Some(n) if n <= len => Ok(()),
            Some(n) => Err(self.short(n)),
            None => Err(self.short(u64::MAX)),
        }
    }

    /// A count field bounded by `min..=max`.
    fn count(&mut self, what: &'static str, min: u64, max: u64) -> Result<usize, PackageError> {
        let at = self.at();
        let value = u64::from(self.u32()?);
        if value < min || value > max {
            return Err(PackageError::Count {
                at,
                what,
                value,
                min,
                max,
            });
        }
        // At most `MAX_CODE_LEN`, which fits every `usize` this crate builds for.
        usize::try_from(value).map_err(|_| PackageError::Count {
            at,
            what,
            value,
            min,
            max,
        })
    }

    /// Nothing may be left.
    fn finish(&self) -> Result<(), PackageError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.short(self.pos as u64))
        }
    }
}

fn access_from_byte(b: u8) -> Option<Access> {
    match b {
        0 => Some(Access::None),
        1 => Some(Access::Ctx),
        2 => Some(Access::Stack),
        3 => Some(Access::Either),
        _ => None,
    }
}

fn access_byte(a: Access) -> u8 {
    match a {
        Access::None => 0,
        Access::Ctx => 1,
        Access::Stack => 2,
        Access::Either => 3,
    }
}

fn parse_name(r: &mut Reader<'_>) -> Result<String, PackageError> {
    let base = r.at();
    let bytes = r.take(r.bytes.len())?;
    check_name(bytes).map_err(|i| PackageError::Name { at: base + i })?;
    // Only ASCII passed the check.
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| PackageError::Name { at: base })
}

fn parse_bytecode(r: &mut Reader<'_>) -> Result<Vec<u8>, PackageError> {
    let len = r.bytes.len();
    if len == 0 || !len.is_multiple_of(8) || len / 8 > MAX_SLOTS {
        return Err(PackageError::Count {
            at: r.at(),
            what: "bytecode length",
            value: len as u64,
            min: 8,
            max: (MAX_SLOTS * 8) as u64,
        });
    }
    Ok(r.take(len)?.to_vec())
}

fn parse_facts(r: &mut Reader<'_>) -> Result<FactsSection, PackageError> {
    let max_insns = r.u64()?;
    let max_extents = r.u64()?;
    let stack_use = r.u32()?;
    let max_frames = r.u32()?;
    let n_loops = r.count("loop count", 0, MAX_SLOTS as u64)?;
    r.expect_items(n_loops as u64, 16, 4)?;
    let mut loops = Vec::with_capacity(n_loops);
    for _ in 0..n_loops {
        loops.push(LoopEntry {
            head: r.u32()?,
            tail: r.u32()?,
            max_iterations: r.u64()?,
        });
    }
    let n_access = r.count("access count", 0, MAX_SLOTS as u64)?;
    r.expect_items(n_access as u64, 1, 0)?;
    let mut access = Vec::with_capacity(n_access);
    for _ in 0..n_access {
        let at = r.at();
        let value = r.u8()?;
        access.push(access_from_byte(value).ok_or(PackageError::Access { at, value })?);
    }
    r.finish()?;
    Ok(FactsSection {
        max_insns,
        max_extents,
        stack_use,
        max_frames,
        loops,
        access,
    })
}

fn parse_native(r: &mut Reader<'_>) -> Result<NativeSection, PackageError> {
    let at = r.at();
    let mode = match r.u8()? {
        0 => NativeMode::Trusted,
        1 => NativeMode::Checked,
        value => return Err(PackageError::NativeMode { at, value }),
    };
    for _ in 0..3 {
        let at = r.at();
        let value = r.u8()?;
        if value != 0 {
            return Err(PackageError::Reserved {
                at,
                value: u32::from(value),
            });
        }
    }
    let n_regions = r.count("region count", 1, MAX_REGIONS as u64)?;
    r.expect_items(n_regions as u64, 8, 4)?;
    let mut regions = Vec::with_capacity(n_regions);
    for _ in 0..n_regions {
        regions.push(RegionEntry {
            start: r.u32()?,
            offset: r.u32()?,
        });
    }
    let code_len = r.count("code length", 1, MAX_CODE_LEN as u64)?;
    let code = r.take(code_len)?.to_vec();
    r.finish()?;
    Ok(NativeSection {
        mode,
        regions,
        code,
    })
}

fn parse_source_map(r: &mut Reader<'_>) -> Result<Vec<SourceSpan>, PackageError> {
    let n = r.count("source map count", 0, MAX_SLOTS as u64)?;
    r.expect_items(n as u64, 16, 0)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        spans.push(SourceSpan {
            start_line: r.u32()?,
            start_col: r.u32()?,
            end_line: r.u32()?,
            end_col: r.u32()?,
        });
    }
    r.finish()?;
    Ok(spans)
}

/// The sections read so far.
#[derive(Default)]
struct Sections {
    name: Option<String>,
    bytecode: Option<Vec<u8>>,
    facts: Option<FactsSection>,
    native: Option<NativeSection>,
    source_map: Option<Vec<SourceSpan>>,
}

impl Package {
    /// An unsigned package of the program the toolchain's verifier accepted (its type, object
    /// size and facts come with it: they cannot belong to another program); `native` is code
    /// for `target` (none for [`Target::None`]); no source map.
    pub fn new(
        name: &str,
        verified: &udf_verifier::Verified,
        target: Target,
        native: Option<NativeSection>,
    ) -> Package {
        Package {
            version: VERSION,
            ty: verified.ty(),
            target,
            ctx_size: verified.ctx_size(),
            name: String::from(name),
            bytecode: verified.program().encode(),
            facts: FactsSection::from_facts(verified.facts()),
            native,
            source_map: None,
            tag: None,
        }
    }

    /// Reads a package, structurally: every field, count and length is checked against the
    /// format; the tag is kept but not checked ([`authenticate`] does), the bytecode is not
    /// decoded and the facts are not believed (the loader does both). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Package, PackageError> {
        let flags = check_envelope(bytes)?;
        let authenticated = flags & FLAG_AUTHENTICATED != 0;
        let ty_code = bytes[at::TYPE];
        let ty = type_from_code(ty_code).ok_or(PackageError::ProgramType { found: ty_code })?;
        let target_code = bytes[at::TARGET];
        let target =
            Target::from_code(target_code).ok_or(PackageError::Target { found: target_code })?;
        let count = u16_at(bytes, at::SECTIONS);
        if !(3..=5).contains(&count) {
            return Err(PackageError::SectionCount { count });
        }
        let size = u32_at(bytes, at::CTX_SIZE);
        let ctx_size = (size != NO_CTX_SIZE).then_some(size);
        if ctx_size.is_some() && ty.info().ctx.size == CtxSize::Variable {
            return Err(PackageError::CtxSize { ty, size });
        }

        // `check_envelope` made sure the tag fits after the header.
        let end = if authenticated {
            bytes.len() - TAG_LEN
        } else {
            bytes.len()
        };
        let mut s = Sections::default();
        let mut pos = HEADER_LEN;
        let mut last = 0u16;
        for _ in 0..count {
            let left = end - pos;
            if left < SECTION_HEADER_LEN {
                return Err(PackageError::Truncated {
                    at: pos,
                    needed: SECTION_HEADER_LEN as u64,
                    left,
                });
            }
            let code = u16_at(bytes, pos);
            let reserved = u16_at(bytes, pos + 2);
            let len = u32_at(bytes, pos + 4);
            let kind = SectionKind::from_code(code).ok_or(PackageError::SectionKind {
                at: pos,
                kind: code,
            })?;
            if code <= last {
                return Err(PackageError::SectionOrder {
                    at: pos,
                    kind: code,
                    after: last,
                });
            }
            if reserved != 0 {
                return Err(PackageError::Reserved {
                    at: pos + 2,
                    value: u32::from(reserved),
                });
            }
            let needed = SECTION_HEADER_LEN as u64 + u64::from(len);
            let payload_end = usize::try_from(needed)
                .ok()
                .and_then(|n| pos.checked_add(n))
                .filter(|&e| e <= end)
                .ok_or(PackageError::Truncated {
                    at: pos,
                    needed,
                    left,
                })?;
            let start = pos + SECTION_HEADER_LEN;
            let mut r = Reader::new(&bytes[start..payload_end], start, kind);
            match kind {
                SectionKind::Name => s.name = Some(parse_name(&mut r)?),
                SectionKind::Bytecode => s.bytecode = Some(parse_bytecode(&mut r)?),
                SectionKind::Facts => s.facts = Some(parse_facts(&mut r)?),
                SectionKind::Native => {
                    if target == Target::None {
                        return Err(PackageError::UnexpectedSection { at: pos, kind });
                    }
                    s.native = Some(parse_native(&mut r)?);
                }
                SectionKind::SourceMap => s.source_map = Some(parse_source_map(&mut r)?),
            }
            last = code;
            pos = payload_end;
        }
        if pos != end {
            return Err(PackageError::TrailingBytes {
                at: pos,
                count: end - pos,
            });
        }
        let missing = |kind| PackageError::MissingSection { kind };
        if target != Target::None && s.native.is_none() {
            return Err(missing(SectionKind::Native));
        }
        let tag = if authenticated {
            let mut t = [0u8; TAG_LEN];
            t.copy_from_slice(&bytes[end..]);
            Some(t)
        } else {
            None
        };
        Ok(Package {
            version: VERSION,
            ty,
            target,
            ctx_size,
            name: s.name.ok_or(missing(SectionKind::Name))?,
            bytecode: s.bytecode.ok_or(missing(SectionKind::Bytecode))?,
            facts: s.facts.ok_or(missing(SectionKind::Facts))?,
            native: s.native,
            source_map: s.source_map,
            tag,
        })
    }

    /// The header and sections, with the flags and total length of a package that is
    /// (`authenticated`) or is not followed by a tag.
    fn body(&self, authenticated: bool) -> Vec<u8> {
        let mut sections: Vec<(SectionKind, Vec<u8>)> = Vec::with_capacity(5);
        sections.push((SectionKind::Name, self.name.as_bytes().to_vec()));
        sections.push((SectionKind::Bytecode, self.bytecode.clone()));
        sections.push((SectionKind::Facts, facts_payload(&self.facts)));
        if let Some(n) = &self.native {
            sections.push((SectionKind::Native, native_payload(n)));
        }
        if let Some(m) = &self.source_map {
            sections.push((SectionKind::SourceMap, source_map_payload(m)));
        }
        let payload: usize = sections
            .iter()
            .map(|(_, p)| SECTION_HEADER_LEN + p.len())
            .sum();
        let total = HEADER_LEN + payload + if authenticated { TAG_LEN } else { 0 };
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        let flags = if authenticated { FLAG_AUTHENTICATED } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        // `raw` has no byte; 0 is refused by the reader.
        out.push(type_code(self.ty).unwrap_or(0));
        out.push(self.target.code());
        out.extend_from_slice(&(sections.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.ctx_size.unwrap_or(NO_CTX_SIZE).to_le_bytes());
        out.extend_from_slice(&sat32(total).to_le_bytes());
        for (kind, p) in &sections {
            out.extend_from_slice(&kind.code().to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&sat32(p.len()).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    /// The package's bytes: `Package::parse(&p.to_bytes())` gives back `p`, and
    /// `to_bytes(parse(b)) == b` for every accepted `b`. The flags and the section count
    /// follow from which parts are present; a stored tag is written as it is (see
    /// [`Package::sign`]). A package whose parts exceed the format's bounds gives bytes the
    /// reader refuses.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body(self.tag.is_some());
        if let Some(tag) = &self.tag {
            out.extend_from_slice(tag);
        }
        out
    }

    /// Marks the package authenticated and sets its tag: HMAC-SHA-256 under `key` of every
    /// byte [`Package::to_bytes`] then writes before the tag. An empty key is refused.
    pub fn sign(&mut self, key: &[u8]) -> Result<(), PackageError> {
        let mut m = mac(key)?;
        m.update(&self.body(true));
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&m.finalize().into_bytes());
        self.tag = Some(tag);
        Ok(())
    }
}

fn facts_payload(f: &FactsSection) -> Vec<u8> {
    let mut out = Vec::with_capacity(36 + f.loops.len() * 16 + f.access.len());
    out.extend_from_slice(&f.max_insns.to_le_bytes());
    out.extend_from_slice(&f.max_extents.to_le_bytes());
    out.extend_from_slice(&f.stack_use.to_le_bytes());
    out.extend_from_slice(&f.max_frames.to_le_bytes());
    out.extend_from_slice(&sat32(f.loops.len()).to_le_bytes());
    for l in &f.loops {
        out.extend_from_slice(&l.head.to_le_bytes());
        out.extend_from_slice(&l.tail.to_le_bytes());
        out.extend_from_slice(&l.max_iterations.to_le_bytes());
    }
    out.extend_from_slice(&sat32(f.access.len()).to_le_bytes());
    out.extend(f.access.iter().map(|&a| access_byte(a)));
    out
}

fn native_payload(n: &NativeSection) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + n.regions.len() * 8 + n.code.len());
    out.push(match n.mode {
        NativeMode::Trusted => 0,
        NativeMode::Checked => 1,
    });
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&sat32(n.regions.len()).to_le_bytes());
    for r in &n.regions {
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.offset.to_le_bytes());
    }
    out.extend_from_slice(&sat32(n.code.len()).to_le_bytes());
    out.extend_from_slice(&n.code);
    out
}

fn source_map_payload(m: &[SourceSpan]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + m.len() * 16);
    out.extend_from_slice(&sat32(m.len()).to_le_bytes());
    for s in m {
        for v in [s.start_line, s.start_col, s.end_line, s.end_col] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}
