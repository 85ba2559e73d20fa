import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import torch

from spacy_seq2seq.model.architectures import (
    pad_sources,
    to_torch_sources,
    torch_device,
    torch_module,
)
from spacy_seq2seq.model.decoding import BeamSearch
from spacy_seq2seq.model.search import beam_search, single_path_search

from .conftest import SMALL_MODELS, make_summarizer_nlp


def test_factory_resolves_through_the_entry_point():
    # a fresh interpreter that never imports spacy_seq2seq itself
    code = (
        "import spacy, sys; nlp = spacy.blank('en'); nlp.add_pipe('seq2seq_summarizer');"
        "assert 'spacy_seq2seq' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_untrained_component_raises_spacys_error():
    nlp = spacy.blank("en")
    nlp.add_pipe("seq2seq_summarizer")
    with pytest.raises(ValueError, match="initialize"):
        nlp("the bank of japan kept its discount rate unchanged.")


@pytest.mark.slow
def test_training_overfits_real_pairs(overfitted):
    assert overfitted.losses[-1] < overfitted.losses[0] / 2
    texts = [eg.reference.text for eg in overfitted.examples[:20]]
    summaries = [doc._.summary for doc in overfitted.nlp.pipe(texts)]
    references = [eg.reference._.summary for eg in overfitted.examples[:20]]
    assert sum(s == r for s, r in zip(summaries, references)) >= 5


def test_beam_size_one_is_greedy_search(trained):
    model = trained.nlp.get_pipe("summarizer").model
    docs = [eg.predicted for eg in trained.examples[:16]]
    sources, _ = trained.nlp.get_pipe("summarizer")._read_sources(docs)
    vectors = model.get_ref("tok2vec").predict(docs)
    rows = list(range(len(docs)))
    padded = pad_sources(model, sources, vectors, [0] * len(docs), rows)
    module = torch_module(model).eval()
    decoding = BeamSearch(beam_size=1, max_length=20, no_repeat_ngram_size=3)
    with torch.no_grad():
        encoded = module.encode(to_torch_sources(padded, torch_device(model)))
        greedy = single_path_search(module, encoded, decoding)
        beam = beam_search(module, encoded, decoding)
    assert greedy[0].tolist() == beam[0].tolist()
    assert torch.allclose(greedy[1], beam[1])


def test_mixed_precision_without_a_gpu_is_a_clear_error(reuters_dir):
    from .conftest import SMALL_MODEL, read_examples

    nlp = make_summarizer_nlp(model={**SMALL_MODEL, "mixed_precision": True})
    examples = read_examples(nlp, reuters_dir / "dev.jsonl.gz", limit=5)
    with pytest.raises(ValueError, match="needs a GPU"):
        nlp.initialize(lambda: examples)


def test_blank_docs_get_an_empty_summary(trained):
    docs = list(trained.nlp.pipe(["", "   \n ", trained.examples[0].reference.text]))
    assert docs[0]._.summary == ""
    assert docs[1]._.summary == ""
    assert docs[2]._.summary


def test_long_doc_is_truncated_with_one_warning(trained):
    component = trained.nlp.get_pipe("summarizer")
    text = " ".join(eg.reference.text for eg in trained.examples[:30])
    assert len(trained.nlp.make_doc(text)) > component.max_source_length
    with pytest.warns(UserWarning, match="max_source_length") as record:
        doc = trained.nlp(text)
    assert len([w for w in record if "max_source_length" in str(w.message)]) == 1
    assert isinstance(doc._.summary, str)


def test_pipe_over_mixed_lengths_equals_single_calls(trained):
    texts = [eg.reference.text for eg in trained.examples[:12]]
    texts += ["oil prices rose.", "", texts[0] + " " + texts[1]]
    batched = [doc._.summary for doc in trained.nlp.pipe(texts, batch_size=5)]
    single = [trained.nlp(text)._.summary for text in texts]
    assert batched == single


def summaries(nlp, texts):
    return [doc._.summary for doc in nlp.pipe(texts)]


def test_to_disk_and_from_disk_keep_the_summaries(trained, tmp_path):
    texts = [eg.reference.text for eg in trained.examples[:10]]
    trained.nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert summaries(loaded, texts) == summaries(trained.nlp, texts)


def test_to_bytes_and_from_bytes_keep_the_summaries(trained, architecture):
    texts = [eg.reference.text for eg in trained.examples[:10]]
    nlp = make_summarizer_nlp(min_count=1, model=SMALL_MODELS[architecture])
    nlp.from_bytes(trained.nlp.to_bytes())
    assert summaries(nlp, texts) == summaries(trained.nlp, texts)


def test_pickled_pipeline_summarizes_the_same(trained):
    texts = [eg.reference.text for eg in trained.examples[:10]]
    unpickled = pickle.loads(pickle.dumps(trained.nlp))
    assert summaries(unpickled, texts) == summaries(trained.nlp, texts)


def test_damaged_model_directory_gives_a_clear_error(trained, tmp_path):
    trained.nlp.to_disk(tmp_path / "pipeline")
    (tmp_path / "pipeline" / "summarizer" / "model.safetensors").write_bytes(b"no")
    with pytest.raises(ValueError, match="Can't load the model weights"):
        spacy.load(tmp_path / "pipeline")
    (tmp_path / "pipeline" / "summarizer" / "target_vocab.json").unlink()
    with pytest.raises(ValueError, match="damaged"):
        spacy.load(tmp_path / "pipeline")


def test_training_with_a_tok2vec_listener(reuters_dir):
    from thinc.api import Adam

    from .conftest import read_examples

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "tok2vec",
        config={
            "model": {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": {
                    "@architectures": "spacy.MultiHashEmbed.v2",
                    "width": 64,
                    "attrs": ["NORM", "SHAPE"],
                    "rows": [2000, 500],
                    "include_static_vectors": False,
                },
                "encode": {
                    "@architectures": "spacy.MaxoutWindowEncoder.v2",
                    "width": 64,
                    "depth": 1,
                    "window_size": 1,
                    "maxout_pieces": 2,
                },
            }
        },
    )
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 64}
    model = {
        "tok2vec": listener,
        "embed_width": 32,
        "hidden_width": 64,
        "attention_width": 32,
    }
    nlp.add_pipe("seq2seq_summarizer", config={"model": model})
    examples = read_examples(nlp, reuters_dir / "train.jsonl.gz", limit=40)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.003, L2=0.0, grad_clip=0.0)
    epoch_losses = []
    for _ in range(8):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
        epoch_losses.append(losses["seq2seq_summarizer"])
    assert epoch_losses[-1] < epoch_losses[0]
    assert isinstance(nlp(examples[0].reference.text)._.summary, str)


@pytest.mark.parametrize("command", ["init fill-config", "debug config"])
def test_spacy_cli_accepts_the_config(command, tmp_path):
    config = str(Path(__file__).resolve().parent.parent / "configs" / "summarizer.cfg")
    args = [sys.executable, "-m", "spacy", *command.split(), config]
    if command == "init fill-config":
        args.append(str(tmp_path / "filled.cfg"))
    else:
        args += ["--paths.train", config, "--paths.dev", config]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_target_vocabulary_from_initialize_settings(reuters_dir, tmp_path):
    from .conftest import read_examples

    nlp = make_summarizer_nlp()
    examples = read_examples(nlp, reuters_dir / "dev.jsonl.gz", limit=5)
    nlp.config["initialize"]["components"]["summarizer"] = {
        "target_vocab": ["oil", "prices", "rise"]
    }
    nlp.initialize(lambda: examples)
    component = nlp.get_pipe("summarizer")
    assert component.target_vocab.words == [
        "<pad>",
        "<s>",
        "</s>",
        "<unk>",
        "oil",
        "prices",
        "rise",
    ]
    assert component.model.get_dim("nO") == 7
    nlp.to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "pipeline").get_pipe("summarizer").target_vocab.words[
        4:
    ] == [
        "oil",
        "prices",
        "rise",
    ]


def test_pipe_with_two_processes_equals_one(trained):
    texts = [eg.reference.text for eg in trained.examples[:12]]
    docs = trained.nlp.pipe(texts, n_process=2, batch_size=4)
    assert [doc._.summary for doc in docs] == summaries(trained.nlp, texts)
