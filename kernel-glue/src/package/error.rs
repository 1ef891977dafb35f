//! Why bytes are not a well-formed package, or not authentic: typed errors naming the byte
//! offset and the values involved.

use core::fmt;

use udf_bytecode::ProgramType;

use super::{MAX_NAME_LEN, MAX_PACKAGE_LEN, SectionKind, VERSION, at};

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
            E::TooLong { len } => {
                write!(f, "package of {len} bytes: at most {MAX_PACKAGE_LEN} are accepted")
            }
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
            E::TotalLength { declared, actual } => {
                write!(f, "total length {declared} at offset {} for {actual} bytes", at::TOTAL_LEN)
            }
            E::SectionCount { count } => {
                write!(f, "section count {count} at offset {} (3 to 5)", at::SECTIONS)
            }
            E::Truncated { at, needed, left } => {
                write!(f, "section at offset {at} needs {needed} bytes, {left} are left")
            }
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
            E::UnexpectedSection { at, kind } => {
                write!(f, "{kind} section at offset {at} in a package whose target is none")
            }
            E::SectionLength { at, kind, needed, len } => write!(
                f,
                "{kind} payload at offset {at} is {len} bytes, its contents need {needed}"
            ),
            E::Count { at, what, value, min, max } => {
                write!(f, "{what} {value} at offset {at} (must be {min} to {max})")
            }
            E::Name { at } => write!(
                f,
                "bad name at offset {at} (1 to {MAX_NAME_LEN} bytes of A-Z a-z 0-9 _ . -)"
            ),
            E::Access { at, value } => {
                write!(f, "access byte {value} at offset {at} (0 to 3)")
            }
            E::NativeMode { at, value } => {
                write!(f, "native mode {value} at offset {at} (0 trusted, 1 checked)")
            }
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

impl From<udf_runtime::mac::MacError> for PackageError {
    fn from(e: udf_runtime::mac::MacError) -> PackageError {
        match e {
            udf_runtime::mac::MacError::EmptyKey => PackageError::EmptyKey,
            udf_runtime::mac::MacError::BadTag => PackageError::BadTag,
        }
    }
}
