"""Text towers: `(sequence_length,)` int32 token ids (0 = padding) -> embedding.

Families (registered as `"text/<family>"`):

- `lstm`: token embedding and a (bidirectional) LSTM that stays cuDNN-eligible.
- `cnn`: parallel 1-D convolutions with max-over-time pooling (Kim, 2014).
- `transformer`: a small BERT-style encoder with mask-aware mean pooling.

Every text tower also returns `"sequence_mask"`: `(batch, steps)` float32, 1.0 for real
tokens. Padded positions never change the embedding, and are zero in `"sequence"`.

>>> from mmzoo.towers.text import build_cnn
>>> tower = build_cnn((16,), vocab_size=100, filters=8)
>>> sorted(tower.output)
['embedding', 'sequence', 'sequence_mask']
"""

import keras

from mmzoo.checks import (
    check_bool,
    check_int_sequence,
    check_positive_int,
    check_rate,
    check_shape,
    is_int,
)
from mmzoo.layers.masking import ApplySequenceMask, AttentionMask, PaddingMask
from mmzoo.layers.pooling import MaskedPooling1D
from mmzoo.layers.position_embedding import PositionEmbedding
from mmzoo.towers import TOWERS
from mmzoo.towers.common import (
    check_embedding_dim,
    project,
    tower_model,
)


def _text_input(input_shape, name, vocab_size):
    input_shape = check_shape(input_shape, 1, "(sequence_length,)")
    if not is_int(vocab_size) or vocab_size < 2:
        raise ValueError(
            "`vocab_size` must be an integer >= 2 (id 0 is padding). "
            f"Received: vocab_size={vocab_size!r}"
        )
    inputs = keras.Input(shape=input_shape, dtype="int32", name=name)
    return inputs, PaddingMask(name=f"{name}_sequence_mask")(inputs)


def _outputs(embedding, sequence, mask, name):
    sequence = ApplySequenceMask(name=f"{name}_sequence")([sequence, mask])
    return {"embedding": embedding, "sequence": sequence, "sequence_mask": mask}


def build_lstm(
    input_shape, name="text", vocab_size=20000, embedding_size=128, units=64, num_layers=1,
    bidirectional=True, dropout=0.0, embedding_dim=128,
):
    """Token embedding (masking padding) and a stack of (bidirectional) LSTMs.

    The LSTMs keep cuDNN-eligible settings (tanh / sigmoid, no recurrent dropout, no
    unrolling, with bias) and rely on right padding.

    Args:
        input_shape: `(sequence_length,)`.
        name: input name; the model is named `f"{name}_tower"`.
        vocab_size: number of token ids, including 0 for padding.
        embedding_size: width of the token embedding.
        units: LSTM units (per direction).
        num_layers: stacked LSTM layers.
        bidirectional: whether each layer reads both directions (outputs concatenated).
        dropout: dropout rate on the inputs of each LSTM layer.
        embedding_dim: width of the final ReLU projection of the last layer's final
            state(s); `None` keeps `units` (`2 * units` when bidirectional).

    Returns:
        A `keras.Model` with outputs `embedding`, `sequence` (the last layer's outputs
        per token) and `sequence_mask`.

    >>> build_lstm((12,), vocab_size=50, units=8, embedding_dim=None).output["embedding"].shape
    (None, 16)
    """
    check_positive_int("embedding_size", embedding_size)
    check_positive_int("units", units)
    check_positive_int("num_layers", num_layers)
    check_bool("bidirectional", bidirectional)
    check_rate("dropout", dropout)
    check_embedding_dim(embedding_dim)
    inputs, mask = _text_input(input_shape, name, vocab_size)
    x = keras.layers.Embedding(
        vocab_size, embedding_size, mask_zero=True, name=f"{name}_token_embedding"
    )(inputs)
    for i in range(num_layers):
        last = i == num_layers - 1
        lstm = keras.layers.LSTM(
            units, return_sequences=True, return_state=last, dropout=dropout,
            name=f"{name}_lstm{i}",
        )
        if bidirectional:
            lstm = keras.layers.Bidirectional(lstm, name=f"{name}_bilstm{i}")
        x = lstm(x)
    if bidirectional:
        sequence, forward_h, _, backward_h, _ = x
        state = keras.layers.Concatenate(name=f"{name}_final_state")([forward_h, backward_h])
    else:
        sequence, state, _ = x
    return tower_model(
        inputs, _outputs(project(state, embedding_dim, name), sequence, mask, name), name
    )


def build_cnn(
    input_shape, name="text", vocab_size=20000, embedding_size=128, kernel_sizes=(3, 4, 5),
    filters=64, dropout=0.0, embedding_dim=128,
):
    """Token embedding and parallel Conv1D + ReLU branches with masked max pooling.

    Padded tokens are zeroed before the convolutions (as the 'same' zero padding at
    the ends), so the features of a text do not depend on how much padding follows it.

    Args:
        input_shape: `(sequence_length,)`.
        name: input name; the model is named `f"{name}_tower"`.
        vocab_size: number of token ids, including 0 for padding.
        embedding_size: width of the token embedding.
        kernel_sizes: kernel size of each branch.
        filters: filters per branch.
        dropout: dropout rate after pooling.
        embedding_dim: width of the final ReLU projection; `None` keeps
            `filters * len(kernel_sizes)`.

    Returns:
        A `keras.Model` with outputs `embedding`, `sequence` (the branches concatenated
        per token, `filters * len(kernel_sizes)` wide) and `sequence_mask`.

    >>> build_cnn((12,), vocab_size=50, filters=4, embedding_dim=None).output["sequence"].shape
    (None, 12, 12)
    """
    check_positive_int("embedding_size", embedding_size)
    kernel_sizes = check_int_sequence("kernel_sizes", kernel_sizes)
    check_positive_int("filters", filters)
    check_rate("dropout", dropout)
    check_embedding_dim(embedding_dim)
    inputs, mask = _text_input(input_shape, name, vocab_size)
    x = keras.layers.Embedding(vocab_size, embedding_size, name=f"{name}_token_embedding")(
        inputs
    )
    x = ApplySequenceMask(name=f"{name}_mask_padding")([x, mask])
    branches = [
        keras.layers.Conv1D(
            filters, size, padding="same", activation="relu", name=f"{name}_conv{size}"
        )(x)
        for size in kernel_sizes
    ]
    if len(branches) > 1:
        sequence = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    else:
        sequence = branches[0]
    pooled = MaskedPooling1D("max", name=f"{name}_max_pool")([sequence, mask])
    if dropout:
        pooled = keras.layers.Dropout(dropout, name=f"{name}_dropout")(pooled)
    return tower_model(
        inputs, _outputs(project(pooled, embedding_dim, name), sequence, mask, name), name
    )


def build_transformer(
    input_shape, name="text", vocab_size=20000, embedding_size=None, num_layers=2,
    num_heads=4, hidden_dim=128, intermediate_dim=256, dropout=0.1, embedding_dim=None,
):
    """A small BERT-style (post-LayerNorm) transformer encoder.

    Token plus learned position embeddings, then `num_layers` blocks of multi-head
    self-attention (padded keys masked) and a GELU feed-forward layer, each followed by
    a residual connection and LayerNormalization. The embedding is the mean over the
    real tokens.

    Args:
        input_shape: `(sequence_length,)`.
        name: input name; the model is named `f"{name}_tower"`.
        vocab_size: number of token ids, including 0 for padding.
        embedding_size: width of the token embedding; `None` means `hidden_dim`,
            another width is projected to `hidden_dim`.
        num_layers: transformer blocks.
        num_heads: attention heads; must divide `hidden_dim`.
        hidden_dim: width of the encoder.
        intermediate_dim: width of the feed-forward layers.
        dropout: dropout rate on embeddings, attention weights and residual branches.
        embedding_dim: width of a final ReLU projection; `None` keeps `hidden_dim`.

    Returns:
        A `keras.Model` with outputs `embedding`, `sequence` (the encoder states) and
        `sequence_mask`.

    >>> tower = build_transformer((12,), vocab_size=50, hidden_dim=16, num_heads=2)
    >>> tower.output["embedding"].shape
    (None, 16)
    """
    if embedding_size is not None:
        check_positive_int("embedding_size", embedding_size)
    check_positive_int("num_layers", num_layers)
    check_positive_int("num_heads", num_heads)
    check_positive_int("hidden_dim", hidden_dim)
    check_positive_int("intermediate_dim", intermediate_dim)
    if hidden_dim % num_heads:
        raise ValueError(
            f"`num_heads` must divide hidden_dim={hidden_dim}. Received: num_heads={num_heads}"
        )
    check_rate("dropout", dropout)
    check_embedding_dim(embedding_dim)
    inputs, mask = _text_input(input_shape, name, vocab_size)
    x = keras.layers.Embedding(
        vocab_size, embedding_size or hidden_dim, name=f"{name}_token_embedding"
    )(inputs)
    if embedding_size not in (None, hidden_dim):
        x = keras.layers.Dense(hidden_dim, name=f"{name}_embedding_projection")(x)
    x = PositionEmbedding(input_shape[0], name=f"{name}_position_embedding")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_embedding_norm")(x)
    x = keras.layers.Dropout(dropout, name=f"{name}_embedding_dropout")(x)
    attention_mask = AttentionMask(name=f"{name}_attention_mask")(mask)
    for i in range(num_layers):
        prefix = f"{name}_block{i}"
        attended = keras.layers.MultiHeadAttention(
            num_heads, hidden_dim // num_heads, dropout=dropout, name=f"{prefix}_attention"
        )(x, x, attention_mask=attention_mask)
        attended = keras.layers.Dropout(dropout, name=f"{prefix}_attention_dropout")(attended)
        x = keras.layers.Add(name=f"{prefix}_attention_residual")([x, attended])
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_attention_norm")(x)
        ffn = keras.layers.Dense(intermediate_dim, activation="gelu", name=f"{prefix}_ffn_inner")(x)
        ffn = keras.layers.Dense(hidden_dim, name=f"{prefix}_ffn_outer")(ffn)
        ffn = keras.layers.Dropout(dropout, name=f"{prefix}_ffn_dropout")(ffn)
        x = keras.layers.Add(name=f"{prefix}_ffn_residual")([x, ffn])
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_ffn_norm")(x)
    pooled = MaskedPooling1D("mean", name=f"{name}_mean_pool")([x, mask])
    return tower_model(
        inputs, _outputs(project(pooled, embedding_dim, name), x, mask, name), name
    )


TOWERS.register("text/lstm", build_lstm)
TOWERS.register("text/cnn", build_cnn)
TOWERS.register("text/transformer", build_transformer)
