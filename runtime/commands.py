"""The ``translate`` command (runtime only)."""

from __future__ import annotations

import argparse
import json
import sys

from .model import Seq2SeqModel


def translate(args: argparse.Namespace) -> int:
    model = Seq2SeqModel.load(args.model, device=args.device, threads=args.threads, use_fused=not args.steps)
    texts = list(args.texts) if args.texts else [line.rstrip("\r\n") for line in sys.stdin]
    results = model.decode(
        texts,
        batch_size=args.batch_size,
        max_length=args.max_length,
        unknown=args.unknown,
        truncate=args.truncate,
    )
    out = sys.stdout
    for text, result in zip(texts, results, strict=True):
        if args.json:
            out.write(json.dumps({"input": text, **result.to_dict()}, ensure_ascii=False) + "\n")
        else:
            out.write(result.text + "\n")
    out.flush()
    return 0
