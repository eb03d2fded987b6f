"""Vietnamese licence-plate grammar: normalise, parse, validate, format and draw plate strings.

Sources (Ministry of Public Security circulars on vehicle registration; military plates follow the Ministry
of National Defence's own scheme):

- Circular 58/2020/TT-BCA: series letters and plate colours, the special series (LD, DA, KT, CD, R, MK, MĐ,
  TĐ, HC), the foreign series NG / QT / CV / NN, and the province code table (Appendix 2).
- Circular 24/2023/TT-BCA (from 15 Aug 2023): plates follow the owner; 5-digit serials; motorbike series
  of two letters taken from the 20 series letters; blue (state) plates use only A–E; yellow plates with
  black text for commercial transport use the same 20 letters as white plates.
- Circular 79/2024/TT-BCA (from 1 Jan 2025, replacing 24/2023): same plate formats. After the province
  merger of 1 July 2025 (63 -> 34 provinces) vehicles register under the merged province, which keeps
  every old code; plates issued before stay valid.

Province codes: the pre-2025 table of 58/2020 Appendix 2 (11–99; 13, 42, 44–46, 87, 91 and 96 unused;
80 is the Traffic Police Department's code for central agencies and foreign missions), each mapped to the
merged province it belongs to since 1 July 2025, as reported from the Traffic Police Department's
instruction (Lao Động, June 2025): Hà Nội 29–33, 40; Hồ Chí Minh City 41, 50–59, 61, 72; Hải Phòng 15,
16, 34; ... (`PROVINCES`). `FORMER_PROVINCES` gives the pre-merger province each code was issued for.

Formats accepted (normalised form: D digit, L letter; printed form in quotes):

========================  ======  =========================  ==========================================
kind                      rows    normalised                 printed
========================  ======  =========================  ==========================================
car, one series letter    1 or 2  DD L DDDDD, DD L DDDD      "30A-123.45", "29A-1234", "30E\\n270.10"
car, special series       1 or 2  DD LL DDDDD, DD LL DDDD    "60LD-005.84", "60LD-4379"
motorbike, letter+digit   2       DD LD DDDDD, DD LD DDDD    "29-B1\\n123.45", "54-T1\\n5417"
motorbike, two letters    2       DD LL DDDDD, DD LL DDDD    "59-TA\\n003.29", "60-FP\\n1469"
electric moped MĐ         2       DD MĐD DDDDD               "29-MĐ1\\n223.59"
foreign (NG QT CV NN)     1 or 2  DD LL DDD DD               "80-NG-123-45", "80-NG\\n123-45"
military                  1 or 2  LL DDDD                    "TM-12-34", "TM\\n12-34"
========================  ======  =========================  ==========================================

- Series letters are the 20 letters A B C D E F G H K L M N P S T U V X Y Z (no I, J, O, Q, W). For
  cars R is the trailer series. Motorbike letter+digit series also accept R (real labels carry 59-R5...);
  their digit is 1–9.
- Foreign plates: province code, series, a 3-digit country / organisation code (Appendix 3 of the
  circulars), then a 2-digit order number (01 is the head of mission). Older plates that put the series
  after the country code are not accepted.
- The moped series MĐ is accepted when read MD or M0 (a common OCR and labelling confusion) and always
  reported as MĐ: `PlateInfo.normalised` then differs from `normalise(text)` in that one character.
- Serials of all zeros are rejected; separators in the text are checked (see `parse`).

Categories (`CATEGORIES`) and colours. `parse` reports only what the text shows; `random_plate` gives
every plate the usual colour of its category (`CATEGORY_COLOURS`):

====================  =====================================================  ============  ===========
category              text that implies it                                   parse colour  random_plate
====================  =====================================================  ============  ===========
civil                 any ordinary series (car letter, motorbike series)     None          white
commercial            series LD, DA, KT (foreign-invested, project, army     None          yellow
                      enterprise)
state                 ordinary series under code 80 (central agencies)       blue          blue
police                series CD (police special-purpose vehicles)            blue          blue
military              unit code of `MILITARY_UNITS` + 4 digits               red           red
diplomatic            series NG, QT, CV                                      white         white
foreign-organisation  series NN                                              white         white
moped                 series MĐ + digit (electric motorbikes)                None          white
trailer               car series R                                           None          white
special               series MK (tractor), TĐ (pilot vehicle), HC (limited)  None          white
====================  =====================================================  ============  ===========

The text of a yellow commercial-transport plate (24/2023) or of a provincial blue plate (series A–E) is
that of a white civil plate: `parse` reports it as civil with colour None. `random_plate` draws such
plates too (category "commercial" / "state" with their colour), so its output parses back to the same
plate with the same or a less specific category and colour. Temporary paper plates (series T) and
economic-zone plates (two-letter zone codes on yellow) are not told apart from ordinary series.

Military codes are a reasonable, not exhaustive, table built from public descriptions of the scheme: the
first letter is the level (A army corps, B arms and commands, H academies, K military regions, P units
under the ministry, Q services, T general departments), the second the unit. Codes with Đ (e.g. QĐ, named
in the issue) normalise to D like every other Đ.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

#: The 20 series letters of civil plates (24/2023): A–Z without I, J, O, Q, W and R.
SERIES_LETTERS = "ABCDEFGHKLMNPSTUVXYZ"
#: Letters accepted in a motorbike letter+digit series (the 20 plus R, seen on real motorbike plates).
BIKE_LETTERS = SERIES_LETTERS + "R"
#: Letters that can appear anywhere on a plate in normalised form (military codes add their own).
LETTERS = "ABCDEFGHKLMNPQRSTUVXYZ"

CATEGORIES = (
    "civil",
    "commercial",
    "state",
    "police",
    "military",
    "diplomatic",
    "foreign-organisation",
    "moped",
    "trailer",
    "special",
)
COLOURS = ("white", "yellow", "blue", "red")

#: Colour a plate of each category has when drawn by `random_plate` (the usual colour of the category).
CATEGORY_COLOURS: dict[str, str] = {
    "civil": "white",
    "commercial": "yellow",
    "state": "blue",
    "police": "blue",
    "military": "red",
    "diplomatic": "white",
    "foreign-organisation": "white",
    "moped": "white",
    "trailer": "white",
    "special": "white",
}
#: Colour `parse` reports: only where the text alone fixes it.
_TEXT_COLOURS: dict[str, str | None] = {
    "civil": None,
    "commercial": None,
    "state": "blue",
    "police": "blue",
    "military": "red",
    "diplomatic": "white",
    "foreign-organisation": "white",
    "moped": None,
    "trailer": None,
    "special": None,
}

_MERGED: dict[str, tuple[int, ...]] = {
    "Hà Nội": (29, 30, 31, 32, 33, 40),
    "Hồ Chí Minh": (41, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 61, 72),
    "Hải Phòng": (15, 16, 34),
    "Ninh Bình": (35, 18, 90),
    "Cần Thơ": (65, 83, 95),
    "Phú Thọ": (19, 28, 88),
    "Lâm Đồng": (49, 48, 86),
    "Đồng Nai": (60, 39, 93),
    "Vĩnh Long": (64, 71, 84),
    "Bắc Ninh": (99, 98),
    "Tuyên Quang": (22, 23),
    "Lào Cai": (24, 21),
    "Thái Nguyên": (20, 97),
    "Hưng Yên": (89, 17),
    "Quảng Trị": (74, 73),
    "Đà Nẵng": (43, 92),
    "Quảng Ngãi": (76, 82),
    "Gia Lai": (81, 77),
    "Đắk Lắk": (47, 78),
    "Khánh Hòa": (79, 85),
    "Tây Ninh": (70, 62),
    "Đồng Tháp": (66, 63),
    "Cà Mau": (69, 94),
    "An Giang": (67, 68),
    "Cao Bằng": (11,),
    "Lạng Sơn": (12,),
    "Quảng Ninh": (14,),
    "Lai Châu": (25,),
    "Sơn La": (26,),
    "Điện Biên": (27,),
    "Thanh Hóa": (36,),
    "Nghệ An": (37,),
    "Hà Tĩnh": (38,),
    "Huế": (75,),
}
#: Name used for code 80, registered by the Traffic Police Department for central agencies and missions.
CENTRAL = "Trung ương (Cục Cảnh sát giao thông)"

#: Province code -> province it belongs to since 1 July 2025.
PROVINCES: dict[str, str] = {f"{code:02d}": name for name, codes in _MERGED.items() for code in codes}
PROVINCES["80"] = CENTRAL

#: Province code -> province it was issued for before 1 July 2025 (58/2020 Appendix 2).
FORMER_PROVINCES: dict[str, str] = {
    **{f"{c}": "Hà Nội" for c in (29, 30, 31, 32, 33, 40)},
    **{f"{c}": "Hồ Chí Minh" for c in (41, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59)},
    "11": "Cao Bằng", "12": "Lạng Sơn", "14": "Quảng Ninh", "15": "Hải Phòng", "16": "Hải Phòng",
    "17": "Thái Bình", "18": "Nam Định", "19": "Phú Thọ", "20": "Thái Nguyên", "21": "Yên Bái",
    "22": "Tuyên Quang", "23": "Hà Giang", "24": "Lào Cai", "25": "Lai Châu", "26": "Sơn La",
    "27": "Điện Biên", "28": "Hòa Bình", "34": "Hải Dương", "35": "Ninh Bình", "36": "Thanh Hóa",
    "37": "Nghệ An", "38": "Hà Tĩnh", "39": "Đồng Nai", "43": "Đà Nẵng", "47": "Đắk Lắk", "48": "Đắk Nông",
    "49": "Lâm Đồng", "60": "Đồng Nai", "61": "Bình Dương", "62": "Long An", "63": "Tiền Giang",
    "64": "Vĩnh Long", "65": "Cần Thơ", "66": "Đồng Tháp", "67": "An Giang", "68": "Kiên Giang",
    "69": "Cà Mau", "70": "Tây Ninh", "71": "Bến Tre", "72": "Bà Rịa - Vũng Tàu", "73": "Quảng Bình",
    "74": "Quảng Trị", "75": "Thừa Thiên Huế", "76": "Quảng Ngãi", "77": "Bình Định", "78": "Phú Yên",
    "79": "Khánh Hòa", "80": CENTRAL, "81": "Gia Lai", "82": "Kon Tum", "83": "Sóc Trăng", "84": "Trà Vinh",
    "85": "Ninh Thuận", "86": "Bình Thuận", "88": "Vĩnh Phúc", "89": "Hưng Yên", "90": "Hà Nam",
    "92": "Quảng Nam", "93": "Bình Phước", "94": "Bạc Liêu", "95": "Hậu Giang", "97": "Bắc Kạn",
    "98": "Bắc Giang", "99": "Bắc Ninh",
}  # fmt: skip

#: Two-letter car series with their own meaning (normalised key -> printed series, category, meaning).
SPECIAL_SERIES: dict[str, tuple[str, str, str]] = {
    "LD": ("LD", "commercial", "foreign-invested enterprise or vehicle leased from abroad"),
    "DA": ("DA", "commercial", "foreign-invested project"),
    "KT": ("KT", "commercial", "army-owned enterprise"),
    "CD": ("CD", "police", "police special-purpose vehicle"),
    "MK": ("MK", "special", "tractor"),
    "TD": ("TĐ", "special", "domestically built vehicle on a pilot licence"),
    "HC": ("HC", "special", "vehicle restricted to a limited area"),
}
#: Foreign series (normalised key -> category, meaning); the 3 digits after it are the country code.
FOREIGN_SERIES: dict[str, tuple[str, str]] = {
    "NG": ("diplomatic", "diplomatic mission or consulate"),
    "QT": ("diplomatic", "international organisation"),
    "CV": ("diplomatic", "administrative or technical staff of a mission"),
    "NN": ("foreign-organisation", "foreign organisation, office or resident"),
}
_MILITARY_LEVELS = {
    "A": "army corps",
    "B": "arm or command",
    "H": "academy",
    "K": "military region",
    "P": "unit under the Ministry of National Defence",
    "Q": "service",
    "T": "general department",
}
_MILITARY_NAMED = {
    "AA": "1st Army Corps",
    "AB": "2nd Army Corps",
    "AC": "3rd Army Corps",
    "AD": "4th Army Corps",
    "AT": "12th Army Corps (Trường Sơn)",
    "BC": "Engineers",
    "BH": "Chemical Corps",
    "BK": "Special Forces",
    "BL": "Mausoleum Guard Command",
    "HA": "National Defence Academy",
    "HB": "Army Academy",
    "HD": "Military Technical Academy",
    "HE": "Logistics Academy",
    "HH": "Military Medical Academy",
    "KA": "Military Region 1",
    "KB": "Military Region 2",
    "KC": "Military Region 3",
    "KD": "Military Region 4",
    "KV": "Military Region 5",
    "KP": "Military Region 7",
    "KK": "Military Region 9",
    "KT": "Hà Nội Capital Command",
    "QA": "Air Defence - Air Force",
    "QB": "Border Guard",
    "QH": "Navy",
    "TC": "General Department of Politics",
    "TH": "General Department of Logistics",
    "TK": "General Department of Defence Industry",
    "TT": "General Department of Technology",
    "TM": "General Staff",
}
_MILITARY_CODES = (
    *("AA", "AB", "AC", "AD", "AT"),
    *("BB", "BC", "BH", "BK", "BL", "BP", "BS", "BT", "BV"),
    *("HA", "HB", "HC", "HD", "HE", "HH"),
    *("KA", "KB", "KC", "KD", "KK", "KP", "KT", "KV"),
    *("PA", "PK", "PM", "PP", "PQ"),
    *("QA", "QB", "QĐ", "QH"),
    *("TC", "TH", "TK", "TM", "TN", "TT"),
)
#: Military unit codes (normalised key -> printed code, meaning).
MILITARY_UNITS: dict[str, tuple[str, str]] = {
    code.replace("Đ", "D"): (code, _MILITARY_NAMED.get(code, _MILITARY_LEVELS[code[0]]))
    for code in _MILITARY_CODES
}

# Normalised templates (D digit, L letter) with the row counts they occur in, most frequent first.
_TEMPLATE_ROWS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("DDLDDDDDD", (2,)),  # motorbike letter+digit, 5-digit serial
    ("DDLDDDDD", (1, 2)),  # car 5-digit; motorbike letter+digit, 4-digit serial
    ("DDLLDDDDD", (1, 2)),  # motorbike two letters / car special series / foreign, 5 digits
    ("DDLDDDD", (1, 2)),  # car 4-digit
    ("DDLLDDDD", (1, 2)),  # motorbike two letters / car special series, 4 digits
    ("DDLLDDDDDD", (2,)),  # moped MĐ + digit
    ("LLDDDD", (1, 2)),  # military
)

_ALNUM = re.compile(r"[A-Z0-9]")
_SERIES_DIGITS = "123456789"  # the digit of a motorbike series is never 0


def normalise(text: str) -> str:
    """Comparison form of a plate string: upper case, Đ -> D, only [A-Z0-9] kept."""
    return "".join(ch for ch in text.upper().replace("Đ", "D") if _ALNUM.fullmatch(ch))


@dataclass(frozen=True)
class PlateInfo:
    """One Vietnamese plate, as printed and in its fields.

    `text` is the canonical printed form ('-' and '.' as on the plate, '\\n' between the rows of a
    two-row plate); `normalised` is `normalise(text)`. `series` is printed (with Đ: "MĐ1", "TĐ", "A",
    "NG", "TM"); `serial` holds the digits after it (for foreign plates the country code and order
    number, "12345").
    Military plates have no province. `category` is one of `CATEGORIES`; `colour` one of `COLOURS` or None
    when the text does not fix it (see the module docstring).
    """

    text: str
    normalised: str
    rows: int
    province_code: str | None
    province: str | None
    series: str
    serial: str
    category: str
    colour: str | None
    former_province: str | None = None
    series_meaning: str | None = None

    def to_dict(self) -> dict[str, str | int | None]:
        """Plain dict of the fields (JSON-ready)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class _Reading:
    """One way to read a normalised string: the plate, where its printed form has separators, a tie-break."""

    info: PlateInfo
    breaks: frozenset[int]  # positions in the normalised string preceded by a separator or the row break
    row_break: int | None  # position of the row break for two-row plates
    order: int  # lower wins a tie: more specific kinds first


def _printed_serial(digits: str, offset: int) -> tuple[str, set[int]]:
    """Printed serial ("123.45" for 5 digits) and its separator positions in the normalised string."""
    if len(digits) == 5:
        return f"{digits[:3]}.{digits[3:]}", {offset + 3}
    return digits, set()


def _local(
    code: str,
    text: str,
    normalised: str,
    rows: int,
    series: str,
    serial: str,
    category: str,
    meaning: str | None,
) -> PlateInfo:
    """A plate registered in a province (every kind but military)."""
    return PlateInfo(
        text=text,
        normalised=normalised,
        rows=rows,
        province_code=code,
        province=PROVINCES[code],
        series=series,
        serial=serial,
        category=category,
        colour=_TEXT_COLOURS[category],
        former_province=FORMER_PROVINCES[code],
        series_meaning=meaning,
    )


def _car(code: str, key: str, printed: str, serial: str, order: int) -> list[_Reading]:
    """Car layouts: "30A-123.45" on one row, "30A\\n123.45" on two."""
    meaning: str | None
    if key in SPECIAL_SERIES:
        printed, category, meaning = SPECIAL_SERIES[key]
    elif key == "R":
        category, meaning = "trailer", "trailer or semi-trailer"
    else:
        category, meaning = ("state", "central agency") if code == "80" else ("civil", None)
    top = code + printed
    cut = len(code) + len(key)
    serial_text, serial_breaks = _printed_serial(serial, cut)
    out = []
    for rows, sep in ((1, "-"), (2, "\n")):
        info = _local(
            code, f"{top}{sep}{serial_text}", code + key + serial, rows, printed, serial, category, meaning
        )
        out.append(_Reading(info, frozenset({cut} | serial_breaks), cut if rows == 2 else None, order))
    return out


def _bike(code: str, key: str, printed: str, serial: str, order: int) -> _Reading:
    """Motorbike layout, always two rows: "29-B1\\n123.45"."""
    meaning: str | None
    if printed.startswith("MĐ"):
        category, meaning = "moped", "electric moped"
    else:
        category, meaning = ("state", "central agency") if code == "80" else ("civil", None)
    cut = len(code) + len(key)
    serial_text, serial_breaks = _printed_serial(serial, cut)
    text = f"{code}-{printed}\n{serial_text}"
    info = _local(code, text, code + key + serial, 2, printed, serial, category, meaning)
    return _Reading(info, frozenset({2, cut} | serial_breaks), cut, order)


def _serial_ok(digits: str, lengths: tuple[int, ...] = (4, 5)) -> bool:
    return len(digits) in lengths and digits.isdigit() and digits.isascii() and int(digits) > 0


def _readings(n: str) -> list[_Reading]:
    """Every reading of a normalised string that the grammar accepts."""
    out: list[_Reading] = []
    if len(n) == 6 and n[:2] in MILITARY_UNITS and _serial_ok(n[2:], (4,)):
        printed, meaning = MILITARY_UNITS[n[:2]]
        for rows, sep in ((1, "-"), (2, "\n")):
            info = PlateInfo(
                text=f"{printed}{sep}{n[2:4]}-{n[4:]}",
                normalised=n,
                rows=rows,
                province_code=None,
                province=None,
                series=printed,
                serial=n[2:],
                category="military",
                colour="red",
                series_meaning=meaning,
            )
            out.append(_Reading(info, frozenset({2, 4}), 2 if rows == 2 else None, 5))
    code, rest = n[:2], n[2:]
    if len(n) < 7 or code not in PROVINCES:
        return out
    # Foreign: series, 3-digit country code, 2-digit order number.
    key = rest[:2]
    if (
        key in FOREIGN_SERIES
        and len(rest) == 7
        and rest[2:].isdigit()
        and int(rest[2:5]) > 0
        and int(rest[5:]) > 0
    ):
        category, meaning = FOREIGN_SERIES[key]
        for rows, sep in ((1, "-"), (2, "\n")):
            text = f"{code}-{key}{sep}{rest[2:5]}-{rest[5:]}"
            info = _local(code, text, n, rows, key, rest[2:], category, meaning)
            out.append(_Reading(info, frozenset({2, 4, 7}), 4 if rows == 2 else None, 0))
    # Moped MĐ + digit (read MD or M0), 5-digit serial only.
    if (
        len(rest) == 8
        and rest[0] == "M"
        and rest[1] in "D0"
        and rest[2] in _SERIES_DIGITS
        and _serial_ok(rest[3:], (5,))
    ):
        out.append(_bike(code, "MD" + rest[2], "MĐ" + rest[2], rest[3:], 1))
    # Car: one series letter (R = trailer) or a special two-letter series.
    if rest[:2] in SPECIAL_SERIES and _serial_ok(rest[2:]):
        out += _car(code, rest[:2], rest[:2], rest[2:], 2)
    if rest[0] in SERIES_LETTERS + "R" and _serial_ok(rest[1:]):
        out += _car(code, rest[0], rest[0], rest[1:], 4)
    # Motorbike: letter + digit 1-9, or two series letters.
    if len(rest) > 2 and rest[0] in BIKE_LETTERS and rest[1] in _SERIES_DIGITS and _serial_ok(rest[2:]):
        out.append(_bike(code, rest[:2], rest[:2], rest[2:], 3))
    if (
        len(rest) > 2
        and rest[0] in SERIES_LETTERS
        and rest[1] in SERIES_LETTERS
        and rest[:2] not in FOREIGN_SERIES
        and _serial_ok(rest[2:])
    ):
        out.append(_bike(code, rest[:2], rest[:2], rest[2:], 3))
    return out


def _tokenise(text: str) -> tuple[str, set[int], set[int]] | None:
    """Normalised string, positions preceded by a separator, positions preceded by a newline; None if the
    text holds a letter or digit outside A-Z, 0-9 and Đ (a foreign alphabet is never a Vietnamese plate)."""
    chars: list[str] = []
    breaks: set[int] = set()
    newlines: set[int] = set()
    for ch in text.upper():
        if ch == "Đ":
            ch = "D"
        if _ALNUM.fullmatch(ch):
            chars.append(ch)
        elif ch.isalnum():
            return None
        else:
            breaks.add(len(chars))
            if ch in "\n\r":
                newlines.add(len(chars))
    end = len(chars)
    return "".join(chars), breaks - {0, end}, newlines - {0, end}


def parse(text: str, rows: int | None = None) -> PlateInfo | None:
    """Read a plate string, printed ("30A-123.45", "29-B1\\n123.45") or not ("30A12345", "29B1 12345").

    Returns None unless the text is a valid Vietnamese plate. Separators are evidence: any separator (space,
    '-', '.', newline...) must sit where the printed form of the reading has one or its row break, and a
    newline must be the row break. `rows` (1 or 2), when given, must be the plate's row count.

    When several readings fit, the one whose printed separators the text shows most completely wins; then,
    for `rows=None`, a one-row reading beats a two-row one; then the more specific kind wins (foreign, moped,
    special series, motorbike, car, in that order). So, without separators:

    - "54T15417" is the car "54T-154.17" (rows None or 1) but the motorbike "54-T1\\n5417" with rows=2: a
      two-row crop is far more often a motorbike than a square car plate.
    - a one-row car string read from a two-row crop ("51F-356.13", rows=2) is the two-row car "51F\\n356.13".
    - "60LD00584" is the car series LD rather than the motorbike series L+D.
    """
    if rows not in (None, 1, 2):
        raise ValueError(f"rows must be 1, 2 or None, not {rows!r}")
    tokens = _tokenise(text)
    if tokens is None:
        return None
    n, breaks, newlines = tokens
    if len(newlines) > 1 or (newlines and rows == 1) or not 6 <= len(n) <= 10:
        return None
    best: tuple[tuple[int, int, int], _Reading] | None = None
    for reading in _readings(n):
        if rows is not None and reading.info.rows != rows:
            continue
        if newlines and newlines != {reading.row_break}:
            continue
        if not breaks <= reading.breaks:
            continue
        missing = len(reading.breaks - breaks) if breaks else 0
        key = (missing, reading.info.rows if rows is None else 0, reading.order)
        if best is None or key < best[0]:
            best = (key, reading)
    return None if best is None else best[1].info


def is_valid(text: str) -> bool:
    """Whether `text` is a valid Vietnamese plate (see `parse`)."""
    return parse(text) is not None


def format_printed(normalised: str, rows: int) -> str:
    """Printed form (separators, '\\n' between rows) of a valid normalised plate string read as `rows` rows.

    Ambiguous strings are read as `parse` reads them ("54T15417", 2 -> "54-T1\\n5417").
    Raises ValueError when the string is not a valid plate with that many rows.
    """
    info = parse(normalised, rows=rows)
    if info is None:
        raise ValueError(f"not a valid {rows}-row Vietnamese plate: {normalised!r}")
    return info.text


def templates(rows: int | None = None) -> list[str]:
    """Per-position character classes of every normalised plate the grammar accepts, most frequent first.

    Each template is a string over {D, L, X}: D a digit, L a letter (one of `LETTERS`), X either (no current
    format needs X). A decoder can pick the best string matching one of these and then check it with
    `parse` (templates do not encode province codes or series tables). `rows` None gives both layouts.
    """
    if rows not in (None, 1, 2):
        raise ValueError(f"rows must be 1, 2 or None, not {rows!r}")
    return [t for t, allowed in _TEMPLATE_ROWS if rows is None or rows in allowed]


# --- random plates ---

_CATEGORY_WEIGHTS: dict[str, float] = {
    "civil": 0.80,
    "commercial": 0.07,
    "state": 0.05,
    "moped": 0.03,
    "military": 0.02,
    "police": 0.01,
    "diplomatic": 0.01,
    "foreign-organisation": 0.005,
    "trailer": 0.005,
    "special": 0.005,
}
#: Probability that a plate of the category is drawn as two rows when `rows` is not given.
_TWO_ROW_SHARE: dict[str, float] = {
    "civil": 0.6,
    "commercial": 0.2,
    "state": 0.3,
    "moped": 1.0,
    "military": 0.2,
    "police": 0.2,
    "diplomatic": 0.1,
    "foreign-organisation": 0.3,
    "trailer": 0.3,
    "special": 0.3,
}
_BIG_CITIES = {"Hà Nội", "Hồ Chí Minh"}
_LOCAL_CODES = sorted(c for c in PROVINCES if c != "80")
_LOCAL_WEIGHTS = np.array([4.0 if PROVINCES[c] in _BIG_CITIES else 1.0 for c in _LOCAL_CODES])
_LOCAL_WEIGHTS /= _LOCAL_WEIGHTS.sum()
_MILITARY_KEYS = sorted(MILITARY_UNITS)
_ROW_SEPARATORS = {1: "-", 2: "\n"}


def _pick(rng: np.random.Generator, options: dict[str, float]) -> str:
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _province(rng: np.random.Generator) -> str:
    return _LOCAL_CODES[int(rng.choice(len(_LOCAL_CODES), p=_LOCAL_WEIGHTS))]


def _letter(rng: np.random.Generator, letters: str = SERIES_LETTERS) -> str:
    return letters[int(rng.integers(len(letters)))]


def _digits(rng: np.random.Generator, count: int) -> str:
    return f"{int(rng.integers(1, 10**count)):0{count}d}"


def _car_text(code: str, series: str, serial: str, rows: int) -> str:
    serial_text, _ = _printed_serial(serial, 0)
    return f"{code}{series}{_ROW_SEPARATORS[rows]}{serial_text}"


def _draw_text(rng: np.random.Generator, category: str, rows: int) -> str:
    """Printed text of a random plate of the category and row count."""
    serial_len = 5 if rng.random() < 0.9 else 4
    if category == "civil" and rows == 2:
        kind = _pick(rng, {"letter+digit": 0.77, "two letters": 0.15, "car": 0.08})
        if kind == "car":
            return _car_text(_province(rng), _letter(rng), _digits(rng, serial_len), 2)
        serial_len = 5 if rng.random() < 0.72 else 4
        if kind == "letter+digit":
            series = _letter(rng) + str(int(rng.integers(1, 10)))
        else:
            series = _letter(rng) + _letter(rng)
            while series in SPECIAL_SERIES or series in FOREIGN_SERIES:
                series = _letter(rng) + _letter(rng)
        serial_text, _ = _printed_serial(_digits(rng, serial_len), 0)
        return f"{_province(rng)}-{series}\n{serial_text}"
    if category in ("civil", "commercial") and (category == "civil" or rng.random() < 0.75):
        return _car_text(_province(rng), _letter(rng), _digits(rng, serial_len), rows)
    if category == "commercial":
        return _car_text(_province(rng), _pick(rng, {"LD": 0.6, "DA": 0.2, "KT": 0.2}), _digits(rng, 5), rows)
    if category == "state":
        code = "80" if rng.random() < 0.4 else _province(rng)
        return _car_text(code, _letter(rng, "ABCDE"), _digits(rng, serial_len), rows)
    if category == "police":
        return _car_text(_province(rng), "CD", _digits(rng, 5), rows)
    if category == "trailer":
        return _car_text(_province(rng), "R", _digits(rng, serial_len), rows)
    if category == "special":
        return _car_text(_province(rng), _pick(rng, {"MK": 0.5, "TĐ": 0.2, "HC": 0.3}), _digits(rng, 5), rows)
    if category == "moped":
        digit = _pick(rng, {"1": 0.7, "2": 0.2, "3": 0.1})
        serial_text, _ = _printed_serial(_digits(rng, 5), 0)
        return f"{_province(rng)}-MĐ{digit}\n{serial_text}"
    if category == "military":
        code = MILITARY_UNITS[_MILITARY_KEYS[int(rng.integers(len(_MILITARY_KEYS)))]][0]
        serial = _digits(rng, 4)
        return f"{code}{_ROW_SEPARATORS[rows]}{serial[:2]}-{serial[2:]}"
    if category in ("diplomatic", "foreign-organisation"):
        series = _pick(rng, {"NG": 0.7, "QT": 0.2, "CV": 0.1}) if category == "diplomatic" else "NN"
        code = _pick(rng, {"80": 0.6, "41": 0.3, "43": 0.1})
        country = f"{int(rng.integers(1, 1000)):03d}"
        order = "01" if rng.random() < 0.2 else f"{int(rng.integers(1, 100)):02d}"
        return f"{code}-{series}{_ROW_SEPARATORS[rows]}{country}-{order}"
    raise ValueError(f"unknown plate category {category!r}; expected one of {CATEGORIES}")


def random_plate(rng: np.random.Generator, rows: int | None = None, category: str | None = None) -> PlateInfo:
    """A random valid plate for synthetic training data, with the colour of its category.

    Mostly civil (two-row motorbike series like "29-B1\\n123.45", "59-X2\\n751.98", some with old 4-digit
    serials; one-row cars like "30A-123.45"), with commercial (yellow), state (blue), moped MĐ, military,
    police, diplomatic, foreign-organisation, trailer and special plates in smaller shares.
    `parse(p.text, rows=p.rows)` gives back the same plate; only its `category` may read "civil" where a
    yellow commercial-transport or provincial blue plate shares the text of a civil one, and its `colour`
    may be None where the text does not fix it. Raises ValueError for a category that has no plate with
    the requested rows (moped with rows=1) or an unknown category.
    """
    if rows not in (None, 1, 2):
        raise ValueError(f"rows must be 1, 2 or None, not {rows!r}")
    if category is None:
        weights = dict(_CATEGORY_WEIGHTS)
        if rows == 1:
            del weights["moped"]
        category = _pick(rng, weights)
    elif category not in CATEGORIES:
        raise ValueError(f"unknown plate category {category!r}; expected one of {CATEGORIES}")
    if category == "moped" and rows == 1:
        raise ValueError("moped (MĐ) plates have two rows only")
    if rows is None:
        rows = 2 if rng.random() < _TWO_ROW_SHARE[category] else 1
    text = _draw_text(rng, category, rows)
    info = parse(text, rows=rows)
    if info is None:  # pragma: no cover - a bug in the tables above
        raise AssertionError(f"random_plate drew an invalid plate {text!r}")
    return dataclasses.replace(info, category=category, colour=CATEGORY_COLOURS[category])
