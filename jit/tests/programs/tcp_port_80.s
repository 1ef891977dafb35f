
jlt %r2, 24, +39
ldxh %r0, [%r1+12]
be16 %r0
jne %r0, 0x86dd, +11
ldxb %r0, [%r1+20]
jne %r0, 6, +34
jlt %r2, 56, +33
ldxh %r0, [%r1+54]
be16 %r0
jeq %r0, 80, +28
jlt %r2, 58, +29
ldxh %r0, [%r1+56]
be16 %r0
jeq %r0, 80, +24
ja +25
jne %r0, 0x800, +24
ldxb %r0, [%r1+23]
jne %r0, 6, +22
ldxh %r0, [%r1+20]
be16 %r0
jset %r0, 0x1fff, +19
ldxb %r6, [%r1+14]
and32 %r6, 15
lsh32 %r6, 2
mov %r4, %r6
add %r4, 16
jgt %r4, %r2, +13
mov %r5, %r1
add %r5, %r6
ldxh %r0, [%r5+14]
be16 %r0
jeq %r0, 80, +6
mov %r4, %r6
add %r4, 18
jgt %r4, %r2, +5
ldxh %r0, [%r5+16]
be16 %r0
jne %r0, 80, +2
mov32 %r0, 0x40000
exit
mov32 %r0, 0
exit
