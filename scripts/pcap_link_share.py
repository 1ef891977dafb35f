#!/usr/bin/env python3
"""The share of (expression, capture) pairs libpcap compiles that udf refuses.

Expressions: the distinct expressions of libpcap's accept.json. Captures: every .pcap under the
directories given (default: libpcap's test captures), each with its own link type (pcapng files
are left out). A pair counts when the installed libpcap compiles the expression for the
capture's link type (pcap_compile, optimised, netmask unknown); of those, udf refuses it for the
link type (not supported) or at all (pcap/examples/compile_lines.rs).

    cargo build --release -p udf-pcap --example compile_lines
    scripts/pcap_link_share.py [CAPTURE_DIR ...]
"""
import collections, ctypes, json, os, struct, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
suite = os.path.join(root, '..', 'shared', 'testdata', 'libpcap')
dirs = sys.argv[1:] or [os.path.join(suite, 'captures')]
target = os.environ.get('CARGO_TARGET_DIR', os.path.join(root, 'target'))
tool = os.path.join(target, 'release', 'examples', 'compile_lines')

def linktype(path):
    with open(path, 'rb') as f:
        h = f.read(24)
    if len(h) < 24:
        return None
    if h[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        return struct.unpack('<I', h[20:24])[0] & 0x3ffffff
    if h[:4] in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        return struct.unpack('>I', h[20:24])[0] & 0x3ffffff
    return None

caps = []
for d in dirs:
    for name in sorted(os.listdir(d)):
        lt = linktype(os.path.join(d, name))
        if lt is not None:
            caps.append(lt)
exprs = sorted({c['expr'] for c in json.load(open(os.path.join(suite, 'accept.json')))})

lib = ctypes.CDLL('libpcap.so.0.8')
lib.pcap_open_dead.restype = ctypes.c_void_p
lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                             ctypes.c_uint32]
lib.pcap_freecode.argtypes = [ctypes.c_void_p]
class Prog(ctypes.Structure):
    _fields_ = [('n', ctypes.c_uint), ('insns', ctypes.c_void_p)]
DLT = {101: 12, 100: 11, 106: 19}  # LINKTYPE_ numbers whose DLT_ differs
lts = sorted(set(caps))
libpcap = {}
for lt in lts:
    p = lib.pcap_open_dead(DLT.get(lt, lt), 262144)
    for e in exprs:
        prog = Prog()
        ok = lib.pcap_compile(p, ctypes.byref(prog), e.encode(), 1, 0xffffffff) == 0
        if ok:
            lib.pcap_freecode(ctypes.byref(prog))
        libpcap[(lt, e)] = ok

lines = ''.join(f"{lt}\t{' '.join(e.split())}\n" for lt in lts for e in exprs)
out = subprocess.run([tool], input=lines, capture_output=True, text=True, check=True).stdout.split()
ours = dict(zip(((lt, e) for lt in lts for e in exprs), out))
total = for_link = refused = 0
codes = collections.Counter()
for lt in caps:
    for e in exprs:
        if libpcap[(lt, e)]:
            total += 1
            o = ours[(lt, e)]
            for_link += o == 'linktype'
            if o != 'ok':
                refused += 1
                codes[o] += 1
print(f"{len(caps)} captures, {len(exprs)} expressions, {total} pairs libpcap compiles; udf "
      f"refuses {for_link} for the link type ({100 * for_link / total:.1f}%), {refused} in all "
      f"({100 * refused / total:.1f}%): {dict(codes)}")
