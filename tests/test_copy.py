"""The pointer-generator (chapter 7): extended vocabulary, final distribution, copying."""

from __future__ import annotations

import random

import pytest
import torch
from toy import fit

from seq2code.batching import collate
from seq2code.decoding import greedy_decode
from seq2code.experiment import Trained, translate
from seq2code.models import build_model
from seq2code.models.copy import (
    decode_extended,
    extend_source,
    extend_target,
    final_distribution,
    pack_source,
    unpack_source,
)
from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID, UNK_ID, Vocab

CODE = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", "x", "=", "(", ")", "return"])  # V = 9


def test_extended_ids_of_source_and_target():
    src = ["set", "x", "to", "foo", "set"]
    assert extend_source(src, CODE) == [9, 4, 11, 12, 9]  # repeats share the first position
    assert extend_target(["x", "=", "foo", "bar"], src, CODE) == [
        SOS_ID, 4, 5, 12, UNK_ID, EOS_ID]
    assert decode_extended([4, 5, 12, EOS_ID, 9], src, CODE) == ["x", "=", "foo"]


def test_pack_and_unpack_keep_padding_zero():
    ids = torch.tensor([[5, 6, 0], [7, 0, 0]])
    ext = torch.tensor([[9, 12, 0], [4, 0, 0]])
    packed = pack_source(ids, ext, 20)
    assert (packed == PAD_ID).tolist() == (ids == PAD_ID).tolist()
    back_ids, back_ext = unpack_source(packed, 20)
    assert torch.equal(back_ids, ids) and torch.equal(back_ext, ext)


def mixture_by_hand(vocab_logits, attention, src_ext, p_gen):
    """P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: x_i = w} a_i, one entry at a time."""
    batch, vocab = vocab_logits.shape
    size = vocab + attention.size(1)
    p_vocab = torch.softmax(vocab_logits, -1)
    out = torch.zeros(batch, size, dtype=torch.float64)
    for b in range(batch):
        for w in range(size):
            value = p_gen[b] * p_vocab[b, w] if w < vocab else 0.0
            value += (1 - p_gen[b]) * sum(attention[b, i] for i in range(attention.size(1))
                                          if src_ext[b, i] == w)
            out[b, w] = value
    return out


def test_final_distribution_is_the_mixture_and_sums_to_one():
    torch.manual_seed(0)
    logits = torch.randn(2, 9, dtype=torch.float64)
    attention = torch.softmax(torch.randn(2, 4, dtype=torch.float64), -1)
    attention[1, 3] = 0.0  # a padded position
    attention[1] /= attention[1].sum()
    src_ext = torch.tensor([[9, 4, 9, 12], [10, 5, 5, 0]])
    gate = torch.randn(2, 1, dtype=torch.float64)
    log_p = final_distribution(logits, attention, src_ext, gate)
    expected = mixture_by_hand(logits, attention, src_ext, torch.sigmoid(gate)[:, 0])
    torch.testing.assert_close(log_p.exp(), expected, atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(2, dtype=torch.float64))
    assert torch.isfinite(log_p).all()  # log of zero mass is floored, never -inf


def test_final_distribution_limits_and_stable_gradient():
    logits = torch.tensor([[50.0, -50.0, 0.0, 0.0]], requires_grad=True)
    attention = torch.tensor([[1.0, 0.0]])
    src_ext = torch.tensor([[5, 1]])
    generate = final_distribution(logits, attention, src_ext, torch.tensor([[40.0]]))
    torch.testing.assert_close(generate[:, :4].exp(), torch.softmax(logits, -1))
    copy = final_distribution(logits, attention, src_ext, torch.tensor([[-40.0]]))
    assert copy[0, 5].exp().item() == pytest.approx(1.0)
    # the mixture's log stays right where P_vocab underflows: log P(1) ~ -100 + log p_gen
    assert generate[0, 1].item() == pytest.approx(-100.0, abs=1e-3)
    copy[0, 1].backward()
    assert torch.isfinite(logits.grad).all()


def small_batch():
    """Two sources whose words 20.. are not code tokens: ext ids 9 + position."""
    src = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    ext = torch.tensor([[9, 10, 4, 12], [9, 10, 0, 0]])
    return pack_source(src, ext, 30), torch.tensor([4, 2])


@pytest.mark.parametrize("kind", ["copy", "coverage"])
def test_copy_model_scores_the_extended_vocabulary(kind):
    torch.manual_seed(0)
    model = build_model(kind, 30, 9, emb_dim=8, hidden_dim=12)
    src, lens = small_batch()
    tgt_in = torch.tensor([[SOS_ID, 10, 4, 12], [SOS_ID, 9, 10, EOS_ID]])
    out = model(src, lens, tgt_in, teacher_forcing=0.5, generator=torch.Generator())
    assert out.logits.shape == (2, 4, 9 + 4) and out.attention.shape == (2, 4, 4)
    torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(2, 4))
    assert (out.attention[1, :, 2:] == 0).all()
    # extended ids fed back read as <unk>: the same scores as feeding <unk> itself
    unk = tgt_in.masked_fill(tgt_in >= 9, UNK_ID)
    torch.testing.assert_close(model(src, lens, unk).logits, model(src, lens, tgt_in).logits)


def test_copy_model_learns_to_copy_words_it_cannot_generate():
    """Targets made of source words outside the code vocabulary: only copying gets them."""
    torch.manual_seed(0)
    rng = random.Random(0)
    code = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", "(", ")"])
    english = Vocab(["<pad>", "<sos>", "<eos>", "<unk>"] + [f"w{i}" for i in range(20)])
    model = build_model("copy", len(english), len(code), emb_dim=16, hidden_dim=32,
                        canonical=False)
    nl, target = [], []
    for _ in range(32):
        words = rng.sample([f"w{i}" for i in range(20)], rng.randint(2, 5))
        nl.append(["call", *words])
        target.append([words[-1], "(", words[0], ")"])
    pairs = model.encode_pairs(nl, target, english, code)
    assert all(UNK_ID not in tgt for _, tgt in pairs)  # every target token is reachable
    batch = collate(pairs, range(len(pairs)))
    fit(model, batch, lr=1e-2, steps=150, stop_below=None)
    result = greedy_decode(model, batch.src, batch.src_lens, max_len=8)
    decoded = [decode_extended(ids, source, code) for ids, source in zip(result.tokens, nl, strict=True)]
    assert sum(d == t for d, t in zip(decoded, target, strict=True)) >= 30
    one = greedy_decode(model, batch.src[:1, :batch.src_lens[0]], batch.src_lens[:1], 8,
                        record=lambda step: model.decoder.gate(step.features))
    ids, weights = one.tokens[0], one.attention[0]
    gates = torch.cat(one.records)[: len(ids)]  # [n] p_gen of the steps that wrote ids
    assert weights.shape == (len(ids), int(batch.src_lens[0])) and gates.shape == (len(ids),)
    copied = torch.tensor([i >= len(code) for i in ids])
    assert gates[copied].mean() < gates[~copied].mean()  # p_gen drops where it copies
    teacher = model.gates(batch.src, batch.src_lens, batch.tgt_in)  # [B, T] p_gen
    assert teacher.shape == batch.tgt_in.shape and teacher.device.type == "cpu"


def test_canonical_pairs_and_translate_map_strings_back():
    code = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", "open", "(", ")", ","])
    english = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", "open", "file"])
    model = build_model("copy", len(english), len(code), emb_dim=8, hidden_dim=8)
    (src, tgt), = model.encode_pairs([["open", "'r'", "file"]], [["open", "(", '"r"', ")"]],
                                     english, code)
    ids, ext = unpack_source(torch.tensor(src), len(english))
    assert ids.tolist() == [4, UNK_ID, 5] and ext.tolist() == [4, 9, 10]
    assert tgt == [SOS_ID, 4, 5, 9, 6, EOS_ID]  # the placeholder _STR:0_ is copied (V + 1)
    view, mapping = model.source_view(["open", "'r'", "file"])
    assert view[1] == "_STR:0_"
    assert model.output_tokens([4, 5, 9, 6], view, mapping, code) == ["open", "(", "'r'", ")"]
    # through translate(): force the decoder to copy position 1, then <eos>
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.decoder.p_gen.bias.fill_(-30.0)  # p_gen ~ 0: copy only
    trained = Trained(model.eval(), english, code, None, None,
                      {"kind": "copy", "profile": {"max_src_len": None, "max_tgt_len": 1}})
    # uniform attention over 3 words, all distinct: the first argmax is position 0 ('open')
    assert translate(trained, ["open 'r' file"]) == ["open"]


@pytest.mark.parametrize("kind", ["copy", "coverage"])
def test_beam_search_reads_the_extended_vocabulary(kind):
    from seq2code.beam import beam_search

    torch.manual_seed(1)
    model = build_model(kind, 30, 9, emb_dim=8, hidden_dim=12).eval()
    src, lens = small_batch()
    greedy = greedy_decode(model, src, lens, max_len=6).tokens
    assert beam_search(model, src, lens, 1, 6).tokens == greedy
    wide = beam_search(model, src, lens, 3, 6).tokens
    assert len(wide) == 2 and all(0 <= i < 9 + 4 for row in wide for i in row)
