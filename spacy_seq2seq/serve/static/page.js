// The page of a served pipeline: a chat with a responder, or a summarizer.
// It talks to the /v1 API of the server that sent it, nothing else.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
let conversationId = null;

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const data = await response.json();
      detail = typeof data.detail === "string" ? data.detail
        : data.detail.map((e) => `${e.loc.slice(1).join(".")}: ${e.msg}`).join("; ");
    } catch (e) { /* not JSON: keep the status text */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.status === 204 ? null : response;
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
  $("error").hidden = !error;
}

// The decoding settings the options ask for: "replies shown" is the API's
// n_best, "candidates" (MMI) the API's candidates.
function decoding() {
  const settings = { attention: $("show-attention").checked };
  if (info.task !== "reply") return settings;
  const nBest = parseInt($("n-best").value, 10) || 1;
  if (nBest > 1) {
    settings.n_best = nBest;
    if (info.decoding.decoding === "beam" && nBest > info.decoding.beam_size) {
      settings.beam_size = nBest;
    }
  }
  if (info.decoding.decoding === "mmi") {
    const candidates = parseInt($("candidates").value, 10);
    if (candidates) settings.candidates = candidates;
  }
  return settings;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The heatmap the package's render_attention draws, rendered by the server.
async function addHeatmap(node, attention) {
  if (!attention) return;
  const response = await call("POST", "/v1/render/attention", attention);
  const heatmap = element("div", "heatmap");
  heatmap.innerHTML = await response.text();
  node.appendChild(heatmap);
}

function addCandidates(node, candidates) {
  if (candidates.length < 2) return;
  const list = element("ol", "candidates");
  for (const [text, score] of candidates) {
    list.appendChild(element("li", "candidate", `${text} (${score.toFixed(2)})`));
  }
  node.appendChild(list);
}

async function send(event) {
  event.preventDefault();
  const message = $("message").value;
  if (!message.trim()) return;
  $("message").value = "";
  showError(null);
  $("conversation").appendChild(element("li", "turn user", message));
  const request = { message, ...decoding() };
  if (conversationId) request.conversation_id = conversationId;
  // sent with every message: an edited (or cleared: "") document takes
  // effect at once
  request.document = $("document").value;
  try {
    const data = await (await call("POST", "/v1/reply", request)).json();
    conversationId = data.conversation_id;
    const turn = element("li", "turn bot");
    turn.appendChild(element("span", "reply", data.reply));
    addCandidates(turn, data.candidates);
    $("conversation").appendChild(turn);
    await addHeatmap(turn, data.attention);
  } catch (error) {
    showError(error);
  }
}

async function newConversation() {
  showError(null);
  if (conversationId) {
    try {
      await call("DELETE", `/v1/conversations/${conversationId}`);
    } catch (error) { /* expired already: nothing to forget */ }
  }
  conversationId = null;
  $("conversation").replaceChildren();
  $("message").focus();
}

async function summarize(event) {
  event.preventDefault();
  showError(null);
  try {
    const request = { texts: [$("text").value], ...decoding() };
    const data = await (await call("POST", "/v1/summarize", request)).json();
    const item = element("li", "summary");
    item.appendChild(element("span", "summary-text", data.summaries[0]));
    $("summaries").prepend(item);
    await addHeatmap(item, data.attention && data.attention[0]);
  } catch (error) {
    showError(error);
  }
}

async function start() {
  try {
    info = await (await call("GET", "/v1/info")).json();
  } catch (error) {
    showError(error);
    return;
  }
  const name = info.version ? `${info.name} ${info.version}` : info.name;
  $("pipeline").textContent = `${name} · component ${info.component} · /v1/${info.task}`;
  document.title = `${info.name} · spacy-seq2seq`;
  if (info.task === "reply") {
    $("title").textContent = "Chat";
    $("chat").hidden = false;
    $("message-form").addEventListener("submit", send);
    $("new-conversation").addEventListener("click", newConversation);
    if (info.decoding.decoding === "mmi") {
      $("candidates").value = info.decoding.candidates;
      $("candidates-option").hidden = false;
    }
  } else {
    $("title").textContent = "Summarize";
    $("summarize").hidden = false;
    $("n-best").closest("label").hidden = true;
    $("summarize-form").addEventListener("submit", summarize);
  }
  document.body.dataset.ready = info.task;
}

start();
