//! The generator's abstract state: what it knows about registers, stack and context length on
//! every path to the current point, per function and for the whole program.

use alloc::vec::Vec;

use super::*;

// --- Abstract state: what the generator knows on every path to the current point -------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Val {
    /// Not written on some path.
    Uninit,
    /// Written, but nothing usable (pointer on one path, scalar on another; variable offset).
    Junk,
    /// A number, possibly one the verifier can compute (constants and whatever is derived from
    /// them, stack contents).
    Scalar,
    /// A number straight from the input (a context load, the wire length): comparing it with a
    /// constant is decided by the input, never by the verifier alone.
    Input,
    /// The context length (a scalar).
    Len,
    /// Context pointer plus a constant.
    Ctx(i32),
    /// Frame pointer plus a constant.
    Stack(i32),
}

impl Val {
    pub(super) fn is_scalar(self) -> bool {
        matches!(self, Val::Scalar | Val::Input | Val::Len)
    }
    pub(super) fn is_ptr(self) -> bool {
        matches!(self, Val::Ctx(_) | Val::Stack(_))
    }
    pub(super) fn is_ctx(self) -> bool {
        matches!(self, Val::Ctx(_))
    }
    pub(super) fn meet(a: Val, b: Val) -> Val {
        if a == b {
            a
        } else if a == Val::Uninit || b == Val::Uninit {
            Val::Uninit
        } else if a.is_scalar() && b.is_scalar() {
            Val::Scalar
        } else {
            Val::Junk
        }
    }
    /// Whether a callee generated for an argument `self` may be given `actual`.
    pub(super) fn accepts(self, actual: Val) -> bool {
        match self {
            Val::Uninit | Val::Junk => true,
            Val::Scalar => actual.is_scalar(),
            _ => self == actual,
        }
    }
}

/// Stack byte states.
pub(super) const SU: u8 = 0; // not written on some path
pub(super) const SD: u8 = 1; // scalar data on every path
pub(super) const SP: u8 = 2; // part of a whole, aligned pointer spill (`State::spill`)
pub(super) const SX: u8 = 3; // pointer bits on some path: not readable, not partially writable

/// Stack bytes `[r10 - 512, r10 - 448)`: where loop bodies spill pointers.
pub(super) const SPILL_ZONE: usize = 64;

pub(super) fn sidx(a: i32) -> usize {
    (a + 512) as usize
}

#[derive(Clone)]
pub(super) struct State {
    /// No path reaches here (after an `exit`).
    pub(super) dead: bool,
    pub(super) regs: [Val; 11],
    pub(super) stack: [u8; 512],
    pub(super) spill: [Val; 64],
    /// Context length proven on every path (variable contexts).
    pub(super) len_min: u32,
    /// A length a verifier may also know (from `LD_ABS`/`LD_IND` that return on short
    /// packets): flaws reach past it, valid code never relies on it.
    pub(super) len_hint: u32,
}

impl State {
    pub(super) fn entry(regs: [Val; 11]) -> State {
        State {
            dead: false,
            regs,
            stack: [SU; 512],
            spill: [Val::Uninit; 64],
            len_min: 0,
            len_hint: 0,
        }
    }

    pub(super) fn meet(a: &State, b: &State) -> State {
        if a.dead {
            return b.clone();
        }
        if b.dead {
            return a.clone();
        }
        let mut s = a.clone();
        for i in 0..11 {
            s.regs[i] = Val::meet(a.regs[i], b.regs[i]);
        }
        for slot in 0..64 {
            let same = a.spill[slot] == b.spill[slot];
            for i in slot * 8..slot * 8 + 8 {
                let (x, y) = (a.stack[i], b.stack[i]);
                s.stack[i] = if x == y && (x != SP || same) {
                    x
                } else if x == SP || y == SP || x == SX || y == SX {
                    SX
                } else {
                    SU
                };
            }
            if s.stack[slot * 8] != SP {
                s.spill[slot] = Val::Uninit;
            }
        }
        s.len_min = a.len_min.min(b.len_min);
        s.len_hint = a.len_hint.min(b.len_hint);
        s
    }
}

/// The function being generated.
pub(super) struct FnCtx {
    pub(super) b: Builder,
    pub(super) st: State,
    /// `out: r0 = 0; exit`, emitted after the function's exit if used.
    pub(super) out: Label,
    pub(super) out_used: bool,
    pub(super) depth: usize,
    /// 1 + the height of the deepest callee.
    pub(super) height: usize,
    /// State at the head of each enclosing loop: the body may not change the kind of what is
    /// initialised there (so every iteration sees what the first one did).
    pub(super) heads: Vec<State>,
    /// Registers the enclosing templates rely on (loop counters and bounds).
    pub(super) pinned: u16,
    /// Stack bytes written on some path so far (for planting uninitialised reads).
    pub(super) touched: [bool; 512],
    pub(super) loop_depth: usize,
    pub(super) arm_depth: usize,
    /// The furthest end of a legacy load here or in a callee: past a call, a verifier may
    /// know the packet is at least this long (shorter, the program returned).
    pub(super) legacy_end: u32,
}

impl FnCtx {
    pub(super) fn new(depth: usize, st: State) -> FnCtx {
        let mut b = Builder::default();
        let out = b.label();
        FnCtx {
            b,
            st,
            out,
            out_used: false,
            depth,
            height: 1,
            heads: Vec::new(),
            pinned: 0,
            touched: [false; 512],
            loop_depth: 0,
            arm_depth: 0,
            legacy_end: 0,
        }
    }
    pub(super) fn reg(&self, r: Reg) -> Val {
        self.st.regs[r.index()]
    }
    pub(super) fn set(&mut self, r: Reg, v: Val) {
        self.st.regs[r.index()] = v;
    }
    /// Code here runs whenever the entry is reached and the input gets this far.
    pub(super) fn uncond(&self) -> bool {
        self.depth == 0 && self.loop_depth == 0 && self.arm_depth == 0
    }
}

pub(super) struct FuncOut {
    pub(super) b: Builder,
    /// What the body assumed of `r1`-`r5` (index 1-5).
    pub(super) args: [Val; 6],
    pub(super) height: usize,
    pub(super) legacy_end: u32,
    /// Not to be reused by [`Gen::t_call`] (its body relies on more than its arguments).
    pub(super) private: bool,
}

pub(super) struct Gen<'r> {
    pub(super) rng: &'r mut Rng,
    pub(super) ty: ProgramType,
    pub(super) fixed: Option<u32>,
    pub(super) legacy: bool,
    pub(super) emit_helper: bool,
    pub(super) ctx_writable: bool,
    pub(super) limit: usize,
    /// Finished functions by id (0 = main, filled last).
    pub(super) funcs: Vec<Option<FuncOut>>,
    pub(super) done_len: usize,
    /// Instructions of callers whose generation is suspended.
    pub(super) open_len: usize,
    pub(super) want: Option<Flaw>,
    pub(super) force: bool,
    pub(super) flaw: Option<Flaw>,
    pub(super) leak_at_exit: bool,
    pub(super) feats: Features,
    pub(super) focus: Option<Hazard>,
    pub(super) unproven: u32,
}

/// The productions [`Gen::step`] picks from, one per template method (`t_*`) or hazard.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Template {
    Const,
    Arith,
    CtxRead,
    Header,
    Legacy,
    Store,
    Load,
    Spill,
    Fill,
    StackPtr,
    Atomic,
    Loop,
    Diamond,
    Helper,
    Call,
    EarlyOut,
    CtxWrite,
    FlawOnly,
    Hazard(Hazard),
}

/// How a counted loop may index memory with its counter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Index {
    None,
    /// Read `e`-byte elements of an initialised `n`-byte stack array at `r10 + b`.
    StackRead {
        b: i32,
        e: u32,
        n: u32,
    },
    /// Write `e`-byte elements of an `n`-byte stack array at `r10 + b`.
    StackWrite {
        b: i32,
        e: u32,
        n: u32,
    },
    /// Read `e`-byte elements at context offset `a` (checked before the loop if variable).
    Ctx {
        a: u32,
        e: u32,
    },
    /// The same, checked against the length in every iteration (variable contexts).
    CtxChecked {
        a: u32,
        e: u32,
        slack: i32,
    },
}
