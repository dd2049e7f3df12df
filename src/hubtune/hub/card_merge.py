"""Merging a new hubtune model card into the one a repo already has.

The generated body sits between ``<!-- hubtune:begin`` and ``<!-- hubtune:end -->`` markers, so a
new card replaces it while keeping what a user wrote around it; hubtune's own YAML keys are
replaced, the user's are kept, tags are the union.
"""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

BEGIN, END = "<!-- hubtune:begin", "<!-- hubtune:end -->"
OWNED_KEYS = ("base_model", "datasets", "library_name", "pipeline_tag", "model-index")
CARD_TEMPLATE = "---\n{{ card_data }}\n---\n{{ body }}"


def _generated_span(text: str) -> tuple[int, int] | None:
    start, end = text.find(BEGIN), text.find(END)
    return (start, end + len(END)) if start != -1 and end > start else None


def merge_with_existing(new: ModelCard, existing: ModelCard | None) -> ModelCard:
    """``new`` merged into ``existing``: our YAML keys and generated block replaced, the rest kept.

    Tags are the union; a user's ``license`` stays unless ``new`` sets one. Without markers in
    ``existing`` its text is kept and the generated block is appended after it.
    """
    if existing is None:
        return new
    old, ours = existing.data.to_dict(), new.data.to_dict()
    merged = {k: v for k, v in old.items() if k not in OWNED_KEYS}
    old_tags = old.get("tags") or []
    for key, value in ours.items():
        merged[key] = (
            list(dict.fromkeys([*([old_tags] if isinstance(old_tags, str) else old_tags), *value]))
            if key == "tags"
            else value
        )
    span_new, span_old = _generated_span(new.text), _generated_span(existing.text)
    block = new.text[span_new[0] : span_new[1]] if span_new else new.text.strip()
    if span_old:
        body = existing.text[: span_old[0]] + block + existing.text[span_old[1] :]
    else:
        body = (existing.text.strip() + "\n\n" if existing.text.strip() else "") + block + "\n"
    return ModelCard.from_template(ModelCardData(**merged), template_str=CARD_TEMPLATE, body=body)
