//! The pcap-filter(7) parser (placeholder until it lands).

use crate::diag::Diagnostic;
use crate::pcap::ast::Expr;

/// Parses a filter expression.
pub fn parse(expr: &str) -> Result<Expr, Diagnostic> {
    let _ = expr;
    Err(Diagnostic::new("udf::pcap::unsupported", "the pcap-filter parser is not written yet"))
}
