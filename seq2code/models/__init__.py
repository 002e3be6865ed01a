"""The course's models, built by name.

``build_model("rnn" | "lstm" | "attention", src_vocab_size, tgt_vocab_size)`` returns a
:class:`~seq2code.models.base.Seq2Seq` whose ``.config`` rebuilds it
(``build_model(**model.config)``). :func:`expected_parameters` gives each model's parameter
count from the formula, to set beside :func:`count_parameters` of a built model.
"""

from __future__ import annotations

from seq2code.kinds import KINDS
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
)
from seq2code.models.bidirectional import bidirectional_parameters, build_bidirectional_model
from seq2code.models.copy import build_copy_model
from seq2code.models.coverage import build_coverage_model
from seq2code.models.lstm import LSTMDecoder, LSTMEncoder
from seq2code.models.multihead import build_multihead_model, multihead_parameters
from seq2code.models.rnn import RNNDecoder, RNNEncoder
from seq2code.models.transformer import build_transformer_model, transformer_parameters

__all__ = [
    "KINDS", "AdditiveAttention", "AttentionLSTMDecoder", "AttentionLSTMEncoder", "Decoder",
    "DecoderStep", "Encoder", "EncoderOutput", "LSTMDecoder", "LSTMEncoder", "RNNDecoder",
    "RNNEncoder", "Seq2Seq", "Seq2SeqOutput", "build_model", "count_parameters",
    "expected_parameters", "masked_softmax",
]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}: choose one of {', '.join(KINDS)}")


def build_model(kind: str, src_vocab_size: int, tgt_vocab_size: int, emb_dim: int = 128,
                hidden_dim: int = 256, **options) -> Seq2Seq:
    """Build a model of ``kind`` with fresh (PyTorch-default) weights.

    Args:
        kind: ``"rnn"`` (chapter 2), ``"lstm"`` (chapter 3), ``"attention"`` (chapter 4).
        src_vocab_size: English vocabulary size.
        tgt_vocab_size: code vocabulary size ``V``.
        emb_dim: embedding size ``E`` on both sides.
        hidden_dim: recurrent state size ``H`` on both sides.
        **options: ``dropout`` (on the embeddings, default 0.0); for ``"attention"`` also
            ``precompute_keys`` (default True: ``W_s h_s`` once per sequence).

    Raises:
        ValueError: for an unknown kind, naming the known ones.
        TypeError: for an option the kind does not take.
    """
    _check_kind(kind)
    config = {"kind": kind, "src_vocab_size": src_vocab_size, "tgt_vocab_size": tgt_vocab_size,
              "emb_dim": emb_dim, "hidden_dim": hidden_dim, **options}
    if kind == "bidirectional":  # chapter 6: seq2code.models.bidirectional
        return build_bidirectional_model(kind, src_vocab_size, tgt_vocab_size, emb_dim,
                                         hidden_dim, config, options)
    if kind in ("copy", "coverage"):  # chapter 7: seq2code.models.copy, .coverage
        build = build_copy_model if kind == "copy" else build_coverage_model
        return build(kind, src_vocab_size, tgt_vocab_size, emb_dim, hidden_dim, config, options)
    if kind in ("multihead", "transformer"):  # chapter 8: seq2code.models.multihead, .transformer
        build = build_multihead_model if kind == "multihead" else build_transformer_model
        return build(kind, src_vocab_size, tgt_vocab_size, emb_dim, hidden_dim, config, options)
    dropout = options.pop("dropout", 0.0)
    precompute_keys = options.pop("precompute_keys", True) if kind == "attention" else True
    if options:
        raise TypeError(f"model kind {kind!r} takes no option {', '.join(sorted(options))}")
    if kind == "rnn":
        encoder, decoder = (RNNEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                            RNNDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout))
    elif kind == "lstm":
        encoder, decoder = (LSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                            LSTMDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout))
    else:
        encoder = AttentionLSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout)
        decoder = AttentionLSTMDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout=dropout,
                                       precompute_keys=precompute_keys)
    return Seq2Seq(encoder, decoder, kind=kind, config=config)


def expected_parameters(kind: str, src_vocab: int, tgt_vocab: int, emb: int = 128,
                        hidden: int = 256) -> int:
    """The parameter count of ``build_model(kind, src_vocab, tgt_vocab, emb, hidden)`` from
    the formula (chapter 5 sets it beside :func:`count_parameters`).

    A tanh RNN layer from ``n`` inputs to ``H`` states has ``H n + H H + 2H`` parameters
    (``W_x``, ``W_h``, two biases, as PyTorch counts them); an LSTM layer four times that
    (four gates). Embeddings have ``vocab * E``; the output layer ``H_in V + V``. Additive
    attention has ``W_t`` and ``W_s`` (``H x H`` each) and ``v`` (``H``).
    """
    _check_kind(kind)
    if kind == "bidirectional":  # chapter 6
        return bidirectional_parameters(src_vocab, tgt_vocab, emb, hidden)
    if kind == "multihead":  # chapter 8: the formulas live beside the models
        return multihead_parameters(src_vocab, tgt_vocab, emb, hidden)
    if kind == "transformer":
        return transformer_parameters(src_vocab, tgt_vocab, emb, hidden)

    def rnn_layer(n_in: int) -> int:
        return hidden * n_in + hidden * hidden + 2 * hidden

    embeddings = src_vocab * emb + tgt_vocab * emb
    if kind == "rnn":
        return embeddings + 2 * rnn_layer(emb) + hidden * tgt_vocab + tgt_vocab
    if kind == "lstm":
        return embeddings + 2 * 4 * rnn_layer(emb) + hidden * tgt_vocab + tgt_vocab
    attention = 2 * hidden * hidden + hidden  # W_t, W_s, v
    decoder_lstm = 4 * rnn_layer(emb + hidden)  # reads [e(y); c]
    output = 2 * hidden * tgt_vocab + tgt_vocab  # reads [h; c]
    copy = (2 * hidden + emb + 1) * (kind in ("copy", "coverage"))  # p_gen: w_c, w_s, w_x, b
    coverage = 2 * hidden * (kind == "coverage")  # w_c and b inside the attention score
    return embeddings + 4 * rnn_layer(emb) + decoder_lstm + attention + output + copy + coverage
