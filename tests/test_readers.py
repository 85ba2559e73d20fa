import gzip

import pytest
import spacy

from spacy_seq2seq.readers import create_dialogue_reader, create_jsonl_reader


def write(path, lines):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf8") as file_:
        file_.write("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", ["pairs.jsonl", "pairs.jsonl.gz"])
def test_reader_puts_the_target_on_the_reference_only(tmp_path, name):
    path = tmp_path / name
    write(path, ['{"text": "oil prices rose sharply.", "summary": "oil rises"}'])
    nlp = spacy.blank("en")
    (example,) = create_jsonl_reader(path)(nlp)
    assert example.predicted.text == "oil prices rose sharply."
    assert example.reference._.summary == "oil rises"
    assert example.predicted._.summary is None


def test_reader_field_names_limit_and_shuffle(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write(path, [f'{{"src": "text {i}", "tgt": "headline {i}"}}' for i in range(20)])
    nlp = spacy.blank("en")
    read = create_jsonl_reader(path, source_field="src", target_field="tgt", limit=5)
    assert [eg.reference._.tgt for eg in read(nlp)] == [
        f"headline {i}" for i in range(5)
    ]
    shuffled = create_jsonl_reader(path, "src", "tgt", limit=5, shuffle=True, seed=1)
    texts = [eg.predicted.text for eg in shuffled(nlp)]
    assert len(texts) == 5 and texts != [f"text {i}" for i in range(5)]
    assert texts == [eg.predicted.text for eg in shuffled(nlp)]


@pytest.mark.parametrize(
    "bad_line,message",
    [
        ('{"text": "a", "summary": ', "Malformed JSON"),
        ('{"text": "a"}', "Missing field 'summary'"),
        ('{"text": 3, "summary": "b"}', "should be a string"),
        ('["text", "summary"]', "Expected a JSON object"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "pairs.jsonl"
    write(path, ['{"text": "a b.", "summary": "a"}', "", bad_line])
    with pytest.raises(ValueError, match=message) as error:
        list(create_jsonl_reader(path)(spacy.blank("en")))
    assert f"{path}, line 3" in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path):
    read = create_jsonl_reader(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="Can't find"):
        list(read(spacy.blank("en")))


def test_dialogue_reader_joins_the_last_turns(tmp_path):
    path = tmp_path / "dialogues.jsonl"
    record = (
        '{"context": ["hi", "have you seen it?", "yes, twice"], "response": "me too"}'
    )
    write(path, [record])
    nlp = spacy.blank("en")
    (example,) = create_dialogue_reader(path)(nlp)
    assert example.predicted.text == "hi\nhave you seen it?\nyes, twice"
    assert example.reference._.response == "me too"
    assert example.predicted._.response is None
    read = create_dialogue_reader(path, turn_separator=" | ", max_turns=2)
    (example,) = read(nlp)
    assert example.predicted.text == "have you seen it? | yes, twice"


@pytest.mark.parametrize(
    "bad_line,message",
    [
        ('{"context": "hi", "response": "hello"}', "should be a list of strings"),
        ('{"context": ["hi", 2], "response": "hello"}', "should be a list of strings"),
        ('{"response": "hello"}', "Missing field 'context'"),
        ('{"context": ["hi"]}', "Missing field 'response'"),
    ],
)
def test_bad_dialogue_lines_name_the_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "dialogues.jsonl.gz"
    write(path, [bad_line])
    with pytest.raises(ValueError, match=message) as error:
        list(create_dialogue_reader(path)(spacy.blank("en")))
    assert f"{path}, line 1" in str(error.value)


def test_shuffle_buffer_streams_each_pass_in_its_own_seeded_order(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write(path, [f'{{"text": "text {i}", "summary": "s {i}"}}' for i in range(50)])
    nlp = spacy.blank("en")

    def passes(seed):
        read = create_jsonl_reader(path, shuffle_buffer=8, seed=seed)
        return [[int(eg.reference.text.split()[1]) for eg in read(nlp)] for _ in "ab"]

    first, second = passes(seed=3)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != list(range(50)) and first != second
    assert passes(seed=3) == [first, second]
    # bounded: a record comes out at most 8 places before its place in the file
    assert all(position >= record - 8 for position, record in enumerate(first))


def test_shuffle_and_shuffle_buffer_together_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="shuffle_buffer"):
        create_jsonl_reader(tmp_path / "x.jsonl", shuffle=True, shuffle_buffer=10)


def test_target_texts_give_the_vocabulary_of_the_whole_corpus(tmp_path):
    from .conftest import make_summarizer_nlp

    path = tmp_path / "pairs.jsonl"
    write(
        path, [f'{{"text": "w{i} text", "summary": "h{i} news"}}' for i in range(300)]
    )
    nlp = make_summarizer_nlp(min_count=1, vocab_size=1000)
    # what spacy train gives initialize when it streams: a few examples
    first_two = list(create_jsonl_reader(path, limit=2)(nlp))
    nlp.config["initialize"]["components"]["summarizer"] = {
        "target_texts": {"@readers": "spacy-seq2seq.JsonlTexts.v1", "path": str(path)}
    }
    nlp.initialize(lambda: first_two)
    words = set(nlp.get_pipe("summarizer").target_vocab.words)
    assert {f"h{i}" for i in range(300)} <= words and "news" in words
