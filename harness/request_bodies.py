"""The requests the tests and the benchmarks send: the KServe reranker guide's request (the one
our contract is written for) and generated rerank bodies. Standard library only."""

from __future__ import annotations

import random

# The KServe reranker guide's request; tests.support.seed_contract checks the answer to it.
SEED_REQUEST = {
    "model": "reranker",
    "query": "What is the capital of France?",
    "documents": [
        "Paris is the capital and most populous city of France.",
        "Berlin is the capital and largest city of Germany.",
        "The Eiffel Tower is located in Paris, France.",
        "France is a country in Western Europe.",
    ],
    "top_n": 2,
}

# The words of the seed-shaped bodies' documents (make_documents, rerank_body).
_WORDS_TEXT = (
    "paris france capital city berlin germany europe tower river museum history people language "
    "government population economy culture science music art food travel"
)
WORDS = _WORDS_TEXT.split()

# Common English words that BERT's uncased WordPiece vocabulary (MiniLM's) keeps whole: a document
# of n of them is n tokens, and random draws make every benchmark document distinct (an engine
# that embeds each distinct text once must not be flattered by repeated text).
_VOCABULARY_TEXT = (
    "time year people way day man thing woman life child world school state family student group "
    "country problem hand part place case week company system program question work government "
    "number night point home water room mother area money story fact month lot right study book eye "
    "job word business issue side kind head house service friend father power hour game line end "
    "member law car city community name president team minute idea kid body information back parent "
    "face others level office door health person art war history party result change morning reason "
    "research girl guy moment air teacher force education foot boy age policy process music market "
    "sense nation plan college interest death experience effect use class control care field "
    "development role effort rate heart drug show leader light voice wife police mind price report "
    "decision son view relationship town road arm difference value building action model season "
    "society tax director position player record paper space ground form event official matter "
    "center couple site project activity star table need court oil situation cost industry figure "
    "street image television tree river mountain ocean island bridge station garden kitchen window "
    "library museum hospital church village castle forest desert valley lake beach harbor airport "
    "train engine computer network server data cloud memory signal energy sound color language "
    "science theory method answer"
)
VOCABULARY = _VOCABULARY_TEXT.split()


def make_documents(count: int, words_per_doc: int, seed: int) -> list[str]:
    docs = []
    for i in range(count):
        start = (seed * 7 + i * 13) % len(WORDS)
        docs.append(" ".join(WORDS[(start + k * 3) % len(WORDS)] for k in range(words_per_doc)))
    return docs


def rerank_body(documents: int, words: int, seed: int) -> dict:
    """A seed-shaped rerank request: one query and ``documents`` documents of ``words`` words."""
    return {
        "query": f"what is the capital of {WORDS[seed % len(WORDS)]}",
        "documents": make_documents(documents, words, seed),
        "return_documents": False,
    }


def distinct_rerank_body(documents: int, words: int, seed: int, model: str = "reranker") -> dict:
    """A rerank request whose query (6 words) and documents (``words`` words each) are random
    draws from VOCABULARY: distinct across seeds, the same for the same seed."""
    rng = random.Random(seed)
    return {
        "model": model,
        "query": " ".join(rng.choices(VOCABULARY, k=6)),
        "documents": [" ".join(rng.choices(VOCABULARY, k=words)) for _ in range(documents)],
    }
