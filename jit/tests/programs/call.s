
stdw [%r10-16], 0
mov %r6, %r2
mov %r1, %r10
add %r1, -16
mov %r2, %r6
call local put
ldxdw %r0, [%r10-16]
exit
put:
stxdw [%r10-32], %r2
ldxdw %r3, [%r10-32]
add %r3, 1
stxdw [%r1+0], %r3
mov %r0, 0
exit
