import pytest
import spacy
from thinc.api import Adam

from spacy_seq2seq.readers import create_dialogue_reader

from .conftest import (
    SMALL_MODELS,
    make_responder_nlp,
    make_summarizer_nlp,
    read_examples,
    train,
)

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("mixed_precision", [False, True])
@pytest.mark.parametrize("model_name", list(SMALL_MODELS))
def test_summarizer_trains_and_summarizes_on_a_gpu(
    reuters_dir, model_name, mixed_precision
):
    spacy.require_gpu(0)
    try:
        model = {**SMALL_MODELS[model_name], "mixed_precision": mixed_precision}
        nlp = make_summarizer_nlp(min_count=1, model=model)
        examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=100)
        nlp.initialize(lambda: examples)
        module = nlp.get_pipe("summarizer").model.get_ref("seq2seq").shims[0]._model
        assert next(module.parameters()).is_cuda
        optimizer = Adam(0.003, L2=0.0, grad_clip=0.0)
        epoch_losses = []
        for _ in range(10):
            losses = {}
            for start in range(0, len(examples), 25):
                nlp.update(examples[start : start + 25], sgd=optimizer, losses=losses)
            epoch_losses.append(losses["summarizer"])
        assert epoch_losses[-1] < epoch_losses[0] / 2
        assert isinstance(nlp(examples[0].reference.text)._.summary, str)
    finally:
        spacy.require_cpu()


def test_responder_trains_and_samples_on_a_gpu(cmu_dog_dir):
    spacy.require_gpu(0)
    try:
        nlp = make_responder_nlp(min_count=1)
        read = create_dialogue_reader(cmu_dog_dir / "train.jsonl.gz", limit=100)
        trained = train(nlp, list(read(nlp)), epochs=10)
        assert trained.losses[-1] < trained.losses[0] / 2
        texts = [eg.predicted.text for eg in trained.examples[:8]] + [""]
        beam = [doc._.responses for doc in nlp.pipe(texts)]
        assert all(len(responses) == 5 for responses in beam)
        search = nlp.get_pipe("responder").decoding
        search.decoding, search.seed = "sampling", 3
        sampled = [doc._.response for doc in nlp.pipe(texts)]
        assert sampled == [nlp(text)._.response for text in texts]
    finally:
        spacy.require_cpu()
