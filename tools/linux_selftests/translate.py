#!/usr/bin/env python3
"""Translates hand-transcribed Linux verifier selftest bodies (the pseudo-C BPF asm of
tools/testing/selftests/bpf/progs/verifier_*.c) into udfkit's assembly dialect.

Input: blocks `== NAME | SOURCE | ACCEPT|REJECT [| TYPE [CTXSIZE]]` followed by asm lines.
Context fields map onto the filter context: `data` is r1 on entry, `data_end` is r1 + r2,
any other __sk_buff field (and bpf_ktime_get_ns) is an unknown number read from the packet by
classic loads; a preamble spills them to the stack (see PREAMBLE).
Output: one `.s` per block in OUTDIR, plus `index.tsv` (name, source, linux verdict, type, ctx).
"""
import re, sys, os

SIZES = {'u8': 'b', 'u16': 'h', 'u32': 'w', 'u64': 'dw', 's8': 'b', 's16': 'h', 's32': 'w'}
ALU = {'+=': 'add', '-=': 'sub', '*=': 'mul', '/=': 'div', '%=': 'mod', '&=': 'and', '|=': 'or',
       '^=': 'xor', '<<=': 'lsh', '>>=': 'rsh', 's>>=': 'arsh', 's/=': 'sdiv', 's%=': 'smod', '=': 'mov'}
JMP = {'>': 'jgt', '>=': 'jge', '<': 'jlt', '<=': 'jle', '==': 'jeq', '!=': 'jne', 's>': 'jsgt',
       's>=': 'jsge', 's<': 'jslt', 's<=': 'jsle', '&': 'jset'}
PREAMBLE = ["stxdw [%r10-400], %r1", "mov %r0, %r1", "add %r0, %r2", "stxdw [%r10-392], %r0"]
# Unknown 64-bit numbers, independent for the verifier, from packet words (classic loads:
# a shorter packet makes the program return 0): r10-384 (context fields, first helper
# result), r10-376 and r10-368 (further helper results), r10-360 (the map value's words).
for k, slot in enumerate((384, 376, 368, 360)):
    PREAMBLE += [f"ldabsw {8 * k}", "mov %r6, %r0", "lsh %r6, 32", f"ldabsw {8 * k + 4}",
                 "or %r6, %r0", f"stxdw [%r10-{slot}], %r6"]
# A map value (the result of bpf_map_lookup_elem, never null here) is the zeroed stack bytes
# [r10-512, r10-512+size), holding unknown numbers: writable like a map value, and any access past either end reaches
# bytes that are outside the stack or never initialised.
MAP_SIZES = {'map_hash_8b': 8, 'map_hash_16b': 16, 'map_hash_48b': 48, 'map_array_48b': 48,
             'map_array_16b': 16, 'map_array_8b': 8}

def reg(t):
    m = re.fullmatch(r'([rw])(\d+)', t)
    if not m:
        return None
    return '%r' + m.group(2), m.group(1) == 'w'

def num(t):
    # A 32-bit immediate as Linux writes it (0xffffffff is -1, sign-extended).
    v = int(t.strip(), 0)
    if 1 << 31 <= v < 1 << 32:
        v -= 1 << 32
    return str(v)

def mem(base, off):
    off = off.replace(' ', '')
    if not off:
        off = '+0'
    if off[0] not in '+-':
        off = '+' + off
    o = int(off, 0)
    return f"[%r{base}{'+' if o >= 0 else '-'}{abs(o)}]"

class Skip(Exception):
    pass

def insn(line, ctx):
    s = line.strip().rstrip(';').strip()
    out = []
    m = re.fullmatch(r'([a-zA-Z_]\w*(?:_%=)?):\s*(.*)', s)
    if m:
        out.append(m.group(1).replace('_%=', '') + ':')
        s = m.group(2).strip().rstrip(';').strip()
        if not s:
            return out
    s = s.replace('_%=', '')
    if s == 'exit':
        return out + ['exit']
    if s == 'r0 = 0' and False:
        pass
    m = re.fullmatch(r'goto(l?)\s+([\w+-]+)', s)
    if m:
        return out + [f"{'ja32' if m.group(1) else 'ja'} {m.group(2)}"]
    m = re.fullmatch(r'r(\d+)\s*=\s*%\[(\w+)\]\s+ll', s)
    if m:
        if m.group(2) not in MAP_SIZES:
            raise Skip('map other than a plain hash/array value')
        ctx['map'] = MAP_SIZES[m.group(2)]
        ctx['maxmap'] = max(ctx.get('maxmap', 0), ctx['map'])
        return out
    m = re.fullmatch(r'call\s+(\S+)', s)
    if m:
        t = m.group(1)
        if t == '%[bpf_map_lookup_elem]':
            if 'map' not in ctx:
                raise Skip('lookup in an unknown map')
            ctx['null_check'] = True
            return out + ['mov %r0, %r10', 'add %r0, -512']
        if t in ('%[bpf_ktime_get_ns]', '%[bpf_get_prandom_u32]'):
            # An unknown number, a new one for each call (up to three).
            n = ctx['helper'] = ctx.get('helper', -1) + 1
            if n > 2:
                raise Skip('more than three helper results')
            return out + [f'ldxdw %r0, [%r10-{384 - 8 * n}]']
        if t.startswith('%[') or t.startswith('bpf_'):
            raise Skip('helper call')
        return out + [f"call local {t.replace('_%=', '')}"]
    # context field loads
    m = re.fullmatch(r'([rw]\d+)\s*=\s*\*\(u(32|64)\s*\*\)\(r(\d+)\s*\+\s*%\[(\w+)\]\)', s)
    if m:
        d, _ = reg(m.group(1))
        f = m.group(4)
        if f.endswith('data_end'):
            return out + [f"ldxdw {d}, [%r10-392]"]
        if f.endswith('data'):
            return out + [f"ldxdw {d}, [%r10-400]"]
        if f.endswith('data_meta'):
            raise Skip('data_meta')
        return out + [f"ldx{'dw' if m.group(2) == '64' else 'w'} {d}, [%r10-384]"]
    # loads
    m = re.fullmatch(r'([rw]\d+)\s*=\s*\*\(([us]\d+)\s*\*\)\(r(\d+)\s*([+-]\s*\w+)?\)', s)
    if m:
        d, _ = reg(m.group(1))
        sz = m.group(2)
        op = 'ldxs' if sz[0] == 's' else 'ldx'
        return out + [f"{op}{SIZES[sz]} {d}, {mem(m.group(3), m.group(4) or '')}"]
    # atomics
    m = re.fullmatch(r'lock\s+\*\(u(32|64)\s*\*\)\(r(\d+)\s*([+-]\s*\w+)?\)\s*(\+=|\|=|&=|\^=)\s*([rw]\d+)', s)
    if m:
        op = {'+=': 'add', '|=': 'or', '&=': 'and', '^=': 'xor'}[m.group(4)]
        w = '32' if m.group(1) == '32' else ''
        return out + [f"lock {op}{w} {mem(m.group(2), m.group(3) or '')}, {reg(m.group(5))[0]}"]
    # stores
    m = re.fullmatch(r'\*\((u\d+)\s*\*\)\(r(\d+)\s*([+-]\s*\w+)?\)\s*=\s*(\S+)', s)
    if m:
        sz = SIZES[m.group(1)]
        r = reg(m.group(4))
        if r:
            return out + [f"stx{sz} {mem(m.group(2), m.group(3) or '')}, {r[0]}"]
        return out + [f"st{sz} {mem(m.group(2), m.group(3) or '')}, {num(m.group(4))}"]
    # jumps
    m = re.fullmatch(r'if\s+r0\s*(==|!=)\s*0\s+goto\s+([\w+-]+)', s)
    if m and ctx.pop('null_check', False):
        # The lookup's null test: the value is never null here.
        return out + ([] if m.group(1) == '==' else [f"ja {m.group(2)}"])
    ctx.pop('null_check', None)
    m = re.fullmatch(r'if\s+([rw]\d+)\s*(s?[<>]=?|==|!=|&)\s*(\S+)\s+goto\s+([\w+-]+)', s)
    if m:
        d, w = reg(m.group(1))
        r = reg(m.group(3))
        src = r[0] if r else num(m.group(3))
        return out + [f"{JMP[m.group(2)]}{'32' if w else ''} {d}, {src}, {m.group(4)}"]
    # lddw
    m = re.fullmatch(r'(r\d+)\s*=\s*(\S+)\s+ll', s)
    if m:
        return out + [f"lddw {reg(m.group(1))[0]}, {int(m.group(2), 0)}"]
    # movsx
    m = re.fullmatch(r'([rw]\d+)\s*=\s*\(s(8|16|32)\)\s*([rw]\d+)', s)
    if m:
        d, w = reg(m.group(1))
        return out + [f"movsx{m.group(2)}{'32' if w else '64'} {d}, {reg(m.group(3))[0]}"]
    # byte swaps
    m = re.fullmatch(r'([rw]\d+)\s*=\s*(bswap|be|le)(16|32|64)\s+([rw]\d+)', s)
    if m:
        return out + [f"{m.group(2)}{m.group(3)} {reg(m.group(1))[0]}"]
    # neg
    m = re.fullmatch(r'([rw]\d+)\s*=\s*-\s*([rw]\d+)', s)
    if m and m.group(1) == m.group(2):
        d, w = reg(m.group(1))
        return out + [f"neg{'32' if w else ''} {d}"]
    # alu
    m = re.fullmatch(r'([rw]\d+)\s*(s>>=|s/=|s%=|<<=|>>=|[-+*/%&|^]=|=)\s*(\S+)', s)
    if m:
        d, w = reg(m.group(1))
        r = reg(m.group(3))
        src = r[0] if r else num(m.group(3))
        return out + [f"{ALU[m.group(2)]}{'32' if w else ''} {d}, {src}"]
    if s.startswith('.8byte') or s.startswith('.byte'):
        raise Skip('raw encoded instruction')
    raise Skip(f'untranslated: {s}')

def main():
    src, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    blocks, cur = [], None
    for line in open(src):
        if line.startswith('=='):
            parts = [p.strip() for p in line[2:].split('|')]
            cur = {'name': parts[0], 'src': parts[1], 'verdict': parts[2],
                   'type': parts[3] if len(parts) > 3 and parts[3] else 'filter',
                   'lines': []}
            blocks.append(cur)
        elif cur is not None and line.strip() and not line.strip().startswith('#'):
            cur['lines'].extend(x for x in line.split(';') if x.strip())
    idx = open(os.path.join(outdir, 'index.tsv'), 'w')
    for b in blocks:
        ty = b['type'].split()
        try:
            body, ctx = [], {}
            for l in b['lines']:
                body += insn(l, ctx)
            pre = list(PREAMBLE)
            for k in range(0, ctx.get('maxmap', 0), 8):
                pre.append("ldxdw %r0, [%r10-360]")
                pre.append(f"stxdw [%r10-{512 - k}], %r0")
            if ty[0] == 'filter':
                pre = ['# preamble: data, data_end, unknown numbers (and the map value) on the stack'] + pre
                pre.append('# the test')
            text = ('\n'.join((pre if ty[0] == 'filter' else []) + body)) + '\n'
            open(os.path.join(outdir, b['name'] + '.s'), 'w').write(text)
            idx.write(f"{b['name']}\t{b['src']}\t{b['verdict']}\t{ty[0]}\t{ty[1] if len(ty) > 1 else ''}\t\n")
        except Skip as e:
            idx.write(f"{b['name']}\t{b['src']}\t{b['verdict']}\tSKIP\t\t{e}\n")

main()
