"""Entity-level scores like `seqeval`, as an offline `evaluate` module (no seqeval package needed)."""

import datasets
import evaluate

from hubtune.metrics import token

_DESCRIPTION = "Entity-level precision, recall and F1 over IOB1/IOB2 tags, plus token accuracy."
_KWARGS = """
Args:
    predictions: per-sentence lists of tags ("B-PER", "I-PER", "O"), or label ids with label_names.
    references: per-sentence lists of tags (or ids; -100 marks ignored positions).
    label_names: maps ids to tags when ids are given.
    strict: follow IOB2 strictly (a stray I- tag opens no entity).
Returns:
    overall_precision, overall_recall, overall_f1, overall_accuracy, and per entity type
    a dict with precision, recall, f1 and number.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Seqeval(evaluate.Metric):
    def _info(self):
        def feats(value):
            seq = datasets.Sequence(value)
            return datasets.Features({"predictions": seq, "references": seq})

        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=[feats(datasets.Value("string")), feats(datasets.Value("int64"))],
            reference_urls=["https://github.com/chakki-works/seqeval"],
        )

    def _compute(self, predictions, references, label_names=None, strict=False):
        return token.seqeval_report(predictions, references, label_names=label_names, strict=strict)
