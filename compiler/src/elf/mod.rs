//! Programs from C: ELF objects from `clang -target bpf -O2 -g` (`shared/design/abi.md`,
//! "Programs from C").
//!
//! [`load`] reads an ELF64 little-endian relocatable object for `EM_BPF`, picks the entry
//! function, links the subprograms it reaches by bpf-to-bpf calls (in any executable section,
//! usually `.text`) after it, and returns the program with what `.BTF` and `.BTF.ext` say about
//! it: the size of the object the entry's first parameter points to, and the C line of every
//! instruction. What udfkit has no place for is refused with a located error naming the
//! section, the instruction and the symbol: maps and global data (`R_BPF_64_64` relocations),
//! other 64-bit immediate pseudo loads, helpers the program type does not have, kernel
//! functions, calls to functions the object does not define, and relocations of other kinds.
//!
//! The ELF container is read with the `object` crate; BTF is parsed here ([`btf`]). Every size
//! and count comes from the input, so everything is checked before use and capped: any bytes
//! give a program or an [`ElfError`], never a panic.

mod btf;

use std::collections::BTreeMap;
use std::fmt;

use object::LittleEndian;
use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, Rel as _, SectionHeader, SectionTable, Sym as _, SymbolTable};
use object::read::{SectionIndex, SymbolIndex};
use udf_bytecode::insn::Insn;
use udf_bytecode::opcode::RawInsn;
use udf_bytecode::{DecodeError, Program, ProgramType};

/// At most this many 8-byte instruction slots in a linked program.
pub const MAX_SLOTS: usize = 1 << 20;
/// At most this many functions linked into one program.
const MAX_FUNCS: usize = 4096;

/// The ELF machine number of BPF.
pub const EM_BPF: u16 = 247;
/// `R_BPF_64_64`: the address of a symbol in a 64-bit immediate load.
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: a bpf-to-bpf call's target.
const R_BPF_64_32: u32 = 10;

/// The `lddw` opcode (class LD, mode IMM, size DW).
const OP_LDDW: u8 = 0x18;
/// The `call` opcode (class JMP, op CALL).
const OP_CALL: u8 = 0x85;

/// A program read from a C object.
#[derive(Clone, Debug)]
pub struct CProgram {
    /// The linked program: the entry function, then every function it reaches.
    pub prog: Program,
    /// The entry function's name.
    pub name: String,
    /// The section the entry function is in.
    pub section: String,
    /// The type the section's name gives (`filter`, `owns`, `acl`, `size`, optionally followed
    /// by `/` and anything); `None` for other names.
    pub ty: Option<ProgramType>,
    /// From BTF: the size of the struct or union the entry's first parameter points to.
    pub ctx_size: Option<u32>,
    /// The C line of each instruction, by instruction index of [`CProgram::prog`] (an `lddw`
    /// is one instruction); `None` where `.BTF.ext` has no line for it.
    pub lines: Vec<Option<CLine>>,
    /// The functions linked, in program order (the entry first).
    pub functions: Vec<LinkedFunction>,
}

/// A C source line, from `.BTF.ext` line info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CLine {
    /// The file name as the compiler saw it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (0 when the compiler did not say).
    pub col: u32,
    /// The line's text, as recorded in the BTF strings.
    pub text: Option<String>,
}

/// One function of a linked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedFunction {
    /// Its symbol's name.
    pub name: String,
    /// The section it comes from.
    pub section: String,
    /// Its byte offset in that section.
    pub offset: u64,
    /// Its first instruction's index in the linked program.
    pub index: usize,
}

impl CProgram {
    /// The object size a `ty` program verifies for, from BTF: the pointee's size, which for
    /// `acl` is the whole context (the 16-byte request, then the object), so 16 less.
    pub fn object_size(&self, ty: ProgramType) -> Option<u32> {
        match ty {
            ProgramType::Acl => self.ctx_size?.checked_sub(16),
            _ => self.ctx_size,
        }
    }

    /// The function instruction `index` belongs to and the instruction's byte offset in that
    /// function's section.
    pub fn origin(&self, index: usize) -> Option<(&LinkedFunction, u64)> {
        if index >= self.prog.len() {
            return None;
        }
        let f = self.functions.iter().rev().find(|f| f.index <= index)?;
        let slots = (self.prog.pc(index) - self.prog.pc(f.index)) as u64;
        Some((f, f.offset + 8 * slots))
    }
}

/// What is wrong with an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfErrorKind {
    /// Not an ELF file, or its structure is broken.
    Malformed(String),
    /// An ELF file, but not a little-endian 64-bit relocatable BPF object.
    NotBpf(String),
    /// The entry function cannot be chosen (none, several, or not the one named).
    Entry(String),
    /// A section or a linked program too large for the reader's limits.
    TooLarge(String),
    /// The `.BTF` or `.BTF.ext` section is malformed.
    Btf(String),
    /// An instruction does not decode, or a jump leaves the program.
    Decode(DecodeError),
    /// A 64-bit immediate load of a symbol's address: a map or global data.
    DataRelocation {
        /// What the symbol is (`a map`, `global data`, ...).
        what: String,
        /// The section the symbol is in (`None` when undefined).
        target: Option<String>,
    },
    /// A 64-bit immediate load with a pseudo source (`src` 1-6: maps, variables, code).
    PseudoLoad {
        /// The `src` field.
        src: u8,
    },
    /// A call of a helper the program type does not have.
    Helper {
        /// The helper id.
        id: i32,
        /// The program type.
        ty: ProgramType,
    },
    /// A call of a kernel function (`call` with `src` 2).
    Kfunc,
    /// A call of a function the object does not define (an `extern` or kernel function).
    Undefined,
    /// A bpf-to-bpf call whose target is not a function of the object.
    CallTarget(String),
    /// A relocation of a kind the reader does not link, or on an instruction it cannot apply to.
    Relocation(String),
}

/// A refused or unreadable object, with where: the section, the byte offset in it, the
/// function and symbol concerned, and the C line when `.BTF.ext` has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfError {
    /// What (boxed, as is the line: errors stay small on the success path).
    pub kind: Box<ElfErrorKind>,
    /// The section.
    pub section: Option<String>,
    /// The byte offset of the instruction in the section.
    pub offset: Option<u64>,
    /// The function the instruction is in.
    pub function: Option<String>,
    /// The symbol concerned (relocations, calls).
    pub symbol: Option<String>,
    /// The C line of the instruction.
    pub line: Option<Box<CLine>>,
}

impl ElfError {
    fn new(kind: ElfErrorKind) -> ElfError {
        ElfError {
            kind: Box::new(kind),
            section: None,
            offset: None,
            function: None,
            symbol: None,
            line: None,
        }
    }

    fn malformed(what: impl Into<String>) -> ElfError {
        ElfError::new(ElfErrorKind::Malformed(what.into()))
    }

    /// The instruction's index in its section (its byte offset / 8).
    pub fn insn(&self) -> Option<u64> {
        self.offset.map(|o| o / 8)
    }

    /// Whether the object was understood and refused (exit 1: maps, global data, foreign
    /// helpers, kernel functions, undefined functions, relocations not linked, instructions that
    /// do not decode), rather than unreadable or misused (exit 2: not a BPF object, a broken
    /// ELF or BTF structure, limits, the entry cannot be chosen).
    pub fn is_refusal(&self) -> bool {
        use ElfErrorKind::*;
        match *self.kind {
            Malformed(_) | NotBpf(_) | Entry(_) | TooLarge(_) | Btf(_) => false,
            Decode(_)
            | DataRelocation { .. }
            | PseudoLoad { .. }
            | Helper { .. }
            | Kfunc
            | Undefined
            | CallTarget(_)
            | Relocation(_) => true,
        }
    }

    /// A short stable code for the kind (`udf::elf::CODE`).
    pub fn code(&self) -> &'static str {
        use ElfErrorKind::*;
        match *self.kind {
            Malformed(_) => "malformed",
            NotBpf(_) => "not_bpf",
            Entry(_) => "entry",
            TooLarge(_) => "too_large",
            Btf(_) => "btf",
            Decode(_) => "decode",
            DataRelocation { .. } => "data",
            PseudoLoad { .. } => "pseudo_load",
            Helper { .. } => "helper",
            Kfunc => "kfunc",
            Undefined => "undefined",
            CallTarget(_) => "call_target",
            Relocation(_) => "relocation",
        }
    }

    /// The message without the location.
    pub fn what(&self) -> String {
        use ElfErrorKind::*;
        let sym = self.symbol.as_deref().unwrap_or("?");
        match &*self.kind {
            Malformed(m) => format!("not a readable ELF object: {m}"),
            NotBpf(m) => format!("not a BPF object: {m}"),
            Entry(m) | TooLarge(m) | CallTarget(m) | Relocation(m) => m.clone(),
            Btf(m) => format!("malformed BTF: {m}"),
            Decode(e) => e.kind_text(),
            DataRelocation { what, target } => format!(
                "loads the address of `{sym}`{}: {what} is not supported (programs read only \
                 their context and stack)",
                target.as_ref().map_or(String::new(), |t| format!(" (in `{t}`)"))
            ),
            PseudoLoad { src } => format!(
                "a 64-bit immediate load with pseudo source {src} (a map, variable or code \
                 address) is not supported"
            ),
            Helper { id, ty } => {
                let have = ty.info().helpers;
                let list = if have.is_empty() {
                    "none".to_string()
                } else {
                    have.iter()
                        .map(|h| format!("{} = {}", h.name, h.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "calls helper {id}, which {ty} programs do not have (their helpers: {list})"
                )
            }
            Kfunc => "calls a kernel function (call with src 2): not supported".to_string(),
            Undefined => format!(
                "calls `{sym}`, a function this object does not define (an extern or kernel \
                 function): not supported"
            ),
        }
    }
}

trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for DecodeError {
    /// The decoder's message (it names the slot of the linked program, which the location
    /// replaces).
    fn kind_text(&self) -> String {
        let s = self.to_string();
        let prefix = format!("instruction {}: ", self.pc);
        s.strip_prefix(&prefix).map_or(s.clone(), str::to_string)
    }
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut at = Vec::new();
        if let Some(s) = &self.section {
            at.push(format!("section `{s}`"));
        }
        if let Some(o) = self.offset {
            at.push(format!("instruction {} (offset {o:#x})", o / 8));
        }
        if let Some(func) = &self.function {
            at.push(format!("in `{func}`"));
        }
        if let Some(l) = &self.line {
            at.push(format!("({}:{}:{})", l.file, l.line, l.col));
        }
        if at.is_empty() {
            f.write_str(&self.what())
        } else {
            write!(f, "{}: {}", at.join(" "), self.what())
        }
    }
}

impl std::error::Error for ElfError {}

/// The clang that makes the objects this reader takes (`clang -target bpf`): `$UDF_CLANG`,
/// else `clang-19`, else `clang`, the first that lists the BPF target; `Err` names the ones
/// tried. For the tools and tests that build C programs.
pub fn bpf_clang() -> Result<String, String> {
    let candidates: Vec<String> = match std::env::var("UDF_CLANG") {
        Ok(c) => vec![c],
        Err(_) => vec!["clang-19".to_string(), "clang".to_string()],
    };
    candidates
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .args(["-target", "bpf", "-print-targets"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .cloned()
        .ok_or_else(|| {
            format!(
                "no clang that targets BPF ({}): install clang-19 (scripts/test.sh does) or set \
                 UDF_CLANG to one",
                candidates.join(", ")
            )
        })
}

/// Whether `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// The program type a section name gives: `filter`, `owns`, `acl` or `size`, alone or followed
/// by `/` and anything.
pub fn section_type(name: &str) -> Option<ProgramType> {
    let head = name.split('/').next().unwrap_or(name);
    match head {
        "filter" => Some(ProgramType::Filter),
        "owns" => Some(ProgramType::Owns),
        "acl" => Some(ProgramType::Acl),
        "size" => Some(ProgramType::Size),
        _ => None,
    }
}

/// Reads the object and links the program of function `entry` (a global function in an
/// executable section), or of the only global function in an executable section other than
/// `.text` when `entry` is `None`. Helper calls are checked against the section's type when it
/// names one (else see [`check_helpers`]).
pub fn load(bytes: &[u8], entry: Option<&str>) -> Result<CProgram, ElfError> {
    let obj = Obj::parse(bytes)?;
    let c = obj.link(entry)?;
    if let Some(ty) = c.ty {
        check_helpers(&c, ty)?;
    }
    Ok(c)
}

/// The global functions in the object's executable sections, as (name, section), in section
/// order: what `entry` of [`load`] may name.
pub fn functions(bytes: &[u8]) -> Result<Vec<(String, String)>, ElfError> {
    let obj = Obj::parse(bytes)?;
    let all = obj.all_functions()?;
    Ok(all
        .values()
        .flatten()
        .filter(|(_, g)| *g)
        .map(|(f, _)| (f.name.clone(), obj.exec[&f.sec].name.clone()))
        .collect())
}

/// Refuses a call of a helper `ty` does not have, and kernel function calls, located on the
/// instruction and its C line.
pub fn check_helpers(c: &CProgram, ty: ProgramType) -> Result<(), ElfError> {
    for (index, insn) in c.prog.insns().iter().enumerate() {
        let kind = match *insn {
            Insn::Call { imm } if ty.helper(imm as u32).is_none() || imm < 0 => {
                ElfErrorKind::Helper { id: imm, ty }
            }
            Insn::CallKfunc { .. } => ElfErrorKind::Kfunc,
            _ => continue,
        };
        let mut e = ElfError::new(kind);
        if let Some((f, off)) = c.origin(index) {
            e.section = Some(f.section.clone());
            e.offset = Some(off);
            e.function = Some(f.name.clone());
        }
        e.line = c.lines.get(index).cloned().flatten().map(Box::new);
        return Err(e);
    }
    Ok(())
}

type Hdr = FileHeader64<LittleEndian>;
type Shdr = elf::SectionHeader64<LittleEndian>;
type ElfSym = elf::Sym64<LittleEndian>;

/// A function: a slot range of an executable section.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Func {
    sec: usize,
    start: usize,
    end: usize,
    name: String,
}

/// One executable section: its bytes, name and relocations (byte offset -> (type, symbol)).
struct ExecSec<'a> {
    name: String,
    code: &'a [u8],
    relocs: BTreeMap<u64, (u32, u32)>,
}

struct Obj<'a> {
    endian: LittleEndian,
    sections: SectionTable<'a, Hdr>,
    symbols: SymbolTable<'a, Hdr>,
    /// Executable sections by section index.
    exec: BTreeMap<usize, ExecSec<'a>>,
    btf: Option<btf::Btf<'a>>,
    lines: Vec<btf::SecLines>,
}

fn obj_err(e: object::read::Error) -> ElfError {
    ElfError::malformed(e.to_string())
}

impl<'a> Obj<'a> {
    fn parse(data: &'a [u8]) -> Result<Obj<'a>, ElfError> {
        if !is_elf(data) {
            return Err(ElfError::malformed("no ELF magic (\\x7fELF)"));
        }
        let not_bpf = |m: String| Err(ElfError::new(ElfErrorKind::NotBpf(m)));
        match data.get(4) {
            Some(2) => {}
            Some(c) => return not_bpf(format!("ELF class {c}, expected 64-bit (2)")),
            None => return Err(ElfError::malformed("truncated ELF header")),
        }
        match data.get(5) {
            Some(1) => {}
            Some(d) => return not_bpf(format!("data encoding {d}, expected little-endian (1)")),
            None => return Err(ElfError::malformed("truncated ELF header")),
        }
        let hdr = Hdr::parse(data).map_err(obj_err)?;
        let endian = LittleEndian;
        let machine = hdr.e_machine(endian).0;
        if machine != EM_BPF {
            return not_bpf(format!("machine {machine}, expected EM_BPF ({EM_BPF})"));
        }
        let ty = hdr.e_type(endian);
        if ty != elf::ET_REL {
            return not_bpf(format!(
                "ELF type {}, expected a relocatable object (ET_REL, 1): give the `.o` from \
                 `clang -target bpf -c`",
                ty.0
            ));
        }
        let sections = hdr.sections(endian, data).map_err(obj_err)?;
        let symbols = sections.symbols(endian, data, elf::SHT_SYMTAB).map_err(obj_err)?;
        let name_of = |s: &Shdr| -> Result<String, ElfError> {
            let n = sections.section_name(endian, s).map_err(obj_err)?;
            Ok(String::from_utf8_lossy(n).into_owned())
        };
        let mut exec = BTreeMap::new();
        let mut btf_data = None;
        let mut ext_data = None;
        for (i, s) in sections.enumerate() {
            let name = name_of(s)?;
            if s.sh_flags(endian).0 & elf::SHF_EXECINSTR.0 != 0 {
                if s.sh_type(endian) != elf::SHT_PROGBITS {
                    if s.sh_type(endian) == elf::SHT_NOBITS && s.sh_size(endian) != 0 {
                        return Err(ElfError::malformed(format!(
                            "executable section `{name}` has no contents (SHT_NOBITS)"
                        )));
                    }
                    continue;
                }
                let code = s.data(endian, data).map_err(obj_err)?;
                if code.len() % 8 != 0 {
                    return Err(ElfError::malformed(format!(
                        "executable section `{name}` is {} bytes, not a whole number of \
                         8-byte instructions",
                        code.len()
                    )));
                }
                if code.len() / 8 > MAX_SLOTS {
                    return Err(ElfError::new(ElfErrorKind::TooLarge(format!(
                        "section `{name}` has {} instruction slots, more than {MAX_SLOTS}",
                        code.len() / 8
                    ))));
                }
                exec.insert(i.0, ExecSec { name, code, relocs: BTreeMap::new() });
            } else if name == ".BTF" {
                btf_data = Some(s.data(endian, data).map_err(obj_err)?);
            } else if name == ".BTF.ext" {
                ext_data = Some(s.data(endian, data).map_err(obj_err)?);
            }
        }
        // Relocations of executable sections.
        for s in sections.iter() {
            let st = s.sh_type(endian);
            if st != elf::SHT_REL && st != elf::SHT_RELA {
                continue;
            }
            let target = s.sh_info(endian) as usize;
            let Some(sec) = exec.get_mut(&target) else {
                continue;
            };
            if st == elf::SHT_RELA {
                return Err(ElfError {
                    section: Some(sec.name.clone()),
                    ..ElfError::new(ElfErrorKind::Relocation(
                        "relocations with addends (SHT_RELA) are not used by BPF objects and \
                         are not supported"
                            .to_string(),
                    ))
                });
            }
            let Some((rels, _)) = s.rel(endian, data).map_err(obj_err)? else {
                continue;
            };
            for r in rels {
                let off = r.r_offset(endian);
                let at = |e: ElfErrorKind| ElfError {
                    section: Some(sec.name.clone()),
                    offset: Some(off),
                    ..ElfError::new(e)
                };
                if off % 8 != 0 || off >= sec.code.len() as u64 {
                    return Err(at(ElfErrorKind::Malformed(format!(
                        "a relocation at offset {off:#x} is not on an instruction of the section"
                    ))));
                }
                let entry = (r.r_type(endian).0, r.r_sym(endian));
                if sec.relocs.insert(off, entry).is_some() {
                    return Err(at(ElfErrorKind::Malformed(
                        "two relocations of the same instruction".to_string(),
                    )));
                }
            }
        }
        let btf = match btf_data {
            Some(d) => Some(btf::Btf::parse(d).map_err(|m| ElfError::new(ElfErrorKind::Btf(m)))?),
            None => None,
        };
        let lines = match (ext_data, &btf) {
            (Some(d), Some(_)) => {
                btf::line_info(d).map_err(|m| ElfError::new(ElfErrorKind::Btf(m)))?
            }
            _ => Vec::new(),
        };
        Ok(Obj { endian, sections, symbols, exec, btf, lines })
    }

    fn sym_name(&self, sym: &ElfSym) -> String {
        match self.symbols.symbol_name(self.endian, sym) {
            Ok(n) => String::from_utf8_lossy(n).into_owned(),
            Err(_) => "?".to_string(),
        }
    }

    fn section_name(&self, index: usize) -> Option<String> {
        let s = self.sections.section(SectionIndex(index)).ok()?;
        let n = self.sections.section_name(self.endian, s).ok()?;
        Some(String::from_utf8_lossy(n).into_owned())
    }

    /// The section a symbol is defined in (`None`: undefined, absolute, common).
    fn sym_section(&self, sym: &ElfSym) -> Option<usize> {
        let shndx = sym.st_shndx(self.endian);
        if shndx == elf::SHN_XINDEX {
            return None;
        }
        shndx.index().map(usize::from)
    }

    /// The function symbols of every executable section, as slot ranges sorted by start, with
    /// whether a global symbol names each; a symbol of size 0 runs to the next function or the
    /// end of the section.
    fn all_functions(&self) -> Result<BTreeMap<usize, Vec<(Func, bool)>>, ElfError> {
        let mut raw: BTreeMap<usize, Vec<(usize, usize, String, bool)>> = BTreeMap::new();
        for sym in self.symbols.iter() {
            if sym.st_type() != elf::STT_FUNC {
                continue;
            }
            let Some(sec) = self.sym_section(sym) else {
                continue;
            };
            let Some(es) = self.exec.get(&sec) else {
                continue;
            };
            let slots = es.code.len() / 8;
            let (value, size) = (sym.st_value(self.endian), sym.st_size(self.endian));
            let name = self.sym_name(sym);
            let bad = |why: &str| {
                Err(ElfError {
                    section: Some(es.name.clone()),
                    symbol: Some(name.clone()),
                    ..ElfError::malformed(format!("function `{name}`: {why}"))
                })
            };
            if value % 8 != 0 || size % 8 != 0 {
                return bad("its offset or size is not a multiple of 8");
            }
            let start = value / 8;
            let global = matches!(sym.st_bind(), elf::STB_GLOBAL | elf::STB_WEAK);
            match start.checked_add(size / 8) {
                Some(e) if e <= slots as u64 => {
                    raw.entry(sec).or_default().push((start as usize, e as usize, name, global));
                }
                _ => return bad("it runs past the end of its section"),
            }
        }
        let mut out = BTreeMap::new();
        for (sec, mut list) in raw {
            let slots = self.exec[&sec].code.len() / 8;
            list.sort();
            let mut funcs: Vec<(Func, bool)> = Vec::with_capacity(list.len());
            for i in 0..list.len() {
                let (start, mut end, ref name, global) = list[i];
                if end == start {
                    end = list[i + 1..].iter().map(|f| f.0).find(|&s| s > start).unwrap_or(slots);
                }
                funcs.push((Func { sec, start, end, name: name.clone() }, global));
            }
            out.insert(sec, funcs);
        }
        Ok(out)
    }

    /// The entry function: `name`, or the only global function outside `.text`.
    fn entry(
        &self,
        all: &BTreeMap<usize, Vec<(Func, bool)>>,
        name: Option<&str>,
    ) -> Result<Func, ElfError> {
        let globals: Vec<Func> =
            all.values().flatten().filter(|(_, g)| *g).map(|(f, _)| f.clone()).collect();
        let list = |fs: &[&Func]| {
            fs.iter()
                .map(|f| format!("{} (section {})", f.name, self.exec[&f.sec].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let entry_err = |m: String| Err(ElfError::new(ElfErrorKind::Entry(m)));
        match name {
            Some(n) => {
                let found: Vec<&Func> = globals.iter().filter(|f| f.name == n).collect();
                match found.as_slice() {
                    [f] => Ok((*f).clone()),
                    [] => entry_err(format!(
                        "no global function `{n}` in an executable section; its functions: {}",
                        if globals.is_empty() {
                            "none".to_string()
                        } else {
                            list(&globals.iter().collect::<Vec<_>>())
                        }
                    )),
                    many => entry_err(format!(
                        "{} global functions are called `{n}`: {}",
                        many.len(),
                        list(many)
                    )),
                }
            }
            None => {
                let progs: Vec<&Func> =
                    globals.iter().filter(|f| self.exec[&f.sec].name != ".text").collect();
                match progs.as_slice() {
                    [f] => Ok((*f).clone()),
                    [] => entry_err(format!(
                        "no function in a program section (a section other than .text, such as \
                         `filter`, `owns`, `acl` or `size`){}",
                        if globals.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; name one with --entry: {}",
                                list(&globals.iter().collect::<Vec<_>>())
                            )
                        }
                    )),
                    many => entry_err(format!(
                        "{} functions in program sections, name one with --entry: {}",
                        many.len(),
                        list(many)
                    )),
                }
            }
        }
    }

    /// The line info of section `sec`.
    fn sec_lines(&self, sec: usize) -> Option<&btf::SecLines> {
        let btf = self.btf.as_ref()?;
        let name = &self.exec.get(&sec)?.name;
        self.lines.iter().find(|l| btf.str_at(l.name_off) == Some(name.as_str()))
    }

    /// The C line of byte offset `off` of section `sec`: the last line record at or before it
    /// and not before `from` (the start of its function).
    fn line_at(&self, sec: usize, from: u64, off: u64) -> Option<CLine> {
        self.line_in(self.sec_lines(sec), from, off)
    }

    /// The same in the line info `lines` of the section.
    fn line_in(&self, lines: Option<&btf::SecLines>, from: u64, off: u64) -> Option<CLine> {
        let (btf, lines) = (self.btf.as_ref()?, lines?);
        let i = lines.recs.partition_point(|r| u64::from(r.insn_off) <= off);
        let rec = lines.recs[..i].last()?;
        if u64::from(rec.insn_off) < from {
            return None;
        }
        Some(CLine {
            file: btf.str_at(rec.file_off).unwrap_or("?").to_string(),
            line: rec.line,
            col: rec.col,
            text: btf.str_at(rec.line_off).filter(|t| !t.is_empty()).map(str::to_string),
        })
    }

    /// A located error at slot `slot` of function `f`.
    fn at(&self, f: &Func, slot: usize, kind: ElfErrorKind) -> ElfError {
        let off = 8 * slot as u64;
        ElfError {
            section: self.exec.get(&f.sec).map(|s| s.name.clone()),
            offset: Some(off),
            function: Some(f.name.clone()),
            line: self.line_at(f.sec, 8 * f.start as u64, off).map(Box::new),
            ..ElfError::new(kind)
        }
    }

    /// What a data symbol is, by its section's name.
    fn data_what(target: Option<&str>) -> String {
        match target {
            None => "an extern variable".to_string(),
            Some(".maps" | "maps") => "a map".to_string(),
            Some(t) if t.starts_with(".maps.") || t.starts_with("maps/") => "a map".to_string(),
            Some(t)
                if [".rodata", ".data", ".bss"]
                    .iter()
                    .any(|p| t == *p || t.starts_with(&format!("{p}."))) =>
            {
                "global data".to_string()
            }
            Some(_) => "a symbol's address".to_string(),
        }
    }

    fn link(&self, entry: Option<&str>) -> Result<CProgram, ElfError> {
        let all = self.all_functions()?;
        let entry = self.entry(&all, entry)?;
        let mut funcs = vec![entry.clone()];
        // (caller function, slot in its section, callee function)
        let mut calls: Vec<(usize, usize, usize)> = Vec::new();
        let mut total = 0usize;
        let mut i = 0;
        while i < funcs.len() {
            let f = funcs[i].clone();
            total += f.end - f.start;
            if total > MAX_SLOTS {
                return Err(ElfError::new(ElfErrorKind::TooLarge(format!(
                    "the linked program has more than {MAX_SLOTS} instruction slots"
                ))));
            }
            let es = &self.exec[&f.sec];
            let mut s = f.start;
            while s < f.end {
                let raw = raw_at(es.code, s);
                let reloc = es.relocs.get(&(8 * s as u64)).copied();
                if raw.opcode == OP_LDDW {
                    if s + 1 >= f.end {
                        return Err(self.at(
                            &f,
                            s,
                            ElfErrorKind::Malformed(
                                "a 64-bit immediate load is missing its second half at the end \
                                 of its function"
                                    .to_string(),
                            ),
                        ));
                    }
                    if let Some((rt, sym)) = reloc {
                        return Err(self.data_reloc(&f, s, rt, sym, raw.imm));
                    }
                    if raw.src != 0 {
                        return Err(self.at(&f, s, ElfErrorKind::PseudoLoad { src: raw.src }));
                    }
                    s += 2;
                    continue;
                }
                if raw.opcode == OP_CALL && raw.src == 1 {
                    let (tsec, tslot, sym) = self.call_target(&f, s, raw, reloc)?;
                    let callee = self.callee(&all, &f, s, tsec, tslot, sym)?;
                    let j = match funcs.iter().position(|g| *g == callee) {
                        Some(j) => j,
                        None => {
                            if funcs.len() >= MAX_FUNCS {
                                return Err(ElfError::new(ElfErrorKind::TooLarge(format!(
                                    "the program calls more than {MAX_FUNCS} functions"
                                ))));
                            }
                            funcs.push(callee);
                            funcs.len() - 1
                        }
                    };
                    calls.push((i, s, j));
                } else if raw.opcode == OP_CALL && raw.src == 2 {
                    let mut e = self.at(&f, s, ElfErrorKind::Kfunc);
                    if let Some((_, sym)) = reloc {
                        e.symbol = self.symbol(sym).map(|x| self.sym_name(x));
                    }
                    return Err(e);
                } else if let Some((rt, sym)) = reloc {
                    let mut e = self.at(
                        &f,
                        s,
                        ElfErrorKind::Relocation(format!(
                            "a relocation of type {rt} on an instruction that is neither a call \
                             nor a 64-bit immediate load is not supported"
                        )),
                    );
                    e.symbol = self.symbol(sym).map(|x| self.sym_name(x));
                    return Err(e);
                }
                s += 1;
            }
            i += 1;
        }
        // Layout: each function after the previous one.
        let mut base = Vec::with_capacity(funcs.len());
        let mut raw: Vec<RawInsn> = Vec::with_capacity(total);
        // origin[slot] = function index
        let mut origin: Vec<usize> = Vec::with_capacity(total);
        for (k, f) in funcs.iter().enumerate() {
            base.push(raw.len());
            let code = self.exec[&f.sec].code;
            for s in f.start..f.end {
                raw.push(raw_at(code, s));
                origin.push(k);
            }
        }
        for &(ci, s, j) in &calls {
            let at = base[ci] + (s - funcs[ci].start);
            let imm = base[j] as i64 - (at as i64 + 1);
            match i32::try_from(imm) {
                Ok(imm) => raw[at].imm = imm,
                Err(_) => {
                    return Err(ElfError::new(ElfErrorKind::TooLarge(
                        "a call offset does not fit in 32 bits".to_string(),
                    )));
                }
            }
        }
        let prog = Program::from_raw(&raw).map_err(|e| {
            let (f, s) = match origin.get(e.pc) {
                Some(&k) => (&funcs[k], funcs[k].start + (e.pc - base[k])),
                None => (&funcs[0], funcs[0].start),
            };
            self.at(f, s, ElfErrorKind::Decode(e))
        })?;
        let sec_lines: Vec<Option<&btf::SecLines>> =
            funcs.iter().map(|f| self.sec_lines(f.sec)).collect();
        let mut lines = Vec::with_capacity(prog.len());
        for idx in 0..prog.len() {
            let pc = prog.pc(idx);
            let k = origin[pc];
            let f = &funcs[k];
            let off = 8 * (f.start + (pc - base[k])) as u64;
            lines.push(self.line_in(sec_lines[k], 8 * f.start as u64, off));
        }
        let functions = funcs
            .iter()
            .zip(&base)
            .map(|(f, &b)| LinkedFunction {
                name: f.name.clone(),
                section: self.exec[&f.sec].name.clone(),
                offset: 8 * f.start as u64,
                index: prog.index_at(b).unwrap_or(0),
            })
            .collect();
        let section = self.exec[&entry.sec].name.clone();
        Ok(CProgram {
            ctx_size: self.btf.as_ref().and_then(|b| b.first_param_pointee_size(&entry.name)),
            ty: section_type(&section),
            name: entry.name,
            section,
            lines,
            prog,
            functions,
        })
    }

    fn symbol(&self, index: u32) -> Option<&'a ElfSym> {
        self.symbols.symbol(SymbolIndex(index as usize)).ok()
    }

    /// The error for a relocated `lddw`.
    /// A relocation against a section symbol names the variable at the offset the instruction
    /// holds (`addend`), when a symbol says which.
    fn data_reloc(&self, f: &Func, s: usize, rt: u32, sym: u32, addend: i32) -> ElfError {
        let symbol = self.symbol(sym);
        let name = symbol.map(|x| {
            let sec = self.sym_section(x);
            if x.st_type() != elf::STT_SECTION || sec.is_none() {
                return self.sym_name(x);
            }
            let var = self.symbols.iter().find(|v| {
                v.st_type() == elf::STT_OBJECT
                    && self.sym_section(v) == sec
                    && v.st_value(self.endian) == u64::from(addend as u32)
            });
            match var {
                Some(v) => self.sym_name(v),
                None => format!(
                    "{}+{addend:#x}",
                    sec.and_then(|i| self.section_name(i)).unwrap_or_default()
                ),
            }
        });
        let kind = if rt == R_BPF_64_64 {
            let target =
                symbol.and_then(|x| self.sym_section(x)).and_then(|i| self.section_name(i));
            ElfErrorKind::DataRelocation { what: Obj::data_what(target.as_deref()), target }
        } else {
            ElfErrorKind::Relocation(format!(
                "a relocation of type {rt} on a 64-bit immediate load is not supported"
            ))
        };
        ElfError { symbol: name, ..self.at(f, s, kind) }
    }

    /// Where the pseudo call at slot `s` of `f` goes: (section, slot, symbol name).
    fn call_target(
        &self,
        f: &Func,
        s: usize,
        raw: RawInsn,
        reloc: Option<(u32, u32)>,
    ) -> Result<(usize, usize, Option<String>), ElfError> {
        let target_err = |why: String, sym: Option<String>| ElfError {
            symbol: sym,
            ..self.at(f, s, ElfErrorKind::CallTarget(why))
        };
        let Some((rt, symi)) = reloc else {
            // Already resolved: relative to the next slot, within the section.
            let t = s as i64 + 1 + i64::from(raw.imm);
            let slots = self.exec[&f.sec].code.len() as i64 / 8;
            if t < 0 || t >= slots {
                return Err(target_err(
                    format!("the call's target (slot {t}) is outside its section"),
                    None,
                ));
            }
            return Ok((f.sec, t as usize, None));
        };
        let sym = self.symbol(symi).ok_or_else(|| {
            self.at(
                f,
                s,
                ElfErrorKind::Malformed(format!(
                    "a relocation names symbol {symi}, which does not exist"
                )),
            )
        })?;
        let name = self.sym_name(sym);
        if rt != R_BPF_64_32 {
            return Err(ElfError {
                symbol: Some(name),
                ..self.at(
                    f,
                    s,
                    ElfErrorKind::Relocation(format!(
                        "a relocation of type {rt} on a call is not supported (calls are \
                         R_BPF_64_32)"
                    )),
                )
            });
        }
        let Some(tsec) = self.sym_section(sym) else {
            return Err(ElfError { symbol: Some(name), ..self.at(f, s, ElfErrorKind::Undefined) });
        };
        if !self.exec.contains_key(&tsec) {
            return Err(target_err(
                format!(
                    "calls `{name}`, which is not in an executable section ({})",
                    self.section_name(tsec).unwrap_or_else(|| "?".to_string())
                ),
                Some(name),
            ));
        }
        // The symbol's offset plus the addend the instruction holds, in slots after the next.
        let value = sym.st_value(self.endian);
        let t = (value / 8) as i128 + i128::from(raw.imm) + 1;
        let slots = self.exec[&tsec].code.len() as i128 / 8;
        if value % 8 != 0 || t < 0 || t >= slots {
            return Err(target_err(
                format!("the call's target (`{name}` {:+}) is outside its section", raw.imm),
                Some(name),
            ));
        }
        let label = if sym.st_type() == elf::STT_SECTION { None } else { Some(name) };
        Ok((tsec, t as usize, label))
    }

    /// The function starting at slot `tslot` of section `tsec`.
    fn callee(
        &self,
        all: &BTreeMap<usize, Vec<(Func, bool)>>,
        f: &Func,
        s: usize,
        tsec: usize,
        tslot: usize,
        sym: Option<String>,
    ) -> Result<Func, ElfError> {
        let found = all.get(&tsec).and_then(|l| l.iter().find(|(g, _)| g.start == tslot));
        match found {
            Some((g, _)) => Ok(g.clone()),
            None => Err(ElfError {
                symbol: sym,
                ..self.at(
                    f,
                    s,
                    ElfErrorKind::CallTarget(format!(
                        "the call's target (offset {:#x} of section `{}`) is not the start of a \
                         function",
                        8 * tslot,
                        self.exec[&tsec].name
                    )),
                )
            }),
        }
    }
}

/// The raw instruction at slot `s` of `code` (in range: the caller checked).
fn raw_at(code: &[u8], s: usize) -> RawInsn {
    let mut b = [0u8; 8];
    if let Some(c) = code.get(8 * s..8 * s + 8) {
        b.copy_from_slice(c);
    }
    RawInsn::from_bytes(b)
}
