"""The SQL of the sales tables, and only here: `sale` (the sale, its lines, codes, tenders, approvals, medication
history and outbox event, and the reads of the quote), `returns`, `cart`, `counter` (tablets and chain settings),
`purchases` (a member's purchase history)."""

# Only the sales package's own modules call these, each module by name (`queries.sale`, `queries.cart` …).
__all__: list[str] = []
