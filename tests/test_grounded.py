"""A responder that reads a document beside the conversation (issue 24): the
reader's document field, Conversation(document=...), the server's document
field, the segment feature, knowledge F1 and the heatmap's boundary."""

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import httpx
import numpy
import pytest
import spacy
import srsly
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_seq2seq import Conversation
from spacy_seq2seq.grounding import copy_documents, get_document, set_document
from spacy_seq2seq.model.architectures import (
    SEGMENT_PARAM,
    DocSources,
    embed_sources,
    pad_sources,
    to_torch_sources,
    torch_module,
)
from spacy_seq2seq.model.decoding import changed_decoding
from spacy_seq2seq.model.vocab import PAD_ID
from spacy_seq2seq.readers import create_dialogue_reader
from spacy_seq2seq.render import heatmap
from spacy_seq2seq.scorers import (
    knowledge_f1,
    score_grounded_responses,
    score_responses,
)
from spacy_seq2seq.user_data import read_dialogues

from .browser import needs_chromium
from .conftest import SMALL_MODEL, beam_search, make_responder_nlp, train
from .serving import copy_pipeline

# Chats whose answers are in their document only: a director's name the
# conversation never says, each name in one chat (so outside the target
# vocabulary: a grounded responder can only copy it from the document).
SYLLABLES = ["zor", "blat", "quen", "mav", "tess", "kon", "brin", "dal", "wex", "pim"]
FILMS = ["Red Sky", "Blue Moon", "The Harbor", "Night Train", "Cold Stars"]


def pseudo_name(i: int) -> str:
    first, second = SYLLABLES[i % 10], SYLLABLES[(i // 10) % 10]
    return (first + second + SYLLABLES[(i * 7) % 10]).capitalize()


def make_records(n: int, offset: int = 0) -> List[Dict]:
    records = []
    for i in range(offset, offset + n):
        name, film = pseudo_name(i), FILMS[i % len(FILMS)]
        records.append(
            {
                "context": ["hi there", f"who directed {film} ?"],
                "response": f"it was {name} .",
                "document": f"Movie : {film} . Director : {name} . Genre : drama .",
            }
        )
    return records


def write_jsonl(path: Path, records: List[Dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf8") as file_:
        for record in records:
            file_.write(json.dumps(record) + "\n")
    return path


def make_grounded_nlp(**config):
    model = {**SMALL_MODEL, "segments": 2}
    return make_responder_nlp(
        **{"min_count": 2, "decoding": beam_search(), "model": model, **config}
    )


@pytest.fixture(scope="module")
def grounded(tmp_path_factory):
    """A small grounded responder trained on the hand-made chats."""
    folder = tmp_path_factory.mktemp("grounded")
    path = write_jsonl(folder / "t.jsonl.gz", make_records(75))
    nlp = make_grounded_nlp()
    examples = list(create_dialogue_reader(path, document_field="document")(nlp))
    fix_random_seed(0)
    return train(nlp, examples, epochs=12)


def test_the_reader_sets_the_document_on_both_docs(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl.gz", make_records(2))
    nlp = spacy.blank("en")
    first, _ = create_dialogue_reader(path, document_field="document")(nlp)
    assert get_document(first.predicted) == make_records(1)[0]["document"]
    assert get_document(first.reference) == get_document(first.predicted)
    # without document_field the field is not read
    plain, _ = create_dialogue_reader(path)(nlp)
    assert get_document(plain.predicted) is None


def test_a_record_without_its_document_is_a_clear_error(tmp_path):
    records = make_records(2)
    del records[1]["document"]
    path = write_jsonl(tmp_path / "d.jsonl.gz", records)
    read = create_dialogue_reader(path, document_field="document")
    with pytest.raises(ValueError, match=r"Missing field 'document' in .*line 2"):
        list(read(spacy.blank("en")))


def test_own_data_keeps_a_document_column(tmp_path):
    path = tmp_path / "chats.csv"
    path.write_text("turns,reply,doc\nhi|||who is in it?,Ann is.,Cast: Ann.\n")
    (record,) = read_dialogues(path, "turns", "reply", "|||", "doc")
    assert record == {
        "context": ["hi", "who is in it?"],
        "response": "Ann is.",
        "document": "Cast: Ann.",
    }


def test_spacy_corpus_examples_get_the_reference_document():
    nlp = spacy.blank("en")
    reference = set_document(nlp.make_doc("hi"), "Cast: Ann.")
    example = Example(nlp.make_doc("hi"), reference)
    copy_documents([example])
    assert get_document(example.predicted) == "Cast: Ann."


def test_grounded_responder_learns_to_copy_from_the_document(grounded):
    nlp = grounded.nlp
    assert grounded.losses[-1] < grounded.losses[0]
    responder = nlp.get_pipe("responder")
    assert responder.reads_documents
    # names never seen in training, which the conversation never says
    tests = make_records(10, offset=100)
    docs = [
        set_document(nlp.make_doc("\n".join(r["context"])), r["document"])
        for r in tests
    ]
    replies = [doc._.response for doc in nlp.pipe(docs)]
    right = [r["response"].split()[2] in reply for r, reply in zip(tests, replies)]
    assert sum(right) >= 8, replies


def test_the_document_is_read_in_one_memory_with_segments(grounded):
    nlp = grounded.nlp
    responder = nlp.get_pipe("responder")
    document = "Movie : Red Sky . Director : Zorblat ."
    doc = set_document(nlp.make_doc("who directed it ?"), document)
    sources, words = responder._read_sources([doc])
    n_document = len(nlp.make_doc(document))
    assert sources.document_lengths == [n_document]
    assert words[0].words == [t.text for t in nlp.make_doc(document)] + [
        "who",
        "directed",
        "it",
        "?",
    ]
    # the document's tokens get the segment vector, the conversation's none
    model = responder.model
    plain = DocSources(sources.docs, sources.ids, sources.starts)
    (with_segments,), _, _ = embed_sources(model, sources, is_train=False)
    (without,), _, _ = embed_sources(model, plain, is_train=False)
    table = model.get_param(SEGMENT_PARAM)
    numpy.testing.assert_allclose(
        with_segments[:n_document] - without[:n_document],
        numpy.broadcast_to(table[0], (n_document, table.shape[1])),
        rtol=1e-5,
        atol=1e-6,
    )
    numpy.testing.assert_array_equal(with_segments[n_document:], without[n_document:])


def test_the_search_reads_each_sources_document_length(grounded):
    """The glue gives the torch module each source's document length, and
    the encoded rows that context n-gram blocking reads hide the document
    (search.context_ids); a doc without a document hides nothing."""
    nlp = grounded.nlp
    responder = nlp.get_pipe("responder")
    document = "Movie : Red Sky . Director : Zorblat ."
    docs = [
        set_document(nlp.make_doc("who directed it ?"), document),
        nlp.make_doc("who directed Red Sky ?"),
    ]
    sources, _ = responder._read_sources(docs)
    n_document = len(nlp.make_doc(document))
    assert sources.document_lengths == [n_document, 0]
    model = responder.model
    vectors, _, starts = embed_sources(model, sources, is_train=False)
    padded = pad_sources(model, sources, vectors, starts, [0, 1])
    encoded = torch_module(model).encode(to_torch_sources(padded, "cpu"))
    context, source = encoded.context_ids.tolist(), encoded.source_ids.tolist()
    assert context[0] == [PAD_ID] * n_document + source[0][n_document:]
    assert context[1] == source[1]


def test_a_grounded_reply_may_repeat_the_documents_ngrams(grounded):
    """Context n-gram blocking covers the conversation only: with bigrams
    blocked, the grounded replies still end with the document's "NAME .",
    and repeat no bigram of the conversation."""
    nlp = copy_pipeline(grounded.nlp, make_grounded_nlp)
    responder = nlp.get_pipe("responder")
    responder.decoding = changed_decoding(
        responder.decoding, no_repeat_context_ngram_size=2
    )
    tests = make_records(10, offset=100)
    docs = [
        set_document(nlp.make_doc("\n".join(r["context"])), r["document"])
        for r in tests
    ]
    replies = [doc._.response for doc in nlp.pipe(docs)]
    quoted = [
        f"{r['response'].split()[2]} ." in reply for r, reply in zip(tests, replies)
    ]
    assert sum(quoted) >= 8, replies
    for doc, reply in zip(docs, replies):
        words = [t.text for t in nlp.make_doc(reply)]
        bigrams = {(a.text, b.text) for a, b in zip(doc, doc[1:])}
        assert not bigrams & set(zip(words, words[1:])), reply


def test_a_long_document_is_cut_to_max_document_length(grounded):
    nlp = grounded.nlp
    responder = nlp.get_pipe("responder")
    doc = set_document(nlp.make_doc("hi"), "word " * 1000)
    assert responder.document_length(doc) == responder.max_document_length


def test_grounded_model_saves_and_loads_with_its_replies(grounded, tmp_path):
    nlp = grounded.nlp
    nlp.to_disk(tmp_path / "bot")
    loaded = spacy.load(tmp_path / "bot")
    texts = ["hi there\nwho directed Blue Moon ?", "hello"]
    documents = [make_records(2)[1]["document"], None]

    def replies(pipeline):
        docs = [set_document(pipeline.make_doc(t), d) for t, d in zip(texts, documents)]
        return [doc._.response for doc in pipeline.pipe(docs)]

    assert replies(loaded) == replies(nlp)
    table = nlp.get_pipe("responder").model.get_param(SEGMENT_PARAM)
    loaded_table = loaded.get_pipe("responder").model.get_param(SEGMENT_PARAM)
    numpy.testing.assert_array_equal(loaded_table, table)


def test_an_ungrounded_model_has_no_segments_and_ignores_documents(
    trained_responder,
):
    nlp = trained_responder.nlp
    responder = nlp.get_pipe("responder")
    assert not responder.reads_documents
    assert SEGMENT_PARAM not in responder.model.param_names
    texts = ["have you seen it?\nyes, the cast was great", ""]
    plain = [doc._.response for doc in nlp.pipe(texts)]
    with pytest.warns(UserWarning, match="trained without documents"):
        docs = [set_document(nlp.make_doc(t), "Cast: Ann Lee.") for t in texts]
        with_documents = [doc._.response for doc in nlp.pipe(docs)]
    assert with_documents == plain


def test_segments_are_checked():
    with pytest.raises(ValueError, match="segments must be 0"):
        make_responder_nlp(model={**SMALL_MODEL, "segments": 3})
    listener = {
        **SMALL_MODEL,
        "segments": 2,
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 64},
    }
    with pytest.raises(ValueError, match="not a listener"):
        make_responder_nlp(model=listener)


def test_conversation_with_a_document(grounded):
    nlp = grounded.nlp
    document = "Movie : Night Train . Director : Okonkwo . Genre : drama ."
    conversation = Conversation(nlp, document=document, max_turns=2)
    conversation.reply("hi there")
    reply = conversation.reply("who directed Night Train ?")
    doc = set_document(
        nlp.make_doc(f"{conversation.turns[1]}\nwho directed Night Train ?"), document
    )
    assert reply == nlp(doc)._.response
    conversation.document = None
    assert conversation.document is None
    with pytest.raises(ValueError, match="document should be a string"):
        Conversation(nlp, document=3)


def test_chat_command_reads_a_document_file(grounded, tmp_path):
    grounded.nlp.to_disk(tmp_path / "bot")
    document = "Movie : Cold Stars . Director : Brindle . Genre : drama ."
    (tmp_path / "doc.txt").write_text(document, encoding="utf8")
    result = subprocess.run(
        [sys.executable, "-m", "spacy_seq2seq", "chat", str(tmp_path / "bot")]
        + ["--document", str(tmp_path / "doc.txt")],
        input="who directed Cold Stars ?\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    expected = Conversation(grounded.nlp, document=document).reply(
        "who directed Cold Stars ?"
    )
    assert result.stdout.splitlines() == [expected]


def apply_records() -> List[Dict]:
    """The same conversation about three films' documents, one with no
    document (null), one without the field, one with a number for it."""
    records = [
        {"id": i, "text": "hi there\nwho directed it ?", "document": r["document"]}
        for i, r in enumerate(make_records(3, offset=200))
    ]
    records.append({"id": 3, "text": "hi there\nwho directed it ?", "document": None})
    records.append({"id": 4, "text": "hi there\nwho directed it ?"})
    records.append({"id": 5, "text": "hi there\nwho directed it ?", "document": 7})
    return records


def check_applied_rows(nlp, records: List[Dict], rows: List[Dict]) -> None:
    """Each record's reply is the pipeline's with its own document; null is
    no document; a missing or wrong document field is an error row."""
    assert [row["id"] for row in rows] == [r["id"] for r in records]
    for record, row in zip(records[:4], rows[:4]):
        doc = set_document(nlp.make_doc(record["text"]), record["document"])
        assert row["error"] is None
        assert row["response"] == nlp(doc)._.response
    assert rows[3]["response"] == nlp(records[3]["text"])._.response
    # the replies name their own document's director
    names = [r["document"].split("Director : ")[1].split()[0] for r in records[:3]]
    assert sum(name in row["response"] for name, row in zip(names, rows)) >= 2
    assert len({row["response"] for row in rows[:3]}) == 3
    assert "document field 'document' is missing" in rows[4]["error"]
    assert "is a int, not a string" in rows[5]["error"]
    assert rows[4]["response"] is None and rows[5]["response"] is None


def test_apply_reads_a_document_field_from_jsonl(grounded, tmp_path):
    grounded.nlp.to_disk(tmp_path / "bot")
    records = apply_records()
    srsly.write_jsonl(tmp_path / "in.jsonl", records)
    result = subprocess.run(
        [sys.executable, "-m", "spacy_seq2seq", "apply", str(tmp_path / "bot")]
        + [str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")]
        + ["--document-field", "document", "--batch-size", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    check_applied_rows(grounded.nlp, records, rows)
    assert "in.jsonl, line 5" in rows[4]["error"]


def test_apply_reads_a_document_column_from_parquet(grounded, tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet

    from spacy_seq2seq.batch.apply import ApplyJob, apply_file

    grounded.nlp.to_disk(tmp_path / "bot")
    records = apply_records()[:4]  # a column is in every row: null for none
    pyarrow.parquet.write_table(
        pyarrow.Table.from_pylist(records), tmp_path / "in.parquet"
    )
    paths = [str(tmp_path / name) for name in ("bot", "in.parquet", "out.jsonl")]
    counts = apply_file(ApplyJob(*paths, document_field="document"), progress=False)
    assert counts == {"rows": 4, "errors": 0}
    rows = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    for record, row in zip(records, rows):
        doc = set_document(grounded.nlp.make_doc(record["text"]), record["document"])
        assert row["response"] == grounded.nlp(doc)._.response
    # a column of another name: every row is an error row, none replies ungrounded
    misspelled = ApplyJob(*paths[:2], str(tmp_path / "bad.jsonl"), document_field="doc")
    assert apply_file(misspelled, progress=False) == {"rows": 4, "errors": 4}
    errors = [row["error"] for row in srsly.read_jsonl(tmp_path / "bad.jsonl")]
    assert all("'doc' is missing" in e and "row" in e for e in errors), errors


@pytest.mark.slow  # starts a local Ray instance
@pytest.mark.ray
def test_apply_on_ray_data_reads_the_document_field(grounded, tmp_path):
    ray = pytest.importorskip("ray")
    import pyarrow.parquet

    from spacy_seq2seq.batch.apply import ApplyJob
    from spacy_seq2seq.batch.local_ray import init_ray
    from spacy_seq2seq.batch.ray_apply import apply_with_ray

    grounded.nlp.to_disk(tmp_path / "bot")
    records = apply_records()
    srsly.write_jsonl(tmp_path / "in.jsonl", records)
    paths = [str(tmp_path / name) for name in ("bot", "in.jsonl", "out.parquet")]
    init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        job = ApplyJob(*paths, batch_size=4, document_field="document")
        counts = apply_with_ray(job, workers=1)
    finally:
        ray.shutdown()
    assert counts == {"rows": len(records), "errors": 2}
    rows = pyarrow.parquet.read_table(tmp_path / "out.parquet").to_pylist()
    rows.sort(key=lambda row: row["id"])
    check_applied_rows(grounded.nlp, records, rows)
    assert "in.jsonl, line 5" in rows[4]["error"]


def test_the_api_reads_a_document(grounded):
    pytest.importorskip("fastapi", reason="the server needs the serve extra")
    from spacy_seq2seq.serve.app import embedded_app
    from spacy_seq2seq.serve.service import Limits, Seq2SeqService

    from .serving import running

    nlp = copy_pipeline(grounded.nlp, make_grounded_nlp)
    service = Seq2SeqService(nlp, limits=Limits(max_chars=3000))
    document = "Movie : The Harbor . Director : Tessaly . Genre : drama ."
    turns = ["hi there", "who directed The Harbor ?"]
    expected = nlp(set_document(nlp.make_doc("\n".join(turns)), document))
    with running(embedded_app(service)) as url, httpx.Client(base_url=url) as client:
        body = {"turns": turns, "document": document, "attention": True}
        data = client.post("/v1/reply", json=body).json()
        assert data["reply"] == expected._.response
        n_document = len(nlp.make_doc(document))
        assert data["attention"]["document_length"] == n_document
        n_conversation = len(nlp.make_doc("\n".join(turns)))
        assert len(data["attention"]["source"]) == n_document + n_conversation
        # a conversation keeps its document for the next messages
        first = client.post(
            "/v1/reply", json={"message": "hi there", "document": document}
        )
        conversation_id = first.json()["conversation_id"]
        second = client.post(
            "/v1/reply",
            json={
                "message": "who directed The Harbor ?",
                "conversation_id": conversation_id,
            },
        ).json()
        context = f"hi there\n{first.json()['reply']}\nwho directed The Harbor ?"
        alone = nlp(set_document(nlp.make_doc(context), document))._.response
        assert second["reply"] == alone
        too_long = client.post(
            "/v1/reply", json={"turns": turns, "document": "x" * 4000}
        )
        assert too_long.status_code == 413
        assert "document" in too_long.json()["detail"]


@pytest.mark.browser
@needs_chromium
def test_the_chat_pages_document_box_in_a_browser(grounded, tmp_path):
    """The page's document box, in headless Chromium: opened, filled in and
    sent with a message, the reply is the one the document gives, and its
    heatmap shades the document's columns (the server's attention has its
    document_length); cleared, the next reply reads the conversation alone."""
    pytest.importorskip("fastapi", reason="the server needs the serve extra")
    from selenium.webdriver.common.by import By

    from spacy_seq2seq.serve.app import embedded_app
    from spacy_seq2seq.serve.service import Limits, Seq2SeqService

    from .browser import headless_chromium
    from .serving import running
    from .test_serve_page import wait_for

    nlp = copy_pipeline(grounded.nlp, make_grounded_nlp)
    service = Seq2SeqService(nlp, limits=Limits(max_wait_ms=5, max_chars=3000))
    document = "Movie : Night Train . Director : Quenmavtess . Genre : drama ."
    message = "who directed Night Train ?"
    with running(embedded_app(service)) as url, headless_chromium(
        tmp_path / "profile"
    ) as browser:
        browser.get(url + "/")
        wait_for(browser, "body[data-ready=reply]", 1)
        browser.find_element(By.ID, "show-attention").click()
        box = browser.find_element(By.ID, "document")
        assert not box.is_displayed()  # folded until asked for
        browser.find_element(By.CSS_SELECTOR, "#document-box summary").click()
        assert box.is_displayed()
        box.send_keys(document)
        browser.find_element(By.ID, "message").send_keys(message + "\n")
        (reply,) = wait_for(browser, ".turn.bot .reply", 1)
        grounded_doc = nlp(set_document(nlp.make_doc(message), document))
        assert reply.text == grounded_doc._.response
        assert "Quenmavtess" in reply.text  # from the document, never trained on
        wait_for(browser, ".turn.bot .heatmap table.s2s-attention", 1)
        n_document = len(nlp.make_doc(document))
        shaded = browser.find_elements(By.CSS_SELECTOR, ".heatmap th.s2s-source")
        parts = ["s2s-document" in e.get_attribute("class").split() for e in shaded]
        assert parts == [True] * n_document + [False] * len(nlp.make_doc(message))
        label = browser.find_element(By.CSS_SELECTOR, "th.s2s-segment.s2s-document")
        assert label.text == "document" and label.is_displayed()
        assert not browser.find_element(By.ID, "error").is_displayed()
        # a cleared box: the conversation goes on without the document
        box.clear()
        browser.find_element(By.ID, "message").send_keys(message + "\n")
        replies = wait_for(browser, ".turn.bot .reply", 2)
        context = service.spec.reply_context([message, reply.text, message])
        assert replies[1].text == nlp(context)._.response
        tables = wait_for(browser, ".turn.bot .heatmap table.s2s-attention", 2)
        assert not tables[1].find_elements(By.CSS_SELECTOR, "th.s2s-document")


def example(reply: str, reference: str, document) -> Example:
    nlp = spacy.blank("en")
    predicted = nlp.make_doc("hi")
    for field in ("response",):
        if not Doc.has_extension(field):
            Doc.set_extension(field, default=None)
    predicted._.response = reply
    gold = set_document(nlp.make_doc("hi"), document)
    gold._.response = reference
    return Example(predicted, gold)


def test_knowledge_f1_on_a_hand_made_example():
    # reply words (normalised): [robert, downey, jr, plays, stark] (5)
    # document words: [robert, downey, jr, as, tony, stark] (6); shared: 4
    # precision 4/5, recall 4/6: F1 = 2 * 0.8 * 0.667 / 1.467 = 0.7273
    eg = example(
        "Robert Downey Jr. plays Stark!", "ok", "Robert Downey Jr. as Tony Stark"
    )
    assert knowledge_f1([eg]) == pytest.approx(8 / 11)
    unrelated = example("I liked it.", "ok", "Robert Downey Jr. as Tony Stark")
    no_document = example("Robert Downey", "ok", None)
    # examples without a document are left out of the mean
    assert knowledge_f1([eg, unrelated, no_document]) == pytest.approx(4 / 11)
    assert knowledge_f1([no_document]) is None
    scores = score_grounded_responses([eg, unrelated])
    assert scores["response_knowledge_f1"] == pytest.approx(4 / 11)
    # the other scores are ResponseScorer.v2's
    assert {k: v for k, v in scores.items() if k != "response_knowledge_f1"} == (
        score_responses([eg, unrelated])
    )


def test_the_heatmap_shows_the_boundary_and_where_words_came_from():
    attention = {
        "source": ["Director", ":", "Zorblat", "who", "directed", "Zorblat", "?"],
        "target": ["Zorblat", "directed", "it"],
        "weights": numpy.array(
            [
                [0.0, 0.0, 0.9, 0.0, 0.0, 0.1, 0.0],
                [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
                [0.2, 0.2, 0.2, 0.2, 0.2, 0.0, 0.0],
            ]
        ),
        "copy": numpy.array([0.9, 0.5, 0.1]),
        "document_length": 3,
    }
    markup = heatmap(attention, "response")
    assert 'colspan="3">document</th>' in markup
    assert 'colspan="4">conversation</th>' in markup
    # the boundary is drawn before the conversation's first column only
    assert markup.count('class="s2s-source s2s-boundary"') == 1
    assert '<th class="s2s-source s2s-boundary" title="3">who</th>' in markup
    rows = markup.split("<tr>")[3:]
    assert "90% from the document" in rows[0]
    assert "50% from the conversation" in rows[1]
    assert "from the" not in rows[2]  # "it" is not in the source
    # an ungrounded heatmap has no segments
    del attention["document_length"]
    assert "document" not in heatmap(attention, "response").replace("doc._", "")


# The CMU_DoG converter's documents (scripts/convert_cmu_dog.py --documents)

MOVIE = {
    "wikiDocumentIdx": 7,
    "0": {
        "movieName": "Red Sky",
        "year": "2001",
        "director": "Ann Lee",
        "genre": "drama",
        "rating": ["Rotten Tomatoes: 90%", "CinemaScore: A"],
        "cast": ["Bo Kim as Sam."],
        "introduction": "Red Sky is a  film.",
        "critical_response": ["moving"],
    },
    "1": "Sam  goes\nhome.",
    "2": "Sam returns.",
    "3": "The end.",
}
FACTS = (
    "Movie: Red Sky. Year: 2001. Director: Ann Lee. Genre: drama. "
    "Rating: Rotten Tomatoes: 90% CinemaScore: A. Cast: Bo Kim as Sam. "
    "Introduction: Red Sky is a film. Critical response: moving."
)


def chat_message(uid: str, text: str, section: int) -> Dict:
    return {"docIdx": section, "text": text, "uid": uid, "utcTimestamp": "2018"}


def chat(*history: Dict) -> bytes:
    record = {"history": list(history), "wikiDocumentIdx": 7, "rating": 1}
    return json.dumps(record).encode("utf8")


def test_cmu_dog_converter_writes_each_responses_section(tmp_path):
    import tarfile
    from io import BytesIO

    files = {
        "root/WikiData/Red_Sky.json": json.dumps(MOVIE).encode("utf8"),
        "root/Conversations/train/a.json": chat(
            chat_message("user1", "hi", 0),
            chat_message("user2", "who directed it?", 0),
            # the answer's first message was written with section 1 on screen
            chat_message("user1", "Ann Lee.", 1),
            chat_message("user1", "Sam goes home.", 2),
        ),
        "root/Conversations/valid/b.json": chat(
            chat_message("user1", "a", 3), chat_message("user2", "b", 3)
        ),
        "root/Conversations/test/c.json": chat(
            chat_message("user1", "a", 0), chat_message("user2", "b", 9)
        ),
    }
    archive = tmp_path / "small.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, BytesIO(data))
    script = Path(__file__).resolve().parent.parent / "scripts" / "convert_cmu_dog.py"
    command = [sys.executable, str(script), str(archive), str(tmp_path / "out")]
    result = subprocess.run(
        command + ["--documents"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

    def records(split):
        with gzip.open(tmp_path / "out" / f"{split}.jsonl.gz", "rt") as file_:
            return [json.loads(line) for line in file_]

    assert records("train") == [
        {"context": ["hi"], "response": "who directed it?", "document": FACTS},
        {
            "context": ["hi", "who directed it?"],
            "response": "Ann Lee. Sam goes home.",
            "document": "Sam goes home.",
        },
    ]
    assert records("dev")[0]["document"] == "The end."
    assert records("test")[0]["document"] == ""  # no section 9
    # the .spacy files keep the document in the reference docs
    docs = list(
        spacy.tokens.DocBin()
        .from_disk(tmp_path / "out" / "train.spacy")
        .get_docs(spacy.blank("en").vocab)
    )
    assert [get_document(doc) for doc in docs] == [FACTS, "Sam goes home."]


def test_a_grounded_transformer_reads_the_document_too(tmp_path):
    """segments work behind either architecture: the segment vector is added
    in the shared thinc glue, before the torch module."""
    from .conftest import SMALL_MODELS

    path = write_jsonl(tmp_path / "t.jsonl.gz", make_records(20))
    model = {**SMALL_MODELS["transformer"], "segments": 2}
    nlp = make_responder_nlp(min_count=1, decoding=beam_search(), model=model)
    examples = list(create_dialogue_reader(path, document_field="document")(nlp))
    trained = train(nlp, examples, epochs=1).nlp
    assert trained.get_pipe("responder").model.has_param(SEGMENT_PARAM)
    doc = set_document(
        trained.make_doc("who directed Red Sky ?"), "Director : Zorblat ."
    )
    assert isinstance(trained(doc)._.response, str)
