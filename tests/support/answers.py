"""Long answers shaped like a generated report, for the tests and benchmarks of streaming views:
mostly paragraphs, with headings, loose and tight lists, fenced code with blank lines, tables, math, CJK,
a link reference defined after its use, and text a hostile page could have planted."""

from __future__ import annotations

PROSE = ("Revenue in region {n} grew by {pct}% over the quarter, driven by the self-serve plan "
         "and a longer trial period; churn fell to {churn}% once onboarding moved into the "
         "product itself. Most of the gain came from teams of five to twenty people, who now "
         "start on their own and ask for a call only when they need a contract. The *method* is "
         "the same as last year, so the figures compare directly; see `report_{n}.py` and the "
         "[notes][ref-{n}] for how each number was computed and which rows were left out. ")
SECTION = """## {n}. Findings for region {n}

{prose}

{prose}

收入增长主要来自华东地区，第{n}季度的留存率为 {pct}%。模型的回答可能包含网页上的文字，这些文字必须保持为纯文本。

- the trial now lasts {churn}4 days, and $x_{n}^2$ of trials convert
- support tickets per account fell by a {churn}th
- the remaining gap is in regions with no local partner

{prose}
"""
EXTRA = ["""
```python
def summarise_{n}(rows):
    total = sum(r.amount for r in rows)

    return total / max(len(rows), 1)
```
""", """
| metric | q{n} | change |
|---|---|---|
| revenue | {pct}.0 | +{churn} |
| churn | {churn}.5 | -0.{n} |
""", """
$$\\sum_{{k=1}}^{{{n}}} k = \\frac{{{n}({n}+1)}}{{2}}$$

1. a loose list item

2. another loose item, with a second paragraph:

   which is indented under it.
""", """
> Note: a page the model read said <img src=x onerror=alert({n})> and \
<script>alert({n})</script>; both must stay text.
"""]
TAIL = "\n[ref-{n}]: https://glm.example/method/{n}\n\n"


def long_markdown(size: int) -> str:
    """A report of `size` bytes of UTF-8 (a character cut in two is left out)."""
    out: list[str] = []
    total, n = 0, 1
    while total < size:
        values = {"n": n, "pct": 10 + n % 37, "churn": 1 + n % 7}
        section = SECTION.format(prose=PROSE.format(**values), **values)
        section += EXTRA[n % len(EXTRA)].format(**values) + TAIL.format(**values)
        out.append(section)
        total += len(section.encode())
        n += 1
    return "".join(out).encode()[:size].decode(errors="ignore")


def pieces(text: str, width: int = 4) -> list[str]:
    """`text` cut into pieces of `width` characters, the way a slow tokenizer streams it."""
    return [text[i:i + width] for i in range(0, len(text), width)]
