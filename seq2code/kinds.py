"""The model kinds of the course, by name, in the order the chapters introduce them.

Kept apart from :mod:`seq2code.models` so that the command line can name them in its help
without importing torch.
"""

KINDS = (
    "rnn",            # chapter 2: vanilla RNN encoder-decoder
    "lstm",           # chapter 3: LSTM encoder-decoder
    "attention",      # chapter 4: LSTM with additive (Bahdanau) attention
    "bidirectional",  # chapter 6: bidirectional LSTM encoder, attention decoder
    "copy",           # chapter 7: pointer-generator copy mechanism
    "coverage",       # chapter 7: copy with coverage
    "multihead",      # chapter 8: multi-head attention over the encoder states
    "transformer",    # chapter 8: a small Transformer encoder-decoder
)
