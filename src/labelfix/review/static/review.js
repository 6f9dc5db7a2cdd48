// labelfix review page: keyboard-first decisions, saved at once; user data only ever goes through textContent.
"use strict";

const page = JSON.parse(document.getElementById("page-data").textContent);
const grid = document.getElementById("grid");
const cards = Array.from(grid.querySelectorAll(".card"));
const cardData = new Map(page.cards.map((card) => [String(card.item_id), card]));
const myActions = [];  // this tab's actions, newest last: lists of item ids, for Ctrl+Z

function itemId(card) { return Number(card.dataset.item); }
function selectedCards() { return cards.filter((card) => card.classList.contains("selected")); }
function focusedCard() { return document.activeElement && document.activeElement.closest ? document.activeElement.closest(".card") : null; }
function targets() {
  const selected = selectedCards();
  if (selected.length) return selected;
  const focused = focusedCard();
  return focused ? [focused] : [];
}

function toast(message) {
  const element = document.getElementById("toast");
  element.textContent = message;
  element.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => element.classList.remove("show"), 2200);
}

// Changes name the scan this page shows: after a re-scan the server refuses them (409) instead of storing them
// against the images that now have these ids.
async function call(method, url, body) {
  const headers = body ? { "Content-Type": "application/json", "X-Labelfix-Run": page.run_id } : {};
  const response = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : `${response.status} ${response.statusText}`);
  return data;
}

// A multi-label run stores a decided label set as a JSON list.
function labelSet(label) { return JSON.parse(label); }
function setText(labels) { return labels.length ? labels.join(" + ") : "(no label)"; }

function describe(decision) {
  if (!decision) return "";
  if (decision.action === "keep") return page.multilabel ? "✓ keep given labels" : "✓ keep given label";
  if (decision.action === "remove") return "✗ remove";
  return `→ ${page.multilabel ? setText(labelSet(decision.label)) : decision.label}`;
}

// The label set a card has now: its decided set, else the given one (multi-label runs).
function currentSet(card) {
  const data = cardData.get(card.dataset.item);
  const decided = card.dataset.label;
  if (card.dataset.action === "remove" || card.dataset.action === "keep" || !decided) return data.given_labels.slice();
  return labelSet(decided);
}

// Switch one class on or off in each card's set; every change is saved at once (and undone one by one).
async function toggleClass(chosen, name) {
  if (!chosen.length) return;
  const groups = new Map();
  for (const card of chosen) {
    const labels = currentSet(card);
    const next = labels.includes(name) ? labels.filter((label) => label !== name) : [...labels, name].sort();
    const key = JSON.stringify(next);
    groups.set(key, [...(groups.get(key) || []), card]);
  }
  for (const [key, cardsWithSet] of groups) await decide(cardsWithSet, "relabel", undefined, JSON.parse(key), true);
}

function showDecision(card, decision) {
  card.dataset.action = decision ? decision.action : "";
  card.dataset.label = decision && decision.label ? decision.label : "";
  card.classList.toggle("decided", Boolean(decision));
  card.querySelector(".decision").textContent = describe(decision);
}

function showProgress(progress) {
  const share = progress.label_flags_reviewed
    ? ` · ${Math.round(100 * progress.share_real)}% of ${progress.label_flags_reviewed} reviewed label flags were real errors`
    : "";
  document.getElementById("progress-text").textContent =
    `${progress.reviewed} of ${progress.total} reviewed · ${progress.left} left${share}`;
  document.getElementById("progress-bar").style.width = progress.total ? `${100 * progress.reviewed / progress.total}%` : "0";
  const body = document.querySelector("#per-class tbody");
  body.replaceChildren(...progress.per_class.map((row) => {
    const tr = document.createElement("tr");
    const share = row.share_real === null ? "–" : `${Math.round(100 * row.share_real)}%`;
    for (const value of [row.class, row.flagged, row.reviewed, row.real_errors, share]) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr.append(td);
    }
    return tr;
  }));
}

// `state.decisions` holds the decided images among those asked about (`ids`): the others are undecided.
function applyState(state, ids) {
  if (state.run_id !== page.run_id) {  // these ids now name other images: show nothing of them
    toast("the run was scanned again since this page was loaded: reload the page");
    return;
  }
  const asked = new Set(ids.map(String));
  for (const card of cards) {
    const id = card.dataset.item;
    if (asked.has(id)) showDecision(card, state.decisions[id] || null);
  }
  showProgress(state.progress);
  updateBulkBar();
}

function nextCard(card) {
  const index = cards.indexOf(card);
  return cards.slice(index + 1).find((c) => !c.classList.contains("decided")) || cards[index + 1] || card;
}

async function decide(chosen, action, label, labels, stay) {
  if (!chosen.length) return;
  const ids = chosen.map(itemId);
  try {
    const state = await call("POST", "/api/decisions", { item_ids: ids, action, label, labels });
    applyState(state, ids);
    myActions.push(ids);
    toast(`${describe(state.decisions[ids[0]])}${ids.length > 1 ? ` (${ids.length} images)` : ""}`);
    if (stay) return;  // toggling classes of a label set: the card keeps the focus for the next one
    if (chosen.length === 1 && !selectedCards().length) nextCard(chosen[0]).focus();
    else clearSelection();
  } catch (error) {
    toast(`not saved: ${error.message}`);
  }
}

async function undo(ids) {
  if (!ids.length) return;
  try {
    const state = await call("POST", "/api/undo", { item_ids: ids });
    applyState(state, ids);
    toast(`undone (${ids.length} image${ids.length > 1 ? "s" : ""})`);
  } catch (error) {
    toast(`undo failed: ${error.message}`);
  }
}

function pickClass(chosen) {
  if (!chosen.length) return;
  const dialog = document.getElementById("picker");
  const input = document.getElementById("picker-input");
  document.getElementById("picker-count").textContent = chosen.length > 1 ? `${chosen.length} images` : "this image";
  input.value = "";
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "ok" && page.classes.includes(input.value) && page.multilabel) toggleClass(chosen, input.value);
    else if (dialog.returnValue === "ok" && page.classes.includes(input.value)) decide(chosen, "relabel", input.value);
    else if (dialog.returnValue === "ok") toast(`unknown class: ${input.value}`);
    chosen[0].focus();
  };
  dialog.showModal();
  input.focus();
}

function toggleSelection(card) {
  card.classList.toggle("selected");
  card.querySelector(".select").checked = card.classList.contains("selected");
  updateBulkBar();
}

function clearSelection() {
  for (const card of selectedCards()) toggleSelection(card);
}

function updateBulkBar() {
  const count = selectedCards().length;
  document.getElementById("bulk").hidden = count === 0;
  document.getElementById("bulk-count").textContent = `${count} selected`;
}

function figure(src, caption) {
  const element = document.createElement("figure");
  const image = document.createElement("img");
  image.src = src;
  image.loading = "lazy";
  const text = document.createElement("figcaption");
  text.textContent = caption;
  element.append(image, text);
  return element;
}

function listItem(text) {
  const element = document.createElement("li");
  element.textContent = text;
  return element;
}

function formatDetails(details) {
  return Object.entries(details)
    .map(([name, value]) => `${name.replaceAll("_", " ")} ${typeof value === "number" ? Number(value.toFixed(3)) : value}`)
    .join(", ");
}

async function showEvidence(card) {
  if (!card) return;
  const id = itemId(card);
  const panel = document.getElementById("evidence");
  try {
    const item = await call("GET", `/api/items/${id}`);
    if (item.run_id !== page.run_id) throw new Error("the run was scanned again: reload the page");
    document.getElementById("evidence-image").src = `/thumbs/1024/${id}.jpg`;
    document.getElementById("evidence-name").textContent = item.path;
    const facts = document.getElementById("evidence-facts");
    facts.replaceChildren();
    for (const [name, value] of [["given label", page.multilabel ? setText(item.labels) : item.labels.join(", ")], ["split", item.split || "–"],
      ["fold", item.fold === null ? "–" : String(item.fold)], ["decision", describe(item.decisions[id]) || "none yet"]]) {
      const term = document.createElement("dt");
      term.textContent = name;
      const detail = document.createElement("dd");
      detail.textContent = value;
      facts.append(term, detail);
    }
    document.getElementById("evidence-probabilities").replaceChildren(
      ...(item.top_classes || []).map((row) => listItem(`${row.class}: ${row.probability.toFixed(3)}`)));
    document.getElementById("evidence-issues").replaceChildren(...item.issues.filter((issue) => issue.is_issue).map(
      (issue) => listItem(`${issue.issue_type}${issue.score === null ? "" : ` (score ${issue.score.toFixed(3)})`}` +
        (issue.details ? ` · ${formatDetails(issue.details)}` : ""))));
    document.getElementById("evidence-neighbors").replaceChildren(...item.neighbors.map(
      (neighbor) => figure(`/thumbs/256/${neighbor.item_id}.jpg`, `${neighbor.label} · ${neighbor.distance.toFixed(2)} · ${neighbor.path}`)));
    panel.hidden = false;
    panel.dataset.item = String(id);
  } catch (error) {
    toast(`no evidence: ${error.message}`);
  }
}

function closeEvidence() {
  const panel = document.getElementById("evidence");
  if (panel.hidden) return false;
  panel.hidden = true;
  const card = cards.find((c) => c.dataset.item === panel.dataset.item);
  if (card) card.focus();
  return true;
}

function moveFocus(step) {
  const current = focusedCard() || cards[0];
  if (!current) return;
  let target = cards[cards.indexOf(current) + step];
  if (Math.abs(step) > 1 && !target) target = step > 0 ? cards[cards.length - 1] : cards[0];
  if (target) target.focus();
}

function columns() {
  if (cards.length < 2) return 1;
  const top = cards[0].offsetTop;
  const index = cards.findIndex((card) => card.offsetTop !== top);
  return index === -1 ? cards.length : index;
}

function goToPage(step) {
  const allDecided = cards.length && cards.every((card) => card.classList.contains("decided"));
  if (step > 0 && page.status === "undecided" && allDecided) {
    window.location.reload();  // decided images leave this view: the same page now holds the next ones
    return;
  }
  const link = document.getElementById(step > 0 ? "next" : "previous");
  if (link) window.location.href = link.href;
}

const KEYS = {
  a: () => decide(targets(), "accept"),
  k: () => decide(targets(), "keep"),
  x: () => decide(targets(), "remove"),
  Delete: () => decide(targets(), "remove"),
  c: () => pickClass(targets()),
  u: () => undo(targets().map(itemId)),
  e: () => showEvidence(focusedCard()),
  Enter: () => showEvidence(focusedCard()),
  n: () => goToPage(1),
  p: () => goToPage(-1),
  ArrowRight: () => moveFocus(1),
  ArrowLeft: () => moveFocus(-1),
  ArrowDown: () => moveFocus(columns()),
  ArrowUp: () => moveFocus(-columns()),
  " ": () => { const card = focusedCard(); if (card) toggleSelection(card); },
  "*": () => {
    const all = selectedCards().length === cards.length;
    for (const card of cards) if (card.classList.contains("selected") === all) toggleSelection(card);
  },
  Escape: () => { if (!closeEvidence()) clearSelection(); },
};

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea, dialog")) return;
  if ((event.ctrlKey || event.metaKey) && event.key === "z") {
    event.preventDefault();
    undo(myActions.pop() || []);
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (/^[1-9]$/.test(event.key)) {
    const name = page.classes[Number(event.key) - 1];
    if (name && page.multilabel) toggleClass(targets(), name);
    else if (name) decide(targets(), "relabel", name);
    event.preventDefault();
    return;
  }
  const handler = KEYS[event.key];
  if (handler) {
    event.preventDefault();
    handler();
  }
});

grid.addEventListener("click", (event) => {
  const card = event.target.closest(".card");
  if (!card) return;
  if (event.target.classList.contains("select")) {
    card.classList.toggle("selected", event.target.checked);
    updateBulkBar();
    return;
  }
  const button = event.target.closest("button");
  if (!button) { card.focus(); return; }
  const chosen = card.classList.contains("selected") ? selectedCards() : [card];
  const action = button.dataset.do;
  if (action === "pick") pickClass(chosen);
  else if (action === "undo") undo(chosen.map(itemId));
  else if (action === "evidence") showEvidence(card);
  else decide(chosen, action);
});

document.getElementById("bulk").addEventListener("click", (event) => {
  const action = event.target.dataset ? event.target.dataset.bulk : null;
  const chosen = selectedCards();
  if (action === "clear") clearSelection();
  else if (action === "pick") pickClass(chosen);
  else if (action === "undo") undo(chosen.map(itemId));
  else if (action) decide(chosen, action);
});

document.querySelector("#evidence .close").addEventListener("click", closeEvidence);

// Decisions made in other tabs (or by other reviewers) show up here too.
async function refresh() {
  if (!cards.length || document.hidden) return;
  try {
    const ids = cards.map(itemId);
    applyState(await call("GET", `/api/state?ids=${ids.join(",")}`), ids);
  } catch (error) { /* the server may be restarting; try again later */ }
}

for (const card of cards) {
  const data = cardData.get(card.dataset.item);
  showDecision(card, data.action ? { action: data.action, label: data.final_label } : null);
}
showProgress(page.progress);
document.addEventListener("visibilitychange", refresh);
setInterval(refresh, 5000);
if (cards.length) cards[0].focus();
