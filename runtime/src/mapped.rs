//! A file's bytes, memory-mapped read-only: how `udf filter` reads a capture without copying it
//! (the command line has no `unsafe` of its own).

use std::fs::File;
use std::io;

/// The bytes of a regular file, mapped read-only and private (empty files map to no bytes).
///
/// The bytes are those of the file as it is while mapped: a process that rewrites the file
/// meanwhile changes what is read (every byte read is still within the mapping), and one that
/// truncates it makes the reads past its new end fault (`SIGBUS`), as for any reader of a mapped
/// file. Readers that must not depend on that read the file into memory instead.
#[derive(Debug)]
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    /// Maps `file` (a regular file; anything else is an error of kind `Unsupported`).
    pub fn map(file: &File) -> io::Result<MappedFile> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "not a regular file"));
        }
        if meta.len() == 0 {
            return Ok(MappedFile { map: None });
        }
        // SAFETY: a read-only private mapping of a whole file, from its start; the mapping
        // lives as long as `self`, and the slices handed out borrow `self`. memmap2's caveat
        // (another process changing the file while it is mapped) is the one the type's
        // documentation states: it changes the bytes read, never where they are read.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().populate().map_copy_read_only(file)? };
        Ok(MappedFile { map: Some(map) })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Hints that `bytes[at]` will be read soon (a prefetch into the cache; nothing when `at` is
/// past the end, or on targets without the instruction). It never faults and changes nothing.
#[inline(always)]
pub fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at) {
        // SAFETY: a prefetch reads nothing architecturally and never faults; SSE is part of the
        // x86-64 baseline; the address is of a live byte of `bytes` anyway.
        #[allow(unsafe_code)]
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                core::ptr::from_ref(b).cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_files_and_refuses_the_rest() {
        let dir = std::env::temp_dir().join(format!("udf-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let m = MappedFile::map(&File::open(&path).unwrap()).unwrap();
        assert_eq!(m.bytes(), &bytes[..]);
        // Prefetching anywhere, in or past the file, changes nothing.
        for at in [0, 9_999, 10_000, usize::MAX] {
            prefetch(m.bytes(), at);
        }
        assert_eq!(m.bytes(), &bytes[..]);
        std::fs::write(&path, b"").unwrap();
        let empty = MappedFile::map(&File::open(&path).unwrap()).unwrap();
        assert!(empty.bytes().is_empty());
        let e = MappedFile::map(&File::open(&dir).unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
