//! XN: the exokernel's ownership protocol for file-system metadata, on owns-udfs.
//!
//! A [`Template`] describes a metadata type: the bytes of one object, the `owns` program that
//! says which disk blocks an object owns (as extents with a *kind*), optional `acl` and `size`
//! programs, and what each extent kind is ([`ExtentKind`]: plain data, data several objects may share,
//! or a metadata block holding an object of another template). The [`Registry`] records every
//! metadata block XN knows: its template, its parent object and its [`State`].
//!
//! The three checked operations take an object, a proposed change of its bytes ([`Patch`]es)
//! and what the change claims to do ([`Op`]); they run the owns program on the object before and
//! after the change and apply the change only when:
//! - allocate: owns after = owns before + exactly the claimed extent, every claimed block free,
//!   the extent of the declared kind, and a claimed metadata block owning nothing yet;
//! - free: owns after = owns before - exactly that extent, and a freed metadata block owning
//!   nothing any more;
//! - write: owns after = owns before.
//!
//! Ownership sets are compared as sorted, coalesced runs of blocks per kind, and an object that
//! names a block twice is refused, so a pointer overwrite or a duplicated pointer never passes
//! as a write. A refused operation writes nothing. Everything is checked before the first write.
//!
//! [`Xn::rebuild`] reconstructs the free map: from the static metadata and the roots it runs the
//! owns programs down every metadata block, reporting blocks owned twice, cycles, extents past
//! the end of the disk and malformed objects.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use udf_bytecode::ProgramType;
use udf_runtime::{Extent, Vm};

use crate::device::{BlockDevice, IoError};
use crate::loader::{ProgramId, Table};
use crate::program::InvokeError;

mod group;
pub use group::Change;

/// Index of a template in [`Xn::templates`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TemplateId(pub u32);

/// What an extent kind is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentKind {
    /// Data blocks, owned by exactly one object.
    Data,
    /// Data blocks several objects may own (an ext xattr block with a reference count).
    Shared,
    /// Each block holds one object of this template (at offset 0).
    Meta(TemplateId),
}

/// A metadata type.
#[derive(Clone, Debug)]
pub struct Template {
    /// Its name.
    pub name: String,
    /// Bytes of an object the programs see (their context size).
    pub size: u32,
    /// The owns program.
    pub owns: ProgramId,
    /// The acl program, asked before every operation when present.
    pub acl: Option<ProgramId>,
    /// The size program.
    pub size_udf: Option<ProgramId>,
    /// Extent kinds by number: what the owns program's `kind` argument means.
    pub kinds: Vec<ExtentKind>,
}

/// One object: `size` bytes at `offset` of block `block`, of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Obj {
    /// The block holding it.
    pub block: u64,
    /// Its byte offset in the block.
    pub offset: u32,
    /// Its template.
    pub template: TemplateId,
}

impl fmt::Display for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "object at block {} + {}", self.block, self.offset)
    }
}

/// State of a registered metadata block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Part of the file system's fixed layout (an inode table): its objects are roots.
    Static,
    /// Allocated to its parent.
    Allocated,
}

/// A metadata block XN knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The template of the objects in it.
    pub template: TemplateId,
    /// Bytes from one object to the next (objects start at multiples of it).
    pub stride: u32,
    /// Objects in the block.
    pub objects: u32,
    /// The object owning it (`None` for static blocks).
    pub parent: Option<Obj>,
    /// Its state.
    pub state: State,
}

/// The registry of metadata blocks.
pub type Registry = BTreeMap<u64, Entry>;

/// A set of blocks (one bit each), numbered from 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    len: u64,
}

impl Bitmap {
    /// `len` clear bits.
    pub fn new(len: u64) -> Bitmap {
        Bitmap { words: vec![0; len.div_ceil(64) as usize], len }
    }

    /// Number of bits.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `i` (false past the end).
    pub fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize] >> (i % 64) & 1 != 0
    }

    /// Sets bit `i` to `v` (ignored past the end).
    pub fn set(&mut self, i: u64, v: bool) {
        if i < self.len {
            let w = &mut self.words[(i / 64) as usize];
            if v {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// A change to some bytes of an object: `bytes` written at `offset` (from the object's start,
/// within its stride).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch<'a> {
    /// Offset in the object.
    pub offset: u32,
    /// New bytes.
    pub bytes: &'a [u8],
}

/// What a change claims to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The object comes to own this extent of free blocks.
    Alloc(Extent),
    /// The object gives up this extent.
    Free(Extent),
    /// Ownership does not change.
    Write,
}

impl Op {
    /// The acl request's operation code.
    fn code(&self) -> u32 {
        match self {
            Op::Alloc(_) => 1,
            Op::Free(_) => 2,
            Op::Write => 3,
        }
    }
}

/// Runs of blocks: `(kind, first, last)`, sorted, coalesced per kind.
pub type Runs = Vec<(u32, u64, u64)>;

/// Why XN refused an operation (nothing was written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The object is not in a registered metadata block, or not at an object boundary.
    UnknownObject(Obj),
    /// A patch reaches outside the object.
    PatchOutside {
        /// Offset of the patch.
        offset: u32,
        /// Its length.
        len: usize,
        /// The object's stride.
        stride: u32,
    },
    /// The extent's kind is not one the template owns.
    UnknownKind(u32),
    /// An empty extent, or one past the end of the disk.
    BadExtent(Extent),
    /// A claimed block is in use.
    InUse(u64),
    /// The owns program says the object is malformed (nonzero result) before or after.
    Malformed {
        /// After the change (else before).
        after: bool,
        /// Its result.
        r0: u64,
    },
    /// After the change the object names a block twice.
    OwnedTwice(u64),
    /// Ownership did not change as the operation claims.
    Mismatch {
        /// What the operation claimed.
        claimed: Op,
        /// Runs owned after and not before.
        added: Runs,
        /// Runs owned before and not after.
        removed: Runs,
    },
    /// A metadata block being allocated or freed owns blocks of its own.
    NotEmpty {
        /// The block.
        block: u64,
        /// Extents it owns.
        owns: usize,
    },
    /// A freed block is not owned by the object.
    NotOwned(u64),
    /// The acl program denied the operation.
    Denied,
    /// A program failed to run (a fault is a verifier or engine bug).
    Invoke(InvokeError),
    /// A template names a program that is not installed or of the wrong type.
    Program(ProgramId),
    /// Reading failed.
    Io(IoError),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = |f: &mut fmt::Formatter<'_>, r: &Runs| -> fmt::Result {
            if r.is_empty() {
                return f.write_str("nothing");
            }
            for (i, (k, a, b)) in r.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                if a == b {
                    write!(f, "{sep}block {a} (kind {k})")?;
                } else {
                    write!(f, "{sep}blocks {a}-{b} (kind {k})")?;
                }
            }
            Ok(())
        };
        match self {
            Refusal::UnknownObject(o) => write!(f, "{o} is not a known metadata object"),
            Refusal::PatchOutside { offset, len, stride } => write!(
                f,
                "a {len}-byte change at offset {offset} reaches outside the {stride}-byte object"
            ),
            Refusal::UnknownKind(k) => write!(f, "extent kind {k} is not one the object owns"),
            Refusal::BadExtent(e) => write!(
                f,
                "extent of {} blocks at {} is empty or past the end of the disk",
                e.count, e.start
            ),
            Refusal::InUse(b) => write!(f, "block {b} is already in use"),
            Refusal::Malformed { after, r0 } => write!(
                f,
                "the owns-udf finds the object malformed {} the change (r0 = {r0})",
                if *after { "after" } else { "before" }
            ),
            Refusal::OwnedTwice(b) => {
                write!(f, "after the change the object names block {b} twice")
            }
            Refusal::Mismatch { claimed, added, removed } => {
                match claimed {
                    Op::Alloc(e) | Op::Free(e) => write!(
                        f,
                        "the change claims to {} {} block(s) at {} of kind {}, but the object would gain ",
                        if matches!(claimed, Op::Alloc(_)) { "allocate" } else { "free" },
                        e.count,
                        e.start,
                        e.kind
                    )?,
                    Op::Write => f.write_str(
                        "the change claims to keep ownership as it is, but the object would gain ",
                    )?,
                }
                runs(f, added)?;
                f.write_str(" and lose ")?;
                runs(f, removed)
            }
            Refusal::NotEmpty { block, owns } => {
                write!(f, "metadata block {block} owns {owns} extent(s): it must own nothing here")
            }
            Refusal::NotOwned(b) => write!(f, "block {b} is not owned by the object"),
            Refusal::Denied => f.write_str("the acl-udf denied the operation"),
            Refusal::Invoke(e) => write!(f, "{e}"),
            Refusal::Program(p) => {
                write!(f, "program {p:?} is not an installed udf of the right type")
            }
            Refusal::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<IoError> for Refusal {
    fn from(e: IoError) -> Refusal {
        Refusal::Io(e)
    }
}

/// Something wrong the free-map reconstruction found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A block owned by two objects (or by an object and the static layout).
    OwnedTwice {
        /// The block.
        block: u64,
        /// The object claiming it a second time.
        by: Obj,
    },
    /// A metadata block among its own ancestors.
    Cycle {
        /// The block.
        block: u64,
        /// The object pointing back at it.
        by: Obj,
    },
    /// An extent past the end of the disk, of an unknown kind, or empty.
    BadExtent {
        /// The extent.
        extent: Extent,
        /// Its owner.
        by: Obj,
    },
    /// An object the owns program finds malformed, or that it could not run on.
    Malformed {
        /// The object.
        obj: Obj,
        /// Why.
        why: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::OwnedTwice { block, by } => {
                write!(f, "block {block} owned twice (again by the {by})")
            }
            Problem::Cycle { block, by } => {
                write!(f, "cycle: the {by} points back at its ancestor block {block}")
            }
            Problem::BadExtent { extent, by } => write!(
                f,
                "the {by} owns a bad extent: {} blocks at {}, kind {}",
                extent.count, extent.start, extent.kind
            ),
            Problem::Malformed { obj, why } => write!(f, "the {obj} is malformed: {why}"),
        }
    }
}

/// What the free-map reconstruction found.
#[derive(Clone, Debug)]
pub struct Rebuilt {
    /// Blocks in use: the static layout and everything reachable.
    pub used: Bitmap,
    /// What is wrong (empty for a consistent file system).
    pub problems: Vec<Problem>,
    /// Root objects walked.
    pub roots: u64,
    /// Objects walked in all (roots and metadata blocks).
    pub objects: u64,
}

/// Blocks where two maps differ: `(block, in use in the first, in use in the second)`.
pub fn differences(a: &Bitmap, b: &Bitmap, from: u64) -> Vec<(u64, bool, bool)> {
    let n = a.len().min(b.len());
    let mut out = Vec::new();
    let mut i = from;
    while i < n {
        let w = (i / 64) as usize;
        if i.is_multiple_of(64) && a.words[w] == b.words[w] && i + 64 <= n {
            i += 64;
            continue;
        }
        if a.get(i) != b.get(i) {
            out.push((i, a.get(i), b.get(i)));
        }
        i += 1;
    }
    out
}

/// XN's state for one disk: templates, registry, the map of blocks in use.
#[derive(Debug)]
pub struct Xn {
    /// The templates.
    pub templates: Vec<Template>,
    /// Every metadata block XN knows.
    pub registry: Registry,
    /// Blocks in use.
    pub used: Bitmap,
    /// Blocks of the static layout (never allocated or freed through XN).
    pub fixed: Bitmap,
    block_size: usize,
    vm: Vm,
}

impl Xn {
    /// XN over a disk of `blocks` blocks of `block_size` bytes; `fixed` marks the static layout
    /// (also in use from the start).
    pub fn new(templates: Vec<Template>, block_size: usize, fixed: Bitmap) -> Xn {
        Xn {
            templates,
            registry: Registry::new(),
            used: fixed.clone(),
            fixed,
            block_size,
            vm: Vm::new(),
        }
    }

    /// Registers a static block holding objects of `template` every `stride` bytes.
    pub fn register_static(&mut self, block: u64, template: TemplateId, stride: u32, objects: u32) {
        self.registry
            .insert(block, Entry { template, stride, objects, parent: None, state: State::Static });
    }

    fn template(&self, t: TemplateId) -> &Template {
        &self.templates[t.0 as usize]
    }

    /// The blocks of a metadata extent `e` (template `mt`) allocated or freed by `op`: each
    /// owns nothing (and, allocated, is well-formed), and, freed, was registered under a parent
    /// `owner` accepts. The one check `apply` and `apply_group` share.
    fn check_meta_blocks(
        &mut self,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        e: Extent,
        mt: TemplateId,
        op: Op,
        owner: impl Fn(Option<Obj>) -> bool,
    ) -> Result<(), Refusal> {
        let mut blk = vec![0u8; self.block_size];
        for b in e.start..e.start + e.count {
            dev.read_block(b, &mut blk)?;
            let (r0, owns) = self.owns(progs, mt, &blk)?;
            if r0 != 0 && matches!(op, Op::Alloc(_)) {
                return Err(Refusal::Malformed { after: true, r0 });
            }
            if !owns.is_empty() {
                return Err(Refusal::NotEmpty { block: b, owns: owns.len() });
            }
            if matches!(op, Op::Free(_)) && !owner(self.registry.get(&b).and_then(|r| r.parent)) {
                return Err(Refusal::NotOwned(b));
            }
        }
        Ok(())
    }

    /// The claimed extent `e` (of `kind` as the template says) against the free map: inside
    /// the disk and not empty; for an allocation every block free, for a free every block owned
    /// before (`old_runs`) and not static metadata. The one check `apply` and `apply_group`
    /// share; returns the template of a metadata extent.
    fn check_claim(
        &self,
        op: Op,
        e: Extent,
        kind: ExtentKind,
        old_runs: &Runs,
    ) -> Result<Option<TemplateId>, Refusal> {
        let end = e.start.checked_add(e.count).filter(|_| e.count > 0);
        if end.is_none_or(|end| end > self.used.len()) {
            return Err(Refusal::BadExtent(e));
        }
        for b in e.start..e.start + e.count {
            match op {
                Op::Alloc(_) if self.used.get(b) => return Err(Refusal::InUse(b)),
                Op::Free(_) if self.fixed.get(b) => return Err(Refusal::NotOwned(b)),
                Op::Free(_) if !old_runs.iter().any(|r| r.0 == e.kind && r.1 <= b && b <= r.2) => {
                    return Err(Refusal::NotOwned(b));
                }
                _ => {}
            }
        }
        Ok(match kind {
            ExtentKind::Meta(mt) => Some(mt),
            _ => None,
        })
    }

    /// Runs `t`'s owns program on `bytes` (at least the template's size; the rest is ignored).
    fn owns(
        &mut self,
        progs: &Table,
        t: TemplateId,
        bytes: &[u8],
    ) -> Result<(u64, Vec<Extent>), Refusal> {
        let tpl = &self.templates[t.0 as usize];
        let id = tpl.owns;
        let size = tpl.size as usize;
        let prog =
            progs.get(id).filter(|p| p.ty() == ProgramType::Owns).ok_or(Refusal::Program(id))?;
        let ctx = bytes.get(..size).ok_or(Refusal::Invoke(InvokeError::ContextSize {
            expected: size as u64,
            got: bytes.len() as u64,
        }))?;
        let run = prog.invoke(&mut self.vm, ctx, 0).map_err(Refusal::Invoke)?;
        Ok((run.r0, run.extents))
    }

    /// The size of an object of template `t` (`bytes`, at least the template's size), as its
    /// size program says; `None` when the template has none.
    pub fn size(
        &mut self,
        progs: &Table,
        t: TemplateId,
        bytes: &[u8],
    ) -> Result<Option<u64>, Refusal> {
        let tpl = &self.templates[t.0 as usize];
        let Some(id) = tpl.size_udf else { return Ok(None) };
        let prog =
            progs.get(id).filter(|p| p.ty() == ProgramType::Size).ok_or(Refusal::Program(id))?;
        let size = prog.ctx_size().unwrap_or(tpl.size) as usize;
        let ctx = bytes.get(..size).ok_or(Refusal::Invoke(InvokeError::ContextSize {
            expected: size as u64,
            got: bytes.len() as u64,
        }))?;
        let run = prog.invoke(&mut self.vm, ctx, 0).map_err(Refusal::Invoke)?;
        Ok(Some(run.r0))
    }

    /// The extents the owns program of template `t` says `bytes` (an object of it) owns; a
    /// malformed object (nonzero result) is [`Refusal::Malformed`].
    pub fn owned(
        &mut self,
        progs: &Table,
        t: TemplateId,
        bytes: &[u8],
    ) -> Result<Vec<Extent>, Refusal> {
        match self.owns(progs, t, bytes)? {
            (0, extents) => Ok(extents),
            (r0, _) => Err(Refusal::Malformed { after: false, r0 }),
        }
    }

    /// Reads the block holding `obj` and checks `obj` is a registered object; returns the
    /// block and the object's stride.
    fn object(&self, dev: &mut dyn BlockDevice, obj: Obj) -> Result<(Vec<u8>, u32), Refusal> {
        let e = self
            .registry
            .get(&obj.block)
            .filter(|e| {
                e.template == obj.template
                    && e.stride > 0
                    && obj.offset.is_multiple_of(e.stride)
                    && obj.offset / e.stride < e.objects
            })
            .ok_or(Refusal::UnknownObject(obj))?;
        let stride = e.stride;
        let mut block = vec![0u8; self.block_size];
        dev.read_block(obj.block, &mut block)?;
        Ok((block, stride))
    }

    /// Asks the acl program of `obj`'s template, if it has one, about `op` on `obj` in the block
    /// `before`, which the change would leave as `after`.
    fn acl_of(
        &mut self,
        progs: &Table,
        obj: Obj,
        before: &[u8],
        after: &[u8],
        op: Op,
        principal: u64,
    ) -> Result<(), Refusal> {
        let Some(acl) = self.template(obj.template).acl else { return Ok(()) };
        let at = obj.offset as usize;
        let size = self.template(obj.template).size as usize;
        let old = before.get(at..at + size).unwrap_or(&before[at..]);
        let new = after.get(at..at + size).unwrap_or(&after[at..]);
        self.acl(progs, acl, old, new, op, principal)
    }

    /// What `obj` owns in the block `before` and in the block `after`; either malformed (a
    /// nonzero result of its owns program) is refused.
    fn owns_both(
        &mut self,
        progs: &Table,
        obj: Obj,
        before: &[u8],
        after: &[u8],
    ) -> Result<(Vec<Extent>, Vec<Extent>), Refusal> {
        let at = obj.offset as usize;
        let (r0, old) = self.owns(progs, obj.template, &before[at..])?;
        if r0 != 0 {
            return Err(Refusal::Malformed { after: false, r0 });
        }
        let (r0, new) = self.owns(progs, obj.template, &after[at..])?;
        if r0 != 0 {
            return Err(Refusal::Malformed { after: true, r0 });
        }
        Ok((old, new))
    }

    /// Checks that `op` on `obj` with `patches` holds, then applies it: the object's block is
    /// written, the map of blocks in use and the registry updated. A refusal writes nothing.
    pub fn apply(
        &mut self,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        obj: Obj,
        patches: &[Patch<'_>],
        op: Op,
        principal: u64,
    ) -> Result<(), Refusal> {
        let (before, stride) = self.object(dev, obj)?;
        let mut after = before.clone();
        patch(&mut after, obj, stride, patches)?;
        self.acl_of(progs, obj, &before, &after, op, principal)?;
        let t = obj.template;
        let (old, new) = self.owns_both(progs, obj, &before, &after)?;
        let delta = Delta::of(&old, &new, op)?;
        let ext = delta.claim;
        let mut meta = None;
        if let Some(e) = ext {
            let kinds = &self.template(t).kinds;
            let kind = *kinds.get(e.kind as usize).ok_or(Refusal::UnknownKind(e.kind))?;
            meta = self.check_claim(op, e, kind, &delta.old_runs)?;
        }
        delta.matches_claim(op)?;
        if let (Some(e), Some(mt)) = (ext, meta) {
            self.check_meta_blocks(progs, dev, e, mt, op, |parent| parent == Some(obj))?;
        }
        // Every check passed: write, then record.
        if after != before {
            dev.write_block(obj.block, &after)?;
        }
        if let Some(e) = ext {
            let alloc = matches!(op, Op::Alloc(_));
            for b in e.start..e.start + e.count {
                self.used.set(b, alloc);
                match (alloc, meta) {
                    (true, Some(mt)) => self.register_meta(b, mt, obj),
                    (false, Some(_)) => {
                        self.registry.remove(&b);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Asks the acl program: the 16-byte request (principal, operation: 1 allocate, 2 free,
    /// 3 write; 0) and the object. An acl program whose object is twice the template's size
    /// sees the object as it is followed by the object as the change would leave it (the
    /// proposed new bytes, so it can refuse, say, a change of owner); one of the template's
    /// size sees the object as it is.
    fn acl(
        &mut self,
        progs: &Table,
        id: ProgramId,
        old: &[u8],
        new: &[u8],
        op: Op,
        principal: u64,
    ) -> Result<(), Refusal> {
        let prog =
            progs.get(id).filter(|p| p.ty() == ProgramType::Acl).ok_or(Refusal::Program(id))?;
        let size = prog.ctx_size().unwrap_or(0) as usize;
        let mut ctx = Vec::with_capacity(16 + size);
        ctx.extend_from_slice(&principal.to_le_bytes());
        ctx.extend_from_slice(&op.code().to_le_bytes());
        ctx.extend_from_slice(&0u32.to_le_bytes());
        if size == 2 * old.len() && old.len() == new.len() {
            ctx.extend_from_slice(old);
            ctx.extend_from_slice(new);
        } else {
            ctx.extend_from_slice(old.get(..size).unwrap_or(old));
        }
        let run = prog.invoke(&mut self.vm, &ctx, 0).map_err(Refusal::Invoke)?;
        if run.r0 == 1 { Ok(()) } else { Err(Refusal::Denied) }
    }

    /// Rebuilds the map of blocks in use from the static layout and `roots`, walking every
    /// metadata block through the owns programs; registers the metadata blocks found (the
    /// registry's allocated entries are replaced) and makes the result XN's map.
    pub fn rebuild(
        &mut self,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        roots: &[Obj],
    ) -> Result<Rebuilt, Refusal> {
        self.registry.retain(|_, e| e.state == State::Static);
        let mut used = self.fixed.clone();
        let mut shared = Bitmap::new(used.len());
        let mut problems = Vec::new();
        let mut objects = 0u64;
        let mut stack: Vec<Obj> = roots.iter().rev().copied().collect();
        let mut block = vec![0u8; self.block_size];
        let mut loaded = u64::MAX;
        while let Some(obj) = stack.pop() {
            objects += 1;
            if loaded != obj.block {
                dev.read_block(obj.block, &mut block)?;
                loaded = obj.block;
            }
            let at = obj.offset as usize;
            let (r0, extents) = match self.owns(progs, obj.template, &block[at..]) {
                Ok(x) => x,
                Err(Refusal::Invoke(e)) => {
                    problems.push(Problem::Malformed { obj, why: alloc::format!("{e}") });
                    continue;
                }
                Err(e) => return Err(e),
            };
            if r0 != 0 {
                problems.push(Problem::Malformed {
                    obj,
                    why: alloc::format!("its owns-udf returned {r0}"),
                });
                continue;
            }
            let kinds = self.template(obj.template).kinds.clone();
            let mut children = Vec::new();
            for e in extents {
                let kind = kinds.get(e.kind as usize).copied();
                let end = e.start.checked_add(e.count).filter(|_| e.count > 0);
                let (Some(kind), Some(end)) = (kind, end) else {
                    problems.push(Problem::BadExtent { extent: e, by: obj });
                    continue;
                };
                if end > used.len() {
                    problems.push(Problem::BadExtent { extent: e, by: obj });
                    continue;
                }
                for b in e.start..end {
                    if kind == ExtentKind::Shared {
                        if !shared.get(b) && used.get(b) {
                            problems.push(Problem::OwnedTwice { block: b, by: obj });
                        }
                        shared.set(b, true);
                        used.set(b, true);
                        continue;
                    }
                    if let ExtentKind::Meta(_) = kind
                        && self.is_ancestor(b, obj)
                    {
                        problems.push(Problem::Cycle { block: b, by: obj });
                        continue;
                    }
                    if used.get(b) {
                        problems.push(Problem::OwnedTwice { block: b, by: obj });
                        continue;
                    }
                    used.set(b, true);
                    if let ExtentKind::Meta(mt) = kind {
                        self.register_meta(b, mt, obj);
                        children.push(Obj { block: b, offset: 0, template: mt });
                    }
                }
            }
            stack.extend(children.into_iter().rev());
        }
        self.used = used.clone();
        Ok(Rebuilt { used, problems, roots: roots.len() as u64, objects })
    }

    /// The objects whose owns programs name each block of `want` now: the `roots` and the
    /// object of every allocated metadata block in the registry (as [`Xn::rebuild`] left it)
    /// are run once each. What a refusal or a reconstruction problem reports, so that it can
    /// name who holds a block; objects the owns programs cannot run on are skipped.
    pub fn owners(
        &mut self,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        roots: &[Obj],
        want: &[u64],
    ) -> Result<BTreeMap<u64, Vec<Obj>>, Refusal> {
        let mut out: BTreeMap<u64, Vec<Obj>> = want.iter().map(|&b| (b, Vec::new())).collect();
        if want.is_empty() {
            return Ok(out);
        }
        let mut objs: Vec<Obj> = roots.to_vec();
        objs.extend(
            self.registry.iter().filter(|(_, e)| e.state == State::Allocated).map(|(&b, e)| Obj {
                block: b,
                offset: 0,
                template: e.template,
            }),
        );
        let mut block = vec![0u8; self.block_size];
        let mut loaded = u64::MAX;
        for obj in objs {
            if loaded != obj.block {
                dev.read_block(obj.block, &mut block)?;
                loaded = obj.block;
            }
            let Some(bytes) = block.get(obj.offset as usize..) else {
                continue;
            };
            let extents = match self.owns(progs, obj.template, bytes) {
                Ok((0, extents)) => extents,
                Ok(_) | Err(Refusal::Invoke(_)) => continue,
                Err(e) => return Err(e),
            };
            for e in extents {
                let end = e.start.saturating_add(e.count);
                for (_, who) in out.range_mut(e.start..end) {
                    if !who.contains(&obj) {
                        who.push(obj);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Registers block `b`, allocated to `parent`, as holding one object of template `mt`.
    fn register_meta(&mut self, b: u64, mt: TemplateId, parent: Obj) {
        let size = self.template(mt).size;
        self.registry.insert(
            b,
            Entry {
                template: mt,
                stride: size,
                objects: 1,
                parent: Some(parent),
                state: State::Allocated,
            },
        );
    }

    /// Whether block `b` holds `obj` or one of its ancestors.
    fn is_ancestor(&self, b: u64, obj: Obj) -> bool {
        let mut at = Some(obj);
        let mut steps = 0;
        while let Some(o) = at {
            if o.block == b {
                return true;
            }
            steps += 1;
            if steps > self.registry.len() {
                return true;
            }
            at = self.registry.get(&o.block).and_then(|e| e.parent);
        }
        false
    }
}

/// Sorted, coalesced runs of `extents` per kind; `Err(block)` when two extents share a block
/// (whatever their kinds).
pub fn runs(extents: &[Extent]) -> Result<Runs, u64> {
    let mut by_start: Vec<(u64, u64)> = extents
        .iter()
        .filter(|e| e.count > 0)
        .map(|e| (e.start, e.start.saturating_add(e.count - 1)))
        .collect();
    by_start.sort_unstable();
    for w in by_start.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(w[1].0);
        }
    }
    Ok(coalesce(extents))
}

/// What a change does to ownership, as the owns programs say before and after: the runs owned
/// before, those added and removed; and the extent `op` claims.
struct Delta {
    old_runs: Runs,
    added: Runs,
    removed: Runs,
    claim: Option<Extent>,
}

impl Delta {
    /// From the extents owned before and after (owned twice after: refused).
    fn of(old: &[Extent], new: &[Extent], op: Op) -> Result<Delta, Refusal> {
        let new_runs = runs(new).map_err(Refusal::OwnedTwice)?;
        let old_runs = runs(old).unwrap_or_else(|_| coalesce(old));
        let (added, removed) = (minus(&new_runs, &old_runs), minus(&old_runs, &new_runs));
        let claim = match op {
            Op::Alloc(e) | Op::Free(e) => Some(e),
            Op::Write => None,
        };
        Ok(Delta { old_runs, added, removed, claim })
    }

    /// The change adds exactly the extent an allocation claims, removes exactly the one a
    /// free claims, and a write changes no ownership.
    fn matches_claim(self, op: Op) -> Result<(), Refusal> {
        let (want_added, want_removed) = match op {
            Op::Alloc(e) => (coalesce(&[e]), Vec::new()),
            Op::Free(e) => (Vec::new(), coalesce(&[e])),
            Op::Write => (Vec::new(), Vec::new()),
        };
        if self.added != want_added || self.removed != want_removed {
            return Err(Refusal::Mismatch {
                claimed: op,
                added: self.added,
                removed: self.removed,
            });
        }
        Ok(())
    }
}

/// Applies `patches` (offsets within the object) to `obj` in its block `block`; a patch
/// reaching past the object's stride or the block is refused.
fn patch(block: &mut [u8], obj: Obj, stride: u32, patches: &[Patch<'_>]) -> Result<(), Refusal> {
    let at = obj.offset as usize;
    for p in patches {
        match (p.offset as usize).checked_add(p.bytes.len()) {
            Some(end) if end <= stride as usize && at + end <= block.len() => {
                block[at + p.offset as usize..at + end].copy_from_slice(p.bytes);
            }
            _ => {
                return Err(Refusal::PatchOutside { offset: p.offset, len: p.bytes.len(), stride });
            }
        }
    }
    Ok(())
}

/// Sorted runs of `extents` per kind, overlapping and adjacent ones merged.
pub fn coalesce(extents: &[Extent]) -> Runs {
    let mut v: Runs = extents
        .iter()
        .filter(|e| e.count > 0)
        .map(|e| (e.kind, e.start, e.start.saturating_add(e.count - 1)))
        .collect();
    v.sort_unstable();
    let mut out: Runs = Vec::with_capacity(v.len());
    for (k, a, b) in v {
        match out.last_mut() {
            Some(last) if last.0 == k && a <= last.2.saturating_add(1) => last.2 = last.2.max(b),
            _ => out.push((k, a, b)),
        }
    }
    out
}

/// The blocks of `a` not in `b`, as runs.
pub fn minus(a: &Runs, b: &Runs) -> Runs {
    let mut out = Vec::new();
    for &(k, lo, hi) in a {
        let mut from = lo;
        for &(_, blo, bhi) in b.iter().filter(|r| r.0 == k && r.2 >= lo && r.1 <= hi) {
            if blo > from {
                out.push((k, from, blo - 1));
            }
            if bhi >= hi {
                from = u64::MAX;
                break;
            }
            from = from.max(bhi + 1);
        }
        if from != u64::MAX && from <= hi {
            out.push((k, from, hi));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(start: u64, count: u64, kind: u32) -> Extent {
        Extent { start, count, kind }
    }

    #[test]
    fn runs_coalesce_per_kind_and_catch_overlap() {
        assert_eq!(
            runs(&[e(10, 2, 0), e(12, 1, 0), e(13, 1, 1), e(5, 1, 0)]),
            Ok(vec![(0, 5, 5), (0, 10, 12), (1, 13, 13)])
        );
        assert_eq!(runs(&[e(10, 2, 0), e(11, 1, 1)]), Err(11));
        assert_eq!(runs(&[e(7, 1, 0), e(7, 1, 0)]), Err(7));
    }

    #[test]
    fn minus_cuts_holes() {
        let a = vec![(0, 10, 20), (1, 5, 5)];
        let b = vec![(0, 12, 13), (0, 20, 30), (1, 5, 5)];
        assert_eq!(minus(&a, &b), vec![(0, 10, 11), (0, 14, 19)]);
        assert_eq!(minus(&b, &a), vec![(0, 21, 30)]);
        assert_eq!(minus(&a, &a), vec![]);
    }

    #[test]
    fn bitmap_differences() {
        let mut a = Bitmap::new(200);
        let mut b = Bitmap::new(200);
        a.set(3, true);
        b.set(150, true);
        a.set(199, true);
        b.set(199, true);
        assert_eq!(differences(&a, &b, 0), vec![(3, true, false), (150, false, true)]);
        assert_eq!(differences(&a, &b, 4), vec![(150, false, true)]);
        assert_eq!(a.count(), 2);
    }
}
