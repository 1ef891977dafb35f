//! What the JIT's test targets share.

use udf_runtime::{Extent, Fault};

/// Everything a run leaves behind: the result (`r0` and, where counted, the instructions
/// executed; or the fault), the extents emitted, and the context and stack bytes afterwards.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub result: Result<(u64, Option<u64>), Fault>,
    pub extents: Vec<Extent>,
    pub ctx: Vec<u8>,
    pub stack: Vec<u8>,
}
