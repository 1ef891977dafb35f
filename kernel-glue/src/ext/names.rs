//! Naming XN's objects and blocks as a user of the file system knows them, for refusals,
//! reconstruction problems and free-map differences.

use super::*;

/// What an extent kind of the corpus udfs is, in words.
pub fn kind_name(k: u32) -> String {
    match k {
        kind::DATA => String::from("data"),
        kind::IND1 => String::from("an indirect block"),
        kind::IND2 => String::from("a double indirect block"),
        kind::IND3 => String::from("a triple indirect block"),
        kind::XATTR => String::from("the xattr block"),
        kind::NODE => String::from("an extent-tree node"),
        k => format!("kind {k}"),
    }
}

/// Runs of blocks with their kinds in words: `block 5000 (data), blocks 7-9 (data)`.
pub(super) fn runs_named(r: &crate::xn::Runs) -> String {
    if r.is_empty() {
        return String::from("nothing");
    }
    let mut out = String::new();
    for (i, (k, a, b)) in r.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if a == b {
            out.push_str(&format!("block {a} ({})", kind_name(*k)));
        } else {
            out.push_str(&format!("blocks {a}-{b} ({})", kind_name(*k)));
        }
    }
    out
}

/// Joins names with `, ` and a final ` and `.
pub(super) fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Naming: XN's objects and blocks as a user of the file system knows them (`inode 12 slot 5`,
/// `inode 12 indirect block 37 entry 4`, `group 0's inode table`), for refusals, reconstruction
/// problems and free-map differences.
impl ExtFs {
    /// The number of the inode `obj` is (an object of an inode-table block), if it is one.
    pub fn inode_number(&self, obj: Obj) -> Option<u32> {
        if obj.template != template::INODE {
            return None;
        }
        let bs = u64::from(self.sb.block_size);
        let itable = self.sb.itable_blocks();
        let (g, d) = self
            .groups
            .iter()
            .enumerate()
            .find(|(_, d)| d.inode_table <= obj.block && obj.block < d.inode_table + itable)?;
        let at = (obj.block - d.inode_table) * bs + u64::from(obj.offset);
        let i = at / u64::from(self.sb.inode_size);
        let ino = g as u64 * u64::from(self.sb.inodes_per_group) + i + 1;
        u32::try_from(ino).ok().filter(|&n| n <= self.sb.inodes)
    }

    /// What block `b` of the static layout is (`group 0's inode table`); `None` outside it.
    pub fn name_static(&self, b: u64) -> Option<String> {
        let sb = &self.sb;
        if b < sb.first_data_block {
            return Some(String::from("the boot block"));
        }
        if b >= sb.blocks {
            return None;
        }
        let g = (b - sb.first_data_block) / u64::from(sb.blocks_per_group);
        let d = self.groups.get(g as usize)?;
        let first = sb.group_first(g);
        if sb.has_super(g) {
            if b == first {
                return Some(format!("group {g}'s superblock"));
            }
            if b <= first + sb.gdt_blocks() {
                return Some(format!("group {g}'s group descriptors"));
            }
            let reserved = if sb.features[0] & COMPAT_RESIZE_INODE != 0 {
                0
            } else {
                u64::from(sb.reserved_gdt)
            };
            if b <= first + sb.gdt_blocks() + reserved {
                return Some(format!("group {g}'s reserved descriptor blocks"));
            }
        }
        // The group's own bitmaps and inode table, else another group's (flex_bg).
        let g = g as usize;
        core::iter::once((g, d))
            .chain(self.groups.iter().enumerate())
            .find_map(|(h, d)| self.group_metadata(h, d, b))
    }

    /// What block `b` is among group `g`'s bitmaps and inode table (`d`, its descriptor).
    fn group_metadata(&self, g: usize, d: &Group, b: u64) -> Option<String> {
        let what = if b == d.block_bitmap {
            "block bitmap"
        } else if b == d.inode_bitmap {
            "inode bitmap"
        } else if d.inode_table <= b && b < d.inode_table + self.sb.itable_blocks() {
            "inode table"
        } else {
            return None;
        };
        Some(format!("group {g}'s {what}"))
    }

    /// An object by name: `inode 12`, `inode 12 indirect block 37` (the inode the metadata
    /// block belongs to, through XN's registry), `extent-tree node 500` when no inode is known.
    pub fn name_obj(&self, xn: &Xn, obj: Obj) -> String {
        if obj.template == template::INODE {
            return match self.inode_number(obj) {
                Some(ino) => format!("inode {ino}"),
                None => format!("the inode at byte {} of block {}", obj.offset, obj.block),
            };
        }
        let what = match obj.template {
            template::IND1 => "indirect block",
            template::IND2 => "double indirect block",
            template::IND3 => "triple indirect block",
            template::NODE => "extent-tree node",
            _ => "metadata block",
        };
        let mut at = xn.registry.get(&obj.block).and_then(|e| e.parent);
        let mut steps = 0;
        while let Some(p) = at {
            if p.template == template::INODE {
                return format!("{} {what} {}", self.name_obj(xn, p), obj.block);
            }
            steps += 1;
            if steps > 8 {
                break;
            }
            at = xn.registry.get(&p.block).and_then(|e| e.parent);
        }
        format!("{what} {}", obj.block)
    }

    /// Where `obj` points at `block`: `inode 12 slot 5`, `inode 12 indirect block 37 entry 4`,
    /// `inode 12 extent 2`, `inode 12 extent-tree node 500 entry 3`, `inode 12 xattr block`;
    /// the object's name when no pointer of it holds the block.
    pub fn name_ref(&self, xn: &Xn, dev: &mut dyn BlockDevice, obj: Obj, block: u64) -> String {
        let base = self.name_obj(xn, obj);
        let mut buf = vec![0u8; self.sb.block_size as usize];
        if dev.read_block(obj.block, &mut buf).is_err() {
            return base;
        }
        let o = &buf[(obj.offset as usize).min(buf.len())..];
        let within = |start: u64, len: u64| start <= block && block < start.saturating_add(len);
        // An extent header and its entries: `Some((i, leaf))` for the entry naming `block`.
        let extents = |b: &[u8]| -> Option<(usize, bool)> {
            if b.len() < 12 || le16(b, 0) != 0xF30A {
                return None;
            }
            let (n, depth) = (le16(b, 2) as usize, le16(b, 6));
            (0..n.min((b.len() - 12) / 12)).find_map(|i| {
                let e = &b[12 + 12 * i..];
                if depth == 0 {
                    let len = u64::from(le16(e, 4));
                    let len = if len > 32768 { len - 32768 } else { len };
                    let start = u64::from(le16(e, 6)) << 32 | u64::from(le32(e, 8));
                    within(start, len).then_some((i, true))
                } else {
                    let leaf = u64::from(le16(e, 8)) << 32 | u64::from(le32(e, 4));
                    (leaf == block).then_some((i, false))
                }
            })
        };
        match obj.template {
            template::INODE if o.len() >= 128 => {
                if le32(o, 32) & EXT4_EXTENTS_FL != 0 {
                    if let Some((i, leaf)) = extents(&o[40..100]) {
                        let what = if leaf { "extent" } else { "extent index" };
                        return format!("{base} {what} {i}");
                    }
                } else if let Some(k) = (0..15).find(|k| u64::from(le32(o, 40 + 4 * k)) == block) {
                    return format!("{base} slot {k}");
                }
                let hi = if self.sb.features[1] & INCOMPAT_64BIT != 0 {
                    u64::from(le16(o, 118)) << 32
                } else {
                    0
                };
                if u64::from(le32(o, 104)) | hi == block {
                    return format!("{base} xattr block");
                }
                base
            }
            template::IND1 | template::IND2 | template::IND3 => {
                match (0..o.len() / 4).find(|&i| u64::from(le32(o, 4 * i)) == block) {
                    Some(i) => format!("{base} entry {i}"),
                    None => base,
                }
            }
            template::NODE => match extents(o) {
                Some((i, _)) => format!("{base} entry {i}"),
                None => base,
            },
            _ => base,
        }
    }

    /// Who holds each block of `blocks`: the static layout's part (`group 0's inode table`),
    /// or every pointer that names it now (`inode 14 slot 0`); empty when nothing does.
    pub fn holders(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        blocks: &[u64],
    ) -> BTreeMap<u64, Vec<String>> {
        let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut rest = Vec::new();
        for &b in blocks {
            match self.name_static(b) {
                Some(n) => {
                    out.insert(b, vec![n]);
                }
                None => rest.push(b),
            }
        }
        let owners = self
            .roots(dev)
            .ok()
            .and_then(|roots| xn.owners(progs, dev, &roots, &rest).ok())
            .unwrap_or_default();
        for b in rest {
            let names = owners
                .get(&b)
                .map(|objs| objs.iter().map(|&o| self.name_ref(xn, dev, o, b)).collect())
                .unwrap_or_default();
            out.insert(b, names);
        }
        out
    }

    /// A reconstruction problem with every object named.
    pub fn describe_problem(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        p: &Problem,
    ) -> String {
        match p {
            Problem::OwnedTwice { block, by } => {
                let again = self.name_ref(xn, dev, *by, *block);
                let first: Vec<String> = self
                    .holders(xn, progs, dev, &[*block])
                    .remove(block)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| *n != again)
                    .collect();
                if first.is_empty() {
                    format!("block {block} is owned twice: again by {again}")
                } else {
                    format!(
                        "block {block} is owned twice: by {} and again by {again}",
                        join_names(&first)
                    )
                }
            }
            Problem::Cycle { block, by } => {
                let at = self.name_ref(xn, dev, *by, *block);
                let target = match xn.registry.get(block) {
                    Some(e) if e.parent.is_some() => {
                        self.name_obj(xn, Obj { block: *block, offset: 0, template: e.template })
                    }
                    _ => format!("block {block}"),
                };
                format!("cycle: {at} points back at its own ancestor, {target}")
            }
            Problem::BadExtent { extent, by } => {
                let at = self.name_ref(xn, dev, *by, extent.start);
                let why = if extent.count == 0 {
                    String::from("an empty extent")
                } else if extent.kind > kind::NODE {
                    format!("an extent of unknown kind {}", extent.kind)
                } else {
                    format!("past the end of the file system ({} blocks)", self.sb.blocks)
                };
                format!(
                    "{at} names {} block(s) at {} ({}): {why}",
                    extent.count,
                    extent.start,
                    kind_name(extent.kind)
                )
            }
            Problem::Malformed { obj, why } => {
                format!("{} is malformed: {why}", self.name_obj(xn, *obj))
            }
        }
    }

    /// XN's refusal of a change to slot `slot` of inode `ino` (which held `old`), in the file
    /// system's terms.
    pub(super) fn explain(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        (ino, slot, old): (u32, usize, u64),
        op: Op,
        r: &Refusal,
    ) -> String {
        let at = format!("inode {ino} slot {slot}");
        let (verb, claimed) = match op {
            Op::Alloc(e) => ("allocating", Some(e)),
            Op::Free(e) => ("freeing", Some(e)),
            Op::Write => ("writing", None),
        };
        match r {
            Refusal::InUse(b) => {
                let who = self.holders(xn, progs, dev, &[*b]).remove(b).unwrap_or_default();
                if let Some(s) = self.name_static(*b) {
                    format!("{at}: block {b} is {s}, file-system metadata XN never hands out")
                } else if who.is_empty() {
                    format!("{at}: block {b} is already in use")
                } else {
                    format!("{at}: block {b} is already in use: {} holds it", join_names(&who))
                }
            }
            Refusal::Mismatch { added, removed, .. } => {
                let mut m = match claimed {
                    Some(e) => format!(
                        "{at}: {verb} block {} as {}, but by its owns-udf inode {ino} would gain \
                         {} and lose {}",
                        e.start,
                        kind_name(e.kind),
                        runs_named(added),
                        runs_named(removed)
                    ),
                    None => format!(
                        "{at}: by its owns-udf inode {ino} would gain {} and lose {}",
                        runs_named(added),
                        runs_named(removed)
                    ),
                };
                if matches!(op, Op::Alloc(_))
                    && old != 0
                    && removed.iter().any(|&(_, a, b)| a <= old && old <= b)
                {
                    m.push_str(&format!(" (the slot already holds block {old}: free it first)"));
                } else if let (Some(e), [(k, _, _)]) = (claimed, &added[..])
                    && *k != e.kind
                {
                    m.push_str(&format!(" (the slot holds {})", kind_name(*k)));
                }
                m
            }
            Refusal::UnknownKind(k) => format!(
                "{at}: kind {k} is not one inode {ino} can own (0 data, 1-3 indirect blocks of \
                 depth 1-3, 4 the xattr block, 5 an extent-tree node)"
            ),
            Refusal::BadExtent(e) => format!(
                "{at}: block {} is past the end of the file system ({} blocks)",
                e.start, self.sb.blocks
            ),
            Refusal::Malformed { after, r0 } => format!(
                "{at}: inode {ino}'s owns-udf finds it malformed {} the change (r0 = {r0})",
                if *after { "after" } else { "before" }
            ),
            Refusal::OwnedTwice(b) => {
                let who = self.holders(xn, progs, dev, &[*b]).remove(b).unwrap_or_default();
                let also = if who.is_empty() {
                    String::new()
                } else {
                    format!(" (it already holds it at {})", join_names(&who))
                };
                format!("{at}: inode {ino} would then name block {b} twice{also}")
            }
            Refusal::NotEmpty { block, owns } => match (op, claimed) {
                (Op::Alloc(_), Some(e)) => format!(
                    "{at}: block {block}, to become {} of inode {ino}, is not zeroed: its \
                     entries name {owns} extent(s)",
                    kind_name(e.kind)
                ),
                _ => {
                    let name = match xn.registry.get(block) {
                        Some(e) => self
                            .name_obj(xn, Obj { block: *block, offset: 0, template: e.template }),
                        None => format!("block {block}"),
                    };
                    format!("{at}: {name} still names {owns} extent(s): free them first")
                }
            },
            Refusal::NotOwned(b) => match (self.name_static(*b), claimed) {
                (Some(s), _) => format!("{at}: block {b} is {s}, which XN never frees"),
                (None, Some(e)) => {
                    format!("{at}: inode {ino} does not own block {b} as {}", kind_name(e.kind))
                }
                (None, None) => format!("{at}: inode {ino} does not own block {b}"),
            },
            Refusal::Denied => {
                format!("{at}: inode {ino}'s acl-udf refused this principal ({verb} a block)")
            }
            Refusal::UnknownObject(_) => {
                format!("{at}: inode {ino} is not in a registered inode-table block")
            }
            Refusal::Invoke(e) => format!("{at}: a udf failed on inode {ino}: {e}"),
            Refusal::PatchOutside { .. } | Refusal::Program(_) | Refusal::Io(_) => {
                format!("{at}: {r}")
            }
        }
    }
}
