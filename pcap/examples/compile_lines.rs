//! Compiles many (link type, expression) pairs: reads `LINKTYPE<TAB>EXPR` lines on standard
//! input and prints, per line, `ok`, `linktype` (the link type is not supported) or the
//! refusal's code. `scripts/pcap_link_share.py` uses it to measure the share of pairs refused.

use std::io::BufRead;

fn main() {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Some((lt, expr)) = line.split_once('\t') else {
            println!("bad-line");
            continue;
        };
        let out = match lt.parse().ok().and_then(udf_pcap::LinkType::from_linktype) {
            None => "linktype".to_string(),
            Some(link) => {
                let opts = udf_pcap::CompileOptions { link, ..Default::default() };
                match udf_pcap::compile_cbpf(expr, &opts) {
                    Ok(_) => "ok".into(),
                    Err(d) => d.code.to_string(),
                }
            }
        };
        println!("{out}");
    }
}
