"""The review app (FastAPI): a server-rendered grid of flagged images, decisions saved to the store at once."""

from __future__ import annotations

import getpass
import json
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal, Optional

import jinja2
import pandas as pd
from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from labelfix import store
from labelfix.fileio import printable
from labelfix.issues.multilabel import label_set_text
from labelfix.review.guards import host_names, refusal
from labelfix.review.queue import (
    SCOPES,
    STATUSES,
    QueueFilter,
    label_pairs,
    page_of,
    review_progress,
    shown_rows,
    sorts,
    with_decisions,
)
from labelfix.review.thumbnails import SIZES, ThumbnailCache

HERE = Path(__file__).parent
PAGE_SIZES = (24, 48, 96, 192)
UNREADABLE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#eee"/>'
    '<text x="128" y="132" font-family="sans-serif" font-size="18" text-anchor="middle" fill="#a33">unreadable</text></svg>'
)


ItemId = Annotated[int, Field(ge=0, lt=2**31)]
MAX_IDS = 10_000
RUN_HEADER = "X-Labelfix-Run"  # the scan a write was made on (see ReviewSession)
RunId = Annotated[Optional[str], Header(alias=RUN_HEADER)]


class DecisionRequest(BaseModel):
    item_ids: list[ItemId] = Field(min_length=1, max_length=MAX_IDS)
    action: Literal["accept", "keep", "relabel", "remove"]
    label: str | None = Field(None, max_length=1000)  # the new class for relabel
    labels: list[str] | None = Field(None, max_length=1000)  # a multi-label run's new label set for relabel


class UndoRequest(BaseModel):
    item_ids: list[ItemId] = Field(min_length=1, max_length=MAX_IDS)


class ReviewSession:
    """The run's store and its review queue, shared by the request handlers (one lock for SQLite).

    A re-scan rewrites the store in one transaction with a new run_id; `refresh` (on every request) then loads
    the new queue. Writes name the run_id the page was made from, and one made from an earlier scan is refused
    (409): item ids belong to one scan.
    """

    def __init__(self, run_dir: Path, reviewer: str) -> None:
        self.run_dir = Path(run_dir)
        self.reviewer = reviewer
        self.lock = threading.Lock()
        self.db = store.open_store(run_dir)
        self._load()

    def _load(self) -> None:
        self.db.execute("BEGIN")  # one snapshot: a scan that commits meanwhile is seen whole, at the next refresh
        try:
            self.record = store.read_run_record(self.db)
            self.classes = store.read_classes(self.db)
            self.queue = self._shown(store.review_queue(self.db))  # what the page shows first
            self.splits = store.read_splits(self.db)
            self.sorts = sorts(store.scored_issue_types(self.db))
        finally:
            self.db.execute("COMMIT")
        self.run_id = self.record.get("run_id")
        self._items: pd.DataFrame | None = None  # every image, read when first asked for (a million rows take a while)
        self.queue_ids = frozenset(self.queue["item_id"].tolist())
        self.summaries = {"review": _summary(self.queue)}  # per scope: counts that do not change with decisions
        self.thumbnails = ThumbnailCache(self.run_dir / "thumbnails", Path(self.record["dataset"]["root"]))

    @property
    def multilabel(self) -> bool:
        return self.record.get("task") == "multilabel"

    def _shown(self, table: pd.DataFrame) -> pd.DataFrame:
        """A multi-label run's label sets as text ('cat + sofa'); decided sets are stored as JSON lists."""
        return with_label_set_text(table) if self.multilabel else table

    @property
    def items(self) -> pd.DataFrame:
        """Every image (the "all" scope), read from the store the first time it is asked for."""
        with self.lock:
            if self._items is None:
                self._items = self._shown(store.review_queue(self.db, everything=True))
            return self._items

    def summary(self, scope: str) -> dict:
        """The page's filter choices for a scope (issue types, label pairs, given classes), computed once per run."""
        if scope not in self.summaries:
            self.summaries[scope] = _summary(self.items if scope == "all" else self.queue)
        return self.summaries[scope]

    def suggestion(self, item_id: int) -> str | None:
        """The label an accept stores: the suggested class, or a multi-label run's suggested set as a JSON list."""
        table = self.queue if item_id in self.queue_ids else self.items
        row = table[table["item_id"].to_numpy() == item_id]
        if row.empty:
            return None
        if self.multilabel:
            labels = row["suggested_labels"].iloc[0]
            return label_set_json(labels) if labels is not None else None
        return row["suggested_label"].iloc[0]

    def refresh(self) -> None:
        """Load the run again if a scan replaced it."""
        with self.lock:
            if store.current_run_id(self.db) != self.run_id:
                self._load()

    def same_run(self, run_id: str | None) -> None:
        """Raise unless `run_id` (sent by the page) names the scan the store holds."""
        if not run_id:
            raise HTTPException(428, f"send the run id ({RUN_HEADER} header, from /api/state) with each change")
        if run_id != self.run_id:
            raise HTTPException(409, "the run was scanned again since this page was loaded; reload the page "
                                     "(decisions made before the scan are carried over)")

    def decisions(self) -> pd.DataFrame:
        with self.lock:
            return store.current_decisions(self.db)

    def table(self, *, everything: bool = False, sort: str = "review") -> pd.DataFrame:
        """The images needing review (with `everything`, every image) with their current decisions, and the scores
        `sort` orders them by."""
        return with_decisions(self._with_scores(everything, sort), self.decisions())

    def _with_scores(self, everything: bool, sort: str) -> pd.DataFrame:
        """The images, with the scores of the issue type `sort` names (one of `sorts`) when they are not there yet
        (read the first time, kept)."""
        base = self.items if everything else self.queue
        if sort == "review" or sort in base:
            return base
        with self.lock:
            scores = store.issue_scores(self.db, sort.removesuffix("_score"), everything=everything)
            base = base.assign(**{sort: base["item_id"].map(scores)})
            if everything:
                self._items = base
            else:
                self.queue = base
        return base

    def known(self, item_ids: list[int]) -> None:
        """Raise 404 unless every id is an image of this run (nothing is stored for a request that names another)."""
        others = set(item_ids) - self.queue_ids
        with self.lock:
            unknown = sorted(others - store.existing_items(self.db, others)) if others else []
        if unknown:
            raise HTTPException(404, f"no image {unknown[0]} in this run" + (f" (and {len(unknown) - 1} more)"
                                                                               if len(unknown) > 1 else ""))

    def decide(self, request: DecisionRequest, run_id: str | None) -> None:
        self.same_run(run_id)
        self.known(request.item_ids)
        new_label = self._relabel_to(request) if request.action == "relabel" else None
        rows = []
        for item_id in request.item_ids:
            label = new_label
            if request.action == "accept":
                label = self.suggestion(item_id)
                if not label:
                    raise HTTPException(400, f"image {item_id} has no suggested label to accept")
            rows.append((item_id, request.action, label))
        with self.lock, _refused_after_rescan():
            store.record_decisions(self.db, rows, self.reviewer, run_id=run_id)

    def _relabel_to(self, request: DecisionRequest) -> str:
        """The label a relabel stores: a class, or a multi-label run's set as a JSON list (checked either way)."""
        if not self.multilabel:
            if request.label not in self.classes:
                raise HTTPException(400, f"unknown class {request.label!r}; one of {', '.join(self.classes)}")
            return request.label
        if request.labels is None:
            raise HTTPException(400, "a multi-label run is relabelled to a set: send labels (a list, [] for none)")
        unknown = sorted(set(request.labels) - set(self.classes))
        if unknown or len(set(request.labels)) != len(request.labels):
            raise HTTPException(400, f"labels must be distinct classes of the run; {unknown[0]!r} is not one"
                                if unknown else "labels must be distinct (a class named twice)")
        return label_set_json(request.labels)

    def undo(self, item_ids: list[int], run_id: str | None) -> None:
        self.same_run(run_id)
        self.known(item_ids)
        with self.lock, _refused_after_rescan():
            for item_id in item_ids:
                store.undo_decision(self.db, item_id, run_id=run_id)

    def state(self, item_ids: list[int]) -> dict:
        """Current decisions of those `item_ids` that have one, and the progress, for the page to show (polled
        every few seconds: the decided images and the review queue only, not every image)."""
        decisions = self.decisions()
        shown = decisions[decisions["item_id"].isin(item_ids)]
        return {"decisions": {int(row.item_id): {"action": row.action, "label": row.label} for row in shown.itertuples()},
                "progress": review_progress(with_decisions(self.queue, decisions)), "run_id": self.run_id}

    def image_file(self, item_id: int) -> tuple[str, str | None]:
        """(path, content hash) of an image of the run."""
        with self.lock:
            found = store.item_file(self.db, item_id)
        if found is None:
            raise HTTPException(404, f"no image {item_id} in this run")
        return found


@contextmanager
def _refused_after_rescan():
    """A scan that committed between the run id check and the write: 409, as for a stale page."""
    try:
        yield
    except store.RunReplaced as error:
        raise HTTPException(409, str(error)) from None


def create_app(run_dir: Path, reviewer: str | None = None, *, warm_thumbnails: bool = True,
               allow_hosts: Sequence[str] = ()) -> FastAPI:
    """The review app over `run_dir` (a folder written by `labelfix scan`).

    With `warm_thumbnails`, a background thread makes the grid thumbnails in review order (`app.state.warming`).
    It answers requests for IP addresses, localhost, this machine's name and `allow_hosts` (see `guards`).
    """
    session = ReviewSession(run_dir, reviewer or getpass.getuser())
    app = FastAPI(title="labelfix review", docs_url=None, redoc_url=None)
    app.state.session = session
    names = host_names(allow_hosts)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        refused = refusal(request, names)
        if refused:
            return refused
        if not request.url.path.startswith("/static/"):
            session.refresh()
        return await call_next(request)

    if warm_thumbnails:
        app.state.warming = session.thumbnails.warm_in_background(zip(session.queue["content_hash"], session.queue["path"]))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # autoescape=True: Jinja2Templates only escapes *.html names by default, and file names and labels are user data
    templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True))

    @app.get("/", response_class=HTMLResponse)
    def grid(
        request: Request,
        issue_type: str = "",
        given: str = "",
        pair: str = "",
        status: Literal["undecided", "decided", "all"] = "undecided",
        scope: Literal["review", "all"] = "review",
        split: str = "",
        sort: str = "review",
        min_score: str = "",
        max_score: str = "",
        page: int = Query(1, ge=1),
        page_size: int = Query(48, ge=1, le=500),
    ):
        if sort not in session.sorts:
            raise HTTPException(422, f"sort must be one of {', '.join(session.sorts)}")
        selection = QueueFilter(issue_type=issue_type, given=given, pair=pair, status=status, scope=scope, split=split,
                                sort=sort, min_score=_bound(min_score, "min_score"), max_score=_bound(max_score, "max_score"))
        summary = session.summary(scope)
        table = session.table(everything=scope == "all", sort=sort)
        shown = shown_rows(table, selection)
        rows, pages = page_of(shown, page, page_size)
        return templates.TemplateResponse(request, "review.html.j2", {
            "run": session.record, "run_dir": str(session.run_dir), "classes": session.classes,
            "cards": _cards(table.iloc[rows]), "selection": selection, "page": min(page, pages), "pages": pages,
            "page_size": page_size, "page_sizes": PAGE_SIZES, "statuses": STATUSES,
            "matching": len(shown_rows(table, replace(selection, status="all", sort="review"))), "shown": len(shown),
            **summary, "splits": session.splits, "scopes": SCOPES, "sorts": session.sorts,
            "progress": review_progress(table), "reviewer": session.reviewer, "run_id": session.run_id,
            "multilabel": session.multilabel,
        })

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.get("/thumbs/{size}/{item_id}.jpg")
    def thumbnail(size: int, item_id: ItemId):
        if size not in SIZES:
            raise HTTPException(404, f"thumbnail sizes are {SIZES}")
        path, content_hash = session.image_file(item_id)
        made = session.thumbnails.get(content_hash, path, size)
        if made is None:
            return Response(UNREADABLE_SVG, media_type="image/svg+xml")
        return FileResponse(made, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/items/{item_id}")
    def evidence(item_id: ItemId):
        with session.lock:
            found = store.item_evidence(session.db, item_id)
        if found is None:
            raise HTTPException(404, f"no image {item_id} in this run")
        found["path"] = printable(found["path"])
        for neighbor in found["neighbors"]:
            neighbor["path"] = printable(neighbor["path"])
        if found["probabilities"]:
            ranked = sorted(zip(session.classes, found["probabilities"]), key=lambda pair: -pair[1])
            found["top_classes"] = [{"class": name, "probability": p} for name, p in ranked[:5]]
        return {**found, **session.state([item_id])}

    @app.post("/api/decisions")
    def decide(request: DecisionRequest, run_id: RunId = None):
        session.decide(request, run_id)
        return session.state(request.item_ids)

    @app.post("/api/undo")
    def undo(request: UndoRequest, run_id: RunId = None):
        session.undo(request.item_ids, run_id)
        return session.state(request.item_ids)

    @app.get("/api/state")
    def state(ids: str = ""):
        try:
            item_ids = [int(part) for part in ids.split(",")[:MAX_IDS] if part]
        except ValueError:
            raise HTTPException(400, "ids must be comma-separated image ids") from None
        return session.state(item_ids)

    return app


def _summary(base: pd.DataFrame) -> dict:
    return {"issue_types": _issue_type_counts(base), "pairs": label_pairs(base),
            "given_counts": base["given_label"].value_counts().sort_index().to_dict()}


def _issue_type_counts(queue: pd.DataFrame) -> dict[str, int]:
    return queue["issue_types"].explode().dropna().value_counts().sort_index().to_dict()


def _cards(rows: pd.DataFrame) -> list[dict]:
    cards = []
    for row in rows.itertuples():
        cards.append({
            "item_id": int(row.item_id),
            "path": printable(row.path),
            "name": printable(row.path.rsplit("/", 1)[-1]),
            "split": row.split or "",
            "given": row.given_label,
            "suggested": row.suggested_label if isinstance(row.suggested_label, str) else None,
            "given_p": _number(row.given_label_probability),
            "suggested_p": _number(row.suggested_label_probability),
            "issue_types": row.issue_types,
            "label_score": _number(row.label_score),
            "action": row.action,
            "final_label": row.final_label,
            "given_labels": row.given_labels,
            "suggested_labels": row.suggested_labels if isinstance(row.suggested_labels, list) else None,
        })
    return cards


def label_set_json(labels) -> str:
    """A label set as a multi-label decision stores it: a sorted JSON list."""
    return json.dumps(sorted(labels), ensure_ascii=False)


def with_label_set_text(items: pd.DataFrame) -> pd.DataFrame:
    """A multi-label queue with given_label / suggested_label as text ('cat + sofa', '(no label)'), so that filters,
    pairs and progress work on label sets as they do on classes."""
    shown = items.copy()
    shown["given_label"] = [label_set_text(labels) for labels in shown["given_labels"]]
    shown["suggested_label"] = [label_set_text(labels) if isinstance(labels, list) else None
                                for labels in shown["suggested_labels"]]
    return shown


def _bound(text: str, name: str) -> float | None:
    """A label-score bound from the filter form ("" for none)."""
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise HTTPException(422, f"{name} must be a number") from None


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)
