//! The facts section: what the toolchain's verifier proved, as the package stores it, and its
//! comparison with what the kernel's verifier recomputes.

use alloc::vec::Vec;
use core::fmt;

use udf_verifier::{Access, Facts};

use super::sat32;

/// A loop and its proven bound, as the facts section stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopEntry {
    /// Index of the head.
    pub head: u32,
    /// Index of the last instruction.
    pub tail: u32,
    /// Most iterations of one execution of the loop.
    pub max_iterations: u64,
}

/// The facts section: what the toolchain's verifier proved. A kernel never trusts it; it
/// recomputes the facts and compares ([`FactsSection::disagreement`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactsSection {
    /// Most instructions any run executes.
    pub max_insns: u64,
    /// Most extents any run emits.
    pub max_extents: u64,
    /// Bytes of the deepest stack frame written.
    pub stack_use: u32,
    /// Most frames live at once.
    pub max_frames: u32,
    /// Loops with their bounds.
    pub loops: Vec<LoopEntry>,
    /// Per instruction, the memory it touches.
    pub access: Vec<Access>,
}

/// A field of the facts, named when a package's facts and the kernel's disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactsField {
    /// `max_insns`.
    MaxInsns,
    /// `max_extents`.
    MaxExtents,
    /// `stack_use`.
    StackUse,
    /// `max_frames`.
    MaxFrames,
    /// `loops`.
    Loops,
    /// `access`.
    Access,
}

impl FactsField {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            FactsField::MaxInsns => "max_insns",
            FactsField::MaxExtents => "max_extents",
            FactsField::StackUse => "stack_use",
            FactsField::MaxFrames => "max_frames",
            FactsField::Loops => "loops",
            FactsField::Access => "access",
        }
    }
}

impl fmt::Display for FactsField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FactsSection {
    /// The section for facts the verifier computed.
    pub fn from_facts(facts: &Facts) -> FactsSection {
        FactsSection {
            max_insns: facts.max_insns,
            max_extents: facts.max_extents,
            stack_use: facts.stack_use,
            max_frames: sat32(facts.max_frames),
            loops: facts
                .loops
                .iter()
                .map(|l| LoopEntry {
                    head: sat32(l.head),
                    tail: sat32(l.tail),
                    max_iterations: l.max_iterations,
                })
                .collect(),
            access: facts.access.clone(),
        }
    }

    /// The first field (in the section's order) where these facts and `facts` differ, or
    /// `None` when they agree on every field the section holds. Compared without narrowing.
    pub fn disagreement(&self, facts: &Facts) -> Option<FactsField> {
        let loops_agree = self.loops.len() == facts.loops.len()
            && self.loops.iter().zip(&facts.loops).all(|(a, b)| {
                usize::try_from(a.head).ok() == Some(b.head)
                    && usize::try_from(a.tail).ok() == Some(b.tail)
                    && a.max_iterations == b.max_iterations
            });
        if self.max_insns != facts.max_insns {
            Some(FactsField::MaxInsns)
        } else if self.max_extents != facts.max_extents {
            Some(FactsField::MaxExtents)
        } else if self.stack_use != facts.stack_use {
            Some(FactsField::StackUse)
        } else if usize::try_from(self.max_frames).ok() != Some(facts.max_frames) {
            Some(FactsField::MaxFrames)
        } else if !loops_agree {
            Some(FactsField::Loops)
        } else if self.access != facts.access {
            Some(FactsField::Access)
        } else {
            None
        }
    }
}

pub(super) fn access_from_byte(b: u8) -> Option<Access> {
    match b {
        0 => Some(Access::None),
        1 => Some(Access::Ctx),
        2 => Some(Access::Stack),
        3 => Some(Access::Either),
        _ => None,
    }
}

pub(super) fn access_byte(a: Access) -> u8 {
    match a {
        Access::None => 0,
        Access::Ctx => 1,
        Access::Stack => 2,
        Access::Either => 3,
    }
}
