
jlt %r2, 24, short
ldxh %r0, [%r1+12]
stxdw [%r10-8], %r0
ldxb %r4, [%r1+23]
jne %r4, 6, shallow
stxw [%r10-300], %r4
stxb [%r10-301], %r4
ldxw %r5, [%r10-300]
add %r0, %r5
shallow:
stxh [%r10-40], %r3
ldxh %r5, [%r10-40]
add %r0, %r5
ldxdw %r4, [%r10-8]
add %r0, %r4
exit
short:
stdw [%r10-16], 7
ldxdw %r0, [%r10-16]
exit
