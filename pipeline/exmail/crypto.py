"""Exmail new-mail callback crypto (the WeCom "WXBizMsgCrypt" scheme with the CorpID as receive-id).

Shared by the simulator (which encrypts pushes) and the callback ingestor (which verifies and decrypts them).
AES-256-CBC with key = b64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to 32-byte blocks;
plaintext = 16 random bytes || 4-byte big-endian XML length || XML || CorpID; signature = sha1 hex of the
sorted, concatenated [token, timestamp, nonce, encrypt].

Every failure raises a `CallbackCryptoError` subclass carrying the library code (-40001..-40008). The token
and the AES key never appear in reprs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAX_XML_CHARS = 1_000_000
_BLOCK = 32


class CallbackCryptoError(Exception):
    """Base of every callback crypto/parse failure; `code` is the library code (-40001..-40008)."""

    code = -40000

    def __init__(self, message: str) -> None:
        super().__init__(f"[{self.code}] {message}")
        self.reason = message


class SignatureError(CallbackCryptoError):
    code = -40001


class XmlParseError(CallbackCryptoError):
    code = -40002


class ShaError(CallbackCryptoError):
    code = -40003


class IllegalAesKeyError(CallbackCryptoError):
    code = -40004


class CorpIdMismatchError(CallbackCryptoError):
    code = -40005


class EncryptError(CallbackCryptoError):
    code = -40006


class DecryptError(CallbackCryptoError):
    code = -40007


class IllegalBufferError(CallbackCryptoError):
    code = -40008


class EncryptedMessage(NamedTuple):
    """What a sender puts on the wire: `encrypt` goes in the body, the rest in the query string."""

    encrypt: str
    signature: str
    timestamp: str
    nonce: str


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """sha1 hex of the four strings sorted and concatenated."""
    try:
        parts = sorted([str(token), str(timestamp), str(nonce), str(encrypt)])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()
    except (TypeError, ValueError, UnicodeError) as exc:
        raise ShaError(f"cannot compute signature: {type(exc).__name__}") from None


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from a 43-character EncodingAESKey."""
    if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != 43:
        raise IllegalAesKeyError("EncodingAESKey must be 43 base64 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise IllegalAesKeyError("EncodingAESKey is not valid base64") from None
    if len(key) != 32:
        raise IllegalAesKeyError("EncodingAESKey does not decode to 32 bytes")
    return key


def generate_aes_key(random_bytes: bytes | None = None) -> str:
    """A fresh 43-character EncodingAESKey (from 32 random bytes)."""
    raw = random_bytes if random_bytes is not None else os.urandom(32)
    if len(raw) != 32:
        raise IllegalAesKeyError("an AES key needs 32 bytes")
    return base64.b64encode(raw).decode("ascii")[:43]


def pkcs7_pad(data: bytes, block: int = _BLOCK) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = _BLOCK) -> bytes:
    if not data:
        raise IllegalBufferError("decrypted buffer is empty")
    n = data[-1]
    if n < 1 or n > block or n > len(data) or data[-n:] != bytes([n]) * n:
        raise IllegalBufferError("decrypted buffer has invalid padding")
    return data[:-n]


class WXBizMsgCrypt:
    """Encrypts, signs, verifies and decrypts callback messages for one (token, EncodingAESKey, CorpID)."""

    __slots__ = ("_key", "_token", "corp_id")

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        if not isinstance(token, str) or not token:
            raise CallbackCryptoError("callback token must be a non-empty string")
        if not isinstance(corp_id, str) or not corp_id:
            raise CorpIdMismatchError("corp id must be a non-empty string")
        self._token = token
        self._key = decode_aes_key(encoding_aes_key)
        self.corp_id = corp_id

    def __repr__(self) -> str:
        return f"WXBizMsgCrypt(corp_id={self.corp_id!r})"

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self._token, timestamp, nonce, encrypt)

    def _check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = self.sign(timestamp, nonce, encrypt)
        given = msg_signature if isinstance(msg_signature, str) else ""
        if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
            raise SignatureError("msg_signature does not match")

    def encrypt_text(self, text: str, random_bytes: bytes | None = None) -> str:
        """Base64 ciphertext of `text` framed with the random prefix, its length and the CorpID."""
        prefix = random_bytes if random_bytes is not None else os.urandom(16)
        if len(prefix) != 16:
            raise EncryptError("the random prefix must be 16 bytes")
        try:
            body = text.encode("utf-8")
            plain = prefix + len(body).to_bytes(4, "big") + body + self.corp_id.encode("utf-8")
        except (AttributeError, UnicodeError, OverflowError) as exc:
            raise EncryptError(f"cannot encode plaintext: {type(exc).__name__}") from None
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        cipher = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
        return base64.b64encode(cipher).decode("ascii")

    def decrypt_text(self, encrypt: str) -> str:
        """Inverse of `encrypt_text`; checks the framing and the trailing CorpID."""
        try:
            cipher = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise DecryptError("ciphertext is not valid base64") from None
        if not cipher or len(cipher) % 16:
            raise DecryptError("ciphertext length is not a positive multiple of the AES block")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = pkcs7_unpad(decryptor.update(cipher) + decryptor.finalize())
        if len(plain) < 20:
            raise IllegalBufferError("decrypted buffer is too short")
        length = int.from_bytes(plain[16:20], "big")
        if 20 + length > len(plain):
            raise IllegalBufferError("decrypted length prefix exceeds the buffer")
        try:
            text = plain[20 : 20 + length].decode("utf-8")
            from_corp = plain[20 + length :].decode("utf-8")
        except UnicodeDecodeError:
            raise IllegalBufferError("decrypted buffer is not UTF-8") from None
        if not hmac.compare_digest(from_corp.encode(), self.corp_id.encode()):
            raise CorpIdMismatchError("decrypted CorpID does not match the configured corp id")
        return text

    def encrypt(self, xml: str, nonce: str | None = None, timestamp: str | int | None = None,
                random_bytes: bytes | None = None) -> EncryptedMessage:
        """Encrypt and sign `xml`; returns (encrypt_b64, signature, timestamp, nonce)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce_value = nonce if nonce is not None else secrets.token_hex(8)
        encrypted = self.encrypt_text(xml, random_bytes)
        return EncryptedMessage(encrypted, self.sign(ts, nonce_value, encrypted), ts, nonce_value)

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """URL verification (GET with echostr): check the signature and return the plaintext to echo."""
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt_text(echostr)

    def decrypt_message(self, msg_signature: str, timestamp: str, nonce: str, xml_body: str | bytes) -> str:
        """Check and decrypt a pushed body; returns the decrypted XML text."""
        body = parse_push_body(xml_body)
        self._check_signature(msg_signature, timestamp, nonce, body.encrypt)
        return self.decrypt_text(body.encrypt)

    def push_body(self, message: EncryptedMessage, to_user_name: str | None = None,
                  agent_id: str | None = None) -> str:
        """The XML body of a push: <Encrypt> plus the optional WeCom-style extras."""
        fields: list[tuple[str, str | int]] = []
        if to_user_name is not None:
            fields.append(("ToUserName", to_user_name))
        fields.append(("Encrypt", message.encrypt))
        if agent_id is not None:
            fields.append(("AgentID", agent_id))
        return render_xml(fields)


# --- a strict, entity-free XML subset: <xml><Name>text or CDATA</Name>...</xml>

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_WS = re.compile(r"\s*")
_DECL = re.compile(r"<\?xml(?:\s+[A-Za-z]+\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'))*\s*\?>")
_REF = re.compile(r"&(#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6}|lt|gt|amp|quot|apos);")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _skip_ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _unescape(text: str) -> str:
    out: list[str] = []
    pos = 0
    while True:
        amp = text.find("&", pos)
        if amp < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:amp])
        m = _REF.match(text, amp)
        if m is None:
            raise XmlParseError("entity references other than the predefined ones are not allowed")
        ref = m.group(1)
        if ref.startswith("#"):
            code = int(ref[2:], 16) if ref.startswith("#x") else int(ref[1:])
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or code == 0:
                raise XmlParseError("character reference out of range")
            out.append(chr(code))
        else:
            out.append(_PREDEFINED[ref])
        pos = m.end()


def parse_flat_xml(source: str | bytes, root: str = "xml") -> dict[str, str]:
    """Parse `<root><A>..</A><B><![CDATA[..]]></B></root>` into {"A": .., "B": ..}.

    No DTDs, entities (beyond the five predefined ones and character references), comments, processing
    instructions (other than a leading XML declaration), attributes, nesting or duplicate elements.
    """
    if isinstance(source, bytes | bytearray):
        try:
            text = bytes(source).decode("utf-8")
        except UnicodeDecodeError:
            raise XmlParseError("body is not UTF-8") from None
    elif isinstance(source, str):
        text = source
    else:
        raise XmlParseError("body must be text")
    if len(text) > MAX_XML_CHARS:
        raise XmlParseError("body is too large")
    text = text.removeprefix("\ufeff")
    pos = _skip_ws(text, 0)
    if text.startswith("<?xml", pos):
        decl = _DECL.match(text, pos)
        if decl is None:
            raise XmlParseError("malformed XML declaration")
        pos = _skip_ws(text, decl.end())
    if text.startswith("<!", pos):
        raise XmlParseError("DTDs, comments and declarations are not allowed")
    open_root = f"<{root}>"
    if not text.startswith(open_root, pos):
        raise XmlParseError(f"expected <{root}> root element")
    pos += len(open_root)
    fields: dict[str, str] = {}
    close_root = f"</{root}>"
    while True:
        pos = _skip_ws(text, pos)
        if text.startswith(close_root, pos):
            pos += len(close_root)
            break
        if pos >= len(text):
            raise XmlParseError(f"unterminated <{root}> element")
        if not text.startswith("<", pos) or text.startswith("<!", pos) or text.startswith("<?", pos):
            raise XmlParseError(f"unexpected content at offset {pos}")
        name_match = _NAME.match(text, pos + 1)
        if name_match is None:
            raise XmlParseError(f"invalid element name at offset {pos}")
        name = name_match.group(0)
        pos = _skip_ws(text, name_match.end())
        if text.startswith("/>", pos):
            value = ""
            pos += 2
        elif text.startswith(">", pos):
            value, pos = _read_content(text, pos + 1, name)
        else:
            raise XmlParseError(f"malformed start tag <{name}> (attributes are not allowed)")
        if name in fields:
            raise XmlParseError(f"duplicate element <{name}>")
        fields[name] = value
    if text[pos:].strip():
        raise XmlParseError("content after the root element")
    return fields


def _read_content(text: str, pos: int, name: str) -> tuple[str, int]:
    parts: list[str] = []
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            raise XmlParseError(f"unterminated element <{name}>")
        parts.append(_unescape(text[pos:lt]))
        if text.startswith("<![CDATA[", lt):
            end = text.find("]]>", lt + 9)
            if end < 0:
                raise XmlParseError(f"unterminated CDATA in <{name}>")
            parts.append(text[lt + 9 : end])
            pos = end + 3
            continue
        if text.startswith("</", lt):
            m = _NAME.match(text, lt + 2)
            if m is None or m.group(0) != name:
                raise XmlParseError(f"mismatched end tag for <{name}>")
            close = _skip_ws(text, m.end())
            if not text.startswith(">", close):
                raise XmlParseError(f"malformed end tag for <{name}>")
            return "".join(parts), close + 1
        raise XmlParseError(f"nested markup inside <{name}> is not allowed")


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(fields: list[tuple[str, str | int]], root: str = "xml") -> str:
    """Inverse of `parse_flat_xml`: strings as CDATA, ints as plain text."""
    out = [f"<{root}>"]
    for name, value in fields:
        if _NAME.fullmatch(name) is None:
            raise EncryptError(f"invalid element name {name!r}")
        out.append(f"<{name}>{value if isinstance(value, int) else _cdata(value)}</{name}>")
    out.append(f"</{root}>")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class PushBody:
    """The outer XML of a push. `to_user_name`/`agent_id` are WeCom extras Exmail may omit."""

    encrypt: str
    to_user_name: str | None = None
    agent_id: str | None = None


def parse_push_body(source: str | bytes) -> PushBody:
    fields = parse_flat_xml(source)
    encrypt = fields.get("Encrypt")
    if not encrypt:
        raise XmlParseError("push body has no <Encrypt> element")
    return PushBody(encrypt.strip(), fields.get("ToUserName"), fields.get("AgentID"))


@dataclass(frozen=True, slots=True)
class MailEvent:
    """Decrypted `Mail` message: a new mail arrived for `to_user_id`; `new_count` = unread count after it."""

    corp_id: str
    mail_id: str
    to_user_id: str
    from_user: str
    title: str
    time: int
    new_count: int
    msg_type: str = "Mail"

    def to_xml(self) -> str:
        return render_xml([
            ("CorpID", self.corp_id), ("MsgType", "Mail"), ("MailID", self.mail_id),
            ("ToUserID", self.to_user_id), ("FromUser", self.from_user), ("Title", self.title),
            ("Time", self.time), ("NewCount", self.new_count),
        ])


@dataclass(frozen=True, slots=True)
class UnReadEvent:
    """Decrypted `UnRead` message: the unread count of `user_id` changed (e.g. a mail was read)."""

    corp_id: str
    user_id: str
    time: int
    unread_count: int
    msg_type: str = "UnRead"

    def to_xml(self) -> str:
        return render_xml([
            ("CorpID", self.corp_id), ("MsgType", "UnRead"), ("UserID", self.user_id),
            ("Time", self.time), ("UnReadCount", self.unread_count),
        ])


CallbackEvent = MailEvent | UnReadEvent

_INT = re.compile(r"\s*-?[0-9]{1,19}\s*")


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None:
        raise XmlParseError(f"missing <{name}>")
    return value


def _int_field(fields: dict[str, str], name: str) -> int:
    value = _required(fields, name)
    if _INT.fullmatch(value) is None:
        raise XmlParseError(f"<{name}> is not an integer")
    return int(value)


def parse_event(source: str | bytes) -> CallbackEvent:
    """Parse decrypted XML into a `MailEvent` or `UnReadEvent`."""
    fields = parse_flat_xml(source)
    msg_type = _required(fields, "MsgType").strip()
    corp_id = _required(fields, "CorpID").strip()
    if msg_type == "Mail":
        return MailEvent(
            corp_id=corp_id, mail_id=_required(fields, "MailID").strip(),
            to_user_id=_required(fields, "ToUserID").strip(), from_user=fields.get("FromUser", ""),
            title=fields.get("Title", ""), time=_int_field(fields, "Time"),
            new_count=_int_field(fields, "NewCount"),
        )
    if msg_type == "UnRead":
        return UnReadEvent(
            corp_id=corp_id, user_id=_required(fields, "UserID").strip(), time=_int_field(fields, "Time"),
            unread_count=_int_field(fields, "UnReadCount"),
        )
    raise XmlParseError("unknown MsgType (expected Mail or UnRead)")


__all__ = [
    "CallbackCryptoError", "CallbackEvent", "CorpIdMismatchError", "DecryptError", "EncryptError",
    "EncryptedMessage", "IllegalAesKeyError", "IllegalBufferError", "MailEvent", "PushBody", "ShaError",
    "SignatureError", "UnReadEvent", "WXBizMsgCrypt", "XmlParseError", "decode_aes_key", "generate_aes_key",
    "parse_event", "parse_flat_xml", "parse_push_body", "render_xml", "signature",
]
