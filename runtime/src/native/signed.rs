//! Native code from an authenticated download package: the safe way to map it.
//!
//! Mapping machine code is sound only for code the trusted toolchain made, for this host, from
//! the very program the kernel's verifier accepted, to be run only on the context lengths that
//! proof assumed. [`NativeProgram::load_authenticated`] establishes all of it itself, from the
//! package bytes and nothing the caller asserts:
//! 1. the package's tag is checked under the kernel's key ([`crate::mac`]): every byte read
//!    below was written by a holder of the key, the trusted toolchain, which signs only native
//!    code it compiled, in trusted mode, from the package's own bytecode, type and object size;
//! 2. that bytecode, type and object size are the [`Verified`] program's (which only the
//!    verifier makes), so the code is the toolchain's output for this very proof;
//! 3. the package's target is this host, and the region table and code are read from the
//!    authenticated native section, not passed in;
//! 4. the mapped program refuses every context length outside the proof's
//!    (`Facts::ctx_len`), whoever invokes it.
//!
//! The framing read here is the package format's (`udf_kernel_glue::package`, which takes its
//! layout constants and type bytes from this module, so both read the same format).

use alloc::vec::Vec;

use udf_bytecode::ProgramType;

use super::RegionEntry;

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 24;
/// Bytes of a section header (kind u16, reserved u16, payload length u32).
pub const SECTION_HEADER_LEN: usize = 8;
/// Offset of the program type byte in the header.
pub const TYPE_AT: usize = 12;
/// Offset of the target byte in the header.
pub const TARGET_AT: usize = 13;
/// Offset of the object size (u32) in the header.
pub const CTX_SIZE_AT: usize = 16;
/// The object size field of a program with none.
pub const NO_CTX_SIZE: u32 = u32::MAX;
/// Section kind of the bytecode.
pub const BYTECODE_SECTION: u16 = 2;
/// Section kind of the native code.
pub const NATIVE_SECTION: u16 = 4;

/// The header byte of a program type (`raw` has none: it cannot be packaged).
pub fn type_code(ty: ProgramType) -> Option<u8> {
    match ty {
        ProgramType::Filter => Some(1),
        ProgramType::Owns => Some(2),
        ProgramType::Acl => Some(3),
        ProgramType::Size => Some(4),
        _ => None,
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The payload of the section `kind` in a package body (header and sections, no tag), walking
/// the section headers from the header on; `None` when it is absent or the framing is broken.
pub fn section(body: &[u8], kind: u16) -> Option<&[u8]> {
    let mut at = HEADER_LEN;
    while at < body.len() {
        let k = u16_at(body, at)?;
        let len = usize::try_from(u32_at(body, at + 4)?).ok()?;
        let start = at.checked_add(SECTION_HEADER_LEN)?;
        let payload = body.get(start..start.checked_add(len)?)?;
        if k == kind {
            return Some(payload);
        }
        at = start + len;
    }
    None
}

/// A native section's payload read: whether the code is checked, its region table and code
/// (mode u8, 3 reserved bytes, region count u32, per region first slot u32 and byte offset
/// u32, code length u32, the code); `None` when the payload is not exactly that.
pub fn native_payload(p: &[u8]) -> Option<(bool, Vec<RegionEntry>, &[u8])> {
    let checked = match p.first()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let n = usize::try_from(u32_at(p, 4)?).ok()?;
    let table = p.get(8..8usize.checked_add(n.checked_mul(8)?)?)?;
    let regions = table
        .chunks_exact(8)
        .map(|r| RegionEntry {
            start: u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
            offset: u32::from_le_bytes([r[4], r[5], r[6], r[7]]),
        })
        .collect();
    let at = 8 + table.len();
    let len = usize::try_from(u32_at(p, at)?).ok()?;
    let code = p.get(at + 4..)?;
    (code.len() == len).then_some((checked, regions, code))
}

mod load {
    use udf_verifier::Verified;

    use super::{
        BYTECODE_SECTION, CTX_SIZE_AT, NATIVE_SECTION, NO_CTX_SIZE, TARGET_AT, TYPE_AT,
        native_payload, section, type_code, u32_at,
    };
    use crate::mac;
    use crate::native::{ExecHost, LoadError, NativeProgram, Target};

    impl NativeProgram {
        /// [`NativeProgram::load_authenticated_in`] with the std host's executable memory.
        #[cfg(feature = "std")]
        pub fn load_authenticated(
            key: &[u8],
            package: &[u8],
            verified: &Verified,
        ) -> Result<NativeProgram, LoadError> {
            NativeProgram::load_authenticated_in(&crate::native::MMAP_HOST, key, package, verified)
        }

        /// Maps the trusted native code of the authenticated package `package` (tag included)
        /// for the program `verified`, checking under `key` everything its soundness rests on
        /// (see the [module documentation](super)): a package whose tag, framing, bytecode,
        /// type, object size, target or native section does not fit is refused
        /// ([`LoadError::Unauthenticated`], [`LoadError::Mismatch`], ...) and nothing is mapped.
        /// The code goes into `host`'s executable memory.
        pub fn load_authenticated_in(
            host: &'static dyn ExecHost,
            key: &[u8],
            package: &[u8],
            verified: &Verified,
        ) -> Result<NativeProgram, LoadError> {
            let body = mac::check_trailing(key, package).map_err(LoadError::Unauthenticated)?;
            let header = |at| body.get(at).copied();
            if header(TYPE_AT) != type_code(verified.ty()) {
                return Err(LoadError::Mismatch("program type"));
            }
            if u32_at(body, CTX_SIZE_AT) != Some(verified.ctx_size().unwrap_or(NO_CTX_SIZE)) {
                return Err(LoadError::Mismatch("object size"));
            }
            if header(TARGET_AT) != Target::host().map(Target::code) {
                return Err(LoadError::Mismatch("target"));
            }
            if section(body, BYTECODE_SECTION) != Some(&verified.program().encode()[..]) {
                return Err(LoadError::Mismatch("bytecode"));
            }
            let (checked, regions, code) = section(body, NATIVE_SECTION)
                .and_then(native_payload)
                .ok_or(LoadError::Mismatch("native section"))?;
            if checked {
                return Err(LoadError::Mismatch("mode (checked code is not the trusted kind)"));
            }
            // SAFETY: the checks above establish the contract of `NativeProgram::load`: `code`
            // and `regions` are, byte for byte, what a holder of the kernel's key (the trusted
            // toolchain, which signs only its own JIT's trusted-mode output for the package's
            // bytecode, type and object size) wrote for this host's instruction set, and that
            // bytecode, type and size are those of `verified`, a proof the verifier made. The
            // code is run only on the context lengths that proof assumed (set below, checked
            // by every run before any instruction).
            #[allow(unsafe_code)]
            let mut native = unsafe { NativeProgram::load_in(host, code, regions, false) }?;
            let facts = verified.facts();
            native.restrict_ctx_len(facts.ctx_len.0, facts.ctx_len.1);
            Ok(native)
        }
    }
}
