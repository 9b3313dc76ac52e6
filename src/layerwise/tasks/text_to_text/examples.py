"""What a text-to-text run keeps of its test pairs for the report: the first pairs and the
worst ones (by the served model's sentence chrF) with every model's output beside the
reference, and the Transformer's attention maps: for a few test sources, which source tokens
each output token looked at in the last decoder layer (the layer view of this task)."""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.runs.folder import RunFolder

EXAMPLES = "examples/examples.json"
ATTENTION = "examples/attention.png"
FIRST, WORST, MAPS = 12, 8, 3
MAX_SHOWN_TOKENS = 24  # an attention map's side, in tokens


def write_examples(run: RunFolder, test: Any, found: dict[str, list[str]], chosen: str) -> None:
    """``examples.json``: the first and the worst test pairs with each model's output."""
    from layerwise.tasks.text_to_text.scores import sentence_scores

    if not test.sources:
        return
    chrf = sentence_scores(found[chosen], test.targets)
    worst = [int(i) for i in np.argsort(chrf, kind="stable")[:WORST]]

    def rows(index: list[int]) -> list[dict[str, Any]]:
        return [{"source": test.sources[i], "reference": test.targets[i],
                 "outputs": {name: out[i] for name, out in found.items()},
                 "chrf": round(float(chrf[i]), 1)} for i in index]  # fmt: skip

    run.file("examples").mkdir(exist_ok=True)
    run.write_json(EXAMPLES, {"served": chosen, "first": rows(list(range(min(FIRST, len(test))))),
                              "worst": rows(worst)})  # fmt: skip


def write_attention(run: RunFolder, model: Any, test: Any) -> None:
    """Heat maps of the last decoder layer's cross-attention (mean over heads) for up to
    ``MAPS`` short test sources, against the Transformer's own greedy output."""
    import torch

    from layerwise.tasks.text_to_text.batches import pad_rows
    from layerwise.tasks.text_to_text.tokens import BOS_ID, EOS_ID

    picks = [i for i in range(len(test)) if 3 <= len(test.sources[i].split()) <= 12][:MAPS]
    if not picks or model.model is None:
        return
    tok, net = model.tokenizer, model.model
    maps = []
    for i in picks:
        source = tok.encode([test.sources[i]])[0][:MAX_SHOWN_TOKENS]
        with torch.no_grad():
            reply = net.greedy(pad_rows([source]), max_len=MAX_SHOWN_TOKENS)[0]
            target = torch.tensor([[BOS_ID, *reply]], dtype=torch.long)
            weights = net.attention_maps(pad_rows([source]), target)[0].mean(0).numpy()
        labels_out = tok.tokens([*reply, EOS_ID])[: weights.shape[0]]
        maps.append((weights[: len(labels_out), : len(source)], tok.tokens(source), labels_out))
    run.file("examples").mkdir(exist_ok=True)
    run.write_with(ATTENTION, lambda path: _draw(maps, path))


def _draw(maps: list[tuple[np.ndarray, list[str], list[str]]], path: Any) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = sum(2.0 + 0.32 * m[0].shape[1] for m in maps)
    height = 1.6 + 0.3 * max(m[0].shape[0] for m in maps)
    fig = Figure(figsize=(max(width, 4.0), height), dpi=90)
    FigureCanvasAgg(fig)
    for k, (weights, source, output) in enumerate(maps):
        ax = fig.add_subplot(1, len(maps), k + 1)
        ax.imshow(weights, cmap="Blues", vmin=0, vmax=max(float(weights.max()), 1e-6),
                  aspect="auto")  # fmt: skip
        ax.set_xticks(range(len(source)), [t.strip() or "␣" for t in source], rotation=60,
                      ha="right", fontsize=7)  # fmt: skip
        ax.set_yticks(range(len(output)), [t.strip() or "␣" for t in output], fontsize=7)
        ax.set_xlabel("source tokens", fontsize=8)
        if k == 0:
            ax.set_ylabel("output tokens", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
