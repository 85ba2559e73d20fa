import dataclasses

import pytest

from .browser import headless_chromium, needs_chromium
from .conftest import make_responder_nlp, make_summarizer_nlp
from .serving import copy_pipeline, running

pytest.importorskip("fastapi", reason="the server needs the serve extra")
from spacy_seq2seq.serve.app import embedded_app  # noqa: E402
from spacy_seq2seq.serve.service import Limits, Seq2SeqService  # noqa: E402

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def browser(tmp_path):
    with headless_chromium(tmp_path / "profile") as driver:
        yield driver


def wait_for(driver, css: str, count: int, timeout: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= count
    )
    return driver.find_elements(By.CSS_SELECTOR, css)


def test_chat_page_two_messages_two_replies_then_start_over(trained_responder, browser):
    from selenium.webdriver.common.by import By

    nlp = copy_pipeline(trained_responder.nlp, make_responder_nlp)
    service = Seq2SeqService(nlp, limits=Limits(max_wait_ms=5))
    app = embedded_app(service)
    with running(app) as url:
        browser.get(url + "/")
        wait_for(browser, "body[data-ready=reply]", 1)
        assert browser.find_element(By.ID, "chat").is_displayed()
        messages = ["hi , have you seen the movie ?", "who plays the lead ?"]
        browser.find_element(By.ID, "show-attention").click()
        for i, message in enumerate(messages, start=1):
            browser.find_element(By.ID, "message").send_keys(message + "\n")
            wait_for(browser, ".turn.bot .reply", i)
        replies = [
            e.text for e in browser.find_elements(By.CSS_SELECTOR, ".turn.bot .reply")
        ]
        users = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".turn.user")]
        assert users == messages
        # the page's conversation is the server's: the same replies
        with service.component.using_decoding(service.component.decoding):
            first = nlp(messages[0])._.response
            second = nlp(service.spec.reply_context([messages[0], first, messages[1]]))
        assert replies == [first, second._.response]
        # each reply with the heatmap render_attention draws
        tables = wait_for(browser, ".turn.bot .heatmap table.s2s-attention", 2)
        assert all(t.is_displayed() for t in tables)
        assert browser.find_elements(By.CSS_SELECTOR, ".heatmap td.s2s-weight")
        assert len(app.state.conversations) == 1
        browser.find_element(By.ID, "new-conversation").click()
        wait_for(browser, "#conversation:empty", 1)
        assert len(app.state.conversations) == 0  # the page deleted it
        # n-best on demand
        browser.find_element(By.ID, "n-best").clear()
        browser.find_element(By.ID, "n-best").send_keys("3")
        browser.find_element(By.ID, "message").send_keys(messages[0] + "\n")
        wait_for(browser, ".turn.bot .reply", 1)
        decoding = dataclasses.replace(service.component.decoding, n_best=3)
        with service.component.using_decoding(decoding):
            doc = nlp(messages[0])
        reply = browser.find_element(By.CSS_SELECTOR, ".turn.bot .reply").text
        assert reply == doc._.response
        candidates = browser.find_elements(By.CSS_SELECTOR, ".turn.bot .candidate")
        assert len(candidates) == (
            len(doc._.responses) if len(doc._.responses) > 1 else 0
        )
        for element, (text, _) in zip(candidates, doc._.responses):
            assert element.text.startswith(text)
        assert not browser.find_element(By.ID, "error").is_displayed()
        # the "candidates" box sets what the API calls candidates (MMI's samples)
        assert service.component.decoding.name == "mmi"
        box = browser.find_element(By.ID, "candidates")
        assert box.get_attribute("value") == str(service.component.decoding.candidates)
        box.clear()
        box.send_keys("5")
        browser.find_element(By.ID, "message").send_keys(messages[1] + "\n")
        wait_for(browser, ".turn.bot .reply", 2)
        decoding = dataclasses.replace(decoding, candidates=5)
        with service.component.using_decoding(decoding):
            doc = nlp(service.spec.reply_context([messages[0], reply, messages[1]]))
        replies = browser.find_elements(By.CSS_SELECTOR, ".turn.bot .reply")
        assert replies[1].text == doc._.response
        # the page names the pipeline
        name = browser.find_element(By.ID, "pipeline").text
        assert name.startswith(service.spec.pipeline["name"])


def test_summarize_page_shows_the_summary_and_its_heatmap(trained, browser):
    from selenium.webdriver.common.by import By

    nlp = copy_pipeline(trained.nlp, make_summarizer_nlp)
    service = Seq2SeqService(nlp, limits=Limits(max_wait_ms=5))
    text = trained.examples[0].predicted.text
    with running(embedded_app(service)) as url:
        browser.get(url + "/")
        wait_for(browser, "body[data-ready=summarize]", 1)
        assert not browser.find_element(By.ID, "chat").is_displayed()
        browser.find_element(By.ID, "show-attention").click()
        browser.find_element(By.ID, "text").send_keys(text)
        browser.find_element(By.ID, "summarize-button").click()
        (summary,) = wait_for(browser, ".summary-text", 1)
        assert summary.text == trained.nlp(text)._.summary
        wait_for(browser, ".summary .heatmap table.s2s-attention", 1)
