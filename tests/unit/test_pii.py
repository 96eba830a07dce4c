"""Personal data: found, scrubbed from texts, masked in the private model."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from thera.kernel import pii

TEXT = (
    "Call +55 (11) 91234-5678 or (415) 555-0199, write to Jane.Doe@acme.io or info@acme.io. "
    "Founded 2012-2020, 10,000 users, version 1.2.3, launched 2020-01-15."
)


def test_finds_contacts_but_not_years_counts_or_dates() -> None:
    assert pii.find_emails(TEXT) == ["jane.doe@acme.io", "info@acme.io"]
    assert pii.find_phones(TEXT) == ["+55 (11) 91234-5678", "(415) 555-0199"]


def test_scrub_leaves_the_rest_of_the_text_alone() -> None:
    assert pii.scrub(TEXT) == (
        "Call [phone] or [phone], write to [email] or [email]. "
        "Founded 2012-2020, 10,000 users, version 1.2.3, launched 2020-01-15."
    )


def test_masks_keep_role_addresses_and_hide_people() -> None:
    assert pii.mask_email("Jane.Doe@acme.io") == "j*******@acme.io"
    assert pii.mask_email("sales@acme.io") == "sales@acme.io"
    assert pii.mask_phone("+55 (11) 91234-5678") == "+55 *******5678"
    assert pii.mask_phone("(415) 555-0199") == "******0199"


LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum()
)
LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
WORDS = st.text("abcdefghij klmnop,;:!?()\n", max_size=60)


@given(LOCAL, LABEL, st.sampled_from(["com", "io", "com.br", "co.uk"]), WORDS, WORDS)
def test_no_generated_address_survives_scrubbing(local: str, label: str, tld: str, before: str, after: str) -> None:
    address = f"{local}@{label}.{tld}"
    text = f"{before} {address} {after}"
    assert address.lower() in pii.find_emails(text)
    assert address not in pii.scrub(text) and not pii.contains_pii(pii.scrub(text))


@given(
    st.sampled_from(["+1 ", "+55 ", "+44 ", ""]),
    st.lists(st.integers(100, 9999), min_size=3, max_size=4),
    st.sampled_from([" ", "-", "."]),
    WORDS,
)
def test_no_generated_phone_number_survives_scrubbing(code: str, groups: list[int], sep: str, words: str) -> None:
    number = code + sep.join(str(g) for g in groups)
    digits = sum(ch.isdigit() for ch in number)
    text = f"{words} {number} {words}"
    if pii.MIN_PHONE_DIGITS <= digits <= pii.MAX_PHONE_DIGITS:
        assert number not in pii.scrub(text)
        assert not pii.contains_pii(pii.scrub(text))
