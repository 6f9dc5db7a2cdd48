"""The review queue's pure functions on the tables the store returns."""

from helpers import review_queue
from labelfix import store
from labelfix.review.queue import QueueFilter, page_of, review_progress, shown_rows, with_decisions


def test_queue_functions_on_plain_tables(run_dir):
    queue, _ = review_queue(run_dir)
    db = store.open_store(run_dir)
    store.record_decisions(db, [(int(queue["item_id"].iloc[0]), "remove", None)], "t")
    table = with_decisions(queue, store.current_decisions(db))
    assert len(shown_rows(table, QueueFilter(status="decided"))) == 1
    assert table["action"].iloc[1] is None and table["final_label"].iloc[1] is None  # JSON null on the page, not NaN
    assert len(shown_rows(table, QueueFilter(status="all"))) == len(queue)
    rows, pages = page_of(shown_rows(table, QueueFilter(status="all")), 5, 2)
    assert pages == -(-len(queue) // 2) and len(rows) >= 1
    assert review_progress(table)["reviewed"] == 1
