"""``hubtune export OUTPUT_DIR --format onnx [--quantize int8]``."""

from __future__ import annotations

import argparse

from hubtune.compact import FORMATS, QUANTIZATIONS


def _export(args: argparse.Namespace) -> int:
    from hubtune.compact import export_compact

    report = export_compact(args.output_dir, args.format, args.quantize, split=args.split,
                            max_samples=args.max_samples, latency_examples=args.latency_examples)
    from hubtune.compact.parity import markdown

    print(f"wrote {args.output_dir}/onnx/\n" + markdown(report), end="")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="compact export (ONNX, int8) with a parity, latency and size report")
    p.add_argument("output_dir", help="a finished hubtune output folder (or a pulled repo)")
    p.add_argument("--format", default="onnx", choices=FORMATS)
    p.add_argument("--quantize", default=None, choices=QUANTIZATIONS, help="also write a dynamically quantized model")
    p.add_argument("--split", default=None, help="split for the parity check (default: validation, else test)")
    p.add_argument("--max-samples", type=int, default=1000, help="examples of the split compared (default 1000)")
    p.add_argument("--latency-examples", type=int, default=50, help="examples timed one by one (default 50)")
    p.set_defaults(func=_export)
