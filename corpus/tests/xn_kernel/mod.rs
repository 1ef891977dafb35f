//! Shared by the XN tests: the corpus's ext owns-udfs (and any other corpus files a test
//! names), compiled and installed through the kernel's loader as bytecode.

use std::path::Path;

use udf_kernel_glue::Table;

/// A table holding the entries of `ext2.udf`, `ext4.udf` and `extra` (files of `corpus/fs/`).
pub fn kernel_with(extra: &[&str]) -> Table {
    let mut table = Table::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fs");
    for file in ["ext2.udf", "ext4.udf"].iter().chain(extra) {
        let module = udf_compiler::compile_file(&dir.join(file))
            .unwrap_or_else(|d| panic!("{file}: {}", d.render()));
        for e in module.entries {
            table
                .install_bytecode(&e.name, e.ty, e.ctx_size, &e.prog)
                .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        }
    }
    table
}

/// The ext owns-udfs alone.
#[allow(dead_code)] // not every test file uses both
pub fn kernel() -> Table {
    kernel_with(&[])
}
