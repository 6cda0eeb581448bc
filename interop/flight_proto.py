"""Just enough protobuf to speak raw Flight SQL with pyarrow.flight:
encode the few commands the tests send, decode the results they read."""

SQL = "type.googleapis.com/arrow.flight.protocol.sql."


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(num, value):
    """A length-delimited field (bytes or str) or a varint field (int)."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint((num << 3) | 2) + varint(len(value)) + value


def any_of(name, payload=b""):
    """`google.protobuf.Any` wrapping the Flight SQL message `name`."""
    return field(1, SQL + name) + field(2, payload)


def parse(data):
    """A message's fields: number -> list of values (bytes or int)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, kind = key >> 3, key & 7
        if kind == 0:
            value, i = _read_varint(data, i)
        elif kind == 2:
            length, i = _read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif kind == 1:
            value, i = data[i:i + 8], i + 8
        elif kind == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {kind}")
        fields.setdefault(num, []).append(value)
    return fields


def _read_varint(data, i):
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def unpack_any(data):
    """The payload of an `Any`, and its type name."""
    f = parse(data)
    return f[2][0] if 2 in f else b"", f[1][0].decode()
