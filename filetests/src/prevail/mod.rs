//! PREVAIL verifier test cases (`test-data/*.yaml` of the PREVAIL eBPF verifier) read into
//! udfkit's types.
//!
//! - [`read_file`]: a YAML stream, one [`Case`] per `---` document ([`yaml`]);
//! - [`assemble`] / [`assemble_with`]: PREVAIL's assembly text to a [`udf_bytecode::Program`]
//!   ([`mod@asm`]);
//! - [`parse_pre`]: the assumed entry state (`pre`) to a per-register [`Pre`] ([`pre`]);
//! - [`unsupported_option`]: the `options` udfkit cannot model.
//!
//! What PREVAIL's test runner does with a case, as far as a caller comparing verdicts needs it:
//!
//! - It runs the analysis from `pre` alone (`setup_constraints` is off): nothing is set up for
//!   `r1` or `r10`, see [`parse_pre`].
//! - `must_have_exit` is off: a fragment may end without `exit`; falling off its end reaches the
//!   exit label *without* the check an `exit` instruction makes (at the top frame, `exit`
//!   asserts that `r0` is a number). [`assemble`] appends an `exit` there; its pc is
//!   [`Assembled::appended_exit`], so a caller can waive the `r0` check on it.
//! - The messages compared are the *first* error found (`"PC: text (assertion)"`) plus one
//!   `"Code becomes unreachable"` note per branch proven dead, plus failed `observe` checks;
//!   [`Case::expects_reject`] reads a verdict from them.
//! - Options: division by zero is allowed (BPF semantics: `x / 0 = 0`, `x % 0 = x`) unless
//!   `!allow_division_by_zero`; loops need not terminate unless `termination` (which
//!   instruments loop heads with a bounded counter); `simplify` only merges basic blocks for
//!   printing; `big_endian` flips the byte order of memory and of `be`/`le`.
//! - The context of every case is 64 bytes, with a packet `data` pointer at offset 0 and
//!   `data_end` at offset 4 (no `data_meta`); helpers are Linux's, by number.
//! - The stack is 8 frames of 512 bytes (`stack_offset` 0 to 4096); a local call moves `r10`
//!   down by 512. An access through a stack pointer must lie in
//!   `[r10.stack_offset - 512, 4096)`, and a read must hit bytes known to hold numbers.

pub mod asm;
pub mod judge;
pub mod pre;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use asm::{Assembled, AssumeMode, assemble, assemble_with};
pub use pre::{Pre, RegPre, parse_pre};
pub use yaml::{parse_str, read_file};

/// One PREVAIL test case: a YAML document of a test-data file, fields as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Case {
    /// The file it came from.
    pub file: PathBuf,
    /// `test-case`: its name.
    pub name: String,
    /// `options` (absent: empty).
    pub options: Vec<String>,
    /// `pre`: the facts assumed on entry, e.g. `r1.type=number`, `r1.svalue=[0, 5]`.
    pub pre: Vec<String>,
    /// `code`: `(label, text block)` in document order. The first block is the entry, whatever
    /// its label (usually `<start>`, though the schema's requirement is not enforced by PREVAIL
    /// and one case starts at `<init>`).
    pub code: Vec<(String, String)>,
    /// `post`: the facts expected at the exit label (`_|_`: unreachable).
    pub post: Vec<String>,
    /// `messages` (absent: empty): errors and notes PREVAIL reports.
    pub messages: Vec<String>,
    /// `expected-exception`: PREVAIL must fail to even read the case (bad input).
    pub expected_exception: Option<String>,
}

/// Marks the notes PREVAIL emits for branches it proves dead; they are not errors.
pub const UNREACHABLE_NOTE: &str = "Code becomes unreachable";

impl Case {
    /// Whether PREVAIL refuses the case: a message that is not an unreachable-code note, or an
    /// expected exception.
    pub fn expects_reject(&self) -> bool {
        self.expected_exception.is_some()
            || self.messages.iter().any(|m| !m.contains(UNREACHABLE_NOTE))
    }

    /// `file: name`, for reports.
    pub fn id(&self) -> String {
        let file = self
            .file
            .file_name()
            .map_or_else(|| self.file.display().to_string(), |f| f.to_string_lossy().into_owned());
        format!("{file}: {}", self.name)
    }
}

/// Why a case cannot be translated: the construct and, where it helps, the text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

/// The first option of `case` that udfkit cannot honour, with the reason.
///
/// Supported (the caller gives them their meaning): `!big_endian` (the default here),
/// `termination`, `!allow_division_by_zero`, `simplify`. `big_endian` is not (udfkit is
/// little-endian only), and neither is anything else (PREVAIL also knows `strict`).
pub fn unsupported_option(case: &Case) -> Option<String> {
    case.options.iter().find_map(|o| match o.as_str() {
        "!big_endian" | "termination" | "!allow_division_by_zero" | "simplify" => None,
        "big_endian" => Some("option big_endian (udfkit is little-endian only)".to_string()),
        other => Some(format!("option {other}")),
    })
}

/// Every `.yaml` file directly in `dir`, sorted by name.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|x| x == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
