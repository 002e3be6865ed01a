"""The course's models, built by name.

``build_model(kind, src_vocab_size, tgt_vocab_size)`` returns a
:class:`~seq2code.models.base.Seq2Seq` whose ``.config`` rebuilds it
(``build_model(**model.config)``). :func:`expected_parameters` gives each model's parameter
count from the formula, to set beside :func:`count_parameters` of a built model. Both read the
kinds' declarations in :mod:`seq2code.models.registry`.
"""

from __future__ import annotations

from seq2code.models.attention import (
    AdditiveAttention,
    AttentionLSTMDecoder,
    AttentionLSTMEncoder,
    masked_softmax,
)
from seq2code.models.base import (
    Decoder,
    DecoderStep,
    Encoder,
    EncoderOutput,
    Seq2Seq,
    Seq2SeqOutput,
    count_parameters,
    evaluating,
)
from seq2code.models.lstm import LSTMDecoder, LSTMEncoder
from seq2code.models.registry import get_kind, kind_names
from seq2code.models.rnn import RNNDecoder, RNNEncoder

__all__ = [
    "KINDS", "AdditiveAttention", "AttentionLSTMDecoder", "AttentionLSTMEncoder", "Decoder",
    "DecoderStep", "Encoder", "EncoderOutput", "LSTMDecoder", "LSTMEncoder", "RNNDecoder",
    "RNNEncoder", "Seq2Seq", "Seq2SeqOutput", "build_model", "count_parameters", "evaluating",
    "expected_parameters", "masked_softmax",
]


def __getattr__(name: str):
    if name == "KINDS":  # the registry imports every model module: only when asked
        return kind_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(kind: str, src_vocab_size: int, tgt_vocab_size: int, emb_dim: int = 128,
                hidden_dim: int = 256, **options) -> Seq2Seq:
    """Build a model of ``kind`` with fresh (PyTorch-default) weights.

    Args:
        kind: ``"rnn"`` (chapter 2), ``"lstm"`` (chapter 3), ``"attention"`` (chapter 4), and
            the kinds of the later chapters (:data:`KINDS`).
        src_vocab_size: English vocabulary size.
        tgt_vocab_size: code vocabulary size ``V``.
        emb_dim: embedding size ``E`` on both sides.
        hidden_dim: recurrent state size ``H`` on both sides.
        **options: the kind's options (``ModelKind.options``): ``dropout`` (default 0.0; on
            the embeddings for every kind, and for the attention kinds also on the encoder's
            states ``h_s`` and the decoder's features ``[s_t; c_t]``); ``precompute_keys``
            for ``"attention"`` (default True: the keys ``W_k h_s`` once per sequence); see
            each kind's module for the others.

    Raises:
        ValueError: for an unknown kind, naming the known ones.
        TypeError: for an option the kind does not take.
    """
    spec = get_kind(kind)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise TypeError(f"model kind {kind!r} takes no option {', '.join(unknown)} "
                        f"(its options: {', '.join(spec.options)})")
    model = spec.build(src_vocab_size, tgt_vocab_size, emb_dim, hidden_dim,
                       **{**spec.options, **options})
    model.kind = kind
    model.config = {"kind": kind, "src_vocab_size": src_vocab_size,
                    "tgt_vocab_size": tgt_vocab_size, "emb_dim": emb_dim,
                    "hidden_dim": hidden_dim, **options}
    return model


def expected_parameters(kind: str, src_vocab: int, tgt_vocab: int, emb: int = 128,
                        hidden: int = 256) -> int:
    """The parameter count of ``build_model(kind, src_vocab, tgt_vocab, emb, hidden)`` from
    the formula that the kind's module declares (chapter 5 sets it beside
    :func:`count_parameters`).

    A tanh RNN layer from ``n`` inputs to ``H`` states has ``H n + H H + 2H`` parameters
    (``W_xh``, ``W_hh``, two biases, as PyTorch counts them); an LSTM layer four times that
    (four gates). Embeddings have ``vocab * E``; the output layer ``F V + V`` for an input of
    ``F`` numbers. Additive attention has ``W_q`` and ``W_k`` (the parameters ``W_t`` and
    ``W_s``, ``H x H`` each) and ``v`` (``H``).
    """
    return get_kind(kind).parameters(src_vocab, tgt_vocab, emb, hidden)
