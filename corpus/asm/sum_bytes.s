# raw: the sum of the input's bytes, via a stack slot and a local call per byte.
mov %r6, %r1              # cursor
mov %r7, %r1
add %r7, %r2              # end
stdw [%r10-8], 0
loop:
jge %r6, %r7, done
ldxb %r1, [%r6]
mov %r2, %r10
add %r2, -8
call local add_to
add %r6, 1
ja loop
done:
ldxdw %r0, [%r10-8]
exit
# add_to(value, slot): *slot += value
add_to:
lock add [%r2], %r1
mov %r0, 0
exit
