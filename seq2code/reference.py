"""The attention model written the way the common tutorials write it: the yardstick of the
speed benchmark (:mod:`seq2code.bench`, chapter 5).

bentrevett's *pytorch-seq2seq* and the PyTorch seq2seq tutorial write an attention
encoder-decoder like this: tensors time-major (``[S, B]``), an encoder that runs over the
padding (no packing), and a decoder called once per target step from a Python loop, whose
attention scores the literal concatenation ``v^T tanh(W [s_{t-1}; h_s])``: the pair
``[s_{t-1}; h_s]`` is built and multiplied by ``W`` for every source position at every step.
Batches are drawn at random, so a batch is as long as its longest sentence.

The model is the same one as the library's ``"attention"`` kind (an LSTM encoder; a decoder
LSTM that reads ``[e(y_{t-1}); c_t]``; an output layer that reads ``[s_t; c_t]``; the previous
state ``s_{t-1}`` as the query), with the same parameters:
:func:`copy_library_weights` loads a library model's weights into it, and on a batch without
padding the two compute the same scores.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID


class TutorialEncoder(nn.Module):
    """Embedding and a one-layer LSTM over the whole padded batch (padding included)."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.rnn = nn.LSTM(emb_dim, hidden_dim)

    def forward(self, src: torch.Tensor):
        """``src`` ``[S, B]`` -> outputs ``[S, B, H]`` (every ``h_s``), hidden and cell
        ``[1, B, H]`` each (after the last position, padding included)."""
        embedded = self.embedding(src)  # [S, B, E]
        outputs, (hidden, cell) = self.rnn(embedded)  # [S, B, H], [1, B, H], [1, B, H]
        return outputs, hidden, cell


class TutorialAttention(nn.Module):
    """``alpha_t = softmax_s(v^T tanh(W [s_{t-1}; h_s]))``, the pair rebuilt at every call."""

    def __init__(self, hidden_dim: int):
        super().__init__()
        self.attn = nn.Linear(2 * hidden_dim, hidden_dim, bias=False)  # W
        self.v = nn.Linear(hidden_dim, 1, bias=False)  # v

    def forward(self, hidden: torch.Tensor, encoder_outputs: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """``hidden`` ``[B, H]`` the query ``s_{t-1}``; ``encoder_outputs`` ``[S, B, H]`` ``h_s``;
        ``mask`` ``[B, S]`` -> weights ``[B, S]`` ``alpha_t``."""
        src_len = encoder_outputs.shape[0]
        hidden = hidden.unsqueeze(1).repeat(1, src_len, 1)  # [B, S, H]
        encoder_outputs = encoder_outputs.permute(1, 0, 2)  # [B, S, H]
        energy = torch.tanh(self.attn(torch.cat((hidden, encoder_outputs), dim=2)))  # [B, S, H]
        attention = self.v(energy).squeeze(2)  # [B, S]
        attention = attention.masked_fill(mask == 0, -1e10)
        return F.softmax(attention, dim=1)  # [B, S]


class TutorialDecoder(nn.Module):
    """One step: attention from ``s_{t-1}``, an LSTM on ``[e(y_{t-1}); c_t]``, the output
    layer on ``[s_t; c_t]``."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int):
        super().__init__()
        self.output_dim = vocab_size
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.attention = TutorialAttention(hidden_dim)
        self.rnn = nn.LSTM(emb_dim + hidden_dim, hidden_dim)
        self.fc_out = nn.Linear(2 * hidden_dim, vocab_size)

    def forward(self, input: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor,
                encoder_outputs: torch.Tensor, mask: torch.Tensor):
        """``input`` ``[B]``; ``hidden``, ``cell`` ``[1, B, H]``; ``encoder_outputs``
        ``[S, B, H]``; ``mask`` ``[B, S]`` -> prediction ``[B, V]``, hidden, cell, weights
        ``[B, S]``."""
        input = input.unsqueeze(0)  # [1, B]
        embedded = self.embedding(input)  # [1, B, E]
        a = self.attention(hidden[-1], encoder_outputs, mask)  # [B, S]  alpha_t
        a = a.unsqueeze(1)  # [B, 1, S]
        encoder_outputs = encoder_outputs.permute(1, 0, 2)  # [B, S, H]
        weighted = torch.bmm(a, encoder_outputs)  # [B, 1, H]
        weighted = weighted.permute(1, 0, 2)  # [1, B, H]
        rnn_input = torch.cat((embedded, weighted), dim=2)  # [1, B, E + H]
        output, (hidden, cell) = self.rnn(rnn_input, (hidden, cell))  # output [1, B, H]
        output = output.squeeze(0)  # [B, H]
        weighted = weighted.squeeze(0)  # [B, H]
        prediction = self.fc_out(torch.cat((output, weighted), dim=1))  # [B, V]
        return prediction, hidden, cell, a.squeeze(1)


class TutorialSeq2Seq(nn.Module):
    """The tutorials' ``Seq2Seq``: encode, then decode step by step, tossing a coin at each
    step for teacher forcing. ``outputs[0]`` stays zero (the ``<sos>`` position)."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, emb_dim: int = 128,
                 hidden_dim: int = 256):
        super().__init__()
        self.encoder = TutorialEncoder(src_vocab_size, emb_dim, hidden_dim)
        self.decoder = TutorialDecoder(tgt_vocab_size, emb_dim, hidden_dim)

    def forward(self, src: torch.Tensor, trg: torch.Tensor, teacher_forcing_ratio: float = 0.5,
                rng: random.Random | None = None) -> torch.Tensor:
        """``src`` ``[S, B]``, ``trg`` ``[T, B]`` (``<sos> y_1 .. <eos>``, padded) -> outputs
        ``[T, B, V]``; score ``outputs[1:]`` against ``trg[1:]``."""
        coin = (rng or random).random
        trg_len, batch_size = trg.shape
        outputs = torch.zeros(trg_len, batch_size, self.decoder.output_dim, device=src.device)
        encoder_outputs, hidden, cell = self.encoder(src)
        mask = (src != PAD_ID).permute(1, 0)  # [B, S]
        input = trg[0, :]  # [B] <sos>
        for t in range(1, trg_len):
            output, hidden, cell, _ = self.decoder(input, hidden, cell, encoder_outputs, mask)
            outputs[t] = output
            teacher_force = coin() < teacher_forcing_ratio
            top1 = output.argmax(1)
            input = trg[t] if teacher_force else top1
        return outputs


def train_step(model: TutorialSeq2Seq, optimizer: torch.optim.Optimizer, src: torch.Tensor,
               trg: torch.Tensor, teacher_forcing_ratio: float = 0.5, clip: float = 1.0,
               rng: random.Random | None = None) -> torch.Tensor:
    """One batch of the tutorials' ``train`` loop (cross-entropy ignoring ``<pad>``, clipping,
    an optimizer step); returns the loss. ``src`` ``[S, B]``, ``trg`` ``[T, B]``."""
    model.train()
    optimizer.zero_grad()
    output = model(src, trg, teacher_forcing_ratio, rng)  # [T, B, V]
    output_dim = output.shape[-1]
    output = output[1:].view(-1, output_dim)  # [(T-1) * B, V]
    loss = F.cross_entropy(output, trg[1:].reshape(-1), ignore_index=PAD_ID)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def greedy_decode(model: TutorialSeq2Seq, src: torch.Tensor, max_len: int) -> list[list[int]]:
    """Greedy decoding of a batch ``src`` ``[S, B]`` with the per-step loop, until every row
    has written ``<eos>`` or ``max_len`` tokens; the ids of each row without ``<eos>``."""
    model.eval()
    encoder_outputs, hidden, cell = model.encoder(src)
    mask = (src != PAD_ID).permute(1, 0)  # [B, S]
    input = torch.full((src.shape[1],), SOS_ID, dtype=torch.long, device=src.device)  # [B]
    finished = torch.zeros_like(input, dtype=torch.bool)
    tokens = []
    for _ in range(max_len):
        output, hidden, cell, _ = model.decoder(input, hidden, cell, encoder_outputs, mask)
        input = output.argmax(1)  # [B]
        tokens.append(input)
        finished |= input == EOS_ID
        if bool(finished.all()):
            break
    rows = torch.stack(tokens, dim=1).tolist() if tokens else [[] for _ in range(src.shape[1])]
    return [row[: row.index(EOS_ID)] if EOS_ID in row else row for row in rows]


def copy_library_weights(reference: TutorialSeq2Seq, model: nn.Module) -> TutorialSeq2Seq:
    """Load the weights of a library ``"attention"`` model (:func:`seq2code.models.build_model`)
    into ``reference``: ``W = [W_q  W_k]`` (the library's ``W_t``, ``W_s``), the LSTM cell's
    weights into the one-step LSTM. Returns ``reference``."""
    enc, dec = model.encoder, model.decoder
    ref_enc, ref_dec = reference.encoder, reference.decoder
    with torch.no_grad():
        ref_enc.embedding.weight.copy_(enc.embedding.weight)
        ref_enc.rnn.load_state_dict(enc.rnn.state_dict())
        ref_dec.embedding.weight.copy_(dec.embedding.weight)
        ref_dec.attention.attn.weight.copy_(torch.cat([dec.attention.W_t.weight,
                                                       dec.attention.W_s.weight], dim=1))
        ref_dec.attention.v.weight.copy_(dec.attention.v.weight)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref_dec.rnn, f"{name}_l0").copy_(getattr(dec.rnn, name))
        ref_dec.fc_out.load_state_dict(dec.out.state_dict())
    return reference
