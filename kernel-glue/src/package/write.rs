//! The writer: a package's bytes and its tag.

use alloc::string::String;
use alloc::vec::Vec;

use super::facts::access_byte;
use super::*;

impl Package {
    /// An unsigned package of the program the toolchain's verifier accepted (its type, object
    /// size and facts come with it: they cannot belong to another program); `native` is code
    /// for `target` (none for `None`); no source map.
    pub fn new(
        name: &str,
        verified: &udf_verifier::Verified,
        target: Option<Target>,
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
        let payload: usize = sections.iter().map(|(_, p)| SECTION_HEADER_LEN + p.len()).sum();
        let total = HEADER_LEN + payload + if authenticated { TAG_LEN } else { 0 };
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        let flags = if authenticated { FLAG_AUTHENTICATED } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        // `raw` has no byte; 0 is refused by the reader.
        out.push(type_code(self.ty).unwrap_or(0));
        out.push(target_code(self.target));
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
        self.tag = Some(udf_runtime::mac::tag(key, &self.body(true))?);
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
