#!/usr/bin/env python3
"""Writes one `.asmt` case per translated Linux selftest (translate.py's OUTDIR) into DEST.

The expectations (`; refused:` and the `; run:` results) are left for `UDF_BLESS=1` to fill in
from what the verifier and interpreter do; the header records Linux's verdict, so a reader can
see where the two differ and why (NOTES, a tab-separated `name<TAB>note` file, says why).
"""
import os, sys

src, dest = sys.argv[1], sys.argv[2]
notes = {}
if len(sys.argv) > 3:
    for line in open(sys.argv[3]):
        if '\t' in line:
            k, v = line.rstrip('\n').split('\t', 1)
            notes[k] = v
os.makedirs(dest, exist_ok=True)
for line in open(os.path.join(src, 'index.tsv')):
    name, where, verdict, ty, cs, why = line.rstrip('\n').split('\t')
    if ty == 'SKIP':
        continue
    file, _, desc = where.partition(':')
    desc = desc.replace(';', ',')  # `;` starts an annotation in `.asmt`
    body = open(os.path.join(src, name + '.s')).read()
    out = [f"# Translated from Linux tools/testing/selftests/bpf/progs/{file},",
           f"# test \"{desc}\" (Linux: {verdict}).",
           "# Rewritten by hand in udfkit's dialect (tools/linux_selftests/translate.py): see README.md."]
    if name in notes:
        out.append("# " + notes[name].replace(';', ','))
    out.append(f"; type: {ty}")
    if cs:
        out.append(f"; ctx-size: {cs}")
    out.append(body.rstrip('\n'))
    if verdict == 'REJECT':
        # Where Linux refuses, a run shows what the program does on one input (a fault, or a
        # safe result where ours accepts).
        out.append("; run: hex " + ' '.join(['ff'] * 64) + " => r0 = 0")
    open(os.path.join(dest, name + '.asmt'), 'w').write('\n'.join(out) + '\n')
