//! Program types as data (`shared/design/abi.md`): what a program of each type is given, may
//! touch, may call, and what its result means. The verifier and the engines read these tables;
//! nothing else decides a type's contract.

use core::fmt;
use core::str::FromStr;

use crate::insn::Reg;

/// The program types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgramType {
    /// Packet filter: read-only packet; result 0 = drop, else bytes to keep.
    Filter,
    /// XN owns-udf: read-only metadata object; emits the extents it owns.
    Owns,
    /// Access control: 16-byte request then the metadata object; 1 = allow, 0 = deny.
    Acl,
    /// Size-udf: the metadata object; result is its size in bytes.
    Size,
    /// Unverified read-write memory, as in the bpf_conformance suite.
    Raw,
}

/// How big the context is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtxSize {
    /// Any length, known only at run time (`r2`).
    Variable,
    /// Fixed by the metadata template; the verifier is told the size.
    Template,
    /// A fixed header of this many bytes followed by the template-sized object.
    HeaderThenTemplate(u32),
}

/// The context a program receives in `r1` (pointer) and `r2` (length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextShape {
    /// Whether the program may store into it.
    pub writable: bool,
    /// How its length is determined.
    pub size: CtxSize,
    /// What the bytes are.
    pub what: &'static str,
}

/// Kind of a helper argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// Any scalar (never a pointer).
    Scalar,
}

/// A helper a program type may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperSpec {
    /// The id used in `call imm`.
    pub id: u32,
    /// Name, for messages and the language.
    pub name: &'static str,
    /// Arguments, in `r1`...
    pub args: &'static [(&'static str, ArgKind)],
    /// What it does.
    pub doc: &'static str,
    /// The largest value it returns in `r0` (the verifier knows `0 <= r0 <= ret_max` after
    /// the call).
    pub ret_max: u64,
}

/// What `r0` at exit means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultMeaning {
    /// 0 = drop; otherwise accept, keeping that many bytes.
    AcceptBytes,
    /// 0 = well-formed; otherwise malformed.
    WellFormed,
    /// 1 = allow, 0 = deny.
    Allow,
    /// A size in bytes.
    SizeBytes,
    /// Whatever the test says.
    Value,
}

/// The contract of one program type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    /// The type.
    pub ty: ProgramType,
    /// Its name on the command line.
    pub name: &'static str,
    /// The context.
    pub ctx: ContextShape,
    /// Registers holding defined values on entry (besides these, reading a register before
    /// writing it is an error).
    pub entry_regs: &'static [Reg],
    /// Helpers it may call.
    pub helpers: &'static [HelperSpec],
    /// Meaning of the result.
    pub result: ResultMeaning,
    /// Must be a pure function of the context (same bytes, same result and extents).
    pub deterministic: bool,
    /// May use the legacy packet loads `LD_ABS`/`LD_IND`.
    pub legacy_packet_loads: bool,
    /// Checked by the verifier before it runs (all but `raw`).
    pub verified: bool,
}

/// The `emit` helper of `owns` programs.
pub const HELPER_EMIT: HelperSpec = HelperSpec {
    id: 1,
    name: "emit",
    args: &[("start", ArgKind::Scalar), ("count", ArgKind::Scalar), ("kind", ArgKind::Scalar)],
    doc: "adds the extent [start, start+count) of disk blocks of the given kind (u32) to what this object owns",
    ret_max: u64::MAX,
};

/// The lookup helper of a merged packet demultiplexer's program (kernel-glue's `demux`): a
/// `filter` verified with [`DEMUX_HELPERS`] (`udf_verifier::Config::helpers`) may call it. Its
/// contract: scalar arguments only (a group number and four key words), it reads and writes no
/// program memory (the host's tables only), and returns 0 or 1.
pub const HELPER_DEMUX_LOOKUP: HelperSpec = HelperSpec {
    id: 2,
    name: "demux_lookup",
    args: &[
        ("group", ArgKind::Scalar),
        ("w0", ArgKind::Scalar),
        ("w1", ArgKind::Scalar),
        ("w2", ArgKind::Scalar),
        ("w3", ArgKind::Scalar),
    ],
    doc: "looks the key (w0, w1, w2, w3) up in the demultiplexer's table of group `group`; on a hit adds that entry's owners to the run's result and returns 1, else returns 0",
    ret_max: 1,
};

/// The helpers of a merged demultiplexer's program: `filter`'s context and result, plus
/// [`HELPER_DEMUX_LOOKUP`].
pub const DEMUX_HELPERS: &[HelperSpec] = &[HELPER_DEMUX_LOOKUP];

const ENTRY: &[Reg] = &[Reg::R1, Reg::R2, Reg::R10];
const ENTRY_FILTER: &[Reg] = &[Reg::R1, Reg::R2, Reg::R3, Reg::R10];

const TYPES: [TypeInfo; 5] = [
    TypeInfo {
        ty: ProgramType::Filter,
        name: "filter",
        ctx: ContextShape {
            writable: false,
            size: CtxSize::Variable,
            what: "a packet (r2 = captured length, r3 = length on the wire)",
        },
        entry_regs: ENTRY_FILTER,
        helpers: &[],
        result: ResultMeaning::AcceptBytes,
        deterministic: true,
        legacy_packet_loads: true,
        verified: true,
    },
    TypeInfo {
        ty: ProgramType::Owns,
        name: "owns",
        ctx: ContextShape { writable: false, size: CtxSize::Template, what: "one metadata object" },
        entry_regs: ENTRY,
        helpers: &[HELPER_EMIT],
        result: ResultMeaning::WellFormed,
        deterministic: true,
        legacy_packet_loads: false,
        verified: true,
    },
    TypeInfo {
        ty: ProgramType::Acl,
        name: "acl",
        ctx: ContextShape {
            writable: false,
            size: CtxSize::HeaderThenTemplate(16),
            what: "a 16-byte request (principal u64, operation u32, reserved u32) then the metadata object",
        },
        entry_regs: ENTRY,
        helpers: &[],
        result: ResultMeaning::Allow,
        deterministic: true,
        legacy_packet_loads: false,
        verified: true,
    },
    TypeInfo {
        ty: ProgramType::Size,
        name: "size",
        ctx: ContextShape { writable: false, size: CtxSize::Template, what: "the metadata object" },
        entry_regs: ENTRY,
        helpers: &[],
        result: ResultMeaning::SizeBytes,
        deterministic: true,
        legacy_packet_loads: false,
        verified: true,
    },
    TypeInfo {
        ty: ProgramType::Raw,
        name: "raw",
        ctx: ContextShape { writable: true, size: CtxSize::Variable, what: "read-write memory" },
        entry_regs: ENTRY,
        helpers: &[],
        result: ResultMeaning::Value,
        deterministic: false,
        legacy_packet_loads: true,
        verified: false,
    },
];

impl ProgramType {
    /// Every type.
    pub const ALL: [ProgramType; 5] = [
        ProgramType::Filter,
        ProgramType::Owns,
        ProgramType::Acl,
        ProgramType::Size,
        ProgramType::Raw,
    ];

    /// The contract of this type.
    pub const fn info(self) -> &'static TypeInfo {
        &TYPES[self as usize]
    }

    /// Its command-line name.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The bytes of the context before the object (`acl`: the 16-byte request); 0 for the
    /// other types.
    pub const fn header_len(self) -> u32 {
        match self.info().ctx.size {
            CtxSize::HeaderThenTemplate(h) => h,
            CtxSize::Template | CtxSize::Variable => 0,
        }
    }

    /// The object size (what the verifier is told: `Config::ctx_size`, `--ctx-size`) of a
    /// context of `context_len` bytes: the context less the type's header; `None` when the
    /// context is shorter than the header.
    pub const fn object_size(self, context_len: u32) -> Option<u32> {
        context_len.checked_sub(self.header_len())
    }

    /// The object size a context of `context_len` bytes gives a type whose size is fixed by a
    /// template (`owns`, `size`, `acl`); `None` for the types of any length (`filter`, `raw`)
    /// and when the context does not fit.
    pub fn template_object_size(self, context_len: usize) -> Option<u32> {
        match self.info().ctx.size {
            CtxSize::Variable => None,
            CtxSize::Template | CtxSize::HeaderThenTemplate(_) => {
                self.object_size(u32::try_from(context_len).ok()?)
            }
        }
    }

    /// The context length a program of this type takes with an object of `object_size`
    /// bytes: the header, then the object. `None` when the context is not template-sized
    /// (`filter`, `raw`: any length).
    pub const fn context_len(self, object_size: u32) -> Option<u64> {
        match self.info().ctx.size {
            CtxSize::Template | CtxSize::HeaderThenTemplate(_) => {
                Some(self.header_len() as u64 + object_size as u64)
            }
            CtxSize::Variable => None,
        }
    }

    /// The helper with this id, if the type allows it.
    pub fn helper(self, id: u32) -> Option<&'static HelperSpec> {
        self.info().helpers.iter().find(|h| h.id == id)
    }
}

impl fmt::Display for ProgramType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of `filter`, `owns`, `acl`, `size`, `raw`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownType;

impl fmt::Display for UnknownType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown program type (expected filter, owns, acl, size or raw)")
    }
}

impl FromStr for ProgramType {
    type Err = UnknownType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProgramType::ALL.into_iter().find(|t| t.name() == s).ok_or(UnknownType)
    }
}
