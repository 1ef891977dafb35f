//! The defensive reader: the envelope and the tag first, then every section, each length
//! checked before use.

use alloc::string::String;
use alloc::vec::Vec;

use udf_bytecode::progtype::CtxSize;
use udf_runtime::native::RegionEntry;

use super::facts::access_from_byte;
use super::*;

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
        return Err(PackageError::TooShort { len: bytes.len(), min: HEADER_LEN });
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
        return Err(PackageError::TotalLength { declared, actual: bytes.len() });
    }
    if flags & FLAG_AUTHENTICATED != 0 && bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(PackageError::TooShort { len: bytes.len(), min: HEADER_LEN + TAG_LEN });
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
        Ok(Envelope { authenticated: flags & FLAG_AUTHENTICATED != 0, target: bytes[at::TARGET] })
    }
}

/// Checks the tag of an authenticated package under `key`, reading only the magic, version,
/// flags and total length first (nothing else of the package is looked at). The comparison is
/// constant-time.
pub fn authenticate(bytes: &[u8], key: &[u8]) -> Result<(), PackageError> {
    let flags = check_envelope(bytes)?;
    if flags & FLAG_AUTHENTICATED == 0 {
        return Err(PackageError::NotAuthenticated);
    }
    // `check_envelope` made sure the tag is there.
    udf_runtime::mac::check_trailing(key, bytes).map(|_| ()).map_err(PackageError::from)
}

/// Whether `name` is 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9_.-]`; else the index of the
/// first offending byte (0 for a bad length).
pub fn check_name(name: &[u8]) -> Result<(), usize> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(0);
    }
    match name.iter().position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
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
        Reader { bytes, pos: 0, base, kind }
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

    /// A list: its count field (bounded by `min..=max`, with room for that many items of `size`
    /// bytes and `after` bytes behind them), then each item as `item` reads it.
    fn list<T>(
        &mut self,
        what: &'static str,
        (min, max): (u64, u64),
        (size, after): (u64, u64),
        mut item: impl FnMut(&mut Self) -> Result<T, PackageError>,
    ) -> Result<Vec<T>, PackageError> {
        let n = self.count(what, min, max)?;
        self.expect_items(n as u64, size, after)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// A count field bounded by `min..=max`.
    fn count(&mut self, what: &'static str, min: u64, max: u64) -> Result<usize, PackageError> {
        let at = self.at();
        let value = u64::from(self.u32()?);
        if value < min || value > max {
            return Err(PackageError::Count { at, what, value, min, max });
        }
        // At most `MAX_CODE_LEN`, which fits every `usize` this crate builds for.
        usize::try_from(value).map_err(|_| PackageError::Count { at, what, value, min, max })
    }

    /// Nothing may be left.
    fn finish(&self) -> Result<(), PackageError> {
        if self.pos == self.bytes.len() { Ok(()) } else { Err(self.short(self.pos as u64)) }
    }
}

fn parse_name(r: &mut Reader<'_>) -> Result<String, PackageError> {
    let base = r.at();
    let bytes = r.take(r.bytes.len())?;
    check_name(bytes).map_err(|i| PackageError::Name { at: base + i })?;
    // Only ASCII passed the check.
    core::str::from_utf8(bytes).map(String::from).map_err(|_| PackageError::Name { at: base })
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
    let loops = r.list("loop count", (0, MAX_SLOTS as u64), (16, 4), |r| {
        Ok(LoopEntry { head: r.u32()?, tail: r.u32()?, max_iterations: r.u64()? })
    })?;
    let access = r.list("access count", (0, MAX_SLOTS as u64), (1, 0), |r| {
        let at = r.at();
        let value = r.u8()?;
        access_from_byte(value).ok_or(PackageError::Access { at, value })
    })?;
    r.finish()?;
    Ok(FactsSection { max_insns, max_extents, stack_use, max_frames, loops, access })
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
            return Err(PackageError::Reserved { at, value: u32::from(value) });
        }
    }
    let regions = r.list("region count", (1, MAX_REGIONS as u64), (8, 4), |r| {
        Ok(RegionEntry { start: r.u32()?, offset: r.u32()? })
    })?;
    let code_len = r.count("code length", 1, MAX_CODE_LEN as u64)?;
    let code = r.take(code_len)?.to_vec();
    r.finish()?;
    Ok(NativeSection { mode, regions, code })
}

fn parse_source_map(r: &mut Reader<'_>) -> Result<Vec<SourceSpan>, PackageError> {
    let spans = r.list("source map count", (0, MAX_SLOTS as u64), (16, 0), |r| {
        Ok(SourceSpan {
            start_line: r.u32()?,
            start_col: r.u32()?,
            end_line: r.u32()?,
            end_col: r.u32()?,
        })
    })?;
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
    /// Reads a package, structurally: every field, count and length is checked against the
    /// format; the tag is kept but not checked ([`authenticate`] does), the bytecode is not
    /// decoded and the facts are not believed (the loader does both). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Package, PackageError> {
        let flags = check_envelope(bytes)?;
        let authenticated = flags & FLAG_AUTHENTICATED != 0;
        let ty_code = bytes[at::TYPE];
        let ty = type_from_code(ty_code).ok_or(PackageError::ProgramType { found: ty_code })?;
        let target_code = bytes[at::TARGET];
        let target = match target_code {
            0 => None,
            c => Some(Target::from_code(c).ok_or(PackageError::Target { found: c })?),
        };
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
        let end = if authenticated { bytes.len() - TAG_LEN } else { bytes.len() };
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
            let kind = SectionKind::from_code(code)
                .ok_or(PackageError::SectionKind { at: pos, kind: code })?;
            if code <= last {
                return Err(PackageError::SectionOrder { at: pos, kind: code, after: last });
            }
            if reserved != 0 {
                return Err(PackageError::Reserved { at: pos + 2, value: u32::from(reserved) });
            }
            let needed = SECTION_HEADER_LEN as u64 + u64::from(len);
            let payload_end = usize::try_from(needed)
                .ok()
                .and_then(|n| pos.checked_add(n))
                .filter(|&e| e <= end)
                .ok_or(PackageError::Truncated { at: pos, needed, left })?;
            let start = pos + SECTION_HEADER_LEN;
            let mut r = Reader::new(&bytes[start..payload_end], start, kind);
            match kind {
                SectionKind::Name => s.name = Some(parse_name(&mut r)?),
                SectionKind::Bytecode => s.bytecode = Some(parse_bytecode(&mut r)?),
                SectionKind::Facts => s.facts = Some(parse_facts(&mut r)?),
                SectionKind::Native => {
                    if target.is_none() {
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
            return Err(PackageError::TrailingBytes { at: pos, count: end - pos });
        }
        let missing = |kind| PackageError::MissingSection { kind };
        if target.is_some() && s.native.is_none() {
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
}
