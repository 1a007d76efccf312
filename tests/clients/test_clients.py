"""Each rerank client library, at its tested version, calls a real server started with default
flags and returns the same ranking as a plain HTTP call (the seed's Paris sentence first).

Client imports live inside the tests: ``make test`` collects this file in .venv, where the
client libraries are not installed, and deselects it (marker ``clients``).
"""

from __future__ import annotations

import pytest

from tests.support.app import SEED_REQUEST

pytestmark = [pytest.mark.clients, pytest.mark.timeout(300)]

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]
MODEL = "reranker"  # what a server with default flags answers to
KEY = "unused-key"  # clients that insist on one; the server does not read it


def assert_same_ranking(indices: list[int], raw_ranking: list[int]) -> None:
    assert indices[0] == 0, f"the Paris sentence is not first: {indices}"
    assert indices == raw_ranking[: len(indices)]


def haystack_documents():
    from haystack import Document

    return [Document(content=text, meta={"i": i}) for i, text in enumerate(DOCS)]


def llama_nodes():
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(text=text, id_=str(i))) for i, text in enumerate(DOCS)]


def llama_rerank(postprocessor) -> list[int]:
    from llama_index.core.schema import QueryBundle

    return [int(n.node.id_) for n in postprocessor.postprocess_nodes(llama_nodes(), query_bundle=QueryBundle(QUERY))]


# --- Cohere (/v1/rerank, /v2/rerank) ------------------------------------------------------------


def test_cohere_v1_client_with_documents(base_url, raw_ranking):
    import cohere

    response = cohere.Client(api_key=KEY, base_url=base_url).rerank(
        model=MODEL, query=QUERY, documents=DOCS, top_n=4, return_documents=True
    )
    assert_same_ranking([r.index for r in response.results], raw_ranking)
    assert [r.document.text for r in response.results] == [DOCS[r.index] for r in response.results]


def test_cohere_v2_client(base_url, raw_ranking):
    import cohere

    response = cohere.ClientV2(api_key=KEY, base_url=base_url).rerank(model=MODEL, query=QUERY, documents=DOCS, top_n=4)
    assert_same_ranking([r.index for r in response.results], raw_ranking)


def test_langchain_cohere(base_url, raw_ranking):
    from langchain_cohere import CohereRerank

    ranked = CohereRerank(cohere_api_key=KEY, base_url=base_url, model=MODEL, top_n=4).rerank(DOCS, QUERY)
    assert_same_ranking([r["index"] for r in ranked], raw_ranking)


def test_llama_index_cohere(base_url, raw_ranking):
    from llama_index.postprocessor.cohere_rerank import CohereRerank

    assert_same_ranking(llama_rerank(CohereRerank(api_key=KEY, base_url=base_url, model=MODEL, top_n=4)), raw_ranking)


def test_haystack_cohere(base_url, raw_ranking):
    from haystack.utils import Secret
    from haystack_integrations.components.rankers.cohere import CohereRanker

    ranker = CohereRanker(model=MODEL, top_k=4, api_key=Secret.from_token(KEY), api_base_url=base_url)
    out = ranker.run(query=QUERY, documents=haystack_documents())
    assert_same_ranking([d.meta["i"] for d in out["documents"]], raw_ranking)


# --- Jina (/v1/rerank) ---------------------------------------------------------------------------


def test_llama_index_jina(base_url, raw_ranking):
    from llama_index.postprocessor.jinaai_rerank import JinaRerank

    assert_same_ranking(
        llama_rerank(JinaRerank(api_key=KEY, base_url=f"{base_url}/v1", model=MODEL, top_n=4)), raw_ranking
    )


def test_haystack_jina(base_url, raw_ranking):
    from haystack.utils import Secret
    from haystack_integrations.components.rankers.jina import JinaRanker

    ranker = JinaRanker(model=MODEL, api_key=Secret.from_token(KEY), top_k=4, base_url=f"{base_url}/v1/rerank")
    out = ranker.run(query=QUERY, documents=haystack_documents())
    assert_same_ranking([d.meta["i"] for d in out["documents"]], raw_ranking)


def test_langchain_jina(base_url, raw_ranking, monkeypatch):
    import langchain_community.document_compressors.jina_rerank as jina_rerank

    # The endpoint is a module constant: the class takes no URL.
    monkeypatch.setattr(jina_rerank, "JINA_API_URL", f"{base_url}/v1/rerank")
    ranked = jina_rerank.JinaRerank(jina_api_key=KEY, model=MODEL, top_n=4).rerank(DOCS, QUERY)
    assert_same_ranking([r["index"] for r in ranked], raw_ranking)


@pytest.mark.parametrize("client", ["llama-index", "haystack", "langchain"])
def test_jina_clients_show_the_servers_message(base_url, client, monkeypatch):
    # They read response["detail"]: our errors carry it, so the user sees why.
    wrong = "jina-reranker-v1-base-en"  # the libraries' default model: not served by default
    with pytest.raises(Exception, match=r"model 'jina-reranker-v1-base-en' not found: this server serves 'reranker'"):
        if client == "llama-index":
            from llama_index.postprocessor.jinaai_rerank import JinaRerank

            llama_rerank(JinaRerank(api_key=KEY, base_url=f"{base_url}/v1", model=wrong, top_n=2))
        elif client == "haystack":
            from haystack.utils import Secret
            from haystack_integrations.components.rankers.jina import JinaRanker

            JinaRanker(model=wrong, api_key=Secret.from_token(KEY), base_url=f"{base_url}/v1/rerank").run(
                query=QUERY, documents=haystack_documents()
            )
        else:
            import langchain_community.document_compressors.jina_rerank as jina_rerank

            monkeypatch.setattr(jina_rerank, "JINA_API_URL", f"{base_url}/v1/rerank")
            jina_rerank.JinaRerank(jina_api_key=KEY, model=wrong).rerank(DOCS, QUERY)


# --- TEI (/rerank with texts) -------------------------------------------------------------------


def test_llama_index_tei(base_url, raw_ranking):
    from llama_index.postprocessor.tei_rerank import TextEmbeddingInference

    assert_same_ranking(llama_rerank(TextEmbeddingInference(base_url=base_url, top_n=4, model_name=MODEL)), raw_ranking)


def test_haystack_tei(base_url, raw_ranking):
    from haystack_integrations.components.rankers.huggingface_api import HuggingFaceTEIRanker

    out = HuggingFaceTEIRanker(url=base_url, top_k=4, token=None).run(query=QUERY, documents=haystack_documents())
    assert_same_ranking([d.meta["i"] for d in out["documents"]], raw_ranking)


# --- rerankers (Jina, Cohere and TEI modes) ----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "path"), [("jina", "/v1/rerank"), ("cohere", "/v1/rerank"), ("text-embeddings-inference", "/rerank")]
)
def test_rerankers(base_url, raw_ranking, mode, path):
    from rerankers import Reranker

    ranker = Reranker(MODEL, model_type=mode, api_key=KEY, url=f"{base_url}{path}", verbose=0)
    ranked = ranker.rank(query=QUERY, docs=DOCS)
    assert_same_ranking([r.doc_id for r in ranked.results], raw_ranking)


# --- Infinity (/rerank with documents) ---------------------------------------------------------


def test_infinity_client(base_url, raw_ranking):
    from infinity_client import Client
    from infinity_client.api.default import rerank
    from infinity_client.models import RerankInput

    client = Client(base_url=base_url, raise_on_unexpected_status=True)
    body = RerankInput(query=QUERY, documents=DOCS, model=MODEL, top_n=4, return_documents=True)
    response = rerank.sync(client=client, body=body)
    assert_same_ranking([r.index for r in response.results], raw_ranking)
    assert response.usage.prompt_tokens > 0


def test_langchain_infinity(base_url, raw_ranking):
    from infinity_client import Client
    from langchain_community.document_compressors.infinity_rerank import InfinityRerank

    ranked = InfinityRerank(client=Client(base_url=base_url), model=MODEL, top_n=4).rerank(DOCS, QUERY)
    assert_same_ranking([r["index"] for r in ranked], raw_ranking)


# --- NVIDIA NIM (/v1/ranking) -------------------------------------------------------------------


def test_langchain_nvidia(base_url, raw_ranking):
    from langchain_core.documents import Document
    from langchain_nvidia_ai_endpoints import NVIDIARerank

    documents = [Document(page_content=text, metadata={"i": i}) for i, text in enumerate(DOCS)]
    ranked = NVIDIARerank(base_url=f"{base_url}/v1", model=MODEL, top_n=4).compress_documents(documents, QUERY)
    assert_same_ranking([d.metadata["i"] for d in ranked], raw_ranking)


def test_llama_index_nvidia(base_url, raw_ranking):
    from llama_index.postprocessor.nvidia_rerank import NVIDIARerank

    assert_same_ranking(llama_rerank(NVIDIARerank(base_url=f"{base_url}/v1", model=MODEL, top_n=4)), raw_ranking)


def test_haystack_nvidia(base_url, raw_ranking):
    from haystack_integrations.components.rankers.nvidia import NvidiaRanker

    ranker = NvidiaRanker(model=MODEL, api_url=f"{base_url}/v1", api_key=None, top_k=4)
    ranker.warm_up()
    out = ranker.run(query=QUERY, documents=haystack_documents())
    assert_same_ranking([d.meta["i"] for d in out["documents"]], raw_ranking)
