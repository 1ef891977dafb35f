
jlt %r2, 24, +21
ldxh %r0, [%r1+12]
be16 %r0
jne %r0, 0x800, +18
ldxb %r0, [%r1+23]
jne %r0, 6, +16
ldxh %r0, [%r1+20]
be16 %r0
jset %r0, 0x1fff, +13
ldxb %r6, [%r1+14]
and32 %r6, 15
lsh32 %r6, 2
mov %r4, %r6
add %r4, 28
jgt %r4, %r2, +7
mov %r5, %r1
add %r5, %r6
ldxb %r0, [%r5+27]
and32 %r0, 18
jne %r0, 2, +2
mov32 %r0, 0x40000
exit
mov32 %r0, 0
exit
