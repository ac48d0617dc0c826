"""The demo's inbox (e-mails with the label a correct classifier gives each, some with an
attachment) and the fake server's answer to it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

import msgspec

from ashford_llm.types import DocumentPart, ImagePart

if TYPE_CHECKING:
    from ashford_llm.testing.fake_server import AnswerRequest

Label: TypeAlias = Literal["billing", "support", "sales", "spam", "other"]


class EmailLabel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The JSON every classification must decode into."""

    label: Label
    confidence: float


SYSTEM_PROMPT = (
    "You classify customer e-mails. Reply with only a JSON object "
    '{"label": one of "billing", "support", "sales", "spam", "other", '
    '"confidence": a number from 0 to 1}.'
)

INBOX: tuple[tuple[str, Label], ...] = (
    ("My invoice for March charges me twice, please fix it.", "billing"),
    ("The app shows an error every time I open settings.", "support"),
    ("Could you send a quote for 40 seats?", "sales"),
    ("You are our lucky WINNER, click here to claim your prize!", "spam"),
    ("Thanks for the lovely chat at the conference yesterday.", "other"),
    ("I was charged after cancelling; I would like a refund.", "billing"),
    ("Export to CSV is broken since the last update.", "support"),
    ("Do you offer a discount for non-profits?", "sales"),
    ("Free money waiting for you, just send your bank details.", "spam"),
    ("Our office will be closed on Friday.", "other"),
    ("Where can I download a receipt for my last payment?", "billing"),
    ("The mobile app crashes when I upload a photo.", "support"),
    ("We would like a demo for our sales team next week.", "sales"),
    ("Claim your lottery prize before midnight!", "spam"),
    ("Welcome to the team, see you on Monday.", "other"),
    ("The billing address on my account is out of date.", "billing"),
    ("I cannot reset my password, the link never arrives.", "support"),
    ("What is the pricing for the enterprise plan?", "sales"),
    ("Click here for a free cruise, limited offer.", "spam"),
    ("Minutes of the board meeting are attached.", "other"),
    ("Your last invoice has the wrong VAT number.", "billing"),
    ("Help: the dashboard is blank after login.", "support"),
    ("We want to purchase 200 licences this quarter.", "sales"),
    ("Congratulations, you are a winner of our weekly draw.", "spam"),
    ("Lunch is on me on Thursday.", "other"),
    ("Please cancel the duplicate charge on my card.", "billing"),
    ("Sync fails with an error 500 since this morning.", "support"),
    ("Can we get a quote for the premium support add-on?", "sales"),
    ("Your parcel is waiting, click here to pay the fee.", "spam"),
    ("Reminder: the team photo is at 3 pm.", "other"),
)


def _png(width: int, height: int) -> bytes:
    """Returns a real grey PNG image of the given size (a scanned receipt stands in for it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = b"".join(b"\x00" + bytes([200]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _pdf(text: str) -> bytes:
    """Returns a real one-page PDF showing `text` (an attached invoice stands in for it)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


RECEIPT_PNG = _png(16, 16)
INVOICE_PDF = _pdf("Invoice 2026-031: 2 x Pro plan")


def attachment(index: int, label: str) -> ImagePart | DocumentPart | None:
    """The attachment of the e-mail at `index` (from 1), if it has one.

    Billing e-mails carry one: a receipt image at odd places, an invoice PDF at even ones.
    With the vendors taking turns, each vendor classifies both kinds.
    """
    if label != "billing":
        return None
    if index % 2:
        return ImagePart(RECEIPT_PNG)
    return DocumentPart(INVOICE_PDF, name="invoice.pdf")


_LABEL_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("spam", ("winner", "lottery", "free money", "click here", "prize")),
    ("billing", ("invoice", "refund", "charge", "billing", "payment", "receipt")),
    ("support", ("error", "broken", "crash", "help", "bug", "cannot", "can't")),
    ("sales", ("pricing", "quote", "demo", "purchase", "buy", "discount")),
)


def classify_email(request: AnswerRequest) -> str:
    """The fake server's answer for the demo: a JSON label for the last user message.

    The label (billing, support, sales, spam, other) comes from keywords, with confidence 0.9
    on a keyword hit, else 0.5. Written with spaces, as models write JSON, so a stream of it
    has several chunks.
    """
    text = request.last_user_text.lower()
    label, confidence = "other", 0.5
    for candidate, keywords in _LABEL_KEYWORDS:
        if any(keyword in text for keyword in keywords):
            label, confidence = candidate, 0.9
            break
    return f'{{"label": {msgspec.json.encode(label).decode()}, "confidence": {confidence}}}'
