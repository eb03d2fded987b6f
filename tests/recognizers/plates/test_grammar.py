"""Tests of the Vietnamese plate grammar: tables of valid and invalid plates, round trips, real labels."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
import pytest

from matthan.recognizers.plates import grammar
from matthan.recognizers.plates.grammar import (
    CATEGORIES,
    CATEGORY_COLOURS,
    PROVINCES,
    PlateInfo,
    format_printed,
    is_valid,
    normalise,
    parse,
    random_plate,
    templates,
)

LABELS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "vn-plate-crops" / "labels.csv"

# text, rows given to parse, canonical text, category, province code, series, serial, colour
VALID = [
    # civil cars, one row, 5- and 4-digit serials, with or without separators
    ("30A-123.45", None, "30A-123.45", "civil", "30", "A", "12345", None),
    ("30A12345", None, "30A-123.45", "civil", "30", "A", "12345", None),
    ("30a 123.45", 1, "30A-123.45", "civil", "30", "A", "12345", None),
    ("51F-356.13", 1, "51F-356.13", "civil", "51", "F", "35613", None),
    ("51F-06609", None, "51F-066.09", "civil", "51", "F", "06609", None),
    ("29A-1234", None, "29A-1234", "civil", "29", "A", "1234", None),
    ("52Y-6490", 1, "52Y-6490", "civil", "52", "Y", "6490", None),
    # civil cars, two rows (square rear plates)
    ("30E\n270.10", None, "30E\n270.10", "civil", "30", "E", "27010", None),
    ("60M\n8965", 2, "60M\n8965", "civil", "60", "M", "8965", None),
    ("51F-356.13", 2, "51F\n356.13", "civil", "51", "F", "35613", None),
    # civil motorbikes: letter + digit, two letters, 5- and 4-digit serials
    ("29-B1\n123.45", None, "29-B1\n123.45", "civil", "29", "B1", "12345", None),
    ("29B1 12345", None, "29-B1\n123.45", "civil", "29", "B1", "12345", None),
    ("29B112345", 2, "29-B1\n123.45", "civil", "29", "B1", "12345", None),
    ("59-X2\r\n751.98", 2, "59-X2\n751.98", "civil", "59", "X2", "75198", None),
    ("54-T1\n5417", 2, "54-T1\n5417", "civil", "54", "T1", "5417", None),
    ("54T1 5417", None, "54-T1\n5417", "civil", "54", "T1", "5417", None),
    ("59-TA\n003.29", 2, "59-TA\n003.29", "civil", "59", "TA", "00329", None),
    ("60-FP\n1469", None, "60-FP\n1469", "civil", "60", "FP", "1469", None),
    ("59-R5\n123.45", 2, "59-R5\n123.45", "civil", "59", "R5", "12345", None),
    # electric mopeds MĐ, also labelled MD or M0
    ("29-MĐ1\n223.59", 2, "29-MĐ1\n223.59", "moped", "29", "MĐ1", "22359", None),
    ("29-MD1\n223.59", None, "29-MĐ1\n223.59", "moped", "29", "MĐ1", "22359", None),
    ("29-M01\n311.00", 2, "29-MĐ1\n311.00", "moped", "29", "MĐ1", "31100", None),
    ("29mđ122359", None, "29-MĐ1\n223.59", "moped", "29", "MĐ1", "22359", None),
    # special series
    ("60LD-005.84", 1, "60LD-005.84", "commercial", "60", "LD", "00584", None),
    ("60LD-4379", None, "60LD-4379", "commercial", "60", "LD", "4379", None),
    ("60LD00584", 2, "60LD\n005.84", "commercial", "60", "LD", "00584", None),
    ("29DA-012.34", None, "29DA-012.34", "commercial", "29", "DA", "01234", None),
    ("51KT-123.45", None, "51KT-123.45", "commercial", "51", "KT", "12345", None),
    ("51R-123.45", None, "51R-123.45", "trailer", "51", "R", "12345", None),
    ("29MK-012.34", None, "29MK-012.34", "special", "29", "MK", "01234", None),
    ("29TĐ-012.34", None, "29TĐ-012.34", "special", "29", "TĐ", "01234", None),
    # state (central agencies, code 80) and police (CD)
    ("80A-123.45", None, "80A-123.45", "state", "80", "A", "12345", "blue"),
    ("80B-1234", 1, "80B-1234", "state", "80", "B", "1234", "blue"),
    ("29CD-123.45", None, "29CD-123.45", "police", "29", "CD", "12345", "blue"),
    # military: two-letter unit code, 4 digits, one or two rows
    ("TM-12-34", None, "TM-12-34", "military", None, "TM", "1234", "red"),
    ("KA 12 34", 1, "KA-12-34", "military", None, "KA", "1234", "red"),
    ("AA\n56-78", None, "AA\n56-78", "military", None, "AA", "5678", "red"),
    ("QĐ-10-01", None, "QĐ-10-01", "military", None, "QĐ", "1001", "red"),
    # diplomatic and foreign: province, series, 3-digit country code, 2-digit order number
    ("80-NG-123-45", None, "80-NG-123-45", "diplomatic", "80", "NG", "12345", "white"),
    ("80NG12345", None, "80-NG-123-45", "diplomatic", "80", "NG", "12345", "white"),
    ("41-NG-166-01", 1, "41-NG-166-01", "diplomatic", "41", "NG", "16601", "white"),
    ("51-NG\n166-33", 2, "51-NG\n166-33", "diplomatic", "51", "NG", "16633", "white"),
    ("80-QT-011-02", None, "80-QT-011-02", "diplomatic", "80", "QT", "01102", "white"),
    ("80-CV-111-22", None, "80-CV-111-22", "diplomatic", "80", "CV", "11122", "white"),
    ("51-NN-123-45", None, "51-NN-123-45", "foreign-organisation", "51", "NN", "12345", "white"),
    # codes kept after the July 2025 merger
    ("61A-123.45", None, "61A-123.45", "civil", "61", "A", "12345", None),
    ("72-C1\n123.45", None, "72-C1\n123.45", "civil", "72", "C1", "12345", None),
    ("40A-123.45", None, "40A-123.45", "civil", "40", "A", "12345", None),
    ("39A-123.45", None, "39A-123.45", "civil", "39", "A", "12345", None),
]


@pytest.mark.parametrize(("text", "rows", "printed", "category", "code", "series", "serial", "colour"), VALID)
def test_valid_plates_parse_to_their_fields(
    text: str,
    rows: int | None,
    printed: str,
    category: str,
    code: str | None,
    series: str,
    serial: str,
    colour: str | None,
) -> None:
    info = parse(text, rows=rows)
    assert info is not None
    assert (info.text, info.category, info.province_code, info.series, info.serial, info.colour) == (
        printed,
        category,
        code,
        series,
        serial,
        colour,
    )
    assert info.rows == printed.count("\n") + 1
    assert info.normalised == normalise(printed)
    assert info.province == (PROVINCES[code] if code else None)
    if rows is None:
        assert is_valid(text)
    # The canonical form parses to the same plate, and so does its normalised form with the row count.
    assert parse(info.text) == info
    assert parse(info.normalised, rows=info.rows) is not None


INVALID = [
    # foreign plates (Czech, Croatian labels of the shared set): never forced into a Vietnamese format
    ("1AB2345", None),
    ("2SE8601", None),
    ("5B2-8893", None),
    ("CZ4B83940", None),
    ("BZC49-39", None),
    ("ZG1234AB", None),
    ("ZG567-EF", None),
    ("ZG\n776-FB", 2),
    ("489-T-051", None),
    ("ZG8135", None),
    ("OG501-0", None),
    ("B-K8559", None),  # BK is a military code, but a separator after B is not a Vietnamese plate
    ("ŽG-123-AB", None),  # letters outside A-Z and Đ
    # garbage
    ("", None),
    ("   ", None),
    ("-.-", None),
    ("ABCDEFG", None),
    ("1234567", None),
    ("30A", None),
    ("30A-123.456", None),
    ("30A-12.345", None),  # dot in the wrong place
    ("30-A-123.45", None),  # separator where the printed plate has none
    ("30A-123.45X", None),
    # bad province codes and series
    ("00A-123.45", None),
    ("13A-123.45", None),  # 13 (former Hà Bắc) is not issued
    ("42A-123.45", None),
    ("96A-123.45", None),
    ("30I-123.45", None),  # I, O, Q, W are not series letters
    ("30O-123.45", None),
    ("30W-123.45", None),
    ("29-B0\n123.45", 2),  # a motorbike series digit is 1-9
    ("29-I1\n123.45", 2),
    # zero serials and wrong lengths
    ("30A-000.00", None),
    ("29-B1\n0000", 2),
    ("29-B1\n123.456", 2),
    ("29-B1\n123", 2),
    # moped: 5-digit serial and a digit after MĐ
    ("29-MĐ1\n1234", 2),
    ("29-M0\n123.45", 2),
    # military: known unit codes, 4 digits
    ("ZZ-12-34", None),
    ("TM-123-45", None),
    ("TM-00-00", None),
    # diplomatic: 3 + 2 digits, neither zero
    ("80-NG-123-4", None),
    ("80-NG-000-45", None),
    ("80-NG-123-00", None),
    # row counts that disagree with the plate
    ("29-B1\n123.45", 1),  # two lines are never a one-row plate
    ("29B112345", 1),  # motorbike series exist only on two-row plates
    ("29-MĐ1\n223.59", 1),
    ("30A\n12\n345", None),  # three rows
    ("30A12\n345", 2),  # newline not at the row break
]


@pytest.mark.parametrize(("text", "rows"), INVALID)
def test_invalid_plates_are_rejected(text: str, rows: int | None) -> None:
    assert parse(text, rows=rows) is None
    if rows is None:
        assert not is_valid(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30A-123.45", "30A12345"),
        ("29-B1\n123.45", "29B112345"),
        ("29-MĐ1 223.59", "29MD122359"),
        ("29-mđ1 223.59", "29MD122359"),
        ("  zg 1234-ab ", "ZG1234AB"),
        ("Ž-1", "1"),
        ("", ""),
    ],
)
def test_normalise_keeps_upper_case_letters_and_digits(text: str, expected: str) -> None:
    assert normalise(text) == expected
    assert normalise(expected) == expected


@pytest.mark.parametrize(
    ("normalised", "rows", "expected"),
    [
        ("30A12345", 1, "30A-123.45"),
        ("30A12345", 2, "30-A1\n2345"),  # ... even when it could be a two-row car "30A\n123.45"
        ("30A1234", 2, "30A\n1234"),
        ("29B112345", 2, "29-B1\n123.45"),
        ("54T15417", 1, "54T-154.17"),
        ("54T15417", 2, "54-T1\n5417"),  # a two-row crop is far more often a motorbike
        ("29MD122359", 2, "29-MĐ1\n223.59"),
        ("TM1234", 1, "TM-12-34"),
        ("80NG12345", 1, "80-NG-123-45"),
    ],
)
def test_format_printed_inserts_separators(normalised: str, rows: int, expected: str) -> None:
    assert format_printed(normalised, rows) == expected
    assert normalise(expected) == normalised


@pytest.mark.parametrize(
    ("normalised", "rows", "expectation"),
    [
        ("30A12345", 1, nullcontext()),
        ("29B112345", 1, pytest.raises(ValueError, match="not a valid 1-row")),
        ("1AB2345", 1, pytest.raises(ValueError, match="not a valid")),
        ("30A12345", 3, pytest.raises(ValueError, match="rows must be")),
    ],
)
def test_format_printed_rejects_invalid_strings(
    normalised: str, rows: int, expectation: AbstractContextManager[object]
) -> None:
    with expectation:
        format_printed(normalised, rows)


def test_parse_rejects_a_bad_row_count() -> None:
    with pytest.raises(ValueError, match="rows must be"):
        parse("30A12345", rows=0)


def test_one_row_reading_wins_without_rows_or_separators() -> None:
    """An 8-character string reads as the one-row car unless the rows or the separators say otherwise."""
    assert parse("54T15417") == parse("54T-154.17")
    assert parse("54T15417", rows=1) == parse("54T-154.17")
    info = parse("54T15417", rows=2)
    assert info is not None and info.text == "54-T1\n5417"
    info = parse("54T\n154.17")
    assert info is not None and info.text == "54T\n154.17"


def test_to_dict_is_json_ready() -> None:
    info = parse("61A-123.45")
    assert info is not None
    data = info.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["province"] == "Hồ Chí Minh" and data["former_province"] == "Bình Dương"
    assert set(data) == {f.name for f in dataclasses.fields(PlateInfo)}


@pytest.mark.parametrize(
    ("code", "province", "former"),
    [
        ("29", "Hà Nội", "Hà Nội"),
        ("40", "Hà Nội", "Hà Nội"),
        ("41", "Hồ Chí Minh", "Hồ Chí Minh"),
        ("61", "Hồ Chí Minh", "Bình Dương"),
        ("72", "Hồ Chí Minh", "Bà Rịa - Vũng Tàu"),
        ("34", "Hải Phòng", "Hải Dương"),
        ("90", "Ninh Bình", "Hà Nam"),
        ("97", "Thái Nguyên", "Bắc Kạn"),
        ("75", "Huế", "Thừa Thiên Huế"),
    ],
)
def test_province_codes_after_the_2025_merger(code: str, province: str, former: str) -> None:
    assert PROVINCES[code] == province
    assert grammar.FORMER_PROVINCES[code] == former


def test_province_table_has_34_provinces_and_the_central_code() -> None:
    assert len(set(PROVINCES.values()) - {grammar.CENTRAL}) == 34
    assert set(PROVINCES) == set(grammar.FORMER_PROVINCES)
    hcmc = sorted(code for code, name in PROVINCES.items() if name == "Hồ Chí Minh")
    assert hcmc == ["41", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "61", "72"]
    hanoi = sorted(code for code, name in PROVINCES.items() if name == "Hà Nội")
    assert hanoi == ["29", "30", "31", "32", "33", "40"]


def _draws(seeds: range = range(40), per_seed: int = 50) -> list[tuple[PlateInfo, int | None, str | None]]:
    """Random plates over many seeds, rows and categories, with the arguments that drew them."""
    out: list[tuple[PlateInfo, int | None, str | None]] = []
    options: list[tuple[int | None, str | None]] = [(None, None), (1, None), (2, None)]
    options += [
        (rows, cat) for cat in CATEGORIES for rows in (None, 1, 2) if not (cat == "moped" and rows == 1)
    ]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for i in range(per_seed):
            rows, category = options[(seed * per_seed + i) % len(options)]
            out.append((random_plate(rng, rows=rows, category=category), rows, category))
    return out


DRAWS = _draws()


def test_random_plate_parses_back_to_itself() -> None:
    """parse(p.text) gives p back; only a yellow commercial or blue provincial plate reads as civil."""
    for plate, rows, category in DRAWS:
        for parsed in (parse(plate.text, rows=plate.rows), parse(plate.text)):
            assert parsed is not None, plate
            assert dataclasses.replace(parsed, category=plate.category, colour=plate.colour) == plate
            assert parsed.category == plate.category or (
                parsed.category == "civil" and plate.category in ("commercial", "state")
            )
            assert parsed.colour in (None, plate.colour)
        assert rows is None or plate.rows == rows
        assert category is None or plate.category == category
        assert plate.colour == CATEGORY_COLOURS[plate.category]
        # Without separators the string may read as another layout with the same characters.
        assert normalise(format_printed(plate.normalised, plate.rows)) == plate.normalised


def test_random_plate_distribution_is_realistic() -> None:
    rng = np.random.default_rng(7)
    plates = [random_plate(rng) for _ in range(2000)]
    categories = Counter(p.category for p in plates)
    assert categories["civil"] > 0.7 * len(plates)
    assert {"commercial", "state", "moped", "military"} <= set(categories)
    two_row = [p for p in plates if p.rows == 2 and p.category == "civil"]
    assert sum(bool(re.fullmatch(r"\d\d-[A-Z]\d", p.text.split("\n")[0])) for p in two_row) > len(two_row) / 2
    assert any(len(p.serial) == 4 for p in plates)
    assert all(p.colour == "red" for p in plates if p.category == "military")


@pytest.mark.parametrize(
    ("rows", "category", "expectation"),
    [
        (1, "moped", pytest.raises(ValueError, match="two rows")),
        (None, "taxi", pytest.raises(ValueError, match="unknown plate category")),
        (3, None, pytest.raises(ValueError, match="rows must be")),
        (2, "moped", nullcontext()),
    ],
)
def test_random_plate_rejects_impossible_requests(
    rows: int | None, category: str | None, expectation: AbstractContextManager[object]
) -> None:
    with expectation:
        random_plate(np.random.default_rng(0), rows=rows, category=category)


def _shape(normalised: str) -> str:
    return "".join("D" if ch.isdigit() else "L" for ch in normalised)


def test_templates_cover_every_random_plate() -> None:
    for plate, _, _ in DRAWS:
        assert _shape(plate.normalised) in templates(plate.rows)
        assert _shape(plate.normalised) in templates()


def test_templates_are_over_d_l_x_and_split_by_rows() -> None:
    for rows in (None, 1, 2):
        assert templates(rows)
        assert len(set(templates(rows))) == len(templates(rows))
        assert all(re.fullmatch(r"[DLX]+", t) for t in templates(rows))
    assert set(templates(1)) | set(templates(2)) == set(templates())
    assert "DDLDDDDDD" not in templates(1)  # motorbike series exist only on two rows


def _labels() -> list[dict[str, str]]:
    if not LABELS.exists():
        pytest.skip(f"real plate labels not found at {LABELS} (../shared is not mounted)")
    with LABELS.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_no_foreign_label_parses_as_vietnamese() -> None:
    """Czech and Croatian plates of the shared set must never be forced into a Vietnamese format."""
    foreign = [r for r in _labels() if r["country"] != "VN"]
    assert len(foreign) > 300
    accepted = [r["text"] for r in foreign if parse(r["text"], rows=int(r["rows"])) or parse(r["text"])]
    assert accepted == []


def test_vietnamese_labels_that_pass_the_label_check_parse() -> None:
    """Every label marked grammar-ok parses (measured 1501/1501); of the 238 marked fails-grammar, the
    accepted ones are mostly the moped series MĐ written MD or M0, which the label check did not know."""
    labels = [r for r in _labels() if r["country"] == "VN"]
    ok = [r for r in labels if r["label_check"] == "grammar-ok"]
    parsed_ok = [r for r in ok if parse(r["text"], rows=int(r["rows"])) is not None]
    assert len(parsed_ok) >= 0.99 * len(ok)
    failing = [r for r in labels if r["label_check"] == "fails-grammar"]
    accepted = [p for r in failing if (p := parse(r["text"], rows=int(r["rows"]))) is not None]
    assert len(accepted) <= 0.35 * len(failing)
    assert sum(p.category == "moped" for p in accepted) >= 0.8 * len(accepted)
