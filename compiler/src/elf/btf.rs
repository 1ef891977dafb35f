//! The parts of BTF (`.BTF`) and its extension (`.BTF.ext`) the ELF reader needs: the type of a
//! function's first parameter (to find the size of the object an `owns`/`acl`/`size` program
//! reads) and the line info records (to show a rejection on its C line).
//!
//! Both are parsed defensively: every offset and length is checked against the bytes before it
//! is used, counts are capped, and type chains are followed a bounded number of steps.

/// The magic number of both `.BTF` and `.BTF.ext`.
const MAGIC: u16 = 0xeb9f;
/// At most this many types are indexed (clang emits a few hundred for a program).
const MAX_TYPES: usize = 1 << 20;
/// At most this many steps through typedefs, qualifiers and pointers.
const MAX_CHAIN: usize = 64;

// Type kinds (the `info` word's bits 24..29).
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Reads a little-endian `u32` at `at`, if the bytes are there.
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

/// One type: its kind, name, `size`/`type` word and where its kind-specific data starts.
#[derive(Clone, Copy, Debug)]
struct BtfType {
    kind: u32,
    vlen: u32,
    name_off: u32,
    size_or_type: u32,
    /// Offset of the data after the 12-byte common part, in the type section.
    extra: usize,
}

/// A parsed `.BTF` section (types indexed, strings borrowed).
#[derive(Debug)]
pub(crate) struct Btf<'a> {
    types_bytes: &'a [u8],
    strings: &'a [u8],
    /// `types[i]` is type id `i + 1` (id 0 is `void`).
    types: Vec<BtfType>,
}

/// The header's three sections: (header length, [type off, type len, str off, str len]).
fn header(data: &[u8], what: &str) -> Result<(usize, [u32; 6]), String> {
    let magic = u16_at(data, 0).ok_or_else(|| format!("{what}: shorter than its header"))?;
    if magic != MAGIC {
        return Err(format!("{what}: bad magic {magic:#06x} (expected 0xeb9f)"));
    }
    if data.get(2) != Some(&1) {
        return Err(format!(
            "{what}: version {} is not supported (expected 1)",
            data.get(2).copied().unwrap_or(0)
        ));
    }
    let hdr_len = u32_at(data, 4).ok_or_else(|| format!("{what}: shorter than its header"))?;
    let hdr_len = hdr_len as usize;
    if hdr_len < 24 || hdr_len > data.len() {
        return Err(format!(
            "{what}: header length {hdr_len} is out of range (the section has {} bytes)",
            data.len()
        ));
    }
    let mut f = [0u32; 6];
    for (i, v) in f.iter_mut().enumerate() {
        // Fields beyond the header's length are absent (zero).
        let at = 8 + 4 * i;
        *v = if at + 4 <= hdr_len { u32_at(data, at).unwrap_or(0) } else { 0 };
    }
    Ok((hdr_len, f))
}

/// The bytes `off..off+len` after the header, checked.
fn region<'a>(
    data: &'a [u8],
    hdr_len: usize,
    off: u32,
    len: u32,
    what: &str,
) -> Result<&'a [u8], String> {
    let start = hdr_len.checked_add(off as usize);
    let end = start.and_then(|s| s.checked_add(len as usize));
    match (start, end) {
        (Some(s), Some(e)) if e <= data.len() => Ok(&data[s..e]),
        _ => Err(format!(
            "{what}: {len} bytes at offset {off} run past the end of the section ({} bytes)",
            data.len()
        )),
    }
}

impl<'a> Btf<'a> {
    /// Parses a `.BTF` section.
    pub(crate) fn parse(data: &'a [u8]) -> Result<Btf<'a>, String> {
        let (hdr_len, f) = header(data, ".BTF")?;
        let types_bytes = region(data, hdr_len, f[0], f[1], ".BTF types")?;
        let strings = region(data, hdr_len, f[2], f[3], ".BTF strings")?;
        let mut types = Vec::new();
        let mut at = 0usize;
        while at < types_bytes.len() {
            if types.len() >= MAX_TYPES {
                return Err(format!(".BTF: more than {MAX_TYPES} types"));
            }
            let (Some(name_off), Some(info), Some(size_or_type)) =
                (u32_at(types_bytes, at), u32_at(types_bytes, at + 4), u32_at(types_bytes, at + 8))
            else {
                return Err(format!(".BTF: type {} is truncated", types.len() + 1));
            };
            let kind = (info >> 24) & 0x1f;
            let vlen = info & 0xffff;
            let extra = at + 12;
            let n = vlen as usize;
            let more = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * n,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * n,
                k => {
                    return Err(format!(".BTF: type {} has unknown kind {k}", types.len() + 1));
                }
            };
            let next = extra + more;
            if next > types_bytes.len() {
                return Err(format!(".BTF: type {} is truncated", types.len() + 1));
            }
            types.push(BtfType { kind, vlen, name_off, size_or_type, extra });
            at = next;
        }
        Ok(Btf { types_bytes, strings, types })
    }

    /// The NUL-terminated string at `off` of the string section (`None` when out of range,
    /// unterminated or not UTF-8).
    pub(crate) fn str_at(&self, off: u32) -> Option<&'a str> {
        let rest = self.strings.get(off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&rest[..end]).ok()
    }

    fn ty(&self, id: u32) -> Option<&BtfType> {
        if id == 0 {
            return None;
        }
        self.types.get(id as usize - 1)
    }

    /// Follows typedefs and qualifiers from `id` (at most [`MAX_CHAIN`] steps).
    fn strip(&self, mut id: u32) -> Option<&BtfType> {
        for _ in 0..MAX_CHAIN {
            let t = self.ty(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Some(t),
            }
        }
        None
    }

    /// The size of the struct or union the first parameter of function `name` points to (through
    /// typedefs and qualifiers on both sides of the pointer); `None` when the object has no such
    /// function, it has no parameter, or the parameter is not a pointer to a struct or union.
    pub(crate) fn first_param_pointee_size(&self, name: &str) -> Option<u32> {
        let func = self
            .types
            .iter()
            .find(|t| t.kind == KIND_FUNC && self.str_at(t.name_off) == Some(name))?;
        let proto = self.ty(func.size_or_type)?;
        if proto.kind != KIND_FUNC_PROTO || proto.vlen == 0 {
            return None;
        }
        // btf_param { name_off, type }
        let param_ty = u32_at(self.types_bytes, proto.extra + 4)?;
        let ptr = self.strip(param_ty)?;
        if ptr.kind != KIND_PTR {
            return None;
        }
        let target = self.strip(ptr.size_or_type)?;
        match target.kind {
            KIND_STRUCT | KIND_UNION => Some(target.size_or_type),
            _ => None,
        }
    }
}

/// One line info record of `.BTF.ext`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineRec {
    /// Byte offset of the instruction in its section.
    pub(crate) insn_off: u32,
    /// The file name (offset in the `.BTF` strings).
    pub(crate) file_off: u32,
    /// The source line's text (offset in the `.BTF` strings).
    pub(crate) line_off: u32,
    /// 1-based line.
    pub(crate) line: u32,
    /// 1-based column (0: unknown).
    pub(crate) col: u32,
}

/// The line info of one section: its name offset (in the `.BTF` strings) and its records,
/// sorted by instruction offset.
#[derive(Clone, Debug)]
pub(crate) struct SecLines {
    pub(crate) name_off: u32,
    pub(crate) recs: Vec<LineRec>,
}

/// Parses the line info of a `.BTF.ext` section. Function info and CO-RE relocations are not
/// read.
pub(crate) fn line_info(data: &[u8]) -> Result<Vec<SecLines>, String> {
    let (hdr_len, f) = header(data, ".BTF.ext")?;
    // f: func_info_off, func_info_len, line_info_off, line_info_len, ...
    let lines = region(data, hdr_len, f[2], f[3], ".BTF.ext line info")?;
    let mut out = Vec::new();
    if lines.is_empty() {
        return Ok(out);
    }
    let rec_size = u32_at(lines, 0).ok_or(".BTF.ext line info: no record size")? as usize;
    if !(16..=1024).contains(&rec_size) {
        return Err(format!(
            ".BTF.ext line info: record size {rec_size} is out of range (16 to 1024)"
        ));
    }
    let mut at = 4usize;
    while at < lines.len() {
        let (Some(name_off), Some(num)) = (u32_at(lines, at), u32_at(lines, at + 4)) else {
            return Err(".BTF.ext line info: a section header is truncated".to_string());
        };
        at += 8;
        let bytes = (num as usize).checked_mul(rec_size);
        let end = bytes.and_then(|b| at.checked_add(b));
        let Some(end) = end.filter(|&e| e <= lines.len()) else {
            return Err(format!(
                ".BTF.ext line info: {num} records of {rec_size} bytes run past the end"
            ));
        };
        let mut recs = Vec::with_capacity(num as usize);
        let mut r = at;
        while r < end {
            let get = |i: usize| u32_at(lines, r + 4 * i).unwrap_or(0);
            let line_col = get(3);
            recs.push(LineRec {
                insn_off: get(0),
                file_off: get(1),
                line_off: get(2),
                line: line_col >> 10,
                col: line_col & 0x3ff,
            });
            r += rec_size;
        }
        recs.sort_by_key(|l| l.insn_off);
        out.push(SecLines { name_off, recs });
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(b: &mut Vec<u8>, words: &[u32]) {
        for w in words {
            b.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// A `.BTF` with the given types and strings.
    fn btf(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_le_bytes());
        b.extend_from_slice(&[1, 0]);
        let tlen = (types.len() * 4) as u32;
        push(&mut b, &[24, 0, tlen, tlen, strings.len() as u32]);
        push(&mut b, types);
        b.extend_from_slice(strings);
        b
    }

    fn info(kind: u32, vlen: u32) -> u32 {
        (kind << 24) | vlen
    }

    #[test]
    fn follows_func_proto_pointer_and_qualifiers_to_the_struct() {
        // strings: "\0f\0ino\0"
        let strings = b"\0f\0ino\0";
        let types = [
            // 1: struct ino, size 56, no members
            3,
            info(KIND_STRUCT, 0),
            56,
            // 2: const struct ino
            0,
            info(KIND_CONST, 0),
            1,
            // 3: typedef (name "ino") of 2
            3,
            info(KIND_TYPEDEF, 0),
            2,
            // 4: ptr to 3
            0,
            info(KIND_PTR, 0),
            3,
            // 5: const ptr
            0,
            info(KIND_CONST, 0),
            4,
            // 6: func proto (returns 0), one param of type 5
            0,
            info(KIND_FUNC_PROTO, 1),
            0,
            0,
            5,
            // 7: func "f" of proto 6
            1,
            info(KIND_FUNC, 1),
            6,
        ];
        let data = btf(&types, strings);
        let b = Btf::parse(&data).unwrap();
        assert_eq!(b.first_param_pointee_size("f"), Some(56));
        assert_eq!(b.first_param_pointee_size("g"), None);
    }

    #[test]
    fn pointer_to_bytes_has_no_object_size_and_loops_end() {
        let strings = b"\0f\0";
        let types = [
            // 1: int
            0,
            info(KIND_INT, 0),
            1,
            8,
            // 2: ptr to 1
            0,
            info(KIND_PTR, 0),
            1,
            // 3: proto (param 2)
            0,
            info(KIND_FUNC_PROTO, 1),
            0,
            0,
            2,
            // 4: func f
            1,
            info(KIND_FUNC, 0),
            3,
            // 5: a typedef cycle
            0,
            info(KIND_TYPEDEF, 0),
            6,
            0,
            info(KIND_TYPEDEF, 0),
            5,
        ];
        let data = btf(&types, strings);
        let b = Btf::parse(&data).unwrap();
        assert_eq!(b.first_param_pointee_size("f"), None);
        assert!(b.strip(5).is_none());
    }

    #[test]
    fn refuses_truncated_and_unknown() {
        assert!(Btf::parse(&[]).is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 1, 0]).is_err());
        let data = btf(&[0, info(31, 0), 0], b"\0");
        assert!(Btf::parse(&data).unwrap_err().contains("unknown kind"));
        let mut data = btf(&[0, info(KIND_STRUCT, 5), 0], b"\0");
        assert!(Btf::parse(&data).unwrap_err().contains("truncated"));
        // every prefix of a good section is refused or parsed, never a panic
        data = btf(&[1, info(KIND_FUNC, 0), 0], b"\0f\0");
        for n in 0..data.len() {
            let _ = Btf::parse(&data[..n]);
        }
    }

    #[test]
    fn line_info_records() {
        let mut d = Vec::new();
        d.extend_from_slice(&MAGIC.to_le_bytes());
        d.extend_from_slice(&[1, 0]);
        // hdr_len 32, func info empty, line info 4 + 8 + 2*16 = 44 bytes at 0
        push(&mut d, &[32, 0, 0, 0, 44, 0, 0]);
        push(&mut d, &[16, 7, 2]);
        push(&mut d, &[8, 1, 3, (12 << 10) | 5]);
        push(&mut d, &[0, 1, 3, (10 << 10) | 2]);
        let secs = line_info(&d).unwrap();
        assert_eq!(secs.len(), 1);
        assert_eq!(secs[0].name_off, 7);
        assert_eq!(secs[0].recs[0].line, 10);
        assert_eq!(secs[0].recs[1].col, 5);
        for n in 0..d.len() {
            let _ = line_info(&d[..n]);
        }
        // a count that runs past the end
        let mut bad = d.clone();
        bad[32 + 8..32 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(line_info(&bad).is_err());
    }
}
