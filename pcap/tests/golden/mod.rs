//! Golden files: `pcap/tests/golden/<set>/*.txt`, each an input (`# ` comment lines, `name: value`
//! lines, then the body, e.g. a program) followed, after a `--- expected` line, by the output
//! the test must produce from it. With `UDF_BLESS=1` a test rewrites the expected part from the
//! actual output instead of failing (then review the change with `git diff`).

use std::path::{Path, PathBuf};

/// The line between a golden file's input and its expected output.
pub const EXPECTED: &str = "--- expected\n";

/// One golden file.
pub struct Golden {
    /// Where it is.
    pub path: PathBuf,
    /// Its input: everything before the `--- expected` line.
    pub input: String,
    /// The expected output: everything after it.
    pub expected: String,
}

impl Golden {
    /// The value of the input's `name: value` line.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.input.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    }

    /// The input's lines that are neither comments nor `name: value` fields.
    pub fn body(&self) -> impl Iterator<Item = &str> {
        self.input.lines().filter(|l| !l.starts_with('#') && !l.is_empty() && !is_field(l))
    }

    /// Asserts `actual` is the expected output; with `UDF_BLESS=1`, writes it as the expected
    /// output instead.
    pub fn check(&self, actual: &str, what: &str) {
        if actual == self.expected {
            return;
        }
        if blessing() {
            std::fs::write(&self.path, format!("{}{EXPECTED}{actual}", self.input))
                .unwrap_or_else(|e| panic!("{}: {e}", self.path.display()));
            eprintln!("blessed {}", self.path.display());
            return;
        }
        assert_eq!(
            actual,
            self.expected,
            "{what} ({}; UDF_BLESS=1 rewrites it)",
            self.path.display()
        );
    }
}

fn is_field(line: &str) -> bool {
    line.split_once(": ")
        .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Whether `UDF_BLESS=1` asks tests to rewrite their golden files.
pub fn blessing() -> bool {
    std::env::var_os("UDF_BLESS").is_some_and(|v| v == "1")
}

/// The golden files of `set`, by file name; panics when there are none.
pub fn load(set: &str) -> Vec<Golden> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(set);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no golden files in {}", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let at = text
                .find(EXPECTED)
                .filter(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
                .unwrap_or_else(|| panic!("{}: no `{}` line", path.display(), EXPECTED.trim()));
            Golden {
                input: text[..at].to_string(),
                expected: text[at + EXPECTED.len()..].to_string(),
                path,
            }
        })
        .collect()
}
