"""How the cost of one decoding step grows with the output length: the
Transformer with its key/value cache, the Transformer recomputing the whole
prefix at each step (what the cache saves), and the recurrent model.

    OMP_NUM_THREADS=1 python scripts/benchmark_decoding_steps.py \
        configs/summarizer.cfg configs/summarizer_transformer.cfg --steps 120

Each model is the torch module its config describes (random weights: the
cost of a step does not depend on them), over a batch of --rows decoded
rows (e.g. 16 sources x beam 4) of --source-length tokens. Every step reads
a fixed token, so that no row finishes; the CPU milliseconds per step (process
time: a busy machine slows the wall clock, not this) are the
median over each window of --window steps.
"""

import json
import time
from pathlib import Path
from statistics import median
from typing import Dict, List, Optional

import torch
import typer
from spacy.util import load_config

from spacy_seq2seq.model.architectures import TORCH_MODULES
from spacy_seq2seq.model.torch_model import Sources
from spacy_seq2seq.model.transformer import TransformerSeq2SeqModule
from spacy_seq2seq.model.transformer_architecture import TransformerSeq2Seq

assert TransformerSeq2Seq  # registers the Transformer's torch module

NAMES = {
    "spacy-seq2seq.AttentionalSeq2Seq.v1": "attentional_seq2seq",
    "spacy-seq2seq.TransformerSeq2Seq.v1": "transformer_seq2seq",
}


def build_module(config_path: Path, vocab_size: int) -> torch.nn.Module:
    """The torch module of the config's (only) seq2seq component."""
    config = load_config(config_path, interpolate=False)
    (component,) = config["components"].values()
    block = dict(component["model"])
    name = NAMES[block.pop("@architectures")]
    source_width = block.pop("tok2vec")["encode"]["width"]
    block.pop("mixed_precision", None)
    return TORCH_MODULES[name](source_width, vocab_size, **block).eval()


def step_times(
    module: torch.nn.Module, sources: Sources, n_steps: int, cached: bool = True
) -> List[float]:
    """Seconds of each of n_steps decoding steps."""
    times = []
    with torch.no_grad():
        encoded = module.encode(sources)
        tokens, state = module.start(encoded)
        prefix = tokens.unsqueeze(1)  # N×1, for the uncached steps
        for _ in range(n_steps):
            start = time.process_time()
            if cached:
                probs, state = module.next_probs(tokens, state, encoded)
            else:
                decoded = module.decode(prefix, encoded)
                probs = module.probs(
                    decoded, encoded.source_ids.unsqueeze(1), encoded.n_copy_only
                )[:, -1]
            times.append(time.process_time() - start)
            tokens = torch.full_like(tokens, 5)
            prefix = torch.cat([prefix, tokens.unsqueeze(1)], 1)
    assert probs.shape[0] == sources.ids.shape[0]
    return times


def main(
    recurrent_config: Path = typer.Argument(..., exists=True, dir_okay=False),
    transformer_config: Path = typer.Argument(..., exists=True, dir_okay=False),
    steps: int = typer.Option(120, help="Decoding steps"),
    window: int = typer.Option(20, help="Steps per reported window"),
    rows: int = typer.Option(64, help="Rows decoded together"),
    source_length: int = typer.Option(30, help="Source tokens"),
    vocab_size: int = typer.Option(2000, help="Target vocabulary size"),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    runs: Dict[str, List[float]] = {}
    for label, config_path, cached in (
        ("recurrent", recurrent_config, True),
        ("transformer_cached", transformer_config, True),
        ("transformer_uncached", transformer_config, False),
    ):
        module = build_module(config_path, vocab_size)
        if not cached and not isinstance(module, TransformerSeq2SeqModule):
            raise ValueError(f"{transformer_config} is not a Transformer config")
        if isinstance(module, TransformerSeq2SeqModule):
            width = module.source_projection.in_features
        else:
            width = module.encoder.forward_rnns[0].input_size
        sources = Sources(
            torch.randn(rows, source_length, width),
            torch.full((rows,), source_length),
            torch.randint(4, vocab_size, (rows, source_length)),
            0,
        )
        step_times(module, sources, 5, cached)  # warm-up
        runs[label] = step_times(module, sources, steps, cached)
    figures = {
        "rows": rows,
        "source_length": source_length,
        "ms_per_step": {
            label: {
                f"{start + 1}-{start + window}": round(
                    1000 * median(times[start : start + window]), 2
                )
                for start in range(0, steps, window)
            }
            for label, times in runs.items()
        },
    }
    print(json.dumps(figures, indent=2))
    if output is not None:
        output.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)
