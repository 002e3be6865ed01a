"""The bidirectional encoder: shapes, the bridge, padding that leaks nowhere, the kind."""

import pytest
import torch

from seq2code.beam import beam_search
from seq2code.decoding import greedy_decode
from seq2code.models import build_model, count_parameters, expected_parameters
from seq2code.models.bidirectional import BidirectionalLSTMEncoder, Bridge
from seq2code.vocab import PAD_ID

E, H = 8, 12


@pytest.fixture(autouse=True)
def _seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def sources():
    src = torch.tensor([[5, 6, 7, 8], [9, 10, PAD_ID, PAD_ID], [11, 12, 13, PAD_ID]])
    return src, torch.tensor([4, 2, 3])


def test_shapes_of_outputs_and_bridged_state():
    encoder = BidirectionalLSTMEncoder(20, E, H)
    src, lens = sources()
    enc = encoder(src, lens)
    assert enc.outputs.shape == (3, 4, H)  # o_s = W_p [h_fwd_s; h_bwd_s]
    assert [s.shape for s in enc.state] == [(1, 3, H), (1, 3, H)]
    assert enc.mask.tolist() == (src != PAD_ID).tolist()
    assert float(enc.outputs[1, 2:].detach().abs().sum()) == 0.0  # zeros at padding


def test_bridge_and_projection_against_each_row_run_alone():
    """Each row through the plain nn.LSTM without padding: forward ends at its last token,
    backward at x_1; the bridge is tanh(W [h_fwd; h_bwd] + b), the outputs W_p [fwd; bwd]."""
    encoder = BidirectionalLSTMEncoder(20, E, H)
    src, lens = sources()
    enc = encoder(src, lens)
    proj = encoder.bridge_h.proj
    for b in range(3):
        n = int(lens[b])
        out, (h_n, _) = encoder.rnn(encoder.embedding(src[b:b + 1, :n]))  # [1, n, 2H]
        both = torch.cat([out[0, n - 1, :H], out[0, 0, H:]])  # [2H] [h_fwd_S; h_bwd_1]
        torch.testing.assert_close(both, torch.cat([h_n[0, 0], h_n[1, 0]]))
        torch.testing.assert_close(enc.state[0][0, b], torch.tanh(proj(both)))
        torch.testing.assert_close(enc.outputs[b, :n], encoder.project(out[0]))
    final = torch.zeros(2, 3, H)  # [2, B, H] (fwd, bwd)
    assert Bridge(H)(final).shape == (1, 3, H)


def test_appended_padding_changes_nothing():
    encoder = BidirectionalLSTMEncoder(20, E, H)
    src, lens = sources()
    padded = torch.cat([src, torch.full((3, 5), PAD_ID)], dim=1)  # [B, S + 5]
    short, long = encoder(src, lens), encoder(padded, lens)
    torch.testing.assert_close(long.outputs[:, :4], short.outputs)
    assert float(long.outputs[:, 4:].detach().abs().sum()) == 0.0
    for a, b in zip(short.state, long.state, strict=True):
        torch.testing.assert_close(a, b)


def test_a_row_encodes_the_same_alone_and_in_a_batch():
    encoder = BidirectionalLSTMEncoder(20, E, H)
    src, lens = sources()
    batch = encoder(src, lens)
    alone = encoder(src[1:2, :2], lens[1:2])
    torch.testing.assert_close(alone.outputs[0], batch.outputs[1, :2])
    torch.testing.assert_close(alone.state[0][0, 0], batch.state[0][0, 1])


def test_the_kind_builds_trains_and_decodes():
    model = build_model("bidirectional", 20, 10, emb_dim=E, hidden_dim=H)
    assert model.kind == "bidirectional"
    assert count_parameters(model) == expected_parameters("bidirectional", 20, 10, E, H)
    rebuilt = build_model(**model.config)
    assert count_parameters(rebuilt) == count_parameters(model)
    src, lens = sources()
    tgt_in = torch.tensor([[1, 4, 5], [1, 6, 7], [1, 4, 4]])
    out = model(src, lens, tgt_in)
    assert out.logits.shape == (3, 3, 10) and out.attention.shape == (3, 3, 4)
    out.logits.sum().backward()
    assert model.encoder.bridge_c.proj.weight.grad is not None
    greedy = greedy_decode(model, src, lens, max_len=6)
    assert beam_search(model, src, lens, beam_size=1, max_len=6).tokens == greedy.tokens
    assert len(beam_search(model, src, lens, beam_size=3, max_len=6).tokens) == 3


def test_unknown_option_is_refused():
    with pytest.raises(TypeError, match="bidirectional"):
        build_model("bidirectional", 20, 10, precompute_keys=False)
