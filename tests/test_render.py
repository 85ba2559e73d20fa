import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy

from spacy_seq2seq import render_attention

from .browser import headless_chromium, needs_chromium
from .conftest import SMALL_MODELS, make_summarizer_nlp


@pytest.fixture(scope="module")
def attending(trained, architecture):
    """The trained summarizer, storing attention."""
    model = SMALL_MODELS[architecture]
    nlp = make_summarizer_nlp(min_count=1, store_attention=True, model=model)
    nlp.from_bytes(trained.nlp.to_bytes())
    return nlp


def test_attention_of_each_generated_token_is_stored(attending, trained):
    texts = [eg.predicted.text for eg in trained.examples[:8]]
    for doc in attending.pipe(texts):
        attention = doc._.summary_attention
        weights, copy = attention["weights"], attention["copy"]
        assert attention["source"] == [token.text for token in doc]
        assert attention["target"][-1] == "</s>"
        summary_words = [token.text for token in attending.make_doc(doc._.summary)]
        assert attention["target"][:-1] == summary_words
        assert weights.shape == (len(attention["target"]), len(doc))
        numpy.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-4)
        assert ((copy >= 0) & (copy <= 1)).all()
    # storing the attention does not change the summaries
    assert [d._.summary for d in attending.pipe(texts)] == [
        d._.summary for d in trained.nlp.pipe(texts)
    ]
    assert attending("")._.summary_attention is None


def test_render_attention_writes_a_self_contained_heatmap(attending, trained):
    doc = attending(trained.examples[0].predicted.text)
    markup = render_attention(doc, jupyter=False)
    assert markup.startswith("<!DOCTYPE html>") and "<script" not in markup
    attention = doc._.summary_attention
    n_cells = len(attention["target"]) * len(attention["source"])
    assert markup.count('class="s2s-weight"') == n_cells
    assert render_attention(doc, field="summary", jupyter=False) == markup


def test_render_attention_escapes_and_shows_line_breaks():
    nlp = make_summarizer_nlp(store_attention=True)  # installs the extension
    doc = nlp.make_doc("a<b> \n x")
    doc._.summary_attention = {
        "source": [t.text for t in doc],
        "target": ["<i>", "</s>"],
        "weights": numpy.full((2, len(doc)), 1.0 / len(doc), dtype="float32"),
        "copy": numpy.asarray([0.75, 0.0], dtype="float32"),
    }
    markup = render_attention(doc, jupyter=False)
    assert "&lt;i&gt;" in markup and "<i>" not in markup.split("<body>")[1]
    assert "⏎" in markup and "75%" in markup


def test_render_attention_without_attention_is_a_clear_error():
    doc = spacy.blank("en")("no attention here")
    with pytest.raises(ValueError, match="store_attention"):
        render_attention(doc, field="summary", jupyter=False)


@needs_chromium
def test_heatmap_renders_its_tokens_in_headless_chromium(attending, trained, tmp_path):
    from selenium.webdriver.common.by import By

    doc = attending(trained.examples[0].predicted.text)
    page = tmp_path / "attention.html"
    page.write_text(render_attention(doc, jupyter=False), encoding="utf8")
    with headless_chromium(tmp_path / "profile") as driver:
        driver.get(page.as_uri())
        attention = doc._.summary_attention
        sources = driver.find_elements(By.CSS_SELECTOR, "th.s2s-source")
        targets = driver.find_elements(By.CSS_SELECTOR, "th.s2s-target")
        assert [e.text for e in targets] == attention["target"]
        assert len(sources) == len(attention["source"])
        for element in sources + targets:
            assert element.is_displayed()
            assert element.size["width"] > 0 and element.size["height"] > 0
        cells = driver.find_elements(By.CSS_SELECTOR, "td.s2s-weight")
        assert len(cells) == len(sources) * len(targets)


def test_render_script_writes_heatmaps_of_sample_docs(trained, reuters_dir, tmp_path):
    trained.nlp.to_disk(tmp_path / "model")
    script = Path(__file__).resolve().parent.parent / "scripts" / "render_attention.py"
    args = [sys.executable, str(script), str(tmp_path / "model")]
    args += [str(reuters_dir / "test.jsonl.gz"), str(tmp_path / "out"), "--limit", "3"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    pages = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert pages == ["000.html", "001.html", "002.html", "index.html"]
    assert "s2s-weight" in (tmp_path / "out" / "000.html").read_text(encoding="utf8")
