"""WXBizMsgCrypt (pipeline/exmail/crypto.py): round trips, an independent implementation both ways, a
known-answer vector, error codes, secret hygiene, and parser robustness under hypothesis."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.exmail.crypto import (
    CallbackCryptoError,
    CorpIdMismatchError,
    DecryptError,
    IllegalAesKeyError,
    IllegalBufferError,
    MailEvent,
    SignatureError,
    UnReadEvent,
    WXBizMsgCrypt,
    XmlParseError,
    generate_aes_key,
    parse_event,
    parse_flat_xml,
    parse_push_body,
)

KEY_BYTES = bytes(range(32))
AES_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
TOKEN = "token123"
CORP = "wm0123456789abcdef"
RANDOM16 = b"0123456789abcdef"
KAT_XML = "<xml><ToUserID><![CDATA[alice@example.com]]></ToUserID><NewCount>3</NewCount></xml>"
KAT_CIPHERTEXT = (
    "4j/AuRx71kQlxVlzbpsMWMdvokooOIVGbf3IC2vMYyYZrkHspnflRKCO9LIDnYGCJg7Jg/08c8Ph2gOF4uqzPKWne3j3wYhDNGan68QdwU"
    "/oz+9W/0EdBa6+NkqaGfLnFrSvlaG/eGhxGDNq6/vaxd5mfcsPFUUVAfXbfaaLBXs="
)
KAT_SIGNATURE = "f8f109495c4d28ad1f356a5100cb521e36feb29c"


def crypt() -> WXBizMsgCrypt:
    return WXBizMsgCrypt(TOKEN, AES_KEY, CORP)


# --- a second, minimal implementation straight from the algorithm description

def ref_encrypt(xml: str, key: bytes, corp: str, prefix: bytes) -> str:
    body = xml.encode()
    plain = prefix + len(body).to_bytes(4, "big") + body + corp.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def ref_decrypt(b64: str, key: bytes) -> tuple[str, str]:
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(b64)) + dec.finalize()
    plain = plain[: -plain[-1]]
    length = int.from_bytes(plain[16:20], "big")
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def ref_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def test_crypto_known_answer_vector_step_by_step() -> None:
    assert base64.b64decode(AES_KEY + "=") == KEY_BYTES
    assert ref_encrypt(KAT_XML, KEY_BYTES, CORP, RANDOM16) == KAT_CIPHERTEXT
    assert ref_signature(TOKEN, "1700000000", "nonce42", KAT_CIPHERTEXT) == KAT_SIGNATURE
    message = crypt().encrypt(KAT_XML, nonce="nonce42", timestamp=1700000000, random_bytes=RANDOM16)
    assert message == (KAT_CIPHERTEXT, KAT_SIGNATURE, "1700000000", "nonce42")
    assert len(base64.b64decode(message.encrypt)) == 128  # 121 bytes + 7 bytes of padding


def test_crypto_round_trip_message_and_url() -> None:
    c = crypt()
    message = c.encrypt(KAT_XML)
    body = c.push_body(message)
    assert c.decrypt_message(message.signature, message.timestamp, message.nonce, body) == KAT_XML
    echo = c.encrypt("echo-plaintext-123")
    assert c.verify_url(echo.signature, echo.timestamp, echo.nonce, echo.encrypt) == "echo-plaintext-123"


def test_crypto_module_encrypts_reference_decrypts() -> None:
    message = crypt().encrypt("<xml><Title><![CDATA[季度报告]]></Title></xml>")
    assert ref_decrypt(message.encrypt, KEY_BYTES) == ("<xml><Title><![CDATA[季度报告]]></Title></xml>", CORP)
    assert message.signature == ref_signature(TOKEN, message.timestamp, message.nonce, message.encrypt)


def test_crypto_reference_encrypts_module_decrypts() -> None:
    b64 = ref_encrypt("<xml><A>1</A></xml>", KEY_BYTES, CORP, b"x" * 16)
    sig = ref_signature(TOKEN, "42", "n", b64)
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{b64}]]></Encrypt>" \
           "<AgentID><![CDATA[1]]></AgentID></xml>"
    assert crypt().decrypt_message(sig, "42", "n", body) == "<xml><A>1</A></xml>"


def test_crypto_bad_signature_is_40001() -> None:
    message = crypt().encrypt(KAT_XML)
    with pytest.raises(SignatureError) as err:
        crypt().decrypt_message("0" * 40, message.timestamp, message.nonce, crypt().push_body(message))
    assert err.value.code == -40001


def test_crypto_corp_mismatch_is_40005() -> None:
    message = WXBizMsgCrypt(TOKEN, AES_KEY, "wwOTHERCORP0000000").encrypt(KAT_XML)
    with pytest.raises(CorpIdMismatchError) as err:
        crypt().decrypt_message(message.signature, message.timestamp, message.nonce, crypt().push_body(message))
    assert err.value.code == -40005


def test_crypto_illegal_aes_key_is_40004() -> None:
    for bad in ("short", "!" * 43, AES_KEY[:-1]):
        with pytest.raises(IllegalAesKeyError) as err:
            WXBizMsgCrypt(TOKEN, bad, CORP)
        assert err.value.code == -40004


def test_crypto_decrypt_errors_are_40007_and_40008() -> None:
    c = crypt()
    with pytest.raises(DecryptError) as err:
        c.decrypt_text("not base64 !!")
    assert err.value.code == -40007
    with pytest.raises(DecryptError):
        c.decrypt_text(base64.b64encode(b"123").decode())
    enc = Cipher(algorithms.AES(KEY_BYTES), modes.CBC(KEY_BYTES[:16])).encryptor()
    garbage = base64.b64encode(enc.update(b"\x00" * 32) + enc.finalize()).decode()
    with pytest.raises(IllegalBufferError) as err2:
        c.decrypt_text(garbage)
    assert err2.value.code == -40008


def test_crypto_parse_error_is_40002() -> None:
    with pytest.raises(XmlParseError) as err:
        parse_push_body("<xml><ToUserName>x</ToUserName></xml>")
    assert err.value.code == -40002


def test_crypto_secrets_never_in_repr_or_errors() -> None:
    c = crypt()
    assert TOKEN not in repr(c) and AES_KEY not in repr(c)
    message = c.encrypt(KAT_XML)
    try:
        c.decrypt_message("bad", message.timestamp, message.nonce, c.push_body(message))
    except CallbackCryptoError as exc:
        assert TOKEN not in str(exc) and AES_KEY not in str(exc)
    try:
        WXBizMsgCrypt(TOKEN, AES_KEY[:-1] + "?", CORP)
    except CallbackCryptoError as exc:
        assert AES_KEY[:-1] not in str(exc)


def test_crypto_generate_aes_key_is_usable() -> None:
    key = generate_aes_key()
    assert len(key) == 43
    WXBizMsgCrypt(TOKEN, key, CORP)


def test_crypto_events_render_and_parse() -> None:
    mail = MailEvent(CORP, "ZmFrZS1tYWlsLWlkLTAwMDE=", "alice@example.com", '"bob@p.com"<bob@p.com>',
                     "Quarterly ]]> report <&>", 1610007415, 3)
    assert parse_event(mail.to_xml()) == mail
    unread = UnReadEvent(CORP, "alice@example.com", 1610007500, 2)
    assert parse_event(unread.to_xml()) == unread


def test_crypto_parser_accepts_plain_text_and_declaration() -> None:
    xml = ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<xml>\n <CorpID><![CDATA[wm1]]></CorpID>"
           "<MsgType>Mail</MsgType><MailID>m1</MailID><ToUserID>a@x.com</ToUserID>"
           "<FromUser>bob</FromUser><Title>a &amp; b</Title><Time>1610007415</Time><NewCount>3</NewCount></xml>")
    event = parse_event(xml)
    assert isinstance(event, MailEvent)
    assert event.title == "a & b" and event.new_count == 3 and event.from_user == "bob"


@pytest.mark.parametrize("xml", [
    '<!DOCTYPE xml [<!ENTITY x "boom">]><xml><Encrypt>&x;</Encrypt></xml>',
    "<xml><Encrypt>&x;</Encrypt></xml>",
    '<xml><Encrypt a="1">x</Encrypt></xml>',
    "<xml><Encrypt><Inner>x</Inner></Encrypt></xml>",
    "<xml><Encrypt>x</Encrypt><Encrypt>y</Encrypt></xml>",
    "<xml><!-- c --><Encrypt>x</Encrypt></xml>",
    "<xml><Encrypt>x</Encrypt>",
    "<xml><Encrypt>x</Encrypt></xml><more/>",
    '<?xml version="1.0"?><!DOCTYPE foo SYSTEM "file:///etc/passwd"><xml/>',
])
def test_crypto_parser_rejects_dtds_entities_and_structure(xml: str) -> None:
    with pytest.raises(XmlParseError):
        parse_push_body(xml)


def test_crypto_event_field_errors() -> None:
    with pytest.raises(XmlParseError):
        parse_event("<xml><CorpID>c</CorpID><MsgType>Mail</MsgType></xml>")
    with pytest.raises(XmlParseError):
        parse_event("<xml><CorpID>c</CorpID><MsgType>UnRead</MsgType><UserID>u</UserID><Time>x</Time>"
                    "<UnReadCount>1</UnReadCount></xml>")
    with pytest.raises(XmlParseError):
        parse_event("<xml><CorpID>c</CorpID><MsgType>Other</MsgType></xml>")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_crypto_parsers_only_raise_callback_errors_on_any_text(text: str) -> None:
    for parser in (parse_flat_xml, parse_push_body, parse_event):
        try:
            parser(text)
        except CallbackCryptoError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_crypto_parsers_only_raise_callback_errors_on_any_bytes(data: bytes) -> None:
    for parser in (parse_flat_xml, parse_push_body, parse_event):
        try:
            parser(data)
        except CallbackCryptoError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text(), st.text(), st.text())
def test_crypto_decrypt_message_only_raises_callback_errors(sig: str, ts: str, nonce: str, body: str) -> None:
    try:
        crypt().decrypt_message(sig, ts, nonce, body)
    except CallbackCryptoError:
        pass
    try:
        crypt().verify_url(sig, ts, nonce, body)
    except CallbackCryptoError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))),
       st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_crypto_round_trip_property(title: str, user: str) -> None:
    event = MailEvent(CORP, "mid", user, "from", title, 1, 0)
    c = crypt()
    message = c.encrypt(event.to_xml())
    decrypted = c.decrypt_message(message.signature, message.timestamp, message.nonce, c.push_body(message))
    parsed = parse_event(decrypted)
    assert isinstance(parsed, MailEvent)
    assert parsed.title == title and parsed.to_user_id == user.strip()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
                       st.text(alphabet=st.characters(exclude_categories=("Cs",))), max_size=6))
def test_crypto_flat_xml_render_parse_property(fields: dict[str, str]) -> None:
    from pipeline.exmail.crypto import render_xml

    assert parse_flat_xml(render_xml(list(fields.items()))) == fields
