//! Helpers: the functions a program may `call`, supplied by whoever runs it through the
//! [`Helpers`] table. The engine passes `r1`-`r5` and puts the result in `r0`.

use alloc::vec::Vec;

/// What a helper call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperReturn {
    /// Continue with this value in `r0`.
    Value(u64),
    /// Stop the program now with this value in `r0` (as uBPF's "unwind" helper does).
    Stop(u64),
}

/// Why a helper call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperError {
    /// The table has no helper with this id.
    Unknown,
    /// The helper refused (e.g. an argument out of range); the run faults.
    Failed(&'static str),
}

/// A table of helpers, indexed by id.
pub trait Helpers {
    /// Calls helper `id` with `args` (`r1`-`r5`).
    fn call(&mut self, id: u64, args: [u64; 5]) -> Result<HelperReturn, HelperError>;
}

/// The empty table.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHelpers;

impl Helpers for NoHelpers {
    fn call(&mut self, _id: u64, _args: [u64; 5]) -> Result<HelperReturn, HelperError> {
        Err(HelperError::Unknown)
    }
}

/// An extent of disk blocks an `owns` program emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Extent {
    /// First block.
    pub start: u64,
    /// Number of blocks.
    pub count: u64,
    /// Kind (an index into the template's extent kinds).
    pub kind: u32,
}

/// The helper table of `owns` programs: `emit` (id 1) records extents in order.
#[derive(Clone, Debug, Default)]
pub struct EmitHelpers {
    /// What was emitted, in order.
    pub extents: Vec<Extent>,
    /// Most extents one run may emit.
    pub limit: usize,
}

impl EmitHelpers {
    /// An empty recorder allowing up to `limit` extents.
    pub fn new(limit: usize) -> EmitHelpers {
        EmitHelpers { extents: Vec::new(), limit }
    }
}

impl Helpers for EmitHelpers {
    #[inline]
    fn call(&mut self, id: u64, args: [u64; 5]) -> Result<HelperReturn, HelperError> {
        if id != u64::from(udf_bytecode::progtype::HELPER_EMIT.id) {
            return Err(HelperError::Unknown);
        }
        let kind = u32::try_from(args[2])
            .map_err(|_| HelperError::Failed("extent kind does not fit in u32"))?;
        if args[0].checked_add(args[1]).is_none() {
            return Err(HelperError::Failed("extent start + count overflows"));
        }
        if self.extents.len() >= self.limit {
            return Err(HelperError::Failed("too many extents emitted"));
        }
        self.extents.push(Extent { start: args[0], count: args[1], kind });
        Ok(HelperReturn::Value(0))
    }
}
