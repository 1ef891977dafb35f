//! Encoding, decoding, assembling and disassembling are exact inverses; the decoder is total.

use proptest::prelude::*;
use udf_bytecode::generate;
use udf_bytecode::rng::Rng;
use udf_bytecode::{Program, assemble, disassemble};

fn roundtrips(p: &Program) {
    let bytes = p.encode();
    let back = Program::decode(&bytes).expect("an encoded program decodes");
    assert_eq!(&back, p, "decode(encode(p)) != p");
    let text = disassemble(p);
    let again =
        assemble(&text).unwrap_or_else(|e| panic!("disassembly does not assemble: {e}\n{text}"));
    assert_eq!(again.encode(), bytes, "asm(disasm(p)) gives other bytes:\n{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn generated_programs_roundtrip(seed in any::<u64>()) {
        let p = generate::program(&mut Rng::new(seed), 40);
        roundtrips(&p);
    }

    #[test]
    fn random_bytes_never_panic_and_accepted_ones_roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = Program::decode(&bytes) {
            prop_assert_eq!(p.encode(), bytes);
        }
    }

    #[test]
    fn instruction_shaped_bytes_never_panic(seed in any::<u64>()) {
        let bytes = generate::raw_slots(&mut Rng::new(seed), 24);
        match Program::decode(&bytes) {
            Ok(p) => {
                prop_assert_eq!(p.encode(), bytes);
                roundtrips(&p);
            }
            Err(e) => {
                // Located: the faulting slot is inside the input (or just past it, for a
                // truncated tail or a missing lddw half).
                prop_assert!(e.pc <= bytes.len() / 8, "error at {} beyond {} slots", e.pc, bytes.len() / 8);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// Every single-slot opcode byte with every register and small field pattern: decode then
/// encode is the identity on everything accepted.
#[test]
fn exhaustive_opcodes_reencode() {
    let mut accepted = 0;
    for opcode in 0..=255u8 {
        for regs in [0x00u8, 0x01, 0x10, 0xa1, 0x1a, 0xb0, 0x0b] {
            for off in [0i16, 1, 8, 16, 32, -1] {
                for imm in [0i32, 1, 16, 32, 64, 0x41, 0xe1, 0xf1, -1] {
                    let mut b = [opcode, regs, 0, 0, 0, 0, 0, 0];
                    b[2..4].copy_from_slice(&off.to_le_bytes());
                    b[4..8].copy_from_slice(&imm.to_le_bytes());
                    let mut prog = b.to_vec();
                    if opcode == 0x18 {
                        prog.extend_from_slice(&[0; 8]); // second half of lddw
                    }
                    prog.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
                    if let Ok(p) = Program::decode(&prog) {
                        accepted += 1;
                        assert_eq!(p.encode(), prog);
                    }
                }
            }
        }
    }
    // Sanity: a large share of the space is valid instructions (all classes represented).
    assert!(accepted > 2000, "only {accepted} accepted");
}

#[test]
fn decoder_errors_are_located() {
    use udf_bytecode::DecodeErrorKind::*;
    let exit = [0x95, 0, 0, 0, 0, 0, 0, 0];
    let cases: Vec<(Vec<u8>, usize, &str)> = vec![
        (vec![], 0, "empty"),
        (vec![0x95, 0, 0], 0, "truncated"),
        ([exit, [0xff, 0, 0, 0, 0, 0, 0, 0]].concat(), 1, "invalid opcode 0xff"),
        ([[0xb7, 0x0c, 0, 0, 1, 0, 0, 0], exit].concat(), 0, "invalid register r12"),
        ([exit, [0x18, 0, 0, 0, 1, 0, 0, 0]].concat(), 1, "missing its second half"),
        (
            [[0x18, 0, 0, 0, 1, 0, 0, 0], [0x18, 0, 0, 0, 0, 0, 0, 0], exit].concat(),
            1,
            "reserved field opcode",
        ),
        ([[0x05, 0, 5, 0, 0, 0, 0, 0], exit].concat(), 0, "out of range"),
        ([[0x05, 0, 0xfd, 0xff, 0, 0, 0, 0], exit].concat(), 0, "out of range"),
        (
            [[0x05, 0, 1, 0, 0, 0, 0, 0], [0x18, 0, 0, 0, 0, 0, 0, 0], [0; 8], exit].concat(),
            0,
            "second half of an lddw",
        ),
        ([[0xd4, 0, 0, 0, 8, 0, 0, 0], exit].concat(), 0, "expected 16, 32 or 64"),
        ([[0xdb, 0x01, 0, 0, 0x02, 0, 0, 0], exit].concat(), 0, "atomic operation"),
        ([[0x85, 0x30, 0, 0, 0, 0, 0, 0], exit].concat(), 0, "helper"),
        ([[0xbc, 0x10, 32, 0, 0, 0, 0, 0], exit].concat(), 0, "0, 8 or 16"),
    ];
    for (bytes, pc, text) in cases {
        let e = Program::decode(&bytes).expect_err("must be refused");
        assert_eq!(e.pc, pc, "{e}");
        assert!(e.to_string().contains(text), "`{e}` lacks `{text}`");
        assert!(!matches!(e.kind, Empty) || bytes.is_empty());
    }
}
