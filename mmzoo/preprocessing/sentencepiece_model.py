"""Reads a SentencePiece model's pieces from its protobuf bytes, without `sentencepiece`.

>>> from mmzoo.preprocessing.sentencepiece_model import sentencepiece_pieces
>>> piece = bytes([0x0A, 0x05]) + b"<unk>" + bytes([0x18, 0x02])  # piece "<unk>", type UNKNOWN
>>> sentencepiece_pieces(bytes([0x0A, len(piece)]) + piece)
(['<unk>'], 0)
"""


def _read_varint(buffer, position):
    result = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _protobuf_fields(buffer):
    """(field number, wire type, value) of a serialized protobuf message."""
    position = 0
    while position < len(buffer):
        key, position = _read_varint(buffer, position)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _read_varint(buffer, position)
        elif wire == 1:
            value, position = buffer[position : position + 8], position + 8
        elif wire == 2:
            size, position = _read_varint(buffer, position)
            value, position = buffer[position : position + size], position + size
        elif wire == 5:
            value, position = buffer[position : position + 4], position + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if position > len(buffer):
            raise ValueError("truncated message")
        yield field, wire, value


def sentencepiece_pieces(model):
    """The pieces of a SentencePiece ModelProto and the index of its unknown piece.

    Reads the protobuf wire format directly (ModelProto.pieces is field 1; in each
    piece, `piece` is field 1 and `type` field 3, UNKNOWN = 2), so no `sentencepiece`
    package is needed at run time.

    Args:
        model: the serialized `ModelProto` (bytes).

    Returns:
        `(pieces, unknown)`: the pieces in id order and the index of the unknown one.

    Raises:
        ValueError: `model` is not a SentencePiece model with exactly one unknown piece.
    """
    try:
        pieces, unknown = [], []
        for field, wire, value in _protobuf_fields(model):
            if field != 1 or wire != 2:
                continue
            text, kind = "", 1
            for sub_field, sub_wire, sub_value in _protobuf_fields(value):
                if sub_field == 1 and sub_wire == 2:
                    text = sub_value.decode("utf-8")
                elif sub_field == 3 and sub_wire == 0:
                    kind = sub_value
            if kind == 2:
                unknown.append(len(pieces))
            pieces.append(text)
    except (ValueError, IndexError, UnicodeDecodeError) as error:
        raise ValueError(
            f"`sentencepiece_model` is not a SentencePiece model ({error}). "
            f"Received: sentencepiece_model of {len(model)} bytes"
        ) from None
    if len(unknown) != 1:
        raise ValueError(
            "`sentencepiece_model` is not a SentencePiece model (it needs exactly one "
            f"unknown piece, found {len(unknown)}). Received: sentencepiece_model of "
            f"{len(model)} bytes"
        )
    return pieces, unknown[0]
