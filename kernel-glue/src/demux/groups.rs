//! The merged program's tables: rules grouped by the shape of their keys, one hash table per
//! group, looked up by the verified helper `demux_lookup`
//! ([`udf_bytecode::progtype::HELPER_DEMUX_LOOKUP`]).
//!
//! A rule's *shape* ([`Sig`]) is what decides code: the fields its equalities test (sorted), its
//! residual tests and its captured-length bounds. Rules of one shape differ only in the values
//! of their fields, and those values are table DATA: a group's code loads its fields once,
//! packs them into at most four 64-bit key words and calls the helper once, which adds the
//! owners of the matching entry (if any) to the run's result. So 10,000 connections are one
//! group, one lookup; a port filter, a host filter, a net per prefix length each add a group
//! (overlapping filters of different shapes are looked up side by side and their owners
//! accumulate, instead of multiplying the program's paths). Inserting a rule of a known shape
//! changes only a table, and so does every removal (a group left empty keeps its code until a
//! new shape comes); the program is made again only when a new shape comes, a guard drops
//! (below), or the last filter goes ([`Groups::version`]).
//!
//! Fields of at most [`SELECTOR_BITS`] bits (the IP protocol, a flags byte) are fixed in the
//! group's code with their values (part of its shape): a TCP packet then skips the UDP groups
//! with one compare each instead of a lookup, at the price of one group per value. Keys wider
//! than four words (IPv6 4-tuples): the fields past the fourth word are fixed the same way, so
//! such rules group by those values.

use alloc::vec::Vec;

use udf_bytecode::progtype::HELPER_DEMUX_LOOKUP;
use udf_runtime::{HelperError, HelperReturn, Helpers};

use super::atoms::{Atom, EqAtom, FieldKey};
use super::{FilterId, NONE, Owner};

/// Key words a lookup takes (the helper's arguments after the group).
pub const WORDS: usize = 4;

/// A lookup key.
pub type Key = [u64; WORDS];

/// The shape of a rule: what its group's code tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sig {
    /// The fields looked up, sorted, each with the key word it is packed into.
    pub keys: Vec<(FieldKey, u8)>,
    /// Equalities fixed in the code (selector fields, and fields past the key words).
    pub fixed: Vec<EqAtom>,
    /// Captured-length bounds.
    pub caplen: (u64, u64),
    /// Residual tests.
    pub rest: Vec<Atom>,
}

/// Fields of at most this many bits (protocol numbers, flags) are tested in code, their value
/// part of the group's shape: at most 256 shapes per such field.
pub const SELECTOR_BITS: u32 = 8;

/// Bits a field's value may have (its mask's width).
pub fn bits(key: &FieldKey) -> u32 {
    64 - key.mask.leading_zeros()
}

/// Splits a rule into its shape, its key, and the equalities the key holds.
pub fn shape(eqs: &[EqAtom], caplen: (u64, u64), rest: &[Atom]) -> (Sig, Key, Vec<EqAtom>) {
    let mut eqs = eqs.to_vec();
    eqs.sort_unstable();
    eqs.dedup();
    let mut keys = Vec::with_capacity(eqs.len());
    let mut fixed = Vec::new();
    let mut keyed = Vec::new();
    let mut key = [0u64; WORDS];
    let (mut word, mut used) = (0usize, 0u32);
    for e in eqs {
        let b = bits(&e.key);
        if b <= SELECTOR_BITS {
            // A protocol-like field: its value is part of the shape, tested in code, so a
            // packet skips the groups of other protocols with a compare, not a lookup.
            fixed.push(e);
            continue;
        }
        if used > 0 && used + b > 64 {
            word += 1;
            used = 0;
        }
        if word >= WORDS {
            fixed.push(e);
            continue;
        }
        // `used + b <= 64` and `b < 64` whenever `used > 0`: the shift keeps every bit.
        key[word] = if used == 0 { e.value } else { (key[word] << b) | e.value };
        used += b;
        keys.push((e.key, word as u8));
        keyed.push(e);
    }
    (Sig { keys, fixed, caplen, rest: rest.to_vec() }, key, keyed)
}

/// One value of a group's key, and who it delivers to.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    /// Owners, in step with `ids` (the helper copies this slice).
    owners: Vec<Owner>,
    ids: Vec<FilterId>,
}

/// Open addressing with linear probing over `entries`; removal shifts back (no tombstones).
#[derive(Clone, Debug, Default)]
pub struct KeyTable {
    entries: Vec<Entry>,
    /// Power-of-two slots, each `NONE` or an index into `entries`; at most half full.
    slots: Vec<u32>,
}

#[inline]
fn hash(k: &Key) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64;
    for w in k {
        h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    h
}

impl KeyTable {
    /// Entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn home(&self, k: &Key) -> usize {
        (hash(k) as usize) & (self.slots.len() - 1)
    }

    /// The slot holding `k`'s entry.
    #[inline]
    fn find(&self, k: &Key) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut h = self.home(k);
        loop {
            let i = self.slots[h];
            if i == NONE {
                return None;
            }
            if self.entries[i as usize].key == *k {
                return Some(h);
            }
            h = (h + 1) & mask;
        }
    }

    /// The owners of `k`.
    #[inline]
    pub fn get(&self, k: &Key) -> Option<&[Owner]> {
        self.find(k).map(|h| self.entries[self.slots[h] as usize].owners.as_slice())
    }

    /// Adds `(id, owner)` to `k`'s entry, made if new.
    pub fn add(&mut self, k: Key, id: FilterId, owner: Owner) {
        if let Some(h) = self.find(&k) {
            let e = &mut self.entries[self.slots[h] as usize];
            e.owners.push(owner);
            e.ids.push(id);
            return;
        }
        self.entries.push(Entry { key: k, owners: alloc::vec![owner], ids: alloc::vec![id] });
        if self.slots.len() < 2 * self.entries.len() {
            self.rehash();
        } else {
            self.place(self.entries.len() - 1);
        }
    }

    fn place(&mut self, i: usize) {
        let mask = self.slots.len() - 1;
        let mut h = self.home(&self.entries[i].key);
        while self.slots[h] != NONE {
            h = (h + 1) & mask;
        }
        self.slots[h] = i as u32;
    }

    fn rehash(&mut self) {
        let size = (4 * self.entries.len()).next_power_of_two().max(8);
        self.slots.clear();
        self.slots.resize(size, NONE);
        for i in 0..self.entries.len() {
            self.place(i);
        }
    }

    /// Removes filter `id` from `k`'s entry, and the entry when nobody is left.
    pub fn remove(&mut self, k: &Key, id: FilterId) {
        let Some(mut h) = self.find(k) else { return };
        let i = self.slots[h] as usize;
        let e = &mut self.entries[i];
        while let Some(p) = e.ids.iter().position(|&x| x == id) {
            e.ids.swap_remove(p);
            e.owners.swap_remove(p);
        }
        if !e.ids.is_empty() {
            return;
        }
        // Backward-shift deletion: move later members of the probe run into the hole when
        // their home is not cyclically within (hole, their slot].
        let mask = self.slots.len() - 1;
        self.slots[h] = NONE;
        let mut j = h;
        loop {
            j = (j + 1) & mask;
            let x = self.slots[j];
            if x == NONE {
                break;
            }
            let home = self.home(&self.entries[x as usize].key);
            let stays = if h <= j { h < home && home <= j } else { h < home || home <= j };
            if !stays {
                self.slots[h] = x;
                self.slots[j] = NONE;
                h = j;
            }
        }
        // Fill the entry's place with the last one, and repoint the last one's slot.
        let last = self.entries.len() - 1;
        self.entries.swap_remove(i);
        if i != last {
            let mut p = self.home(&self.entries[i].key);
            while self.slots[p] != last as u32 {
                p = (p + 1) & mask;
            }
            self.slots[p] = i as u32;
        }
    }
}

/// One shape and its table.
#[derive(Clone, Debug)]
pub struct Group {
    /// What the code tests.
    pub sig: Sig,
    /// Key fields whose value every entry made since the group was made has had: tested in
    /// code before the lookup (a packet with another value matches no entry), so a packet of
    /// another protocol, or any packet but a single connection's, skips the helper call. An
    /// entry with another value drops the guard (and makes the program stale); removals keep
    /// guards (fewer entries still all have the value).
    pub guard: Vec<EqAtom>,
    /// The values.
    pub table: KeyTable,
}

/// All groups, numbered stably while they live (the program names them by number).
#[derive(Clone, Debug, Default)]
pub struct Groups {
    slots: Vec<Option<Group>>,
    free: Vec<u32>,
    /// Bumped whenever a group comes or goes: a program made at another version is stale.
    pub version: u64,
}

impl Groups {
    /// Adds a rule of filter `id`; returns where it went (to remove it).
    pub fn add(
        &mut self,
        eqs: &[EqAtom],
        caplen: (u64, u64),
        rest: &[Atom],
        id: FilterId,
        owner: Owner,
    ) -> (u32, Key) {
        let (sig, key, keyed) = shape(eqs, caplen, rest);
        let g = match self.slots.iter().position(|s| s.as_ref().is_some_and(|g| g.sig == sig)) {
            Some(g) => {
                if let Some(grp) = self.slots[g].as_mut() {
                    let before = grp.guard.len();
                    grp.guard.retain(|e| keyed.contains(e));
                    if grp.guard.len() != before {
                        self.version += 1;
                    }
                }
                g as u32
            }
            None => {
                // The program changes anyway: drop the groups left empty now.
                for (i, slot) in self.slots.iter_mut().enumerate() {
                    if slot.as_ref().is_some_and(|g| g.table.is_empty()) {
                        *slot = None;
                        self.free.push(i as u32);
                    }
                }
                self.version += 1;
                let group = Some(Group { sig, guard: keyed, table: KeyTable::default() });
                match self.free.pop() {
                    Some(g) => {
                        self.slots[g as usize] = group;
                        g
                    }
                    None => {
                        self.slots.push(group);
                        (self.slots.len() - 1) as u32
                    }
                }
            }
        };
        if let Some(grp) = self.slots[g as usize].as_mut() {
            grp.table.add(key, id, owner);
        }
        (g, key)
    }

    /// Removes filter `id` from group `g`'s entry `key`. A group left empty stays, with its
    /// code (a removal changes data only); it goes when a new group is made, or when the
    /// last filter goes.
    pub fn remove(&mut self, g: u32, key: &Key, id: FilterId) {
        let Some(grp) = self.slots.get_mut(g as usize).and_then(Option::as_mut) else { return };
        grp.table.remove(key, id);
        if self.slots.iter().flatten().all(|g| g.table.is_empty()) && !self.slots.is_empty() {
            self.slots.clear();
            self.free.clear();
            self.version += 1;
        }
    }

    /// The live groups with their numbers.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Group)> {
        self.slots.iter().enumerate().filter_map(|(i, g)| g.as_ref().map(|g| (i as u32, g)))
    }

    /// Groups with entries.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().filter(|g| !g.table.is_empty()).count()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owners of group `g`'s entry `key`.
    #[inline]
    pub fn get(&self, g: u64, key: &Key) -> Option<&[Owner]> {
        let g = usize::try_from(g).ok()?;
        self.slots.get(g)?.as_ref()?.table.get(key)
    }
}

/// The helper table a merged program runs with: `demux_lookup` over the demultiplexer's groups,
/// adding the owners it finds to `out` (in no order, possibly repeated).
pub struct Lookup<'a> {
    pub(super) groups: &'a Groups,
    /// The owners found so far.
    pub out: &'a mut Vec<Owner>,
}

impl Helpers for Lookup<'_> {
    #[inline]
    fn call(&mut self, id: u64, a: [u64; 5]) -> Result<HelperReturn, HelperError> {
        if id != u64::from(HELPER_DEMUX_LOOKUP.id) {
            return Err(HelperError::Unknown);
        }
        // A group that does not exist (a stale program) finds nothing; the host notices the
        // stale program and walks the trie instead.
        match self.groups.get(a[0], &[a[1], a[2], a[3], a[4]]) {
            Some(owners) => {
                self.out.extend_from_slice(owners);
                Ok(HelperReturn::Value(1))
            }
            None => Ok(HelperReturn::Value(0)),
        }
    }
}
