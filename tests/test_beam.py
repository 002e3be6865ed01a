"""Beam search: K=1 is greedy, it beats a myopic greedy, length normalisation, state reordering."""

import math
from typing import NamedTuple

import pytest
import torch

from seq2code.batching import collate
from seq2code.beam import (
    batch_axes,
    beam_search,
    length_normalised,
    map_state,
    reorder_state,
    sequence_log_probs,
)
from seq2code.decoding import greedy_decode
from seq2code.models import build_model
from seq2code.models.base import Decoder, DecoderStep, Encoder, EncoderOutput, Seq2Seq
from seq2code.vocab import EOS_ID, SOS_ID

SMALL = {"emb_dim": 8, "hidden_dim": 12}
A, B_ = 4, 5  # two ordinary tokens of the scripted models


@pytest.fixture(autouse=True)
def _seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def batch(lengths):
    return collate([(list(range(4, 4 + n)), [SOS_ID, EOS_ID]) for n in lengths],
                   range(len(lengths)))


# Weights tripled and <eos> favoured by these biases: rows of a batch end at different steps.
EOS_BIAS = {"rnn": 2.0, "lstm": 0.0, "attention": 1.0}


def make_model(kind, eos_bias=None):
    """A random model whose outputs depend on the input, and whose rows end at different steps."""
    model = build_model(kind, 20, 10, **SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
        model.decoder.out.bias[EOS_ID] += EOS_BIAS[kind] if eos_bias is None else eos_bias
    return model.eval()


class _ZeroEncoder(Encoder):
    def forward(self, src, src_lens):
        mask = src != 0
        return EncoderOutput(torch.zeros(*src.shape, 1), torch.zeros(1, src.size(0), 1), mask)


class _BigramDecoder(Decoder):
    """p(y_t | y_{t-1}) from a fixed table: the state carries nothing."""

    def __init__(self, table: dict[int, dict[int, float]], vocab: int = 6):
        super().__init__()
        self.log_table = torch.full((vocab, vocab), -30.0)
        for prev, row in table.items():
            for token, p in row.items():
                self.log_table[prev, token] = math.log(p)

    def forward(self, prev, state, enc):
        return DecoderStep(self.log_table[prev], state, None)


def scripted(table):
    return Seq2Seq(_ZeroEncoder(), _BigramDecoder(table), kind="scripted")


# Greedy takes A (0.6) and then ends (0.45): P = 0.27. B (0.4) then <eos> (0.9) is 0.36.
MYOPIC = {SOS_ID: {A: 0.6, B_: 0.4},
          A: {EOS_ID: 0.45, A: 0.3, B_: 0.25},
          B_: {EOS_ID: 0.9, A: 0.05, B_: 0.05}}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "attention"])
def test_beam_one_is_greedy_exactly(kind):
    model = make_model(kind)
    b = batch([3, 7, 1, 5, 4, 6, 2, 8])
    greedy = greedy_decode(model, b.src, b.src_lens, max_len=9)
    beam = beam_search(model, b.src, b.src_lens, beam_size=1, max_len=9)
    assert beam.tokens == greedy.tokens
    assert len({len(t) for t in greedy.tokens}) > 1  # rows end at different steps


def test_beam_finds_the_sequence_that_greedy_misses():
    model = scripted(MYOPIC)
    src = torch.tensor([[7, 8]])
    lens = torch.tensor([2])
    greedy = greedy_decode(model, src, lens, max_len=5).tokens
    beam = beam_search(model, src, lens, beam_size=2, max_len=5, alpha=0.0)
    assert greedy == [[A]]
    assert beam.tokens == [[B_]]
    scores = sequence_log_probs(model, src.repeat(2, 1), lens.repeat(2), [[A], [B_]])
    assert scores[1] > scores[0]
    assert beam.hypotheses[0][0].log_prob == pytest.approx(math.log(0.36), abs=1e-5)
    assert beam.hypotheses[0][1].tokens == [A]  # greedy's answer is kept, ranked second


def test_length_normalisation_decides_between_short_and_long():
    # <eos> at once: log 0.4 = -0.92 (one token). A <eos>: log(0.6 * 0.55) = -1.11 (two).
    model = scripted({SOS_ID: {EOS_ID: 0.4, A: 0.6}, A: {EOS_ID: 0.55, A: 0.45}})
    src, lens = torch.tensor([[7]]), torch.tensor([1])
    raw = beam_search(model, src, lens, beam_size=2, max_len=5, alpha=0.0)
    per_token = beam_search(model, src, lens, beam_size=2, max_len=5, alpha=1.0)
    assert raw.tokens == [[]]
    assert per_token.tokens == [[A]]
    best = per_token.hypotheses[0][0]
    assert best.score == pytest.approx(math.log(0.33) / 2, abs=1e-5)
    assert length_normalised(-2.0, 4, 0.5) == pytest.approx(-1.0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "attention"])
def test_kept_scores_are_the_models_scores(kind):
    """A wrongly reordered state would give log-probabilities that teacher forcing disowns."""
    model = make_model(kind)
    b = batch([3, 6, 2, 5])
    result = beam_search(model, b.src, b.src_lens, beam_size=4, max_len=8, alpha=0.7)
    for row, hyps in enumerate(result.hypotheses):
        assert 1 <= len(hyps) <= 4 and hyps == sorted(hyps, key=lambda h: -h.score)
        assert len({tuple(h.tokens) for h in hyps}) == len(hyps)
        n = len(hyps)
        want = sequence_log_probs(model, b.src[row:row + 1].repeat(n, 1),
                                  b.src_lens[row:row + 1].repeat(n),
                                  [h.tokens for h in hyps], [h.finished for h in hyps])
        got = torch.tensor([h.log_prob for h in hyps])
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
        for h in hyps:
            length = len(h.tokens) + int(h.finished)
            assert h.score == pytest.approx(h.log_prob / length ** 0.7, abs=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_a_batch_decodes_like_its_sources_one_by_one(kind):
    model = make_model(kind)
    b = batch([3, 6, 2])
    together = beam_search(model, b.src, b.src_lens, beam_size=3, max_len=8)
    for row in range(3):
        n = int(b.src_lens[row])
        alone = beam_search(model, b.src[row:row + 1, :n], b.src_lens[row:row + 1],
                            beam_size=3, max_len=8)
        assert alone.tokens[0] == together.tokens[row]


def test_wider_beam_scores_at_least_greedy_on_the_myopic_case():
    model = scripted(MYOPIC)
    src, lens = torch.tensor([[7]]), torch.tensor([1])
    best = [beam_search(model, src, lens, beam_size=k, max_len=5, alpha=0.0).hypotheses[0][0]
            for k in (1, 2, 3)]
    assert best[0].log_prob < best[1].log_prob <= best[2].log_prob + 1e-6


def test_max_len_keeps_unfinished_beams():
    model = build_model("attention", 20, 10, **SMALL)
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.zero_()
        model.decoder.out.bias[7] = 10.0
    b = batch([3, 5])
    result = beam_search(model, b.src, b.src_lens, beam_size=3, max_len=4, keep_history=True)
    assert result.tokens == [[7] * 4, [7] * 4]
    assert all(not h.finished for hyps in result.hypotheses for h in hyps)
    assert len(result.history) == 4 and result.history[0].tokens.shape == (2, 3)


def test_history_traces_each_kept_hypothesis_back():
    model = make_model("attention")
    b = batch([4])
    result = beam_search(model, b.src, b.src_lens, beam_size=3, max_len=8, keep_history=True)
    events = [lp for step in result.history for _, _, lp, _ in step.finished]
    for h in result.hypotheses[0]:
        assert not h.finished or h.log_prob in events
    # Follow the parents back from the last step: the tokens spell a beam.
    last = len(result.history) - 1
    k, tokens = 0, []
    for t in range(last, -1, -1):
        tokens.append(int(result.history[t].tokens[0, k]))
        k = int(result.history[t].parents[0, k])
    assert k == 0  # every beam descends from the single first one
    assert len(tokens) == last + 1


def test_rejects_a_beam_of_zero():
    model = make_model("rnn")
    b = batch([3])
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, b.src, b.src_lens, beam_size=0, max_len=5)


class _State(NamedTuple):
    hidden: torch.Tensor
    extra: object


def test_map_state_and_reorder_follow_each_tensors_batch_axis():
    h = torch.arange(6.0).view(1, 3, 2)  # [layers, N, H]: batch on axis 1
    keys = torch.arange(12.0).view(3, 2, 2)  # [N, S, A]: batch on axis 0
    state = ((h, h + 100), _State(keys, None), {"step": torch.tensor(5)})
    one = ((h[:, :1], h[:, :1]), _State(keys[:1], None), {"step": torch.tensor(5)})
    axes = batch_axes(state, one)
    assert axes == ((1, 1), _State(0, None), {"step": None})
    index = torch.tensor([2, 2, 0])
    new = reorder_state(state, index, axes)
    torch.testing.assert_close(new[0][0], h[:, [2, 2, 0]])
    torch.testing.assert_close(new[0][1], h[:, [2, 2, 0]] + 100)
    torch.testing.assert_close(new[1].hidden, keys[[2, 2, 0]])
    assert isinstance(new[1], _State) and new[1].extra is None
    assert int(new[2]["step"]) == 5
    doubled = map_state(lambda t: t * 2, state)
    torch.testing.assert_close(doubled[1].hidden, keys * 2)


def test_an_ambiguous_state_layout_is_refused():
    with pytest.raises(ValueError, match="batch axis"):
        batch_axes(torch.zeros(3, 3), torch.zeros(1, 1))
