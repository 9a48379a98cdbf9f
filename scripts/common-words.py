#!/usr/bin/env python3
"""Rebuilds crates/rapport-privacy/data/common_words.txt: words seen in lower case at least MIN times in
plain support and social text, which the person-name detector reads as "a capitalised word, not a name".

Sources (all under ../shared/data, licences in their READMEs): GoEmotions train (CC BY 4.0), the Bitext
customer-support sample, customer turns and agent replies (CDLA-Sharing 1.0), and the IBM Twitter
customer-care conversations (Apache 2.0). Links and @handles are skipped. A given name from the name list
(`first_names.txt`) is kept out unless GoEmotions or Bitext customers write it in lower case MIN times
("will", "mark", "hope"), so support language does not turn names into words.

    python3 scripts/common-words.py ../shared/data > crates/rapport-privacy/data/common_words.txt
"""
import collections
import csv
import json
import re
import sys
from pathlib import Path

MIN = 4
WORD = re.compile(r"(?<![A-Za-z])[a-z]+(?:['\u2019][a-z]+)?(?![A-Za-z])")


def words(text):
    for chunk in text.split():
        if "://" in chunk or chunk.startswith(("@", "www.", "#")) or "{{" in chunk:
            continue
        for w in WORD.findall(chunk):
            w = w.replace("\u2019", "'")
            yield w
            if "'" in w:
                # "didn't" also counts "didn": the tokeniser of some sources splits there.
                yield from w.split("'")


def main():
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    here = Path(__file__).resolve().parent.parent / "crates/rapport-privacy/data"
    first = set((here / "first_names.txt").read_text().split())
    base, extra = collections.Counter(), collections.Counter()
    with open(data / "goemotions/train.tsv", encoding="utf-8") as f:
        for line in f:
            base.update(words(line.split("\t")[0]))
    with open(data / "bitext_customer_support/bitext_customer_support_4514.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            base.update(words(row["instruction"]))
            extra.update(words(row["response"]))
    for conversation in json.load(open(data / "twitter_customer_care_ibm/conversations.json")):
        for turn in conversation["dialogContent"]:
            extra.update(words(turn.get("message", "")))
    common = {w for w, n in base.items() if n >= MIN}
    common |= {w for w, n in extra.items() if n + base[w] >= MIN and w not in first}
    for w in sorted(common):
        print(w)


if __name__ == "__main__":
    main()
