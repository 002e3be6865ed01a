"""Reranking the beam with a reverse model (chapter 9): the data the other way round, the
candidates and their scores, the choice, the tuning on dev and the oracle."""

from dataclasses import replace

import pytest
import torch

from seq2code import experiment, rerank
from seq2code.beam import sequence_log_probs
from seq2code.profiles import get_profile
from seq2code.tokens import canonicalize

TINY = replace(get_profile("ci"), name="tiny", train_size=300, dev_size=12, test_size=12,
               epochs=1, batch_size=32, min_freq=1, max_src_len=30, max_tgt_len=30)
SMALL_MODEL = {"emb_dim": 16, "hidden_dim": 32}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(shared_data):
    return experiment.prepare_data(TINY, data_dir=shared_data)


@pytest.fixture(scope="module")
def models(data, tmp_path_factory):
    forward = experiment.train_model("copy", data=data, use_cache=False, progress=False,
                                     out_dir=tmp_path_factory.mktemp("forward"), **SMALL_MODEL)
    reverse = experiment.train_model("copy", data=rerank.reverse_data(data), use_cache=False,
                                     progress=False, canonical=False,
                                     out_dir=tmp_path_factory.mktemp("reverse"), **SMALL_MODEL)
    return forward, reverse


def test_reverse_data_swaps_the_canonical_sides(data):
    reverse = rerank.reverse_data(data)
    quoted = 0
    for nl, code, r_src, r_tgt in zip(data.nl_tokens["train"], data.code_tokens["train"],
                                      reverse.nl_tokens["train"], reverse.code_tokens["train"],
                                      strict=True):
        nl_c, code_c, mapping = canonicalize(nl, code)
        assert r_src == code_c and r_tgt == nl_c
        quoted += any(tok.startswith("_STR:") for tok in r_src)
    assert quoted > 10  # Django quotes strings often: the placeholders are on both sides
    assert "_STR:0_" in reverse.src_vocab and "_STR:0_" in reverse.tgt_vocab
    assert "def" in reverse.src_vocab and "def" not in reverse.tgt_vocab.itos[:4]
    assert reverse.digest() != data.digest() and reverse.profile == data.profile


def test_candidates_and_their_scores(models, data):
    forward, reverse = models
    nl = data.nl_tokens["dev"][:6]
    candidates = rerank.beam_candidates(forward, nl, beam=3)
    assert len(candidates) == 6
    for row, scores in zip(candidates.ids, candidates.forward, strict=True):
        assert 1 <= len(row) <= 3 and len(scores) == len(row)
    # the beam's log P(Y | x) is the teacher-forced one (every kept candidate finished here)
    again = rerank.forward_scores(forward, candidates)
    for a, b in zip(candidates.forward, again, strict=True):
        assert a == pytest.approx(b, abs=1e-3)
    backward = rerank.reverse_scores(reverse, candidates)
    assert [len(r) for r in backward] == [len(r) for r in candidates.ids]
    assert all(s < 0 for row in backward for s in row)
    # one candidate by hand: the reverse model reads its code and scores the English
    tokens, view = candidates.tokens[0][0], candidates.views[0]
    if tokens:
        (src, tgt), = reverse.model.encode_pairs([tokens], [view], reverse.src_vocab,
                                                 reverse.tgt_vocab, 30, 30)
        by_hand = sequence_log_probs(reverse.model, torch.tensor([src]),
                                     torch.tensor([len(src)]), [tgt[1:-1]])
        assert backward[0][0] == pytest.approx(float(by_hand), abs=1e-4)
    right = rerank.correct(forward, candidates, nl, data.code_tokens["dev"][:6])
    assert [len(r) for r in right] == [len(r) for r in candidates.ids]
    # with no weights the choice is the candidate of highest log P(Y | x)
    picks = rerank.choose(rerank.Weights(), candidates.forward, backward,
                          rerank.lengths_of(candidates))
    for pick, row in zip(picks, candidates.forward, strict=True):
        assert row[pick] == max(row)


def test_choose_tune_and_oracle_on_known_scores():
    forward = [[-1.0, -2.0], [-1.0, -1.5], [-0.5, -3.0]]
    reverse = [[-9.0, -1.0], [-5.0, -1.0], [-1.0, -1.0]]
    lengths = [[2, 3], [3, 4], [1, 5]]
    right = [[False, True], [False, True], [True, False]]
    assert rerank.choose(rerank.Weights(), forward, reverse, lengths) == [0, 0, 0]
    assert rerank.accuracy([0, 0, 0], right) == pytest.approx(1 / 3)
    assert rerank.oracle(right) == 1.0 and rerank.oracle([[False], [True]]) == 0.5
    # the reverse model's opinion turns the first two around, and not the third
    assert rerank.choose(rerank.Weights(rev=0.5), forward, reverse, lengths) == [1, 1, 0]
    weights, acc = rerank.tune(forward, reverse, lengths, right)
    assert acc == 1.0 and weights.rev > 0
    # ties go to the smaller weights: with nothing to gain, no weight at all
    assert rerank.tune(forward, reverse, lengths, [[True, False]] * 3)[0] == rerank.Weights()
    assert rerank.tune(forward, None, lengths, right)[0].rev == 0.0
    assert rerank.mean_scores([[1.0, 3.0]], [[3.0, 5.0]]) == [[2.0, 4.0]]


def test_an_empty_description_has_no_candidate(models, data):
    forward, reverse = models
    candidates = rerank.beam_candidates(forward, [[], data.nl_tokens["dev"][0]], beam=2)
    assert candidates.ids[0] == [] and candidates.ids[1]
    assert rerank.reverse_scores(reverse, candidates)[0] == []
    right = rerank.correct(forward, candidates, [[], data.nl_tokens["dev"][0]],
                           [["x"], data.code_tokens["dev"][0]])
    assert right[0] == [] and rerank.accuracy([0, 0], right) <= 0.5
