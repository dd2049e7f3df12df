"""``adaptation.json`` → ``adaptation.md``: every number and sentence of the report comes from the document."""

from __future__ import annotations

from typing import Any

from bench.machine import describe

TASKS = {  # task -> (title, target name, source name)
    "digits": ("MNIST → USPS (`digits_shift`, 16×16 digits; target test = the labelled USPS test digits)", "USPS",
               "MNIST"),
    "amazon": ("Amazon books → electronics (all-MiniLM-L6-v2; target test = 1,000 labelled electronics reviews, "
               "transductive: the unlabeled pool comes from the same file)", "electronics", "books"),
}
NAMES = {"source_only": "source-only", "dann": "DANN", "mmd": "MMD", "coral": "CORAL", "mcc": "MCC",
         "cdan_e": "CDAN+E", "cdan": "CDAN", "importance": "importance", "contractive": "contractive"}


def pct(stat: dict[str, Any]) -> str:
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}" if stat else "–"


def signed(x: float) -> str:
    return f"{x:+.1f}"


def protocol_line(proto: dict[str, Any]) -> str:
    if not proto:
        return "Settings: the task's recipes in `recipes/adaptation/`."
    base = next(iter(proto.values()))
    adapted = next((p for p in proto.values() if p.get("method")), {})
    kwargs = ", ".join(f"{k} {v}" for k, v in (base.get("kwargs") or {}).items())
    samples = f", {base['max_train_samples']:,} source training rows" if base.get("max_train_samples") else ""
    return (f"Backbone `{base['backbone']}`{f' ({kwargs})' if kwargs else ''}; {base['optimizer']} lr {base['lr']:g}, "
            f"{base['epochs']} epochs, batch {base['batch_size']} (+{base['batch_size']} unlabeled target rows in "
            f"adapted runs){samples}; adaptation weight {adapted.get('weight')}, selection "
            f"`{adapted.get('selection')}`. Recipes: `recipes/adaptation/`.")


def task_section(task: str, results: dict[str, Any], proto: dict[str, Any]) -> list[str]:
    title, target, source = TASKS[task]
    lines = [f"## {title}", "", protocol_line(proto), "",
             f"| method | {target} test acc (source_val) | {target} test acc (last) | {source} val acc "
             "| seconds (mean) | seeds |", "|---|---|---|---|---|---|"]
    for method, e in results.items():
        lines.append(f"| {method} | {pct(e['target_test_acc_source_val_selected'])} | "
                     f"{pct(e['target_test_acc_last'])} | {pct(e['source_val_acc'])} | "
                     f"{e['seconds']['mean']:.0f} | {e['seeds']} |")
    lines += ["", "Mean ± population std over the seeds listed; seconds are wall-clock on the machine above."]
    lines += gains(results)
    return [*lines, ""]


def gains(results: dict[str, Any]) -> list[str]:
    """Gains over source-only, by mean and paired by seed where the seeds differ."""
    base = results.get("source_only")
    if not base:
        return []
    key = "target_test_acc_source_val_selected"
    by_seed = dict(zip(base["seeds"], base[key]["values"], strict=True))
    parts = []
    for method, e in results.items():
        if method == "source_only" or not e[key]:
            continue
        text = f"{NAMES.get(method, method)} {signed(100 * (e[key]['mean'] - base[key]['mean']))}"
        if e["seeds"] != base["seeds"]:
            paired = [signed(100 * (v - by_seed[s])) for s, v in zip(e["seeds"], e[key]["values"], strict=True)]
            text += f" (paired by seed {', '.join(map(str, e['seeds']))}: {', '.join(paired)})"
        parts.append(text)
    return [f"Gain over source-only in target test accuracy (source_val selection, points): {'; '.join(parts)}."]


def discrepancy_section(disc: dict[str, Any]) -> list[str]:
    lines = ["## Discrepancy (`hubtune discrepancy`, up to 1,000 rows per side)", "",
             "| pair | MK-MMD² | proxy A-distance | domain error | CORAL | control (source halves) MMD / A-dist |",
             "|---|---|---|---|---|---|"]
    for name, r in disc.items():
        st, c = r["source vs target"], r["control: source halves"]
        lines.append(f"| {name} | {st['mmd']:.4f} | {st['proxy_a_distance']:.3f} | {st['domain_error']:.3f} | "
                     f"{st['coral']:.2e} | {c['mmd']:.4f} / {c['proxy_a_distance']:.3f} |")
    return [*lines, ""]


def _score(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def rank_section(rank: dict[str, Any]) -> list[str]:
    ref = rank.get("reference", {})
    lines = [f"## Choosing the source (`hubtune rank` on `{rank['data']}`, sorted by {rank['sort_by']})", "",
             "Fine-tuned acc: each candidate fine-tuned with `recipes/adaptation/usps-finetune.yaml` (one seed), "
             "USPS test accuracy.", "", "| candidate | LogME | LEEP | NCE | H-score | fine-tuned acc |",
             "|---|---|---|---|---|---|"]
    for r in rank["candidates"]:
        acc = ref.get(r["candidate"])
        lines.append(f"| {r['candidate']} | {_score(r['logme'])} | {_score(r['leep'])} | {_score(r['nce'])} | "
                     f"{_score(r['h_score'])} | {'–' if acc is None else f'{100 * acc:.1f}'} |")
    taus = rank.get("kendall_tau")
    if taus:
        lines += ["", "Kendall τ against the fine-tuned accuracy (LEEP and NCE over the candidates with a source "
                  "head): " + ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in taus.items()) + "."]
    return [*lines, ""]


def render(doc: dict[str, Any]) -> str:
    """The whole report."""
    hw = doc.get("hardware", {})
    hw_lines = [f"- {task}: {describe(v)}" for task, v in hw.items()] if isinstance(hw, dict) else [f"- {hw}"]
    lines = ["# Domain adaptation, discrepancy and source ranking", "",
             "Written by `python -m bench.adaptation render` from `adaptation.json` (commands: `bench/README.md`). "
             "Target labels are used only to report test accuracy: `source_val` = the weights with the best "
             "**source** validation accuracy, `last` = the final epoch's weights.", "", "Machine:", *hw_lines, ""]
    for task in TASKS:
        if doc.get(task):
            lines += task_section(task, doc[task], doc.get("protocol", {}).get(task, {}))
    if doc.get("discrepancy"):
        lines += discrepancy_section(doc["discrepancy"])
    if doc.get("rank"):
        lines += rank_section(doc["rank"])
    return "\n".join(lines).rstrip() + "\n"
