"""One error type for every user mistake, rendered as a single line."""

from __future__ import annotations


class ArchcalcError(Exception):
    """A user-facing error: bad spec, bad claim, bad option.

    Rendered as ``file:line: layer 'x': message`` when the parts are known.
    The CLI prints it on one line and exits with code 2.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        layer: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.layer = layer

    def located(self, *, file: str | None = None, line: int | None = None, layer: str | None = None) -> ArchcalcError:
        """Fill in location parts that are still unknown; returns self."""
        self.file = self.file or file
        self.line = self.line or line
        self.layer = self.layer or layer
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        who = f"layer '{self.layer}': " if self.layer else ""
        text = " ".join(self.message.split())  # always one line
        return f"{where}{who}{text}"


class ShapeError(ArchcalcError):
    """A rule found the input shape or arguments impossible."""
