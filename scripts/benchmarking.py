"""What the benchmark scripts share beyond spacy_seq2seq.research.experiments: the
peak memory of the process."""

import resource


def peak_memory_gb() -> float:
    """Max resident memory of this process or any child it waited for."""
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return round(peak_kb / 1024**2, 2)
