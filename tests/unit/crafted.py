"""Crafted bad input: the messages an attacker or a broken sender can make, as bytes.

`crafted()` lists messages that must be refused, each with a fragment of the reason it
must give *after masking* (`privacy.mask_text`, as the dead letter carries it). The unit
tests (decode, engine, replay) and the real-broker poison mix
(tests/reliability/test_bad_input.py) share it. `accepted()` lists odd messages the
contract lets through, with what they decode to. `random_messages()` is a seeded
generator of random bytes, JSON-ish structures and mutated events for property tests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

from streamer.core.events import MAX_DEPTH, MAX_EVENT_BYTES

GOOD = {"event_id": "@ID", "type": "payment", "borrower_id": "b1", "ts": "2026-03-01T08:00:00Z",
        "v": 1, "loan_id": "L-poison", "amount": 100.0}
DEEP = f"nested deeper than {MAX_DEPTH} levels at byte"


def event(borrower: str = "b1", event_id: str = "@ID", **change: Any) -> bytes:
    """A payment as compact JSON, fields changed or (None) removed, in GOOD's order."""
    e = {**GOOD, "event_id": event_id, "borrower_id": borrower, **change}
    return json.dumps({k: v for k, v in e.items() if v is not None}, separators=(",", ":"),
                      ensure_ascii=False).encode(errors="surrogatepass")


def with_field(value: bytes, name: bytes, raw_json: bytes, first: bool = False) -> bytes:
    """`value` (a JSON object) with `"name": raw_json` spliced in, first or last."""
    pair = b'"' + name + b'":' + raw_json
    return b"{" + pair + b"," + value[1:] if first else value[:-1] + b"," + pair + b"}"


def sized(value: bytes, size: int) -> bytes:
    """`value` padded with spaces before its closing brace to exactly `size` bytes."""
    assert len(value) <= size
    return value[:-1] + b" " * (size - len(value)) + b"}"


def crafted(borrower: str = "b1", event_id: str = "@ID") -> list[tuple[str, bytes, str]]:
    """(kind, message value, a fragment of the masked reason); every one is refused.

    The kinds whose size is the point carry no `event_id` placeholder to replace later.
    """
    good = event(borrower, event_id)
    fixed = event(borrower, "e-sized", amount=-5)

    def amount(raw_json: bytes) -> bytes:
        return good.replace(b'"amount":100.0', b'"amount":' + raw_json)

    def replaced(old: bytes, new: bytes) -> bytes:
        assert old in good
        return good.replace(old, new, 1)

    return [
        # nesting: refused before msgspec recurses, at any depth and position
        ("amount nested 10,000 arrays deep (20 KB, the incident)",
         amount(b"[" * 10_000 + b"]" * 10_000), DEEP),
        ("amount nested just over the limit",
         amount(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)), DEEP),
        ("amount nested 1,000 objects deep", amount(b'{"a":' * 1000 + b"1" + b"}" * 1000), DEEP),
        ("unknown field nested 10,000 deep before type",
         with_field(good, b"x", b"[" * 10_000 + b"]" * 10_000, first=True), DEEP),
        ("unknown field nested 1,000 deep",
         with_field(good, b"x", b"[" * 1000 + b"]" * 1000), DEEP),
        ("nested to the size limit", b"[" * MAX_EVENT_BYTES, DEEP),
        ("top-level array nested 100,000 deep (over the size limit)", b"[" * 100_000,
         "over the 65536-byte limit"),
        ("amount nested 100 arrays deep", amount(b"[" * 100 + b"]" * 100),
         "Expected `float`, got `array` - at `$.amount`"),
        ("amount nested 10 objects deep", amount(b'{"a":' * 10 + b"1" + b"}" * 10),
         "Expected `float`, got `object` - at `$.amount`"),
        # type confusion
        ("top-level array", b"[" + good + b"]", "Expected `object`, got `array`"),
        ("top-level string", b'"payment"', "Expected `object`, got `str`"),
        ("top-level number", b"13800138000", "Expected `object`, got `int`"),
        ("type is a number", replaced(b'"type":"payment"', b'"type":5'),
         "Expected `str` - at `$.type`"),
        ("type is an object", replaced(b'"type":"payment"', b'"type":{"payment":1}'),
         "Expected `str` - at `$.type`"),
        ("type is a list", replaced(b'"type":"payment"', b'"type":["payment"]'),
         "Expected `str` - at `$.type`"),
        ("type is a phone number", replaced(b'"type":"payment"', b'"type":"13800138000"'),
         "Invalid value '***' - at `$.type`"),
        ("v is a string", replaced(b'"v":1', b'"v":"1"'),
         "Expected `int`, got `str` - at `$.v`"),
        # duplicate keys: msgspec checks every occurrence and keeps the last
        ("duplicate amount, the first invalid", with_field(amount(b"-5"), b"amount", b"5"),
         "Expected `float` > 0.0 - at `$.amount`"),
        ("duplicate amount, the last invalid", with_field(good, b"amount", b"-5"),
         "Expected `float` > 0.0 - at `$.amount`"),
        ("duplicate type, different", with_field(good, b"type", b'"transaction"'),
         "Invalid value '***' - at `$.type`"),
        # text encodings
        ("lone surrogate escape in loan_id", replaced(b'"L-poison"', b'"\\ud800"'),
         "surrogate"),
        ("lone low surrogate escape in loan_id", replaced(b'"L-poison"', b'"\\udc00"'),
         "invalid utf-16 surrogate pair"),
        ("lone surrogate escape ending an unknown field", with_field(good, b"x", b'"\\ud800"'),
         "a lone UTF-16 surrogate escape at byte"),
        ("raw (CESU-8) surrogate in loan_id", replaced(b'"L-poison"', b'"\xed\xa0\x80"'),
         "invalid UTF-8 at byte"),
        ("UTF-8 byte-order mark", b"\xef\xbb\xbf" + good, "a UTF-8 byte-order mark"),
        ("UTF-16 LE with its byte-order mark", b"\xff\xfe" + good.decode().encode("utf-16-le"),
         "UTF-16 (little-endian) byte-order mark"),
        ("UTF-16 BE with its byte-order mark", b"\xfe\xff" + good.decode().encode("utf-16-be"),
         "UTF-16 (big-endian) byte-order mark"),
        ("UTF-16 without a byte-order mark", good.decode().encode("utf-16-le"),
         "a NUL byte at byte 1"),
        ("invalid UTF-8 in loan_id", replaced(b'"L-poison"', b'"L\xff"'), "invalid UTF-8 at byte"),
        ("invalid UTF-8 in a field name", replaced(b'"loan_id"', b'"loan\xff_id"'),
         "missing required field `loan_id`; invalid UTF-8 at byte"),
        ("overlong UTF-8 in loan_id", replaced(b'"L-poison"', b'"\xc0\xaf"'),
         "invalid UTF-8 at byte"),
        ("NUL byte in loan_id", replaced(b'"L-poison"', b'"L\x00"'), "a NUL byte at byte"),
        ("NUL byte after the object", good + b"\x00", "trailing characters"),
        ("only whitespace", b" \t\r\n ", "the message is only whitespace"),
        # numbers
        ("amount 1e400", amount(b"1e400"), "Number out of range - at `$.amount`"),
        ("amount -1e400", amount(b"-1e400"), "Number out of range - at `$.amount`"),
        ("amount a 400-digit integer", amount(b"9" * 400), "Number out of range - at `$.amount`"),
        ("amount -0", amount(b"-0"), "Expected `float` > 0.0 - at `$.amount`"),
        ("amount 1e-400 (zero)", amount(b"1e-400"), "Expected `float` > 0.0 - at `$.amount`"),
        ("amount with a 20-digit exponent", amount(b"1E+99999999999999999999"),
         "Number out of range - at `$.amount`"),
        ("installment_no a 400-digit integer", with_field(good, b"installment_no", b"9" * 400),
         "Expected `int` <= 120 - at `$.installment_no`"),
        ("v a 400-digit integer", replaced(b'"v":1', b'"v":' + b"1" * 400),
         "Number out of range - at `$.v`"),
        # size
        ("4,000 unknown fields, amount negative",
         amount(b"-5")[:-1] + b"".join(b',"k%d":%d' % (i, i) for i in range(4000)) + b"}",
         "Expected `float` > 0.0 - at `$.amount`"),
        ("exactly at the size limit, amount negative", sized(fixed, MAX_EVENT_BYTES),
         "Expected `float` > 0.0 - at `$.amount`"),
        ("one byte over the size limit", sized(fixed, MAX_EVENT_BYTES + 1),
         f"message is {MAX_EVENT_BYTES + 1:,} bytes, over the {MAX_EVENT_BYTES}-byte limit"),
    ]


def accepted(borrower: str = "b1") -> list[tuple[str, bytes, dict[str, Any]]]:
    """(kind, message value, attributes of the decoded event): odd, but valid events."""
    good = event(borrower, "e-ok")
    nested = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)  # + the event's object = the limit
    return [
        ("unknown field nested to the limit", with_field(good, b"x", nested), {"amount": 100.0}),
        ("duplicate amount, both valid: the last wins", with_field(good, b"amount", b"7"),
         {"amount": 7.0}),
        ("duplicate borrower_id: the last wins", with_field(good, b"borrower_id", b'"b2"'),
         {"borrower_id": "b2"}),
        ("invalid UTF-8 in an unknown field's name (skipped unread)",
         with_field(good, b"k\xff", b"1"), {"amount": 100.0}),
        ("overlong UTF-8 in an unknown field's value", with_field(good, b"x", b'"\xc0\xaf"'),
         {"amount": 100.0}),
        ("1e400 in an unknown field", with_field(good, b"x", b"1e400"), {"amount": 100.0}),
        ("escaped NUL in loan_id", good.replace(b'"L-poison"', b'"L\\u0000"'),
         {"loan_id": "L\x00"}),
        ("surrogate pair escape in loan_id", good.replace(b'"L-poison"', b'"\\ud83d\\ude00"'),
         {"loan_id": "\U0001f600"}),
        ("4,000 unknown fields",
         good[:-1] + b"".join(b',"k%d":%d' % (i, i) for i in range(4000)) + b"}",
         {"amount": 100.0}),
        ("exactly at the size limit", sized(good, MAX_EVENT_BYTES), {"amount": 100.0}),
        ("amount 1e10 written with an exponent", good.replace(b"100.0", b"1E+10"),
         {"amount": 1e10}),
    ]


# -- random input, seeded -------------------------------------------------------------------
_ATOMS = [b"{", b"}", b"[", b"]", b'"', b",", b":", b" ", b"\n", b"\\", b"0", b"7", b"-", b"e",
          b"1e400", b"-0", b"null", b"true", b"\x00", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80",
          b"\xef\xbb\xbf", b"\\u", b"\\ud800", b"\\udc00", b"d800", b"a", b"'", b"13800138000",
          "张".encode(), b"\x1b", b"\r", b"\t", b"\x7f"]
_NAMES = ["event_id", "type", "borrower_id", "ts", "v", "loan_id", "amount", "counterparty",
          "category", "direction", "installment_no", "x", "", "Li Lei", "k\ud800"]


def _value(rng: random.Random, depth: int) -> Any:
    """A random JSON-ish value (nesting bounded by `depth`, so this recursion is ours)."""
    kind = rng.randrange(10 if depth > 0 else 7)
    if kind == 0:
        return rng.choice([0, -0.0, 1, -5, 7.5, 10**30, 1e308, 13800138000, 2**63])
    if kind == 1:
        return rng.choice([None, True, False])
    if kind <= 6:
        return rng.choice(["payment", "transaction", "", "***", "Li Lei 13800138000", "\x00",
                           "\ud800", "O'Brien \"x\"", "张三", "2026-03-01T08:00:00Z", "b1",
                           "in", "L" * 200, "\u2028\n"])
    if kind <= 8:
        return {rng.choice(_NAMES): _value(rng, depth - 1) for _ in range(rng.randrange(6))}
    return [_value(rng, depth - 1) for _ in range(rng.randrange(5))]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        at = rng.randrange(len(out) + 1)
        op = rng.randrange(5)
        if op == 0 and out:
            del out[at:at + rng.randrange(1, 8)]
        elif op == 1:
            out[at:at] = rng.choice(_ATOMS)
        elif op == 2:
            n = rng.choice([10, 100, MAX_DEPTH, MAX_DEPTH + 1, 1000, 10_000])
            opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
            out[at:at] = opener * n + (b"1" + closer * n if rng.random() < 0.7 else b"")
        elif op == 3:
            out = out[:at]  # cut short
        elif out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
    return bytes(out)


def random_messages(seed: int, n: int) -> Iterator[bytes]:
    """`n` random messages: random bytes, random JSON-ish documents, mutated events."""
    rng = random.Random(seed)
    for _ in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            size = rng.choice([1, 2, 5, 50, 300, 3000])
            yield b"".join(rng.choice(_ATOMS) for _ in range(size))
        elif kind == 1:
            doc = json.dumps(_value(rng, 4), ensure_ascii=rng.random() < 0.5)
            yield doc.encode(errors="surrogatepass")
        else:
            fields = {k: _value(rng, 2) for k in rng.sample(_NAMES, rng.randrange(4))}
            base = event(**{k: v for k, v in fields.items()
                            if k.isidentifier() and k not in ("borrower", "event_id")})
            yield _mutate(rng, base) if kind == 3 else base
