"""The UTF-8 vectors of Autobahn|Testsuite cases 6.5-6.23 (Markus Kuhn's
"UTF-8 decoder capability and stress test" plus Autobahn's additions), in
Autobahn's order so each vector keeps its case id, and a reference
incremental validator that says at which octet a strict decoder must stop.
Not a decoder: it only classifies octet strings.
"""

KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε"


def first_invalid(data):
    """Index of the first octet at which no valid UTF-8 string can continue
    the prefix (RFC 3629 §4 table: no overlongs, no surrogates, nothing above
    U+10FFFF), or None if every prefix is still valid. A decoder that fails
    fast stops exactly there."""
    need, lo, hi = 0, 0x80, 0xBF
    for i, b in enumerate(data):
        if need:
            if not lo <= b <= hi:
                return i
            need, lo, hi = need - 1, 0x80, 0xBF
        elif b < 0x80:
            continue
        elif 0xC2 <= b <= 0xDF:
            need = 1
        elif b == 0xE0:
            need, lo = 2, 0xA0
        elif 0xE1 <= b <= 0xEC or b in (0xEE, 0xEF):
            need = 2
        elif b == 0xED:
            need, hi = 2, 0x9F
        elif b == 0xF0:
            need, lo = 3, 0x90
        elif 0xF1 <= b <= 0xF3:
            need = 3
        elif b == 0xF4:
            need, hi = 3, 0x8F
        else:
            return i
    return None


def is_valid(data):
    """Whole-message validity: no invalid octet and no sequence cut at the end."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def split_codepoints(data):
    """Splits before every octet that is not a continuation octet (0x80-0xBF):
    for valid text these are the code points; for invalid text, the lead
    octets with whatever continuation octets follow them."""
    parts, start = [], 0
    for i in range(1, len(data)):
        if not 0x80 <= data[i] <= 0xBF:
            parts.append(data[start:i])
            start = i
    parts.append(data[start:])
    return parts


def _groups():
    """[(title, [(valid, payload), ...]), ...] for cases 6.5 .. 6.23."""
    g = []
    g.append(("Some valid UTF-8 sequences", [
        (True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
        (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"),
        (True, KOSME)]))
    g.append(("All prefixes of a valid UTF-8 string that contains multi-byte code points",
              [(is_valid(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)]))
    g.append(("First possible sequence of a certain length", [
        (True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"), (True, b"\xf0\x90\x80\x80")]))
    g.append(("First possible sequence length 5/6 (invalid codepoints)", [
        (False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    g.append(("Last possible sequence of a certain length", [
        (True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"), (True, b"\xf4\x8f\xbf\xbf")]))
    g.append(("Last possible sequence length 4/5/6 (invalid codepoints)", [
        (False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"), (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    g.append(("Other boundary conditions", [
        (True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
        (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    g.append(("Unexpected continuation bytes", [
        (False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"), (False, b"\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf"), (False, b"\x80\xbf\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf\x80\xbf"), (False, bytes(range(0x80, 0xBF)))]))
    g.append(("Lonely start characters", [
        (False, b"".join(bytes([c, 0x20]) for c in range(lo, hi)))
        for lo, hi in [(0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD)]]))
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
               b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    g.append(("Sequences with last continuation byte missing", [(False, m) for m in missing]))
    g.append(("Concatenation of incomplete sequences", [(False, b"".join(missing))]))
    g.append(("Impossible bytes", [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    g.append(("Examples of an overlong ASCII character", [
        (False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
        (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    g.append(("Maximum overlong sequences", [
        (False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    g.append(("Overlong representation of the NUL character", [
        (False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
        (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    g.append(("Single UTF-16 surrogates", [(False, s) for s in [
        b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
        b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]]))
    g.append(("Paired UTF-16 surrogates", [(False, s) for s in [
        b"\xed\xa0\x80\xed\xb0\x80", b"\xed\xa0\x80\xed\xbf\xbf", b"\xed\xad\xbf\xed\xb0\x80",
        b"\xed\xad\xbf\xed\xbf\xbf", b"\xed\xae\x80\xed\xb0\x80", b"\xed\xae\x80\xed\xbf\xbf",
        b"\xed\xaf\xbf\xed\xb0\x80", b"\xed\xaf\xbf\xed\xbf\xbf"]]))
    nonchars = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
    for z1 in (0xF0, 0xF1, 0xF2, 0xF3, 0xF4):
        for z2 in (0x8F, 0x9F, 0xAF, 0xBF):
            if z1 == 0xF4 and z2 != 0x8F:
                continue  # above U+10FFFF
            for z3 in (0xBE, 0xBF):
                zz = bytes([z1, z2, 0xBF, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):  # overlong
                    nonchars.append(zz)
    g.append(("Non-character code points (valid UTF-8)", [(True, z) for z in nonchars]))
    g.append(("Unicode specials (i.e. replacement char)", [(True, bytes([0xEF, 0xBF, c]))
                                                           for c in range(0xB9, 0xC0)]))
    return g


def vectors():
    """[(case_id, group_title, valid, payload)] for 6.5.1 .. 6.23.7."""
    out = []
    for gi, (title, items) in enumerate(_groups(), start=5):
        for vi, (valid, payload) in enumerate(items, start=1):
            # The table above is transcribed by hand: the reference validator
            # must agree with it, or the transcription is wrong.
            assert valid == is_valid(payload) == (first_invalid(payload) is None and is_valid(payload)), \
                "6.%d.%d" % (gi, vi)
            out.append(("6.%d.%d" % (gi, vi), title, valid, payload))
    return out
