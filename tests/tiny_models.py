"""Small models built on the fly, so tests need no hub and no download.

The tiny cross-encoder is a real BERT sequence classifier (one label) with a WordPiece
tokenizer trained here; its scores are meaningless but deterministic, which is what the tests
compare. Head size 32 (hidden 64, 2 heads): vLLM refuses smaller heads.
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "Berlin is the capital and largest city of Germany.",
    "The Eiffel Tower is located in Paris, France.",
    "France is a country in Western Europe.",
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
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece, model_max_length=128)
    tokenizer.save_pretrained(path)

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=wordpiece.get_vocab_size(), hidden_size=64, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=128, max_position_embeddings=128,
        num_labels=num_labels, pad_token_id=wordpiece.token_to_id("[PAD]"),
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
