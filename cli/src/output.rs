//! `--json`: exactly one JSON document on stdout per invocation (`shared/design/cli.md`).
//!
//! A command adds its fields with [`emit`] as it goes (a partial result stays when it fails
//! later: `udf filter` over a capture broken half-way); `main` prints the one document at the
//! end with [`finish`]: `{"status": N, "errors": [...], ...the command's fields}`, every error
//! `{"code", "message", "file", "line", "col"}` with `null` where there is no location.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use miette::{Report, miette};
use serde_json::{Map, Value as Json, json};

use crate::input::{Failure, report_location};

/// The fields emitted so far.
static DOC: Mutex<Option<Map<String, Json>>> = Mutex::new(None);

/// Adds a command's fields to the document (an object's fields; anything else as `result`).
pub fn emit(fields: Json) {
    let mut doc = DOC.lock().unwrap_or_else(PoisonError::into_inner);
    let doc = doc.get_or_insert_with(Map::new);
    match fields {
        Json::Object(o) => doc.extend(o),
        other => {
            doc.insert("result".into(), other);
        }
    }
}

/// One error in the shared shape.
pub fn error(code: Option<&str>, message: &str, at: Location) -> Json {
    json!({"code": code, "message": message, "file": at.0, "line": at.1, "col": at.2})
}

/// A file, 1-based line and column, each `None` where unknown.
pub type Location = (Option<String>, Option<usize>, Option<usize>);

/// A diagnostic as an error in the shared shape (located at its first label).
pub fn report_json(r: &Report) -> Json {
    let code = r.code().map(|c| c.to_string());
    error(code.as_deref(), &r.to_string(), report_location(r))
}

/// The document: what was emitted, `status` and `errors` (taken: a second call starts afresh).
pub fn document(status: u8, errors: Vec<Json>) -> Json {
    let mut doc = DOC.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_default();
    doc.insert("status".into(), status.into());
    doc.insert("errors".into(), Json::Array(errors));
    Json::Object(doc)
}

/// Prints the document on stdout (one line).
pub fn finish(status: u8, reports: &[Report]) {
    let errors = reports.iter().map(report_json).collect();
    print(&document(status, errors));
}

/// Prints a document on stdout, on one line (a closed stdout is not a crash).
pub fn print(doc: &Json) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{doc}");
    let _ = out.flush();
}

/// Whether `--json` is among the arguments (before a `--` that ends the options), so that a
/// usage error clap finds is reported as JSON too.
pub fn json_requested<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> bool {
    args.iter().skip(1).map(AsRef::as_ref).take_while(|a| *a != "--").any(|a| a == "--json")
}

/// Writes `bytes` to `path` (a failure is a usage error: `udf::io`, exit 2).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| {
        Failure::usage(miette!(code = "udf::io", "cannot write {}: {e}", path.display()))
    })
}
