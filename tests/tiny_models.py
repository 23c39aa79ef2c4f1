"""Every tiny model the tests use, built one way: BERT on the shared MiniLM tokenizer
(:func:`tiny_bert`, the ``tiny_model`` fixture), DistilBERT (:func:`tiny_distilbert`), and every
common encoder family with the kind of tokenizer it ships (:data:`FAMILIES`).

The hub is unreachable, so each tokenizer is trained here with the ``tokenizers`` library on a few
hundred generated sentences (accents, CJK, emoji, punctuation), given the special tokens and
post-processor of the real one, and wrapped in ``PreTrainedTokenizerFast``:

- WordPiece for BERT (cased), DistilBERT and ELECTRA (uncased: lowercased, accents stripped);
- byte-level BPE for RoBERTa (<s> … </s>, RobertaProcessing) and ModernBERT ([CLS] … [SEP]);
- Unigram with Metaspace, SentencePiece style, for XLM-R (<s> … </s>), ALBERT and DeBERTa-v3
  ([CLS] … [SEP], ALBERT lowercased without accents).

Models are randomly initialised with ``MAX_TOKENS`` usable positions (RoBERTa-family configs
therefore have ``MAX_TOKENS + 2`` position embeddings, as roberta-base has 514 for 512 tokens).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer, UnigramTrainer, WordPieceTrainer
from transformers import (
    AlbertConfig,
    AlbertForTokenClassification,
    BertConfig,
    BertForTokenClassification,
    DebertaV2Config,
    DebertaV2ForTokenClassification,
    DistilBertConfig,
    DistilBertForTokenClassification,
    ElectraConfig,
    ElectraForTokenClassification,
    ModernBertConfig,
    ModernBertForTokenClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForTokenClassification,
    XLMRobertaConfig,
    XLMRobertaForTokenClassification,
)

CONLL_LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
MAX_TOKENS = 64
VOCAB_SIZE = 600
TEXT = "José Müller flew to 東京 with Zoë 😀🎉 — «great», she said… (Paris!) 👍🏽"

_FIRST = ["José", "Zoë", "François", "Łukasz", "Ångström", "Dvořák", "山田", "김민준", "Amélie"]
_LAST = ["Müller", "Nuñez", "Søren", "García", "太郎", "O'Brien", "Smith", "Kowalski"]
_PLACES = ["東京", "北京", "Paris", "São Paulo", "Zürich", "Kraków", "서울", "New York", "Besançon"]
_ORGS = ["Siemens AG", "Société Générale", "トヨタ", "Acme Inc.", "Nestlé", "UNESCO"]
_VERBS = ["visited", "left", "praised", "met", "called", "flew to", "wrote about"]
_EXTRAS = ["😀", "🎉", "👍🏽", "🇫🇷", "❤️", "—", "…", "«ok»", "“yes”", "!!", "?", ";", "(sic)", "—"]


def sentences(count: int = 300, seed: int = 0) -> list[str]:
    """Generated sentences mixing accents, CJK, emoji and punctuation."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        who = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        what = rng.choice(_PLACES + _ORGS)
        extra = " ".join(rng.choices(_EXTRAS, k=rng.randint(0, 3)))
        out.append(f"{who} {rng.choice(_VERBS)} {what} {extra}, said {rng.choice(_ORGS)}.")
    return out


def long_text(sentence_count: int = 14, seed: int = 1) -> str:
    """A text several model windows long, with the same mix of characters."""
    return " ".join(sentences(sentence_count, seed))


def _wrap(tokenizer: Tokenizer, specials: dict[str, str], input_names: list[str]):
    """``specials`` maps roles (cls, sep, pad, unk, mask) to tokens, in id order."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=512,
        model_input_names=input_names,
        **{f"{role}_token": token for role, token in specials.items()},
    )


def _template(tokenizer: Tokenizer, start: str, end: str) -> processors.TemplateProcessing:
    return processors.TemplateProcessing(
        single=f"{start} $A {end}",
        pair=f"{start} $A {end} $B:1 {end}:1",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in (start, end)],
    )


def wordpiece(lowercase: bool, input_names: list[str]) -> PreTrainedTokenizerFast:
    specials = dict(pad="[PAD]", unk="[UNK]", cls="[CLS]", sep="[SEP]", mask="[MASK]")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=list(specials.values()), show_progress=False
    )
    tokenizer.train_from_iterator(sentences(), trainer)
    tokenizer.post_processor = _template(tokenizer, "[CLS]", "[SEP]")
    return _wrap(tokenizer, specials, input_names)


def byte_level_bpe(roberta: bool) -> PreTrainedTokenizerFast:
    if roberta:  # <s>=0 <pad>=1 </s>=2 <unk>=3, as roberta-base
        specials = dict(cls="<s>", pad="<pad>", sep="</s>", unk="<unk>", mask="<mask>")
    else:  # ModernBERT's own tokenizer: byte-level BPE with BERT-style special tokens
        specials = dict(unk="[UNK]", cls="[CLS]", sep="[SEP]", pad="[PAD]", mask="[MASK]")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(specials.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(sentences(), trainer)
    if roberta:
        tokenizer.post_processor = processors.RobertaProcessing(
            ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
        )
    else:
        tokenizer.post_processor = _template(tokenizer, "[CLS]", "[SEP]")
    return _wrap(tokenizer, specials, ["input_ids", "attention_mask"])


def unigram(specials: dict[str, str], lowercase: bool, input_names: list[str]):
    tokenizer = Tokenizer(models.Unigram())
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    if lowercase:  # ALBERT: lowercased, accents stripped
        steps = [normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase(), *steps]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = UnigramTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(specials.values()),
        unk_token=specials["unk"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(sentences(), trainer)
    tokenizer.post_processor = _template(tokenizer, specials["cls"], specials["sep"])
    return _wrap(tokenizer, specials, input_names)


@dataclass(frozen=True)
class Family:
    name: str
    tokenizer: Callable[[], PreTrainedTokenizerFast]
    config: Callable[[PreTrainedTokenizerFast], PretrainedConfig]
    model_class: type[PreTrainedModel]
    absolute_positions: bool  # has a position-embedding table that embedding="position" uses


_SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
_ALL_INPUTS = ["input_ids", "token_type_ids", "attention_mask"]
_NO_TYPES = ["input_ids", "attention_mask"]


def _common(tokenizer: PreTrainedTokenizerBase) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(CONLL_LABELS)),
        label2id={label: i for i, label in enumerate(CONLL_LABELS)},
    )


def _distilbert_config(tokenizer: PreTrainedTokenizerBase, **overrides) -> DistilBertConfig:
    settings = dict(**_common(tokenizer), dim=32, n_layers=2, n_heads=4, hidden_dim=64)
    return DistilBertConfig(**{**settings, **overrides})


def _built(model_class: type[PreTrainedModel], config: PretrainedConfig, seed: int):
    """``model_class(config)`` in eval mode, its random weights fixed by ``seed``."""
    torch.manual_seed(seed)
    return model_class(config).eval()


def tiny_bert(tokenizer, seed: int = 0, **overrides) -> BertForTokenClassification:
    """A small randomly initialised BERT token classifier with the CoNLL label set."""
    config = BertConfig(**{**_common(tokenizer), **_SMALL, **overrides})
    return _built(BertForTokenClassification, config, seed)


def tiny_distilbert(tokenizer, seed: int = 0, **overrides) -> DistilBertForTokenClassification:
    """A small randomly initialised DistilBERT token classifier with the CoNLL label set."""
    return _built(
        DistilBertForTokenClassification, _distilbert_config(tokenizer, **overrides), seed
    )


def saved(model: PreTrainedModel, tokenizer, path: Path) -> str:
    """``path`` as a model directory (``save_pretrained`` of both), for ``--model`` and jobs."""
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def _roberta_like(tokenizer):
    return dict(
        **_common(tokenizer),
        **_SMALL,
        max_position_embeddings=MAX_TOKENS + 2,
        type_vocab_size=1,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )


FAMILIES: dict[str, Family] = {
    "bert": Family(
        "bert",
        lambda: wordpiece(lowercase=False, input_names=_ALL_INPUTS),
        lambda t: BertConfig(**_common(t), **_SMALL, max_position_embeddings=MAX_TOKENS),
        BertForTokenClassification,
        True,
    ),
    "distilbert": Family(
        "distilbert",
        lambda: wordpiece(lowercase=True, input_names=_NO_TYPES),
        lambda t: _distilbert_config(t, max_position_embeddings=MAX_TOKENS),
        DistilBertForTokenClassification,
        True,
    ),
    "electra": Family(
        "electra",
        lambda: wordpiece(lowercase=True, input_names=_ALL_INPUTS),
        lambda t: ElectraConfig(
            **_common(t), **_SMALL, embedding_size=16, max_position_embeddings=MAX_TOKENS
        ),
        ElectraForTokenClassification,
        True,
    ),
    "roberta": Family(
        "roberta",
        lambda: byte_level_bpe(roberta=True),
        lambda t: RobertaConfig(**_roberta_like(t)),
        RobertaForTokenClassification,
        True,
    ),
    "xlm-roberta": Family(
        "xlm-roberta",
        lambda: unigram(
            dict(cls="<s>", pad="<pad>", sep="</s>", unk="<unk>", mask="<mask>"), False, _NO_TYPES
        ),
        lambda t: XLMRobertaConfig(**_roberta_like(t)),
        XLMRobertaForTokenClassification,
        True,
    ),
    "albert": Family(
        "albert",
        lambda: unigram(
            dict(pad="<pad>", unk="<unk>", cls="[CLS]", sep="[SEP]", mask="[MASK]"),
            True,
            _ALL_INPUTS,
        ),
        lambda t: AlbertConfig(
            **_common(t), **_SMALL, embedding_size=16, max_position_embeddings=MAX_TOKENS
        ),
        AlbertForTokenClassification,
        True,
    ),
    "deberta-v3": Family(
        "deberta-v3",
        lambda: unigram(
            dict(pad="[PAD]", cls="[CLS]", sep="[SEP]", unk="[UNK]", mask="[MASK]"),
            False,
            _ALL_INPUTS,
        ),
        lambda t: DebertaV2Config(
            **_common(t),
            **_SMALL,
            max_position_embeddings=MAX_TOKENS,
            relative_attention=True,
            position_biased_input=False,
            pos_att_type=["p2c", "c2p"],
            max_relative_positions=-1,
            position_buckets=32,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            type_vocab_size=0,
        ),
        DebertaV2ForTokenClassification,
        False,
    ),
    "modernbert": Family(
        "modernbert",
        lambda: byte_level_bpe(roberta=False),
        lambda t: ModernBertConfig(
            **_common(t),
            **_SMALL,
            max_position_embeddings=MAX_TOKENS,
            local_attention=16,
            cls_token_id=t.cls_token_id,
            sep_token_id=t.sep_token_id,
            bos_token_id=t.cls_token_id,
            eos_token_id=t.sep_token_id,
        ),
        ModernBertForTokenClassification,
        False,
    ),
}


@cache
def tokenizer_of(name: str) -> PreTrainedTokenizerFast:
    """The family's tokenizer, trained once per session."""
    return FAMILIES[name].tokenizer()


@cache
def model_of(name: str) -> PreTrainedModel:
    """The family's tiny random token classifier, built once per session."""
    family = FAMILIES[name]
    return _built(family.model_class, family.config(tokenizer_of(name)), seed=0)
