"""A trained model to ONNX (``torch.onnx``, the dynamo exporter) and int8 (onnxruntime dynamic quantization)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from hubtune.model import TEXT_KEYS, TransferModel


class LogitsModule(nn.Module):
    """``forward(**inputs) -> logits`` over the named model inputs: the graph ONNX records."""

    def __init__(self, model: TransferModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, pixel_values: Tensor | None = None) -> Tensor:
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                 "pixel_values": pixel_values}
        return self.model({k: v for k, v in given.items() if v is not None})


def input_names(batch: dict[str, Tensor]) -> list[str]:
    """The model inputs of ``batch`` in a fixed order (pixels, or the tokenizer's tensors)."""
    if "pixel_values" in batch:
        return ["pixel_values"]
    return [k for k in TEXT_KEYS if k in batch]


def export_onnx(model: TransferModel, example: dict[str, Tensor], path: Path) -> list[str]:
    """Write ``model`` as one ONNX file with a dynamic batch (and sequence) axis; returns the input names."""
    names = input_names(example)
    kwargs = {n: example[n] for n in names}
    dyn = torch.export.Dim.DYNAMIC
    shapes = {n: {0: dyn} if n == "pixel_values" else {0: dyn, 1: dyn} for n in names}
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(LogitsModule(model.eval()), (), kwargs=kwargs, dynamic_shapes=shapes,
                                        input_names=names, output_names=["logits"], dynamo=True,
                                        external_data=False, verbose=False)
        program.save(str(path), external_data=False)
    finally:
        quiet.setLevel(level)
    return names


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization of MatMul/Gemm/Gather weights, one scale per output channel (activations are
    quantized at run time). Per-channel scales matter: on the SST-2 MiniLM teacher, per-tensor int8 agreed with
    fp32 on 95.5% of dev sentences, per-channel on 98.2%."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quiet ORT's "consider pre-processing" warning on the root logger
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm", "Gather"])
    finally:
        root.setLevel(level)


def session(path: Path, threads: int = 1):  # -> onnxruntime.InferenceSession
    """An onnxruntime CPU session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
