//! udfkit's file-system corpus harness (issue 5): builds ext2/3/4 and FAT images from generated
//! trees with the real tools (e2fsprogs, dosfstools, mtools), reads them back in plain Rust, and
//! follows the owns-udfs of `corpus/fs/*.udf` over them through a function the caller supplies.
//!
//! ```text
//! tree ──mke2fs -d, debugfs -w──► ext image ──ext::ExtImage──► inodes, blocks ──walk──► owned
//!                                           └──debugfs blocks/stat──► what e2fsprogs lists
//! tree ──mkfs.fat, mmd, mcopy, mdel──► FAT image ──fat::FatVolume──► FAT, chains, directories
//! ```
//!
//! The library is std only and knows nothing of the compiler or the engines: the tests
//! (`tests/ext_images.rs`, `tests/fat_images.rs`) compile the `.udf` files and run every
//! entry on the interpreter and the JIT. A missing tool is an [`Error::ToolMissing`] naming
//! the package to install: nothing is skipped.

pub mod debugfs;
pub mod error;
pub mod ext;
pub mod fat;
pub mod tmp;
pub mod tools;
pub mod tree;
pub mod walk;

pub use error::{Error, Result};
pub use tmp::TempDir;

/// The directory of the `.udf` sources (`corpus/fs`).
pub fn fs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fs")
}
