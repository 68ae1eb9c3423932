#!/usr/bin/env python3
"""Makes test/fixtures/hpack/python-hpack-vectors.json: HPACK header blocks encoded by an
independent implementation (python-hpack, MIT; `pip install hpack==4.2.0`), for the probe's decoder
to decode (test/unit/hpack.test.ts). Each sequence is one connection direction: its blocks share
one dynamic table. Seeded: the same file every run.

Run: python3 scripts/make-hpack-vectors.py
"""
import json
import random
from pathlib import Path

import hpack
from hpack import Encoder, NeverIndexedHeaderTuple

random.seed(20261202)
NAMES = [':method', ':path', ':authority', ':scheme', 'user-agent', 'cookie', 'content-type',
         'x-device-imei', 'x-mi-phone', 'accept-encoding', 'authorization', 'x-custom-' ]
ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~/?=&%+:;, '


def value():
    kind = random.random()
    if kind < 0.1:
        return ''
    if kind < 0.2:
        # any byte 0x20-0xff (latin-1), Huffman codes of every length
        return ''.join(chr(random.randint(0x20, 0xff)) for _ in range(random.randint(1, 40)))
    return ''.join(random.choice(ALPHABET) for _ in range(random.randint(1, random.choice([8, 40, 300]))))


sequences = []
for s in range(60):
    encoder = Encoder()
    huffman = s % 2 == 0
    blocks = []
    for b in range(random.randint(1, 12)):
        if random.random() < 0.15:
            encoder.header_table_size = random.choice([0, 64, 256, 1024, 4096])
        headers = []
        for _ in range(random.randint(1, 10)):
            name = random.choice(NAMES)
            if name.endswith('-'):
                name += str(random.randint(0, 5))
            v = value()
            headers.append(NeverIndexedHeaderTuple(name, v) if random.random() < 0.1 else (name, v))
        block = encoder.encode(headers, huffman=huffman)
        blocks.append({'hex': block.hex(), 'headers': [[n, v] for n, v in headers]})
    sequences.append({'huffman': huffman, 'blocks': blocks})

out = Path(__file__).resolve().parent.parent / 'test' / 'fixtures' / 'hpack' / 'python-hpack-vectors.json'
out.write_text(json.dumps({'encoder': f'python-hpack {hpack.__version__}', 'sequences': sequences}, ensure_ascii=False) + '\n')
print(f'wrote {out}: {len(sequences)} sequences, {sum(len(s["blocks"]) for s in sequences)} blocks')
