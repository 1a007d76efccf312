"""What is known about the request being served (observability/context.py): the API notes the
dialect and counts documents and tokens into the current request's record, tasks it starts note
into the same record, and outside a request nothing is noted."""

from __future__ import annotations

import asyncio

from reranker.observability import context


def test_should_note_into_the_current_request_and_add_up_its_counts():
    record = context.RequestRecord("id-1", "POST", "/v1/rerank")
    token = context.begin(record)
    try:
        assert context.current() is record
        context.note_dialect("cohere")
        context.count(2, 10)
        context.count(1, 5)  # a request may score twice
    finally:
        context.end(token)
    assert context.current() is None
    assert (record.dialect, record.documents, record.tokens) == ("cohere", 3, 15)


def test_should_note_nothing_outside_a_request():
    context.note_dialect("cohere")
    context.count(2, 10)
    assert context.current() is None


def test_tasks_a_request_starts_should_note_into_its_record():
    record = context.RequestRecord("id-2", "POST", "/v1/score")

    async def scenario() -> None:
        token = context.begin(record)

        async def scoring() -> None:
            context.count(4, 40)

        await asyncio.create_task(scoring())  # the task copies the context: the same record
        context.end(token)

    asyncio.run(scenario())
    assert (record.documents, record.tokens) == (4, 40)
