//! Prints the classic BPF a pcap-filter expression compiles to, in `tcpdump -d` format:
//! `cargo run -p udf-pcap --example pcap_listing -- EXPR [EN10MB|RAW] [OUT.bin]`; with
//! `OUT.bin`, also writes the verified eBPF there (for `udf jit OUT.bin --type filter`).

use udf_pcap::{CompileOptions, LinkType, compile_cbpf};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(expr) = args.first() else {
        eprintln!("usage: pcap_listing EXPR [DLTNAME (EN10MB, RAW, LINUX_SLL, PPP, ...)]");
        std::process::exit(2);
    };
    let link = match args.get(1) {
        None => LinkType::En10mb,
        Some(name) => LinkType::from_name(name).unwrap_or_else(|| {
            eprintln!("pcap_listing: link type {name} is not supported");
            std::process::exit(2);
        }),
    };
    let opts = CompileOptions { link, ..CompileOptions::default() };
    match compile_cbpf(expr, &opts) {
        Ok(p) => {
            print!("{}", udf_pcap::cbpf::disasm(&p));
            if let Some(out) = args.get(2) {
                match udf_pcap::cbpf::compile(&p) {
                    Ok((prog, _)) => {
                        if let Err(e) = std::fs::write(out, prog.encode()) {
                            eprintln!("{out}: {e}");
                            std::process::exit(1);
                        }
                    }
                    Err(e) => {
                        eprintln!("translation: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }
        Err(d) => {
            eprintln!("{}", udf_diag::Diagnostics::new("<expression>", expr, vec![d]));
            std::process::exit(1);
        }
    }
}
