//! Printing runs as `udf run` does. The typed runner itself (context, helper table, `r3`, the
//! host JIT) lives in [`udf_filetests::typed`], shared with the test files.

pub use udf_filetests::typed::{
    MAX_EXTENTS, Runnable, TypedRun, jit, jit_checked, run_code, run_typed, run_typed_native,
};
use udf_runtime::Extent;

/// Prints a run as `udf run` does: `r0 = VALUE`, then one `extent START COUNT KIND` line per
/// extent; with `json`, one object holding `r0`, `extents` and the fields of `extra`.
pub fn print_run(json: bool, r0: u64, extents: &[Extent], extra: &[(&str, serde_json::Value)]) {
    if json {
        let extents: Vec<_> = extents
            .iter()
            .map(|e| serde_json::json!({"start": e.start, "count": e.count, "kind": e.kind}))
            .collect();
        let mut obj = serde_json::Map::new();
        obj.insert("r0".into(), r0.into());
        obj.insert("extents".into(), extents.into());
        for (k, v) in extra {
            obj.insert((*k).into(), v.clone());
        }
        crate::output::emit(serde_json::Value::Object(obj));
    } else {
        println!("r0 = {r0}");
        for e in extents {
            println!("extent {} {} {}", e.start, e.count, e.kind);
        }
    }
}
