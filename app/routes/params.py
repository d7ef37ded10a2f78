"""Bounded numbers in URLs and query strings, shared by every route: beyond the bounds a request is a 422 naming
the parameter, never a number that overflows a database integer."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from app.components.core import bounds

Page = Annotated[int, Parameter(ge=1, le=bounds.MAX_PAGE, description="Page number, from 1.")]
PerPage = Annotated[int, Parameter(ge=1, le=bounds.MAX_PER_PAGE, description="Rows per page.")]
SearchLimit = Annotated[int, Parameter(ge=1, le=bounds.MAX_PER_PAGE, description="At most this many results.")]
RowId = Annotated[int, Parameter(ge=1, le=bounds.MAX_ID)]
Days = Annotated[int, Parameter(ge=1, le=3650, description="Days ahead.")]
