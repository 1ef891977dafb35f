//! Sharing under acl-udfs: the inodes' acl-udf (`corpus/fs/acl.udf`) is asked for every change
//! of an inode with the request (principal uid, operation) and the inode before and after the
//! change. It refuses another principal, accepts the owner and root, and refuses a change of
//! owner whoever asks; a refusal writes nothing.
//!
//! A missing e2fsprogs fails these tests: nothing is skipped.

mod xn_kernel;

use udf_corpus::{debugfs, ext};
use udf_kernel_glue::ext::{ExtError, ExtFs, Flavor, SlotRequest};
use udf_kernel_glue::order::Cache;
use udf_kernel_glue::xn::{Op, Patch, Refusal};
use udf_kernel_glue::{BlockDevice, MemDevice, Table};

fn kernel() -> Table {
    xn_kernel::kernel_with(&["acl.udf"])
}

/// The low 16 bits of the owner uid 70000 (`i_uid`; `i_uid_high` is 1).
const LOW: u16 = 4464;

fn set_u16(dev: &mut MemDevice, block: u64, at: usize, v: u16) {
    let mut b = vec![0u8; dev.block_size()];
    dev.read_block(block, &mut b).unwrap();
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    dev.write_block(block, &b).unwrap();
}

#[test]
fn acl_refuses_others_accepts_the_owner_and_refuses_a_change_of_owner_ext2_1k() {
    let table = kernel();
    let (_dir, img) = ext::build_tree_image(ext::EXT2_1K, "xn-acl").unwrap();
    let ino = debugfs::inode_numbers(&img, &["/sparse/tail_hole"]).unwrap()[0];
    let mut dev = MemDevice::new(std::fs::read(&img).unwrap(), 1024);
    let fs = ExtFs::open(&mut dev, Flavor::Ext2).unwrap();
    let obj = fs.inode_obj(ino).unwrap();
    // Owner uid 70000 (i_uid 4464, i_uid_high 1), mode 0644.
    set_u16(&mut dev, obj.block, obj.offset as usize + 2, LOW);
    set_u16(&mut dev, obj.block, obj.offset as usize + 120, 1);
    set_u16(&mut dev, obj.block, obj.offset as usize, 0o100644);
    let mut xn = fs.xn(&table).unwrap();
    assert!(xn.templates[0].acl.is_some(), "the acl-udf is the inode template's");
    let r = fs.rebuild(&mut xn, &table, &mut dev).unwrap();
    assert!(r.differences.is_empty() && r.rebuilt.problems.is_empty());
    let free = (300..8000).find(|&b| !xn.used.get(b)).unwrap();
    let req = SlotRequest { ino, slot: 5, block: free, kind: None };

    let slot = |dev: &mut MemDevice, xn: &mut _, principal: u64, req: SlotRequest| {
        let mut cache = Cache::new(1024);
        let before = dev.bytes().to_vec();
        let r = fs.stage_slot(xn, &table, &mut cache, dev, req, principal);
        if r.is_ok() {
            fs.commit(xn, &mut cache, dev, None).unwrap();
        } else {
            assert!(cache.dirty().next().is_none(), "a refusal leaves nothing staged");
            assert!(dev.bytes() == before.as_slice(), "a refusal writes nothing");
        }
        r
    };
    // Another principal (and the owner's low 16 bits alone) refused.
    for who in [1000, u64::from(LOW), 70001] {
        match slot(&mut dev, &mut xn, who, req) {
            Err(ExtError::SlotRefused(r)) => assert_eq!(r.refusal, Refusal::Denied, "{who}"),
            other => panic!("principal {who}: {other:?}"),
        }
    }
    // The owner: accepted; e2fsck clean; freed again by the owner.
    slot(&mut dev, &mut xn, 70000, req).unwrap();
    std::fs::write(&img, dev.bytes()).unwrap();
    ext::fsck(&img).unwrap();
    slot(&mut dev, &mut xn, 70000, SlotRequest { block: 0, ..req }).unwrap();
    // World-writable: anyone.
    set_u16(&mut dev, obj.block, obj.offset as usize, 0o100646);
    slot(&mut dev, &mut xn, 1000, req).unwrap();
    slot(&mut dev, &mut xn, 1000, SlotRequest { block: 0, ..req }).unwrap();
    set_u16(&mut dev, obj.block, obj.offset as usize, 0o100644);
    std::fs::write(&img, dev.bytes()).unwrap();
    ext::fsck(&img).unwrap();

    // A change of owner, proposed by the owner or by root: the acl-udf sees the new bytes and
    // refuses; the image is byte-identical. The same write keeping the owner passes.
    let before = dev.bytes().to_vec();
    for who in [70000, 0] {
        let uid = 1234u16.to_le_bytes();
        let r =
            xn.apply(&table, &mut dev, obj, &[Patch { offset: 2, bytes: &uid }], Op::Write, who);
        assert_eq!(r, Err(Refusal::Denied), "principal {who}");
        let mode = 0o100777u16.to_le_bytes();
        let r =
            xn.apply(&table, &mut dev, obj, &[Patch { offset: 0, bytes: &mode }], Op::Write, who);
        assert_eq!(r, Err(Refusal::Denied), "a change of mode, principal {who}");
        assert!(dev.bytes() == before.as_slice());
    }
    let same = LOW.to_le_bytes();
    xn.apply(&table, &mut dev, obj, &[Patch { offset: 2, bytes: &same }], Op::Write, 70000)
        .unwrap();
    assert!(dev.bytes() == before.as_slice(), "an unchanged owner is no change");
}

#[test]
fn the_ext4_inode_acl_refuses_others_and_a_change_of_owner_ext4_1k() {
    let table = kernel();
    let (_dir, img) = ext::build_tree_image(ext::EXT4_1K, "xn-acl4").unwrap();
    let ino = debugfs::inode_numbers(&img, &["/small.txt"]).unwrap()[0];
    let mut dev = MemDevice::new(std::fs::read(&img).unwrap(), 1024);
    let fs = ExtFs::open(&mut dev, Flavor::Ext4).unwrap();
    let obj = fs.inode_obj(ino).unwrap();
    set_u16(&mut dev, obj.block, obj.offset as usize + 2, 1000);
    set_u16(&mut dev, obj.block, obj.offset as usize + 120, 0);
    set_u16(&mut dev, obj.block, obj.offset as usize, 0o100644);
    let mut xn = fs.xn(&table).unwrap();
    let r = fs.rebuild(&mut xn, &table, &mut dev).unwrap();
    assert!(r.rebuilt.problems.is_empty(), "{:?}", r.rebuilt.problems);
    let before = dev.bytes().to_vec();
    // A write of the access time (byte 8): the owner and root may, another principal may not.
    let atime = 12345u32.to_le_bytes();
    let w = [Patch { offset: 8, bytes: &atime }];
    assert_eq!(xn.apply(&table, &mut dev, obj, &w, Op::Write, 1001), Err(Refusal::Denied));
    assert!(dev.bytes() == before.as_slice());
    let uid = 1001u16.to_le_bytes();
    let chown = [Patch { offset: 2, bytes: &uid }];
    for who in [1000, 0] {
        assert_eq!(xn.apply(&table, &mut dev, obj, &chown, Op::Write, who), Err(Refusal::Denied));
        assert!(dev.bytes() == before.as_slice());
    }
    xn.apply(&table, &mut dev, obj, &w, Op::Write, 1000).unwrap();
    xn.apply(&table, &mut dev, obj, &w, Op::Write, 0).unwrap();
    assert!(dev.bytes() != before.as_slice(), "the owner's write landed");
}
