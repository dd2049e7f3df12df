"""Merging a new hubtune model card into the one a repo already has.

The generated body sits between ``<!-- hubtune:begin`` and ``<!-- hubtune:end -->`` markers, so a
new card replaces it while keeping what a user wrote around it; hubtune's own YAML keys are
replaced, the user's are kept, tags are the union.
"""

from __future__ import annotations

import re

from huggingface_hub import ModelCard, ModelCardData

BEGIN, END = "<!-- hubtune:begin", "<!-- hubtune:end -->"
OWNED_KEYS = ("base_model", "datasets", "library_name", "pipeline_tag", "model-index")
HF_HUB = "https://huggingface.co"
_REPO_MARK = re.compile(r"<!-- hubtune:repo (\S+) -->\n(?:> This model lives on .*\n\n)?")
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


def retarget(text: str, repo_id: str, endpoint: str | None) -> str:
    """The card with its "How to use" naming ``repo_id`` (the repo it is pushed to) and, on any hub but the
    Hugging Face Hub, that hub's URL and how to point the stock clients at it."""
    match = _REPO_MARK.search(text)
    if match is None:
        return text
    old = match.group(1)
    note = ""
    if endpoint == "local":
        note = (f"> This model lives in a local hubtune hub: `hubtune pull {repo_id} --to FOLDER` brings it into a "
                "folder (then load from the folder), or `hubtune hub serve` serves it at http://127.0.0.1:8765 "
                "(then `export HF_ENDPOINT=http://127.0.0.1:8765 HF_HUB_DISABLE_XET=1` before the code below).\n\n")
    elif endpoint and endpoint.rstrip("/") != HF_HUB:
        url = endpoint.rstrip("/")
        note = (f"> This model lives on the hub at [{url}/{repo_id}]({url}/{repo_id}), not the Hugging Face Hub: "
                f"run `export HF_ENDPOINT={url} HF_HUB_DISABLE_XET=1` before the code below.\n\n")
    start, end = match.span()
    body = text[end:]
    cut = body.find("\n## ")  # the usage section ends at the next heading
    usage, rest = (body, "") if cut == -1 else (body[:cut], body[cut:])
    return text[:start] + f"<!-- hubtune:repo {repo_id} -->\n" + note + usage.replace(old, repo_id) + rest
