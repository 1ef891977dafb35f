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
//!
//! An entry's owners are deduplicated when it changes, not per packet, and kept in its slot of
//! the hash index when there is one (a connection's): a lookup, hit or miss, reads one slot.
//! A group *covers* another when a hit in it decides the other ([`covers`]): then each of its
//! entries also delivers the owners of the entry its key implies there (kept current through
//! an index from covered keys to covering entries), and the program skips the covered group's
//! lookup after a hit (DPF's connection, which answers for the port and host filters around
//! it). Each group is covered by one group at most, so that two hits do not deliver the same
//! owners twice. Past [`HOT`] entries implying one covered key, those entries stop answering
//! for it (their lookup returns 0 and the covered groups are looked up as if uncovered), which
//! bounds the refreshes one change of a covered entry costs.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use udf_bytecode::progtype::HELPER_DEMUX_LOOKUP;
use udf_runtime::{HelperError, HelperReturn, Helpers};

use udf_bytecode::{JmpCond, Width};

use super::atoms::{Atom, EqAtom, FieldKey, Val};
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

/// Most entries of a covering group that answer for one key of a covered group: beyond it
/// they are hot ([`Entry::answers`]), so that one change of a covered entry (a port filter
/// under thousands of connections to that port) refreshes at most this many entries.
pub const HOT: usize = 32;

/// One value of a group's key, and who it delivers to.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    /// The filters with this key and their owners (an owner may come several times).
    members: Vec<(FilterId, Owner)>,
    /// Their owners, sorted, each once (deduplicated when the entry changes, not per packet).
    own: Vec<Owner>,
    /// What a lookup delivers: `own`, and for an entry of a group that covers others
    /// ([`Group::covers`]), the owners of the entries of those groups its key implies
    /// ([`Groups::refresh`]); sorted, each once.
    owners: Vec<Owner>,
    /// Whether a hit here answers for the groups its group covers (its lookup returns 1, and
    /// the program skips their lookups). Not for a *hot* entry (one of more than [`HOT`]
    /// entries implying the same key of a covered group): it delivers its own owners only and
    /// its lookup returns 0, so that a change of that covered key refreshes at most [`HOT`]
    /// entries.
    answers: bool,
}

impl Entry {
    fn settle(&mut self) {
        self.own.clear();
        self.own.extend(self.members.iter().map(|m| m.1));
        self.own.sort_unstable();
        self.own.dedup();
        self.owners.clone_from(&self.own);
        self.answers = true;
    }
}

/// A slot of the open-addressing index: the key itself (a probe compares it without leaving
/// the slot array), the entry it indexes, and, for an entry of one owner (a connection's), the
/// owner too, so that the common lookup, hit or miss, reads one slot and nothing else.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: Key,
    /// Index into `entries`, or `NONE` for an empty slot.
    entry: u32,
    /// The entry's number of distinct owners.
    n: u32,
    /// Its only owner when `n == 1`.
    first: Owner,
    /// The entry's [`Entry::answers`].
    answers: bool,
}

const EMPTY: Slot = Slot { key: [0; WORDS], entry: NONE, n: 0, first: 0, answers: true };

/// Open addressing with linear probing over `entries`; removal shifts back (no tombstones).
/// Invariant: every slot that is not empty mirrors its entry (key, distinct owners, the only
/// owner), refreshed whenever the entry changes.
#[derive(Clone, Debug, Default)]
pub struct KeyTable {
    entries: Vec<Entry>,
    /// Power-of-two slots; at most half full.
    slots: Vec<Slot>,
}

/// The key's hash: its words multiplied independently (no chain of dependent rounds: a lookup
/// is on every packet's path), summed, and the high half folded in.
#[inline]
fn hash(k: &Key) -> u64 {
    let h = (k[0] ^ 0x243f_6a88_85a3_08d3).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ k[1].wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
        ^ k[2].wrapping_mul(0x1656_67b1_9e37_79f9)
        ^ k[3].wrapping_mul(0xd6e8_feb8_6659_fd93);
    let h = h ^ (h >> 32);
    h.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (h >> 29)
}

/// Whether two keys are equal, word by word (the key is built in four separate stores: one
/// wide load of it would stall on store forwarding).
#[inline]
fn same(a: &Key, b: &Key) -> bool {
    ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0
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
            let s = &self.slots[h];
            if s.entry == NONE {
                return None;
            }
            if same(&s.key, k) {
                return Some(h);
            }
            h = (h + 1) & mask;
        }
    }

    /// The owners of `k`, sorted, each once.
    #[inline]
    pub fn get(&self, k: &Key) -> Option<&[Owner]> {
        self.lookup(k).map(|(o, _)| o)
    }

    /// The owners of `k`, sorted, each once, and whether the entry answers for the groups its
    /// group covers ([`Entry::answers`]).
    #[inline]
    pub fn lookup(&self, k: &Key) -> Option<(&[Owner], bool)> {
        let s = &self.slots[self.find(k)?];
        if s.n == 1 {
            return Some((core::slice::from_ref(&s.first), s.answers));
        }
        Some((self.entries[s.entry as usize].owners.as_slice(), s.answers))
    }

    /// The slot mirroring entry `i`.
    fn slot_of(&self, i: usize) -> Slot {
        let e = &self.entries[i];
        Slot {
            key: e.key,
            entry: i as u32,
            n: e.owners.len() as u32,
            first: e.owners.first().copied().unwrap_or(0),
            answers: e.answers,
        }
    }

    /// The entry's own owners (not those it delivers for groups it covers).
    pub fn own(&self, k: &Key) -> Option<&[Owner]> {
        self.find(k).map(|h| self.entries[self.slots[h].entry as usize].own.as_slice())
    }

    /// Sets what `k`'s entry delivers to its own owners and `more` (sorted, distinct), and
    /// whether it answers for the covered groups.
    fn deliver(&mut self, k: &Key, more: &[Owner], answers: bool) {
        let Some(h) = self.find(k) else { return };
        let i = self.slots[h].entry as usize;
        let e = &mut self.entries[i];
        e.answers = answers;
        e.owners.clone_from(&e.own);
        if !more.is_empty() {
            e.owners.extend_from_slice(more);
            e.owners.sort_unstable();
            e.owners.dedup();
        }
        self.slots[h] = self.slot_of(i);
    }

    /// Adds `(id, owner)` to `k`'s entry, made if new; whether it was made.
    pub fn add(&mut self, k: Key, id: FilterId, owner: Owner) -> bool {
        if let Some(h) = self.find(&k) {
            let i = self.slots[h].entry as usize;
            self.entries[i].members.push((id, owner));
            self.entries[i].settle();
            self.slots[h] = self.slot_of(i);
            return false;
        }
        let mut e = Entry {
            key: k,
            members: alloc::vec![(id, owner)],
            own: Vec::new(),
            owners: Vec::new(),
            answers: true,
        };
        e.settle();
        self.entries.push(e);
        if self.slots.len() < 2 * self.entries.len() {
            self.rehash();
        } else {
            self.place(self.entries.len() - 1);
        }
        true
    }

    fn place(&mut self, i: usize) {
        let mask = self.slots.len() - 1;
        let mut h = self.home(&self.entries[i].key);
        while self.slots[h].entry != NONE {
            h = (h + 1) & mask;
        }
        self.slots[h] = self.slot_of(i);
    }

    fn rehash(&mut self) {
        let size = (4 * self.entries.len()).next_power_of_two().max(8);
        self.slots.clear();
        self.slots.resize(size, EMPTY);
        for i in 0..self.entries.len() {
            self.place(i);
        }
    }

    /// Removes filter `id` from `k`'s entry, and the entry when nobody is left; whether it went.
    pub fn remove(&mut self, k: &Key, id: FilterId) -> bool {
        let Some(mut h) = self.find(k) else { return false };
        let i = self.slots[h].entry as usize;
        let e = &mut self.entries[i];
        e.members.retain(|m| m.0 != id);
        if !e.members.is_empty() {
            e.settle();
            self.slots[h] = self.slot_of(i);
            return false;
        }
        // Backward-shift deletion: move later members of the probe run into the hole when
        // their home is not cyclically within (hole, their slot].
        let mask = self.slots.len() - 1;
        self.slots[h] = EMPTY;
        let mut j = h;
        loop {
            j = (j + 1) & mask;
            let x = self.slots[j];
            if x.entry == NONE {
                break;
            }
            let home = self.home(&x.key);
            let stays = if h <= j { h < home && home <= j } else { h < home || home <= j };
            if !stays {
                self.slots[h] = x;
                self.slots[j] = EMPTY;
                h = j;
            }
        }
        // Fill the entry's place with the last one, and repoint the last one's slot.
        let last = self.entries.len() - 1;
        self.entries.swap_remove(i);
        if i != last {
            let mut p = self.home(&self.entries[i].key);
            while self.slots[p].entry != last as u32 {
                p = (p + 1) & mask;
            }
            self.slots[p].entry = i as u32;
        }
        true
    }

    /// The keys of the entries.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|e| &e.key)
    }

    /// Checks the invariant (tests): every entry has exactly one slot, reachable from its
    /// key's home without crossing an empty slot, mirroring it; owners sorted and distinct.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn check(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let used = self.slots.iter().filter(|s| s.entry != NONE).count();
        if used != self.entries.len() {
            return Err(format!("{used} slots used for {} entries", self.entries.len()));
        }
        for (i, e) in self.entries.iter().enumerate() {
            let Some(h) = self.find(&e.key) else { return Err(format!("entry {i} not found")) };
            let s = self.slots[h];
            let want = self.slot_of(i);
            if s.entry != want.entry || s.n != want.n || (s.n == 1 && s.first != want.first) {
                return Err(format!("slot {h} does not mirror entry {i}: {s:?} vs {want:?}"));
            }
            let mut o: Vec<Owner> = e.members.iter().map(|m| m.1).collect();
            o.sort_unstable();
            o.dedup();
            if o != e.own {
                return Err(format!("entry {i}: owners {:?}, members {:?}", e.own, e.members));
            }
        }
        Ok(())
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
    /// The groups this one covers ([`covers`]; each group is covered by one group at most,
    /// [`Groups::recover`]): a packet that hits an entry here matches, in each of them,
    /// exactly the entry its key implies, so this entry delivers their owners too and the
    /// program skips their lookups after a hit (DPF's connection that answers for the port and
    /// host filters around it, without their lookups).
    pub covers: Vec<u32>,
    /// For each covered group and key there, the keys of this group's entries that imply it:
    /// the entries to refresh when that entry changes.
    index: BTreeMap<(u32, Key), Vec<Key>>,
}

/// Whether a hit in a group of shape `a` decides a group of shape `b`: every test `b` makes
/// before its lookup `a` makes too (`b`'s fixed equalities and residual tests among `a`'s, its
/// captured-length bounds no narrower), and every field of `b`'s key is in `a`'s key, so a
/// packet that hits `a`'s entry `k` hits in `b` exactly `k`'s projection on `b`'s fields.
/// (Guards are tests of key fields whose outcome the lookup decides anyway.)
pub fn covers(a: &Sig, b: &Sig) -> bool {
    a != b
        && b.fixed.iter().all(|e| a.fixed.contains(e))
        && b.rest.iter().all(|t| a.rest.iter().any(|u| implies(u, t)))
        && b.caplen.0 <= a.caplen.0
        && b.caplen.1 >= a.caplen.1
        && b.keys.iter().all(|(f, _)| a.keys.iter().any(|(g, _)| g == f))
}

/// Whether test `a` holding implies `b` holds: the same test, or both "the header-length-
/// shifted offset `o` plus a constant is within the captured bytes" (`!(4 * (p[o] & 0xf) + add
/// > caplen)`, the bound a load past the IPv4 header needs) with `b`'s constant no larger
/// (both need `p[o]` captured).
fn implies(a: &Atom, b: &Atom) -> bool {
    if a == b {
        return true;
    }
    let bound = |t: &Atom| match (t.width, t.cond, t.a, t.b, t.holds) {
        (Width::W64, JmpCond::Gt, Val::Ihl { o, add }, Val::CapLen, false) => Some((o, add)),
        _ => None,
    };
    // Small constants only: `4 * (p[o] & 0xf) + add` cannot wrap.
    matches!((bound(a), bound(b)),
        (Some((oa, aa)), Some((ob, ab))) if oa == ob && ab <= aa && aa <= u64::from(u32::MAX))
}

/// The field values key `key` of shape `sig` holds (as [`shape`] packed them).
fn unpack(sig: &Sig, key: &Key) -> Vec<EqAtom> {
    let mut words = *key;
    let mut out = Vec::with_capacity(sig.keys.len());
    // Each word holds its fields first to last from its high bits down: take them off the low
    // end, last first.
    for (f, w) in sig.keys.iter().rev() {
        let b = bits(f);
        let word = &mut words[usize::from(*w)];
        let value = if b >= 64 { *word } else { *word & ((1u64 << b) - 1) };
        *word = if b >= 64 { 0 } else { *word >> b };
        out.push(EqAtom { key: *f, value });
    }
    out
}

/// The key of shape `sig` for the field values `fields` (which hold all of its key fields),
/// packed as [`shape`] packs it.
fn pack(sig: &Sig, fields: &[EqAtom]) -> Key {
    let mut key = [0u64; WORDS];
    let mut used = [false; WORDS];
    for (f, w) in &sig.keys {
        let v = fields.iter().find(|e| e.key == *f).map_or(0, |e| e.value);
        let w = usize::from(*w);
        key[w] = if used[w] { (key[w] << bits(f)) | v } else { v };
        used[w] = true;
    }
    key
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
        let mut made = false;
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
                made = true;
                let group = Some(Group {
                    sig,
                    guard: keyed,
                    table: KeyTable::default(),
                    covers: Vec::new(),
                    index: BTreeMap::new(),
                });
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
        let new = match self.slots[g as usize].as_mut() {
            Some(grp) => grp.table.add(key, id, owner),
            None => false,
        };
        if made {
            self.recover();
        } else {
            if new {
                self.index_entry(g, &key, true);
            }
            self.changed(g, &key);
        }
        (g, key)
    }

    /// Records (or forgets) entry `key` of group `g` in its index of covered keys.
    fn index_entry(&mut self, g: u32, key: &Key, add: bool) {
        let Some(grp) = self.slots[g as usize].as_ref() else { return };
        if grp.covers.is_empty() {
            return;
        }
        let fields = unpack(&grp.sig, key);
        let mut recs = Vec::with_capacity(grp.covers.len());
        for &c in &grp.covers {
            if let Some(cg) = self.slots[c as usize].as_ref() {
                recs.push((c, pack(&cg.sig, &fields)));
            }
        }
        let Some(grp) = self.slots[g as usize].as_mut() else { return };
        let mut crossed = Vec::new();
        for r in recs {
            if add {
                let v = grp.index.entry(r).or_default();
                v.push(*key);
                // One more than `HOT`: every entry of the list turns hot.
                if v.len() == HOT + 1 {
                    crossed.extend(v.iter().copied());
                }
            } else if let Some(v) = grp.index.get_mut(&r) {
                v.retain(|k| k != key);
                // Back to `HOT`: those left may answer again.
                if v.len() == HOT {
                    crossed.extend(v.iter().copied());
                }
                if v.is_empty() {
                    grp.index.remove(&r);
                }
            }
        }
        for k in crossed {
            self.refresh(g, &k);
        }
    }

    /// After entry `key` of group `g` changed (made, its owners changed, or gone): refreshes
    /// what it delivers, and what the entries of the groups covering `g` that imply it
    /// deliver.
    fn changed(&mut self, g: u32, key: &Key) {
        self.refresh(g, key);
        for c in 0..self.slots.len() {
            let Some(grp) = self.slots[c].as_ref() else { continue };
            if !grp.covers.contains(&g) {
                continue;
            }
            let Some(keys) = grp.index.get(&(g, *key)) else { continue };
            // Hot entries deliver their own owners only: nothing of this key to refresh.
            if keys.len() > HOT {
                continue;
            }
            for k in keys.clone() {
                self.refresh(c as u32, &k);
            }
        }
    }

    /// Sets what entry `key` of group `g` delivers: its own owners, and those of the entries
    /// its key implies in the groups `g` covers.
    fn refresh(&mut self, g: u32, key: &Key) {
        let Some(grp) = self.slots[g as usize].as_ref() else { return };
        // Without covered groups an entry delivers its own owners, as it was left.
        if grp.covers.is_empty() || grp.table.own(key).is_none() {
            return;
        }
        let fields = unpack(&grp.sig, key);
        let mut more = Vec::new();
        let mut hot = false;
        for &c in &grp.covers {
            let Some(cg) = self.slots[c as usize].as_ref() else { continue };
            let ck = pack(&cg.sig, &fields);
            hot |= grp.index.get(&(c, ck)).is_some_and(|v| v.len() > HOT);
            if let Some(o) = cg.table.own(&ck) {
                more.extend_from_slice(o);
            }
        }
        if hot {
            more.clear();
        }
        more.sort_unstable();
        more.dedup();
        if let Some(grp) = self.slots[g as usize].as_mut() {
            grp.table.deliver(key, &more, !hot);
        }
    }

    /// Works out which group covers which, and the indexes and deliveries, again (when a
    /// group comes or goes: the program is made again then anyway).
    fn recover(&mut self) {
        let sigs: Vec<Option<Sig>> =
            self.slots.iter().map(|s| s.as_ref().map(|g| g.sig.clone())).collect();
        for slot in self.slots.iter_mut().flatten() {
            slot.covers.clear();
            slot.index.clear();
        }
        // Each group is covered by one group at most: of those that could, the one that
        // tests most (most key fields, then fixed equalities, then other tests), then the one
        // with most entries (most likely to hit), then the lowest number. Two covering groups
        // hitting on one packet would otherwise both deliver its owners.
        // Not a group whose key fields are all guards of the covering one (the Ethernet type
        // of a protocol-only filter under a connection group): every covering entry would
        // imply the same key there, and a change of that one entry would refresh them all.
        let entries: Vec<usize> =
            self.slots.iter().map(|s| s.as_ref().map_or(0, |g| g.table.len())).collect();
        let guards: Vec<Vec<FieldKey>> = self
            .slots
            .iter()
            .map(|s| s.as_ref().map_or(Vec::new(), |g| g.guard.iter().map(|e| e.key).collect()))
            .collect();
        let selective = |i: usize, b: &Sig| b.keys.iter().any(|(f, _)| !guards[i].contains(f));
        let weight = |i: usize, s: &Sig| (s.keys.len(), s.fixed.len(), s.rest.len(), entries[i]);
        for (j, b) in sigs.iter().enumerate() {
            let Some(b) = b else { continue };
            let best = sigs
                .iter()
                .enumerate()
                .filter_map(|(i, a)| Some((i, a.as_ref()?)))
                .filter(|(i, a)| *i != j && covers(a, b) && selective(*i, b))
                .max_by(|(i, a), (k, c)| weight(*i, a).cmp(&weight(*k, c)).then(k.cmp(i)));
            if let Some((i, _)) = best
                && let Some(grp) = self.slots[i].as_mut()
            {
                grp.covers.push(j as u32);
            }
        }
        for g in 0..self.slots.len() as u32 {
            let keys: Vec<Key> = match self.slots[g as usize].as_ref() {
                Some(grp) => grp.table.keys().copied().collect(),
                None => continue,
            };
            for k in &keys {
                // An entry of a group that covered others and covers none now delivers its
                // own owners again (`refresh` leaves entries of such groups as they are).
                if let Some(grp) = self.slots[g as usize].as_mut() {
                    grp.table.deliver(k, &[], true);
                }
                self.index_entry(g, k, true);
                self.refresh(g, k);
            }
        }
    }

    /// Removes filter `id` from group `g`'s entry `key`. A group left empty stays, with its
    /// code (a removal changes data only); it goes when a new group is made, or when the
    /// last filter goes.
    pub fn remove(&mut self, g: u32, key: &Key, id: FilterId) {
        let Some(grp) = self.slots.get_mut(g as usize).and_then(Option::as_mut) else { return };
        if grp.table.own(key).is_none() {
            return;
        }
        if grp.table.remove(key, id) {
            self.index_entry(g, key, false);
        }
        self.changed(g, key);
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

    /// The owners of group `g`'s entry `key` (with those of the groups it covers).
    #[inline]
    pub fn get(&self, g: u64, key: &Key) -> Option<&[Owner]> {
        self.lookup(g, key).map(|(o, _)| o)
    }

    /// As [`Groups::get`], and whether the entry answers for the groups `g` covers.
    #[inline]
    pub fn lookup(&self, g: u64, key: &Key) -> Option<(&[Owner], bool)> {
        let g = usize::try_from(g).ok()?;
        self.slots.get(g)?.as_ref()?.table.lookup(key)
    }
}

/// The helper table a merged program runs with: `demux_lookup` over the demultiplexer's groups,
/// adding the owners it finds to `out` (an entry's owners each once, but owners of several
/// entries in no order, possibly repeated).
pub struct Lookup<'a> {
    pub(super) groups: &'a Groups,
    /// The owners found so far.
    pub out: &'a mut Vec<Owner>,
}

/// Sorts `v` and drops repeats (the result of a packet); nothing to do for one owner or none.
#[inline]
pub fn sort_owners(v: &mut Vec<Owner>) {
    if v.len() > 1 {
        v.sort_unstable();
        v.dedup();
    }
}

impl Helpers for Lookup<'_> {
    #[inline]
    fn call(&mut self, id: u64, a: [u64; 5]) -> Result<HelperReturn, HelperError> {
        if id != u64::from(HELPER_DEMUX_LOOKUP.id) {
            return Err(HelperError::Unknown);
        }
        // A group that does not exist (a stale program) finds nothing; the host notices the
        // stale program and walks the trie instead.
        // A hit returns 1 when it answers for the groups this one covers (the program then
        // skips their lookups), 0 for a hot entry (they look up for themselves) or a miss.
        match self.groups.lookup(a[0], &[a[1], a[2], a[3], a[4]]) {
            Some((&[one], answers)) => {
                self.out.push(one);
                Ok(HelperReturn::Value(u64::from(answers)))
            }
            Some((owners, answers)) => {
                self.out.extend_from_slice(owners);
                Ok(HelperReturn::Value(u64::from(answers)))
            }
            None => Ok(HelperReturn::Value(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use udf_bytecode::rng::Rng;

    use super::{FilterId, Key, KeyTable, Owner, Sig, covers, implies, pack, shape};
    use crate::demux::atoms::{Atom, Base, EqAtom, FieldKey, Val};
    use udf_bytecode::{JmpCond, Width};

    fn bound(add: u64) -> Atom {
        Atom {
            width: Width::W64,
            cond: JmpCond::Gt,
            a: Val::Ihl { o: 14, add },
            b: Val::CapLen,
            holds: false,
        }
    }

    fn field(off: i64, size: u8) -> FieldKey {
        let mask = if size >= 8 { u64::MAX } else { (1u64 << (8 * u32::from(size))) - 1 };
        FieldKey { base: Base::Abs, off, size, mask }
    }

    /// A longer bound past the IPv4 header implies a shorter one; nothing else is implied.
    #[test]
    fn bounds_imply_shorter_bounds() {
        assert!(implies(&bound(18), &bound(16)));
        assert!(implies(&bound(18), &bound(18)));
        assert!(!implies(&bound(16), &bound(18)));
        let mut other = bound(16);
        other.a = Val::Ihl { o: 15, add: 16 };
        assert!(!implies(&bound(18), &other));
        let mut holds = bound(16);
        holds.holds = true;
        assert!(!implies(&bound(18), &holds));
        assert!(!implies(&bound(u64::MAX), &bound(16)), "a bound that wraps");
    }

    /// A shape covers another when it tests all the other tests and its key holds the other's
    /// key fields; the key of the covered group is the projection of the covering one's.
    #[test]
    fn covering_shapes() {
        let (eth, src, dst, proto) = (field(12, 2), field(26, 4), field(30, 4), field(23, 1));
        let eq = |key, value| EqAtom { key, value };
        let conn = [eq(eth, 0x800), eq(proto, 6), eq(src, 0x0a01_0001), eq(dst, 0x0a01_0002)];
        let (a, ka, keyed) = shape(&conn, (34, u64::MAX), &[bound(18)]);
        let host = [eq(eth, 0x800), eq(src, 0x0a01_0001)];
        let (b, kb, _) = shape(&host, (30, u64::MAX), &[bound(16)]);
        assert!(covers(&a, &b));
        assert!(!covers(&b, &a), "fewer key fields");
        assert!(!covers(&a, &a), "a shape does not cover itself");
        assert_eq!(pack(&b, &keyed), kb, "the projection of the covering key");
        let mut back = super::unpack(&a, &ka);
        back.sort_unstable();
        let mut want = keyed.clone();
        want.sort_unstable();
        assert_eq!(back, want, "the fields a key holds");
        assert_ne!(pack(&a, &keyed[..2]), ka);
        let narrow = Sig { caplen: (40, u64::MAX), ..b.clone() };
        assert!(!covers(&a, &narrow), "a narrower captured length");
        let udp = Sig { fixed: alloc::vec![eq(proto, 17)], ..b.clone() };
        assert!(!covers(&a, &udp), "another fixed value");
        let longer = Sig { rest: alloc::vec![bound(20)], ..b.clone() };
        assert!(!covers(&a, &longer), "a bound the covering shape does not test");
    }

    /// The key table against a map: random adds and removals over a small key space (so that
    /// probe runs form, wrap around and are cut by removals), every key looked up after every
    /// change, the owners as the map says (sorted, each once), and the slots mirroring their
    /// entries.
    #[test]
    fn key_table_against_a_map() {
        let mut rng = Rng::new(0x6b65_7973);
        for round in 0..20 {
            let mut t = KeyTable::default();
            let mut model: BTreeMap<Key, Vec<(FilterId, Owner)>> = BTreeMap::new();
            let space = 4 + rng.below(60);
            let key = |i: u64| -> Key { [i * 0x1_0001, i >> 1, 0, u64::from(i.is_multiple_of(3))] };
            let mut next = 0u64;
            for step in 0..400 {
                let k = key(rng.below(space));
                let members = model.get(&k).map_or(0, Vec::len);
                if members > 0 && rng.chance(45, 100) {
                    let (id, _) = model[&k][rng.index(members)];
                    t.remove(&k, id);
                    let m = model.get_mut(&k).expect("present");
                    m.retain(|x| x.0 != id);
                    if m.is_empty() {
                        model.remove(&k);
                    }
                } else {
                    // Owners from a small range: the same owner comes twice in an entry.
                    let owner = rng.below(6) as Owner;
                    t.add(k, FilterId(next), owner);
                    model.entry(k).or_default().push((FilterId(next), owner));
                    next += 1;
                }
                t.check().unwrap_or_else(|e| panic!("round {round}, step {step}: {e}"));
                assert_eq!(t.len(), model.len(), "round {round}, step {step}");
                for i in 0..space {
                    let k = key(i);
                    let want = model.get(&k).map(|m| {
                        let mut o: Vec<Owner> = m.iter().map(|x| x.1).collect();
                        o.sort_unstable();
                        o.dedup();
                        o
                    });
                    assert_eq!(
                        t.get(&k).map(<[Owner]>::to_vec),
                        want,
                        "round {round}, step {step}: key {i}"
                    );
                }
            }
        }
    }
}
