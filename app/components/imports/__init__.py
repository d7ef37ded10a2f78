"""Member and catalog imports, and the member export: upload jobs read in chunks, the rejected rows, the template."""

from app.components.imports.jobs import get_job, mark_failed, recent_jobs, stores
from app.components.imports.member_export import may_export_full, prepare, stream
from app.components.imports.member_import import Submitted, run_import, submit
from app.components.imports.product_import import (
    PRODUCT_COLUMN_BY_KEY,
    export_products_csv,
    import_products,
    product_column_help,
    product_import_job,
    product_template_csv,
    recent_product_imports,
    rejected_products_csv,
)
from app.components.imports.reading import MAX_UPLOAD_BYTES
from app.components.imports.rejects import rejected_rows
from app.components.imports.rows import COLUMN_BY_KEY
from app.components.imports.templates import column_help, template_csv, template_xlsx

__all__ = [
    "COLUMN_BY_KEY",
    "MAX_UPLOAD_BYTES",
    "PRODUCT_COLUMN_BY_KEY",
    "Submitted",
    "column_help",
    "export_products_csv",
    "get_job",
    "import_products",
    "mark_failed",
    "may_export_full",
    "prepare",
    "product_column_help",
    "product_import_job",
    "product_template_csv",
    "recent_jobs",
    "recent_product_imports",
    "rejected_products_csv",
    "rejected_rows",
    "run_import",
    "stores",
    "stream",
    "submit",
    "template_csv",
    "template_xlsx",
]
