"""Drug facts: the knowledge card a pharmacist tells the customer (indications, usage, contraindications,
counselling), from the product's own texts or else the reference for its substance or most specific ATC prefix."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from app.components.allergies import DATA
from app.components.catalog.products import ProductView
from app.i18n import pick

KNOWLEDGE_FIELDS = ("indications", "usage", "contraindications", "counselling")


@dataclass(frozen=True)
class KnowledgeCard:
    """What a pharmacist tells the customer, in the current language; `source` is the reference key used
    (an ATC prefix or "substance:…"), "" when nothing applies."""

    indications: str
    usage: str
    contraindications: str
    counselling: str
    source: str

    @property
    def empty(self) -> bool:
        return not any((self.indications, self.usage, self.contraindications, self.counselling))


@cache
def knowledge_reference() -> dict[str, dict[str, tuple[str, str]]]:
    """app/data/knowledge.csv: key (ATC prefix or "substance:<substance>") → field → (zh, en)."""
    with open(DATA / "knowledge.csv", encoding="utf-8") as fh:
        return {
            row["key"].strip(): {f: (row[f"{f}_zh"].strip(), row[f"{f}_en"].strip()) for f in KNOWLEDGE_FIELDS}
            for row in csv.DictReader(fh)
        }


def _reference_for(product: ProductView) -> tuple[str, dict[str, tuple[str, str]]]:
    table = knowledge_reference()
    key = f"substance:{product.substance}"
    if product.substance and key in table:
        return key, table[key]
    atc = product.atc
    for length in range(len(atc), 0, -1):  # the most specific prefix wins
        if atc[:length] in table:
            return atc[:length], table[atc[:length]]
    return "", {}


def knowledge_card(product: ProductView) -> KnowledgeCard:
    """The product's card: its own `knowledge` texts where present, else the reference for its substance or the
    most specific ATC prefix."""
    source, reference = _reference_for(product)
    texts: dict[str, str] = {}
    for name in KNOWLEDGE_FIELDS:
        own = product.knowledge.get(name)
        if isinstance(own, dict) and (own.get("zh") or own.get("en")):
            texts[name] = pick(own.get("zh") or own.get("en", ""), own.get("en") or own.get("zh", ""))
        elif isinstance(own, str) and own.strip():
            texts[name] = own.strip()
        else:
            zh, en = reference.get(name, ("", ""))
            texts[name] = pick(zh or en, en or zh)
    return KnowledgeCard(source=source, **texts)
