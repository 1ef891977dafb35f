//! Prints the direct-call code of a pcap expression on Ethernet (the verified eBPF, then
//! Cranelift's disassembly) and optionally writes the machine code to a file, for `objdump -D -b
//! binary -m i386:x86-64 FILE`:
//!
//! `cargo run --release -p udf-jit --example direct_disasm -- 'tcp port 80' [FILE]`
//!
//! `UDF_IF_CONVERT=always` (or `never`) forces the choice of the branch-free lowering
//! (`udf_jit::IfConvert`).
fn main() {
    let mut args = std::env::args().skip(1);
    let expr = args.next().unwrap_or_else(|| "tcp port 80".into());
    let opts = udf_pcap::CompileOptions {
        link: udf_pcap::LinkType::En10mb,
        snaplen: 262_144,
        netmask: None,
    };
    let c = udf_pcap::compile(&expr, &opts).unwrap_or_else(|d| panic!("{}", d.message));
    println!("{}", udf_bytecode::disassemble(&c.prog));
    let mut jit = udf_jit::Jit::new(udf_jit::Target::host().expect("an x86-64 host")).unwrap();
    jit.options.disasm = true;
    jit.options.if_convert = match std::env::var("UDF_IF_CONVERT").as_deref() {
        Ok("always") => udf_jit::IfConvert::Always,
        Ok("never") => udf_jit::IfConvert::Never,
        _ => udf_jit::IfConvert::Auto,
    };
    let code = jit.compile_filter(&c.prog, &c.facts).unwrap_or_else(|e| panic!("{e}"));
    println!("{}", code.disasm().unwrap_or(""));
    println!("{} bytes, predicated: {}", code.bytes().len(), code.is_predicated());
    if let Some(out) = args.next() {
        std::fs::write(&out, code.bytes()).expect("write the code");
    }
}
