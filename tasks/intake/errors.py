class IntakeError(Exception):
    """Bad input, located: which file, which line (1-based, as an editor shows it), which field."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = self.file or "upload"
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class UploadTooLarge(IntakeError):
    """The file is over QUORUM_MAX_UPLOAD_BYTES (the API answers 413)."""
