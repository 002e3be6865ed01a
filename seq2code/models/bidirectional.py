"""The attention LSTM with a bidirectional encoder (chapter 6).

A forward LSTM reads the English left to right, a backward LSTM right to left; position ``s``
has the states of both, ``h_fwd_s`` and ``h_bwd_s`` (``2H`` numbers together), so it knows the
words on both sides of ``x_s``. A linear map without bias projects each pair back to ``H``
numbers, the encoder state ``h_s = W_p [h_fwd_s; h_bwd_s]`` (``[B, S, 2H] -> [B, S, H]``,
still zero at padding), and chapter 4's decoder
(:class:`~seq2code.models.attention.AttentionLSTMDecoder`) attends over the ``h_s`` unchanged:
every model of the course hands its decoder ``[B, S, H]`` states. (Bahdanau et al. 2015 attend
over the concatenation itself, ``2H`` wide.)

The stumbling block is the decoder's initial state. ``nn.LSTM(bidirectional=True)`` returns
``h_n`` of shape ``[2, B, H]``: the forward direction's last state (after ``x_S``) and the
backward direction's last state (after ``x_1``). The decoder wants one ``[1, B, H]``. The
**bridge** concatenates the two and projects them with a tanh layer:

    s_0 = tanh(W_bs [h_fwd_S; h_bwd_1] + b_bs)      [B, 2H] -> [B, H]
    m_0 = tanh(W_bm [m_fwd_S; m_bwd_1] + b_bm)      the same for the LSTM's cell ``m``

The source is packed (``pack_padded_sequence``), so that the backward direction starts at each
row's last *real* token: padding never reaches either direction.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2code.models.attention import AttentionLSTMDecoder, attention_parameters
from seq2code.models.base import Encoder, EncoderOutput, Seq2Seq
from seq2code.models.registry import ModelKind
from seq2code.models.rnn import rnn_layer_parameters
from seq2code.vocab import PAD_ID


class Bridge(nn.Module):
    """``tanh(W [fwd; bwd] + b)``: the two directions' final states into one decoder state
    (``s_0``, with ``W_bs``, ``b_bs``) or their final cells into one cell (``m_0``, with
    ``W_bm``, ``b_bm``).

    Args:
        hidden_dim: ``H``, the size of one direction's state and of the decoder's state.
    """

    def __init__(self, hidden_dim: int):
        super().__init__()
        self.proj = nn.Linear(2 * hidden_dim, hidden_dim)  # W [H, 2H], b [H]

    def forward(self, final: torch.Tensor) -> torch.Tensor:
        """``final`` ``[2, B, H]`` (forward, backward) -> ``[1, B, H]``."""
        both = torch.cat([final[0], final[1]], dim=-1)  # [B, 2H]  [fwd; bwd]
        return torch.tanh(self.proj(both)).unsqueeze(0)  # [1, B, H]


class BidirectionalLSTMEncoder(Encoder):
    """Embedding, a one-layer bidirectional LSTM over the packed source, and the bridge.

    Returns ``outputs`` ``[B, S, H]`` (``h_s = W_p [h_fwd_s; h_bwd_s]``, zeros at padding) and
    the decoder's initial state ``(s_0, m_0)``, each ``[1, B, H]``.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.LSTM(emb_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.bridge_h = Bridge(hidden_dim)  # W_bs, b_bs: s_0 from the states
        self.bridge_c = Bridge(hidden_dim)  # W_bm, b_bm: m_0 from the cells
        self.project = nn.Linear(2 * hidden_dim, hidden_dim, bias=False)  # W_p

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor) -> EncoderOutput:
        """Encode ``src`` ``[B, S]`` (ids ``x``) with lengths ``src_lens`` ``[B]``."""
        embedded = self.dropout(self.embedding(src))  # [B, S, E]  e(x_s)
        packed = pack_padded_sequence(embedded, src_lens.cpu(), batch_first=True,
                                      enforce_sorted=False)
        packed_outputs, (h_n, c_n) = self.rnn(packed)  # [2, B, H] each: last states, cells
        both, _ = pad_packed_sequence(packed_outputs, batch_first=True,
                                      total_length=src.size(1))  # [B, S, 2H] [h_fwd; h_bwd]
        outputs = self.project(both)  # [B, S, H]  h_s = W_p [h_fwd_s; h_bwd_s]
        state = (self.bridge_h(h_n), self.bridge_c(c_n))  # [1, B, H] each: s_0, m_0
        return EncoderOutput(outputs, state, src != PAD_ID)

    def _direction(self, embedded: torch.Tensor, mask: torch.Tensor, reverse: bool
                   ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """One direction of the LSTM, one step at a time, with its explicit gates.

        ``embedded`` ``[B, S, E]``, ``mask`` ``[B, S]``. Returns the ``S`` states ``[B, H]``
        (zeros at padding) and the last state and cell ``[B, H]`` each: a row keeps its state
        over padding, so the forward direction ends at its last real token and the backward
        one starts there.
        """
        suffix = "_reverse" if reverse else ""
        w_ih, w_hh = (getattr(self.rnn, f"weight_{n}_l0{suffix}") for n in ("ih", "hh"))
        bias = getattr(self.rnn, f"bias_ih_l0{suffix}") + getattr(self.rnn, f"bias_hh_l0{suffix}")
        batch, steps = mask.shape
        h = c = embedded.new_zeros(batch, self.rnn.hidden_size)  # [B, H] h_0 = m_0 = 0
        states: list[torch.Tensor] = [h] * steps
        for s in (reversed(range(steps)) if reverse else range(steps)):
            gates = embedded[:, s] @ w_ih.T + h @ w_hh.T + bias  # [B, 4H]
            i, f, g, o = gates.chunk(4, dim=-1)  # input, forget, candidate, output
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # [B, H]
            h_new = torch.sigmoid(o) * torch.tanh(c_new)  # [B, H]
            real = mask[:, s].unsqueeze(1)  # [B, 1]: padding keeps the state
            h, c = torch.where(real, h_new, h), torch.where(real, c_new, c)
            states[s] = h * real  # [B, H]
        return states, h, c

    def forward_unrolled(self, src: torch.Tensor,
                         src_lens: torch.Tensor) -> tuple[EncoderOutput, list[torch.Tensor]]:
        """The same function as :meth:`forward`, one time step at a time (for
        :func:`seq2code.analysis.encoder_state_gradients`).

        Returns the :class:`EncoderOutput` and the ``S`` projected states ``h_s`` ``[B, H]``
        that the decoder attends to (the gradient measured at them is the one that flows
        through the attention).
        """
        embedded = self.dropout(self.embedding(src))  # [B, S, E]
        mask = src != PAD_ID  # [B, S]
        fwd, h_fwd, c_fwd = self._direction(embedded, mask, reverse=False)
        bwd, h_bwd, c_bwd = self._direction(embedded, mask, reverse=True)
        states = [self.project(torch.cat([f, b], dim=-1)) for f, b in zip(fwd, bwd, strict=True)]
        state = (self.bridge_h(torch.stack([h_fwd, h_bwd])),  # [1, B, H] s_0
                 self.bridge_c(torch.stack([c_fwd, c_bwd])))  # [1, B, H] m_0
        return EncoderOutput(torch.stack(states, dim=1), state, mask), states


def build_bidirectional(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int,
                        hidden_dim: int, dropout: float) -> Seq2Seq:
    """The bidirectional encoder with chapter 4's attention decoder (``dropout`` on the
    embeddings)."""
    return Seq2Seq(BidirectionalLSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                   AttentionLSTMDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout=dropout))


def bidirectional_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int) -> int:
    """The parameter count of the ``"bidirectional"`` kind from the formula.

    Chapter 4's attention model (:func:`~seq2code.models.attention.attention_parameters`)
    plus a second encoder direction (one more LSTM layer from ``E``), the two bridges
    ``tanh(W [fwd; bwd] + b)`` (``2H x H + H`` each) and the projection ``W_p`` (``2H x H``).
    """
    backward = 4 * rnn_layer_parameters(emb, hidden)
    bridges = 2 * (2 * hidden * hidden + hidden)
    projection = 2 * hidden * hidden
    return (attention_parameters(src_vocab, tgt_vocab, emb, hidden) + backward + bridges
            + projection)


MODEL_KINDS = (ModelKind("bidirectional", 6, "bidirectional LSTM encoder, attention decoder",
                         build_bidirectional, bidirectional_parameters),)
