//! Diagnostics as data: a code, a message, labelled spans and a help line; rendered with miette
//! only at the edge ([`Diagnostics::reports`]). They live in `udf-diag`, shared with the
//! pcap-filter front end (`udf-pcap`), whose errors a `filter NAME = pcap "..."` entry reports.

pub use udf_diag::{Diagnostic, Diagnostics, SpanLabel, WINDOW};
