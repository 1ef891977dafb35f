//! The decision graph and its optimiser.
//!
//! A formula becomes a graph of tests (each with a "yes" and a "no" successor) ending in accept
//! or reject, built by continuation passing so nothing is duplicated, and hash-consed so equal
//! subgraphs are one. The optimiser then threads jumps as libpcap's does: along each edge it
//! knows the outcome of the tests on every path to that edge (facts, intersected where paths
//! meet), and an edge into a test those facts decide goes straight to the decided successor. A
//! test whose two successors are the same disappears, with its load (as in libpcap's optimised
//! code, a load nobody needs is not made). Repeated to a fixpoint.

use std::collections::HashMap;

use crate::ast::ArithOp;
use crate::codegen::{Cond, F, Test, V};

/// A node: a test, or the end of the filter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    Test { test: Test, yes: usize, no: usize },
    Accept,
    Reject,
}

/// Nodes in creation order: a test's successors always come before it (so decreasing index is
/// a topological order).
#[derive(Clone, Debug)]
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    pub root: usize,
}

impl Graph {
    /// Whether some path reaches accept (probes alone do not make a filter that can match).
    pub(crate) fn accepts(&self) -> bool {
        reachable(&self.nodes, self.root)[ACCEPT]
    }
}

/// Which nodes `root` reaches (successors come before their tests, so one backward sweep).
fn reachable(nodes: &[Node], root: usize) -> Vec<bool> {
    let mut reach = vec![false; nodes.len()];
    reach[root] = true;
    for i in (0..nodes.len()).rev() {
        if reach[i]
            && let Node::Test { yes, no, .. } = nodes[i]
        {
            reach[yes] = true;
            reach[no] = true;
        }
    }
    reach
}

pub(crate) const ACCEPT: usize = 0;
pub(crate) const REJECT: usize = 1;

struct Builder {
    nodes: Vec<Node>,
    memo: HashMap<Node, usize>,
}

impl Builder {
    fn new() -> Builder {
        let mut b = Builder { nodes: Vec::new(), memo: HashMap::new() };
        b.add(Node::Accept);
        b.add(Node::Reject);
        b
    }

    fn add(&mut self, n: Node) -> usize {
        let n = match n {
            // A test both of whose outcomes go the same way still reads the packet, and a read
            // past the captured bytes rejects it: keep the read as a probe (`v & 0`, never
            // set), unless the value reads nothing.
            Node::Test { test, yes, no } if yes == no => {
                if !reads_packet(&test.v) {
                    return yes;
                }
                Node::Test { test: probe(test.v), yes, no }
            }
            n => n,
        };
        if let Some(&i) = self.memo.get(&n) {
            return i;
        }
        self.nodes.push(n.clone());
        self.memo.insert(n, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    fn build(&mut self, f: &F, yes: usize, no: usize) -> usize {
        match f {
            F::Const(true) => yes,
            F::Const(false) => no,
            F::Test(t) => match decide_const(t) {
                Some(true) => yes,
                Some(false) => no,
                None => {
                    let (test, yes, no) = canonical(t, yes, no);
                    self.add(Node::Test { test, yes, no })
                }
            },
            F::And(a, b) => {
                let rest = self.build(b, yes, no);
                self.build(a, rest, no)
            }
            F::Or(a, b) => {
                let rest = self.build(b, yes, no);
                self.build(a, yes, rest)
            }
            F::Not(a) => self.build(a, no, yes),
        }
    }
}

/// The graph of a formula, optimised.
pub(crate) fn graph(f: &F) -> Graph {
    let mut b = Builder::new();
    let root = b.build(f, ACCEPT, REJECT);
    let mut g = Graph { nodes: b.nodes, root };
    for _ in 0..32 {
        let changed = thread(&mut g);
        g = rebuild(&g);
        if !changed {
            break;
        }
    }
    g
}

/// A fact: a test (by its number in [`Tests`]) and its outcome.
type Fact = (u32, bool);

/// The distinct tests of a graph, numbered, with a number per distinct value they test (so
/// facts are compared as numbers, not trees).
struct Tests<'a> {
    tests: Vec<&'a Test>,
    value: Vec<u32>,
}

/// One jump-threading pass; whether any edge moved.
fn thread(g: &mut Graph) -> bool {
    let n = g.nodes.len();
    let mut table = Tests { tests: Vec::new(), value: Vec::new() };
    let mut test_ids: HashMap<&Test, u32> = HashMap::new();
    let mut value_ids: HashMap<&V, u32> = HashMap::new();
    let mut id = vec![u32::MAX; n];
    let mut succ = vec![[0usize; 2]; n];
    for (i, node) in g.nodes.iter().enumerate() {
        if let Node::Test { test, yes, no } = node {
            let next = table.tests.len() as u32;
            id[i] = *test_ids.entry(test).or_insert_with(|| {
                table.tests.push(test);
                let nv = value_ids.len() as u32;
                table.value.push(*value_ids.entry(&test.v).or_insert(nv));
                next
            });
            succ[i] = [*yes, *no];
        }
    }
    let mut facts: Vec<Option<Vec<Fact>>> = vec![None; n];
    facts[g.root] = Some(Vec::new());
    let mut changed = false;
    for i in (0..n).rev() {
        let Some(fin) = facts[i].take() else { continue };
        if id[i] == u32::MAX {
            continue;
        }
        for (k, outcome) in [true, false].into_iter().enumerate() {
            let mut edge = fin.clone();
            edge.push((id[i], outcome));
            let mut s = succ[i][k];
            while id[s] != u32::MAX {
                match decide(&edge, id[s], &table) {
                    Some(true) => s = succ[s][0],
                    Some(false) => s = succ[s][1],
                    None => break,
                }
            }
            if s != succ[i][k] {
                succ[i][k] = s;
                changed = true;
            }
            facts[s] = Some(match facts[s].take() {
                None => edge,
                Some(prev) => prev.into_iter().filter(|f| edge.contains(f)).collect(),
            });
        }
    }
    if changed {
        for (node, [y, n]) in g.nodes.iter_mut().zip(succ) {
            if let Node::Test { yes, no, .. } = node {
                *yes = y;
                *no = n;
            }
        }
    }
    changed
}

/// The reachable part of a graph, renumbered, hash-consed, with tests whose successors agree
/// removed.
fn rebuild(g: &Graph) -> Graph {
    let mut b = Builder::new();
    let mut map: HashMap<usize, usize> = HashMap::new();
    for i in 0..g.nodes.len() {
        let new = match &g.nodes[i] {
            Node::Accept => ACCEPT,
            Node::Reject => REJECT,
            Node::Test { test, yes, no } => {
                let (Some(&y), Some(&n)) = (map.get(yes), map.get(no)) else {
                    continue;
                };
                b.add(Node::Test { test: test.clone(), yes: y, no: n })
            }
        };
        map.insert(i, new);
    }
    let root = map[&g.root];
    // Keep only what the root reaches.
    let reach = reachable(&b.nodes, root);
    let mut out = Builder::new();
    let mut remap: HashMap<usize, usize> = HashMap::from([(ACCEPT, ACCEPT), (REJECT, REJECT)]);
    for (i, node) in b.nodes.iter().enumerate().skip(2) {
        if !reach[i] {
            continue;
        }
        if let Node::Test { test, yes, no } = node {
            let id = out.add(Node::Test { test: test.clone(), yes: remap[yes], no: remap[no] });
            remap.insert(i, id);
        }
    }
    Graph { root: remap[&root], nodes: out.nodes }
}

/// `(v & m) == 0` is `v & m` not set, and `(v & bit) == bit` is `v & bit` set: one jump
/// instead of an `and` and a jump, as libpcap's optimiser makes it.
fn canonical(t: &Test, yes: usize, no: usize) -> (Test, usize, usize) {
    if t.cond == Cond::Eq
        && let (V::Alu(ArithOp::And, inner, m), V::K(k)) = (&t.v, &t.rhs)
        && let V::K(m) = **m
    {
        let set = |yes, no| (Test { v: (**inner).clone(), cond: Cond::Set, rhs: V::K(m) }, yes, no);
        if *k == 0 {
            return set(no, yes);
        }
        if *k == m && m.is_power_of_two() {
            return set(yes, no);
        }
    }
    (t.clone(), yes, no)
}

/// Whether computing `v` loads packet bytes (or stores a scratch word).
fn reads_packet(v: &V) -> bool {
    match v {
        V::K(_) | V::Len | V::Mem(_) => false,
        // A store is kept as a read is: what follows reads the scratch word.
        V::St(..) => true,
        V::Ld { .. }
        | V::LdX { .. }
        | V::Msh(_)
        | V::Chain { .. }
        | V::WlanHdr(_)
        | V::WlanPl(_) => true,
        V::Alu(_, a, b) => reads_packet(a) || reads_packet(b),
        V::Neg(a) => reads_packet(a),
    }
}

/// The probe of a value: computes it (so its loads happen) and decides nothing.
fn probe(v: V) -> Test {
    Test { v, cond: Cond::Set, rhs: V::K(0) }
}

fn is_probe(t: &Test) -> bool {
    t.cond == Cond::Set && t.rhs == V::K(0)
}

/// A test on constants.
fn decide_const(t: &Test) -> Option<bool> {
    match (&t.v, &t.rhs) {
        (V::K(a), V::K(b)) => Some(eval(t.cond, *a, *b)),
        _ => None,
    }
}

fn eval(c: Cond, a: u32, b: u32) -> bool {
    match c {
        Cond::Eq => a == b,
        Cond::Gt => a > b,
        Cond::Ge => a >= b,
        Cond::Set => a & b != 0,
    }
}

/// What the facts say about a test, if anything.
fn decide(facts: &[Fact], tid: u32, table: &Tests<'_>) -> Option<bool> {
    let t = table.tests[tid as usize];
    let tv = table.value[tid as usize];
    if let Some(r) = decide_const(t) {
        return Some(r);
    }
    if is_probe(t) {
        // Skippable only where the same value was computed before on every path (its bytes
        // are known to be captured).
        return facts.iter().any(|&(f, _)| table.value[f as usize] == tv).then_some(false);
    }
    let V::K(b) = t.rhs else {
        return facts.iter().find(|&&(f, _)| f == tid).map(|&(_, o)| o);
    };
    // The range of values the facts leave, and bits known clear.
    let (mut lo, mut hi) = (0u32, u32::MAX);
    let mut clear = 0u32;
    let mut set_any: Vec<u32> = Vec::new();
    // Only facts about this value decide it: a test that is true of every value (`x >= 0`)
    // still reads the packet, and a read past the captured bytes rejects it.
    let mut known = false;
    for &(fid, o) in facts {
        if table.value[fid as usize] != tv {
            continue;
        }
        known = true;
        if fid == tid {
            return Some(o);
        }
        let f = table.tests[fid as usize];
        let V::K(a) = f.rhs else { continue };
        match (f.cond, o) {
            (Cond::Eq, true) => return Some(eval(t.cond, a, b)),
            (Cond::Eq, false) => {
                if t.cond == Cond::Eq && a == b {
                    return Some(false);
                }
            }
            (Cond::Gt, true) => lo = lo.max(a.saturating_add(1)),
            (Cond::Gt, false) => hi = hi.min(a),
            (Cond::Ge, true) => lo = lo.max(a),
            (Cond::Ge, false) => hi = hi.min(a.saturating_sub(1)),
            (Cond::Set, false) => clear |= a,
            (Cond::Set, true) => set_any.push(a),
        }
    }
    if !known {
        return None;
    }
    match t.cond {
        Cond::Eq => {
            if b < lo || b > hi || b & clear != 0 {
                return Some(false);
            }
        }
        Cond::Gt => {
            if lo > b {
                return Some(true);
            }
            if hi <= b {
                return Some(false);
            }
        }
        Cond::Ge => {
            if lo >= b {
                return Some(true);
            }
            if hi < b {
                return Some(false);
            }
        }
        Cond::Set => {
            if b & !clear == 0 {
                return Some(false);
            }
            if set_any.iter().any(|&m| m & !b == 0) {
                return Some(true);
            }
        }
    }
    None
}
