
jlt %r2, 30, +23
ldxh %r0, [%r1+12]
be16 %r0
jne %r0, 0x800, +8
ldxw %r0, [%r1+26]
be32 %r0
jeq %r0, 0xa010203, +15
jlt %r2, 34, +16
ldxw %r0, [%r1+30]
be32 %r0
jeq %r0, 0xa010203, +11
ja +12
jeq %r0, 0x806, +1
jne %r0, 0x8035, +10
jlt %r2, 32, +9
ldxw %r0, [%r1+28]
be32 %r0
jeq %r0, 0xa010203, +4
jlt %r2, 42, +5
ldxw %r0, [%r1+38]
be32 %r0
jne %r0, 0xa010203, +2
mov32 %r0, 0x40000
exit
mov32 %r0, 0
exit
