//! `udf demux` against libpcap: on a generated capture, every filter of a generated workload
//! (connection 4-tuples, port, host and protocol filters, overlapping and duplicate ones, some
//! that do not merge, and classic BPF from libpcap's own compiler), the names `udf demux`
//! prints for each packet and its `--count` per name must be what libpcap's `bpf_filter` gives
//! running each filter alone (a name owning several filters gets their union). `.udf` and
//! classic BPF lines against `udf filter`; the file format's errors.
//!
//! The oracle is `$UDF_PCAP_ORACLE` (scripts/test.sh builds it), else built here from
//! `tools/pcap_oracle.c` with `cc -lpcap`; without it the test fails, saying how to get it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

mod common;
use common::pcap::oracle;
use common::{corpus, text, tmp, udf};

use udf_kernel_glue::demux::traffic::{connections, traffic, workload};

/// libpcap's return value for each packet of `capture`.
fn oracle_filter(oracle: &Path, expr: &str, capture: &Path) -> Vec<u64> {
    common::pcap::oracle_filter(oracle, expr, capture)
        .unwrap_or_else(|e| panic!("libpcap refuses `{expr}`: {e}"))
}

/// libpcap's classic BPF for `expr` on Ethernet (`tcpdump -dd`).
fn oracle_dd(oracle: &Path, expr: &str) -> String {
    let o = Command::new(oracle).args(["dd", expr, "EN10MB"]).output().expect("the oracle runs");
    assert!(o.status.success(), "libpcap refuses `{expr}`: {}", text(&o).1);
    text(&o).0
}

fn write_pcap(path: &Path, packets: &[(Vec<u8>, u32)]) {
    use pcap_file::DataLink;
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let header =
        PcapHeader { snaplen: 262_144, datalink: DataLink::from(1), ..PcapHeader::default() };
    let file = std::fs::File::create(path).expect("create");
    let mut w = PcapWriter::with_header(file, header).expect("header");
    for (i, (data, wire)) in packets.iter().enumerate() {
        let ts = std::time::Duration::from_micros(1_700_000_000_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, *wire, data)).expect("packet");
    }
}

#[test]
fn demux_agrees_with_libpcap_per_packet_and_per_name() {
    let oracle = oracle();
    let w = workload(0x64656d, 300);
    let packets = traffic(0x64656d, &w, 800);
    let capture = tmp("demux.pcap");
    write_pcap(&capture, &packets);
    // The file: every workload filter as `pcap`, a few as classic BPF from libpcap itself.
    let mut file = String::from("# generated workload\n");
    let mut filters: Vec<(String, String)> = Vec::new();
    for (k, (owner, expr)) in w.filters.iter().enumerate() {
        let name = format!("o{owner}");
        if k % 25 == 7 {
            let cbpf = tmp(&format!("f{k}.dd"));
            std::fs::write(&cbpf, oracle_dd(oracle, expr)).expect("write");
            file.push_str(&format!(
                "{name} cbpf {}\n",
                cbpf.file_name().unwrap().to_str().unwrap()
            ));
        } else if k % 2 == 0 {
            file.push_str(&format!("{name} pcap {expr}\n"));
        } else {
            file.push_str(&format!("{name} {expr}\n"));
        }
        filters.push((name, expr.clone()));
    }
    let list = tmp("demux.txt");
    std::fs::write(&list, &file).expect("write");
    // libpcap, each filter alone; a name's packets are the union of its filters'.
    let mut names: Vec<String> = Vec::new();
    let mut accepts: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for (name, expr) in &filters {
        let r = oracle_filter(oracle, expr, &capture);
        assert_eq!(r.len(), packets.len());
        if !names.contains(name) {
            names.push(name.clone());
        }
        let a = accepts.entry(name.clone()).or_insert_with(|| vec![false; packets.len()]);
        for (i, v) in r.iter().enumerate() {
            a[i] |= *v != 0;
        }
    }
    let args = ["demux", "--filters", list.to_str().unwrap(), "--read", capture.to_str().unwrap()];
    let o = udf(&args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), packets.len());
    let mut several = 0;
    for (i, line) in lines.iter().enumerate() {
        let want: Vec<&str> = names.iter().filter(|n| accepts[*n][i]).map(String::as_str).collect();
        several += usize::from(want.len() >= 2);
        let want = if want.is_empty() { "-".to_string() } else { want.join(" ") };
        assert_eq!(*line, want, "packet {i}");
    }
    assert!(several > 50, "the workload must overlap: {several} packets with several owners");
    // The JIT engine (here the trie is walked: the overlapping workload's program is too
    // large) prints the same.
    let mut jit_args = args.to_vec();
    jit_args.extend(["--engine", "jit"]);
    let o = udf(&jit_args);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(text(&o).0, out, "--engine jit");
    // --count: one line per name, in file order.
    let mut count_args = args.to_vec();
    count_args.push("--count");
    let o = udf(&count_args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let want: Vec<String> = names
        .iter()
        .map(|n| format!("{n} {}", accepts[n].iter().filter(|&&a| a).count()))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    // --json: one document with the same counts.
    count_args.push("--json");
    let o = udf(&count_args);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["status"], 0);
    assert_eq!(doc["packets"], packets.len());
    let counts = doc["counts"].as_array().expect("counts");
    assert_eq!(counts.len(), names.len());
    for (c, line) in counts.iter().zip(&want) {
        assert_eq!(format!("{} {}", c["name"].as_str().unwrap(), c["count"]), *line);
    }
    let merged = doc["filters"].as_array().unwrap().iter().filter(|f| f["merged"] == true).count();
    assert!(merged * 10 >= filters.len() * 8, "{merged} of {} merged", filters.len());
}

/// `.udf` and classic BPF lines give what `udf filter` gives for each alone.
#[test]
fn udf_and_cbpf_lines_agree_with_udf_filter() {
    let w = workload(11, 40);
    let packets = traffic(11, &w, 400);
    let capture = tmp("lines.pcap");
    write_pcap(&capture, &packets);
    let web = corpus("filters/web.udf");
    let cbpf = tmp("ssh.ddd");
    // `tcp port 22` by hand, in tcpdump -ddd form: IPv4 only, no fragments check.
    std::fs::write(&cbpf, "6\n40 0 0 12\n21 0 3 2048\n48 0 0 23\n21 0 1 6\n6 0 0 65535\n6 0 0 0\n")
        .expect("write");
    let list = tmp("lines.txt");
    std::fs::write(
        &list,
        format!("web udf {web}:web\nweb2 udf {web}\ntcp cbpf ssh.ddd\n# a comment\n\nall pcap ip or not ip\n"),
    )
    .expect("write");
    let o = udf(&[
        "demux",
        "--filters",
        list.to_str().unwrap(),
        "--read",
        capture.to_str().unwrap(),
        "--count",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let alone = |args: &[&str]| -> String {
        let mut a = vec!["filter"];
        a.extend_from_slice(args);
        a.extend(["--read", capture.to_str().unwrap(), "--count", "--engine", "interp"]);
        let o = udf(&a);
        assert!(o.status.success(), "{}", text(&o).1);
        text(&o).0.trim().to_string()
    };
    let want = format!(
        "web {}\nweb2 {}\ntcp {}\nall {}\n",
        alone(&[&web]),
        alone(&[&web]),
        alone(&["--cbpf", cbpf.to_str().unwrap()]),
        alone(&["--pcap", "ip or not ip"]),
    );
    assert_eq!(out, want);
    assert_ne!(alone(&[&web]), "0", "the capture must hold web packets");
}

#[test]
fn bad_lines_are_located() {
    let capture = tmp("bad.pcap");
    write_pcap(&capture, &[]);
    let list = tmp("bad.txt");
    std::fs::write(&list, "ok tcp\nlonely\n").expect("write");
    let o =
        udf(&["demux", "--filters", list.to_str().unwrap(), "--read", capture.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("bad.txt:2"), "{}", text(&o).1);
    std::fs::write(&list, "ok tcp\nbad pcap tcp port 99999999\n").expect("write");
    let o = udf(&[
        "demux",
        "--filters",
        list.to_str().unwrap(),
        "--read",
        capture.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["status"], 1);
    assert!(doc["errors"][0]["message"].as_str().unwrap().contains("bad.txt:2"), "{doc}");
    // The location fields too, at the line's first character (indented, after blank lines).
    let e = &doc["errors"][0];
    assert!(e["file"].as_str().unwrap().ends_with("bad.txt"), "{doc}");
    assert_eq!((e["line"].as_u64(), e["col"].as_u64()), (Some(2), Some(1)), "{doc}");
    std::fs::write(&list, "ok tcp\r\n\n   \n  lonely\r\n").expect("write");
    let o = udf(&[
        "demux",
        "--filters",
        list.to_str().unwrap(),
        "--read",
        capture.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let e = &doc["errors"][0];
    assert_eq!(e["code"], "udf::demux::filters", "{doc}");
    assert_eq!((e["line"].as_u64(), e["col"].as_u64()), (Some(4), Some(3)), "{doc}");
}

/// Connection filters: with `--engine jit` the demultiplexer is one verified program run as
/// native code; its counts per name are libpcap's.
#[test]
fn merged_program_on_the_jit_agrees_with_libpcap() {
    let oracle = oracle();
    let w = connections(0x6a6974, 150);
    let packets = traffic(0x6a6974, &w, 600);
    let capture = tmp("conns.pcap");
    write_pcap(&capture, &packets);
    let list = tmp("conns.txt");
    let file: String = w.filters.iter().map(|(o, e)| format!("c{o} pcap {e}\n")).collect();
    std::fs::write(&list, file).expect("write");
    let want: Vec<String> = w
        .filters
        .iter()
        .map(|(o, e)| {
            let n = oracle_filter(oracle, e, &capture).iter().filter(|&&v| v != 0).count();
            format!("c{o} {n}")
        })
        .collect();
    let args = ["demux", "--filters", list.to_str().unwrap(), "--read", capture.to_str().unwrap()];
    let mut jit = args.to_vec();
    jit.extend(["--engine", "jit", "--count"]);
    let o = udf(&jit);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(text(&o).0.lines().collect::<Vec<_>>(), want);
    assert!(want.iter().any(|l| !l.ends_with(" 0")), "the capture must hit some connection");
    jit.push("--json");
    let doc: serde_json::Value =
        serde_json::from_slice(&udf(&jit).stdout).expect("one JSON document");
    assert!(doc["program_insns"].as_u64().is_some_and(|n| n > 150), "{}", doc["program_insns"]);
}
