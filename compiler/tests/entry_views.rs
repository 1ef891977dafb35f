//! `Entry::views`: the packet views an entry point's code reads, which `udf filter` checks
//! against a capture's link type (the views read Ethernet frames).

fn views(src: &str) -> Vec<Vec<&'static str>> {
    let module =
        udf_compiler::compile("views.udf", src).unwrap_or_else(|d| panic!("{}", d.render()));
    module.entries.into_iter().map(|e| e.views).collect()
}

#[test]
fn entries_list_the_views_they_read() {
    let got = views(
        "filter web(p: packet) { p.ether.type == 0x0800 && p.ipv4.proto == 6 && p.tcp.dst == 80 }\n\
         filter raw(p: packet) { p.len > 20 && p.u8[0] == 0x45 && p.u16be[2] > 20 }\n\
         filter expr = pcap \"udp\";\n",
    );
    assert_eq!(got, [vec!["ether", "ipv4", "tcp"], vec![], vec!["ether"]]);
}
