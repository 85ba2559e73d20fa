"""Time forward + backward of the bidirectional encoder against a packed torch RNN.

    python scripts/benchmark_encoder.py

The encoder reverses each source within its length instead of packing; both
give the same states (see tests/test_model.py). Prints seconds per batch.
"""

import time

import torch
import typer
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from spacy_seq2seq.model.torch_model import RNNEncoder


def main(
    batch_size: int = 64,
    max_length: int = 60,
    width: int = 128,
    hidden_width: int = 256,
    repeats: int = 10,
) -> None:
    torch.manual_seed(0)
    lengths = torch.randint(10, max_length + 1, (batch_size,))
    lengths[0] = max_length
    source = torch.randn(batch_size, max_length, width, requires_grad=True)
    encoder = RNNEncoder(width, hidden_width, 1, "lstm", 0.0)
    packed_rnn = torch.nn.LSTM(
        width, hidden_width // 2, bidirectional=True, batch_first=True
    )

    def packed() -> torch.Tensor:
        inputs = pack_padded_sequence(
            source, lengths, batch_first=True, enforce_sorted=False
        )
        return pad_packed_sequence(packed_rnn(inputs)[0], batch_first=True)[0]

    def reversed_within_length() -> torch.Tensor:
        return encoder(source, lengths)[0]

    for run in (packed, reversed_within_length):
        for _ in range(2):
            run().sum().backward()
        start = time.perf_counter()
        for _ in range(repeats):
            run().sum().backward()
        seconds = (time.perf_counter() - start) / repeats
        print(f"{run.__name__:>24}: {seconds:.3f} s per batch (forward + backward)")


if __name__ == "__main__":
    typer.run(main)
