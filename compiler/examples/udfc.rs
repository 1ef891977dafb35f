//! Compiles a `.udf` file and prints each entry's listing (a development aid).
fn main() {
    let path = std::env::args().nth(1).expect("a .udf file");
    match udf_compiler::compile_file(std::path::Path::new(&path)) {
        Ok(m) => {
            for e in &m.entries {
                println!(
                    "== {} ({:?}, ctx {:?}): {} insns, bound {}",
                    e.name,
                    e.ty,
                    e.ctx_size,
                    e.prog.len(),
                    e.facts.max_insns
                );
                if std::env::var_os("LIST").is_some() {
                    print!("{}", udf_bytecode::disassemble(&e.prog));
                }
            }
        }
        Err(d) => {
            eprint!("{}", d.render());
            std::process::exit(1);
        }
    }
}
