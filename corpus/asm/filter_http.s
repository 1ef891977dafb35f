# filter: accept IPv4 TCP segments to port 80 on Ethernet, classic-BPF style.
# Legacy packet loads read big-endian; a load past the captured bytes drops the packet.
ldabsh 12                 # EtherType
jne %r0, 0x800, drop
ldabsb 23                 # IP protocol
jne %r0, 6, drop
ldabsh 20                 # fragment offset
jset %r0, 0x1fff, drop
ldabsb 14                 # IHL
and %r0, 0xf
lsh %r0, 2
mov %r6, %r0
ldindh %r6, 16            # TCP destination port (14 + IHL*4 + 2)
jne %r0, 80, drop
mov %r0, 262144           # accept: keep up to 256 KiB, as tcpdump does
exit
drop:
mov %r0, 0
exit
