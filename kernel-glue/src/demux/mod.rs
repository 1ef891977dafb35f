//! Packet demultiplexing, DPF-style: many verified filters, each with an owner, merged into one
//! trie, so a packet costs about what one filter does whatever the number installed.
//!
//! Each filter arrives as a [`Verified`] program of type `filter` (from a pcap expression, a
//! `.udf` filter or classic BPF: whatever made it, the kernel only sees the verified bytecode).
//! [`atoms::extract`] runs its bytecode symbolically into rules, one per accepting path: the
//! field equalities the path tests (`(size bytes at offset, from the packet start or past the
//! IPv4 header) & mask == value`) and its other tests (length tests, inequalities).
//!
//! The trie: a node tests one field (its key, that of the first rule that reached it); the
//! rules with an equality on that field go down the child for their value (the values of one
//! node are one hash table: one lookup, not one compare per filter), the others down
//! the node's `other` child. A rule ends as a leaf that checks its residual tests and names its
//! owners: where its equalities run out, or earlier, at the first node without a key, keeping
//! the equalities left as tests of its own (a burst trie: a connection is one leaf under its
//! address rather than a chain of single-child nodes; a second rule arriving there splits it). Along any path the keys are distinct
//! (a rule leaves a node having no equality on its key), so a walk visits at most one child
//! per table plus the `other` children. Filters that do not decompose (arithmetic on fields,
//! loops, helpers, too many paths) are kept whole and run by the interpreter beside the trie,
//! so every verified filter is accepted, just not merged (identical programs kept whole run
//! once per packet for all their owners).
//!
//! Inserting a filter adds its rules along their paths (creating nodes and table entries);
//! removing it follows the same paths (node keys never change while a node lives; a leaf only
//! ever moves down its own path) and frees the nodes left empty. The result of a packet is the sorted, deduplicated set of owners whose
//! filter accepts it: a filter accepts when one of its rules holds.
//!
//! Nothing here is recursive: the walk keeps its own stack in a [`Scratch`] the caller reuses.

pub mod atoms;
pub mod codegen;
pub mod groups;
#[cfg(feature = "fuzzing")]
pub mod traffic;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use udf_bytecode::ProgramType;
#[cfg(feature = "std")]
use udf_runtime::native::NativeFilter;
use udf_runtime::native::NativeProgram;
use udf_runtime::{Compiled, Context, Fault, NoHelpers, RunOptions, Runnable, Vm};
use udf_verifier::Verified;

pub use atoms::{Atom, Base, EqAtom, FieldKey, Opaque, Rule, Val};
pub use codegen::{CodegenError, Merged};
pub use groups::Lookup;

/// Who a filter delivers to.
pub type Owner = u32;

/// One installed filter (as [`Demux::insert`] named it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FilterId(u64);

/// How a filter was installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Merged into the trie as this many rules.
    Merged {
        /// Accepting paths.
        rules: usize,
    },
    /// Kept whole (run by the interpreter beside the trie), and why.
    Opaque(Opaque),
}

/// Why a filter is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DemuxError {
    /// It was verified as another type.
    NotAFilter(ProgramType),
    /// It was verified under test-suite settings, not the type's own entry state.
    NotForType,
    /// The interpreter's pre-run checks refuse it (a verified program never is: a defect).
    Check(udf_bytecode::CheckError),
}

impl core::fmt::Display for DemuxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DemuxError::NotAFilter(t) => write!(f, "a program of type {t} is not a filter"),
            DemuxError::NotForType => {
                f.write_str("the program was verified under test settings, not as a filter")
            }
            DemuxError::Check(e) => write!(f, "the interpreter's checks refuse it: {e}"),
        }
    }
}

/// No node.
const NONE: u32 = u32::MAX;
/// Most equalities of a rule the trie takes; further ones are checked at its leaf.
const MAX_EQS: usize = 24;

/// A rule's end: its residual tests and the filters (with their owners) that have this rule
/// (identical rules of several filters are checked once).
#[derive(Clone, Debug)]
struct Leaf {
    rule: Rule,
    /// Equalities of the rule not (yet) in the trie: checked here.
    pending: Vec<EqAtom>,
    members: Vec<(FilterId, Owner)>,
}

/// A trie node.
#[derive(Clone, Debug, Default)]
struct Node {
    /// The field tested (`None` only while the node has no children).
    key: Option<FieldKey>,
    /// The values of the field with a child each.
    table: Table,
    /// Where the rules without an equality on `key` go.
    other: u32,
    /// Rules ending here.
    leaves: Vec<Leaf>,
}

impl Node {
    fn new() -> Node {
        Node { other: NONE, ..Node::default() }
    }

    fn is_empty(&self) -> bool {
        self.leaves.is_empty() && self.table.is_empty() && self.other == NONE
    }
}

/// A program kept whole, and the filters (with their owners) that are this program: identical
/// programs run once per packet.
#[derive(Debug)]
struct Whole {
    verified: Verified,
    code: Compiled,
    budget: u64,
    members: Vec<(FilterId, Owner)>,
    /// The members' owners, sorted, each once.
    owners: Vec<Owner>,
    /// Native code for it, when the kernel compiled some ([`Demux::compile_whole`]).
    native: Option<WholeCode>,
}

impl Whole {
    fn settle(&mut self) {
        self.owners.clear();
        self.owners.extend(self.members.iter().map(|m| m.1));
        self.owners.sort_unstable();
        self.owners.dedup();
    }
}

/// Native code for a filter kept whole ([`Demux::compile_whole`]).
#[derive(Debug)]
pub enum WholeCode {
    /// The region ABI (a run sets up an environment and a stack).
    Program(NativeProgram),
    /// The direct-call ABI (packet and lengths in registers, nothing set up): the cheapest
    /// call, for the filters that qualify (`udf_jit::Jit::compile_filter`); hosts with
    /// executable memory only (feature `std`).
    #[cfg(feature = "std")]
    Filter(NativeFilter),
}

impl From<NativeProgram> for WholeCode {
    fn from(p: NativeProgram) -> WholeCode {
        WholeCode::Program(p)
    }
}

#[cfg(feature = "std")]
impl From<NativeFilter> for WholeCode {
    fn from(f: NativeFilter) -> WholeCode {
        WholeCode::Filter(f)
    }
}

/// What the demultiplexer remembers of a filter, to remove it.
#[derive(Clone, Debug)]
struct Entry {
    owner: Owner,
    /// The trie paths of its rules (empty for a filter kept whole).
    paths: Vec<Vec<EqAtom>>,
    /// The group and key of each of its rules.
    keys: Vec<(u32, groups::Key)>,
    whole: bool,
}

/// The per-CPU state a run uses: the interpreter's stack and the walk's.
#[derive(Debug)]
pub struct Scratch {
    vm: Vm,
    stack: Vec<u32>,
}

impl Scratch {
    /// A fresh one.
    pub fn new() -> Scratch {
        Scratch { vm: Vm::new(), stack: Vec::with_capacity(64) }
    }
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::new()
    }
}

/// Sizes, for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Filters installed.
    pub filters: usize,
    /// Of them, kept whole.
    pub whole: usize,
    /// Trie nodes.
    pub nodes: usize,
    /// Rule leaves (distinct rules at their node).
    pub leaves: usize,
    /// Rules of all merged filters.
    pub rules: usize,
    /// Shapes of rules (groups of the merged program, one lookup each).
    pub groups: usize,
}

/// The merged demultiplexer.
#[derive(Debug)]
pub struct Demux {
    nodes: Vec<Node>,
    free: Vec<u32>,
    filters: BTreeMap<FilterId, Entry>,
    whole: Vec<Whole>,
    groups: groups::Groups,
    next: u64,
}

impl Default for Demux {
    fn default() -> Demux {
        Demux::new()
    }
}

impl Demux {
    /// An empty demultiplexer.
    pub fn new() -> Demux {
        Demux {
            nodes: alloc::vec![Node::new()],
            free: Vec::new(),
            filters: BTreeMap::new(),
            whole: Vec::new(),
            groups: groups::Groups::default(),
            next: 0,
        }
    }

    /// Installs `filter` for `owner`, merged where it decomposes.
    pub fn insert(
        &mut self,
        owner: Owner,
        filter: &Verified,
    ) -> Result<(FilterId, Shape), DemuxError> {
        self.insert_with(owner, filter, true)
    }

    /// Installs `filter` for `owner`; with `merge` false it is kept whole even where it
    /// decomposes (to test that path, or to compare).
    pub fn insert_with(
        &mut self,
        owner: Owner,
        filter: &Verified,
        merge: bool,
    ) -> Result<(FilterId, Shape), DemuxError> {
        if filter.ty() != ProgramType::Filter {
            return Err(DemuxError::NotAFilter(filter.ty()));
        }
        if !filter.for_type() {
            return Err(DemuxError::NotForType);
        }
        let extracted =
            if merge { atoms::extract(filter.program()) } else { Err(Opaque::Unmodelled(0)) };
        let id = FilterId(self.next);
        match extracted {
            Ok(mut rules) => {
                atoms::drop_covered_nes(&mut rules);
                self.next += 1;
                let n = rules.len();
                let mut paths = Vec::with_capacity(n);
                let mut keys = Vec::with_capacity(n);
                for mut rule in rules {
                    keys.push(self.groups.add(&rule.eqs, rule.caplen, &rule.rest, id, owner));
                    // Equalities past the trie's depth limit are checked at the leaf.
                    for extra in rule.eqs.split_off(rule.eqs.len().min(MAX_EQS)) {
                        rule.rest.push(eq_atom(extra));
                    }
                    let path = rule.eqs.clone();
                    self.add_rule(&path, rule, (id, owner));
                    paths.push(path);
                }
                self.filters.insert(id, Entry { owner, paths, keys, whole: false });
                Ok((id, Shape::Merged { rules: n }))
            }
            Err(why) => {
                if let Some(w) =
                    self.whole.iter_mut().find(|w| w.verified.program() == filter.program())
                {
                    w.members.push((id, owner));
                    w.settle();
                } else {
                    let code = udf_runtime::prepare(
                        filter.program(),
                        &udf_runtime::pre_run_checks(ProgramType::Filter, true),
                    )
                    .map_err(DemuxError::Check)?;
                    let budget = filter.facts().max_insns;
                    self.whole.push(Whole {
                        verified: filter.clone(),
                        code,
                        budget,
                        members: alloc::vec![(id, owner)],
                        owners: alloc::vec![owner],
                        native: None,
                    });
                }
                self.next += 1;
                self.filters
                    .insert(id, Entry { owner, paths: Vec::new(), keys: Vec::new(), whole: true });
                Ok((id, Shape::Opaque(why)))
            }
        }
    }

    /// Gives native code to the filters kept whole that have none yet: `compile` turns a
    /// verified filter into trusted native code for this host (the kernel's JIT), or gives
    /// `None` to keep it on the interpreter. Their results are the same either way (the JIT's
    /// contract); only the cost per packet changes. Returns how many were compiled.
    pub fn compile_whole<C: Into<WholeCode>>(
        &mut self,
        mut compile: impl FnMut(&Verified) -> Option<C>,
    ) -> usize {
        let mut n = 0;
        for w in self.whole.iter_mut().filter(|w| w.native.is_none()) {
            w.native = compile(&w.verified).map(Into::into);
            n += usize::from(w.native.is_some());
        }
        n
    }

    /// Removes a filter; false if it is not installed.
    pub fn remove(&mut self, id: FilterId) -> bool {
        let Some(entry) = self.filters.remove(&id) else { return false };
        if entry.whole {
            for w in &mut self.whole {
                w.members.retain(|m| m.0 != id);
                w.settle();
            }
            self.whole.retain(|w| !w.members.is_empty());
        }
        for path in &entry.paths {
            self.remove_rule(path, id);
        }
        for (g, key) in &entry.keys {
            self.groups.remove(*g, key, id);
        }
        true
    }

    /// The owner of an installed filter.
    pub fn owner(&self, id: FilterId) -> Option<Owner> {
        self.filters.get(&id).map(|e| e.owner)
    }

    /// Number of filters installed.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Sizes.
    pub fn stats(&self) -> Stats {
        Stats {
            filters: self.filters.len(),
            whole: self.whole.iter().map(|w| w.members.len()).sum(),
            nodes: self.nodes.len() - self.free.len(),
            leaves: self.nodes.iter().map(|n| n.leaves.len()).sum(),
            rules: self.nodes.iter().flat_map(|n| &n.leaves).map(|l| l.members.len()).sum(),
            groups: self.groups.len(),
        }
    }

    fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = Node::new();
            return i;
        }
        self.nodes.push(Node::new());
        u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 nodes")
    }

    fn add_rule(&mut self, path: &[EqAtom], rule: Rule, member: (FilterId, Owner)) {
        let leaf = Leaf { rule, pending: path.to_vec(), members: alloc::vec![member] };
        self.place(0, leaf);
    }

    /// Places `leaf` (its `pending` equalities not yet in the trie) from node `n` down.
    ///
    /// Lazily, as a burst trie: a leaf stops at the first node without a key, keeping its
    /// remaining equalities as tests of its own (a connection's rule is one leaf under its
    /// address, not a chain of single-child nodes). When a leaf with equalities left arrives
    /// where such a pending leaf waits, the node takes the key of the first pending leaf's next
    /// equality and the pending leaves move one level down. Pending leaves are only ever at
    /// nodes without a key. Recursion depth is bounded by [`MAX_EQS`].
    fn place(&mut self, mut n: usize, mut leaf: Leaf) {
        loop {
            if self.nodes[n].key.is_none() {
                let pending = self.nodes[n].leaves.iter().find_map(|l| l.pending.first());
                let Some(first) = pending.copied() else {
                    self.add_leaf(n, leaf);
                    return;
                };
                if leaf.pending.is_empty() {
                    self.add_leaf(n, leaf);
                    return;
                }
                self.nodes[n].key = Some(first.key);
                let leaves = core::mem::take(&mut self.nodes[n].leaves);
                for l in leaves {
                    if l.pending.is_empty() {
                        self.nodes[n].leaves.push(l);
                    } else {
                        let mut l = l;
                        let kid = self.child(n, &mut l.pending, true).expect("created");
                        self.place(kid, l);
                    }
                }
            }
            if leaf.pending.is_empty() {
                self.add_leaf(n, leaf);
                return;
            }
            n = self.child(n, &mut leaf.pending, true).expect("created");
        }
    }

    /// The child of keyed node `n` that equalities `rem` lead to (consuming the one on the
    /// node's key), created if `create`.
    fn child(&mut self, n: usize, rem: &mut Vec<EqAtom>, create: bool) -> Option<usize> {
        let key = self.nodes[n].key?;
        if let Some(pos) = rem.iter().position(|e| e.key == key) {
            let v = rem.remove(pos).value;
            if let Some(kid) = self.nodes[n].table.get(v) {
                return Some(kid as usize);
            }
            if !create {
                return None;
            }
            let kid = self.alloc();
            self.nodes[n].table.insert(v, kid);
            Some(kid as usize)
        } else {
            if self.nodes[n].other == NONE {
                if !create {
                    return None;
                }
                let kid = self.alloc();
                self.nodes[n].other = kid;
            }
            Some(self.nodes[n].other as usize)
        }
    }

    fn add_leaf(&mut self, n: usize, leaf: Leaf) {
        let leaves = &mut self.nodes[n].leaves;
        match leaves.iter_mut().find(|l| l.rule == leaf.rule && l.pending == leaf.pending) {
            Some(l) => l.members.extend(leaf.members),
            None => leaves.push(leaf),
        }
    }

    fn remove_rule(&mut self, path: &[EqAtom], id: FilterId) {
        let mut rem: Vec<EqAtom> = path.to_vec();
        // (parent, value taken or None for `other`) for each step.
        let mut trail: Vec<(usize, Option<u64>)> = Vec::new();
        let mut n = 0usize;
        loop {
            // The rule's leaf is on its path: where it stopped, pending or not.
            for l in &mut self.nodes[n].leaves {
                l.members.retain(|m| m.0 != id);
            }
            self.nodes[n].leaves.retain(|l| !l.members.is_empty());
            let Some(key) = self.nodes[n].key else { break };
            if rem.is_empty() {
                break;
            }
            let via = rem.iter().find(|e| e.key == key).map(|e| e.value);
            let Some(kid) = self.child(n, &mut rem, false) else { break };
            trail.push((n, via));
            n = kid;
        }
        // Free the nodes left empty, from the deepest up.
        let mut child = n;
        for &(parent, via) in trail.iter().rev() {
            if !self.nodes[child].is_empty() {
                break;
            }
            self.nodes[child] = Node::new();
            self.free.push(child as u32);
            let p = &mut self.nodes[parent];
            match via {
                Some(v) => p.table.remove(v),
                None => p.other = NONE,
            }
            if p.table.is_empty() && p.other == NONE {
                p.key = None;
            }
            child = parent;
        }
        let root = &mut self.nodes[0];
        if root.table.is_empty() && root.other == NONE {
            root.key = None;
        }
    }

    /// The owners whose filter accepts `pkt` (`wire_len`: its length on the wire), sorted and
    /// deduplicated, into `out` (cleared first). A fault is a fault of a filter kept whole:
    /// for a verified program, a verifier or interpreter bug.
    pub fn run(
        &self,
        s: &mut Scratch,
        pkt: &[u8],
        wire_len: u32,
        out: &mut Vec<Owner>,
    ) -> Result<(), Fault> {
        out.clear();
        let wire = u64::from(wire_len);
        s.stack.clear();
        s.stack.push(0);
        while let Some(n) = s.stack.pop() {
            let node = &self.nodes[n as usize];
            for leaf in &node.leaves {
                if leaf.pending.iter().all(|e| e.key.fetch(pkt) == Some(e.value))
                    && leaf.rule.residual_holds(pkt, wire)
                {
                    out.extend(leaf.members.iter().map(|m| m.1));
                }
            }
            if let Some(key) = node.key {
                if node.other != NONE {
                    s.stack.push(node.other);
                }
                if let Some(v) = key.fetch(pkt)
                    && let Some(kid) = node.table.get(v)
                {
                    s.stack.push(kid);
                }
            }
        }
        self.run_whole(s, pkt, wire_len, out)?;
        groups::sort_owners(out);
        Ok(())
    }

    /// Appends the owners of the filters kept whole that accept `pkt`.
    pub(super) fn run_whole(
        &self,
        s: &mut Scratch,
        pkt: &[u8],
        wire_len: u32,
        out: &mut Vec<Owner>,
    ) -> Result<(), Fault> {
        for w in &self.whole {
            let opts = RunOptions { budget: w.budget, r3: u64::from(wire_len) };
            let code = match &w.native {
                #[cfg(feature = "std")]
                Some(WholeCode::Filter(f)) => {
                    if f.run(pkt, u64::from(wire_len))? != 0 {
                        out.extend_from_slice(&w.owners);
                    }
                    continue;
                }
                Some(WholeCode::Program(native)) => Runnable::Native(native),
                None => Runnable::Interp(&w.code),
            };
            let r0 = code.run_with(&mut s.vm, Context::ReadOnly(pkt), &mut NoHelpers, &opts)?.r0;
            if r0 != 0 {
                out.extend_from_slice(&w.owners);
            }
        }
        Ok(())
    }
}

/// The values a node's field may take, each with its child: up to [`SMALL`] entries scanned
/// in a row, beyond that also indexed by an open-addressing hash table (one probe or a few, not
/// one compare per value).
#[derive(Clone, Debug, Default)]
struct Table {
    /// `(value, child)`, in one allocation (a lookup touches one array).
    entries: Vec<(u64, u32)>,
    /// Power-of-two slots, each `NONE` or an index into `entries` (empty while small).
    slots: Vec<u32>,
}

/// Tables up to this size are scanned.
const SMALL: usize = 8;

impl Table {
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn slot(&self, v: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    #[inline]
    fn get(&self, v: u64) -> Option<u32> {
        if self.slots.is_empty() {
            return self.entries.iter().find(|e| e.0 == v).map(|e| e.1);
        }
        let mask = self.slots.len() - 1;
        let mut h = self.slot(v);
        loop {
            let i = self.slots[h];
            if i == NONE {
                return None;
            }
            let e = self.entries[i as usize];
            if e.0 == v {
                return Some(e.1);
            }
            h = (h + 1) & mask;
        }
    }

    /// Adds `v` (not present).
    fn insert(&mut self, v: u64, kid: u32) {
        self.entries.push((v, kid));
        let n = self.entries.len();
        if n <= SMALL {
            return;
        }
        if self.slots.len() < 2 * n {
            self.rehash();
        } else {
            self.place(n - 1);
        }
    }

    fn place(&mut self, i: usize) {
        let mask = self.slots.len() - 1;
        let mut h = self.slot(self.entries[i].0);
        while self.slots[h] != NONE {
            h = (h + 1) & mask;
        }
        self.slots[h] = i as u32;
    }

    fn rehash(&mut self) {
        self.slots.clear();
        if self.entries.len() <= SMALL {
            return;
        }
        let size = (4 * self.entries.len()).next_power_of_two();
        self.slots.resize(size, NONE);
        for i in 0..self.entries.len() {
            self.place(i);
        }
    }

    /// Removes `v` if present.
    fn remove(&mut self, v: u64) {
        let Some(i) = self.entries.iter().position(|e| e.0 == v) else { return };
        self.entries.swap_remove(i);
        // Open addressing without tombstones: rebuild (removal is the rare operation).
        self.rehash();
    }
}

/// An equality as a residual test.
fn eq_atom(e: EqAtom) -> Atom {
    Atom {
        width: udf_bytecode::Width::W64,
        cond: udf_bytecode::JmpCond::Eq,
        a: Val::Load {
            base: e.key.base,
            off: e.key.off,
            size: e.key.size,
            be: true,
            mask: e.key.mask,
        },
        b: Val::Const(e.value),
        holds: true,
    }
}
