"""ClickHouse-style errors: the code, the message body and the HTTP status real ClickHouse uses."""

from __future__ import annotations

import re

_CODE_RE = re.compile(r"Code:\s*(\d+)\.")

# Codes from ClickHouse's src/Common/ErrorCodes.cpp; statuses as its exceptionCodeToHTTPStatus sets.
_UNAUTHORIZED = {194}  # REQUIRED_PASSWORD
_FORBIDDEN = {192, 193, 497, 512, 516}  # UNKNOWN_USER, WRONG_PASSWORD, ACCESS_DENIED, ...
_BAD_REQUEST = {
    6,
    8,
    15,
    25,
    26,
    27,
    36,
    37,
    38,
    41,
    44,
    53,
    62,
    72,
    117,
    123,
    167,
    168,
    223,
    321,
    376,
    427,
    441,
    675,
    676,
}  # SYNTAX_ERROR (62), BAD_ARGUMENTS (36), CANNOT_PARSE_*, TYPE_MISMATCH (53), ...
_NOT_FOUND = {46, 47, 50, 56, 60, 63, 73, 78, 81, 115, 152, 336, 511}  # UNKNOWN_TABLE (60), ...
_STATUS = {229: 413, 48: 501, 209: 503, 76: 503, 381: 411, 159: 408, 439: 503, 779: 415}

AUTHENTICATION_FAILED = 516
SESSION_IS_LOCKED = 373
NOT_IMPLEMENTED = 48
STD_EXCEPTION = 1001
UNKNOWN_FORMAT = 73


class ClickHouseError(Exception):
    """An error to answer with, carrying ClickHouse's numeric code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def from_engine(cls, exc: BaseException) -> ClickHouseError:
        """Wrap a chdb exception, whose text already reads `Code: N. DB::Exception: ...`."""
        text = str(exc).strip()
        match = _CODE_RE.search(text)
        if match:
            return cls(int(match.group(1)), text[match.start() :])
        return cls(STD_EXCEPTION, f"Code: {STD_EXCEPTION}. DB::Exception: {text}. (STD_EXCEPTION)")

    @classmethod
    def make(cls, code: int, name: str, text: str) -> ClickHouseError:
        return cls(code, f"Code: {code}. DB::Exception: {text}. ({name})")

    @property
    def http_status(self) -> int:
        return http_status(self.code)


def http_status(code: int) -> int:
    """The HTTP status ClickHouse's HTTP handler sends for an exception code."""
    if code in _UNAUTHORIZED:
        return 401
    if code in _FORBIDDEN:
        return 403
    if code in _NOT_FOUND:
        return 404
    if code in _BAD_REQUEST:
        return 400
    return _STATUS.get(code, 500)
