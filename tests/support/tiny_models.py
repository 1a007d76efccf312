"""Small models built on the fly, so tests need no hub and no download.

Besides the BERT cross-encoder: a Qwen3-Reranker in its causal-LM form and its
sequence-classification conversion, a ModernBERT and an XLM-RoBERTa cross-encoder,
and the Qwen3-Reranker model card's scoring code as the LLM reranker's reference.

The tiny cross-encoder is a real BERT sequence classifier (one label) with a WordPiece
tokenizer trained here; its scores are meaningless but deterministic, which is what the tests
compare. Head size 32 (hidden 64, 2 heads): vLLM refuses smaller heads.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.request_bodies import SEED_REQUEST

CORPUS = [
    SEED_REQUEST["query"],
    *SEED_REQUEST["documents"],
    "Rerankers score a query against candidate documents with cross attention.",
    "Kubernetes schedules containers onto nodes; KServe serves models on it.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
]


def build_tiny_cross_encoder(path: Path, num_labels: int = 1, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(CORPUS * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece, model_max_length=128)
    tokenizer.save_pretrained(path)

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
        num_labels=num_labels,
        pad_token_id=wordpiece.token_to_id("[PAD]"),
    )
    model = BertForSequenceClassification(config).eval()
    # Spread the classifier so scores differ visibly between documents.
    with torch.no_grad():
        model.classifier.weight.mul_(20)
    model.save_pretrained(path)
    return path


def write_config_only(path: Path, config: dict) -> Path:
    """A model directory holding only config.json: enough for start-up kind detection."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    return path


# --- the model families ----------------------------------------------------------------------

# Qwen/Qwen3-Reranker-0.6B's model card, "Transformers Usage": tests build their references
# from this text, never from the server's template code.
CARD_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
CARD_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
CARD_TASK = "Given a web search query, retrieve relevant passages that answer the query"


def card_format_instruction(instruction, query, doc):
    if instruction is None:
        instruction = CARD_TASK
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}"


def card_scores(model_dir, pairs, instruction=None, max_length=512):
    """The model card's compute_logits: P(yes) = softmax over the [no, yes] logits at the last
    position, left padding, the body cut to what the prefix and suffix leave."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    prefix_tokens = tokenizer.encode(CARD_PREFIX, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(CARD_SUFFIX, add_special_tokens=False)
    token_false_id = tokenizer.convert_tokens_to_ids("no")
    token_true_id = tokenizer.convert_tokens_to_ids("yes")
    texts = [card_format_instruction(instruction, q, d) for q, d in pairs]
    inputs = tokenizer(
        texts,
        padding=False,
        truncation="longest_first",
        return_attention_mask=False,
        max_length=max_length - len(prefix_tokens) - len(suffix_tokens),
    )
    for i, ele in enumerate(inputs["input_ids"]):
        inputs["input_ids"][i] = prefix_tokens + ele + suffix_tokens
    lengths = [len(ids) for ids in inputs["input_ids"]]
    inputs = tokenizer.pad(inputs, padding=True, return_tensors="pt")  # (the card's max_length: unused here)
    with torch.inference_mode():
        batch_scores = model(**inputs).logits[:, -1, :]
    true_vector = batch_scores[:, token_true_id]
    false_vector = batch_scores[:, token_false_id]
    batch_scores = torch.stack([false_vector, true_vector], dim=1)
    batch_scores = torch.nn.functional.log_softmax(batch_scores, dim=1)
    return batch_scores[:, 1].exp().tolist(), lengths


# Texts the LLM reranker's tokenizer learns from: the corpus, the template's words, and the
# answers "yes" and "no" as words of their own (the model card reads their logits).
_PROMPT_CORPUS = (
    CORPUS
    + [
        "Judge whether the Document meets the requirements based on the Query and the Instruct provided.",
        'Note that the answer can only be "yes" or "no".',
        "<Instruct>: Given a web search query, retrieve relevant passages that answer the query",
        "<Query>: <Document>: system user assistant",
    ]
    + ["yes", "no", "yes no"] * 8
)
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_ADDED = ["<think>", "</think>"]


def _byte_level_tokenizer():
    """A byte-level BPE tokenizer as Qwen's: no special tokens added around texts, the chat
    tokens as added tokens, "yes" and "no" each one token."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=QWEN_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(_PROMPT_CORPUS * 4, trainer)
    bpe.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN_ADDED])
    for answer in ("yes", "no"):
        assert bpe.token_to_id(answer) is not None, f"the tiny vocabulary lacks {answer!r}"
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=512,
        model_input_names=["input_ids", "attention_mask"],
    )


def _tiny_qwen3_config(vocab_size: int, pad_token_id: int, **extra):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        **extra,
    )


def build_tiny_qwen3_reranker(path: Path, seed: int = 0) -> Path:
    """A Qwen3ForCausalLM with Qwen3-Reranker's tokenizer layout: its config says only "causal
    LM" (as the original Qwen3-Reranker's does); the answer rows are spread apart so that
    P(yes) differs visibly between pairs."""
    import torch
    from transformers import Qwen3ForCausalLM

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _byte_level_tokenizer()
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = _tiny_qwen3_config(len(tokenizer), tokenizer.pad_token_id)
    model = Qwen3ForCausalLM(config).eval()
    with torch.no_grad():
        embeddings = model.get_input_embeddings().weight
        for answer in ("yes", "no"):
            embeddings[tokenizer.convert_tokens_to_ids(answer)].mul_(30)
    model.save_pretrained(path)
    return path


def build_tiny_qwen3_seq_cls(path: Path, causal_dir: Path) -> Path:
    """The sequence-classification conversion of a tiny Qwen3 reranker, made as the published
    ones are (tomaarsen/Qwen3-Reranker-0.6B-seq-cls): one label whose weight is the LM head's
    "yes" row minus its "no" row."""
    import torch
    from transformers import AutoTokenizer, Qwen3ForCausalLM, Qwen3ForSequenceClassification

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(causal_dir)
    tokenizer.save_pretrained(path)
    causal = Qwen3ForCausalLM.from_pretrained(causal_dir).eval()
    config = _tiny_qwen3_config(len(tokenizer), tokenizer.pad_token_id, num_labels=1)
    model = Qwen3ForSequenceClassification(config).eval()
    with torch.no_grad():
        model.model.load_state_dict(causal.model.state_dict())
        head = causal.get_output_embeddings().weight
        yes, no = (tokenizer.convert_tokens_to_ids(t) for t in ("yes", "no"))
        model.score.weight.copy_((head[yes] - head[no]).unsqueeze(0))
    model.save_pretrained(path)
    return path


def _wordpiece(lowercase: bool = True):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(CORPUS * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return wordpiece


def build_tiny_modernbert_cross_encoder(path: Path, seed: int = 0) -> Path:
    """A ModernBertForSequenceClassification (one label) with an 8192-token limit, as
    gte-reranker-modernbert-base: no segment embeddings, a tokenizer that makes no
    token_type_ids."""
    import torch
    from transformers import ModernBertConfig, ModernBertForSequenceClassification, PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    wordpiece = _wordpiece()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=8192,
        model_input_names=["input_ids", "attention_mask"],
    )
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    token = wordpiece.token_to_id
    config = ModernBertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=8192,
        local_attention=64,
        num_labels=1,
        pad_token_id=token("[PAD]"),
        cls_token_id=token("[CLS]"),
        sep_token_id=token("[SEP]"),
        bos_token_id=token("[CLS]"),
        eos_token_id=token("[SEP]"),
        classifier_pooling="cls",
        initializer_range=0.2,  # wide weights: scores that differ visibly between documents
    )
    model = ModernBertForSequenceClassification(config).eval()
    model.save_pretrained(path)
    return path


def build_tiny_xlm_roberta_cross_encoder(
    path: Path, seed: int = 0, extra_corpus: tuple[str, ...] = (), vocab_size: int = 200
) -> Path:
    """An XLMRobertaForSequenceClassification (one label) with a Unigram tokenizer, as
    bge-reranker-v2-m3: ``<s> A </s></s> B </s>``, positions offset by the padding index.
    ``extra_corpus``: more texts for the tokenizer to learn (accents, CJK, emoji: pieces as
    XLM-R's sentencepiece makes them), with a ``vocab_size`` to hold them."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification, XLMRobertaTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.NFKC()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.decoder = decoders.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    unigram.train_from_iterator(
        [*CORPUS, *extra_corpus] * 4,
        trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>"),
    )
    bos, eos = unigram.token_to_id("<s>"), unigram.token_to_id("</s>")
    unigram.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tokenizer = XLMRobertaTokenizerFast(tokenizer_object=unigram, model_max_length=128)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=unigram.get_vocab_size(),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=130,
        type_vocab_size=1,
        num_labels=1,
        pad_token_id=unigram.token_to_id("<pad>"),
        bos_token_id=bos,
        eos_token_id=eos,
        initializer_range=0.2,  # wide weights: scores that differ visibly between documents
    )
    model = XLMRobertaForSequenceClassification(config).eval()
    model.save_pretrained(path)
    return path


def build_tiny_dynamic_rope_llama(path: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A Llama sequence classifier whose rotary embedding is of rope type "dynamic": its forward
    pass rewrites ``inv_freq`` for each batch longer than ``max_position_embeddings`` (16 here),
    so batches of different lengths change the state the other reads. The tokenizer is the tiny
    cross-encoder's (``tokenizer_dir``)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=16,
        rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0},
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForSequenceClassification(config).eval()
    with torch.no_grad():
        model.score.weight.mul_(20)
    model.save_pretrained(path)
    return path
