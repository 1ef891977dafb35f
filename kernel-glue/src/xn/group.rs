//! A change to several objects checked as one operation: what a tree needs when a new node
//! takes entries over from its parent (an ext4 extent tree growing a level or splitting a
//! node), or when a pointer and the counts that go with it live in different objects (an
//! indirect block's entry and its inode's `i_blocks`).
//!
//! [`Xn::apply_group`] runs the owns program of every object named, before and after its
//! patches, and of the new metadata block's initial contents when one is allocated, and
//! compares the union: allocate = before + exactly the claimed extent, free = before - exactly
//! it, write = unchanged; no block named twice after the change, anywhere in the group. Blocks
//! that move between the group's objects keep their kind, and metadata blocks that move are
//! re-registered under their new parent (never under one of their own descendants). So
//! ownership is conserved across the group as it is across one object in [`Xn::apply`]: a
//! group can move blocks between its objects, never conjure or lose one. A refusal writes
//! nothing; an accepted group writes the new block first, then every changed block before the
//! blocks whose objects point at it.
//!
//! The group's objects are checked as separate owners of disjoint blocks: an extent of the
//! shared kind named by two of them is refused as owned twice (groups hold one inode and the
//! nodes below it).

use super::*;

/// One object of a group change and its patches.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    /// The object (in a registered metadata block).
    pub obj: Obj,
    /// Its new bytes.
    pub patches: &'a [Patch<'a>],
}

/// Whether `b` holds `obj` or one of its ancestors in `reg`.
fn ancestor_in(reg: &Registry, b: u64, obj: Obj) -> bool {
    let mut at = Some(obj);
    let mut steps = 0;
    while let Some(o) = at {
        if o.block == b {
            return true;
        }
        steps += 1;
        if steps > reg.len() {
            return true;
        }
        at = reg.get(&o.block).and_then(|e| e.parent);
    }
    false
}

impl Xn {
    /// Checks that `op` on the objects of `changes` (with, for the allocation of a metadata
    /// block, its initial contents `init`) holds as one operation, then applies it: writes the
    /// new block, then the changed blocks, children before the objects pointing at them, and
    /// updates the map of blocks in use and the registry. Returns the blocks written, in order.
    /// A refusal writes nothing.
    ///
    /// `init` is only for an [`Op::Alloc`] of one metadata block: its owns program must accept
    /// it, and whatever it names must come from the group's objects (it may own blocks moved
    /// to it, unlike a metadata block allocated by [`Xn::apply`], which must own nothing).
    pub fn apply_group(
        &mut self,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        changes: &[Change<'_>],
        init: Option<&[u8]>,
        op: Op,
        principal: u64,
    ) -> Result<Vec<u64>, Refusal> {
        // The blocks involved, before and after every patch.
        let mut blocks: BTreeMap<u64, (Vec<u8>, Vec<u8>)> = BTreeMap::new();
        let mut objs: Vec<(Obj, u32)> = Vec::new();
        for c in changes {
            let (bytes, stride) = self.object(dev, c.obj)?;
            let entry = blocks.entry(c.obj.block).or_insert_with(|| (bytes.clone(), bytes));
            patch(&mut entry.1, c.obj, stride, c.patches)?;
            if !objs.iter().any(|(o, _)| *o == c.obj) {
                objs.push((c.obj, stride));
            }
        }
        for &(obj, _) in &objs {
            let (before, after) = &blocks[&obj.block];
            self.acl_of(progs, obj, before, after, op, principal)?;
        }
        // Ownership before and after, object by object: (extent, owner).
        let mut old: Vec<(Extent, Obj)> = Vec::new();
        let mut new: Vec<(Extent, Obj)> = Vec::new();
        for &(obj, _) in &objs {
            let (before, after) = &blocks[&obj.block];
            let (was, will) = self.owns_both(progs, obj, before, after)?;
            old.extend(was.into_iter().map(|e| (e, obj)));
            new.extend(will.into_iter().map(|e| (e, obj)));
        }
        let kinds =
            |xn: &Xn, obj: Obj, k: u32| xn.template(obj.template).kinds.get(k as usize).copied();
        // The new metadata block: one block of a metadata kind, its contents accepted.
        let mut fresh: Option<(u64, TemplateId)> = None;
        if let Some(bytes) = init {
            let Op::Alloc(e) = op else {
                return Err(Refusal::Mismatch {
                    claimed: op,
                    added: Vec::new(),
                    removed: Vec::new(),
                });
            };
            let owner = new
                .iter()
                .find(|(x, _)| x.start <= e.start && e.start < x.start.saturating_add(x.count))
                .map(|(_, o)| *o);
            let kind = owner.and_then(|o| kinds(self, o, e.kind));
            let Some(ExtentKind::Meta(mt)) = kind else {
                return Err(Refusal::UnknownKind(e.kind));
            };
            if e.count != 1 || bytes.len() != self.block_size {
                return Err(Refusal::BadExtent(e));
            }
            let (r0, ext) = self.owns(progs, mt, bytes)?;
            if r0 != 0 {
                return Err(Refusal::Malformed { after: true, r0 });
            }
            let obj = Obj { block: e.start, offset: 0, template: mt };
            new.extend(ext.into_iter().map(|x| (x, obj)));
            fresh = Some((e.start, mt));
        }
        let old_ext: Vec<Extent> = old.iter().map(|(e, _)| *e).collect();
        let new_ext: Vec<Extent> = new.iter().map(|(e, _)| *e).collect();
        let delta = Delta::of(&old_ext, &new_ext, op)?;
        let ext = delta.claim;
        let mut meta = None;
        if let Some(e) = ext {
            // The kind as the objects that name the extent see it.
            let side = if matches!(op, Op::Alloc(_)) { &new } else { &old };
            let named = side
                .iter()
                .find(|(x, _)| {
                    x.kind == e.kind
                        && x.start <= e.start
                        && e.start < x.start.saturating_add(x.count)
                })
                .map(|(_, o)| *o)
                .or(objs.first().map(|(o, _)| *o));
            let kind =
                named.and_then(|o| kinds(self, o, e.kind)).ok_or(Refusal::UnknownKind(e.kind))?;
            meta = self.check_claim(op, e, kind, &delta.old_runs)?;
        }
        delta.matches_claim(op)?;
        if let (Some(e), Some(mt)) = (ext, meta) {
            if init.is_some() && fresh.map(|f| f.1) != Some(mt) {
                return Err(Refusal::UnknownKind(e.kind));
            }
            if init.is_none() {
                // As in `apply`: a metadata block allocated or freed owns nothing, and a freed
                // one belongs to one of the group's objects.
                self.check_meta_blocks(progs, dev, e, mt, op, |parent| {
                    objs.iter().any(|(o, _)| Some(*o) == parent)
                })?;
            }
        }
        // Metadata blocks named after the change by another object than before: re-parented
        // (the new block registered), never under their own descendants.
        let mut reg = self.registry.clone();
        let mut moved: Vec<(u64, Obj)> = Vec::new();
        for (x, owner) in &new {
            let Some(ExtentKind::Meta(mt)) = kinds(self, *owner, x.kind) else { continue };
            for b in x.start..x.start.saturating_add(x.count) {
                let was = old
                    .iter()
                    .find(|(y, _)| y.start <= b && b < y.start.saturating_add(y.count))
                    .map(|(_, o)| *o);
                let is_new = matches!(op, Op::Alloc(e) if e.start <= b && b < e.start + e.count);
                if was != Some(*owner) && (was.is_some() || is_new) {
                    let size = self.template(mt).size;
                    reg.insert(
                        b,
                        Entry {
                            template: mt,
                            stride: size,
                            objects: 1,
                            parent: Some(*owner),
                            state: State::Allocated,
                        },
                    );
                    moved.push((b, *owner));
                }
            }
        }
        for &(b, owner) in &moved {
            if ancestor_in(&reg, b, owner) {
                return Err(Refusal::OwnedTwice(b));
            }
        }
        if let (Op::Free(e), Some(_)) = (op, meta) {
            for b in e.start..e.start + e.count {
                reg.remove(&b);
            }
        }
        // Every check passed: write the new block, then children before parents.
        let mut order: Vec<u64> = Vec::new();
        if let (Some(bytes), Some((b, _))) = (init, fresh) {
            dev.write_block(b, bytes)?;
            order.push(b);
        }
        let points_at = |blk: u64| -> Vec<u64> {
            new.iter()
                .filter(|(x, o)| {
                    o.block == blk && matches!(kinds(self, *o, x.kind), Some(ExtentKind::Meta(_)))
                })
                .flat_map(|(x, _)| x.start..x.start.saturating_add(x.count))
                .filter(|b| blocks.contains_key(b))
                .collect()
        };
        let mut pending: Vec<u64> =
            blocks.iter().filter(|(_, (a, b))| a != b).map(|(&k, _)| k).collect();
        while !pending.is_empty() {
            let i = pending
                .iter()
                .position(|&p| points_at(p).iter().all(|c| !pending.contains(c) || *c == p))
                .unwrap_or(0);
            let blk = pending.remove(i);
            dev.write_block(blk, &blocks[&blk].1)?;
            order.push(blk);
        }
        if let Some(e) = ext {
            for b in e.start..e.start + e.count {
                self.used.set(b, matches!(op, Op::Alloc(_)));
            }
        }
        self.registry = reg;
        Ok(order)
    }
}
