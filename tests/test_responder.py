import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from spacy_seq2seq import Conversation
from spacy_seq2seq.model.decoding import changed_decoding

from .conftest import SMALL_MODELS, beam_search, make_responder_nlp, sampling

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "responder.cfg"


def replies(nlp, texts):
    return [doc._.response for doc in nlp.pipe(texts)]


def contexts(trained_responder, n):
    return [eg.predicted.text for eg in trained_responder.examples[:n]]


def test_factory_writes_response_and_responses():
    nlp = make_responder_nlp()
    responder = nlp.get_pipe("responder")
    assert responder.target_field == "response"
    assert responder.candidates_field == "responses"
    assert responder.turn_separator == "\n"


@pytest.mark.slow
def test_training_on_real_pairs_lowers_loss_and_perplexity(trained_responder_longer):
    losses = trained_responder_longer.losses
    assert losses[-1] < 0.7 * losses[0]
    responder = trained_responder_longer.nlp.get_pipe("responder")
    untrained = make_responder_nlp(min_count=1)
    untrained.initialize(lambda: trained_responder_longer.examples)
    examples = trained_responder_longer.examples[:50]
    before = untrained.get_pipe("responder").perplexity(examples)
    after = responder.perplexity(examples)
    assert after < before / 5


@pytest.mark.parametrize("text", ["", "  \n ", "hello", "Hi!"])
def test_empty_context_and_one_word_get_a_reply(trained_responder, text):
    response = trained_responder.nlp(text)._.response
    assert isinstance(response, str) and response.strip()


def test_long_context_is_truncated_to_its_end_with_one_warning(trained_responder):
    nlp = trained_responder.nlp
    responder = nlp.get_pipe("responder")
    turns = contexts(trained_responder, 40)
    long_context = "\n".join(turns)
    assert len(nlp.make_doc(long_context)) > responder.max_source_length
    with pytest.warns(UserWarning, match="last 150 tokens") as record:
        response = nlp(long_context)._.response
    assert len([w for w in record if "max_source_length" in str(w.message)]) == 1
    # only the end counts: another beginning gives the same reply
    other_start = "\n".join(contexts(trained_responder, 80)[50:] + turns[-10:])
    assert len(nlp.make_doc(other_start)) > responder.max_source_length
    with pytest.warns(UserWarning, match="last 150 tokens"):
        assert nlp(other_start)._.response == response


@pytest.mark.parametrize("decoding", ["beam", "sampling"])
def test_n_best_candidates_are_distinct_and_sorted(
    trained_responder, architecture, decoding
):
    block = (
        beam_search(n_best=5, beam_size=5) if decoding == "beam" else sampling(n_best=5)
    )
    model = SMALL_MODELS[architecture]
    nlp = make_responder_nlp(min_count=1, decoding=block, model=model)
    nlp.from_bytes(trained_responder.nlp.to_bytes())
    for doc in nlp.pipe(contexts(trained_responder, 10)):
        texts = [text for text, _ in doc._.responses]
        scores = [score for _, score in doc._.responses]
        # samples may repeat: the list holds each reply once
        assert 1 <= len(texts) <= 5 and len(set(texts)) == len(texts)
        if decoding == "beam":
            assert len(texts) == 5
        assert scores == sorted(scores, reverse=True)
        assert texts[0] == doc._.response


def decode_with(nlp, kind="sampling", **settings):
    responder = nlp.get_pipe("responder")
    responder.decoding = changed_decoding(responder.decoding, kind, **settings)
    return nlp


def test_sampling_with_a_seed_is_reproducible(trained_responder, architecture):
    nlp = make_responder_nlp(min_count=1, model=SMALL_MODELS[architecture])
    nlp.from_bytes(trained_responder.nlp.to_bytes())
    texts = contexts(trained_responder, 12)
    first = replies(decode_with(nlp, seed=1), texts)
    assert replies(nlp, texts) == first
    # the same reply alone as in a batch, in any order
    assert [nlp(text)._.response for text in reversed(texts)] == first[::-1]
    assert replies(decode_with(nlp, seed=2), texts) != first
    # sampling gives other replies than the beam
    beam = replies(decode_with(nlp, "beam"), texts)
    assert beam != first


def test_sampled_n_best_and_top_k(trained_responder, architecture):
    nlp = make_responder_nlp(min_count=1, model=SMALL_MODELS[architecture])
    nlp.from_bytes(trained_responder.nlp.to_bytes())
    decode_with(nlp, n_best=4, top_k=1, top_p=1.0)
    # top_k = 1 keeps only the likeliest word: every sample is the greedy reply
    doc = nlp(contexts(trained_responder, 1)[0])
    assert len(doc._.responses) == 1
    decode_with(nlp, "beam", beam_size=1, n_best=1)
    assert doc._.response == nlp(doc.text)._.response


def test_context_ngram_blocking_changes_the_replies(trained_responder, architecture):
    nlp = make_responder_nlp(min_count=1, model=SMALL_MODELS[architecture])
    nlp.from_bytes(trained_responder.nlp.to_bytes())
    texts = contexts(trained_responder, 20)
    free = replies(decode_with(nlp, no_repeat_context_ngram_size=0), texts)
    blocked = replies(decode_with(nlp, no_repeat_context_ngram_size=2), texts)
    assert free != blocked
    for text, reply in zip(texts, blocked):
        source = nlp.make_doc(text)
        bigrams = {(a.text, b.text) for a, b in zip(source, source[1:])}
        words = [t.text for t in nlp.make_doc(reply)]
        assert not bigrams & set(zip(words, words[1:]))


def test_serialization_round_trips_keep_the_replies(
    trained_responder, tmp_path, architecture
):
    texts = contexts(trained_responder, 10) + [""]
    expected = replies(trained_responder.nlp, texts)
    nlp = make_responder_nlp(min_count=1, model=SMALL_MODELS[architecture])
    nlp.from_bytes(trained_responder.nlp.to_bytes())
    assert replies(nlp, texts) == expected
    trained_responder.nlp.to_disk(tmp_path / "pipeline")
    assert replies(spacy.load(tmp_path / "pipeline"), texts) == expected
    assert replies(pickle.loads(pickle.dumps(trained_responder.nlp)), texts) == expected


def test_conversation_keeps_the_last_turns(trained_responder):
    conversation = Conversation(trained_responder.nlp, max_turns=2)
    first = conversation.reply("have you seen the social network?")
    second = conversation.reply("  what did you think   of it? ")
    assert conversation.turns == [
        "have you seen the social network?",
        first,
        "what did you think of it?",
        second,
    ]
    # the reply reads the last two turns, joined by the turn separator
    assert (
        second
        == trained_responder.nlp(f"{first}\nwhat did you think of it?")._.response
    )
    conversation.reset()
    assert conversation.turns == []


def test_conversation_needs_a_responder():
    with pytest.raises(ValueError, match="one seq2seq component to reply"):
        Conversation(spacy.blank("en"))


def test_chat_command_answers_a_scripted_conversation(trained_responder, tmp_path):
    trained_responder.nlp.to_disk(tmp_path / "bot")
    messages = ["hi", "have you seen the social network?", "/reset", "who is in it?"]
    result = subprocess.run(
        [sys.executable, "-m", "spacy_seq2seq", "chat", str(tmp_path / "bot")],
        input="\n".join(messages) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    conversation = Conversation(trained_responder.nlp)
    expected = [conversation.reply(m) for m in messages[:2]]
    conversation.reset()
    expected.append(conversation.reply(messages[3]))
    assert lines == expected


def test_chat_command_with_a_missing_pipeline_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "spacy_seq2seq", "chat", str(tmp_path / "nope")],
        input="hi\n",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Can't find a pipeline" in result.stdout + result.stderr


@pytest.mark.slow
def test_spacy_train_shows_the_dialogue_scores(cmu_dog_dir, tmp_path):
    args = [sys.executable, "-m", "spacy", "train", str(CONFIG)]
    args += ["--output", str(tmp_path / "out")]
    args += ["--paths.train", str(cmu_dog_dir / "train.jsonl.gz")]
    args += ["--paths.dev", str(cmu_dog_dir / "dev.jsonl.gz")]
    args += ["--corpora.train.limit", "64", "--corpora.dev.limit", "16"]
    args += ["--training.max_steps", "4", "--training.eval_frequency", "2"]
    args += ["--components.responder.model.hidden_width", "64"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    header = result.stdout.split("RESPONSE_BLEU", 1)[1].splitlines()[0].split()
    # The columns spaCy would cut to RESPONSE_T... and RESPONSE_D..., and the
    # factory's scores that the config does not weigh
    assert header[:6] == [
        "TOKEN_PROB",
        "RESPONSE_F1",
        "DISTINCT1",
        "DISTINCT2",
        "TOP_REPLY",
        "PERPLEXITY",
    ]
    nlp = spacy.load(tmp_path / "out" / "model-best")
    scores = nlp.meta["performance"]
    keys = ("bleu", "f1", "distinct1", "distinct2", "top_reply_share", "perplexity")
    for key in keys + ("token_prob",):
        assert isinstance(scores[f"response_{key}"], float)
    assert isinstance(nlp("have you seen it?")._.response, str)
