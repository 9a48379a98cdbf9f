#!/usr/bin/env python3
"""Writes the plain-text corpus the accurate tier's token table is distilled on (`rapport train encoder`).

One message per line, from the public data sets in ../shared/data: real customer-care tweets (IBM), Bitext
customer-support requests, GoEmotions (train split), EmpatheticDialogues (valid), ESConv. No labels are used.
Every text of the annotated CX sets (cx_gold, cx_dialogues) is left out, so that their cross-validated
figures are not read on text the encoder was fitted to.

    python3 scripts/encoder-corpus.py ../shared/data > /tmp/encoder-corpus.txt
"""
import csv
import json
import sys
from pathlib import Path


def clean(text):
    return " ".join(str(text).split())


def main():
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    held = set()
    for name in ("cx_gold", "cx_dialogues"):
        path = data / name / "conversations.jsonl"
        if path.exists():
            for line in path.open(encoding="utf-8"):
                for turn in json.loads(line).get("turns", []):
                    held.add(clean(turn.get("text", "")))
    texts = []
    ibm = data / "twitter_customer_care_ibm" / "conversations.json"
    if ibm.exists():
        for conversation in json.load(ibm.open(encoding="utf-8")):
            texts.extend(t.get("message", "") for t in conversation.get("dialogContent", []))
    bitext = next((data / "bitext_customer_support").glob("*.csv"), None)
    if bitext:
        texts.extend(row["instruction"] for row in csv.DictReader(bitext.open(encoding="utf-8")))
    goemotions = data / "goemotions" / "train.tsv"
    if goemotions.exists():
        texts.extend(line.split("\t")[0] for line in goemotions.open(encoding="utf-8"))
    ed = data / "empathetic_dialogues_valid" / "valid_utterances.csv"
    if ed.exists():
        texts.extend(
            row["utterance"].replace("_comma_", ",") for row in csv.DictReader(ed.open(encoding="utf-8"))
        )
    esconv = data / "esconv" / "esconv.jsonl"
    if esconv.exists():
        for line in esconv.open(encoding="utf-8"):
            texts.extend(t.get("content", "") for t in json.loads(line).get("dialog", []))
    seen = set()
    out = sys.stdout
    for text in texts:
        text = clean(text)
        if text and text not in held and text not in seen:
            seen.add(text)
            out.write(text + "\n")
    print(f"{len(seen)} messages ({len(held)} annotated CX texts left out)", file=sys.stderr)


if __name__ == "__main__":
    main()
