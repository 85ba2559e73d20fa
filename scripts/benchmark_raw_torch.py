"""A plain PyTorch training loop of the same model size and batch shapes as
`spacy train`, and our training speed as a ratio of it.

    python scripts/benchmark_raw_torch.py configs/summarizer.cfg --budget 120 [--gpu-id 0]

The plain loop trains the same torch seq2seq module on the same batches (the
config's batcher over the Reuters training pairs, made into tensors before
the clock starts), with an embedding of the same width in place of spaCy's
tok2vec, Adam and global-norm clipping, and nothing else: no spaCy, no thinc.
Then our pipeline trains for the same budget (scripts/benchmarking.py) and
the script prints both source tokens/s and their ratio.
"""

import json
import time
from pathlib import Path
from typing import Any, Dict, List

import spacy
import torch
import typer
from spacy.training.initialize import init_nlp
from spacy.training.loop import create_train_batches
from spacy.util import load_config, registry, resolve_dot_names
from wasabi import msg

from spacy_seq2seq.model.architectures import count_copy_only_words
from spacy_seq2seq.model.torch_model import (
    AttentionalSeq2SeqModule,
    LossInputs,
    Sources,
)
from spacy_seq2seq.model.vocab import PAD_ID
from spacy_seq2seq.pipeline import find_component
from spacy_seq2seq.research.experiments import (
    corpus_overrides,
    data_dir,
    train_for_budget,
)

DATA = data_dir("reuters21578_headlines")


class PlainSeq2Seq(torch.nn.Module):
    """Source embedding (hashed words, the tok2vec's width) + our module."""

    def __init__(
        self, rows: int, width: int, vocab_size: int, settings: Dict[str, Any]
    ):
        super().__init__()
        self.rows = rows
        self.embed = torch.nn.Embedding(rows, width)
        self.mix = torch.nn.Linear(width, width)
        self.seq2seq = AttentionalSeq2SeqModule(width, vocab_size, **settings)

    def forward(self, batch: Dict[str, Any]) -> torch.Tensor:
        source = torch.relu(self.mix(self.embed(batch["hashes"] % self.rows)))  # B×T×W
        sources = Sources(
            source, batch["source_lengths"], batch["source_ids"], batch["n_copy_only"]
        )
        losses = self.seq2seq(LossInputs(sources, batch["target_ids"]))
        return losses.sum() / batch["n_tokens"]


def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    budget: float = typer.Option(120.0, help="Seconds of training, each loop"),
    steps: int = typer.Option(0, help="Updates each loop, if sooner (0: no limit)"),
    data_dir: Path = typer.Option(DATA, help="Folder with train/dev.jsonl.gz"),
    n_batches: int = typer.Option(200, help="Batches the plain loop cycles over"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for the CPU"),
    output: Path = typer.Option(None, help="Write the figures as JSON"),
) -> None:
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    overrides = corpus_overrides(data_dir)
    plain = plain_tokens_per_s(config_path, overrides, budget, steps, n_batches, gpu_id)
    ours = train_for_budget(
        config_path, overrides, budget, eval_every=budget, max_steps=steps
    ).figures
    figures = {
        "plain_torch_source_tokens_per_s": plain,
        "ours_source_tokens_per_s": ours["train_source_tokens_per_s"],
        "ratio_ours_to_plain": round(ours["train_source_tokens_per_s"] / plain, 2),
        "device": "cuda" if gpu_id >= 0 else "cpu",
    }
    msg.table(figures, header=("figure", "value"), divider=True)
    if output is not None:
        output.write_text(json.dumps(figures, indent=2) + "\n")


def plain_tokens_per_s(
    config_path: Path,
    overrides: Dict[str, str],
    budget: float,
    steps: int,
    n_batches: int,
    gpu_id: int,
) -> int:
    config = load_config(config_path, overrides={**overrides, "training.max_epochs": 0})
    nlp = init_nlp(config)
    config = nlp.config.interpolate()
    training = registry.resolve(config["training"])
    (train_corpus,) = resolve_dot_names(config, [training["train_corpus"]])
    component = find_component(nlp)
    settings = nlp.config["components"][component.name]["model"]
    embed = settings["tok2vec"]["embed"]
    module_settings = {
        key: settings[key]
        for key in (
            "embed_width",
            "hidden_width",
            "encoder_layers",
            "bidirectional",
            "rnn_type",
            "attention",
            "attention_width",
            "attention_heads",
            "attention_window",
            "input_feeding",
            "coverage",
            "dropout",
            "copy",
            "tie_embeddings",
            "init",
        )
        if key in settings
    }
    defaults = {
        "bidirectional": True,
        "attention_heads": 1,
        "attention_window": 0,
        "input_feeding": True,
        "coverage": False,
        "init": "default",
    }
    device = torch.device(f"cuda:{gpu_id}" if gpu_id >= 0 else "cpu")
    model = PlainSeq2Seq(
        embed["rows"][0],
        embed["width"],
        len(component.target_vocab),
        {**defaults, **module_settings},
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    batches = []
    for _, examples in create_train_batches(nlp, train_corpus, training["batcher"], 1):
        batches.append(tensors(component, examples, device))
        if len(batches) == n_batches:
            break
    model.train()
    tokens, seconds, step = 0, 0.0, 0
    while seconds < budget and not (steps and step == steps):
        batch = batches[step % len(batches)]
        start = time.perf_counter()
        optimizer.zero_grad()
        model(batch).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), component.grad_clip)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
        tokens += batch["n_source_tokens"]
        step += 1
    msg.info(f"Plain loop: {step} updates in {seconds:.0f}s")
    return round(tokens / seconds)


def tensors(component, examples: List, device: torch.device) -> Dict[str, Any]:
    """The batch the torch module reads, built once, outside the clock."""
    batch, n_tokens = component._make_training_batch(examples)
    sources = batch.sources
    rows = [i for i, ids in enumerate(sources.ids) if ids]
    source_ids = [sources.ids[i] for i in rows]
    target_ids = [batch.target_ids[i] for i in rows]
    hashes = [
        [
            hash(token.norm_) % (2**31)
            for token in sources.docs[i][sources.starts[i] :][: len(sources.ids[i])]
        ]
        for i in rows
    ]

    def pad(sequences: List[List[int]]) -> torch.Tensor:
        padded = torch.full((len(sequences), max(map(len, sequences))), PAD_ID)
        for row, sequence in enumerate(sequences):
            padded[row, : len(sequence)] = torch.tensor(sequence)
        return padded.to(device)

    return {
        "hashes": pad(hashes),
        "source_lengths": torch.tensor([len(ids) for ids in source_ids]),
        "source_ids": pad(source_ids),
        "target_ids": pad(target_ids),
        "n_copy_only": count_copy_only_words(source_ids, len(component.target_vocab)),
        "n_tokens": n_tokens,
        "n_source_tokens": sum(len(ids) for ids in source_ids),
    }


if __name__ == "__main__":
    typer.run(main)
