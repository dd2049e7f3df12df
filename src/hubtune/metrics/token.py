"""Token classification metrics: seqeval-style entity scores and token accuracy (no seqeval needed).

Inputs, both accepted:

* lists of per-sentence sequences (ragged), already free of ``-100``; or
* arrays ``(n, seq_len)`` where ``references == -100`` marks ignored positions (sub-word
  pieces, padding): those positions are dropped from predictions and references alike.
  Predictions of shape ``(n, seq_len, num_labels)`` are arg-maxed first.

Items are label ids (mapped through ``label_names``) or tag strings such as ``"B-PER"``.
Entities are chunked per sentence with :func:`get_entities`: by default leniently, like
seqeval's default mode, which reads IOB1 and IOB2 (an ``I-X`` after ``O`` or another type
opens an entity) and tolerates ``E-``/``S-`` tags; ``strict=True`` follows IOB2 strictly
(only ``B-X`` opens an entity; a stray ``I-X`` belongs to none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from hubtune.metrics.core import add_metric

Entity = tuple[str, int, int]  # (type, first token, last token), inclusive
IGNORE = -100


def _parse(tag: str) -> tuple[str, str]:
    """``"B-PER"`` → ``("B", "PER")``; ``"O"`` → ``("O", "")``; a bare type is an IO-scheme ``I``."""
    tag = str(tag)
    if tag in ("O", "", "-"):
        return "O", ""
    head, sep, rest = tag.partition("-")
    if head in ("B", "I", "E", "S") and (sep or len(tag) == 1):
        return head, rest or "_"
    return "I", tag


def get_entities(tags: Sequence[str], *, strict: bool = False) -> list[Entity]:
    """The entity spans in one sentence's tags."""
    found: list[Entity] = []
    cur: tuple[str, int] | None = None  # open entity: (type, start)

    def close(end: int) -> None:
        nonlocal cur
        if cur is not None:
            found.append((cur[0], cur[1], end))
            cur = None

    for i, tag in enumerate(tags):
        prefix, typ = _parse(tag)
        if prefix == "O":
            close(i - 1)
            continue
        continues = cur is not None and cur[0] == typ and prefix in ("I", "E")
        if not continues:
            close(i - 1)
            if strict and prefix not in ("B", "S"):
                continue
            cur = (typ, i)
        if prefix in ("E", "S"):
            close(i)
    close(len(tags) - 1)
    return found


def _to_tag(item: Any, label_names: Sequence[str] | None) -> str:
    if isinstance(item, str):
        return item
    if label_names is None:
        raise ValueError("token metrics got label ids but no label_names to turn them into tags like 'B-PER'")
    return str(label_names[int(item)])


def align(predictions: Any, references: Any) -> list[tuple[list[Any], list[Any]]]:
    """Pair per-sentence predictions and references, dropping positions whose reference is -100."""
    if isinstance(predictions, np.ndarray) and predictions.ndim == 3:
        predictions = predictions.argmax(-1)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted sentences but {len(references)} reference sentences")
    pairs = []
    for i, (pred, ref) in enumerate(zip(predictions, references, strict=True)):
        pred, ref = list(np.asarray(pred).tolist()), list(np.asarray(ref).tolist())
        if len(pred) < len(ref):
            raise ValueError(f"sentence {i}: {len(pred)} predictions for {len(ref)} references")
        keep = [j for j, r in enumerate(ref) if isinstance(r, str) or r != IGNORE]
        pairs.append(([pred[j] for j in keep], [ref[j] for j in keep]))
    return pairs


def tag_pairs(
    predictions: Any, references: Any, label_names: Sequence[str] | None = None
) -> list[tuple[list[str], list[str]]]:
    """Aligned per-sentence (predicted tags, reference tags)."""
    return [
        ([_to_tag(p, label_names) for p in pred], [_to_tag(r, label_names) for r in ref])
        for pred, ref in align(predictions, references)
    ]


def _prf(correct: int, n_pred: int, n_true: int) -> dict[str, float]:
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_true if n_true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def seqeval_report(
    predictions: Any, references: Any, *, label_names: Sequence[str] | None = None, strict: bool = False
) -> dict[str, Any]:
    """seqeval-like report: ``overall_precision/recall/f1/accuracy`` and per-type dicts with ``number``."""
    pred_ents: set[tuple[int, str, int, int]] = set()
    true_ents: set[tuple[int, str, int, int]] = set()
    hits = total = 0
    for s, (pred, ref) in enumerate(tag_pairs(predictions, references, label_names)):
        pred_ents.update((s, *e) for e in get_entities(pred, strict=strict))
        true_ents.update((s, *e) for e in get_entities(ref, strict=strict))
        hits += sum(p == r for p, r in zip(pred, ref, strict=False))
        total += len(ref)
    correct = pred_ents & true_ents
    report: dict[str, Any] = {}
    n_true, n_pred, n_ok = (Counter(e[1] for e in ents) for ents in (true_ents, pred_ents, correct))
    for typ in sorted(set(n_true) | set(n_pred)):
        report[typ] = {**_prf(n_ok[typ], n_pred[typ], n_true[typ]), "number": n_true[typ]}
    overall = _prf(len(correct), len(pred_ents), len(true_ents))
    report.update({f"overall_{k}": v for k, v in overall.items()})
    report["overall_accuracy"] = hits / total if total else 0.0
    return report


def seqeval_precision(
    predictions: Any, references: Any, *, label_names: Any = None, strict: bool = False, **_: Any
) -> float:
    """Entity-level micro precision."""
    return seqeval_report(predictions, references, label_names=label_names, strict=strict)["overall_precision"]


def seqeval_recall(
    predictions: Any, references: Any, *, label_names: Any = None, strict: bool = False, **_: Any
) -> float:
    """Entity-level micro recall."""
    return seqeval_report(predictions, references, label_names=label_names, strict=strict)["overall_recall"]


def seqeval_f1(predictions: Any, references: Any, *, label_names: Any = None, strict: bool = False, **_: Any) -> float:
    """Entity-level micro F1."""
    return seqeval_report(predictions, references, label_names=label_names, strict=strict)["overall_f1"]


def token_accuracy(predictions: Any, references: Any, **_: Any) -> float:
    """Share of right tokens, ignoring positions whose reference is -100."""
    pairs = align(predictions, references)
    total = sum(len(r) for _, r in pairs)
    hits = sum(p == r for pred, ref in pairs for p, r in zip(pred, ref, strict=False))
    return hits / total if total else 0.0


_T = "token_classification"
add_metric("seqeval_precision", _T, seqeval_precision, description="entity-level precision (micro)")
add_metric("seqeval_recall", _T, seqeval_recall, description="entity-level recall (micro)")
add_metric("seqeval_f1", _T, seqeval_f1, description="entity-level F1 (micro)")
add_metric("token_accuracy", _T, token_accuracy, description="token accuracy ignoring -100")
