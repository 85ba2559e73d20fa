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
